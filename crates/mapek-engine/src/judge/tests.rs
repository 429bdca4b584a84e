//! The judgement's tests: persistence, standing out, long memory, climbs,
//! shared causes and explanations.

use super::*;
use crate::config::AnalyzerConfig;
use crate::model::{MetricSample, Severity, Violation};

const STEP: Millis = 30_000;

/// One policy `p` on Deployment `target` (metric `metric`): a sample per
/// value every 30 s ending at `now`, and a violation for every value over 1.0.
fn input(
    policy: &str,
    target: &str,
    metric: &str,
    values: &[f64],
    now: Millis,
) -> (Vec<Violation>, Vec<MetricSample>) {
    let start = now - STEP * (values.len() as Millis - 1);
    let mut vs = Vec::new();
    let mut ss = Vec::new();
    for (i, &value) in values.iter().enumerate() {
        let at_ms = start + STEP * i as Millis;
        ss.push(MetricSample {
            policy: policy.into(),
            at_ms,
            value,
        });
        if value > 1.0 {
            vs.push(Violation {
                id: format!("{policy}-{i}").into(),
                policy: policy.into(),
                target: target.into(),
                component: target.into(),
                metric: metric.into(),
                severity: Severity::Warning,
                value,
                threshold: 1.0,
                at_ms,
            });
        }
    }
    (vs, ss)
}

fn info(policy: &str) -> PolicyInfo {
    PolicyInfo {
        name: policy.into(),
        operator: ComparisonOperator::GreaterThan,
        threshold: 1.0,
        interval_ms: Some(STEP),
        for_ms: 0,
        ..Default::default()
    }
}

fn judged(
    vs: &[Violation],
    ss: &[MetricSample],
    infos: &[PolicyInfo],
    now: Millis,
) -> (Vec<Breach>, Vec<SharedCause>) {
    let cfg = AnalyzerConfig::default();
    let ctx = AnalysisContext::new(vs, ss, now, &cfg);
    judge(&ctx, infos, &cfg.judge)
}

/// A quiet baseline around 0.5 with a small deterministic wobble.
fn quiet(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 + 0.02 * ((i * 7 % 5) as f64 - 2.0))
        .collect()
}

const NOW: Millis = 10_000_000;

#[test]
fn a_persistent_jump_far_from_normal_is_actionable() {
    let mut v = quiet(60);
    v.extend([2.0, 2.1, 2.05]);
    let (vs, ss) = input("p", "web", "lat", &v, NOW);
    let (b, shared) = judged(&vs, &ss, &[info("p")], NOW);
    assert!(shared.is_empty());
    assert_eq!(b.len(), 1);
    assert!(
        b[0].current && b[0].stands_out && b[0].actionable,
        "{:?}",
        b[0]
    );
    assert_eq!(b[0].run, 3);
    assert_eq!(b[0].level, 2.05);
    assert!(b[0].excess_z.unwrap() > 5.0);
    assert!(b[0].reason.starts_with("breaching now"));
}

#[test]
fn one_sample_is_not_persistent() {
    let mut v = quiet(60);
    v.push(3.0);
    let (vs, ss) = input("p", "web", "lat", &v, NOW);
    let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
    assert!(b[0].current);
    assert!(!b[0].actionable, "{:?}", b[0]);
}

#[test]
fn an_incident_that_ended_is_not_current() {
    let mut v = quiet(40);
    v.extend([2.0; 10]);
    v.extend(quiet(20));
    let (vs, ss) = input("p", "web", "lat", &v, NOW);
    let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
    assert!(!b[0].current && !b[0].actionable);
    assert_eq!(b[0].run, 0);
    assert!(
        b[0].reason.contains("within the threshold"),
        "{}",
        b[0].reason
    );
}

#[test]
fn a_breach_with_no_recent_evaluation_is_not_current() {
    let mut v = quiet(40);
    v.extend([2.0; 5]);
    let (vs, ss) = input("p", "web", "lat", &v, NOW);
    // Evaluated last 2 intervals ago: the breach is not known to hold.
    let (b, _) = judged(&vs, &ss, &[info("p")], NOW + 2 * STEP);
    assert!(!b[0].current && !b[0].actionable);
    assert!(
        b[0].reason.contains("no evaluation for 60s"),
        "{}",
        b[0].reason
    );
}

