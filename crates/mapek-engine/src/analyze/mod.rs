//! Analysis (the "A" of MAPE-K): finds patterns in policy violations and metric
//! samples and ranks root-cause hypotheses per Deployment.
//!
//! [`PatternAnalyzer::analyze`] prepares the input once (filter to the analysis
//! window, sort by time, intern names, group by policy, target, component and
//! metric with index lists), runs every registered [`Detector`](super::detectors::Detector)
//! over that shared [`AnalysisContext`], and combines the patterns into ranked
//! [`RootCause`]s. Everything is deterministic: the same violations and samples, in
//! any order, give the same [`AnalysisResult`].

use super::detectors::{self, Detection};
use super::episode;
use super::judge;
use super::model::{
    AnalysisResult, ContextKind, ContextSample, Episode, MetricSample, Millis, PatternType,
    PolicyInfo, RootCause, RootCauseKind, Samples, TemplateChange, Violation, ViolationPattern,
};

pub mod change;
pub mod load;
mod rank;
#[cfg(test)]
mod scale;
#[cfg(test)]
pub(crate) mod tests;

pub use crate::config::AnalyzerConfig;
pub use crate::input::{AnalysisContext, Groups};
pub use change::ChangeConfig;
pub use load::{LoadConfig, LoadFit};
use rank::rank_root_causes;

/// The analyzer of the seed system: runs every registered detector and ranks root
/// causes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatternAnalyzer {
    pub config: AnalyzerConfig,
}

/// A pattern found by a detector, with the root-cause kind its detector maps to.
struct Found {
    detection: Detection,
    kind: RootCauseKind,
}

impl PatternAnalyzer {
    pub fn new(config: AnalyzerConfig) -> Self {
        PatternAnalyzer { config }
    }

    /// Analyses the violations and samples inside the window ending at `now`.
    ///
    /// Patterns are ordered by type, then confidence (highest first); root causes
    /// by confidence. `confidence_level` is the top root cause's confidence (0 when
    /// there is none); `analysis_id` is `an-` and 16 hex digits of a hash of the
    /// prepared input, `now` and the configuration.
    pub fn analyze(
        &self,
        violations: &[Violation],
        samples: &[MetricSample],
        now: Millis,
    ) -> AnalysisResult {
        self.analyze_policies(violations, samples, &[], now)
    }

    /// [`analyze`](Self::analyze) with what is known of each policy's condition
    /// and evaluation interval; a policy missing from `policies` has them inferred
    /// from its violations and samples.
    pub fn analyze_policies(
        &self,
        violations: &[Violation],
        samples: &[MetricSample],
        policies: &[PolicyInfo],
        now: Millis,
    ) -> AnalysisResult {
        self.analyze_with_context(violations, samples, &[], policies, now)
    }

    /// [`analyze_policies`](Self::analyze_policies) with the samples of the
    /// policies' context queries (`load`, `saturation`). A current breach whose
    /// policy has load samples gets a [`LoadSignal`](crate::model::LoadSignal)
    /// (`Breach::load`, and one sentence more in its reason), and the load moves
    /// the root-cause evidence (see [`load`]). Without context samples this is
    /// exactly `analyze_policies`.
    pub fn analyze_with_context(
        &self,
        violations: &[Violation],
        samples: &[MetricSample],
        context: &[ContextSample],
        policies: &[PolicyInfo],
        now: Millis,
    ) -> AnalysisResult {
        self.analyze_with_changes(violations, samples, context, &[], policies, now)
    }

    /// [`analyze_with_context`](Self::analyze_with_context) with the
    /// Deployments' pod-template changes (from their ReplicaSets). A current,
    /// actionable breach that began shortly after a change of its Deployment,
    /// which ran healthy before it, at a load that is not rising, gets a
    /// [`ChangeSignal`](crate::model::ChangeSignal) (`Breach::change`, and one
    /// sentence more in its reason), and most of its Deployment's root-cause
    /// evidence moves to a `BadChange` (see [`change`]). Without changes this is
    /// exactly `analyze_with_context`.
    pub fn analyze_with_changes(
        &self,
        violations: &[Violation],
        samples: &[MetricSample],
        context: &[ContextSample],
        changes: &[TemplateChange],
        policies: &[PolicyInfo],
        now: Millis,
    ) -> AnalysisResult {
        self.analyze_with_episodes(violations, samples, context, changes, policies, &[], now)
    }

