//! Breach episodes: one incident, one plan. An episode begins at the first
//! evaluation the judge accepts as a breach (actionable) and ends only once the
//! metric has been within its threshold for the policy's resolve period
//! (`keepFiringFor`, like Prometheus' `keep_firing_for`): a dip shorter than that
//! does not end it. Inside an episode:
//! - the first plan is the judge's (the breach was accepted);
//! - while a plan of the episode is open, no other;
//! - after a plan was executed and the breach went on past the stabilization
//!   window, one more plan may follow (an escalation), up to the policy's
//!   `maxPlansPerEpisode` plans in all (default 2);
//! - a plan a human rejected, or one that expired, counts against the episode and
//!   ends its planning: nobody is asked again about the same incident;
//! - once no more plans may come the episode is **Exhausted** until it ends.
//!   One exception, once per episode: the breach worsens past the bar (its
//!   recent level at least [`EpisodeConfig::worsen_factor`] times as far beyond
//!   the threshold as the level at the episode's last plan). Then one more plan is
//!   allowed, and its breach says why.
//!
//! The state is plain data ([`Episode`]): the operator keeps it in the policy's
//! status and passes it back in, the replay of `make decisions` carries it from
//! one evaluation to the next. [`step`] is the one rule both run.

#[cfg(test)]
mod tests;

pub use crate::config::EpisodeConfig;
use crate::decimal::Fixed;
use crate::input::AnalysisContext;
use crate::judge::Breach;
use crate::model::{
    ComparisonOperator, Episode, EpisodeMark, EpisodePlanState, EpisodeState, Millis, PolicyInfo,
};
use crate::stats::median_of;

/// A policy's own episode settings over the defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PolicyEpisodeSettings {
    pub resolve_ms: Option<Millis>,
    pub max_plans: Option<u32>,
}

/// What [`step`] sees of the policy's evaluations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluations {
    /// The latest evaluation over the threshold, if any is known.
    pub last_breach_ms: Option<Millis>,
    /// The latest evaluation.
    pub last_ms: Millis,
    /// Median of the latest [`EpisodeConfig::recent_evaluations`] breaking
    /// evaluations (the level the worsening bar compares), if any.
    pub recent_level: Option<f64>,
    /// When the stored episode ended, if it did: the first time after it began
    /// that the metric had been within the threshold for the resolve period.
    pub resolved_at: Option<Millis>,
}

/// When an episode that began at `since_ms` ended, if it did: the first
/// evaluation within the threshold at least `resolve_ms` after the breaking
/// evaluation before it. `evaluations` are `(time, breaks)` in time order. A gap
/// in the data is no evidence of recovery: only an evaluation within the
/// threshold ends an episode.
pub fn resolved_at(
    evaluations: impl IntoIterator<Item = (Millis, bool)>,
    since_ms: Millis,
    resolve_ms: Millis,
) -> Option<Millis> {
    let resolve_ms = resolve_ms.max(1);
    let mut last_bad = since_ms;
    for (at, bad) in evaluations {
        if at < since_ms {
            continue;
        }
        if bad {
            last_bad = at;
        } else if at - last_bad >= resolve_ms {
            return Some(at);
        }
    }
    None
}

/// The episode rule on one policy's breach at `now`: given the episode the
/// policy had (`previous`, as stored), returns the episode it has now (`None`:
/// none began) and sets the breach's `actionable`, `reason` and `episode`.
/// Only a breach whose episode lets a plan follow stays (or becomes) actionable.
pub fn step(
    previous: Option<&Episode>,
    breach: &mut Breach,
    evals: Evaluations,
    settings: PolicyEpisodeSettings,
    config: &EpisodeConfig,
    now: Millis,
) -> Option<Episode> {
    let resolve_ms = settings.resolve_ms.unwrap_or(config.resolve_ms);
    let max_plans = settings.max_plans.unwrap_or(config.max_plans).max(1);
    let mut ended = None;
    if let Some(e) = previous.filter(|e| !e.is_resolved()) {
        let mut e = e.clone();
        match evals.resolved_at {
            Some(at) => {
                e.state = EpisodeState::Resolved;
                e.ended_ms = Some(at);
                e.message = format!(
                    "within the threshold for {}s after its last breach: the episode is over",
                    resolve_ms / 1000
                );
                ended = Some(e);
            }
            None => {
                e.last_breach_ms = e.last_breach_ms.max(evals.last_breach_ms.unwrap_or(0));
                return Some(continue_episode(e, breach, evals, max_plans, config, now));
            }
        }
    }
    let previous = ended.as_ref().or(previous);
    if !breach.actionable {
        // A resolved episode stays shown until another begins.
        return previous.cloned();
    }
    let episode = Episode {
        policy: breach.policy.clone(),
        since_ms: evals.last_ms,
        last_breach_ms: evals.last_breach_ms.unwrap_or(evals.last_ms),
        state: EpisodeState::Breaching,
        plans: Vec::new(),
        max_plans,
        ended_ms: None,
        message: "accepted as a breach; no plan yet".to_string(),
    };
    breach.episode = Some(mark(
        &episode,
        "a new episode: its first plan may follow",
        false,
        evals.recent_level,
    ));
    Some(episode)
}