#[test]
fn flapping_at_the_threshold_never_stands_out() {
    // Around 0.98 with a wobble of 0.04: over 1.0 on about a third of the
    // evaluations, in runs of one or two, at every possible end.
    let wobble = [0.0, 0.03, -0.02, 0.04, -0.04, 0.01, 0.03, 0.035, -0.03, 0.0];
    for end in 20..120 {
        let v: Vec<f64> = (0..end).map(|i| 0.98 + wobble[i % 10]).collect();
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        if vs.is_empty() {
            continue;
        }
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(!b[0].actionable, "end {end}: {:?}", b[0]);
    }
}

/// The breaches of a full analysis (judgement and detectors).
fn analysed(vs: &[Violation], ss: &[MetricSample], infos: &[PolicyInfo]) -> Vec<Breach> {
    crate::analyze::PatternAnalyzer::default()
        .analyze_policies(vs, ss, infos, NOW)
        .breaches
}

#[test]
fn a_recurring_clear_overload_stands_out() {
    // Peaks to 1.6 for 4 evaluations every 20: usual for the policy, but
    // far beyond the threshold and on a period: a recurring overload.
    let mut v = Vec::new();
    for cycle in 0..5 {
        v.extend(quiet(16).iter().map(|x| x + 0.01 * cycle as f64));
        v.extend([1.6, 1.65, 1.6, 1.62]);
    }
    let (vs, ss) = input("p", "web", "lat", &v, NOW);
    // The judgement alone does not see the period ...
    assert!(!judged(&vs, &ss, &[info("p")], NOW).0[0].actionable);
    // ... the periodicity detector does.
    let b = analysed(&vs, &ss, &[info("p")]);
    assert!(b[0].actionable, "{:?}", b[0]);
    assert!(
        b[0].reason.contains("recurring on a period"),
        "{}",
        b[0].reason
    );
}

#[test]
fn random_bursts_however_high_do_not_stand_out() {
    // Bursts to 1.6 of 3 or 4 evaluations at irregular times: the metric's
    // normal, with no period and nothing upstream.
    let gaps = [7, 23, 11, 31, 5, 17, 9];
    let mut v = Vec::new();
    for (k, gap) in gaps.iter().enumerate() {
        v.extend(quiet(*gap));
        v.extend(std::iter::repeat_n(1.6, 3 + k % 2));
    }
    let (vs, ss) = input("p", "web", "lat", &v, NOW);
    let b = analysed(&vs, &ss, &[info("p")]);
    assert!(b[0].current && b[0].run >= 3, "{:?}", b[0]);
    assert!(b[0].margin_z.is_some_and(|m| m > 3.0), "{:?}", b[0]);
    assert!(!b[0].actionable, "{:?}", b[0]);
}

#[test]
fn without_a_baseline_three_evaluations_are_needed() {
    let (vs, ss) = input("p", "web", "lat", &[0.5, 2.0, 2.0], NOW);
    assert!(!judged(&vs, &ss, &[info("p")], NOW).0[0].actionable);
    let (vs, ss) = input("p", "web", "lat", &[0.5, 2.0, 2.0, 2.0], NOW);
    assert!(judged(&vs, &ss, &[info("p")], NOW).0[0].actionable);
}

#[test]
fn a_same_instant_glitch_on_many_deployments_is_one_shared_cause() {
    let mut vs = Vec::new();
    let mut ss = Vec::new();
    let mut infos = Vec::new();
    for t in ["a", "b", "c", "d"] {
        let mut v = quiet(60);
        v.extend([5.0, 5.0]);
        let (x, y) = input(&format!("{t}-lat"), t, "http_latency", &v, NOW);
        vs.extend(x);
        ss.extend(y);
        infos.push(info(&format!("{t}-lat")));
    }
    let (b, shared) = judged(&vs, &ss, &infos, NOW);
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].targets, ["a", "b", "c", "d"]);
    assert_eq!(shared[0].metric, "http_latency");
    assert!(b.iter().all(|b| b.shared && !b.actionable));
    assert!(b[0].reason.contains("shared cause"));
}

