//! `mapek-engine`: the pure MAPE-K engine of mapek-operator. Analysis, planning
//! and knowledge are synchronous functions over plain data: no Kubernetes client,
//! no async runtime, no clock (times are passed in), no randomness; the same input
//! always gives the same output. The crate's dependencies (serde, schemars, jiff,
//! sha2, thiserror) make that a fact the compiler holds, not a convention.
//!
//! - [`config`]: [`AnalyzerConfig`], every threshold of the analysis, with the
//!   settings of the judgement, the load signal and the change signal.
//! - [`input`]: [`AnalysisContext`], the prepared input every detector and the
//!   judgement read; `stats` (crate-internal): the medians and robust fits they
//!   share.
//! - [`judge`]: whether each policy's breach holds now and stands out from its own
//!   normal, and which same-instant breaches are one shared cause.
//! - [`episode`]: breach episodes, one incident one plan: at most
//!   `maxPlansPerEpisode` plans per episode, then Exhausted until it ends.
//! - [`analyze`]: [`PatternAnalyzer::analyze`] finds [`model::ViolationPattern`]s with
//!   the [`detectors`] and ranks [`model::RootCause`]s per Deployment.
//! - [`plan`]: [`Planner::generate_plans`] turns root causes into
//!   [`model::RemediationPlan`]s inside each policy's remediation envelope.
//! - [`knowledge`]: [`classify_outcome`] judges a remediation and [`KnowledgeBase`]
//!   learns which actions work against which root causes.
//! - Offline use: [`scenario`] (the YAML scenario files), [`report`] (what
//!   `mapek-operator analyze` prints) and [`decisions`] (`make decisions`: labelled
//!   scenarios, the NAB and IT-operations replays). Reading those files is the crate's only I/O.
//!
//! The analysis modules have one direction: [`model`] and [`config`] at the
//! bottom, then [`input`] and `stats`, then [`detectors`] and [`judge`] (which
//! never read each other), then [`episode`] (over the judge's breaches), then
//! [`analyze`] on top, which runs them all. A lower
//! module never imports a higher one (only some tests of the judgement run the
//! whole analyzer); the old paths (`analyze::AnalyzerConfig`,
//! `judge::JudgeConfig`, `analyze::AnalysisContext`, ...) are re-exports.

pub mod analyze;
pub mod config;
mod decimal;
pub mod decisions;
pub mod detectors;
pub mod episode;
mod fnv;
pub mod input;
pub mod judge;
pub mod knowledge;
pub mod model;
pub mod plan;
#[cfg(test)]
mod properties;
pub mod report;
pub mod scenario;
mod stats;

pub use analyze::{AnalysisContext, AnalyzerConfig, PatternAnalyzer};
pub use detectors::{Detection, Detector};
pub use knowledge::{
    KnowledgeBase, LearningInsight, OutcomeRecord, PolicyPattern, classify_outcome,
    success_confidence,
};
pub use model::{ContextKind, ContextSample, HISTORY_SAMPLES, LoadSignal, LoadTrend, MetricSample};
pub use plan::{
    PlanTarget, Planner, PlannerConfig, candidate_actions, plan_hash, prior_effectiveness,
    scale_replicas,
};
