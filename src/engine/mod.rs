//! The pure MAPE-K engine: analysis, planning and knowledge as synchronous
//! functions over plain data. No I/O, no clock (times are passed in), no
//! randomness: the same input always gives the same output.

pub mod analyze;
pub mod detectors;
mod fnv;
pub mod knowledge;
pub mod model;
pub mod plan;
#[cfg(test)]
mod properties;

pub use analyze::{AnalysisContext, AnalyzerConfig, PatternAnalyzer};
pub use detectors::{Detection, Detector};
pub use knowledge::{
    KnowledgeBase, LearningInsight, PolicyOutcome, PolicyPattern, classify_outcome,
};
pub use plan::{PlanTarget, Planner, PlannerConfig, plan_hash};
