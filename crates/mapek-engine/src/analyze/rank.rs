//! Ranking: the detectors' patterns combined into one root-cause distribution per
//! Deployment, with explaining away and recency.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{AnalysisContext, Found};
use crate::decimal::Fixed;
use crate::fnv::FnvMap;
use crate::model::{Millis, RootCause, RootCauseKind, Severity};

#[derive(Default)]
struct CauseAcc {
    /// Product of (1 - weighted confidence) over supporting patterns.
    miss: f64,
    supports: Vec<usize>,
    /// Supporting violations per policy id.
    policy_counts: BTreeMap<u32, u64>,
}

/// Which kinds explain which away: a specific mechanism on a target also explains
/// the clustered (load spike) and frequent (chronic overload) violations that
/// would otherwise read as load; a recurrence explains each of its bursts; a leak
/// restarted again and again also recurs.
///
/// A bad change explains nothing here and nothing explains it: it is no
/// detector's pattern, so it never reaches the ranking. It is weighed after the
/// ranking (see [`super::change::apply`]), where it takes most of every other
/// kind's confidence on its Deployment, the fault, leak and load kinds alike
/// (a change that the breach followed accounts for the bursts, the climb and
/// the frequency it shows); listing it here would change nothing.
fn explained_by(kind: RootCauseKind) -> &'static [RootCauseKind] {
    use RootCauseKind::*;
    match kind {
        LoadSpike => &[
            ComponentFault,
            UpstreamDependency,
            GradualDegradation,
            RecurringLoad,
        ],
        ChronicOverload => &[ComponentFault, UpstreamDependency, GradualDegradation],
        RecurringLoad => &[GradualDegradation],
        ComponentFault | UpstreamDependency | GradualDegradation | BadChange => &[],
    }
}

/// One (target, policy) and what its violations in a run of a pattern's
/// evidence add up to: their count, highest severity and latest time.
type Run = ((u32, u32), u64, Severity, Millis);

/// (target, policy) -> count of a pattern's violations.
type PairCounts = FnvMap<(u32, u32), u64>;
/// Target -> (highest severity, latest time) of a pattern's violations.
type TargetSeverity = FnvMap<u32, (Severity, Millis)>;

/// For one pattern's evidence: its [`PairCounts`] and [`TargetSeverity`],
/// written into `pairs` and `sev` (cleared first: one pair of maps serves every
/// pattern). The evidence mostly comes a policy at a time, so each run of one
/// (target, policy) is added up first and goes into the maps once (counts,
/// maxima: the same in any grouping). Their order is the hash maps': what is
/// read from them (a product per target and kind, sums) does not depend on it.
fn evidence_summary(
    ctx: &AnalysisContext<'_>,
    evidence: &[u32],
    pairs: &mut PairCounts,
    sev: &mut TargetSeverity,
) {
    pairs.clear();
    sev.clear();
    let mut add = |(key, count, s, t): Run| {
        *pairs.entry(key).or_default() += count;
        sev.entry(key.0)
            .and_modify(|(ms, mt)| {
                *ms = (*ms).max(s);
                *mt = (*mt).max(t);
            })
            .or_insert((s, t));
    };
    let mut run: Option<Run> = None;
    for &i in evidence {
        let key = (ctx.target_of[i as usize], ctx.policy_of[i as usize]);
        let (s, t) = (ctx.severity_of[i as usize], ctx.times[i as usize]);
        match &mut run {
            Some((k, count, ms, mt)) if *k == key => {
                *count += 1;
                *ms = (*ms).max(s);
                *mt = (*mt).max(t);
            }
            _ => {
                if let Some(done) = run.replace((key, 1, s, t)) {
                    add(done);
                }
            }
        }
    }
    if let Some(done) = run {
        add(done);
    }
}

