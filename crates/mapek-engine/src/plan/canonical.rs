//! The one written form of a plan and its actions: the canonical JSON that
//! [`plan_hash`] hashes (an approval names this hash), and [`describe`], the
//! one-line description of an action that the plan's expected impact shows.
//! Both write through the same [`Sink`], so the text an approver reads and the
//! bytes the hash covers cannot drift apart.

use sha2::{Digest, Sha256};

use crate::model::{
    ConfigTarget, Priority, RemediationAction, RemediationPlan, RiskLevel, RootCauseKind,
};

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
pub(super) trait Sink {
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
pub(super) fn write_canonical_plan(out: &mut impl Sink, plan: &RemediationPlan) {
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

pub(super) fn write_canonical_action(out: &mut impl Sink, a: &RemediationAction) {
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
pub(super) fn write_str(out: &mut impl Sink, s: &str) {
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
pub(super) fn write_name(out: &mut impl Sink, name: &str) {
    out.put_byte(b'"');
    out.put(name.as_bytes());
    out.put_byte(b'"');
}

/// An integer in decimal, as serde_json (and `Display`) writes it.
#[inline]
pub(super) fn write_int(out: &mut impl Sink, v: i64) {
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
pub(super) fn write_f64(out: &mut impl Sink, f: f64) {
    if !f.is_finite() {
        out.put(b"null");
        return;
    }
    out.put_byte(b'"');
    push_fixed(out, f, 6);
    out.put_byte(b'"');
}

/// `f` with `decimals` decimals, exactly as `format!("{f:.N$}")` writes it:
/// scaled and rounded where that is certain ([`crate::decimal::scaled`]),
/// else by the standard formatting. (Its digits are written here, not by
/// [`crate::decimal::Fixed`], so that the divisions by the constant
/// `10^decimals` of the hash's six decimals are multiplications.)
#[inline]
pub(super) fn push_fixed(out: &mut impl Sink, f: f64, decimals: u32) {
    const POW10: [u64; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
    let Some(k) = crate::decimal::scaled(f, decimals as usize) else {
        out.put(format!("{f:.*}", decimals as usize).as_bytes());
        return;
    };
    let scale = POW10[decimals as usize];
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
}

pub(super) fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Low => "Low",
        Priority::Medium => "Medium",
        Priority::High => "High",
        Priority::Critical => "Critical",
    }
}

pub(super) fn risk_name(r: RiskLevel) -> &'static str {
    match r {
        RiskLevel::Low => "Low",
        RiskLevel::Medium => "Medium",
        RiskLevel::High => "High",
    }
}

pub(super) fn kind_name(k: RootCauseKind) -> &'static str {
    match k {
        RootCauseKind::LoadSpike => "LoadSpike",
        RootCauseKind::GradualDegradation => "GradualDegradation",
        RootCauseKind::RecurringLoad => "RecurringLoad",
        RootCauseKind::ComponentFault => "ComponentFault",
        RootCauseKind::UpstreamDependency => "UpstreamDependency",
        RootCauseKind::ChronicOverload => "ChronicOverload",
        RootCauseKind::BadChange => "BadChange",
    }
}

pub(super) fn config_target_name(t: ConfigTarget) -> &'static str {
    match t {
        ConfigTarget::Env => "Env",
        ConfigTarget::Annotation => "Annotation",
    }
}

/// One step of the expected impact: `SCALE_UP to 7 replicas`,
/// `UPDATE_CONFIGURATION (Env RATE_LIMIT=5)` or the action type alone.
pub(super) fn describe(out: &mut impl Sink, a: &RemediationAction) {
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
    // Only a rollback has a revision: every other action's bytes, and so
    // every existing plan's hash, are unchanged.
    if let Some(r) = a.revision {
        out.put(b" to revision ");
        write_int(out, r);
    }
}
