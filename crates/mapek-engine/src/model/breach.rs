//! What the judgement reports: a policy's [`Breach`] and a [`SharedCause`]
//! across Deployments.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ComparisonOperator, LoadSignal, Millis};

/// What the engine judged of one policy's breach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Breach {
    pub policy: String,
    /// The Deployment.
    pub target: String,
    /// The latest evaluation breaks the threshold and is recent.
    pub current: bool,
    /// Consecutive breaking evaluations up to the latest one.
    pub run: usize,
    /// The breach stands out from the policy's own behaviour.
    pub stands_out: bool,
    /// Part of a shared cause across Deployments.
    pub shared: bool,
    /// Current, persistent, standing out and not shared: a plan may follow.
    pub actionable: bool,
    /// Median of the current run's values (the latest value when there is none).
    pub level: f64,
    pub threshold: f64,
    pub operator: ComparisonOperator,
    /// Median of the evaluations before the run, if there were enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// The level's distance from the baseline in robust standard deviations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excess_z: Option<f64>,
    /// The level's distance beyond the threshold in the baseline's typical
    /// deviations (1.4826 × MAD): how clearly the run breaks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_z: Option<f64>,
    /// Share of the baseline's evaluations that broke the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_duty: Option<f64>,
    /// Long memory (only with a full novelty window of history): whether the
    /// run's peak is a record, beyond every evaluation of the novelty window
    /// before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub novel: Option<bool>,
    /// Long memory: the most extreme evaluation of the novelty window before the
    /// run (highest, or lowest for a Less-than threshold), the record to beat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_peak: Option<f64>,
    /// Long memory: the run's peak's distance from the long baseline's median in
    /// robust standard deviations (1.4826 × MAD), positive in the violated
    /// direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_z: Option<f64>,
    /// The evaluation interval used, ms.
    pub interval_ms: Millis,
    /// When the latest evaluation ran.
    pub last_at_ms: Millis,
    /// When the current run began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_start_ms: Option<Millis>,
    /// The judgement in one sentence.
    pub reason: String,
    /// What the policy's load query says of the breach, when the policy has one
    /// and the breach is current (see [`crate::analyze::load`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadSignal>,
    /// The pod-template change of the Deployment that came shortly before the
    /// breach began, when there is one (see [`crate::analyze::change`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<super::ChangeSignal>,
    /// The breach's episode and what it allows now (see [`crate::episode`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<super::EpisodeMark>,
}

impl Breach {
    /// Whether the long-memory gate stops this breach: it had a full novelty
    /// window of history, its peak is no record or not `min_long_z` beyond the
    /// long baseline, and it does not stand out otherwise (a climb since the last
    /// reset, see [`crate::config::JudgeConfig::long_trend_min_ms`], lets it through). `false`
    /// with less history (the gate does not apply).
    pub fn held_back_by_long_memory(&self, min_long_z: f64) -> bool {
        !self.stands_out
            && (self.novel == Some(false) || self.long_z.is_some_and(|z| z < min_long_z))
    }

    /// The level as a multiple of the threshold in the bad direction (for sizing):
    /// `level / threshold` above, `threshold / level` below; `None` when it is not
    /// a positive, finite ratio.
    pub fn overload_ratio(&self) -> Option<f64> {
        let r = match self.operator {
            ComparisonOperator::LessThan | ComparisonOperator::LessThanOrEqual => {
                self.threshold / self.level
            }
            _ => self.level / self.threshold,
        };
        (r.is_finite() && r > 0.0).then_some(r)
    }
}

/// A same-instant breach across Deployments that share a metric name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedCause {
    pub metric: String,
    pub at_ms: Millis,
    pub targets: Vec<String>,
    pub policies: Vec<String>,
    pub description: String,
}
