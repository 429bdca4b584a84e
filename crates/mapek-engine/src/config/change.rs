//! The change signal's settings, [`ChangeConfig`], and their defaults (the
//! signal itself is [`crate::analyze::change`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// The change signal's settings (part of the analyzer's configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ChangeConfig {
    /// A change counts when the breach's run began at most this many ms after
    /// it. Default 15 minutes.
    pub window_ms: Millis,
    /// At least this many evaluations of the policy's metric within its
    /// threshold in the hour before the change; with fewer the breach was
    /// already there and the change is not blamed. Default 5.
    pub min_healthy_before: usize,
    /// The share of the other root causes' confidence that moves to the bad
    /// change. Default 0.9.
    pub weight: f64,
}

impl Default for ChangeConfig {
    fn default() -> Self {
        ChangeConfig {
            window_ms: 900_000,
            min_healthy_before: 5,
            weight: 0.9,
        }
    }
}

impl ChangeConfig {
    /// Whether these are the defaults (left out of the serialized configuration,
    /// so analysis ids are what they were).
    pub fn is_default(&self) -> bool {
        *self == ChangeConfig::default()
    }
}
