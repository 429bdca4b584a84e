//! Breach episodes between a policy's status and the engine, without I/O: the
//! stored episode (`status.episode`) as the engine's [`Episode`] with its plans'
//! states refreshed from the RemediationPolicy objects, an episode ended on the
//! analyzer's timer for a policy no longer analyzed, the engine's episode back in
//! the status' shape, and what a change of episode state means for the policy's
//! `Exhausted` condition and Events. The controller in `mod.rs` reads and writes
//! around them.

use std::collections::HashMap;
use std::sync::Arc;

use kube::ResourceExt;

use super::decide::closed_at;
use crate::controllers::monitor::decide::time;
use mapek_api::{
    ApprovalState, Condition, ExecutionPhase, PolicyEpisode, PolicyEpisodePlan, RemediationPolicy,
    ViolationPolicy,
};
use mapek_engine::config::EpisodeConfig;
use mapek_engine::model::{Episode, EpisodePlan, EpisodePlanState, EpisodeState, Millis, Point};

/// The policy condition that says its episode may get no more plans.
pub const EXHAUSTED: &str = "Exhausted";

/// What became of a plan of an episode, as its RemediationPolicy says (`None`:
/// it no longer exists, taken as executed), and when it closed.
pub fn plan_state(plan: Option<&RemediationPolicy>) -> (EpisodePlanState, Option<Millis>) {
    let Some(plan) = plan else {
        return (EpisodePlanState::Executed, None);
    };
    let Some(status) = &plan.status else {
        return (EpisodePlanState::Open, None);
    };
    let state = match (status.approval, status.phase) {
        (ApprovalState::Pending, _) => EpisodePlanState::Open,
        (ApprovalState::Rejected, _) => EpisodePlanState::Rejected,
        (ApprovalState::Expired, _) => EpisodePlanState::Expired,
        (ApprovalState::Approved, ExecutionPhase::Completed) => EpisodePlanState::Executed,
        (ApprovalState::Approved, ExecutionPhase::Failed | ExecutionPhase::RolledBack) => {
            EpisodePlanState::Failed
        }
        (ApprovalState::Approved, _) => EpisodePlanState::Open,
    };
    let closed = match state {
        EpisodePlanState::Open => None,
        _ => closed_at(plan),
    };
    (state, closed)
}

/// The engine's episode from the status' view.
pub fn from_status(policy: &str, e: &PolicyEpisode) -> Episode {
    let ms = |t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time| t.0.as_millisecond();
    Episode {
        policy: policy.to_string(),
        since_ms: ms(&e.since),
        last_breach_ms: ms(&e.last_breach),
        state: e.state,
        plans: e
            .plans
            .iter()
            .map(|p| EpisodePlan {
                name: p.name.clone(),
                at_ms: ms(&p.proposed_at),
                level: p.level,
                state: p.state,
                closed_ms: p.closed_at.as_ref().map(ms),
                worsened: p.worsened,
                actions: p.actions.clone(),
            })
            .collect(),
        max_plans: e.max_plans,
        ended_ms: e.ended_at.as_ref().map(ms),
        message: e.message.clone(),
    }
}

/// The status' view of an engine episode.
pub fn to_status(e: &Episode) -> PolicyEpisode {
    PolicyEpisode {
        state: e.state,
        since: time(e.since_ms),
        last_breach: time(e.last_breach_ms),
        ended_at: e.ended_ms.map(time),
        plans: e
            .plans
            .iter()
            .map(|p| PolicyEpisodePlan {
                name: p.name.clone(),
                proposed_at: time(p.at_ms),
                level: p.level,
                state: p.state,
                closed_at: p.closed_ms.map(time),
                worsened: p.worsened,
                actions: p.actions.clone(),
            })
            .collect(),
        max_plans: e.max_plans,
        message: e.message.chars().take(1024).collect(),
    }
}

/// The episode a policy's status holds, its plans' states refreshed from
/// `plans` (the namespace's RemediationPolicies by name). A plan that is gone
/// counts as executed, closed when the status last said or when proposed.
pub fn stored(
    policy: &ViolationPolicy,
    plans: &HashMap<&str, &Arc<RemediationPolicy>>,
) -> Option<Episode> {
    let status = policy.status.as_ref()?.episode.as_ref()?;
    let mut e = from_status(&policy.name_any(), status);
    if e.is_resolved() {
        return Some(e);
    }
    for p in &mut e.plans {
        if p.state != EpisodePlanState::Open && plans.get(p.name.as_str()).is_none() {
            continue;
        }
        let (state, closed) = plan_state(plans.get(p.name.as_str()).map(|p| p.as_ref()));
        p.state = state;
        p.closed_ms = match state {
            EpisodePlanState::Open => None,
            _ => closed.or(p.closed_ms).or(Some(p.at_ms)),
        };
    }
    Some(e)
}

