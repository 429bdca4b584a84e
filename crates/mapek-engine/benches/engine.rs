//! Criterion benchmarks of the pure MAPE-K engine, on generated but realistic
//! violation streams (see `common/mod.rs`):
//!
//! - `analyze/{1k,10k,100k,1M}`: [`PatternAnalyzer::analyze`] over that many
//!   violations (and the fixed 4,800 metric samples of 40 policies);
//! - `analyze_phase/*`: where the time of the 100k case goes (context
//!   preparation, then each detector alone);
//! - `plan/*`: [`Planner::generate_plans`] after a real 10k analysis, and over
//!   10, 100 and 1,000 Deployments with one root cause each;
//! - `knowledge/*`: [`KnowledgeBase::record_outcome`] (1,000 outcomes per
//!   iteration), the start-up rebuild from 10,000 stored outcomes, and insights;
//! - `cycle/1k`: one in-process loop: analyse 1k violations, plan, and record the
//!   outcome of the best plan.
//!
//! `make bench` runs them and prints one `BENCH ...` line from criterion's
//! estimates. Run under `cargo test --all-targets` (no `--bench` flag), each
//! benchmark runs once as a smoke test and the large sizes are skipped.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mapek_engine::model::RemediationPlan;
use mapek_engine::{
    AnalysisContext, AnalyzerConfig, KnowledgeBase, OutcomeRecord, PatternAnalyzer, Planner,
    detectors,
};

use common::{SEED, Spec, Workload, generate, planning_input};

/// Whether criterion measures (`cargo bench`) rather than smoke-tests.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

const GROUPS: [&str; 5] = ["analyze", "analyze_phase", "plan", "knowledge", "cycle"];

/// Whether the benchmarks of `group` may be selected by the command line's filter.
/// Their inputs take seconds to generate, so a run filtered to other groups skips
/// them. A filter that names no group (`1M`, a regex) selects every group, and
/// criterion's own filtering decides.
fn selected(group: &str) -> bool {
    // Criterion's options that take a value: the value is no filter.
    const WITH_VALUE: [&str; 15] = [
        "--color",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--profile-time",
        "--plotting-backend",
        "--output-format",
    ];
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    let group_of = |f: &str| {
        let head = f
            .trim_start_matches('^')
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        GROUPS.contains(&head.as_str()).then_some(head)
    };
    filters.is_empty()
        || filters
            .iter()
            .any(|f| group_of(f).is_none_or(|g| g == group))
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// One line about what the analysis of a workload finds, so the log shows that
/// every detector has work to do.
fn describe(name: &str, w: &Workload) {
    let r = PatternAnalyzer::default().analyze(&w.violations, &w.samples, w.now);
    let mut by_type = std::collections::BTreeMap::new();
    for p in &r.patterns {
        *by_type.entry(format!("{:?}", p.pattern_type)).or_insert(0) += 1;
    }
    let plans = Planner::default().generate_plans(&r, &w.targets, &KnowledgeBase::new());
    eprintln!(
        "workload {name}: {} violations ({} analysed), {} samples, {} policies; patterns {by_type:?}; {} root causes; {} plans",
        w.violations.len(),
        r.violations_analyzed,
        w.samples.len(),
        w.policies.len(),
        r.root_causes.len(),
        plans.len()
    );
}

fn analyze(c: &mut Criterion) {
    if !selected("analyze") {
        return;
    }
    let sizes: &[usize] = if measuring() {
        &[1_000, 10_000, 100_000, 1_000_000]
    } else {
        &[1_000]
    };
    let mut group = c.benchmark_group("analyze");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let analyzer = PatternAnalyzer::default();
    for &n in sizes {
        let w = generate(&Spec::new(n));
        describe(&label(n), &w);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(label(n), |b| {
            b.iter(|| analyzer.analyze(black_box(&w.violations), black_box(&w.samples), w.now))
        });
    }
    group.finish();
}

fn analyze_phases(c: &mut Criterion) {
    if !selected("analyze_phase") {
        return;
    }
    let n = if measuring() { 100_000 } else { 1_000 };
    let w = generate(&Spec::new(n));
    let config = AnalyzerConfig::default();
    let mut group = c.benchmark_group("analyze_phase");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(n as u64));
    group.bench_function("context", |b| {
        b.iter(|| AnalysisContext::new(black_box(&w.violations), &w.samples, w.now, &config))
    });
    let ctx = AnalysisContext::new(&w.violations, &w.samples, w.now, &config);
    for d in detectors::registry() {
        let name = format!("{:?}", d.pattern_type()).to_lowercase();
        group.bench_function(name, |b| b.iter(|| d.detect(black_box(&ctx), &config)));
    }
    group.finish();
}