/// An episode that goes on: whether its breach may get a plan now.
fn continue_episode(
    mut e: Episode,
    breach: &mut Breach,
    evals: Evaluations,
    max_plans: u32,
    config: &EpisodeConfig,
    now: Millis,
) -> Episode {
    e.max_plans = max_plans;
    let (allowed, worsened, exhausted, why) = match gate(&e, breach, evals, config, now) {
        Gate::Allow { worsened, why } => (true, worsened, false, why),
        Gate::Wait(why) => (false, false, false, why),
        Gate::Exhausted(why) => (false, false, true, why),
    };
    e.state = if exhausted {
        EpisodeState::Exhausted
    } else if e.plans.is_empty() {
        EpisodeState::Breaching
    } else {
        EpisodeState::Planned
    };
    e.message = why.clone();
    let actionable = allowed && breach.current && !breach.shared;
    if actionable && (!breach.actionable || !e.plans.is_empty()) {
        breach.reason = format!("{why}; {}", breach.reason);
    } else if !allowed && breach.actionable {
        breach.reason = format!("no plan: {why}");
    }
    breach.actionable = actionable;
    breach.episode = Some(mark(&e, &why, worsened, evals.recent_level));
    e
}

/// What an ongoing episode allows now.
enum Gate {
    Allow { worsened: bool, why: String },
    Wait(String),
    Exhausted(String),
}

fn gate(
    e: &Episode,
    breach: &Breach,
    evals: Evaluations,
    config: &EpisodeConfig,
    now: Millis,
) -> Gate {
    let Some(last) = e.plans.last() else {
        return Gate::Allow {
            worsened: false,
            why: "the episode has had no plan yet".to_string(),
        };
    };
    let n = e.plans.len();
    if last.state == EpisodePlanState::Open {
        return Gate::Wait(format!("plan {} of the episode ({}) is open", n, last.name));
    }
    let settled = last
        .closed_ms
        .is_none_or(|c| now >= c.saturating_add(config.stabilization_ms));
    if !settled {
        return Gate::Wait(format!(
            "plan {} of the episode ({}) closed less than {}s ago",
            n,
            last.name,
            config.stabilization_ms / 1000
        ));
    }
    let declined = e.plans.iter().find(|p| p.state.declined());
    let spent = n as u32 >= e.max_plans;
    if declined.is_none() && !spent {
        return Gate::Allow {
            worsened: false,
            why: format!(
                "escalation: the breach went on after plan {n} of the episode ({}); plan {} of at most {}",
                last.name,
                n + 1,
                e.max_plans
            ),
        };
    }
    let exhausted = match declined {
        Some(p) => format!(
            "exhausted: plan {} was {}; no other plan until the episode ends",
            p.name,
            if p.state == EpisodePlanState::Rejected {
                "rejected"
            } else {
                "left to expire"
            }
        ),
        None => format!(
            "exhausted: {n} of at most {} plans in this episode; no other plan until it ends",
            e.max_plans
        ),
    };
    match worsened(e, breach, evals, config) {
        Some(why) => Gate::Allow {
            worsened: true,
            why,
        },
        None => Gate::Exhausted(exhausted),
    }
}

