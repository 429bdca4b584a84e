//! Planning (the "P" of MAPE-K): turns ranked root causes into reviewable
//! remediation plans that stay inside each policy's remediation envelope.
//!
//! For each root cause whose policy has a [`PlanTarget`], the candidate actions of
//! its kind ([`prior_effectiveness`]) are filtered by the envelope, given concrete
//! parameters (replicas inside the scale bounds, config values from the listed
//! settings), and scored: `benefit = confidence × prior × knowledge factor`,
//! `score = benefit - cost`. The best positive-scoring actions form the plan; each
//! Deployment gets at most one plan, the best-scoring one.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fnv::FnvMap;
use super::judge::Breach;
use super::knowledge::KnowledgeBase;
use super::model::{
    ActionType, AnalysisResult, ConfigChange, ConfigSetting, ConfigTarget, PatchKind, Priority,
    RemediationAction, RemediationEnvelope, RemediationPlan, RiskLevel, RootCause, RootCauseKind,
    ScaleBounds, Severity, SharedStr,
};

/// What the planner may act on for one policy: read by the controller from the
/// ViolationPolicy and the Deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanTarget {
    /// The ViolationPolicy.
    pub policy: SharedStr,
    /// The Deployment it targets (the plan's target).
    pub deployment: SharedStr,
    /// The Deployment's current `spec.replicas`.
    pub current_replicas: i32,
    pub severity: Severity,
    pub envelope: RemediationEnvelope,
}

/// The planner's settings. Missing fields take their defaults when deserialized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct PlannerConfig {
    /// At most this many actions per plan. Default 2.
    pub max_actions: usize,
    /// Actions whose score (benefit - cost) is not above this are dropped. Default 0.
    pub min_score: f64,
    /// Estimated latency of a scale action, seconds. Default 30.
    pub scale_latency_seconds: u32,
    /// Estimated latency of a rolling restart, seconds. Default 120.
    pub restart_latency_seconds: u32,
    /// Estimated latency of a config change (which also rolls the pods). Default 90.
    pub config_latency_seconds: u32,
    /// Proportional sizing: extra capacity on top of HPA's rule
    /// (`ceil(current × value / threshold × (1 + headroom))`). Default 0.1.
    pub scale_headroom: f64,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            max_actions: 2,
            min_score: 0.0,
            scale_latency_seconds: 30,
            restart_latency_seconds: 120,
            config_latency_seconds: 90,
            scale_headroom: 0.1,
        }
    }
}

/// The candidate actions for each root-cause kind with their prior effectiveness
/// in [0, 1]: the share of incidents of that kind the action is expected to
/// resolve before anything is learned. Every kind has a config action, so a
/// policy that only allows UPDATE_CONFIGURATION can still get a plan (when the
/// root cause is confident enough for its benefit to exceed its cost of 0.35).
pub fn candidate_actions(kind: RootCauseKind) -> &'static [(ActionType, f64)] {
    use ActionType::*;
    match kind {
        RootCauseKind::LoadSpike => &[
            (ScaleUp, 0.9),
            (ThrottleRequests, 0.7),
            (RebalanceLoad, 0.6),
            (UpdateConfiguration, 0.5),
        ],
        RootCauseKind::GradualDegradation => &[
            (RestartService, 0.85),
            (ScaleUp, 0.5),
            (UpdateConfiguration, 0.5),
        ],
        RootCauseKind::RecurringLoad => &[
            (ScaleUp, 0.8),
            (ApplyPolicy, 0.6),
            (UpdateConfiguration, 0.5),
        ],
        RootCauseKind::ComponentFault => &[(RestartService, 0.8), (UpdateConfiguration, 0.6)],
        RootCauseKind::UpstreamDependency => &[
            (ThrottleRequests, 0.7),
            (ActivateEmergencyOverride, 0.65),
            (RebalanceLoad, 0.5),
            (UpdateConfiguration, 0.45),
        ],
        RootCauseKind::ChronicOverload => &[
            (ScaleUp, 0.85),
            (UpdateConfiguration, 0.6),
            (BypassValidation, 0.5),
        ],
    }
}

/// The prior effectiveness of `action` against `kind`; 0 when it is no candidate.
pub fn prior_effectiveness(kind: RootCauseKind, action: ActionType) -> f64 {
    candidate_actions(kind)
        .iter()
        .find(|(a, _)| *a == action)
        .map_or(0.0, |(_, p)| *p)
}

/// The replica count a scale action would set: inside `[minReplicas, maxReplicas]`
/// and at most `maxStep` away from `current` (SCALE_UP as high, SCALE_DOWN as low
/// as both allow). A current count outside the bounds is brought into them when
/// one step suffices. `None` when the bounds are invalid, both limits cannot hold
/// at once, the action would not move in its direction, or `action` is no scale
/// action.
pub fn scale_replicas(action: ActionType, current: i32, bounds: &ScaleBounds) -> Option<i32> {
    let (min, max, step) = (
        i64::from(bounds.min_replicas),
        i64::from(bounds.max_replicas),
        i64::from(bounds.max_step),
    );
    if min < 0 || max < min || step < 1 {
        return None;
    }
    let cur = i64::from(current);
    let lo = min.max(cur - step);
    let hi = max.min(cur + step);
    if lo > hi {
        return None;
    }
    let new = match action {
        ActionType::ScaleUp => (hi > cur).then_some(hi)?,
        ActionType::ScaleDown => (lo < cur).then_some(lo)?,
        _ => return None,
    };
    i32::try_from(new).ok()
}

/// How a proportional scale-up was sized: HPA's rule with headroom, then the
/// envelope's limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sizing {
    pub current: i32,
    /// The breach's level as a multiple of the threshold.
    pub ratio: f64,
    pub headroom: f64,
    /// `ceil(max(current, 1) × ratio × (1 + headroom))`.
    pub desired: i64,
    /// The count set, after the envelope's limits (at least one more replica).
    pub replicas: i32,
}

/// The replica count of a proportional scale-up: HPA's rule
/// `ceil(current × ratio)` with `headroom` on top (`ratio` is the breach's level
/// over the threshold, such as 1.26 for a latency 26% over), at least one replica
/// more than now, and inside `[minReplicas, maxReplicas]` and `maxStep`. `None`
/// when the bounds are invalid or allow no increase.
pub fn proportional_replicas(
    current: i32,
    ratio: f64,
    headroom: f64,
    bounds: &ScaleBounds,
) -> Option<(i32, Sizing)> {
    let hi = scale_replicas(ActionType::ScaleUp, current, bounds)?;
    let headroom = if headroom.is_finite() {
        headroom.max(0.0)
    } else {
        0.0
    };
    if !(ratio.is_finite() && ratio > 0.0) {
        return None;
    }
    let base = f64::from(current.max(1));
    let desired = (base * ratio * (1.0 + headroom) - 1e-9).ceil();
    let desired = if desired.is_finite() {
        desired.min(1e9) as i64
    } else {
        i64::from(hi)
    };
    let floor = i64::from(current.saturating_add(1)).max(i64::from(bounds.min_replicas));
    let r = desired.max(floor).min(i64::from(hi));
    let replicas = i32::try_from(r).ok()?;
    Some((
        replicas,
        Sizing {
            current,
            ratio,
            headroom,
            desired,
            replicas,
        },
    ))
}

