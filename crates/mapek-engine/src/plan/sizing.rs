//! How many replicas a scale action sets: the envelope's step rule
//! ([`scale_replicas`]) and the HorizontalPodAutoscaler's proportional rule with
//! headroom ([`proportional_replicas`]).

use crate::model::{ActionType, ScaleBounds};

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