fn plan(c: &mut Criterion) {
    if !selected("plan") {
        return;
    }
    let mut group = c.benchmark_group("plan");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let planner = Planner::default();
    let kb = KnowledgeBase::new();

    // After a real analysis: the root causes of a 10k-violation namespace.
    let w = generate(&Spec::new(if measuring() { 10_000 } else { 1_000 }));
    let analysis = PatternAnalyzer::default().analyze(&w.violations, &w.samples, w.now);
    let plans = planner.generate_plans(&analysis, &w.targets, &kb).len();
    eprintln!(
        "plan from_analysis: {} root causes, {} targets, {plans} plans",
        analysis.root_causes.len(),
        w.targets.len()
    );
    group.throughput(Throughput::Elements(plans as u64));
    group.bench_function("from_analysis", |b| {
        b.iter(|| planner.generate_plans(black_box(&analysis), &w.targets, &kb))
    });

    let sizes: &[usize] = if measuring() {
        &[10, 100, 1_000]
    } else {
        &[10]
    };
    for &n in sizes {
        let (analysis, targets) = planning_input(n, SEED);
        let plans = planner.generate_plans(&analysis, &targets, &kb).len();
        eprintln!("plan {n}: {n} root causes, {n} targets, {plans} plans");
        group.throughput(Throughput::Elements(plans as u64));
        group.bench_function(label(n), |b| {
            b.iter(|| planner.generate_plans(black_box(&analysis), &targets, &kb))
        });
    }
    group.finish();
}

/// A plan with the violations before and after it and its time to stabilize.
type OutcomeInput = (RemediationPlan, Option<u32>, Option<u32>, Option<u32>);

/// Outcome inputs that cover every outcome type.
fn outcome_inputs(n: usize) -> Vec<OutcomeInput> {
    let (analysis, targets) = planning_input(100, SEED);
    let plans = Planner::default().generate_plans(&analysis, &targets, &KnowledgeBase::new());
    assert!(!plans.is_empty());
    let mut rng = common::SplitMix64::new(SEED ^ 0x4b);
    (0..n)
        .map(|i| {
            let before = rng.below(40) as u32;
            let after = match rng.below(4) {
                0 => 0,
                1 => before / 3,
                2 => before,
                _ => before + 5,
            };
            let known = rng.below(50) != 0;
            let stab = (after == 0).then(|| 30 + rng.below(600) as u32);
            (
                plans[i % plans.len()].clone(),
                known.then_some(before),
                known.then_some(after),
                stab,
            )
        })
        .collect()
}

fn knowledge(c: &mut Criterion) {
    if !selected("knowledge") {
        return;
    }
    let mut group = c.benchmark_group("knowledge");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    const BATCH: usize = 1_000;
    let inputs = outcome_inputs(BATCH);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("record_outcome", |b| {
        b.iter_batched_ref(
            KnowledgeBase::new,
            |kb| {
                for (i, (plan, before, after, stab)) in inputs.iter().enumerate() {
                    black_box(kb.record_outcome(
                        "rp-bench",
                        plan,
                        *before,
                        *after,
                        *stab,
                        common::NOW + i as i64,
                    ));
                }
            },
            BatchSize::SmallInput,
        )
    });

    // Start-up: the statistics rebuilt from 10,000 stored OutcomeRecord records.
    let mut kb = KnowledgeBase::new();
    let stored: Vec<OutcomeRecord> = outcome_inputs(10_000)
        .iter()
        .enumerate()
        .map(|(i, (plan, before, after, stab))| {
            kb.record_outcome("rp", plan, *before, *after, *stab, common::NOW + i as i64)
        })
        .collect();
    group.throughput(Throughput::Elements(stored.len() as u64));
    group.bench_function("from_outcomes_10k", |b| {
        b.iter(|| KnowledgeBase::from_outcomes(black_box(&stored)))
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("generate_insights", |b| {
        b.iter(|| black_box(&kb).generate_insights())
    });
    group.finish();
}

fn cycle(c: &mut Criterion) {
    if !selected("cycle") {
        return;
    }
    let mut group = c.benchmark_group("cycle");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let w = generate(&Spec::new(1_000));
    let analyzer = PatternAnalyzer::default();
    let planner = Planner::default();
    group.throughput(Throughput::Elements(w.violations.len() as u64));
    group.bench_function("1k", |b| {
        b.iter_batched_ref(
            KnowledgeBase::new,
            |kb| {
                let analysis = analyzer.analyze(black_box(&w.violations), &w.samples, w.now);
                let plans = planner.generate_plans(&analysis, &w.targets, kb);
                let outcome = plans
                    .first()
                    .map(|p| kb.record_outcome("rp-cycle", p, Some(12), Some(0), Some(90), w.now));
                black_box((analysis, plans, outcome))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, analyze, analyze_phases, plan, knowledge, cycle);
criterion_main!(benches);
