//! Part 1 of `make decisions`: labelled scenarios. Each scenario's `expect` is
//! compared with the plans the engine makes of it (as `analyze` would).

use std::path::Path;

use crate::model::RemediationPlan;
use crate::report::Report;
use crate::scenario::{Expectation, Scenario};

use super::DecisionsError;

/// How one labelled scenario went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Right,
    /// No plan was expected, and the engine planned.
    FalseAction,
    /// A plan for the target was expected, and there was none.
    Missed,
    /// The target's plan starts with another action (or sets other replicas).
    WrongAction,
}

/// Compares the engine's plans with the expectation.
pub fn judge(expect: &Expectation, plans: &[RemediationPlan]) -> Verdict {
    if expect.no_plan {
        return if plans.is_empty() {
            Verdict::Right
        } else {
            Verdict::FalseAction
        };
    }
    let Some(plan) = plans
        .iter()
        .find(|p| expect.target.as_deref() == Some(&*p.target))
    else {
        return Verdict::Missed;
    };
    let Some(first) = plan.actions.first() else {
        return Verdict::WrongAction;
    };
    if Some(first.action_type) != expect.action {
        return Verdict::WrongAction;
    }
    if expect.replicas.is_some() && expect.replicas != first.replicas {
        return Verdict::WrongAction;
    }
    Verdict::Right
}

/// The counts of the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub right: usize,
    pub of: usize,
    pub false_actions: usize,
    pub missed: usize,
    pub wrong_action: usize,
}

impl Tally {
    pub fn add(&mut self, v: Verdict) {
        self.of += 1;
        match v {
            Verdict::Right => self.right += 1,
            Verdict::FalseAction => self.false_actions += 1,
            Verdict::Missed => self.missed += 1,
            Verdict::WrongAction => self.wrong_action += 1,
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "DECISIONS right={} of={} false_actions={} missed={} wrong_action={}",
            self.right, self.of, self.false_actions, self.missed, self.wrong_action
        )
    }
}

fn describe_expect(e: &Expectation) -> String {
    if e.no_plan {
        return "no plan".into();
    }
    let mut s = format!(
        "{} {}",
        e.target.as_deref().unwrap_or("?"),
        e.action.map_or_else(|| "?".to_string(), |a| a.to_string())
    );
    if let Some(r) = e.replicas {
        s += &format!(" to {r}");
    }
    s
}

