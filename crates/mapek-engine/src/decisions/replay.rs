//! Part 2 of `make decisions`: the NAB series replayed as one ViolationPolicy's
//! metric each, with the engine's detections and those of two Prometheus alerting
//! rules (`for: 0` and `for: 2m`) on the same threshold, scored as NAB scores.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use jiff::civil::DateTime;

use crate::judge::JudgeConfig;
use crate::model::{
    ActionType, ComparisonOperator, Episode, EpisodePlanState, HISTORY_SAMPLES, MetricSample,
    Millis, RemediationEnvelope, ScaleBounds, Severity, Violation,
};
use crate::report::Report;
use crate::scenario::{Scenario, ScenarioPolicy};

use super::DecisionsError;
use super::nab::{self, Window};

/// Seconds between evaluations: point `i` of a series is evaluated at
/// `START_MS + i * INTERVAL_MS`.
pub const INTERVAL_MS: Millis = 30_000;
/// The time of a series' first evaluation (2026-01-01T00:00:00Z).
pub const START_MS: Millis = 1_767_225_600_000;
/// Violations a policy's status keeps (the operator's `MAX_RECENT_VIOLATIONS`,
/// held equal the same way).
pub const KEPT_VIOLATIONS: usize = 50;
/// No engine runs for this long after a plan closes.
pub const COOLDOWN_MS: Millis = 600_000;
/// The `for` of the slower Prometheus baseline.
pub const FOR_2M_MS: Millis = 120_000;
/// The replayed policy and its Deployment.
const POLICY: &str = "nab";
const TARGET: &str = "svc";

/// One NAB file: its values in order, and its windows as point indices.
#[derive(Debug, Clone)]
pub struct Series {
    pub values: Vec<f64>,
    pub windows: Vec<Window>,
}

/// Reads `timestamp,value` rows (after a `timestamp,value` header); timestamps must
/// not go back (NAB repeats a few) and values must be finite.
pub fn parse_csv(file: &Path, text: &str) -> Result<Vec<(DateTime, f64)>, DecisionsError> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == "timestamp,value" => {}
        _ => {
            return Err(DecisionsError::input(
                file,
                "line 1",
                "the header must be `timestamp,value`",
            ));
        }
    }
    let mut rows: Vec<(DateTime, f64)> = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let field = |name: &str| format!("line {} {name}", i + 1);
        let (t, v) = line
            .split_once(',')
            .ok_or_else(|| DecisionsError::input(file, field(""), "expected `timestamp,value`"))?;
        let at = parse_time(t).map_err(|r| DecisionsError::input(file, field("timestamp"), r))?;
        let value: f64 = v.trim().parse().map_err(|e| {
            DecisionsError::input(file, field("value"), format!("{v:?} is not a number: {e}"))
        })?;
        if !value.is_finite() {
            return Err(DecisionsError::input(
                file,
                field("value"),
                format!("{value} is not a finite number"),
            ));
        }
        if let Some((prev, _)) = rows.last()
            && *prev > at
        {
            return Err(DecisionsError::input(
                file,
                field("timestamp"),
                format!("{at} comes before the previous row's {prev}"),
            ));
        }
        rows.push((at, value));
    }
    Ok(rows)
}

/// A NAB timestamp such as `2014-04-10 07:15:00` or `2014-04-10 07:15:00.000000`.
fn parse_time(s: &str) -> Result<DateTime, String> {
    s.trim()
        .replacen(' ', "T", 1)
        .parse::<DateTime>()
        .map_err(|e| format!("{s:?} is not a time such as 2014-04-10 07:15:00: {e}"))
}