/// Combines patterns into one root-cause distribution per target.
///
/// Per (target, kind), the evidence is the noisy-or of the supporting patterns'
/// confidences, each weighted by the highest severity among its violations on
/// that target and by its recency (halved every `half_life_ms` since its latest
/// violation). A kind is explained away by the mechanisms [`explained_by`] lists:
/// its evidence is multiplied by `1 - e` for the strongest of them present. The confidences of a target's
/// kinds are then normalised into a distribution that sums to the probability
/// that anything is wrong (the noisy-or over its kinds).
pub(super) fn rank_root_causes(
    ctx: &AnalysisContext<'_>,
    found: &[Found],
    half_life_ms: i64,
) -> Vec<RootCause> {
    let half_life = half_life_ms.max(1) as f64;
    let mut acc: BTreeMap<(u32, RootCauseKind), CauseAcc> = BTreeMap::new();
    let (mut pairs, mut sev) = (PairCounts::default(), TargetSeverity::default());
    for (p, f) in found.iter().enumerate() {
        evidence_summary(ctx, &f.detection.evidence, &mut pairs, &mut sev);
        for (&target, &(severity, latest)) in &sev {
            let age = ctx.now.saturating_sub(latest).max(0) as f64;
            let recency = 0.5f64.powf(age / half_life);
            let a = acc.entry((target, f.kind)).or_insert_with(|| CauseAcc {
                miss: 1.0,
                ..CauseAcc::default()
            });
            a.miss *= 1.0 - f.detection.confidence * severity.weight() * recency;
            a.supports.push(p);
        }
        for (&(target, policy), &count) in &pairs {
            if let Some(a) = acc.get_mut(&(target, f.kind)) {
                *a.policy_counts.entry(policy).or_default() += count;
            }
        }
    }

    // Evidence per (target, kind), then explaining away and normalisation per
    // target. The map is ordered by target, so each target's kinds are adjacent.
    let evidence: BTreeMap<(u32, RootCauseKind), f64> = acc
        .iter()
        .map(|(k, a)| (*k, (1.0 - a.miss).clamp(0.0, 1.0)))
        .collect();
    // Each kind's evidence times `1 - e` for the strongest kind explaining it
    // (from the evidence before any explaining away).
    let mut adjusted: BTreeMap<(u32, RootCauseKind), (f64, Option<RootCauseKind>)> =
        BTreeMap::new();
    for (&(target, kind), &e) in &evidence {
        let by = explained_by(kind)
            .iter()
            .filter_map(|k| evidence.get(&(target, *k)).map(|x| (*x, *k)))
            .filter(|(x, _)| *x > 0.0)
            .fold(None, |best: Option<(f64, RootCauseKind)>, x| match best {
                Some(b) if b.0 >= x.0 => Some(b),
                _ => Some(x),
            });
        adjusted.insert(
            (target, kind),
            match by {
                Some((x, k)) => (e * (1.0 - x), Some(k)),
                None => (e, None),
            },
        );
    }
    let mut totals: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
    for (&(target, _), &(e, _)) in &adjusted {
        let t = totals.entry(target).or_insert((0.0, 1.0));
        t.0 += e;
        t.1 *= 1.0 - e;
    }

    let mut causes: Vec<RootCause> = acc
        .into_iter()
        .map(|((target_id, kind), a)| {
            // Most supporting violations first; ties go to the smaller name.
            let policy = a
                .policy_counts
                .iter()
                .map(|(&id, &c)| (c, ctx.policies.names[id as usize]))
                .max_by(|x, y| x.0.cmp(&y.0).then_with(|| y.1.cmp(x.1)))
                .map_or("", |(_, name)| name);
            let target = ctx.targets.names[target_id as usize];
            let (e, explained_by) = adjusted[&(target_id, kind)];
            let (sum, miss) = totals[&target_id];
            let confidence = if sum > 0.0 {
                ((1.0 - miss) * e / sum).clamp(0.0, 1.0)
            } else {
                0.0
            };
            // Written in place, into one allocation (writing to a String
            // cannot fail).
            let mut description =
                String::with_capacity(200 + target.len() + policy.len() + 24 * a.supports.len());
            let _ = write!(
                description,
                "{kind:?} on {target} (confidence {}), supported by {} pattern(s): ",
                Fixed(confidence, 2),
                a.supports.len(),
            );
            for (i, &p) in a.supports.iter().enumerate() {
                if i > 0 {
                    description.push_str(", ");
                }
                let _ = write!(description, "{:?}", found[p].detection.pattern_type);
            }
            let _ = write!(description, "; mostly violations of policy {policy}.");
            if let Some(by) = explained_by {
                let _ = write!(
                    description,
                    " Largely explained away by {by:?} (evidence {}).",
                    Fixed(evidence[&(target_id, by)], 2)
                );
            }
            RootCause {
                kind,
                target: target.to_string(),
                policy: policy.to_string(),
                confidence,
                description,
                supporting_patterns: a.supports,
            }
        })
        .collect();
    causes.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.target.cmp(&b.target))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    causes
}

