//! The judgement's settings, [`JudgeConfig`], and their defaults.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// The judgement's settings (part of the analyzer's configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct JudgeConfig {
    /// A breach must have held for at least this many consecutive evaluations.
    /// Default 2.
    pub min_run: usize,
    /// At least this many evaluations before the run make a baseline; with fewer,
    /// persistence alone decides (`min_run_without_baseline`). Default 10.
    pub min_baseline: usize,
    /// Without a baseline, a breach must have held this many evaluations. Default 3.
    pub min_run_without_baseline: usize,
    /// The recent level's distance from the baseline, in robust standard
    /// deviations, at least this. Default 5.
    pub min_excess_z: f64,
    /// A run this long must be at most this likely from the baseline's duty cycle
    /// above the threshold. Default 0.01.
    pub max_noise_p: f64,
    /// A breach that is usual for the policy (a recurring overload) stands out
    /// when its level is at least this many typical deviations (1.4826 × MAD of
    /// the baseline) beyond the threshold ... Default 3.
    pub min_margin_z: f64,
    /// ... and it has held at least this many evaluations. Default 3.
    pub min_run_clear: usize,
    /// Interval assumed when neither the policy nor its samples give one, ms.
    /// Default 60 s.
    pub default_interval_ms: Millis,
    /// Same-instant breaches on at least this many Deployments sharing a metric
    /// name are one shared cause. Default 3.
    pub shared_min_targets: usize,
    /// A breach held this long (ms), and far beyond what the baseline's duty
    /// cycle makes likely (`duty^run <= max_noise_p²`), stands out even at a
    /// level close to the baseline's: the baseline was itself bad. Default 5 min.
    pub sustained_ms: Millis,
    /// Long memory: once a policy has this much history before its breach
    /// (earlier evaluations × its interval), the breach must also be a record:
    /// beyond every evaluation of this span before it (the highest, or the lowest
    /// for a Less-than threshold). With less history the gate does not apply.
    /// Default 8 h (960 evaluations at 30 s).
    pub novelty_window_ms: Millis,
    /// Long memory: the span of the long baseline, the evaluations before the
    /// breach whose median and MAD `min_long_z` is measured against.
    /// Default 12 h (1,440 evaluations at 30 s, what the operator keeps).
    pub long_baseline_ms: Millis,
    /// Long memory: the breach's peak must be at least this many robust standard
    /// deviations (1.4826 × MAD) beyond the long baseline's median, in the
    /// violated direction: the bar of `min_excess_z` held against half a day
    /// instead of the analysis window. Default 5.
    pub min_long_z: f64,
    /// Long memory, a climb: a breach whose metric has climbed (fallen, for a
    /// Less-than threshold) for at least this long since its last reset (a
    /// sharp drop, as a restart shows) or over the whole history, with a robust
    /// trend (`long_trend_min_z`, `long_trend_min_r2`), and whose peak is the
    /// highest since, needs no record of the novelty window and no `min_long_z`:
    /// a leak stays close to the median of the hours it climbed through.
    /// Default 1 h.
    pub long_trend_min_ms: Millis,
    /// Long memory, a climb: the segment's Mann-Kendall z in the violated
    /// direction, at least this. Default 3.
    pub long_trend_min_z: f64,
    /// Long memory, a climb: the R² of the segment's Theil-Sen line, at least
    /// this: a steady climb, not a plateau and a late jump. Default 0.8.
    pub long_trend_min_r2: f64,
    /// Chronic breach: the span of recent evaluations whose duty cycle over the
    /// threshold is measured, ms. Default 1 h.
    pub chronic_window_ms: Millis,
    /// Chronic breach: more than this share of those evaluations over the
    /// threshold. Default 0.5 (over half of the last hour).
    pub chronic_min_duty: f64,
    /// Chronic breach: at least this many evaluations in the span (30: a
    /// quarter of an hour at 30 s, half at 60 s). Default 30.
    pub chronic_min_evaluations: usize,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            min_run: 2,
            min_baseline: 10,
            min_run_without_baseline: 3,
            min_excess_z: 5.0,
            min_margin_z: 3.0,
            min_run_clear: 3,
            max_noise_p: 0.01,
            default_interval_ms: 60_000,
            shared_min_targets: 3,
            sustained_ms: 300_000,
            novelty_window_ms: 8 * 3_600_000,
            long_baseline_ms: 12 * 3_600_000,
            min_long_z: 5.0,
            long_trend_min_ms: 3_600_000,
            long_trend_min_z: 3.0,
            long_trend_min_r2: 0.8,
            chronic_window_ms: 3_600_000,
            chronic_min_duty: 0.5,
            chronic_min_evaluations: 30,
        }
    }
}