/// A stable hash of a plan's content: the first 16 hex digits of the SHA-256 of its
/// canonical JSON with `plan_hash` empty. Controllers recompute it to check that an
/// approval names the plan that is stored.
///
/// Fractional numbers enter the hash with 6 decimals: a plan stored by the API
/// server comes back with its floats re-encoded, and the last binary digits of a
/// value such as `0.025000000000000026` do not survive that trip.
pub fn plan_hash(plan: &RemediationPlan) -> String {
    let mut sink = HashSink {
        hasher: Sha256::new(),
        buf: [0; 256],
        len: 0,
    };
    write_canonical_plan(&mut sink, plan);
    let digest = sink.finish();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Where the canonical JSON is written: a byte vector, or the hasher.
trait Sink {
    fn put(&mut self, bytes: &[u8]);

    #[inline]
    fn put_byte(&mut self, byte: u8) {
        self.put(&[byte]);
    }
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    #[inline]
    fn put_byte(&mut self, byte: u8) {
        self.push(byte);
    }
}

/// Feeds SHA-256 through a small buffer on the stack, so that hashing a plan
/// allocates nothing and the hasher sees a few large updates.
struct HashSink {
    hasher: Sha256,
    buf: [u8; 256],
    len: usize,
}

impl HashSink {
    fn flush(&mut self) {
        self.hasher.update(&self.buf[..self.len]);
        self.len = 0;
    }

    fn finish(mut self) -> sha2::digest::Output<Sha256> {
        self.flush();
        self.hasher.finalize()
    }
}

impl Sink for HashSink {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            self.flush();
            if bytes.len() > self.buf.len() {
                self.hasher.update(bytes);
                return;
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    #[inline]
    fn put_byte(&mut self, byte: u8) {
        if self.len == self.buf.len() {
            self.flush();
        }
        self.buf[self.len] = byte;
        self.len += 1;
    }
}

/// The canonical JSON [`plan_hash`] hashes, written straight into `out`: what
/// `serde_json::to_vec` gives for the plan's `serde_json::Value` with `planHash`
/// empty and every fractional number replaced by a string with 6 decimals. That
/// `Value` keeps object keys sorted (serde_json without `preserve_order`), so the
/// keys are written here in byte order, and optional fields that serde skips
/// are skipped. Non-finite numbers become `null`, as in a `Value`.
///
/// Writing the bytes directly avoids building the `Value` tree (a map and a
/// string per field) for every plan. The tests compare it byte for byte with the
/// `Value` route, so a field added to the model without being added here fails
/// them.
fn write_canonical_plan(out: &mut impl Sink, plan: &RemediationPlan) {
    // Keys in byte order: actions, benefit, confidence, cost, expectedImpact,
    // planHash, policy, priority, risk, rootCause, score, target.
    out.put(b"{\"actions\":[");
    for (i, a) in plan.actions.iter().enumerate() {
        if i > 0 {
            out.put_byte(b',');
        }
        write_canonical_action(out, a);
    }
    out.put(b"],\"benefit\":");
    write_f64(out, plan.benefit);
    out.put(b",\"confidence\":");
    write_f64(out, plan.confidence);
    out.put(b",\"cost\":");
    write_f64(out, plan.cost);
    out.put(b",\"expectedImpact\":");
    write_str(out, &plan.expected_impact);
    out.put(b",\"planHash\":\"\",\"policy\":");
    write_str(out, &plan.policy);
    out.put(b",\"priority\":");
    write_name(out, priority_name(plan.priority));
    out.put(b",\"risk\":");
    write_name(out, risk_name(plan.risk));
    out.put(b",\"rootCause\":");
    write_name(out, kind_name(plan.root_cause));
    out.put(b",\"score\":");
    write_f64(out, plan.score);
    out.put(b",\"target\":");
    write_str(out, &plan.target);
    out.put_byte(b'}');
}

fn write_canonical_action(out: &mut impl Sink, a: &RemediationAction) {
    // Keys in byte order: actionType, config, estimatedLatencySeconds, id,
    // priority, replicas, target.
    out.put(b"{\"actionType\":");
    write_name(out, a.action_type.as_str());
    if let Some(c) = &a.config {
        // container, name, target, value.
        out.put(b",\"config\":{");
        if let Some(container) = &c.container {
            out.put(b"\"container\":");
            write_str(out, container);
            out.put_byte(b',');
        }
        out.put(b"\"name\":");
        write_str(out, &c.name);
        out.put(b",\"target\":");
        write_name(out, config_target_name(c.target));
        out.put(b",\"value\":");
        write_str(out, &c.value);
        out.put_byte(b'}');
    }
    out.put(b",\"estimatedLatencySeconds\":");
    write_int(out, i64::from(a.estimated_latency_seconds));
    out.put(b",\"id\":");
    write_str(out, &a.id);
    out.put(b",\"priority\":");
    write_name(out, priority_name(a.priority));
    if let Some(r) = a.replicas {
        out.put(b",\"replicas\":");
        write_int(out, i64::from(r));
    }
    out.put(b",\"target\":");
    write_str(out, &a.target);
    out.put_byte(b'}');
}

/// A string as serde_json writes it. Most strings need no escape (no quote,
/// backslash or control character): those are copied as they are, after one
/// branch-free scan; the others go through serde_json.
#[inline]
fn write_str(out: &mut impl Sink, s: &str) {
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.put_byte(b'"');
        out.put(s.as_bytes());
        out.put_byte(b'"');
    } else {
        out.put(&serde_json::to_vec(s).unwrap_or_default());
    }
}

/// A unit enum variant as serde writes it: its name in quotes.
#[inline]
fn write_name(out: &mut impl Sink, name: &str) {
    out.put_byte(b'"');
    out.put(name.as_bytes());
    out.put_byte(b'"');
}

/// An integer in decimal, as serde_json (and `Display`) writes it.
#[inline]
fn write_int(out: &mut impl Sink, v: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut m = v.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if v < 0 {
        out.put_byte(b'-');
    }
    out.put(&digits[at..]);
}

/// A fractional number of the canonical JSON: a string with 6 decimals, or `null`
/// for a non-finite value (which a `serde_json::Value` cannot hold).
#[inline]
fn write_f64(out: &mut impl Sink, f: f64) {
    if !f.is_finite() {
        out.put(b"null");
        return;
    }
    out.put_byte(b'"');
    push_fixed(out, f, 6);
    out.put_byte(b'"');
}

/// `f` with `decimals` decimals, exactly as `format!("{f:.N$}")` writes it.
///
/// The value is scaled by 10^decimals and rounded to the nearest integer, which
/// is exact whenever the scaled value is below 2²³ (its rounding error is then
/// below 10⁻⁹) and not within 10⁻⁹ of a half: the correctly rounded result
/// cannot be on the other side. Anything else (huge, tiny ties, non-finite) goes
/// through the general float formatting.
fn push_fixed(out: &mut impl Sink, f: f64, decimals: u32) {
    const POW10: [u64; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
    let scale = POW10[decimals.min(6) as usize];
    let y = f.abs() * scale as f64;
    let floor = y.floor();
    let frac = y - floor;
    if decimals <= 6 && y < 8_388_608.0 && (frac - 0.5).abs() > 1e-9 {
        let k = floor as u64 + u64::from(frac > 0.5);
        if f.is_sign_negative() {
            out.put_byte(b'-');
        }
        write_int(out, (k / scale) as i64);
        if decimals > 0 {
            out.put_byte(b'.');
            let mut digits = [b'0'; 6];
            let mut rest = k % scale;
            for d in digits[..decimals as usize].iter_mut().rev() {
                *d = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            out.put(&digits[..decimals as usize]);
        }
    } else {
        out.put(format!("{f:.*}", decimals as usize).as_bytes());
    }
}

fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Low => "Low",
        Priority::Medium => "Medium",
        Priority::High => "High",
        Priority::Critical => "Critical",
    }
}

fn risk_name(r: RiskLevel) -> &'static str {
    match r {
        RiskLevel::Low => "Low",
        RiskLevel::Medium => "Medium",
        RiskLevel::High => "High",
    }
}

fn kind_name(k: RootCauseKind) -> &'static str {
    match k {
        RootCauseKind::LoadSpike => "LoadSpike",
        RootCauseKind::GradualDegradation => "GradualDegradation",
        RootCauseKind::RecurringLoad => "RecurringLoad",
        RootCauseKind::ComponentFault => "ComponentFault",
        RootCauseKind::UpstreamDependency => "UpstreamDependency",
        RootCauseKind::ChronicOverload => "ChronicOverload",
    }
}