/// Takes the share `w` of the confidence of every cause on `target` whose kind
/// `from` accepts, noting `why` in each one's description: what a context
/// signal (the load, a change) moves elsewhere. Returns the confidence taken
/// and the patterns that supported it.
pub(super) fn take_share(
    causes: &mut [RootCause],
    target: &str,
    from: impl Fn(RootCauseKind) -> bool,
    w: f64,
    why: &str,
) -> (f64, Vec<usize>) {
    let mut moved = 0.0;
    let mut supports: Vec<usize> = Vec::new();
    for rc in causes.iter_mut() {
        if rc.target == target && from(rc.kind) && rc.confidence > 0.0 {
            let m = rc.confidence * w;
            moved += m;
            rc.confidence -= m;
            supports.extend(&rc.supporting_patterns);
            rc.description.push_str(why);
        }
    }
    (moved, supports)
}

/// Highest confidence first, then target and kind: the order of the ranking,
/// kept after a context signal moved confidence.
pub(super) fn sort_causes(causes: &mut [RootCause]) {
    causes.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.target.cmp(&b.target))
            .then_with(|| a.kind.cmp(&b.kind))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AnalyzerConfig;
    use crate::input::fixtures::v;

    /// The summary as it was before the runs: both maps updated per violation.
    fn reference(ctx: &AnalysisContext<'_>, evidence: &[u32]) -> (PairCounts, TargetSeverity) {
        let mut pairs = PairCounts::default();
        let mut sev = TargetSeverity::default();
        for &i in evidence {
            let key = (ctx.target_of[i as usize], ctx.policy_of[i as usize]);
            *pairs.entry(key).or_default() += 1;
            let (s, t) = (ctx.severity_of[i as usize], ctx.times[i as usize]);
            sev.entry(key.0)
                .and_modify(|(ms, mt)| {
                    *ms = (*ms).max(s);
                    *mt = (*mt).max(t);
                })
                .or_insert((s, t));
        }
        (pairs, sev)
    }

    #[test]
    fn a_cause_describes_its_kind_confidence_patterns_and_policy() {
        let vs = vec![
            v("a", "lat", "web", 3_000_000),
            v("b", "lat", "web", 3_060_000),
            v("c", "err", "web", 3_120_000),
        ];
        let cfg = AnalyzerConfig::default();
        let ctx = AnalysisContext::new(&vs, &[], 3_600_000, &cfg);
        let found = |pattern_type, evidence: Vec<u32>| Found {
            detection: crate::detectors::Detection {
                pattern_type,
                confidence: 0.5,
                hypothesis: String::new(),
                subject: String::new(),
                evidence,
            },
            kind: RootCauseKind::LoadSpike,
        };
        let causes = rank_root_causes(
            &ctx,
            &[
                found(crate::model::PatternType::TemporalBurst, vec![0, 1, 2]),
                found(crate::model::PatternType::Frequency, vec![0, 1]),
            ],
            600_000,
        );
        assert_eq!(causes.len(), 1);
        let c = &causes[0];
        assert_eq!(
            c.description,
            format!(
                "LoadSpike on web (confidence {:.2}), supported by 2 pattern(s): TemporalBurst, Frequency; mostly violations of policy lat.",
                c.confidence
            )
        );
    }

    #[test]
    fn the_evidence_summary_by_runs_is_the_one_by_violations() {
        let mut state: u64 = 0x7a11;
        let mut next = move |m: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % m
        };
        let severities = [Severity::Info, Severity::Warning, Severity::Critical];
        let vs: Vec<_> = (0..300)
            .map(|i| {
                let p = next(6);
                let mut x = v(
                    &format!("v{i}"),
                    &format!("p{p}"),
                    &format!("d{}", p % 4),
                    1_000 * next(3_000) as i64,
                );
                x.severity = severities[next(3) as usize];
                x
            })
            .collect();
        let cfg = AnalyzerConfig::default();
        let ctx = AnalysisContext::new(&vs, &[], 3_600_000, &cfg);
        let n = ctx.violations.len() as u64;
        // One pair of maps for every case, as for every pattern.
        let (mut pairs, mut sev) = (PairCounts::default(), TargetSeverity::default());
        for case in 0..100 {
            // Runs of one policy (by index order), or indices at random.
            let evidence: Vec<u32> = match case % 3 {
                0 => ctx.policies.members[next(ctx.policies.len() as u64) as usize].clone(),
                1 => (0..n as u32).collect(),
                _ => (0..next(200)).map(|_| next(n) as u32).collect(),
            };
            evidence_summary(&ctx, &evidence, &mut pairs, &mut sev);
            let (want_pairs, want_sev) = reference(&ctx, &evidence);
            assert_eq!(pairs, want_pairs, "case {case}");
            assert_eq!(sev, want_sev, "case {case}");
        }
    }
}