#[test]
fn two_deployments_breaching_together_are_no_shared_cause() {
    let mut vs = Vec::new();
    let mut ss = Vec::new();
    for t in ["a", "b"] {
        let mut v = quiet(60);
        v.extend([5.0, 5.0]);
        let (x, y) = input(&format!("{t}-lat"), t, "http_latency", &v, NOW);
        vs.extend(x);
        ss.extend(y);
    }
    let (b, shared) = judged(&vs, &ss, &[info("a-lat"), info("b-lat")], NOW);
    assert!(shared.is_empty());
    assert!(b.iter().all(|b| b.actionable));
}

#[test]
fn a_breach_below_a_less_than_threshold_is_judged_downwards() {
    let mut v: Vec<f64> = quiet(60).iter().map(|x| x + 2.0).collect();
    v.extend([0.2, 0.1, 0.15]);
    let (_, ss) = input("p", "web", "rate", &v, NOW);
    let vs: Vec<Violation> = ss
        .iter()
        .filter(|s| s.value < 1.0)
        .enumerate()
        .map(|(i, s)| Violation {
            id: format!("p-{i}").into(),
            policy: "p".into(),
            target: "web".into(),
            component: "web".into(),
            metric: "rate".into(),
            severity: Severity::Warning,
            value: s.value,
            threshold: 1.0,
            at_ms: s.at_ms,
        })
        .collect();
    let mut i = info("p");
    i.operator = ComparisonOperator::LessThan;
    let (b, _) = judged(&vs, &ss, &[i], NOW);
    assert!(b[0].actionable, "{:?}", b[0]);
    // Sizing reads the shortfall as threshold over level.
    assert!((b[0].overload_ratio().unwrap() - 1.0 / 0.15).abs() < 1e-9);
}

/// Violations for the samples that break `operator` at 1.0.
fn violations_of(ss: &[MetricSample], operator: ComparisonOperator) -> Vec<Violation> {
    ss.iter()
        .filter(|s| operator.violates(s.value, 1.0))
        .enumerate()
        .map(|(i, s)| Violation {
            id: format!("{}-{i}", s.policy).into(),
            policy: s.policy.to_string(),
            target: "web".into(),
            component: "web".into(),
            metric: "lat".into(),
            severity: Severity::Warning,
            value: s.value,
            threshold: 1.0,
            at_ms: s.at_ms,
        })
        .collect()
}

/// `n` quiet evaluations with a 4-evaluation peak at `peak` starting at 300,
/// then `end`: the peak is 2.5 h before the end when `n` is 600, over 6 h
/// when `n` is 1,100 (inside the last 8 h, outside the 1 h analysis window).
fn with_earlier_peak(n: usize, peak: f64, end: &[f64]) -> Vec<f64> {
    let mut v = quiet(n);
    v[300..304].fill(peak);
    v.extend(end);
    v
}

#[test]
fn with_long_history_a_record_breach_plans_and_a_repeat_of_an_earlier_peak_does_not() {
    // 1,100 quiet evaluations (9 h at 30 s) with a peak at 2.0 six hours ago.
    let repeat = with_earlier_peak(1100, 2.0, &[2.0, 2.0, 2.0]);
    let (vs, ss) = input("p", "web", "lat", &repeat, NOW);
    let cfg = AnalyzerConfig::default();
    let ctx = AnalysisContext::new(&vs, &ss, NOW, &cfg);
    // The judgement sees 12 h of samples for its long memory, the rest of
    // the analysis its 1 h window.
    assert_eq!(ctx.history_of("p").len(), 1103);
    assert_eq!(ctx.samples_of("p").len(), 121);
    let b = &judge(&ctx, &[info("p")], &cfg.judge).0[0];
    // Against the last hour it stands out as before ...
    assert!(b.excess_z.unwrap() > 5.0, "{b:?}");
    // ... but it is no record for the last 8 h: no plan.
    assert!(b.current && !b.stands_out && !b.actionable, "{b:?}");
    assert_eq!((b.novel, b.previous_peak), (Some(false), Some(2.0)));
    assert!(b.held_back_by_long_memory(cfg.judge.min_long_z));
    assert!(
        b.reason.contains("no record: the last 8 h reached 2.0000"),
        "{}",
        b.reason
    );
    // Nor with the detectors' explanations.
    assert!(!analysed(&vs, &ss, &[info("p")])[0].actionable);

    // Higher than anything in the last 8 h and far from the 12 h median.
    let record = with_earlier_peak(1100, 2.0, &[3.0, 3.0, 3.0]);
    let (vs, ss) = input("p", "web", "lat", &record, NOW);
    let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
    assert!(b[0].actionable, "{:?}", b[0]);
    assert_eq!(b[0].novel, Some(true));
    assert!(b[0].long_z.unwrap() >= 5.0, "{:?}", b[0]);
    assert!(
        b[0].reason
            .contains("a record for the last 8 h (previous peak 2.0000)")
            && b[0].reason.contains("beyond the 12 h median"),
        "{}",
        b[0].reason
    );
    assert!(analysed(&vs, &ss, &[info("p")])[0].actionable);
}

