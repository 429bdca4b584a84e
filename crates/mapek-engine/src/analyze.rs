//! Analysis (the "A" of MAPE-K): finds patterns in policy violations and metric
//! samples and ranks root-cause hypotheses per Deployment.
//!
//! [`PatternAnalyzer::analyze`] prepares the input once (filter to the analysis
//! window, sort by time, intern names, group by policy, target, component and
//! metric with index lists), runs every registered [`Detector`](super::detectors::Detector)
//! over that shared [`AnalysisContext`], and combines the patterns into ranked
//! [`RootCause`]s. Everything is deterministic: the same violations and samples, in
//! any order, give the same [`AnalysisResult`].

use std::collections::BTreeMap;
use std::fmt::Write;
use std::hash::Hasher;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::detectors::{self, Detection};
use super::fnv::{Fnv64, FnvMap};
use super::judge::{self, JudgeConfig};
use super::model::{
    AnalysisResult, MetricSample, Millis, PatternType, PolicyInfo, RootCause, RootCauseKind,
    Severity, Violation, ViolationPattern,
};

/// Every threshold of the analyzer. Missing fields take their defaults when
/// deserialized, so a partial configuration is valid. Values that make no sense
/// (zero widths, negative windows, NaN) never panic: widths are raised to 1 ms and
/// comparisons with NaN never hold, so the detector concerned finds nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct AnalyzerConfig {
    /// Length of the analysis window ending at `now`, in ms (inclusive at both
    /// ends). Default 1 hour.
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
        }
    }
}

/// Names interned to dense ids, numbered in name order, with the violations
/// (indices into [`AnalysisContext::violations`], in time order) of each.
#[derive(Debug, Default)]
pub struct Groups<'a> {
    /// Name of each id, sorted.
    pub names: Vec<&'a str>,
    /// Violation indices of each id, in time order.
    pub members: Vec<Vec<u32>>,
    lookup: FnvMap<&'a str, u32>,
}

impl<'a> Groups<'a> {
    /// The id of `name`, if any violation has it.
    pub fn id(&self, name: &str) -> Option<u32> {
        self.lookup.get(name).copied()
    }

