//! The prepared input of one analysis: the violations inside the window in time
//! order, names interned to dense ids, index lists per policy, target, component
//! and metric, the samples grouped by policy, and the fingerprint behind
//! `analysis_id`. Built once by the analysis; the judgement and every detector
//! read it. It depends only on [`crate::config`], [`crate::model`] and the FNV
//! hash, below the detectors, the judgement and the analysis.

use std::borrow::Cow;
use std::hash::Hasher;

use crate::config::AnalyzerConfig;
use crate::fnv::{Fnv64, FnvMap};
use crate::model::{MetricSample, Millis, Point, Series, Severity, Violation};

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
    /// A hash of the id and time ([`id_key`]): orders equal times without
    /// reading the id.
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
    /// Each policy's finite samples inside the history window (the analysis
    /// window, or the judgement's long baseline when that is longer), in name
    /// order (policies with none there are left out).
    pub samples: Vec<SampleGroup<'a>>,
    fingerprint: u64,
}

/// One policy's finite samples inside the history window, sorted by time and
/// value: the caller's series read in place when it already is so, a copy
/// otherwise.
#[derive(Debug)]
pub struct SampleGroup<'a> {
    pub policy: &'a str,
    history: Cow<'a, [Point]>,
    /// Where the analysis window begins in `history` (a suffix of it).
    window_from: usize,
}

