//! The pure MAPE-K engine: analysis, planning and knowledge as synchronous
//! functions over plain data. No I/O, no clock (times are passed in), no
//! randomness: the same input always gives the same output.
//!
//! - [`analyze`]: [`PatternAnalyzer::analyze`] finds [`model::ViolationPattern`]s with
//!   the [`detectors`] and ranks [`model::RootCause`]s per Deployment.
//! - [`plan`]: [`Planner::generate_policies`] turns root causes into
//!   [`model::RemediationPlan`]s inside each policy's remediation envelope.
//! - [`knowledge`]: [`classify_outcome`] judges a remediation and [`KnowledgeBase`]
//!   learns which actions work against which root causes.

pub mod analyze;
pub mod detectors;
mod fnv;
pub mod judge;
pub mod knowledge;
pub mod model;
pub mod plan;
#[cfg(test)]
mod properties;

pub use analyze::{AnalysisContext, AnalyzerConfig, PatternAnalyzer};
pub use detectors::{Detection, Detector};
pub use knowledge::{
    KnowledgeBase, LearningInsight, PolicyOutcome, PolicyPattern, classify_outcome,
    success_confidence,
};
pub use plan::{
    PlanTarget, Planner, PlannerConfig, candidate_actions, plan_hash, prior_effectiveness,
    scale_replicas,
};