fn config_target_name(t: ConfigTarget) -> &'static str {
    match t {
        ConfigTarget::Env => "Env",
        ConfigTarget::Annotation => "Annotation",
    }
}

/// Rounds to 4 decimals, so that a plan's figures read well and keep their value
/// through the API server.
fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// The planner of the seed system.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Planner {
    pub config: PlannerConfig,
}

/// At most this many candidate actions per root-cause kind (`candidate_actions`),
/// so a plan's candidates and chosen actions are kept in arrays, not vectors.
const MAX_CANDIDATES: usize = 4;

/// One scored, parameterised action before ids and priorities are assigned.
#[derive(Clone, Copy)]
struct Candidate<'t> {
    action_type: ActionType,
    replicas: Option<i32>,
    /// For config actions: the envelope's setting it sets.
    setting: Option<&'t ConfigSetting>,
    /// For a proportionally sized scale action: the arithmetic, for the plan.
    sizing: Option<Sizing>,
    benefit: f64,
    cost: f64,
}

impl Candidate<'_> {
    fn score(&self) -> f64 {
        self.benefit - self.cost
    }
}

/// The actions chosen for one root cause on one target: everything that decides
/// which plan wins, before its text and hash are written.
struct Choice<'t> {
    kind: RootCauseKind,
    target: &'t PlanTarget,
    confidence: f64,
    /// The chosen actions, best first (at most one per candidate).
    chosen: [Option<Candidate<'t>>; MAX_CANDIDATES],
    cost: f64,
    benefit: f64,
}

impl Choice<'_> {
    fn score(&self) -> f64 {
        self.benefit - self.cost
    }

    /// The score the plan will carry.
    fn score_rounded(&self) -> f64 {
        round4(self.benefit - self.cost)
    }
}

/// Which of two plans for the same Deployment is better: higher score, then higher
/// confidence, then the earlier root-cause kind and policy name. `Equal` leaves
/// the choice to the plan hash (the smaller wins).
fn cmp_choice(a: &Choice<'_>, b: &Choice<'_>) -> Ordering {
    a.score()
        .total_cmp(&b.score())
        .then_with(|| a.confidence.total_cmp(&b.confidence))
        .then_with(|| b.kind.cmp(&a.kind))
        .then_with(|| b.target.policy.cmp(&a.target.policy))
}

impl Planner {
    pub fn new(config: PlannerConfig) -> Self {
        Planner { config }
    }