/// The windows `[start, end]` (NAB timestamps) as point indices: a window covers
/// the points whose timestamps fall inside it. `times` never decrease.
pub fn map_windows(
    times: &[DateTime],
    limits: &[(DateTime, DateTime)],
) -> Result<Vec<Window>, String> {
    let mut windows: Vec<Window> = Vec::with_capacity(limits.len());
    for (k, &(start, end)) in limits.iter().enumerate() {
        let first = times.partition_point(|t| *t < start);
        let after = times.partition_point(|t| *t <= end);
        if after <= first {
            return Err(format!("window {k} [{start}, {end}] covers no point"));
        }
        let w = Window {
            first,
            last: after - 1,
        };
        if let Some(prev) = windows.last()
            && prev.last >= w.first
        {
            return Err(format!(
                "window {k} [{start}, {end}] overlaps or precedes the window before it"
            ));
        }
        windows.push(w);
    }
    Ok(windows)
}

/// The `q` quantile (0..=1) of `values`, interpolating between closest ranks;
/// `None` for no values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let last = v.len().checked_sub(1)?;
    let pos = q * last as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// The threshold an SRE would set from normal behaviour: the 99th percentile of
/// NAB's probationary period.
pub fn threshold(values: &[f64]) -> Option<f64> {
    quantile(&values[..nab::probation(values.len())], 0.99)
}

fn at(i: usize) -> Millis {
    START_MS + INTERVAL_MS * i as Millis
}

/// A Prometheus alerting rule with `for: hold_ms` on `value > threshold`,
/// evaluated every 30 s: the points where it goes to firing.
pub fn rule_detections(values: &[f64], threshold: f64, hold_ms: Millis) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pending_since: Option<Millis> = None;
    let mut firing = false;
    for (i, &v) in values.iter().enumerate() {
        if !ComparisonOperator::GreaterThan.violates(v, threshold) {
            pending_since = None;
            firing = false;
            continue;
        }
        let since = *pending_since.get_or_insert(at(i));
        if !firing && at(i) - since >= hold_ms {
            firing = true;
            out.push(i);
        }
    }
    out
}

/// The replayed policy, as a scenario policy.
fn policy(threshold: f64) -> ScenarioPolicy {
    ScenarioPolicy {
        name: POLICY.into(),
        target: TARGET.into(),
        component: None,
        metric: None,
        severity: Severity::default(),
        operator: ComparisonOperator::GreaterThan,
        threshold,
        current_replicas: 2,
        remediation: RemediationEnvelope {
            allowed_actions: vec![ActionType::ScaleUp, ActionType::RestartService],
            scale: Some(ScaleBounds {
                min_replicas: 1,
                max_replicas: 10,
                max_step: 2,
            }),
            config: Vec::new(),
        },
        interval: Some(INTERVAL_MS as f64 / 1000.0),
        for_seconds: Some(0.0),
        keep_firing_for: None,
        max_plans_per_episode: None,
    }
}

/// The engine on the series, as the operator would run it: the monitor records a
/// sample per evaluation and a violation per evaluation over the threshold (the
/// operator keeps the last [`HISTORY_SAMPLES`] samples in memory and the status
/// the last [`KEPT_VIOLATIONS`] violations); the analyzer runs on the violations
/// since the last plan closed and on the kept samples, at each violation and, in
/// a chronic breach, at a dip too (the operator's timer), out of cooldown. The
/// policy's breach episode is carried from one run to the next as the operator
/// keeps it in the status. A plan is a detection; it is taken as executed and
/// closed at once (if the breach goes on, a failed attempt of its episode) and
/// a 10 min cooldown follows. `on_plan` sees each detection's point and report.
/// Returns the points of the detections.
pub fn engine_detections(
    values: &[f64],
    threshold: f64,
    on_plan: &mut dyn FnMut(usize, &Report),
) -> Vec<usize> {
    simulate(values, threshold, &mut |scenario| {
        let report = Report::from_scenario(scenario);
        let planned = !report.plans.is_empty();
        if planned {
            on_plan(((scenario.now - START_MS) / INTERVAL_MS) as usize, &report);
        }
        let breach = report.analysis.breaches.iter().find(|b| b.policy == POLICY);
        let mut episode = report.analysis.episodes.first().cloned();
        if let (Some(e), Some(plan)) = (episode.as_mut(), report.plans.first()) {
            let mark = breach.and_then(|b| b.episode.as_ref());
            e.record(
                plan,
                mark,
                breach.map_or(threshold, |b| b.level),
                scenario.now,
            );
        }
        Run { planned, episode }
    })
}

