//! The load signal's settings, [`LoadConfig`], and their defaults (the signal
//! itself is [`crate::analyze::load`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// The load signal's settings (part of the analyzer's configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct LoadConfig {
    /// The load is rising when its recent median is at least this many times the
    /// healthy baseline's. Default 1.2.
    pub rising_ratio: f64,
    /// The load is flat when its recent median is at most this many times the
    /// healthy baseline's (a falling load included). Default 1.1.
    pub flat_ratio: f64,
    /// The healthy baseline is taken from this span before the breach's run, ms.
    /// Default 1 hour.
    pub baseline_ms: Millis,
    /// The recent load is the median of the run's last this many evaluations.
    /// Default 5.
    pub recent_evaluations: usize,
    /// At least this many healthy evaluations make a baseline; with fewer the
    /// load says nothing. Default 5.
    pub min_healthy: usize,
    /// The share of the evidence the load moves between hypotheses. Default 0.9.
    pub weight: f64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            rising_ratio: 1.2,
            flat_ratio: 1.1,
            baseline_ms: 3_600_000,
            recent_evaluations: 5,
            min_healthy: 5,
            weight: 0.9,
        }
    }
}

impl LoadConfig {
    /// Whether these are the defaults (left out of the serialized configuration,
    /// so analysis ids without context are what they were).
    pub fn is_default(&self) -> bool {
        *self == LoadConfig::default()
    }
}