    /// One plan per Deployment at most. Only a policy whose breach the analysis
    /// judged actionable (current, persistent, standing out, not a shared cause)
    /// may lead to a plan; an analysis without judgements (built by hand) treats
    /// every policy as actionable. For each such policy, the actions are chosen
    /// against the whole root-cause distribution of its Deployment (expected
    /// benefit under the distribution and the learned posteriors, minus cost);
    /// the best-scoring plan per Deployment is kept. Sorted by priority (highest
    /// first), score, target and policy.
    pub fn generate_plans(
        &self,
        analysis: &AnalysisResult,
        targets: &[PlanTarget],
        knowledge: &KnowledgeBase,
    ) -> Vec<RemediationPlan> {
        let judged = !analysis.breaches.is_empty();
        let breach_of: FnvMap<&str, &Breach> = analysis
            .breaches
            .iter()
            .map(|b| (b.policy.as_str(), b))
            .collect();
        let mut causes_of: FnvMap<&str, Vec<&RootCause>> = FnvMap::default();
        for rc in &analysis.root_causes {
            causes_of.entry(rc.target.as_str()).or_default().push(rc);
        }
        // Without judgements, the policies that root causes name.
        let named: std::collections::HashSet<&str> = analysis
            .root_causes
            .iter()
            .map(|rc| rc.policy.as_str())
            .collect();
        let mut choices: Vec<(Choice<'_>, Option<Box<RemediationPlan>>)> = Vec::new();
        let mut best: FnvMap<&str, u32> = FnvMap::default();
        for target in targets {
            let breach = breach_of.get(target.policy.as_str()).copied();
            let allowed = if judged {
                breach.is_some_and(|b| b.actionable)
            } else {
                named.contains(target.policy.as_str())
            };
            if !allowed {
                continue;
            }
            let Some(causes) = causes_of.get(target.deployment.as_str()) else {
                continue;
            };
            let Some(choice) = self.choose_among(causes, target, breach, knowledge) else {
                continue;
            };
            match best.entry(target.deployment.as_str()) {
                Entry::Vacant(e) => {
                    e.insert(choices.len() as u32);
                    choices.push((choice, None));
                }
                Entry::Occupied(e) => {
                    let entry = &mut choices[*e.get() as usize];
                    let (current, current_plan) = entry;
                    match cmp_choice(&choice, current) {
                        Ordering::Greater => *entry = (choice, None),
                        Ordering::Less => {}
                        Ordering::Equal => {
                            // A full tie: the smaller plan hash wins.
                            let current_hash = &current_plan
                                .get_or_insert_with(|| Box::new(self.build(current)))
                                .plan_hash;
                            let plan = self.build(&choice);
                            if plan.plan_hash < *current_hash {
                                *entry = (choice, Some(Box::new(plan)));
                            }
                        }
                    }
                }
            }
        }
        let mut order: Vec<(Priority, f64, &str, &str, u32)> = choices
            .iter()
            .enumerate()
            .map(|(i, (choice, _))| {
                (
                    priority(choice.target.severity, choice.confidence),
                    choice.score_rounded(),
                    choice.target.deployment.as_str(),
                    choice.target.policy.as_str(),
                    i as u32,
                )
            })
            .collect();
        order.sort_unstable_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| b.1.total_cmp(&a.1))
                .then_with(|| a.2.cmp(b.2))
                .then_with(|| a.3.cmp(b.3))
        });
        let mut plans = Vec::with_capacity(order.len());
        for &(.., i) in &order {
            let (choice, plan) = &mut choices[i as usize];
            plans.push(plan.take().map_or_else(|| self.build(choice), |p| *p));
        }
        plans
    }

    /// The plan for one root cause on one target, if any action is allowed and
    /// worth its cost.
    pub fn plan_for(
        &self,
        rc: &RootCause,
        target: &PlanTarget,
        knowledge: &KnowledgeBase,
    ) -> Option<RemediationPlan> {
        self.choose_among(&[rc], target, None, knowledge)
            .map(|choice| self.build(&choice))
    }

    /// The best actions for one target against the root-cause distribution of its
    /// Deployment, if any is allowed and worth its cost. An action's benefit is
    /// its expected effect under the distribution, `Σ_k P(k) × prior(k, action) ×
    /// knowledge factor(k, action)`; its score is benefit minus cost. The plan's
    /// root cause is the kind that contributes most to the first action's
    /// benefit, and its confidence that kind's probability.
    fn choose_among<'t>(
        &self,
        causes: &[&RootCause],
        target: &'t PlanTarget,
        breach: Option<&Breach>,
        knowledge: &KnowledgeBase,
    ) -> Option<Choice<'t>> {
        let p = |rc: &RootCause| {
            if rc.confidence.is_finite() {
                rc.confidence.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        let envelope = &target.envelope;
        let mut candidates: Vec<(Candidate<'t>, RootCauseKind, f64)> = Vec::new();
        for action in ActionType::ALL {
            if !envelope.allows(action) {
                continue;
            }
            // Expected benefit, and the kind contributing most to it.
            let mut benefit = 0.0;
            let mut lead: Option<(f64, RootCauseKind, f64)> = None;
            for rc in causes {
                let prior = prior_effectiveness(rc.kind, action);
                if prior <= 0.0 {
                    continue;
                }
                let part = p(rc) * prior * knowledge.benefit_factor(rc.kind, action);
                benefit += part;
                if lead.is_none_or(|(b, k, _)| part > b || (part == b && rc.kind < k)) {
                    lead = Some((part, rc.kind, p(rc)));
                }
            }
            let Some((_, kind, confidence)) = lead else {
                continue;
            };
            let (mut replicas, mut setting, mut sizing) = (None, None, None);
            match action.patch_kind() {
                PatchKind::Scale => {
                    let Some(bounds) = envelope.scale.as_ref() else {
                        continue;
                    };
                    let ratio = breach.and_then(Breach::overload_ratio);
                    let r = match (action, ratio) {
                        (ActionType::ScaleUp, Some(ratio)) => {
                            let Some((r, note)) = proportional_replicas(
                                target.current_replicas,
                                ratio,
                                self.config.scale_headroom,
                                bounds,
                            ) else {
                                continue;
                            };
                            sizing = Some(note);
                            r
                        }
                        _ => {
                            let Some(r) = scale_replicas(action, target.current_replicas, bounds)
                            else {
                                continue;
                            };
                            r
                        }
                    };
                    replicas = Some(r);
                }
                PatchKind::Restart => {}
                PatchKind::Config => {
                    let Some(s) = envelope.setting_for(action) else {
                        continue;
                    };
                    if !s.allowed_values.is_empty() && !s.allowed_values.contains(&s.value) {
                        continue;
                    }
                    setting = Some(s);
                }
            }
            let c = Candidate {
                action_type: action,
                replicas,
                setting,
                sizing,
                benefit: benefit.clamp(0.0, 1.0),
                cost: action.cost(),
            };
            if c.score() > self.config.min_score {
                candidates.push((c, kind, confidence));
            }
        }
        // Every action type appears once, so the order is total.
        candidates.sort_by(|a, b| {
            b.0.score()
                .total_cmp(&a.0.score())
                .then(a.0.action_type.cmp(&b.0.action_type))
        });

        // Two actions setting the same value would be one change twice.
        let mut chosen: [Option<Candidate<'t>>; MAX_CANDIDATES] = [None; MAX_CANDIDATES];
        let mut len = 0;
        let mut head: Option<(RootCauseKind, f64)> = None;
        for (c, kind, confidence) in candidates {
            if len >= self.config.max_actions.min(MAX_CANDIDATES) {
                break;
            }
            let duplicate = c.setting.is_some_and(|cs| {
                chosen[..len].iter().flatten().any(|o| {
                    o.setting.is_some_and(|os| {
                        os.name == cs.name && os.target == cs.target && os.container == cs.container
                    })
                })
            });
            if !duplicate {
                head.get_or_insert((kind, confidence));
                chosen[len] = Some(c);
                len += 1;
            }
        }
        let (kind, confidence) = head?;
        let cost = round4(chosen.iter().flatten().map(|c| c.cost).sum());
        let benefit = round4(chosen.iter().flatten().map(|c| c.benefit).sum());
        Some(Choice {
            kind,
            target,
            confidence,
            chosen,
            cost,
            benefit,
        })
    }

    /// Writes out a chosen plan: action ids, parameters, the expected impact, and
    /// the plan hash.
    fn build(&self, choice: &Choice<'_>) -> RemediationPlan {
        let Choice {
            kind,
            target,
            confidence,
            ref chosen,
            cost,
            benefit,
        } = *choice;
        let priority = priority(target.severity, confidence);
        let risk = risk(chosen, target.current_replicas);
        let actions: Vec<RemediationAction> = chosen
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| RemediationAction {
                id: action_id(i),
                action_type: c.action_type,
                target: target.deployment.clone(),
                replicas: c.replicas,
                config: c.setting.map(|s| ConfigChange {
                    name: s.name.clone(),
                    target: s.target,
                    container: s.container.clone(),
                    value: s.value.clone(),
                }),
                priority,
                estimated_latency_seconds: self.latency(c.action_type),
            })
            .collect();
        let mut expected_impact =
            expected_impact(kind, target, confidence, &actions, benefit, cost);
        for z in chosen.iter().flatten().filter_map(|c| c.sizing) {
            expected_impact.push_str(&format!(
                " Sized as HPA does: ceil({} × {:.2} (level over threshold) × {:.2} (headroom)) = {}",
                z.current.max(1),
                z.ratio,
                1.0 + z.headroom,
                z.desired
            ));
            if i64::from(z.replicas) != z.desired {
                expected_impact.push_str(&format!(
                    ", set to {} by the envelope (bounds, maxStep, at least one more)",
                    z.replicas
                ));
            }
            expected_impact.push_str(" replicas.");
        }
        let mut plan = RemediationPlan {
            target: target.deployment.clone(),
            policy: target.policy.clone(),
            root_cause: kind,
            confidence: round4(confidence),
            expected_impact,
            actions,
            risk,
            priority,
            cost,
            benefit,
            score: choice.score_rounded(),
            plan_hash: String::new(),
        };
        plan.plan_hash = plan_hash(&plan);
        plan
    }

    fn latency(&self, action: ActionType) -> u32 {
        match action.patch_kind() {
            PatchKind::Scale => self.config.scale_latency_seconds,
            PatchKind::Restart => self.config.restart_latency_seconds,
            PatchKind::Config => self.config.config_latency_seconds,
        }
    }
}

/// `a1`, `a2`, ...: the id of the action at `index`. The first ones are made
/// once and shared by every plan.
fn action_id(index: usize) -> SharedStr {
    static IDS: OnceLock<[SharedStr; 4]> = OnceLock::new();
    let ids = IDS.get_or_init(|| ["a1", "a2", "a3", "a4"].map(SharedStr::from));
    ids.get(index)
        .cloned()
        .unwrap_or_else(|| format!("a{}", index + 1).into())
}

/// From `severity.weight() × confidence`: at least 0.75 Critical, 0.5 High, 0.25
/// Medium, else Low.
pub fn priority(severity: Severity, confidence: f64) -> Priority {
    let s = severity.weight() * confidence;
    if s >= 0.75 {
        Priority::Critical
    } else if s >= 0.5 {
        Priority::High
    } else if s >= 0.25 {
        Priority::Medium
    } else {
        Priority::Low
    }
}

/// From the costliest action (at least 0.6 High, 0.35 Medium), the total cost
/// (above 1.0 High, at least 0.6 Medium) and the scale step (more than half the
/// current replicas, or from zero, at least Medium).
fn risk(chosen: &[Option<Candidate>], current: i32) -> RiskLevel {
    let max_cost = chosen.iter().flatten().map(|c| c.cost).fold(0.0, f64::max);
    let total: f64 = chosen.iter().flatten().map(|c| c.cost).sum();
    let mut risk = if max_cost >= 0.6 {
        RiskLevel::High
    } else if max_cost >= 0.35 {
        RiskLevel::Medium
    } else {
        RiskLevel::Low
    };
    if total > 1.0 {
        risk = risk.max(RiskLevel::High);
    } else if total >= 0.6 {
        risk = risk.max(RiskLevel::Medium);
    }
    for r in chosen.iter().flatten().filter_map(|c| c.replicas) {
        let delta = (i64::from(r) - i64::from(current)).abs();
        if current <= 0 || 2 * delta > i64::from(current) {
            risk = risk.max(RiskLevel::Medium);
        }
    }
    risk
}

/// `Expected to relieve <kind> on <deployment> (confidence <c>) by <step>, then
/// <step>: benefit <b> against cost <c>.`, written into one string.
fn expected_impact(
    kind: RootCauseKind,
    target: &PlanTarget,
    confidence: f64,
    actions: &[RemediationAction],
    benefit: f64,
    cost: f64,
) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(160 + target.deployment.len());
    out.extend_from_slice(b"Expected to relieve ");
    out.extend_from_slice(kind_name(kind).as_bytes());
    out.extend_from_slice(b" on ");
    out.extend_from_slice(target.deployment.as_bytes());
    out.extend_from_slice(b" (confidence ");
    push_fixed(&mut out, confidence, 2);
    out.extend_from_slice(b") by ");
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", then ");
        }
        describe(&mut out, a);
    }
    out.extend_from_slice(b": benefit ");
    push_fixed(&mut out, benefit, 2);
    out.extend_from_slice(b" against cost ");
    push_fixed(&mut out, cost, 2);
    out.push(b'.');
    // Only whole strings and ASCII were appended.
    String::from_utf8(out).unwrap_or_default()
}

