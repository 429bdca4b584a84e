//! The engine's configuration: [`AnalyzerConfig`], every threshold of the
//! analysis, with the settings of its parts, [`JudgeConfig`] (the judgement),
//! [`LoadConfig`] (the load signal) and [`ChangeConfig`] (the change signal),
//! and their defaults. Plain data, below everything that reads it: the
//! prepared input, the detectors, the judgement and the analysis.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod change;
mod episode;
mod judge;
mod load;

pub use change::ChangeConfig;
pub use episode::EpisodeConfig;
pub use judge::JudgeConfig;
pub use load::LoadConfig;

/// Every threshold of the analyzer. Missing fields take their defaults when
/// deserialized, so a partial configuration is valid. Values that make no sense
/// (zero widths, negative windows, NaN) never panic: widths are raised to 1 ms and
/// comparisons with NaN never hold, so the detector concerned finds nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AnalyzerConfig {
    /// Length of the analysis window ending at `now`, in ms (inclusive at both
    /// ends). Default 1 hour. Samples are kept over the longer of this and
    /// `judge.longBaselineMs` (12 h) for the judgement's long memory; everything
    /// else reads those of this window.
    pub window_ms: i64,
    /// At most this many violation ids per pattern in the output (the most recent
    /// ones); the analysis itself uses all of them. Keeps the objects that embed
    /// the result small. Default 100.
    pub max_evidence: usize,
    /// At most this many patterns of each type, highest confidence first. Default 20.
    pub max_patterns_per_type: usize,
    /// At most this many recommendations. Default 5.
    pub max_recommendations: usize,

    /// Temporal burst: at least this many violations of one Deployment ... Default
    /// 2 (two consecutive breaking evaluations; whether they are worth a plan is
    /// the judgement's business).
    pub burst_min_violations: usize,
    /// ... within this many ms (first to last, inclusive). Default 60 s.
    pub burst_window_ms: i64,

    /// Trend: at least this many finite samples of the policy's metric. Default 6.
    pub trend_min_samples: usize,
    /// Trend: least-squares slope t-statistic, in the bad direction, at least this.
    /// Default 3.
    pub trend_min_t: f64,
    /// Trend: coefficient of determination at least this. Default 0.5.
    pub trend_min_r2: f64,

    /// Periodicity: width of the bins violations are counted in, ms. Default 60 s.
    pub periodic_bin_ms: i64,
    /// Periodicity: autocorrelation at the period at least this. Default 0.5.
    pub periodic_min_autocorrelation: f64,
    /// Periodicity: the series spans at least this many repetitions. Default 3.
    pub periodic_min_cycles: usize,
    /// Periodicity: bins are widened so a series has at most this many. Default 1024.
    pub periodic_max_bins: usize,

    /// Spatial: at least this many violations from one component, metric or policy.
    /// Default 3.
    pub spatial_min_violations: usize,

    /// Causal: bin width of the correlated series, ms. Default 60 s.
    pub causal_bin_ms: i64,
    /// Causal: Pearson correlation at least this. Default 0.7.
    pub causal_min_r: f64,
    /// Causal: lags tried, 1 to this many bins. Default 5.
    pub causal_max_lag_bins: usize,
    /// Causal: only the top K policies by violation count (driven side) and by
    /// sample count (driver side) are paired, bounding the cost to
    /// O(K² · lags · bins). Default 16.
    pub causal_top_k: usize,
    /// Causal: at least this many overlapping bin pairs at a lag. Default 6.
    pub causal_min_bins: usize,
    /// Causal: bins are widened so a series has at most this many. Default 1024.
    pub causal_max_bins: usize,

    /// Frequency: more than this many violations of one policy ... Default 8.
    pub frequency_max_violations: usize,
    /// ... within this many ms; also the length of the "recent" window of the spike
    /// test. Default 5 minutes.
    pub frequency_window_ms: i64,
    /// Frequency spike: the recent rate at least this many times the policy's
    /// baseline rate over the rest of the analysis window. Default 3.
    pub frequency_spike_factor: f64,
    /// Frequency spike: at least this many recent violations. Default 3.
    pub frequency_spike_min_violations: usize,

    /// Recency: a pattern's weight halves for every this many ms between its
    /// latest violation and `now`, so old evidence explains but weighs less.
    /// Default 10 minutes.
    pub recency_half_life_ms: i64,
    /// Whether a breach is current, persistent and stands out; shared causes.
    pub judge: JudgeConfig,
    /// What a policy's load query says of its breach (see
    /// [`load`](crate::analyze::load)). Left out of the serialized configuration
    /// when default.
    #[serde(skip_serializing_if = "LoadConfig::is_default")]
    pub load: LoadConfig,
    /// Whether a breach began shortly after a pod-template change (see
    /// [`change`](crate::analyze::change)). Left out of the serialized
    /// configuration when default.
    #[serde(skip_serializing_if = "ChangeConfig::is_default")]
    pub change: ChangeConfig,
    /// Breach episodes: the resolve period, the plans per episode, the
    /// worsening bar (see [`crate::episode`]). Left out of the serialized
    /// configuration when default.
    #[serde(skip_serializing_if = "EpisodeConfig::is_default")]
    pub episode: EpisodeConfig,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            window_ms: 3_600_000,
            max_evidence: 100,
            max_patterns_per_type: 20,
            max_recommendations: 5,
            burst_min_violations: 2,
            burst_window_ms: 60_000,
            trend_min_samples: 6,
            trend_min_t: 3.0,
            trend_min_r2: 0.5,
            periodic_bin_ms: 60_000,
            periodic_min_autocorrelation: 0.5,
            periodic_min_cycles: 3,
            periodic_max_bins: 1024,
            spatial_min_violations: 3,
            causal_bin_ms: 60_000,
            causal_min_r: 0.7,
            causal_max_lag_bins: 5,
            causal_top_k: 16,
            causal_min_bins: 6,
            causal_max_bins: 1024,
            frequency_max_violations: 8,
            frequency_window_ms: 300_000,
            frequency_spike_factor: 3.0,
            frequency_spike_min_violations: 3,
            recency_half_life_ms: 600_000,
            judge: JudgeConfig::default(),
            load: LoadConfig::default(),
            change: ChangeConfig::default(),
            episode: EpisodeConfig::default(),
        }
    }
}