    /// `(id, name, members)` in name order.
    pub fn by_name(&self) -> impl Iterator<Item = (u32, &'a str, &[u32])> + '_ {
        self.names
            .iter()
            .zip(&self.members)
            .enumerate()
            .map(|(id, (name, members))| (id as u32, *name, &members[..]))
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no names.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Interns names in input order; [`Interner::finish`] renumbers them in name order
/// so that ids do not depend on the input order.
#[derive(Default)]
struct Interner<'a> {
    lookup: FnvMap<&'a str, u32>,
    names: Vec<&'a str>,
    /// The id of the last name interned: consecutive violations mostly share
    /// their policy, target, component and metric, and comparing with the last
    /// name is cheaper than hashing it.
    last: Option<(&'a str, u32)>,
}

impl<'a> Interner<'a> {
    fn intern(&mut self, name: &'a str) -> u32 {
        if let Some((last, id)) = self.last
            && last == name
        {
            return id;
        }
        let next = self.names.len() as u32;
        let id = *self.lookup.entry(name).or_insert(next);
        if id == next {
            self.names.push(name);
        }
        self.last = Some((name, id));
        id
    }

    /// `(rank of each raw id, empty groups in name order)`.
    fn finish(self) -> (Vec<u32>, Groups<'a>) {
        let mut ids: Vec<u32> = (0..self.names.len() as u32).collect();
        ids.sort_unstable_by(|&a, &b| self.names[a as usize].cmp(self.names[b as usize]));
        let mut rank = vec![0u32; ids.len()];
        for (r, &id) in ids.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        let names: Vec<&str> = ids.iter().map(|&id| self.names[id as usize]).collect();
        let lookup = names
            .iter()
            .enumerate()
            .map(|(r, n)| (*n, r as u32))
            .collect();
        let groups = Groups {
            members: vec![Vec::new(); names.len()],
            names,
            lookup,
        };
        (rank, groups)
    }
}

/// What the context keeps of each violation, computed in one sequential pass and
/// then sorted in place, so that building the context never gathers at random.
#[derive(Clone, Copy)]
struct Rec {
    at_ms: Millis,
    /// FNV-1a of the id and time: orders equal times without reading the id.
    hash: u64,
    /// Index into the caller's slice.
    index: u32,
    ids: [u32; 4],
    severity: Severity,
    direction: i8,
}

/// The prepared input every detector reads: built once per analysis.
///
/// Per-violation data the detectors need in hot loops (time, severity, group ids,
/// direction) is copied into compact arrays in time order, so the loops never
/// chase pointers into the caller's violations.
#[derive(Debug)]
pub struct AnalysisContext<'a> {
    /// The clock value the analysis runs at.
    pub now: Millis,
    /// Start of the analysis window (inclusive).
    pub window_start: Millis,
    /// Violations inside the window, sorted by time and then by content; a
    /// violation whose id repeats at the same time is kept once.
    pub violations: Vec<&'a Violation>,
    /// Per violation (same indices): time, severity, and the sign of
    /// `value - threshold` (1 above, -1 below, 0 equal or NaN).
    pub times: Vec<Millis>,
    pub severity_of: Vec<Severity>,
    pub direction_of: Vec<i8>,
    /// Per violation: the ids of its policy, target, component and metric.
    pub policy_of: Vec<u32>,
    pub target_of: Vec<u32>,
    pub component_of: Vec<u32>,
    pub metric_of: Vec<u32>,
    pub policies: Groups<'a>,
    pub targets: Groups<'a>,
    pub components: Groups<'a>,
    pub metrics: Groups<'a>,
    /// Finite samples inside the window, sorted by policy, time and value.
    pub samples: Vec<&'a MetricSample>,
    /// `(policy, start, end)`: the range of `samples` of each policy, in name order.
    pub sample_groups: Vec<(&'a str, usize, usize)>,
    fingerprint: u64,
}

impl<'a> AnalysisContext<'a> {
    /// Filters, sorts and groups the input: one sequential pass over the input,
    /// a sort of (time, index) keys that reads the violations only to break ties,
    /// and O(n) passes over compact arrays after.
    pub fn new(
        violations: &'a [Violation],
        samples: &'a [MetricSample],
        now: Millis,
        config: &AnalyzerConfig,
    ) -> Self {
        let window_start = now.saturating_sub(config.window_ms.max(0));
        let in_window = |t: Millis| t >= window_start && t <= now;

        // Sequential pass, in input order. Indices are u32: more than 4 billion
        // violations in one window is not supported.
        let mut interners: [Interner<'a>; 4] = Default::default();
        let mut recs: Vec<Rec> = Vec::with_capacity(violations.len().min(u32::MAX as usize));
        for (i, v) in violations.iter().enumerate().take(u32::MAX as usize) {
            if !in_window(v.at_ms) {
                continue;
            }
            let mut h = Fnv64::default();
            h.write_str_sep(&v.id);
            h.write_i64_le(v.at_ms);
            recs.push(Rec {
                at_ms: v.at_ms,
                hash: h.finish(),
                index: i as u32,
                ids: [
                    interners[0].intern(&v.policy),
                    interners[1].intern(&v.target),
                    interners[2].intern(&v.component),
                    interners[3].intern(&v.metric),
                ],
                severity: v.severity,
                direction: if v.value > v.threshold {
                    1
                } else if v.value < v.threshold {
                    -1
                } else {
                    0
                },
            });
        }
        let [ip, it, ic, im] = interners;
        let (rp, mut policies) = ip.finish();
        let (rt, mut targets) = it.finish();
        let (rc, mut components) = ic.finish();
        let (rm, mut metrics) = im.finish();
        for r in &mut recs {
            r.ids = [
                rp[r.ids[0] as usize],
                rt[r.ids[1] as usize],
                rc[r.ids[2] as usize],
                rm[r.ids[3] as usize],
            ];
        }

        // Time, then id hash; the violations themselves are read only when both
        // are equal (the same id at the same time, or a hash collision).
        //
        // A stable sort, because the input is made of long sorted runs (the
        // controller concatenates each policy's violations, in time order) and the
        // stable sort finds natural runs and merges them: O(n log r) for r runs
        // instead of O(n log n). The order is total up to violations that are
        // equal in every field, so which sort is used does not change the result.
        recs.sort_by(|a, b| {
            a.at_ms
                .cmp(&b.at_ms)
                .then(a.hash.cmp(&b.hash))
                .then_with(|| {
                    let (x, y) = (&violations[a.index as usize], &violations[b.index as usize]);
                    x.id.cmp(&y.id).then_with(|| cmp_violation_content(x, y))
                })
        });
        recs.dedup_by(|b, a| {
            a.at_ms == b.at_ms
                && a.hash == b.hash
                && violations[a.index as usize].id == violations[b.index as usize].id
        });

        let n = recs.len();
        // Each group's members, allocated once at their final size.
        for (k, groups) in [&mut policies, &mut targets, &mut components, &mut metrics]
            .into_iter()
            .enumerate()
        {
            let mut counts = vec![0usize; groups.len()];
            for r in &recs {
                counts[r.ids[k] as usize] += 1;
            }
            for (m, c) in groups.members.iter_mut().zip(counts) {
                m.reserve_exact(c);
            }
        }
        let mut ctx = AnalysisContext {
            now,
            window_start,
            violations: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
            severity_of: Vec::with_capacity(n),
            direction_of: Vec::with_capacity(n),
            policy_of: Vec::with_capacity(n),
            target_of: Vec::with_capacity(n),
            component_of: Vec::with_capacity(n),
            metric_of: Vec::with_capacity(n),
            policies: Groups::default(),
            targets: Groups::default(),
            components: Groups::default(),
            metrics: Groups::default(),
            samples: Vec::new(),
            sample_groups: Vec::new(),
            fingerprint: 0,
        };
        let mut fp = Fingerprint::default();
        fp.bytes(&serde_json::to_vec(config).unwrap_or_default());
        fp.word(now as u64);
        fp.word(n as u64);
        for (pos, r) in recs.iter().enumerate() {
            let pos = pos as u32;
            ctx.violations.push(&violations[r.index as usize]);
            ctx.times.push(r.at_ms);
            ctx.severity_of.push(r.severity);
            ctx.direction_of.push(r.direction);
            ctx.policy_of.push(r.ids[0]);
            ctx.target_of.push(r.ids[1]);
            ctx.component_of.push(r.ids[2]);
            ctx.metric_of.push(r.ids[3]);
            policies.members[r.ids[0] as usize].push(pos);
            targets.members[r.ids[1] as usize].push(pos);
            components.members[r.ids[2] as usize].push(pos);
            metrics.members[r.ids[3] as usize].push(pos);
            fp.word(r.hash ^ u64::from(r.ids[0]).rotate_left(32));
        }
        drop(recs);
        ctx.policies = policies;
        ctx.targets = targets;
        ctx.components = components;
        ctx.metrics = metrics;
        for name in &ctx.policies.names {
            fp.str_sep(name);
        }

        let ss = group_samples(samples, in_window);
        let mut start = 0;
        for i in 1..=ss.len() {
            if i == ss.len() || ss[i].policy != ss[start].policy {
                ctx.sample_groups.push((&ss[start].policy, start, i));
                start = i;
            }
        }
        for &(p, s, e) in &ctx.sample_groups {
            fp.str_sep(p);
            for smp in &ss[s..e] {
                fp.word(smp.at_ms as u64);
                fp.word(smp.value.to_bits());
            }
        }
        ctx.samples = ss;
        ctx.fingerprint = fp.finish();
        ctx
    }

    /// The violation at `index`.
    pub fn violation(&self, index: u32) -> &'a Violation {
        self.violations[index as usize]
    }

    /// Time of the violation at `index`.
    pub fn at(&self, index: u32) -> Millis {
        self.times[index as usize]
    }

    /// Samples of `policy`, in time order.
    pub fn samples_of(&self, policy: &str) -> &[&'a MetricSample] {
        match self
            .sample_groups
            .binary_search_by(|(p, _, _)| (*p).cmp(policy))
        {
            Ok(i) => {
                let (_, s, e) = self.sample_groups[i];
                &self.samples[s..e]
            }
            Err(_) => &[],
        }
    }

    /// A stable id of the prepared input and the configuration (a [`Fingerprint`]
    /// of every violation's id, time and policy and every sample).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

/// The hash behind `analysis_id`: bytes (the configuration, names) go in with
/// FNV-1a, numbers a 64-bit word at a time with one multiply, and the result is
/// mixed once more at the end.
///
/// Until 2026-11-27 every number went in byte by byte through FNV-1a: 16 serial
/// multiplies per metric sample, about a tenth of a 1k-violation analysis. The
/// id is not stored or compared anywhere (it is printed in reports), so the ids
/// given by earlier versions differ from these, with the same meaning: the same
/// prepared input and configuration give the same id.
struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(Fnv64::default().finish())
    }
}

impl Fingerprint {
    fn bytes(&mut self, bytes: &[u8]) {
        let mut h = Fnv64::from_state(self.0);
        h.write(bytes);
        self.0 = h.finish();
    }

    /// A string and its separator, as [`Fnv64::write_str_sep`] writes them.
    fn str_sep(&mut self, s: &str) {
        let mut h = Fnv64::from_state(self.0);
        h.write_str_sep(s);
        self.0 = h.finish();
    }

    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    /// The state through the finalizer of MurmurHash3, so that every input bit
    /// reaches every output bit.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The finite samples inside the window, sorted by policy, time and value.
///
/// Samples arrive grouped by policy (one query per policy), each group in time
/// order, so they are bucketed by policy first, comparing each sample's policy
/// with the previous one's and hashing a name only when it changes; then the
/// buckets are put in name order and each is sorted by time and value only when
/// it is not sorted already. Sorting all the samples by name would compare the
/// names O(n log n) times. Samples equal in policy, time and value are equal in
/// every field, so the order is the same as that of one sort of all of them.
fn group_samples<'a>(
    samples: &'a [MetricSample],
    in_window: impl Fn(Millis) -> bool,
) -> Vec<&'a MetricSample> {
    // A counting sort by policy: bucket ids in one pass, then each sample placed
    // at its bucket's offset, with two allocations whatever the number of policies.
    let mut lookup: FnvMap<&'a str, u32> = FnvMap::default();
    let mut names: Vec<&'a str> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let mut bucket_of: Vec<(u32, &'a MetricSample)> = Vec::with_capacity(samples.len());
    let mut last: Option<u32> = None;
    for s in samples {
        if !(s.value.is_finite() && in_window(s.at_ms)) {
            continue;
        }
        let b = match last {
            Some(b) if names[b as usize] == s.policy => b,
            _ => {
                let next = names.len() as u32;
                let b = *lookup.entry(s.policy.as_str()).or_insert(next);
                if b == next {
                    names.push(s.policy.as_str());
                    counts.push(0);
                }
                b
            }
        };
        last = Some(b);
        counts[b as usize] += 1;
        bucket_of.push((b, s));
    }
    // Offsets of the buckets in name order.
    let mut order: Vec<u32> = (0..names.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| names[a as usize].cmp(names[b as usize]));
    let mut offset = vec![0usize; names.len()];
    let mut at = 0;
    for &b in &order {
        offset[b as usize] = at;
        at += counts[b as usize];
    }
    let mut out: Vec<&MetricSample> = match bucket_of.first() {
        Some(&(_, first)) => vec![first; bucket_of.len()],
        None => return Vec::new(),
    };
    for &(b, s) in &bucket_of {
        out[offset[b as usize]] = s;
        offset[b as usize] += 1;
    }
    let by_time = |a: &&MetricSample, b: &&MetricSample| {
        a.at_ms.cmp(&b.at_ms).then(a.value.total_cmp(&b.value))
    };
    let mut start = 0;
    for &b in &order {
        let bucket = &mut out[start..start + counts[b as usize]];
        if !bucket.is_sorted_by(|a, b| by_time(a, b).is_le()) {
            bucket.sort_unstable_by(by_time);
        }
        start += bucket.len();
    }
    out
}

