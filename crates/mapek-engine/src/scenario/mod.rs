//! Scenario files: a YAML description of policies, violations and metric samples
//! that `mapek-operator analyze --scenario FILE` feeds to the engine offline.
//!
//! Times are seconds after the scenario's `start` (an RFC 3339 time), so a file
//! reads like a timeline. Parsing is strict: unknown fields, unknown policies,
//! non-finite numbers and unknown action types are errors that name the file, the
//! field and the reason; so are an episode's times out of order (a plan before
//! the episode's `since` or before the plan above it, a `closedAt` before its
//! plan's `t`, anything after `now`).
//!
//! An episode (see [`crate::episode`]) may have the policy's `maxPlansPerEpisode`
//! plans (and one more past the worsening bar). A plan's `state` is `Open` (the
//! default: no `closedAt`), `Executed`, `Failed`, `Rejected` or `Expired`; its
//! `level` is the breach's recent level when it was proposed, which the
//! worsening bar compares.
//!
//! ```yaml
//! start: 2026-11-26T10:00:00Z
//! now: 3600             # optional: when the analysis runs (else the last violation or sample)
//! policies:
//!   - name: checkout-latency
//!     target: checkout
//!     threshold: 0.5
//!     currentReplicas: 3
//!     interval: 15      # optional: seconds between evaluations (else inferred)
//!     for: 0            # optional: the condition's `for`, seconds
//!     keepFiringFor: 300  # optional: seconds within the threshold that end an episode
//!     maxPlansPerEpisode: 2  # optional: most plans in one breach episode (default 2)
//!     remediation:
//!       allowedActions: [SCALE_UP]
//!       scale: {minReplicas: 2, maxReplicas: 10, maxStep: 2}
//! violations:
//!   - {policy: checkout-latency, t: 0, value: 0.8}
//! series:
//!   - {policy: checkout-latency, start: 0, step: 15, values: [0.3, 0.4, 0.6]}
//! load:                 # optional: the policy's load query (such as requests/s)
//!   - {policy: checkout-latency, start: 0, step: 15, values: [210, 260, 340]}
//! saturation:           # optional: the policy's saturation query
//!   - {policy: checkout-latency, start: 0, step: 15, values: [0.4, 0.6, 0.9]}
//! outcomes:             # optional: earlier remediations the knowledge base learned
//!   - {rootCause: LoadSpike, actions: [SCALE_UP], outcome: Success}
//! changes:              # optional: pod-template changes (new rollout revisions)
//!   - target: checkout
//!     t: 600
//!     revision: 4
//!     previousRevision: 3
//!     diff: [{field: "containers[checkout].image", before: "checkout:1.4", after: "checkout:1.5"}]
//! episodes:             # optional: a policy's breach episode as it stood before `now`
//!   - policy: checkout-latency
//!     since: 600        # when the judge first accepted the breach
//!     lastBreach: 3000  # optional: the latest evaluation over the threshold (default: since)
//!     state: Planned    # optional: Breaching (default) | Planned | Exhausted | Resolved
//!     # endedAt: 3400   # optional, Resolved only: when it ended
//!     plans:            # oldest first, none before `since`
//!       - {name: checkout-abc, t: 700, level: 1.2, state: Executed, closedAt: 760}
//!       - {name: checkout-def, t: 1500, level: 1.3, state: Rejected, closedAt: 1600, worsened: false}
//! expect:               # optional: the labelled answer (`make decisions`)
//!   {target: checkout, action: SCALE_UP}   # or {noPlan: true}
//! ```
//!
//! Every field added since the first version is optional, with a default that
//! keeps the earlier meaning, so older files load unchanged.

mod envelope;
mod file;
mod parse;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::model::{ContextSample, MetricSample, Millis, TemplateChange, Violation};

pub use envelope::check_envelope;
pub use file::{Expectation, ScenarioPolicy};

/// A scenario file that failed to load, with the file, the field and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {reason}")]
pub struct ScenarioError {
    pub file: PathBuf,
    /// Where in the file, such as `violations[3].value` (or `-` for the whole file).
    pub field: String,
    pub reason: String,
}

/// A loaded, checked scenario, ready for the engine.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub description: Option<String>,
    pub policies: Vec<ScenarioPolicy>,
    pub violations: Vec<Violation>,
    pub samples: Vec<MetricSample>,
    /// Samples of the policies' context queries (`load:`, `saturation:`).
    pub context: Vec<ContextSample>,
    /// When the analysis runs.
    pub now: Millis,
    /// The labelled answer, if the file gives one.
    pub expect: Option<Expectation>,
    /// Earlier outcomes, for the knowledge base.
    pub outcomes: Vec<crate::OutcomeRecord>,
    /// Pod-template changes of the Deployments (`changes:`).
    pub changes: Vec<TemplateChange>,
    /// The policies' breach episodes as they stood before `now` (`episodes:`).
    pub episodes: Vec<crate::model::Episode>,
}