    /// [`analyze_with_changes`](Self::analyze_with_changes) with the policies'
    /// breach episodes as they stood (see [`crate::episode`]): a breach is
    /// actionable only where its episode lets a plan follow, and
    /// [`AnalysisResult::episodes`] holds each judged policy's episode now. A
    /// policy missing from `episodes` has none: an actionable breach begins one.
    /// `samples` may be one list, or each policy's series read in place
    /// ([`Samples::Series`]): the result is the same.
    #[allow(clippy::too_many_arguments)]
    pub fn analyze_with_episodes<'a>(
        &self,
        violations: &'a [Violation],
        samples: impl Into<Samples<'a>>,
        context: &[ContextSample],
        changes: &[TemplateChange],
        policies: &[PolicyInfo],
        episodes: &[Episode],
        now: Millis,
    ) -> AnalysisResult {
        let config = &self.config;
        let ctx = match samples.into() {
            Samples::List(list) => AnalysisContext::new(violations, list, now, config),
            Samples::Series(series) => {
                AnalysisContext::with_series(violations, series, now, config)
            }
        };
        let (mut breaches, shared_causes) = judge::judge(&ctx, policies, &config.judge);

        let mut found: Vec<Found> = Vec::new();
        for detector in detectors::registry() {
            let mut ds = detector.detect(&ctx, config);
            ds.retain(|d| d.confidence.is_finite());
            for d in &mut ds {
                d.confidence = d.confidence.clamp(0.0, 1.0);
            }
            ds.sort_by(cmp_detection);
            ds.truncate(config.max_patterns_per_type);
            let kind = detector.root_cause_kind();
            found.extend(ds.into_iter().map(|detection| Found { detection, kind }));
        }
        found.sort_by(|a, b| {
            a.detection
                .pattern_type
                .cmp(&b.detection.pattern_type)
                .then_with(|| cmp_detection(&a.detection, &b.detection))
        });

        let mut explained = judge::Explanations::default();
        for f in &found {
            let d = &f.detection;
            match d.pattern_type {
                PatternType::Trend => explained.trending.push(d.subject.as_str()),
                PatternType::Periodic => explained.recurring.push(d.subject.as_str()),
                // A causal finding's evidence is the driven policy's violations.
                PatternType::Causal => {
                    if let Some(&i) = d.evidence.first() {
                        explained.driven.push(ctx.violation(i).policy.as_str());
                    }
                }
                _ => {}
            }
        }
        judge::with_explanations(&mut breaches, &explained, &config.judge);
        let loads = load::by_policy(context, ContextKind::Load, now);
        let saturations = load::by_policy(context, ContextKind::Saturation, now);
        for b in &mut breaches {
            let Some(series) = loads.get(b.policy.as_str()) else {
                continue;
            };
            let signal = load::signal(
                b,
                ctx.history_of(&b.policy),
                series,
                saturations.get(b.policy.as_str()).map(Vec::as_slice),
                &config.load,
            );
            if let Some(s) = signal {
                b.reason.push_str("; ");
                b.reason.push_str(&s.reason);
                b.load = Some(s);
            }
        }
        if !changes.is_empty() {
            for b in &mut breaches {
                let signal = change::signal(b, ctx.history_of(&b.policy), changes, &config.change);
                if let Some(s) = signal {
                    b.reason.push_str("; ");
                    b.reason.push_str(&s.reason);
                    b.change = Some(s);
                }
            }
        }

        let episodes = episode::apply(&ctx, &mut breaches, policies, episodes, &config.episode);

        let mut root_causes = rank_root_causes(&ctx, &found, config.recency_half_life_ms);
        let patterns: Vec<ViolationPattern> = found
            .into_iter()
            .map(|f| to_pattern(&ctx, f.detection, config.max_evidence))
            .collect();
        if breaches.iter().any(|b| b.load.is_some()) {
            load::apply(&mut root_causes, &breaches, &config.load);
        }
        if breaches.iter().any(|b| b.change.is_some()) {
            change::apply(&mut root_causes, &breaches, &config.change);
        }

        let mut recommendations: Vec<String> = Vec::new();
        for rc in &root_causes {
            if recommendations.len() >= config.max_recommendations {
                break;
            }
            let r = recommendation(rc);
            if !recommendations.contains(&r) {
                recommendations.push(r);
            }
        }
        let confidence_level = root_causes.first().map_or(0.0, |rc| rc.confidence);

        AnalysisResult {
            analysis_id: format!(
                "an-{:016x}",
                fingerprint(ctx.fingerprint(), context, changes)
            ),
            violations_analyzed: ctx.violations.len(),
            patterns,
            root_causes,
            recommendations,
            confidence_level,
            breaches,
            shared_causes,
            episodes,
        }
    }
}