#[test]
fn a_record_close_to_a_noisy_long_baseline_does_not_plan() {
    // Nine hours wobbling between 0.2 and 0.8, then a last hour quiet at 0.5:
    // against that hour a breach to 1.2 stands out, against the 12 h it is
    // a record but within 5 robust deviations of their median.
    let mut v: Vec<f64> = (0..960)
        .map(|i| 0.5 + 0.3 * ((i * 37 % 11) as f64 / 5.0 - 1.0))
        .collect();
    v.extend(quiet(120));
    v.extend([1.2, 1.2, 1.2]);
    let (vs, ss) = input("p", "web", "lat", &v, NOW);
    let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
    assert!(b[0].excess_z.unwrap() > 5.0, "{:?}", b[0]);
    assert_eq!(b[0].novel, Some(true));
    assert!(b[0].long_z.unwrap() < 5.0, "{:?}", b[0]);
    assert!(!b[0].actionable, "{:?}", b[0]);
    assert!(b[0].reason.contains("(5 needed)"), "{}", b[0].reason);
}

#[test]
fn with_short_history_the_long_memory_gate_does_not_apply() {
    // 600 evaluations (5 h) with an earlier peak at the same level: judged as
    // before the gate existed, on the last hour only.
    let v = with_earlier_peak(600, 2.0, &[2.0, 2.0, 2.0]);
    let (vs, ss) = input("p", "web", "lat", &v, NOW);
    let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
    assert!(b[0].actionable, "{:?}", b[0]);
    assert_eq!(
        (b[0].novel, b[0].previous_peak, b[0].long_z),
        (None, None, None)
    );
    assert!(!b[0].reason.contains("record"), "{}", b[0].reason);
    // The same breach after the last hour alone judges the same.
    let (vs1, ss1) = input("p", "web", "lat", &v[v.len() - 123..], NOW);
    let (b1, _) = judged(&vs1, &ss1, &[info("p")], NOW);
    assert_eq!(b[0], b1[0]);
    // JSON without the gate's fields, as before.
    let json = serde_json::to_value(&b[0]).unwrap();
    for field in ["novel", "previousPeak", "longZ"] {
        assert!(json.get(field).is_none(), "{json}");
    }
}

#[test]
fn below_a_less_than_threshold_the_record_is_the_lowest() {
    let mut i = info("p");
    i.operator = ComparisonOperator::LessThan;
    let high = |v: Vec<f64>| -> Vec<f64> { v.iter().map(|x| 3.0 - x).collect() };
    // Around 2.5 with a dip to 0.2 six hours ago: another dip to 0.2 is no
    // record, one to 0.1 is.
    for (end, plans) in [(0.2, false), (0.1, true)] {
        let mut v = high(quiet(1100));
        v[300..304].fill(0.2);
        v.extend([end; 3]);
        let (_, ss) = input("p", "web", "rate", &v, NOW);
        let vs = violations_of(&ss, ComparisonOperator::LessThan);
        let (b, _) = judged(&vs, &ss, &[i.clone()], NOW);
        assert_eq!(b[0].actionable, plans, "{:?}", b[0]);
        assert_eq!(b[0].novel, Some(plans));
        assert_eq!(b[0].previous_peak, Some(0.2));
        // The distance counts in the violated direction: downwards.
        assert!(b[0].long_z.unwrap() > 5.0, "{:?}", b[0]);
    }
}