/// One step of the expected impact: `SCALE_UP to 7 replicas`,
/// `UPDATE_CONFIGURATION (Env RATE_LIMIT=5)` or the action type alone.
fn describe(out: &mut impl Sink, a: &RemediationAction) {
    out.put(a.action_type.as_str().as_bytes());
    match (&a.replicas, &a.config) {
        (Some(r), _) => {
            out.put(b" to ");
            write_int(out, i64::from(*r));
            out.put(b" replicas");
        }
        (_, Some(c)) => {
            out.put(b" (");
            out.put(config_target_name(c.target).as_bytes());
            out.put_byte(b' ');
            out.put(c.name.as_bytes());
            out.put_byte(b'=');
            out.put(c.value.as_bytes());
            out.put_byte(b')');
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::tests::outcome;
    use crate::model::{ConfigSetting, ConfigTarget};

    fn rc(kind: RootCauseKind, confidence: f64) -> RootCause {
        RootCause {
            kind,
            target: "web".into(),
            policy: "lat".into(),
            confidence,
            description: String::new(),
            supporting_patterns: vec![],
        }
    }

    fn analysis(causes: Vec<RootCause>) -> AnalysisResult {
        AnalysisResult {
            analysis_id: "an-0".into(),
            violations_analyzed: 0,
            patterns: vec![],
            root_causes: causes,
            recommendations: vec![],
            confidence_level: 0.0,
            breaches: Vec::new(),
            shared_causes: Vec::new(),
        }
    }

    fn bounds(min: i32, max: i32, step: i32) -> ScaleBounds {
        ScaleBounds {
            min_replicas: min,
            max_replicas: max,
            max_step: step,
        }
    }

    fn target(allowed: &[ActionType], current: i32) -> PlanTarget {
        PlanTarget {
            policy: "lat".into(),
            deployment: "web".into(),
            current_replicas: current,
            severity: Severity::Critical,
            envelope: RemediationEnvelope {
                allowed_actions: allowed.to_vec(),
                scale: Some(bounds(1, 10, 3)),
                config: vec![],
            },
        }
    }

    fn setting(actions: &[ActionType], value: &str, allowed: &[&str]) -> ConfigSetting {
        ConfigSetting {
            name: "RATE_LIMIT".into(),
            target: ConfigTarget::Env,
            container: None,
            value: value.into(),
            allowed_values: allowed.iter().map(|s| s.to_string()).collect(),
            actions: actions.to_vec(),
        }
    }

    fn plan(causes: Vec<RootCause>, targets: &[PlanTarget]) -> Vec<RemediationPlan> {
        Planner::default().generate_plans(&analysis(causes), targets, &KnowledgeBase::new())
    }

    fn breach(level: f64, threshold: f64) -> Breach {
        Breach {
            policy: "lat".into(),
            target: "web".into(),
            current: true,
            run: 4,
            stands_out: true,
            shared: false,
            actionable: true,
            level,
            threshold,
            operator: crate::model::ComparisonOperator::GreaterThan,
            baseline: None,
            excess_z: None,
            margin_z: None,
            baseline_duty: None,
            interval_ms: 30_000,
            last_at_ms: 0,
            run_start_ms: None,
            reason: String::new(),
        }
    }

    #[test]
    fn scale_up_is_sized_as_hpa_does_with_headroom_inside_the_envelope() {
        let b = bounds(2, 20, 10);
        // 4 replicas at 1.26x: ceil(4 × 1.26) = 6 (HPA); with 10% headroom
        // ceil(5.544) = 6 too.
        let (r, z) = proportional_replicas(4, 1.26, 0.1, &b).unwrap();
        assert_eq!((r, z.desired), (6, 6));
        assert_eq!(proportional_replicas(4, 1.26, 0.0, &b).unwrap().0, 6);
        // Headroom can add one: 4 × 1.4 = 5.6 -> 6, × 1.1 = 6.16 -> 7.
        assert_eq!(proportional_replicas(4, 1.4, 0.0, &b).unwrap().0, 6);
        assert_eq!(proportional_replicas(4, 1.4, 0.1, &b).unwrap().0, 7);
        // maxStep and maxReplicas bound it; a slight overload still adds one.
        assert_eq!(
            proportional_replicas(4, 5.0, 0.1, &bounds(2, 20, 3))
                .unwrap()
                .0,
            7
        );
        assert_eq!(
            proportional_replicas(4, 5.0, 0.1, &bounds(2, 6, 10))
                .unwrap()
                .0,
            6
        );
        assert_eq!(proportional_replicas(4, 1.01, 0.0, &b).unwrap().0, 5);
        assert_eq!(proportional_replicas(6, 2.0, 0.1, &bounds(2, 6, 10)), None);
        assert_eq!(proportional_replicas(4, f64::NAN, 0.1, &b), None);
    }

    #[test]
    fn a_judged_plan_scales_proportionally_and_shows_the_arithmetic() {
        let mut a = analysis(vec![rc(RootCauseKind::LoadSpike, 0.9)]);
        a.breaches = vec![breach(0.63, 0.5)];
        let mut t = target(&[ActionType::ScaleUp], 4);
        t.envelope.scale = Some(bounds(2, 20, 10));
        let plans = Planner::default().generate_plans(&a, &[t], &KnowledgeBase::new());
        assert_eq!(plans[0].actions[0].replicas, Some(6));
        assert!(
            plans[0]
                .expected_impact
                .contains("ceil(4 × 1.26 (level over threshold) × 1.10 (headroom)) = 6"),
            "{}",
            plans[0].expected_impact
        );
    }

    #[test]
    fn no_plan_for_a_breach_that_is_not_actionable() {
        let mut a = analysis(vec![rc(RootCauseKind::LoadSpike, 0.9)]);
        let mut b = breach(0.63, 0.5);
        b.actionable = false;
        a.breaches = vec![b];
        let t = target(&[ActionType::ScaleUp], 4);
        assert!(
            Planner::default()
                .generate_plans(&a, &[t], &KnowledgeBase::new())
                .is_empty()
        );
    }

    #[test]
    fn an_action_that_failed_twice_for_a_cause_gives_way_to_another() {
        use ActionType::*;
        let mut t = target(&[RestartService, UpdateConfiguration], 4);
        t.envelope.config = vec![setting(&[UpdateConfiguration], "5", &[])];
        let causes = vec![rc(RootCauseKind::ComponentFault, 0.9)];
        let first = plan(causes.clone(), std::slice::from_ref(&t));
        assert_eq!(first[0].actions[0].action_type, RestartService);
        let failed = |i: usize| crate::knowledge::OutcomeRecord {
            plan_name: format!("fix-{i}"),
            plan_hash: String::new(),
            target: "web".into(),
            policy: "lat".into(),
            root_cause: RootCauseKind::ComponentFault,
            action_types: vec![RestartService],
            violations_before: Some(10),
            violations_after: Some(9),
            resolved_count: 1,
            time_to_stabilization_seconds: None,
            outcome: crate::model::OutcomeType::Ineffective,
            success_confidence: 0.0,
            recorded_at_ms: 0,
        };
        let kb = KnowledgeBase::from_outcomes(&[failed(1), failed(2)]);
        let next = Planner::default().generate_plans(&analysis(causes), &[t], &kb);
        assert_eq!(next[0].actions[0].action_type, UpdateConfiguration);
    }

    #[test]
    fn actions_are_chosen_against_the_whole_distribution() {
        use ActionType::*;
        // An upstream dependency (0.6) and a load spike (0.3) on web: throttling
        // helps against both (0.6·0.7 + 0.3·0.7 = 0.63 - 0.40), scaling against
        // the spike only (0.3·0.9 = 0.27 - 0.15).
        let mut t = target(&[ScaleUp, ThrottleRequests], 4);
        t.envelope.config = vec![setting(&[ThrottleRequests], "5", &[])];
        let plans = plan(
            vec![
                rc(RootCauseKind::UpstreamDependency, 0.6),
                rc(RootCauseKind::LoadSpike, 0.3),
            ],
            &[t],
        );
        assert_eq!(plans[0].actions[0].action_type, ThrottleRequests);
        assert_eq!(plans[0].root_cause, RootCauseKind::UpstreamDependency);
    }

    #[test]
    fn scale_replicas_bounds() {
        let b = bounds(2, 10, 3);
        assert_eq!(scale_replicas(ActionType::ScaleUp, 4, &b), Some(7));
        assert_eq!(scale_replicas(ActionType::ScaleUp, 9, &b), Some(10));
        assert_eq!(scale_replicas(ActionType::ScaleUp, 10, &b), None);
        // Below the bounds: brought in when one step suffices.
        assert_eq!(scale_replicas(ActionType::ScaleUp, 0, &b), Some(3));
        assert_eq!(
            scale_replicas(ActionType::ScaleUp, 0, &bounds(5, 10, 2)),
            None
        );
        // Above the bounds: scaling up is impossible.
        assert_eq!(scale_replicas(ActionType::ScaleUp, 12, &b), None);
        assert_eq!(scale_replicas(ActionType::ScaleDown, 12, &b), Some(9));
        assert_eq!(scale_replicas(ActionType::ScaleDown, 2, &b), None);
        assert_eq!(
            scale_replicas(ActionType::ScaleUp, 4, &bounds(5, 3, 1)),
            None
        );
        assert_eq!(
            scale_replicas(ActionType::ScaleUp, 4, &bounds(1, 9, 0)),
            None
        );
        assert_eq!(
            scale_replicas(
                ActionType::ScaleUp,
                i32::MAX,
                &bounds(0, i32::MAX, i32::MAX)
            ),
            None
        );
        assert_eq!(
            scale_replicas(
                ActionType::ScaleUp,
                i32::MIN,
                &bounds(0, i32::MAX, i32::MAX)
            ),
            None
        );
        assert_eq!(scale_replicas(ActionType::RestartService, 4, &b), None);
    }

    #[test]
    fn load_spike_plan_hand_computed() {
        use ActionType::*;
        // Confidence 0.8, no knowledge: SCALE_UP benefit 0.8·0.9 = 0.72, score 0.57;
        // THROTTLE benefit 0.56, score 0.16; REBALANCE 0.48, score 0.23.
        // Best two: SCALE_UP then REBALANCE_LOAD.
        let t = target(&[ScaleUp, ThrottleRequests, RebalanceLoad], 4);
        let mut t = t;
        t.envelope.config = vec![setting(&[ThrottleRequests], "100", &[])];
        let plans = plan(vec![rc(RootCauseKind::LoadSpike, 0.8)], &[t]);
        assert_eq!(plans.len(), 1);
        let p = &plans[0];
        let types: Vec<ActionType> = p.actions.iter().map(|a| a.action_type).collect();
        assert_eq!(types, vec![ScaleUp, RebalanceLoad]);
        assert_eq!(p.actions[0].id, "a1");
        assert_eq!(p.actions[1].id, "a2");
        assert_eq!(p.actions[0].replicas, Some(7));
        assert_eq!(p.actions[0].estimated_latency_seconds, 30);
        assert_eq!(p.actions[1].estimated_latency_seconds, 120);
        assert!((p.cost - 0.40).abs() < 1e-12);
        assert!((p.benefit - 1.20).abs() < 1e-12);
        assert!((p.score - 0.80).abs() < 1e-12);
        // Critical (1.0) × 0.8 = 0.8 => Critical.
        assert_eq!(p.priority, Priority::Critical);
        // Max cost 0.25, total 0.40, step 3 of 4 (> half) => Medium.
        assert_eq!(p.risk, RiskLevel::Medium);
        assert_eq!(p.plan_hash, plan_hash(p));
        assert_eq!(p.plan_hash.len(), 16);
        assert!(p.expected_impact.contains("SCALE_UP to 7 replicas"));
    }

    #[test]
    fn disallowed_actions_are_never_planned() {
        use ActionType::*;
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, 1.0)],
            &[target(&[RestartService], 4)],
        );
        // RESTART_SERVICE is no LoadSpike candidate: nothing to plan.
        assert!(plans.is_empty());
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, 1.0)],
            &[target(&[RebalanceLoad], 4)],
        );
        assert_eq!(plans[0].actions.len(), 1);
        assert_eq!(plans[0].actions[0].action_type, RebalanceLoad);
    }

    #[test]
    fn scale_needs_bounds_and_room() {
        use ActionType::*;
        let mut t = target(&[ScaleUp], 4);
        t.envelope.scale = None;
        assert!(plan(vec![rc(RootCauseKind::LoadSpike, 1.0)], &[t]).is_empty());
        let t = target(&[ScaleUp], 10);
        assert!(plan(vec![rc(RootCauseKind::LoadSpike, 1.0)], &[t]).is_empty());
    }

    #[test]
    fn config_actions_need_a_listed_setting_with_an_allowed_value() {
        use ActionType::*;
        let cause = || vec![rc(RootCauseKind::ComponentFault, 1.0)];
        let t = target(&[UpdateConfiguration], 4);
        assert!(plan(cause(), std::slice::from_ref(&t)).is_empty());
        let mut t2 = t.clone();
        t2.envelope.config = vec![setting(&[ThrottleRequests], "1", &[])];
        assert!(plan(cause(), &[t2]).is_empty());
        let mut t3 = t.clone();
        t3.envelope.config = vec![setting(&[UpdateConfiguration], "5", &["1", "2"])];
        assert!(plan(cause(), &[t3]).is_empty());
        let mut t4 = t.clone();
        t4.envelope.config = vec![setting(&[UpdateConfiguration], "2", &["1", "2"])];
        let plans = plan(cause(), &[t4]);
        assert_eq!(plans.len(), 1);
        // 1.0 × 0.6 - 0.35 = 0.25
        assert!((plans[0].score - 0.25).abs() < 1e-12);
        let c = plans[0].actions[0].config.as_ref().unwrap();
        assert_eq!((c.name.as_str(), c.value.as_str()), ("RATE_LIMIT", "2"));
        assert_eq!(plans[0].risk, RiskLevel::Medium);
    }

    #[test]
    fn every_kind_has_at_most_four_distinct_candidates() {
        // `choose` keeps the candidates of one kind in 4 slots and relies on
        // distinct action types for a total order.
        for kind in [
            RootCauseKind::LoadSpike,
            RootCauseKind::GradualDegradation,
            RootCauseKind::RecurringLoad,
            RootCauseKind::ComponentFault,
            RootCauseKind::UpstreamDependency,
            RootCauseKind::ChronicOverload,
        ] {
            let list = candidate_actions(kind);
            assert!(list.len() <= 4, "{kind:?}");
            let mut types: Vec<ActionType> = list.iter().map(|(a, _)| *a).collect();
            types.sort();
            types.dedup();
            assert_eq!(types.len(), list.len(), "{kind:?}");
        }
    }

    #[test]
    fn every_kind_has_a_config_option() {
        use ActionType::UpdateConfiguration;
        for kind in [
            RootCauseKind::LoadSpike,
            RootCauseKind::GradualDegradation,
            RootCauseKind::RecurringLoad,
            RootCauseKind::ComponentFault,
            RootCauseKind::UpstreamDependency,
            RootCauseKind::ChronicOverload,
        ] {
            let mut t = target(&[UpdateConfiguration], 4);
            t.envelope.config = vec![setting(&[UpdateConfiguration], "x", &[])];
            let plans = plan(vec![rc(kind, 1.0)], &[t]);
            assert_eq!(plans.len(), 1, "{kind:?}");
            assert_eq!(plans[0].actions[0].action_type, UpdateConfiguration);
        }
    }

    #[test]
    fn one_setting_is_not_changed_twice() {
        use ActionType::*;
        let mut t = target(&[ThrottleRequests, UpdateConfiguration], 4);
        t.envelope.config = vec![setting(&[ThrottleRequests, UpdateConfiguration], "9", &[])];
        let plans = plan(vec![rc(RootCauseKind::LoadSpike, 1.0)], &[t]);
        assert_eq!(plans[0].actions.len(), 1);
        assert_eq!(plans[0].actions[0].action_type, ThrottleRequests);
    }

    #[test]
    fn low_confidence_gives_no_plan() {
        // 0.1 × 0.9 = 0.09 < 0.15.
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, 0.1)],
            &[target(&[ActionType::ScaleUp], 4)],
        );
        assert!(plans.is_empty());
    }

    #[test]
    fn knowledge_changes_the_ranking() {
        use ActionType::*;
        use RootCauseKind::GradualDegradation as G;
        let t = target(&[RestartService, ScaleUp], 4);
        let planner = Planner::new(PlannerConfig {
            max_actions: 1,
            ..PlannerConfig::default()
        });
        let a = analysis(vec![rc(G, 0.9)]);
        // Prior: RESTART 0.9·0.85 - 0.2 = 0.565 beats SCALE_UP 0.9·0.5 - 0.15 = 0.3.
        let before = planner.generate_plans(&a, std::slice::from_ref(&t), &KnowledgeBase::new());
        assert_eq!(before[0].actions[0].action_type, RestartService);
        // Restarts failed 4 times (Beta(1, 5), factor 2/6), scaling worked 4 times
        // (Beta(5, 1), factor 10/6): RESTART 0.765/3 - 0.2 = 0.055, SCALE_UP 0.75 - 0.15 = 0.6.
        let mut outs = Vec::new();
        for _ in 0..4 {
            outs.push(outcome(G, &[RestartService], 10, 10, None));
            outs.push(outcome(G, &[ScaleUp], 10, 0, Some(20)));
        }
        let kb = KnowledgeBase::from_outcomes(&outs);
        let after = planner.generate_plans(&a, &[t], &kb);
        assert_eq!(after[0].actions[0].action_type, ScaleUp);
        assert!((after[0].score - 0.6).abs() < 1e-12);
        assert_ne!(after[0].plan_hash, before[0].plan_hash);
    }

    #[test]
    fn one_plan_per_deployment_best_score_wins() {
        use ActionType::*;
        let t = target(&[ScaleUp, RestartService], 4);
        let plans = plan(
            vec![
                rc(RootCauseKind::ComponentFault, 0.9),
                rc(RootCauseKind::LoadSpike, 0.8),
            ],
            &[t],
        );
        assert_eq!(plans.len(), 1);
        // LoadSpike: SCALE_UP 0.72 - 0.15 = 0.57 alone (RESTART no candidate).
        // ComponentFault: RESTART 0.72 - 0.20 = 0.52 alone. LoadSpike wins.
        assert_eq!(plans[0].root_cause, RootCauseKind::LoadSpike);
    }

    #[test]
    fn root_causes_without_a_target_are_skipped_and_plans_sorted() {
        use ActionType::*;
        let mut other = target(&[ScaleUp], 4);
        other.policy = "err".into();
        other.deployment = "api".into();
        other.severity = Severity::Info;
        let mut c2 = rc(RootCauseKind::LoadSpike, 0.9);
        c2.policy = "err".into();
        c2.target = "api".into();
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, 0.9), c2, {
                let mut c = rc(RootCauseKind::LoadSpike, 0.9);
                c.policy = "nobody".into();
                c
            }],
            &[other, target(&[ScaleUp], 4)],
        );
        let order: Vec<(&str, Priority)> = plans
            .iter()
            .map(|p| (p.target.as_str(), p.priority))
            .collect();
        // web: Critical (1.0 × 0.9); api: Info 0.5 × 0.9 = 0.45 => Medium.
        assert_eq!(
            order,
            vec![("web", Priority::Critical), ("api", Priority::Medium)]
        );
    }

    #[test]
    fn plan_hash_is_stable_and_content_sensitive() {
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, 0.8)],
            &[target(&[ActionType::ScaleUp], 4)],
        );
        let p = plans[0].clone();
        assert_eq!(plan_hash(&p), p.plan_hash);
        let mut q = p.clone();
        q.plan_hash = "anything".into();
        assert_eq!(plan_hash(&q), p.plan_hash);
        q.actions[0].replicas = Some(6);
        assert_ne!(plan_hash(&q), p.plan_hash);
        assert!(p.plan_hash.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn plan_hash_is_the_sha256_of_the_json_without_the_hash_floats_with_6_decimals() {
        let p = plan(
            vec![rc(RootCauseKind::LoadSpike, 0.8)],
            &[target(&[ActionType::ScaleUp, ActionType::RebalanceLoad], 4)],
        )
        .remove(0);
        let mut q = p.clone();
        q.plan_hash = String::new();
        // The plan's only fractional numbers are its top-level figures.
        let mut value = serde_json::to_value(&q).unwrap();
        for key in ["confidence", "cost", "benefit", "score"] {
            let f = value[key].as_f64().unwrap();
            value[key] = serde_json::Value::String(format!("{f:.6}"));
        }
        let digest = Sha256::digest(serde_json::to_vec(&value).unwrap());
        let want: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(p.plan_hash, want);
        assert_eq!(plan_hash(&q), want);
    }

    #[test]
    fn a_full_tie_between_plans_for_one_deployment_goes_to_the_smaller_hash() {
        use ActionType::*;
        // Two targets of one policy on one Deployment whose plans tie on score,
        // confidence, kind and policy but differ in content (the replicas).
        let a = target(&[ScaleUp], 4);
        let mut b = target(&[ScaleUp], 5);
        b.envelope.scale = Some(bounds(1, 10, 3));
        let cause = vec![rc(RootCauseKind::LoadSpike, 0.8)];
        let one = plan(cause.clone(), std::slice::from_ref(&a)).remove(0);
        let two = plan(cause.clone(), std::slice::from_ref(&b)).remove(0);
        assert_eq!(one.score, two.score);
        assert_ne!(one.plan_hash, two.plan_hash);
        let want = if one.plan_hash < two.plan_hash {
            &one
        } else {
            &two
        };
        assert_eq!(&plan(cause.clone(), &[a.clone(), b.clone()])[0], want);
        assert_eq!(&plan(cause, &[b, a])[0], want);
    }

    #[test]
    fn nan_confidence_plans_nothing() {
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, f64::NAN)],
            &[target(&[ActionType::ScaleUp], 4)],
        );
        assert!(plans.is_empty());
    }
}