fn cmp_violation_content(a: &Violation, b: &Violation) -> std::cmp::Ordering {
    a.policy
        .cmp(&b.policy)
        .then_with(|| a.target.cmp(&b.target))
        .then_with(|| a.component.cmp(&b.component))
        .then_with(|| a.metric.cmp(&b.metric))
        .then_with(|| a.severity.cmp(&b.severity))
        .then_with(|| a.value.total_cmp(&b.value))
        .then_with(|| a.threshold.total_cmp(&b.threshold))
}

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
        let config = &self.config;
        let ctx = AnalysisContext::new(violations, samples, now, config);
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

        let patterns: Vec<ViolationPattern> = found
            .iter()
            .map(|f| to_pattern(&ctx, &f.detection, config.max_evidence))
            .collect();
        let root_causes = rank_root_causes(&ctx, &found, config.recency_half_life_ms);

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
            analysis_id: format!("an-{:016x}", ctx.fingerprint()),
            violations_analyzed: ctx.violations.len(),
            patterns,
            root_causes,
            recommendations,
            confidence_level,
            breaches,
            shared_causes,
        }
    }
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

fn to_pattern(ctx: &AnalysisContext<'_>, d: &Detection, max_evidence: usize) -> ViolationPattern {
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
        hypothesis: d.hypothesis.clone(),
        subject: d.subject.clone(),
        targets,
        evidence,
    }
}

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
        ComponentFault | UpstreamDependency | GradualDegradation => &[],
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
fn rank_root_causes(
    ctx: &AnalysisContext<'_>,
    found: &[Found],
    half_life_ms: i64,
) -> Vec<RootCause> {
    let half_life = half_life_ms.max(1) as f64;
    let mut acc: BTreeMap<(u32, RootCauseKind), CauseAcc> = BTreeMap::new();
    for (p, f) in found.iter().enumerate() {
        // (target, policy) -> count, and target -> (max severity, latest time),
        // for this pattern.
        let mut pairs: FnvMap<(u32, u32), u64> = FnvMap::default();
        let mut sev: BTreeMap<u32, (Severity, Millis)> = BTreeMap::new();
        for &i in &f.detection.evidence {
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
            let mut types = String::new();
            for (i, &p) in a.supports.iter().enumerate() {
                if i > 0 {
                    types.push_str(", ");
                }
                let _ = write!(types, "{:?}", found[p].detection.pattern_type);
            }
            let mut description = format!(
                "{kind:?} on {target} (confidence {confidence:.2}), supported by {} pattern(s): {types}; mostly violations of policy {policy}.",
                a.supports.len(),
            );
            if let Some(by) = explained_by {
                let _ = write!(
                    description,
                    " Largely explained away by {by:?} (evidence {:.2}).",
                    evidence[&(target_id, by)]
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
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::PatternType;

    pub(crate) fn v(id: &str, policy: &str, target: &str, at_ms: Millis) -> Violation {
        Violation {
            id: id.into(),
            policy: policy.to_string(),
            target: target.to_string(),
            component: format!("{target}-c"),
            metric: format!("{policy}-m"),
            severity: Severity::Warning,
            value: 2.0,
            threshold: 1.0,
            at_ms,
        }
    }

    pub(crate) fn s(policy: &str, at_ms: Millis, value: f64) -> MetricSample {
        MetricSample {
            policy: policy.to_string(),
            at_ms,
            value,
        }
    }

    #[test]
    fn empty_input_gives_empty_result() {
        let r = PatternAnalyzer::default().analyze(&[], &[], 0);
        assert_eq!(r.violations_analyzed, 0);
        assert!(r.patterns.is_empty());
        assert!(r.root_causes.is_empty());
        assert!(r.recommendations.is_empty());
        assert_eq!(r.confidence_level, 0.0);
        assert!(r.analysis_id.starts_with("an-"));
    }

    #[test]
    fn window_filters_old_and_future_violations() {
        let now = 10_000_000;
        let vs = vec![
            v("old", "p", "d", now - 3_600_001),
            v("edge", "p", "d", now - 3_600_000),
            v("in", "p", "d", now),
            v("future", "p", "d", now + 1),
        ];
        let ctx = AnalysisContext::new(&vs, &[], now, &AnalyzerConfig::default());
        let ids: Vec<&str> = ctx.violations.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, vec!["edge", "in"]);
    }

    #[test]
    fn duplicate_ids_at_the_same_time_count_once() {
        let vs = vec![
            v("x", "p", "d", 5),
            v("x", "p", "d", 5),
            v("x", "p", "d", 6),
        ];
        let ctx = AnalysisContext::new(&vs, &[], 10, &AnalyzerConfig::default());
        assert_eq!(ctx.violations.len(), 2);
        assert_eq!(ctx.policies.members[0], vec![0, 1]);
    }

    #[test]
    fn nan_samples_are_skipped() {
        let ss = vec![
            s("p", 1, f64::NAN),
            s("p", 2, 1.0),
            s("p", 3, f64::INFINITY),
        ];
        let ctx = AnalysisContext::new(&[], &ss, 10, &AnalyzerConfig::default());
        assert_eq!(ctx.samples_of("p").len(), 1);
        assert!(ctx.samples_of("q").is_empty());
    }

    #[test]
    fn analysis_id_depends_on_input_not_order() {
        let a = PatternAnalyzer::default();
        let vs = vec![v("1", "p", "d", 1000), v("2", "p", "d", 2000)];
        let rev: Vec<Violation> = vs.iter().rev().cloned().collect();
        let r1 = a.analyze(&vs, &[], 5000);
        assert_eq!(r1.analysis_id, a.analyze(&rev, &[], 5000).analysis_id);
        assert_ne!(r1.analysis_id, a.analyze(&vs[..1], &[], 5000).analysis_id);
        assert_ne!(r1.analysis_id, a.analyze(&vs, &[], 5001).analysis_id);
    }

    #[test]
    fn burst_yields_load_spike_root_cause_with_recommendation() {
        // 4 violations of web within 30 s, all policy "lat" except one "err".
        let vs = vec![
            v("1", "lat", "web", 1_000),
            v("2", "lat", "web", 11_000),
            v("3", "err", "web", 21_000),
            v("4", "lat", "web", 31_000),
        ];
        let cfg = AnalyzerConfig {
            burst_min_violations: 3,
            spatial_min_violations: 100,
            frequency_spike_min_violations: 100,
            ..AnalyzerConfig::default()
        };
        let r = PatternAnalyzer::new(cfg).analyze(&vs, &[], 40_000);
        assert_eq!(r.patterns.len(), 1, "{:#?}", r.patterns);
        let p = &r.patterns[0];
        assert_eq!(p.pattern_type, PatternType::TemporalBurst);
        // n / (n + k) = 4 / (4 + 3)
        assert!((p.confidence - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(p.targets, vec!["web".to_string()]);
        assert_eq!(p.evidence, vec!["1", "2", "3", "4"]);
        assert_eq!(r.root_causes.len(), 1);
        let rc = &r.root_causes[0];
        assert_eq!(rc.kind, RootCauseKind::LoadSpike);
        assert_eq!(rc.target, "web");
        assert_eq!(rc.policy, "lat");
        // One pattern weighted by Warning (0.75) and its recency (the latest
        // violation 9 s old, half-life 10 min): 4/7 * 0.75 * 0.5^(9/600). The only
        // cause on web: the distribution gives it all of that.
        let expected = 3.0 / 7.0 * 0.5f64.powf(9.0 / 600.0);
        assert!(
            (rc.confidence - expected).abs() < 1e-12,
            "{}",
            rc.confidence
        );
        assert_eq!(rc.supporting_patterns, vec![0]);
        assert_eq!(r.confidence_level, rc.confidence);
        assert_eq!(r.recommendations.len(), 1);
        assert!(r.recommendations[0].contains("web"));
    }

    #[test]
    fn causal_root_cause_is_about_the_driven_target() {
        // "up" spikes every third minute; "down" (on deployment "back") violates one
        // minute after each spike.
        let mut vs = Vec::new();
        let mut ss = Vec::new();
        for m in 0..60i64 {
            let spike = m % 3 == 2;
            ss.push(s("up", m * 60_000 + 1000, if spike { 10.0 } else { 0.0 }));
            if spike && m + 1 < 60 {
                vs.push(v(&format!("v{m}"), "down", "back", (m + 1) * 60_000 + 2000));
            }
        }
        let r = PatternAnalyzer::default().analyze(&vs, &ss, 3_600_000);
        let causal: Vec<&ViolationPattern> = r
            .patterns
            .iter()
            .filter(|p| p.pattern_type == PatternType::Causal)
            .collect();
        assert_eq!(causal.len(), 1);
        assert_eq!(causal[0].subject, "up");
        assert_eq!(causal[0].targets, vec!["back".to_string()]);
        let rc = r
            .root_causes
            .iter()
            .find(|rc| rc.kind == RootCauseKind::UpstreamDependency)
            .expect("an upstream root cause");
        assert_eq!((rc.target.as_str(), rc.policy.as_str()), ("back", "down"));
        // The upstream explanation leads back's distribution.
        let top = r.root_causes.iter().find(|c| c.target == "back").unwrap();
        assert_eq!(
            top.kind,
            RootCauseKind::UpstreamDependency,
            "{:#?}",
            r.root_causes
        );
        assert!(rc.confidence <= 0.75 * causal[0].confidence + 1e-12);
        // The same violations recur every 3 minutes: periodicity is found too.
        assert!(
            r.patterns
                .iter()
                .any(|p| p.pattern_type == PatternType::Periodic)
        );
        // Root causes are ranked by confidence.
        for w in r.root_causes.windows(2) {
            assert!(w[0].confidence >= w[1].confidence);
        }
    }

    #[test]
    fn noisy_or_combines_patterns_and_severity() {
        // Two bursts on web far apart, one critical: the noisy-or of both.
        let mut vs = vec![
            v("a1", "p", "web", 0),
            v("a2", "p", "web", 1_000),
            v("a3", "p", "web", 2_000),
            v("b1", "p", "web", 1_000_000),
            v("b2", "p", "web", 1_001_000),
            v("b3", "p", "web", 1_002_000),
        ];
        vs[0].severity = Severity::Critical;
        let cfg = AnalyzerConfig {
            burst_min_violations: 3,
            spatial_min_violations: 100,
            frequency_spike_min_violations: 100,
            periodic_min_cycles: 100,
            ..AnalyzerConfig::default()
        };
        let r = PatternAnalyzer::new(cfg).analyze(&vs, &[], 1_100_000);
        assert_eq!(r.patterns.len(), 2);
        assert_eq!(r.root_causes.len(), 1);
        // Each burst is also weighted by its recency (half-life 10 min): the
        // critical one ended 1,098 s before now, the other 98 s.
        let old = 0.5 * 1.0 * 0.5f64.powf(1_098.0 / 600.0);
        let new = 0.5 * 0.75 * 0.5f64.powf(98.0 / 600.0);
        let expected = 1.0 - (1.0 - old) * (1.0 - new);
        assert!((r.root_causes[0].confidence - expected).abs() < 1e-12);
        assert_eq!(r.root_causes[0].supporting_patterns, vec![0, 1]);
    }

    #[test]
    fn evidence_is_capped_to_the_most_recent() {
        let vs: Vec<Violation> = (0..10)
            .map(|i| v(&format!("v{i}"), "p", "d", i * 1000))
            .collect();
        let cfg = AnalyzerConfig {
            max_evidence: 3,
            ..AnalyzerConfig::default()
        };
        let r = PatternAnalyzer::new(cfg).analyze(&vs, &[], 20_000);
        let burst = r
            .patterns
            .iter()
            .find(|p| p.pattern_type == PatternType::TemporalBurst)
            .unwrap();
        assert_eq!(burst.evidence, vec!["v7", "v8", "v9"]);
    }

    #[test]
    fn config_deserializes_with_defaults() {
        let c: AnalyzerConfig = serde_json::from_str(r#"{"burstMinViolations": 5}"#).unwrap();
        assert_eq!(c.burst_min_violations, 5);
        assert_eq!(c.burst_window_ms, 60_000);
        assert_eq!(c.causal_top_k, 16);
    }

    #[test]
    fn extreme_and_nan_inputs_do_not_panic() {
        let mut vs = vec![
            v("a", "p", "d", i64::MIN),
            v("b", "p", "d", i64::MAX),
            v("c", "p", "d", 0),
            v("c", "p", "d", 0),
            v("d", "q", "d", 1),
        ];
        vs[2].value = f64::NAN;
        vs[3].threshold = f64::NAN;
        let ss = vec![
            s("p", i64::MIN, 1.0),
            s("p", i64::MAX, f64::MAX),
            s("p", 0, f64::MAX),
            s("p", 1, -f64::MAX),
            s("p", 2, f64::NAN),
            s("q", 3, 1e308),
        ];
        for now in [i64::MIN, -1, 0, 1, i64::MAX] {
            for window in [0, 1, 60_000, i64::MAX, -5] {
                let cfg = AnalyzerConfig {
                    window_ms: window,
                    burst_window_ms: i64::MAX,
                    periodic_bin_ms: 0,
                    causal_bin_ms: -3,
                    frequency_window_ms: i64::MIN,
                    trend_min_samples: 0,
                    periodic_min_cycles: 0,
                    causal_min_bins: 0,
                    burst_min_violations: 0,
                    spatial_min_violations: 0,
                    frequency_spike_factor: f64::NAN,
                    ..AnalyzerConfig::default()
                };
                let r = PatternAnalyzer::new(cfg).analyze(&vs, &ss, now);
                for p in &r.patterns {
                    assert!((0.0..=1.0).contains(&p.confidence));
                }
                for rc in &r.root_causes {
                    assert!((0.0..=1.0).contains(&rc.confidence));
                }
            }
        }
    }
}

/// A throughput probe, not a benchmark: `cargo test --release --lib analyze::scale -- --ignored --nocapture`.
#[cfg(test)]
mod scale {
    use super::*;

    pub(crate) fn synthetic(n: usize, now: Millis) -> (Vec<Violation>, Vec<MetricSample>) {
        // A small LCG keeps the input fixed without a dependency.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x >> 33
        };
        let vs = (0..n)
            .map(|i| {
                let p = next() % 50;
                Violation {
                    id: format!("v{i}").into(),
                    policy: format!("policy-{p}"),
                    target: format!("deploy-{}", p % 20),
                    component: format!("comp-{}", p % 10),
                    metric: format!("metric-{p}"),
                    severity: Severity::Warning,
                    value: 2.0,
                    threshold: 1.0,
                    at_ms: now - (next() % 3_600_000) as i64,
                }
            })
            .collect();
        let ss = (0..50)
            .flat_map(|p| {
                (0..60).map(move |m| MetricSample {
                    policy: format!("policy-{p}"),
                    at_ms: now - m * 60_000,
                    value: (m * p) as f64 % 7.0,
                })
            })
            .collect();
        (vs, ss)
    }

    #[test]
    #[ignore]
    fn throughput_probe() {
        let now = 10_000_000_000;
        for n in [100_000, 1_000_000] {
            let (vs, ss) = synthetic(n, now);
            let start = std::time::Instant::now();
            let r = PatternAnalyzer::default().analyze(&vs, &ss, now);
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{n} violations: {secs:.3} s, {:.0}/s, {} patterns, {} root causes",
                n as f64 / secs,
                r.patterns.len(),
                r.root_causes.len()
            );
            assert_eq!(r.violations_analyzed, n);
            let cfg = AnalyzerConfig::default();
            let start = std::time::Instant::now();
            let ctx = AnalysisContext::new(&vs, &ss, now, &cfg);
            println!("  context: {:.3} s", start.elapsed().as_secs_f64());
            for d in detectors::registry() {
                let start = std::time::Instant::now();
                let found = d.detect(&ctx, &cfg).len();
                println!(
                    "  {:?}: {:.3} s, {found} found",
                    d.pattern_type(),
                    start.elapsed().as_secs_f64()
                );
            }
        }
    }
}
