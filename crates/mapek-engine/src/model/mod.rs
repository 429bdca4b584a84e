//! Plain data shared by the engine and the custom resources: the vocabulary of the
//! loop (action types, severities, risk, outcomes, patterns, root causes) and the
//! values the engine reads (violations, metric samples, the remediation envelope).
//!
//! These types derive `JsonSchema` so that the CRDs embed them unchanged: one
//! definition serves the API, the engine and the offline scenario files.
//!
//! One submodule per concern: `actions` (action types, risk, priority, approval,
//! outcomes), `observations` (violations, samples, load signals, policy
//! conditions), `envelope` (the remediation envelope), `episode` (breach episodes), `analysis` (patterns,
//! root causes, analysis results), `breach` (what the judgement reports of a policy's breach), `plans` and `shared_str` ([`SharedStr`]).
//! Every item is re-exported here: `model::X` is the path to use.

mod actions;
mod analysis;
mod breach;
mod envelope;
mod episode;
mod observations;
mod plans;
mod shared_str;

pub use actions::*;
pub use analysis::*;
pub use breach::*;
pub use envelope::*;
pub use episode::*;
pub use observations::*;
pub use plans::*;
pub use shared_str::*;

/// Milliseconds since the Unix epoch. The engine never reads a clock: every time it
/// uses is a value of this type passed in by the caller.
pub type Millis = i64;