/// What one engine run of the replay gave: whether it planned, and the policy's
/// episode after it (with the plan recorded, open).
#[derive(Debug, Default)]
pub struct Run {
    pub planned: bool,
    pub episode: Option<Episode>,
}

/// Whether more than the chronic bar of the last hour's kept samples break the
/// threshold: only then can a dip be a current breach (the judge's chronic
/// rule), so only then is the engine run at one.
fn chronic_dip(samples: &VecDeque<MetricSample>, threshold: f64, now: Millis) -> bool {
    let judge = JudgeConfig::default();
    let from = now - judge.chronic_window_ms;
    let recent: Vec<&MetricSample> = samples
        .iter()
        .rev()
        .take_while(|s| s.at_ms >= from)
        .collect();
    let bad = recent
        .iter()
        .filter(|s| ComparisonOperator::GreaterThan.violates(s.value, threshold))
        .count();
    recent.len() >= judge.chronic_min_evaluations
        && bad as f64 / recent.len() as f64 > judge.chronic_min_duty
}

/// The loop of [`engine_detections`] with `engine` standing for the engine: what
/// it does on the scenario of one evaluation.
pub fn simulate(
    values: &[f64],
    threshold: f64,
    engine: &mut dyn FnMut(&Scenario) -> Run,
) -> Vec<usize> {
    let policy = policy(threshold);
    let mut samples: VecDeque<MetricSample> = VecDeque::with_capacity(HISTORY_SAMPLES + 1);
    let mut violations: VecDeque<Violation> = VecDeque::with_capacity(KEPT_VIOLATIONS + 1);
    let mut recorded: u64 = 0;
    let mut closed_at: Option<Millis> = None;
    let mut episode: Option<Episode> = None;
    let mut out = Vec::new();
    for (i, &value) in values.iter().enumerate() {
        let now = at(i);
        samples.push_back(MetricSample {
            policy: POLICY.into(),
            at_ms: now,
            value,
        });
        if samples.len() > HISTORY_SAMPLES {
            samples.pop_front();
        }
        if policy.operator.violates(value, threshold) {
            recorded += 1;
            violations.push_back(Violation {
                id: format!("{POLICY}-{recorded}").into(),
                policy: POLICY.into(),
                target: TARGET.into(),
                component: TARGET.into(),
                metric: POLICY.into(),
                severity: policy.severity,
                value,
                threshold,
                at_ms: now,
            });
            if violations.len() > KEPT_VIOLATIONS {
                violations.pop_front();
            }
        } else if violations.is_empty() || !chronic_dip(&samples, threshold, now) {
            continue;
        }
        if closed_at.is_some_and(|c| now < c + COOLDOWN_MS) {
            continue;
        }
        let scenario = Scenario {
            description: None,
            policies: vec![policy.clone()],
            violations: violations.iter().cloned().collect(),
            samples: samples.iter().cloned().collect(),
            context: Vec::new(),
            now,
            expect: None,
            outcomes: Vec::new(),
            changes: Vec::new(),
            episodes: episode.iter().cloned().collect(),
        };
        let run = engine(&scenario);
        if run.episode.is_some() {
            episode = run.episode;
        }
        if run.planned {
            out.push(i);
            closed_at = Some(now);
            // Only violations after the close are fed from now on.
            violations.clear();
            // Taken as executed and closed at once.
            if let Some(p) = episode.as_mut().and_then(|e| e.plans.last_mut()) {
                p.state = EpisodePlanState::Executed;
                p.closed_ms = Some(now);
            }
        }
    }
    out
}

/// What one detector did over all files.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    raw: f64,
    caught: usize,
    false_positives: usize,
}

impl Totals {
    fn add(&mut self, s: nab::FileScore) {
        self.raw += s.raw;
        self.caught += s.caught;
        self.false_positives += s.false_positives;
    }
}

