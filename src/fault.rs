//! Fault injection for the reliability suite (`make reliability`): named points in
//! the executor where a test can make the operator kill itself with SIGKILL or
//! pause, so that a crash or a concurrent writer lands exactly between two steps of
//! an execution.
//!
//! Compiled in only with the `fault-injection` feature; without it [`point`] does
//! nothing. With it, `MAPEK_FAULTS` lists `POINT=kill` or `POINT=pause:MILLIS`
//! entries, comma-separated; `POINT#N=...` acts only the N-th time the point is
//! passed. The executor's points are `approved`, `started`, `write-ahead:I`,
//! `applied:I`, `succeeded:I`, `failed:I`, `rollback-sent:I`, `rolled-back:I` and
//! `finished`, with `I` the action's index in the plan, and `scale-read` and
//! `config-read`, between the fresh read of the Deployment a scale or config
//! patch is computed from and that patch.

use crate::controllers::executor::decide::Step;

/// The name of the point just after `step` was recorded, if it has one.
pub fn after(step: &Step) -> Option<String> {
    Some(match step {
        Step::Approve { .. } => "approved".into(),
        Step::Start => "started".into(),
        Step::WriteAhead { index, .. } => format!("write-ahead:{index}"),
        Step::MarkSucceeded { index, .. } => format!("succeeded:{index}"),
        Step::FailAction { index, .. } => format!("failed:{index}"),
        Step::MarkRolledBack { index, .. } => format!("rolled-back:{index}"),
        Step::Finish { .. } => "finished".into(),
        _ => return None,
    })
}

/// Passes the point `name`: kills the process or pauses if `MAPEK_FAULTS` says so.
#[cfg(feature = "fault-injection")]
pub async fn point(name: &str) {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static FAULTS: LazyLock<Vec<(String, Fault)>> = LazyLock::new(|| {
        std::env::var("MAPEK_FAULTS")
            .map(|v| parse(&v))
            .unwrap_or_default()
    });
    static PASSES: LazyLock<Mutex<HashMap<String, u32>>> = LazyLock::new(Default::default);
    if FAULTS.is_empty() {
        return;
    }
    let passes = {
        let mut passes = PASSES.lock().unwrap_or_else(|e| e.into_inner());
        let n = passes.entry(name.to_string()).or_default();
        *n += 1;
        *n
    };
    for (at, fault) in FAULTS.iter() {
        let matches = match at.split_once('#') {
            Some((point, nth)) => point == name && nth.parse() == Ok(passes),
            None => at == name,
        };
        if !matches {
            continue;
        }
        match fault {
            Fault::Kill => {
                eprintln!("fault injection: SIGKILL at {name}");
                // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
                // One of the workspace's two unsafe blocks (`unsafe_code` is denied;
                // the other is `memory::release_free`).
                #[allow(unsafe_code)]
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
            }
            Fault::Pause(ms) => {
                eprintln!("fault injection: pausing {ms} ms at {name}");
                tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
            }
        }
    }
}

/// Passes the point `name` (fault injection is not compiled in).
#[cfg(not(feature = "fault-injection"))]
pub async fn point(_name: &str) {}

/// What happens at a point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    Kill,
    Pause(u64),
}

/// Parses `MAPEK_FAULTS`; malformed entries are reported on stderr and skipped.
pub fn parse(spec: &str) -> Vec<(String, Fault)> {
    spec.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter_map(|entry| {
            let parsed = entry.split_once('=').and_then(|(at, what)| {
                let fault = match what.split_once(':') {
                    None if what == "kill" => Fault::Kill,
                    Some(("pause", ms)) => Fault::Pause(ms.parse().ok()?),
                    _ => return None,
                };
                Some((at.to_string(), fault))
            });
            if parsed.is_none() {
                eprintln!(
                    "MAPEK_FAULTS: ignoring {entry:?}: expected POINT=kill or POINT=pause:MILLIS"
                );
            }
            parsed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kills_and_pauses_and_skips_malformed_entries() {
        assert_eq!(
            parse(
                "applied:0=kill, write-ahead:1=pause:1500,bad,x=pause:y,y=stop,config-read#1=pause:9"
            ),
            vec![
                ("applied:0".to_string(), Fault::Kill),
                ("write-ahead:1".to_string(), Fault::Pause(1500)),
                ("config-read#1".to_string(), Fault::Pause(9)),
            ]
        );
        assert!(parse("").is_empty());
    }

    #[test]
    fn names_the_points_after_recorded_steps() {
        assert_eq!(after(&Step::Start).as_deref(), Some("started"));
        assert_eq!(
            after(&Step::MarkRolledBack {
                index: 2,
                result: String::new()
            })
            .as_deref(),
            Some("rolled-back:2")
        );
        assert_eq!(after(&Step::Apply { index: 0 }), None);
    }
}