/// A deterministic wobble of `amp` around 0 (period 5).
fn wobble(i: usize, amp: f64) -> f64 {
    amp * ((i * 7 % 5) as f64 - 2.0) / 2.0
}

#[test]
fn a_leak_climbing_all_day_plans_though_it_is_close_to_the_12_h_median() {
    // 12 h at 30 s climbing from 0.4 to 1.1, with a wobble that hides the
    // climb within one hour (no trend there), over 1.0 for the last ~40 min.
    let v: Vec<f64> = (0..1440)
        .map(|i| 0.4 + 0.7 * i as f64 / 1439.0 + wobble(i, 0.05))
        .collect();
    let (vs, ss) = input("p", "web", "mem", &v, NOW);
    let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
    let b = &b[0];
    assert!(b.run >= 10 && b.run < 110, "{b:?}");
    // The gate's tests alone would hold it back: a record, but about 1.5
    // robust deviations from the 12 h median.
    assert_eq!(b.novel, Some(true));
    assert!(b.long_z.is_some_and(|z| z < 2.0), "{b:?}");
    assert!(b.actionable && !b.held_back_by_long_memory(JudgeConfig::default().min_long_z));
    assert!(
        b.reason.contains("climbing through the whole history")
            && b.reason.contains("a leak's climb"),
        "{}",
        b.reason
    );
    // The trend detector finds the climb in the 12 h kept, not in the hour.
    let cfg = AnalyzerConfig::default();
    let r = crate::analyze::PatternAnalyzer::new(cfg.clone()).analyze_policies(
        &vs,
        &ss,
        &[info("p")],
        NOW,
    );
    assert!(r.breaches[0].actionable);
    let trend: Vec<_> = r
        .patterns
        .iter()
        .filter(|p| p.pattern_type == crate::model::PatternType::Trend)
        .collect();
    assert_eq!(trend.len(), 1, "{:?}", r.patterns);
    assert!(
        trend[0].hypothesis.contains("h kept"),
        "{}",
        trend[0].hypothesis
    );
    // Without the climb's history (the last hour only) there is no trend.
    let last_hour = crate::analyze::PatternAnalyzer::new(cfg).analyze_policies(
        &vs,
        &ss[ss.len() - 120..],
        &[info("p")],
        NOW,
    );
    assert!(
        !last_hour
            .patterns
            .iter()
            .any(|p| p.pattern_type == crate::model::PatternType::Trend),
        "{:?}",
        last_hour.patterns
    );
}

#[test]
fn a_sawtooth_leak_plans_though_its_earlier_cycles_peaked_higher() {
    // Cycles of 3 h from 0.4 to 1.3, each ended by a restart (a sharp drop),
    // then the current cycle up to 1.2: no record for the last 8 h, but the
    // highest since the last reset of a steady climb.
    let cycle = |n: usize| (0..n).map(|k| 0.4 + 0.0025 * k as f64);
    let mut v: Vec<f64> = Vec::new();
    for _ in 0..3 {
        v.extend(cycle(360));
    }
    v.extend(cycle(321));
    let v: Vec<f64> = v
        .iter()
        .enumerate()
        .map(|(i, x)| x + wobble(i, 0.01))
        .collect();
    let (vs, ss) = input("p", "web", "mem", &v, NOW);
    let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
    let b = &b[0];
    assert_eq!(b.novel, Some(false), "{b:?}");
    assert!(b.previous_peak.is_some_and(|p| p > 1.29), "{b:?}");
    assert!(b.actionable, "{b:?}");
    assert!(
        b.reason
            .contains("climbing since the last reset (2.7 h ago"),
        "{}",
        b.reason
    );
    assert!(analysed(&vs, &ss, &[info("p")])[0].actionable);
}