fn describe_plans(plans: &[RemediationPlan]) -> String {
    if plans.is_empty() {
        return "no plan".into();
    }
    plans
        .iter()
        .map(|p| {
            let action = p
                .actions
                .first()
                .map_or_else(|| "(no action)".to_string(), crate::plan::describe::short);
            format!("{} {action}", p.target)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs every `*.yaml` of `dir` (sorted by name) and writes one line per file
/// and the summary line to `out`. A file that fails to load is an error; one
/// without `expect` is skipped with a note.
pub fn run(dir: &Path, out: &mut dyn FnMut(&str)) -> Result<Tally, DecisionsError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        DecisionsError::input(dir, "-", format!("cannot read the scenario folder: {e}"))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            DecisionsError::input(dir, "-", format!("cannot list the scenario folder: {e}"))
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            files.push(path);
        }
    }
    files.sort();
    let mut tally = Tally::default();
    for path in &files {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let scenario = Scenario::load(path)?;
        let Some(expect) = &scenario.expect else {
            out(&format!("{name}: skipped (no expect)"));
            continue;
        };
        let report = Report::from_scenario(&scenario);
        let verdict = judge(expect, &report.plans);
        tally.add(verdict);
        let mark = match verdict {
            Verdict::Right => "OK".to_string(),
            v => format!("FAIL ({})", verdict_name(v)),
        };
        out(&format!(
            "{name}: expected {}; engine: {}; {mark}",
            describe_expect(expect),
            describe_plans(&report.plans)
        ));
    }
    if files.is_empty() {
        out(&format!("{}: no scenario files", dir.display()));
    }
    out(&tally.summary());
    Ok(tally)
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Right => "right",
        Verdict::FalseAction => "false_action",
        Verdict::Missed => "missed",
        Verdict::WrongAction => "wrong_action",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionType, Priority, RemediationAction, RiskLevel, RootCauseKind};

    /// A plan for `target` whose only action is `action` (to `replicas`).
    fn plan(target: &str, action: ActionType, replicas: Option<i32>) -> RemediationPlan {
        RemediationPlan {
            target: target.into(),
            policy: format!("{target}-latency").into(),
            root_cause: RootCauseKind::LoadSpike,
            confidence: 0.9,
            actions: vec![RemediationAction {
                id: "a1".into(),
                action_type: action,
                target: target.into(),
                replicas,
                config: None,
                revision: None,
                priority: Priority::High,
                estimated_latency_seconds: 30,
            }],
            expected_impact: String::new(),
            risk: RiskLevel::Low,
            priority: Priority::High,
            cost: 0.1,
            benefit: 0.5,
            score: 0.4,
            plan_hash: "0".into(),
        }
    }

    fn expect(target: &str, action: ActionType, replicas: Option<i32>) -> Expectation {
        Expectation {
            target: Some(target.into()),
            action: Some(action),
            replicas,
            no_plan: false,
            reason: None,
        }
    }

    const NO_PLAN: Expectation = Expectation {
        target: None,
        action: None,
        replicas: None,
        no_plan: true,
        reason: None,
    };

    #[test]
    fn judges_each_kind_of_answer() {
        let made = [
            plan("api", ActionType::RestartService, None),
            plan("web", ActionType::ScaleUp, Some(4)),
        ];
        // The named target's plan is found among others.
        assert_eq!(
            judge(&expect("web", ActionType::ScaleUp, None), &made),
            Verdict::Right
        );
        assert_eq!(
            judge(&expect("web", ActionType::RestartService, None), &made),
            Verdict::WrongAction
        );
        assert_eq!(
            judge(&expect("cart", ActionType::ScaleUp, None), &made),
            Verdict::Missed
        );
        assert_eq!(
            judge(&expect("web", ActionType::ScaleUp, None), &[]),
            Verdict::Missed
        );
        // Plans for other Deployments do not matter.
        assert_eq!(
            judge(&expect("api", ActionType::RestartService, None), &made),
            Verdict::Right
        );
        assert_eq!(judge(&NO_PLAN, &made), Verdict::FalseAction);
        assert_eq!(judge(&NO_PLAN, &made[..1]), Verdict::FalseAction);
        assert_eq!(judge(&NO_PLAN, &[]), Verdict::Right);
    }

    #[test]
    fn replicas_must_match_when_given() {
        let made = [plan("web", ActionType::ScaleUp, Some(4))];
        assert_eq!(
            judge(&expect("web", ActionType::ScaleUp, Some(4)), &made),
            Verdict::Right
        );
        assert_eq!(
            judge(&expect("web", ActionType::ScaleUp, Some(5)), &made),
            Verdict::WrongAction
        );
        let unsized_restart = [plan("web", ActionType::RestartService, None)];
        assert_eq!(
            judge(
                &expect("web", ActionType::RestartService, Some(2)),
                &unsized_restart
            ),
            Verdict::WrongAction
        );
    }

    #[test]
    fn tally_counts_and_prints_the_summary() {
        let mut t = Tally::default();
        for v in [
            Verdict::Right,
            Verdict::Right,
            Verdict::FalseAction,
            Verdict::Missed,
            Verdict::WrongAction,
        ] {
            t.add(v);
        }
        assert_eq!(
            t.summary(),
            "DECISIONS right=2 of=5 false_actions=1 missed=1 wrong_action=1"
        );
    }

    #[test]
    fn a_folder_is_scored_and_files_without_expect_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        // No violation at all: no plan, whatever the engine's tuning.
        let quiet = "start: 2026-11-26T10:00:00Z\n\
                     policies:\n  - {name: p, target: web, threshold: 1}\n\
                     expect: {noPlan: true}\n";
        std::fs::write(dir.path().join("a-quiet.yaml"), quiet).expect("write");
        let missed = "start: 2026-11-26T10:00:00Z\n\
                      policies:\n  - {name: p, target: web, threshold: 1}\n\
                      expect: {target: web, action: RESTART_SERVICE}\n";
        std::fs::write(dir.path().join("b-missed.yaml"), missed).expect("write");
        let unlabelled = "start: 2026-11-26T10:00:00Z\n\
                          policies:\n  - {name: p, target: web, threshold: 1}\n";
        std::fs::write(dir.path().join("c-unlabelled.yaml"), unlabelled).expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not a scenario").expect("write");
        let mut lines = Vec::new();
        let t = run(dir.path(), &mut |l| lines.push(l.to_string())).expect("runs");
        assert_eq!((t.right, t.of, t.missed), (1, 2, 1));
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(
            lines[0],
            "a-quiet.yaml: expected no plan; engine: no plan; OK"
        );
        assert_eq!(
            lines[1],
            "b-missed.yaml: expected web RESTART_SERVICE; engine: no plan; FAIL (missed)"
        );
        assert!(lines[2].contains("skipped"), "{lines:?}");
        assert_eq!(
            lines[3],
            "DECISIONS right=1 of=2 false_actions=0 missed=1 wrong_action=0"
        );

        std::fs::write(dir.path().join("d-bad.yaml"), "start: 1\n").expect("write");
        let e = run(dir.path(), &mut |_| {}).expect_err("bad file");
        assert!(e.to_string().contains("d-bad.yaml"), "{e}");
        let e = run(&dir.path().join("missing"), &mut |_| {}).expect_err("no folder");
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