/// The worsening bar, once per episode: the breach's recent level at least
/// `worsen_factor` times as far beyond the threshold as the level at the last
/// plan. Returns why, if it is passed.
fn worsened(
    e: &Episode,
    breach: &Breach,
    evals: Evaluations,
    config: &EpisodeConfig,
) -> Option<String> {
    if e.plans.iter().any(|p| p.worsened) {
        return None;
    }
    let last = e.plans.last()?;
    let level = evals.recent_level?;
    let sign = match breach.operator {
        ComparisonOperator::LessThan | ComparisonOperator::LessThanOrEqual => -1.0,
        _ => 1.0,
    };
    let now_beyond = sign * (level - breach.threshold);
    let then_beyond = sign * (last.level - breach.threshold);
    let bar = config.worsen_factor * then_beyond.max(0.0);
    (now_beyond > 0.0 && now_beyond >= bar && then_beyond > 0.0).then(|| {
        format!(
            "worsened: the level {level} is {}x as far beyond the threshold {} as {} at plan {} (the bar is {}x); one more plan",
            Fixed(now_beyond / then_beyond, 1),
            Fixed(breach.threshold, 4),
            Fixed(last.level, 4),
            last.name,
            Fixed(config.worsen_factor, 1), level = Fixed(level, 4))
    })
}

fn mark(e: &Episode, reason: &str, worsened: bool, level: Option<f64>) -> EpisodeMark {
    EpisodeMark {
        level,
        since_ms: e.since_ms,
        plans: e.plans.len() as u32,
        max_plans: e.max_plans,
        state: e.state,
        reason: reason.to_string(),
        worsened,
    }
}

/// The episode rule over an analysis' breaches: each breach's episode from
/// `previous` (by policy) is stepped with what the policy's evaluations show;
/// returns the episodes now, by policy name.
pub fn apply(
    ctx: &AnalysisContext<'_>,
    breaches: &mut [Breach],
    policies: &[PolicyInfo],
    previous: &[Episode],
    config: &EpisodeConfig,
) -> Vec<Episode> {
    let mut out = Vec::new();
    for b in breaches.iter_mut() {
        let before = previous.iter().find(|e| e.policy == b.policy);
        let info = policies.iter().find(|p| p.name == b.policy);
        let settings = PolicyEpisodeSettings {
            resolve_ms: info.and_then(|p| p.keep_firing_for_ms),
            max_plans: info.and_then(|p| p.max_plans_per_episode),
        };
        let resolve_ms = settings.resolve_ms.unwrap_or(config.resolve_ms);
        let evals = evaluations(ctx, b, before, resolve_ms, config.recent_evaluations);
        if let Some(e) = step(before, b, evals, settings, config, ctx.now) {
            out.push(e);
        }
    }
    out.sort_by(|a, b| a.policy.cmp(&b.policy));
    out
}

/// What the policy's evaluations show of its breach: the latest breaking
/// evaluation and the median of the latest `recent` breaking ones (from the
/// samples of the analysis window, or its violations without samples), and
/// whether the stored episode has ended since (from the samples of the long
/// memory; without samples, once the breach is not current and its last
/// violation is `resolve_ms` old).
fn evaluations(
    ctx: &AnalysisContext<'_>,
    b: &Breach,
    stored: Option<&Episode>,
    resolve_ms: Millis,
    recent: usize,
) -> Evaluations {
    let samples = ctx.samples_of(&b.policy);
    // The breaking samples, latest first, and the latest violation when it
    // is later than all of them.
    let bad = || {
        samples
            .iter()
            .rev()
            .filter(|s| b.operator.violates(s.value, b.threshold))
            .map(|s| (s.at_ms, s.value))
    };
    let latest_sample = bad().next();
    let later_violation = ctx
        .policies
        .id(&b.policy)
        .and_then(|id| ctx.policies.members[id as usize].last())
        .map(|&i| ctx.violation(i))
        .filter(|v| latest_sample.is_none_or(|l| l.0 < v.at_ms))
        .map(|v| (v.at_ms, v.value));
    let last_breach_ms = later_violation.or(latest_sample).map(|l| l.0);
    let tail = || {
        later_violation
            .into_iter()
            .chain(bad())
            .take(recent.max(1))
            .map(|l| l.1)
    };
    let resolved = stored.filter(|e| !e.is_resolved()).and_then(|e| {
        let history = ctx.history_of(&b.policy);
        if history.is_empty() {
            let last = last_breach_ms.unwrap_or(e.since_ms);
            let quiet = !b.current && ctx.now - last >= resolve_ms.max(1);
            return quiet.then_some(ctx.now);
        }
        let evaluations = history
            .iter()
            .map(|s| (s.at_ms, b.operator.violates(s.value, b.threshold)));
        resolved_at(evaluations, e.since_ms, resolve_ms)
    });
    Evaluations {
        last_breach_ms,
        last_ms: b.last_at_ms,
        recent_level: last_breach_ms.map(|_| median_of(tail())),
        resolved_at: resolved,
    }
}