#[test]
fn peaks_the_metric_reaches_every_two_hours_are_no_climb() {
    // A batch job: every 2 h a 30-minute ramp from 0.5 to 1.3 that ends at
    // once (a drop like a restart's), then the current ramp, at 1.2 now.
    let mut v = Vec::new();
    for _ in 0..5 {
        v.extend(quiet(180));
        v.extend((0..60).map(|k| 0.5 + 0.8 * k as f64 / 59.0));
    }
    v.extend(quiet(180));
    v.extend((0..55).map(|k| 0.5 + 0.8 * k as f64 / 59.0));
    let (vs, ss) = input("p", "web", "cpu", &v, NOW);
    let b = &analysed(&vs, &ss, &[info("p")])[0];
    assert!(b.current && b.run >= 5, "{b:?}");
    assert_eq!(b.novel, Some(false));
    assert!(!b.actionable, "{b:?}");
    assert!(b.held_back_by_long_memory(JudgeConfig::default().min_long_z));
    assert!(b.reason.contains("no record"), "{}", b.reason);
    // The same shape without the reset and with a ramp since the start of
    // the history (a climb over hours) plans.
    let climb: Vec<f64> = (0..1400)
        .map(|i| 0.5 + 0.7 * i as f64 / 1399.0 + wobble(i, 0.01))
        .collect();
    let (vs, ss) = input("p", "web", "cpu", &climb, NOW);
    assert!(analysed(&vs, &ss, &[info("p")])[0].actionable);
}

#[test]
fn a_climb_below_a_less_than_threshold_is_a_fall() {
    // A rate falling for 12 h from 2.6 to 0.9 under a Less-than 1.0.
    let mut i = info("p");
    i.operator = ComparisonOperator::LessThan;
    let v: Vec<f64> = (0..1440)
        .map(|k| 2.6 - 1.7 * k as f64 / 1439.0 + wobble(k, 0.01))
        .collect();
    let (_, ss) = input("p", "web", "rate", &v, NOW);
    let vs = violations_of(&ss, ComparisonOperator::LessThan);
    let (b, _) = judged(&vs, &ss, &[i.clone()], NOW);
    assert!(b[0].actionable, "{:?}", b[0]);
    assert!(b[0].long_z.unwrap() < 5.0, "{:?}", b[0]);
    assert!(b[0].reason.contains("Theil-Sen -0."), "{}", b[0].reason);
    // Mirrored, the same climb plans for a Greater-than policy.
    let rising: Vec<f64> = v.iter().map(|x| 3.5 - x).collect();
    let (vs, ss) = input("p", "web", "rate", &rising, NOW);
    let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
    assert!(b[0].actionable, "{:?}", b[0]);
}

/// An hour of evaluations over the threshold on `duty` of them, in runs of
/// about ten (a service in and out of its latency target), ending over it
/// unless `dip_last`.
fn duty_hour(duty: f64, dip_last: bool) -> Vec<f64> {
    let mut v: Vec<f64> = (0..120)
        .map(|i| {
            let over = ((i % 10) as f64) < duty * 10.0;
            if over {
                1.3 + 0.01 * (i % 3) as f64
            } else {
                0.9
            }
        })
        .collect();
    // The latest evaluations break it, except a dip at the very last one.
    let n = v.len();
    v[n - 4..].fill(1.31);
    if dip_last {
        v[n - 1] = 0.98;
    }
    v
}

#[test]
fn a_chronic_breach_plans_even_at_a_momentary_dip() {
    for dip in [false, true] {
        let v = duty_hour(0.7, dip);
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(b[0].current && b[0].actionable, "dip {dip}: {:?}", b[0]);
        assert!(b[0].reason.contains("chronic"), "{}", b[0].reason);
        // Its level is that of its breaking evaluations, not the dip's.
        assert!(b[0].level > 1.29, "{}", b[0].level);
    }
}

#[test]
fn flapping_at_a_low_duty_cycle_is_no_chronic_breach() {
    for duty in [0.2, 0.4] {
        let v = duty_hour(duty, false);
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(!b[0].reason.contains("chronic"), "{}", b[0].reason);
        assert!(!b[0].actionable, "duty {duty}: {}", b[0].reason);
        // And at a dip it is not current.
        let v = duty_hour(duty, true);
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(!b[0].current, "duty {duty}: {}", b[0].reason);
    }
}