/// The analysis id's hash: the prepared input's, the context samples' (in a
/// canonical order) when there are any, and the template changes' (in a
/// canonical order) when there are any.
fn fingerprint(input: u64, context: &[ContextSample], changes: &[TemplateChange]) -> u64 {
    use std::hash::Hasher;
    let input = fingerprint_changes(input, changes);
    if context.is_empty() {
        return input;
    }
    let mut sorted: Vec<&ContextSample> = context.iter().collect();
    sorted.sort_by(|a, b| {
        (a.policy.as_str(), a.kind, a.at_ms)
            .cmp(&(b.policy.as_str(), b.kind, b.at_ms))
            .then(a.value.total_cmp(&b.value))
    });
    let mut h = crate::fnv::Fnv64::from_state(input);
    for c in sorted {
        h.write_str_sep(&c.policy);
        h.write(&[c.kind as u8]);
        h.write_i64_le(c.at_ms);
        h.write(&c.value.to_bits().to_le_bytes());
    }
    h.finish()
}

/// The hash of `input` and the template changes (sorted by target, time,
/// revisions and diff), or `input` itself when there are none.
fn fingerprint_changes(input: u64, changes: &[TemplateChange]) -> u64 {
    use std::hash::Hasher;
    if changes.is_empty() {
        return input;
    }
    fn key(c: &TemplateChange) -> (&str, Millis, i64, i64) {
        (c.target.as_str(), c.at_ms, c.revision, c.previous_revision)
    }
    fn fields(c: &TemplateChange) -> Vec<(&str, Option<&str>, Option<&str>)> {
        c.diff
            .iter()
            .map(|f| (f.field.as_str(), f.before.as_deref(), f.after.as_deref()))
            .collect()
    }
    let mut sorted: Vec<&TemplateChange> = changes.iter().collect();
    sorted.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| fields(a).cmp(&fields(b))));
    let mut h = crate::fnv::Fnv64::from_state(input);
    // A tag, so that changes and context samples never hash alike.
    h.write_str_sep("changes");
    for c in sorted {
        h.write_str_sep(&c.target);
        h.write_i64_le(c.at_ms);
        h.write_i64_le(c.revision);
        h.write_i64_le(c.previous_revision);
        h.write_i64_le(c.diff.len() as i64);
        for f in &c.diff {
            h.write_str_sep(&f.field);
            for v in [&f.before, &f.after] {
                match v {
                    Some(v) => {
                        h.write(&[1]);
                        h.write_str_sep(v);
                    }
                    None => h.write(&[0]),
                }
            }
        }
    }
    h.finish()
}

/// Highest confidence first, then subject, hypothesis and evidence: a total order
/// that does not depend on the input order.
fn cmp_detection(a: &Detection, b: &Detection) -> std::cmp::Ordering {
    b.confidence
        .total_cmp(&a.confidence)
        .then_with(|| a.subject.cmp(&b.subject))
        .then_with(|| a.hypothesis.cmp(&b.hypothesis))
        // Indices are positions in the canonical (sorted) order, so comparing them
        // is as deterministic as comparing the ids.
        .then_with(|| a.evidence.cmp(&b.evidence))
}

fn to_pattern(ctx: &AnalysisContext<'_>, d: Detection, max_evidence: usize) -> ViolationPattern {
    let mut seen = vec![false; ctx.targets.len()];
    for &i in &d.evidence {
        seen[ctx.target_of[i as usize] as usize] = true;
    }
    let targets = ctx
        .targets
        .by_name()
        .filter(|(id, _, _)| seen[*id as usize])
        .map(|(_, name, _)| name.to_string())
        .collect();
    let skip = d.evidence.len().saturating_sub(max_evidence);
    let evidence = d.evidence[skip..]
        .iter()
        .map(|&i| ctx.violation(i).id.clone())
        .collect();
    ViolationPattern {
        pattern_type: d.pattern_type,
        confidence: d.confidence,
        hypothesis: d.hypothesis,
        subject: d.subject,
        targets,
        evidence,
    }
}

fn recommendation(rc: &RootCause) -> String {
    let (t, p) = (&rc.target, &rc.policy);
    match rc.kind {
        RootCauseKind::LoadSpike => format!(
            "Scale {t} out ahead of load spikes, or throttle incoming requests (policy {p})."
        ),
        RootCauseKind::GradualDegradation => format!(
            "Restart {t} to reclaim the degrading resource and look for a leak (policy {p})."
        ),
        RootCauseKind::RecurringLoad => {
            format!("Scale {t} out ahead of the recurring load on its schedule (policy {p}).")
        }
        RootCauseKind::ComponentFault => {
            format!("Restart or reconfigure the failing component of {t} (policy {p}).")
        }
        RootCauseKind::UpstreamDependency => format!(
            "Protect {t} from its upstream dependency: throttle or rebalance requests (policy {p})."
        ),
        RootCauseKind::ChronicOverload => format!(
            "Add lasting capacity to {t}: it violates far above its usual rate (policy {p})."
        ),
        RootCauseKind::BadChange => format!(
            "Roll {t} back to the revision before its latest pod-template change (policy {p})."
        ),
    }
}
