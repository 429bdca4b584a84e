//! The breach-episode rules' settings, [`EpisodeConfig`] (see
//! [`crate::episode`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// The episode rules' settings; a policy's own `keepFiringFor` and
/// `maxPlansPerEpisode` override the first two.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EpisodeConfig {
    /// An episode ends once the metric has been within its threshold this long,
    /// ms. Default 5 min.
    pub resolve_ms: Millis,
    /// Most plans in one episode. Default 2: a plan and one escalation.
    pub max_plans: u32,
    /// An executed plan's effect is judged this long after it closed; an
    /// escalation may come only after it, ms. Default 2 min (the operator's
    /// stabilization window).
    pub stabilization_ms: Millis,
    /// The worsening bar: the breach's recent level at least this many times as
    /// far beyond the threshold as the level at the episode's last plan. Default 2.
    pub worsen_factor: f64,
    /// The recent level is the median of the last this many evaluations of the
    /// breach. Default 10 (5 min at 30 s).
    pub recent_evaluations: usize,
}

impl Default for EpisodeConfig {
    fn default() -> Self {
        EpisodeConfig {
            resolve_ms: 300_000,
            max_plans: 2,
            stabilization_ms: 120_000,
            worsen_factor: 2.0,
            recent_evaluations: 10,
        }
    }
}

impl EpisodeConfig {
    /// Whether everything is at its default (left out of serialized configs).
    pub fn is_default(&self) -> bool {
        *self == EpisodeConfig::default()
    }
}