impl SampleGroup<'_> {
    /// The samples inside the history window, in time order.
    pub fn history(&self) -> &[Point] {
        &self.history
    }

    /// The samples inside the analysis window, in time order.
    pub fn window(&self) -> &[Point] {
        &self.history[self.window_from..]
    }
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
        let history_start = history_start(now, config);
        let in_history = |t: Millis| t >= history_start && t <= now;
        let groups = group_samples(samples, in_history);
        Self::with_groups(violations, groups, now, config)
    }

    /// [`new`](Self::new) with each policy's samples as the caller holds
    /// them: a series sorted by time, with finite values, is read in place.
    pub fn with_series(
        violations: &'a [Violation],
        series: &[Series<'a>],
        now: Millis,
        config: &AnalyzerConfig,
    ) -> Self {
        let groups = group_series(series, history_start(now, config), now);
        Self::with_groups(violations, groups, now, config)
    }

    /// The context of `violations` and the samples already grouped by policy
    /// (name order) and filtered to the history window.
    fn with_groups(
        violations: &'a [Violation],
        groups: Vec<(&'a str, Cow<'a, [Point]>)>,
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
            recs.push(Rec {
                at_ms: v.at_ms,
                hash: id_key(&v.id, v.at_ms),
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

        sort_records(&mut recs, violations);

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
            samples: Vec::with_capacity(groups.len()),
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

        for (policy, history) in groups {
            fp.str_sep(policy);
            fp.points(&history);
            // Each group is in time order: its window is a suffix.
            let window_from = history.partition_point(|s| s.at_ms < window_start);
            ctx.samples.push(SampleGroup {
                policy,
                history,
                window_from,
            });
        }
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

    /// Samples of `policy` inside the analysis window, in time order.
    pub fn samples_of(&self, policy: &str) -> &[Point] {
        self.group(policy).map_or(&[], SampleGroup::window)
    }

    /// Samples of `policy` inside the history window (at least the analysis
    /// window; the judgement's long baseline when longer), in time order.
    pub fn history_of(&self, policy: &str) -> &[Point] {
        self.group(policy).map_or(&[], SampleGroup::history)
    }

    /// `(policy, samples inside the analysis window)` of each policy with
    /// some there, in name order.
    pub fn sample_groups(&self) -> impl Iterator<Item = (&'a str, &[Point])> + '_ {
        self.samples
            .iter()
            .map(|g| (g.policy, g.window()))
            .filter(|(_, w)| !w.is_empty())
    }

    fn group(&self, policy: &str) -> Option<&SampleGroup<'a>> {
        let i = self
            .samples
            .binary_search_by(|g| g.policy.cmp(policy))
            .ok()?;
        Some(&self.samples[i])
    }

    /// A stable id of the prepared input and the configuration (a [`Fingerprint`]
    /// of every violation's id, time and policy and every sample).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

/// Sorts `recs` by time, then by the hash of their id and time ([`id_key`]),
/// then by id and content, and drops the repeats of one id at one time. The
/// violations themselves are read only when time and hash are equal (the same
/// id at the same time, or a hash collision).
///
/// A stable sort, because the input is made of long sorted runs (the
/// controller concatenates each policy's violations, in time order) and the
/// stable sort finds natural runs and merges them: O(n log r) for r runs
/// instead of O(n log n). The order is total up to violations that are equal
/// in every field, so which sort is used does not change the result.
fn sort_records(recs: &mut Vec<Rec>, violations: &[Violation]) {
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
}

/// A hash of a violation's id and time, eight bytes of the id at a time (then
/// its length and the time): it orders violations of one time, and it goes
/// into the fingerprint. (FNV-1a took a multiply per byte, one after the
/// other: a tenth of building the context.)
fn id_key(id: &str, at_ms: Millis) -> u64 {
    let mut fp = Fingerprint::default();
    let mut words = id.as_bytes().chunks_exact(8);
    for w in &mut words {
        fp.word(u64::from_le_bytes(<[u8; 8]>::try_from(w).unwrap_or([0; 8])));
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    fp.word(u64::from_le_bytes(last));
    fp.word(id.len() as u64);
    fp.word(at_ms as u64);
    fp.0
}

/// One word into a hash state: a rotation, an exclusive or and a multiply.
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The hash state `h` with every point's time and value (bit for bit) mixed
/// in, in four lanes side by side (an even point's time and value in two, an
/// odd one's in the other two), then the lanes and the count: each multiply
/// waits on the one before in its lane only, a quarter of the wait of one
/// lane. Not the `analysis_id` itself: the fingerprint and the trend's memo
/// use it.
pub(crate) fn hash_points(h: u64, points: &[Point]) -> u64 {
    let mut lanes = [0, 1, 2, 3].map(|l| h ^ l);
    let mut pairs = points.chunks_exact(2);
    for p in &mut pairs {
        lanes[0] = mix(lanes[0], p[0].at_ms as u64);
        lanes[1] = mix(lanes[1], p[0].value.to_bits());
        lanes[2] = mix(lanes[2], p[1].at_ms as u64);
        lanes[3] = mix(lanes[3], p[1].value.to_bits());
    }
    for p in pairs.remainder() {
        lanes[0] = mix(lanes[0], p.at_ms as u64);
        lanes[1] = mix(lanes[1], p.value.to_bits());
    }
    lanes.into_iter().fold(mix(h, points.len() as u64), mix)
}

/// The hash behind `analysis_id`: bytes (the configuration, names) go in with
/// FNV-1a, numbers a 64-bit word at a time with one multiply, and the result is
/// mixed once more at the end.
///
/// Until 2026-11-27 every number went in byte by byte through FNV-1a: 16 serial
/// multiplies per metric sample, about a tenth of a 1k-violation analysis. The
/// id is not stored or compared anywhere (it is printed in reports), so the ids
/// given by earlier versions differ from these, with the same meaning: the same
/// prepared input and configuration give the same id. Since 2026-12-07 the
/// violations' ids go in eight bytes at a time ([`id_key`]) and the samples in
/// four lanes ([`Fingerprint::points`]), so the ids changed once more.
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
        self.0 = mix(self.0, w);
    }

    /// Every point's time and value (see [`hash_points`]).
    fn points(&mut self, points: &[Point]) {
        self.0 = hash_points(self.0, points);
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

/// Where the history window begins: the analysis window, or the judgement's
/// long baseline when that is longer.
fn history_start(now: Millis, config: &AnalyzerConfig) -> Millis {
    now.saturating_sub(config.window_ms.max(config.judge.long_baseline_ms).max(0))
}

/// Each policy's finite samples inside the history window, in name order,
/// sorted by time and value.
///
/// Samples arrive grouped by policy (one query per policy), each group in time
/// order, so they are taken a run of one policy at a time: its name is hashed
/// once and its bucket grows once. A policy's samples are sorted only when
/// they are not sorted already. Samples equal in policy, time and value are
/// equal in every field, so the order is that of one sort of all of them.
fn group_samples<'a>(
    samples: &'a [MetricSample],
    in_history: impl Fn(Millis) -> bool,
) -> Vec<(&'a str, Cow<'a, [Point]>)> {
    let mut lookup: FnvMap<&'a str, usize> = FnvMap::default();
    let mut buckets: Vec<(&'a str, Vec<Point>)> = Vec::new();
    for run in samples.chunk_by(|a, b| same_name(a.policy.as_str(), b.policy.as_str())) {
        let policy = run[0].policy.as_str();
        let next = buckets.len();
        let b = *lookup.entry(policy).or_insert(next);
        if b == next {
            buckets.push((policy, Vec::with_capacity(run.len())));
        }
        buckets[b].1.extend(
            run.iter()
                .filter(|s| s.value.is_finite() && in_history(s.at_ms))
                .map(Point::from),
        );
    }
    buckets.retain(|(_, points)| !points.is_empty());
    buckets.sort_unstable_by(|a, b| a.0.cmp(b.0));
    buckets
        .into_iter()
        .map(|(policy, mut points)| {
            sort_by_time(&mut points);
            (policy, Cow::Owned(points))
        })
        .collect()
}

/// Whether two names are equal: at once when they are one shared string (as
/// a policy's samples share their name).
fn same_name(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// Each policy's series inside the history window (`from` to `now`), in name
/// order: read in place when it is sorted by time and value and every value is
/// finite (as the operator's monitor keeps them), otherwise copied, filtered
/// and sorted as [`group_samples`] does (so are two series of one policy).
fn group_series<'a>(
    series: &[Series<'a>],
    from: Millis,
    now: Millis,
) -> Vec<(&'a str, Cow<'a, [Point]>)> {
    let mut sorted: Vec<&Series<'a>> = series.iter().collect();
    sorted.sort_by(|a, b| a.policy.cmp(b.policy));
    let in_history = |p: &Point| p.value.is_finite() && p.at_ms >= from && p.at_ms <= now;
    let mut out = Vec::with_capacity(sorted.len());
    for run in sorted.chunk_by(|a, b| a.policy == b.policy) {
        let history = match run {
            [one] if is_sorted_and_finite(one.points) => {
                let lo = one.points.partition_point(|p| p.at_ms < from);
                let hi = one.points.partition_point(|p| p.at_ms <= now).max(lo);
                Cow::Borrowed(&one.points[lo..hi])
            }
            _ => {
                let mut points: Vec<Point> = run
                    .iter()
                    .flat_map(|s| s.points.iter().copied())
                    .filter(in_history)
                    .collect();
                sort_by_time(&mut points);
                Cow::Owned(points)
            }
        };
        if !history.is_empty() {
            out.push((run[0].policy, history));
        }
    }
    out
}

fn is_sorted_and_finite(points: &[Point]) -> bool {
    points.iter().all(|p| p.value.is_finite()) && points.is_sorted_by(|a, b| by_time(a, b).is_le())
}

fn by_time(a: &Point, b: &Point) -> std::cmp::Ordering {
    a.at_ms.cmp(&b.at_ms).then(a.value.total_cmp(&b.value))
}

fn sort_by_time(points: &mut [Point]) {
    if !points.is_sorted_by(|a, b| by_time(a, b).is_le()) {
        points.sort_unstable_by(by_time);
    }
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

/// Builders of violations and samples for the tests of the detectors, the
/// judgement and the analysis.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::model::{MetricSample, Millis, Severity, Violation};

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
            policy: policy.into(),
            at_ms,
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::v;
    use super::*;

    /// The order of a context's violations: by time, the hash of id and
    /// time, id and content, with the repeats of one id at one time dropped.
    fn reference_order(vs: &[Violation]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..vs.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&vs[a], &vs[b]);
            x.at_ms
                .cmp(&y.at_ms)
                .then(id_key(&x.id, x.at_ms).cmp(&id_key(&y.id, y.at_ms)))
                .then_with(|| x.id.cmp(&y.id).then_with(|| cmp_violation_content(x, y)))
        });
        order.dedup_by(|b, a| vs[*a].at_ms == vs[*b].at_ms && vs[*a].id == vs[*b].id);
        order
    }

    #[test]
    fn violations_of_one_time_are_ordered_by_their_hash_whatever_the_input_order() {
        let mut next = crate::stats::lcg(0x71e5);
        for case in 0..200 {
            let n = (next() % 60) as usize;
            // Few distinct times and ids: many ties, and repeats of one id at
            // one time with other content.
            let mut vs: Vec<Violation> = (0..n)
                .map(|_| {
                    let id = format!("v{}", next() % 12);
                    let mut x = v(&id, &format!("p{}", next() % 3), "d", (next() % 5) as i64);
                    x.value = (next() % 3) as f64;
                    x
                })
                .collect();
            let content = |x: &Violation| (x.id.to_string(), x.at_ms, x.value.to_bits());
            let want: Vec<_> = reference_order(&vs)
                .into_iter()
                .map(|i| content(&vs[i]))
                .collect();
            for reversed in [false, true] {
                if reversed {
                    vs.reverse();
                }
                let cfg = AnalyzerConfig::default();
                let ctx = AnalysisContext::new(&vs, &[], 10, &cfg);
                let got: Vec<_> = ctx.violations.iter().map(|x| content(x)).collect();
                assert_eq!(got, want, "case {case}, reversed {reversed}");
            }
        }
    }
}