#[cfg(test)]
mod hash_tests {
    use super::*;
    use crate::model::ConfigTarget;
    use proptest::prelude::*;

    /// The definition of the canonical JSON: the plan's `serde_json::Value` with
    /// `planHash` empty and fractional numbers as 6-decimal strings (how
    /// `plan_hash` computed it before it wrote the bytes directly).
    fn canonical_by_value(plan: &RemediationPlan) -> Vec<u8> {
        fn canonical(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Number(n) if n.is_f64() => {
                    let f = n.as_f64().unwrap_or(0.0);
                    *v = serde_json::Value::String(format!("{f:.6}"));
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(canonical),
                serde_json::Value::Object(map) => map.values_mut().for_each(canonical),
                _ => {}
            }
        }
        let mut value = serde_json::to_value(plan).unwrap();
        value
            .as_object_mut()
            .unwrap()
            .insert("planHash".into(), serde_json::Value::String(String::new()));
        canonical(&mut value);
        serde_json::to_vec(&value).unwrap()
    }

    fn direct(plan: &RemediationPlan) -> Vec<u8> {
        let mut out = Vec::new();
        write_canonical_plan(&mut out, plan);
        out
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z0-9-]{1,12}",
            // Quotes, backslashes, control and non-ASCII characters: escaped.
            any::<String>(),
            Just("\"\\\n\t\u{1}\u{7f}é→😀".to_string()),
            // Longer than the hasher's buffer.
            "[a-z ]{250,700}",
        ]
    }

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            -2.0..2.0f64,
            any::<f64>(),
            Just(0.0),
            Just(-0.0),
            Just(1.0),
            Just(0.025000000000000026),
            Just(1e300),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            // Values with at most 4 decimals, as round4 gives them (the fast path).
            (-100_000_000i64..100_000_000).prop_map(|k| k as f64 / 1e4),
            (-2_000_000i64..2_000_000).prop_map(|k| round4(k as f64 * 1e-6)),
        ]
    }

    #[test]
    fn six_decimals_as_format_writes_them() {
        for f in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            0.0001,
            -0.0001,
            0.00005,
            0.000049,
            0.1234,
            0.12345,
            0.1234567,
            0.025000000000000026,
            round4(0.72 - 0.15),
            round4(1.2 - 0.4),
            999_999_999.999_9,
            1e9,
            123_456_789_012.345_6,
            -5e-324,
            5e-324,
            f64::MAX,
            f64::MIN,
            1e15 + 0.5,
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, f);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("\"{f:.6}\""),
                "{f:e}"
            );
        }
        for f in [
            -0.001, -0.004, -0.005, -0.006, 0.005, 0.015, 0.125, 0.375, 2.675, 1.005,
        ] {
            for decimals in [2u32, 6] {
                let mut out = Vec::new();
                push_fixed(&mut out, f, decimals);
                let want = format!("{f:.*}", decimals as usize);
                assert_eq!(String::from_utf8(out).unwrap(), want, "{f:e}");
            }
        }
        for k in -200_000i64..200_000 {
            let f = k as f64 / 1e4;
            let mut out = Vec::new();
            write_f64(&mut out, f);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("\"{f:.6}\""),
                "{k}"
            );
        }
    }

    fn action() -> impl Strategy<Value = RemediationAction> {
        (
            (0..ActionType::ALL.len(), text(), text()),
            prop::option::of(any::<i32>()),
            prop::option::of((text(), any::<bool>(), prop::option::of(text()), text())),
            (0..4usize, any::<u32>()),
        )
            .prop_map(|((a, id, target), replicas, config, (priority, latency))| {
                RemediationAction {
                    id: id.into(),
                    action_type: ActionType::ALL[a],
                    target: target.into(),
                    replicas,
                    config: config.map(|(name, env, container, value)| ConfigChange {
                        name,
                        target: if env {
                            ConfigTarget::Env
                        } else {
                            ConfigTarget::Annotation
                        },
                        container,
                        value,
                    }),
                    priority: [
                        Priority::Low,
                        Priority::Medium,
                        Priority::High,
                        Priority::Critical,
                    ][priority],
                    estimated_latency_seconds: latency,
                }
            })
    }

    fn any_plan() -> impl Strategy<Value = RemediationPlan> {
        (
            (text(), text(), 0..6usize, text(), text()),
            prop::collection::vec(action(), 0..4),
            (float(), float(), float(), float()),
            (0..3usize, 0..4usize),
        )
            .prop_map(
                |(
                    (target, policy, kind, expected_impact, plan_hash),
                    actions,
                    (confidence, cost, benefit, score),
                    (risk, priority),
                )| RemediationPlan {
                    target: target.into(),
                    policy: policy.into(),
                    root_cause: [
                        RootCauseKind::LoadSpike,
                        RootCauseKind::GradualDegradation,
                        RootCauseKind::RecurringLoad,
                        RootCauseKind::ComponentFault,
                        RootCauseKind::UpstreamDependency,
                        RootCauseKind::ChronicOverload,
                    ][kind],
                    confidence,
                    actions,
                    expected_impact,
                    risk: [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High][risk],
                    priority: [
                        Priority::Low,
                        Priority::Medium,
                        Priority::High,
                        Priority::Critical,
                    ][priority],
                    cost,
                    benefit,
                    score,
                    plan_hash,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The bytes written directly are the bytes of the `Value` route, for any
        /// plan: every field, optional fields present or not, strings that need
        /// escaping, and any float.
        #[test]
        fn fixed_decimals_as_format_writes_them(f in float(), scaled in -3e6..3e6f64) {
            for x in [f, scaled / 100.0, scaled / 1e6, (scaled.round() + 0.5) / 100.0] {
                for decimals in [0u32, 2, 4, 6] {
                    let mut out = Vec::new();
                    push_fixed(&mut out, x, decimals);
                    prop_assert_eq!(
                        String::from_utf8(out).unwrap(),
                        format!("{x:.*}", decimals as usize)
                    );
                }
            }
        }

        #[test]
        fn canonical_json_is_written_as_the_value_would_be(plan in any_plan()) {
            let digest = Sha256::digest(canonical_by_value(&plan));
            let want: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(plan_hash(&plan), want);
            prop_assert_eq!(
                String::from_utf8(direct(&plan)).unwrap(),
                String::from_utf8(canonical_by_value(&plan)).unwrap()
            );
        }
    }

    #[test]
    fn canonical_json_of_a_full_plan() {
        let plan: RemediationPlan = serde_json::from_value(serde_json::json!({
            "target": "web", "policy": "p", "rootCause": "LoadSpike", "confidence": 0.625,
            "actions": [
                {"id": "a1", "actionType": "SCALE_UP", "target": "web", "replicas": 7,
                 "priority": "High", "estimatedLatencySeconds": 30},
                {"id": "a2", "actionType": "UPDATE_CONFIGURATION", "target": "web",
                 "config": {"name": "N", "target": "Env", "container": "app", "value": "5"},
                 "priority": "High", "estimatedLatencySeconds": 90}
            ],
            "expectedImpact": "x", "risk": "Low", "priority": "High",
            "cost": 0.35, "benefit": 1.0, "score": 0.65, "planHash": "abc"
        }))
        .unwrap();
        assert_eq!(direct(&plan), canonical_by_value(&plan));
        assert_eq!(
            String::from_utf8(direct(&plan)).unwrap(),
            concat!(
                r#"{"actions":[{"actionType":"SCALE_UP","estimatedLatencySeconds":30,"id":"a1","#,
                r#""priority":"High","replicas":7,"target":"web"},{"actionType":"UPDATE_CONFIGURATION","#,
                r#""config":{"container":"app","name":"N","target":"Env","value":"5"},"#,
                r#""estimatedLatencySeconds":90,"id":"a2","priority":"High","target":"web"}],"#,
                r#""benefit":"1.000000","confidence":"0.625000","cost":"0.350000","#,
                r#""expectedImpact":"x","planHash":"","policy":"p","priority":"High","#,
                r#""risk":"Low","rootCause":"LoadSpike","score":"0.650000","target":"web"}"#
            )
        );
    }

    #[test]
    fn the_hash_survives_float_re_encoding() {
        let plan: RemediationPlan = serde_json::from_value(serde_json::json!({
            "target": "web", "policy": "p", "rootCause": "LoadSpike", "confidence": 0.625,
            "actions": [], "expectedImpact": "", "risk": "Low", "priority": "Low",
            "cost": 0.35, "benefit": 0.375, "score": 0.025000000000000026, "planHash": ""
        }))
        .unwrap();
        let mut reencoded = plan.clone();
        // What the API server gave back for the score above.
        reencoded.score = 0.025000000000000022;
        assert_ne!(plan.score, reencoded.score);
        assert_eq!(plan_hash(&plan), plan_hash(&reencoded));
        reencoded.score = 0.026;
        assert_ne!(plan_hash(&plan), plan_hash(&reencoded));
        assert_eq!(round4(0.025000000000000026), 0.025);
    }
}
