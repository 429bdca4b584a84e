//! `mapek-operator decisions` (`make decisions`): the project's evaluation of the
//! engine's judgement, in two parts.
//!
//! **Labelled scenarios** ([`scenarios`]): every scenario file of a folder
//! (`examples/decisions` by default) with an `expect:` is run through the engine as
//! `analyze` runs it, and the plans are compared with the label: a `noPlan`
//! scenario is right when there is no plan at all (else a false action); a
//! target-and-action scenario is right when the target's plan starts with that
//! action (and replica count, when given), missed when the target gets no plan and
//! a wrong action otherwise. The summary line is
//! `DECISIONS right= of= false_actions= missed= wrong_action=`.
//!
//! **Replay of NAB** ([`replay`]): the 34 labelled series of the Numenta Anomaly
//! Benchmark bundled in `datasets/nab-open` (unchanged, MIT license, see its
//! README.md) are replayed as one ViolationPolicy's metric each, one point per 30 s
//! evaluation, with a `GreaterThan` threshold at the 99th percentile of NAB's
//! probationary period and `for: 0`, so that what is measured is the engine's own
//! judgement. The operator's state is simulated as it keeps it (the last 1,440
//! samples in memory, [`crate::model::HISTORY_SAMPLES`], and the last 50
//! violations in the status); after each violation, outside a 10 min cooldown
//! after the last plan, the engine runs on the violations since that plan closed;
//! a plan is a detection. Two Prometheus alerting rules on the same threshold, with
//! `for: 0` and `for: 2m`, are the baselines (a detection per transition to
//! firing). Detections are scored with NAB's rules and standard profile
//! ([`nab`], written from NAB's description), normalised so that the detector that
//! never fires scores 0 and the perfect one 100. The summary line is
//! `REPLAY files= windows= caught= false= nab_score= for0_caught= for0_false=
//! for2m_caught= for2m_false= for2m_nab_score=`.
//!
//! **Replay of IT-operations data**: the 30 series of Microsoft's Cloud
//! Monitoring Dataset in `datasets/ms-cloud-open` (production latency, request,
//! crash and ingress rates labelled by the engineers who ran those services; MIT
//! license, see its README.md), in NAB's layout, replayed exactly the same way.
//! The summary line is `REPLAY_IT` with the fields of `REPLAY`.
//!
//! The replay models breach episodes as the operator runs them (see
//! [`crate::episode`]): the policy's episode is carried from one engine run to
//! the next; a plan is taken as executed and closed at once, and if the breach
//! goes on it counts as a failed attempt of its episode, which may be followed
//! by one escalation and is then Exhausted until the episode ends. In a chronic
//! breach the engine also runs at a dip (the operator's timer does). The alerting
//! baselines stay one detection per firing episode.
//!
//! Missed targets are figures, not failures: only bad input (a file that does not
//! parse, a missing folder) is an error, naming the file, the field and the reason.

pub mod nab;
pub mod replay;
pub mod scenarios;

use std::path::{Path, PathBuf};

use crate::scenario::ScenarioError;

/// Bad input to `decisions`.
#[derive(Debug, thiserror::Error)]
pub enum DecisionsError {
    /// A scenario file failed to load.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A data file or folder is missing or malformed.
    #[error("{}: {field}: {reason}", file.display())]
    Input {
        file: PathBuf,
        /// Where in the file, such as `line 12 value` (or `-` for the whole file).
        field: String,
        reason: String,
    },
}

impl DecisionsError {
    fn input(file: &Path, field: impl Into<String>, reason: impl Into<String>) -> Self {
        DecisionsError::Input {
            file: file.to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Which part to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Part {
    Scenarios,
    Replay,
}

/// What to run: the flags of `mapek-operator decisions` (parsed by clap with the
/// `cli` feature).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct DecisionsArgs {
    /// The folder of labelled scenario files (`*.yaml` with `expect:`).
    #[cfg_attr(feature = "cli", arg(long, default_value = "examples/decisions"))]
    pub scenarios: PathBuf,
    /// The folder of the NAB series and their `combined_windows.json`.
    #[cfg_attr(feature = "cli", arg(long, default_value = "datasets/nab-open"))]
    pub nab: PathBuf,
    /// The folder of the IT-operations series (NAB's layout), replayed the same
    /// way and summed up on the `REPLAY_IT` line.
    #[cfg_attr(feature = "cli", arg(long, default_value = "datasets/ms-cloud-open"))]
    pub it: PathBuf,
    /// Run only one part.
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub only: Option<Part>,
    /// For replayed files whose name contains this text, print each engine plan
    /// with its point, whether it fell inside a labelled window, and the
    /// judgement of the breach (why the engine planned there).
    #[cfg_attr(feature = "cli", arg(long, value_name = "TEXT"))]
    pub trace: Option<String>,
}

/// Runs the parts `args` selects, writing each output line to `out`.
pub fn run(args: &DecisionsArgs, out: &mut dyn FnMut(&str)) -> Result<(), DecisionsError> {
    if args.only != Some(Part::Replay) {
        scenarios::run(&args.scenarios, out)?;
    }
    if args.only != Some(Part::Scenarios) {
        replay::run(&args.nab, "REPLAY", args.trace.as_deref(), out)?;
        replay::run(&args.it, "REPLAY_IT", args.trace.as_deref(), out)?;
    }
    Ok(())
}