/// Loads `combined_windows.json` and every file it names under `dir`.
pub fn load(dir: &Path) -> Result<BTreeMap<String, Series>, DecisionsError> {
    let path = dir.join("combined_windows.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| DecisionsError::input(&path, "-", format!("cannot read the file: {e}")))?;
    let labels: BTreeMap<String, Vec<[String; 2]>> = serde_json::from_str(&text).map_err(|e| {
        DecisionsError::input(
            &path,
            format!("line {} column {}", e.line(), e.column()),
            format!("expected {{\"folder/file.csv\": [[start, end], ...]}}: {e}"),
        )
    })?;
    if labels.is_empty() {
        return Err(DecisionsError::input(&path, "-", "names no file"));
    }
    let mut out = BTreeMap::new();
    for (name, windows) in &labels {
        let mut limits = Vec::with_capacity(windows.len());
        for (k, [start, end]) in windows.iter().enumerate() {
            let field = format!("{name:?}[{k}]");
            let start = parse_time(start).map_err(|r| DecisionsError::input(&path, &field, r))?;
            let end = parse_time(end).map_err(|r| DecisionsError::input(&path, &field, r))?;
            if end < start {
                return Err(DecisionsError::input(
                    &path,
                    &field,
                    format!("ends ({end}) before it starts ({start})"),
                ));
            }
            limits.push((start, end));
        }
        let csv = dir.join(name);
        let text = std::fs::read_to_string(&csv)
            .map_err(|e| DecisionsError::input(&csv, "-", format!("cannot read the file: {e}")))?;
        let rows = parse_csv(&csv, &text)?;
        if nab::probation(rows.len()) == 0 {
            return Err(DecisionsError::input(
                &csv,
                "-",
                format!(
                    "{} points are too few for a probationary period",
                    rows.len()
                ),
            ));
        }
        let times: Vec<DateTime> = rows.iter().map(|r| r.0).collect();
        let windows = map_windows(&times, &limits)
            .map_err(|r| DecisionsError::input(&path, format!("{name:?}"), r))?;
        out.insert(
            name.clone(),
            Series {
                values: rows.into_iter().map(|r| r.1).collect(),
                windows,
            },
        );
    }
    Ok(out)
}

/// Replays every file of `dir` and writes one line per file and the summary
/// line, headed `label`, to `out`.
pub fn run(
    dir: &Path,
    label: &str,
    trace: Option<&str>,
    out: &mut dyn FnMut(&str),
) -> Result<(), DecisionsError> {
    let files = load(dir)?;
    let profile = nab::STANDARD;
    let (mut engine, mut for0, mut for2m) =
        (Totals::default(), Totals::default(), Totals::default());
    let (mut null, mut perfect, mut windows) = (0.0, 0.0, 0);
    for (name, series) in &files {
        let n = series.values.len();
        let w = &series.windows;
        // Nonempty: `load` checked that the probationary period has points.
        let threshold = threshold(&series.values).unwrap_or(f64::INFINITY);
        let tracing = trace.is_some_and(|t| name.contains(t));
        let mut lines = Vec::new();
        let detections = engine_detections(&series.values, threshold, &mut |i, report| {
            if !tracing {
                return;
            }
            let inside = w.iter().any(|w| w.first <= i && i <= w.last);
            for b in &report.analysis.breaches {
                lines.push(format!(
                    "  {name}: plan at point {i} (value {:.4}, {}): {}",
                    series.values[i],
                    if inside {
                        "inside a window"
                    } else {
                        "outside the windows"
                    },
                    b.reason
                ));
            }
        });
        lines.iter().for_each(|l| out(l));
        let e = nab::score(n, w, &detections, profile);
        let f0 = nab::score(
            n,
            w,
            &rule_detections(&series.values, threshold, 0),
            profile,
        );
        let f2 = nab::score(
            n,
            w,
            &rule_detections(&series.values, threshold, FOR_2M_MS),
            profile,
        );
        engine.add(e);
        for0.add(f0);
        for2m.add(f2);
        null += nab::null_score(n, w, profile);
        perfect += nab::perfect_score(n, w, profile);
        windows += e.windows;
        out(&format!(
            "{name}: points={n} threshold={threshold:.4} windows={} engine caught={} false={} | for0 caught={} false={} | for2m caught={} false={}",
            e.windows,
            e.caught,
            e.false_positives,
            f0.caught,
            f0.false_positives,
            f2.caught,
            f2.false_positives
        ));
    }
    out(&format!(
        "{label} files={} windows={windows} caught={} false={} nab_score={:.1} for0_caught={} for0_false={} for2m_caught={} for2m_false={} for2m_nab_score={:.1}",
        files.len(),
        engine.caught,
        engine.false_positives,
        nab::normalized(engine.raw, null, perfect),
        for0.caught,
        for0.false_positives,
        for2m.caught,
        for2m.false_positives,
        nab::normalized(for2m.raw, null, perfect),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime {
        parse_time(s).expect("a test time")
    }

    #[test]
    fn windows_cover_the_points_inside_their_limits() {
        let times: Vec<DateTime> = [
            "2014-04-01 00:00:00",
            "2014-04-01 00:05:00",
            "2014-04-01 00:10:00",
            "2014-04-01 00:15:00",
            "2014-04-01 00:20:00",
            "2014-04-01 00:25:00",
        ]
        .iter()
        .map(|s| t(s))
        .collect();
        // Exact limits, with NAB's fractional seconds.
        let w = map_windows(
            &times,
            &[(
                t("2014-04-01 00:05:00.000000"),
                t("2014-04-01 00:10:00.000000"),
            )],
        )
        .expect("maps");
        assert_eq!(w, [Window { first: 1, last: 2 }]);
        // Limits between points take the points inside.
        let w = map_windows(
            &times,
            &[
                (t("2014-04-01 00:06:00"), t("2014-04-01 00:16:00")),
                (t("2014-04-01 00:24:00"), t("2014-04-02 00:00:00")),
            ],
        )
        .expect("maps");
        assert_eq!(
            w,
            [Window { first: 2, last: 3 }, Window { first: 5, last: 5 }]
        );
        let e = map_windows(
            &times,
            &[(t("2014-04-01 00:11:00"), t("2014-04-01 00:14:00"))],
        )
        .expect_err("empty window");
        assert!(e.contains("covers no point"), "{e}");
    }

    #[test]
    fn the_for_2m_rule_fires_on_the_fifth_violating_evaluation() {
        // Four over the threshold, a dip, then six over and a second episode.
        let v = [
            0.0, 5.0, 5.0, 5.0, 5.0, 0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 0.0, 5.0, 5.0, 5.0, 5.0,
            5.0,
        ];
        assert_eq!(rule_detections(&v, 1.0, FOR_2M_MS), [10, 17]);
        // `for: 0` fires on every episode's first point.
        assert_eq!(rule_detections(&v, 1.0, 0), [1, 6, 13]);
        // At the threshold is not over it.
        assert_eq!(rule_detections(&[1.0, 1.0], 1.0, 0), Vec::<usize>::new());
    }

    #[test]
    fn threshold_is_the_99th_percentile_of_the_probationary_period() {
        // 1000 points: the first 150 are 0..150, the rest far above.
        let mut v: Vec<f64> = (0..150).map(f64::from).collect();
        v.extend(std::iter::repeat_n(1e6, 850));
        let th = threshold(&v).expect("some points");
        assert!((th - 147.51).abs() < 1e-9, "{th}");
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0], 0.99), Some(3.0));
    }

    #[test]
    fn csv_errors_name_the_line_and_field() {
        let f = Path::new("x.csv");
        let ok = parse_csv(
            f,
            "timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,2\n",
        )
        .expect("parses");
        assert_eq!(ok.len(), 2);
        let e = parse_csv(f, "timestamp,value\n2014-04-01 00:00:00,abc\n").expect_err("bad");
        assert!(e.to_string().starts_with("x.csv: line 2 value: "), "{e}");
        let e = parse_csv(
            f,
            "timestamp,value\n2014-04-01 00:05:00,1\n2014-04-01 00:00:00,1\n",
        )
        .expect_err("goes back");
        assert!(
            e.to_string().starts_with("x.csv: line 3 timestamp: "),
            "{e}"
        );
        let e = parse_csv(f, "time,v\n").expect_err("header");
        assert!(e.to_string().contains("header"), "{e}");
    }

    /// A stand-in engine's run: a plan when `yes`.
    fn plan_if(yes: bool) -> Run {
        Run {
            planned: yes,
            episode: None,
        }
    }

    #[test]
    fn the_simulated_operator_feeds_violations_since_the_last_plan_and_cools_down() {
        // Quiet for 200 points, then over the threshold for 200.
        let mut v = vec![1.0; 200];
        v.extend(std::iter::repeat_n(10.0, 200));
        let mut seen = Vec::new();
        // A stand-in engine that plans once it has three violations.
        let d = simulate(&v, 5.0, &mut |s| {
            seen.push((s.now, s.violations.len(), s.samples.len()));
            assert_eq!(s.policies[0].threshold, 5.0);
            assert_eq!(s.policies[0].for_seconds, Some(0.0));
            plan_if(s.violations.len() >= 3)
        });
        // Plans at the third violation, then every 20 points (10 min cooldown,
        // and three new violations after the close).
        assert_eq!(d[0], 202);
        assert_eq!(d[1], 202 + 20, "{d:?}");
        assert!(d.windows(2).all(|p| p[1] - p[0] == 20), "{d:?}");
        // No engine run inside a cooldown; after one, the violations fed are
        // those since the close (20 points), samples every one so far (fewer than
        // HISTORY_SAMPLES) whatever happened.
        let after = seen
            .iter()
            .find(|(now, _, _)| *now == at(222))
            .expect("a run at the end of the first cooldown");
        assert_eq!((after.1, after.2), (20, 223));
        assert!(
            !seen
                .iter()
                .any(|(now, _, _)| *now > at(202) && *now < at(222))
        );
        // The status keeps 50 violations at most.
        let mut most = 0;
        simulate(&v, 5.0, &mut |s| {
            most = most.max(s.violations.len());
            Run::default()
        });
        assert_eq!(most, KEPT_VIOLATIONS);
        // The operator keeps HISTORY_SAMPLES samples at most.
        let mut long = vec![1.0; HISTORY_SAMPLES];
        long.extend(std::iter::repeat_n(10.0, 100));
        let mut most = 0;
        simulate(&long, 5.0, &mut |s| {
            most = most.max(s.samples.len());
            Run::default()
        });
        assert_eq!(most, HISTORY_SAMPLES);
        // Nothing over the threshold: the engine never runs.
        let mut runs = 0;
        simulate(&[1.0; 200], 5.0, &mut |_| {
            runs += 1;
            plan_if(true)
        });
        assert_eq!(runs, 0);
    }
}

#[cfg(test)]
mod episode_tests {
    use super::*;

    #[test]
    fn a_level_shift_lasting_hours_gets_a_plan_and_one_escalation() {
        // Two hours quiet with noise, then six hours well over the threshold.
        let mut v: Vec<f64> = (0..240).map(|i| 1.0 + 0.1 * ((i * 7) % 5) as f64).collect();
        v.extend((0..720).map(|i| 5.0 + 0.1 * ((i * 3) % 7) as f64));
        let mut reasons = Vec::new();
        let d = engine_detections(&v, 2.0, &mut |i, r| {
            reasons.push(format!("{i}: {}", r.analysis.breaches[0].reason));
        });
        assert_eq!(d.len(), 2, "{reasons:#?}");
        assert!(reasons[1].contains("escalation"), "{reasons:#?}");
    }
}