/// Ends an unresolved episode of a policy the engine did not judge now: the
/// metric has been within its threshold for the resolve period since its last
/// breach. `points` are the monitor's evaluations (time, value); without any,
/// the status' last value and violations stand for them.
pub fn resolve_quiet(
    e: &mut Episode,
    policy: &ViolationPolicy,
    points: &[Point],
    config: &EpisodeConfig,
    now: Millis,
) -> bool {
    if e.is_resolved() {
        return false;
    }
    let c = &policy.spec.condition;
    let resolve_ms = keep_firing_for_ms(policy).unwrap_or(config.resolve_ms);
    let ended = if points.is_empty() {
        let Some(status) = &policy.status else {
            return false;
        };
        let last_violation = status
            .recent_violations
            .last()
            .map_or(0, |v| v.time.0.as_millisecond());
        let last_bad = e.last_breach_ms.max(last_violation);
        let within = status
            .last_value
            .is_some_and(|v| !c.operator.violates(v, c.threshold));
        (within && now - last_bad >= resolve_ms.max(1)).then_some(now)
    } else {
        let evaluations = points
            .iter()
            .map(|p| (p.at_ms, c.operator.violates(p.value, c.threshold)));
        mapek_engine::episode::resolved_at(
            evaluations,
            e.since_ms.max(e.last_breach_ms),
            resolve_ms,
        )
    };
    let Some(at) = ended else {
        return false;
    };
    e.state = EpisodeState::Resolved;
    e.ended_ms = Some(at);
    e.message = format!(
        "within the threshold for {}s after its last breach: the episode is over",
        resolve_ms / 1000
    );
    true
}

/// The policy's `keepFiringFor`, in milliseconds.
pub fn keep_firing_for_ms(policy: &ViolationPolicy) -> Option<Millis> {
    policy
        .spec
        .condition
        .keep_firing_for
        .map(|d| std::time::Duration::from(d).as_millis() as Millis)
}

/// An Event an episode's change of state is worth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EpisodeEvent {
    /// Warning `RemediationExhausted`: no more plans until the episode ends.
    Exhausted(String),
    /// Normal `EpisodeResolved`.
    Resolved(String),
}

/// The Event for an episode that went from `before` (as stored) to `after`:
/// only a change of state is worth one.
pub fn event(before: Option<&Episode>, after: &Episode) -> Option<EpisodeEvent> {
    let was = before.map(|e| (e.state, e.since_ms));
    let now = (after.state, after.since_ms);
    if was == Some(now) {
        return None;
    }
    match after.state {
        EpisodeState::Exhausted => Some(EpisodeEvent::Exhausted(after.message.clone())),
        EpisodeState::Resolved if before.is_some_and(|b| !b.is_resolved()) => {
            Some(EpisodeEvent::Resolved(after.message.clone()))
        }
        _ => None,
    }
}

/// The `Exhausted` condition an episode asks for, unless `conditions` already
/// say it: `True` while it is Exhausted (reason `PlanDeclined` when a plan was
/// rejected or expired, else `MaxPlansReached`), `False` otherwise (reason
/// `EpisodeResolved` once it ended, `Planning` while it may still plan). A
/// policy that never was Exhausted gets no condition.
pub fn condition(conditions: &[Condition], e: &Episode) -> Option<(bool, &'static str, String)> {
    let exhausted = e.state == EpisodeState::Exhausted;
    let current = conditions.iter().find(|c| c.type_ == EXHAUSTED);
    let reason = match e.state {
        EpisodeState::Exhausted if e.plans.iter().any(|p| p.state.declined()) => "PlanDeclined",
        EpisodeState::Exhausted => "MaxPlansReached",
        EpisodeState::Resolved => "EpisodeResolved",
        _ => "Planning",
    };
    let want = if exhausted { "True" } else { "False" };
    match current {
        None if !exhausted => None,
        Some(c) if c.status == want && c.reason == reason => None,
        _ => Some((exhausted, reason, e.message.clone())),
    }
}

/// How often a later breach alone (`lastBreach`) is worth a write: an episode
/// that goes on is analyzed at every violation, and its last breach is known
/// from the violations and samples between writes; the quiet resolution only
/// starts its scan of the samples there, so a stale one is harmless. Every ten
/// minutes: at 1,000 policies breaching at once, once a minute was about 17
/// writes/s against the API server (the reliability load class).
pub const LAST_BREACH_REFRESH_MS: Millis = 600_000;

/// Whether the episode the status shows (`written`) must be written as `now`:
/// anything but a later `lastBreach` or the message changed, or `lastBreach`
/// moved by [`LAST_BREACH_REFRESH_MS`]. A message alone waits for that refresh:
/// a new episode's "accepted as a breach; no plan yet" becomes "the episode has
/// had no plan yet" at the next analysis, which at 1,000 policies breaching at
/// once was a second round of 1,000 writes (the reliability load class).
pub fn worth_writing(written: Option<&PolicyEpisode>, now: &PolicyEpisode) -> bool {
    let Some(written) = written else {
        return true;
    };
    let moved = now.last_breach.0.as_millisecond() - written.last_breach.0.as_millisecond();
    let same = PolicyEpisode {
        last_breach: written.last_breach.clone(),
        message: written.message.clone(),
        ..now.clone()
    };
    same != *written || moved >= LAST_BREACH_REFRESH_MS
}
