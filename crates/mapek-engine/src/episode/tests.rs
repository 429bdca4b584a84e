//! The episode rule, one case per clause.

use super::*;
use crate::model::EpisodePlan;

const MIN: Millis = 60_000;

fn breach(actionable: bool, current: bool) -> Breach {
    Breach {
        policy: "lat".into(),
        target: "web".into(),
        current,
        run: if current { 4 } else { 0 },
        stands_out: actionable,
        shared: false,
        actionable,
        level: 2.0,
        threshold: 1.0,
        operator: ComparisonOperator::GreaterThan,
        baseline: None,
        excess_z: None,
        margin_z: None,
        baseline_duty: None,
        novel: None,
        previous_peak: None,
        long_z: None,
        interval_ms: 30_000,
        last_at_ms: 0,
        run_start_ms: None,
        reason: "judged".into(),
        load: None,
        change: None,
        episode: None,
    }
}

fn evals(now: Millis, last_breach: Millis, level: f64) -> Evaluations {
    Evaluations {
        last_breach_ms: Some(last_breach),
        last_ms: now,
        recent_level: Some(level),
        resolved_at: None,
    }
}

fn run(prev: Option<&Episode>, b: &mut Breach, now: Millis, level: f64) -> Option<Episode> {
    let last_breach = if b.current { now } else { now - 30_000 };
    step(
        prev,
        b,
        evals(now, last_breach, level),
        PolicyEpisodeSettings::default(),
        &EpisodeConfig::default(),
        now,
    )
}

/// An episode that began at 0 with its plans closed `state` at `closed`.
fn with_plans(plans: &[(EpisodePlanState, Millis, f64)]) -> Episode {
    Episode {
        policy: "lat".into(),
        since_ms: 0,
        last_breach_ms: 0,
        state: EpisodeState::Planned,
        plans: plans
            .iter()
            .enumerate()
            .map(|(i, &(state, closed, level))| EpisodePlan {
                name: format!("p{}", i + 1),
                at_ms: closed - MIN,
                level,
                state,
                closed_ms: Some(closed),
                worsened: false,
                actions: Vec::new(),
            })
            .collect(),
        max_plans: 2,
        ended_ms: None,
        message: String::new(),
    }
}

#[test]
fn an_actionable_breach_begins_an_episode_and_others_do_not() {
    let mut b = breach(true, true);
    let e = run(None, &mut b, 10 * MIN, 2.0).expect("an episode begins");
    assert_eq!(
        (e.since_ms, e.state, e.plans.len()),
        (10 * MIN, EpisodeState::Breaching, 0)
    );
    assert!(b.actionable);
    assert_eq!(b.episode.as_ref().map(|m| m.plans), Some(0));
    let mut quiet = breach(false, true);
    assert_eq!(run(None, &mut quiet, 10 * MIN, 2.0), None);
    assert!(!quiet.actionable);
}

#[test]
fn an_executed_plan_is_followed_by_one_escalation_after_stabilization_then_exhausted() {
    let one = with_plans(&[(EpisodePlanState::Executed, 20 * MIN, 2.0)]);
    // Inside the stabilization window: wait, even if the judge would plan.
    let mut b = breach(true, true);
    let e = run(Some(&one), &mut b, 21 * MIN, 2.0).expect("goes on");
    assert!(!b.actionable, "{}", b.reason);
    assert_eq!(e.state, EpisodeState::Planned);
    // After it, the breach going on is enough: it no longer has to stand out.
    let mut b = breach(false, true);
    run(Some(&one), &mut b, 23 * MIN, 2.0).expect("goes on");
    assert!(b.actionable, "{}", b.reason);
    assert!(b.reason.starts_with("escalation"), "{}", b.reason);
    // Two plans: exhausted, whatever the judge says.
    let two = with_plans(&[
        (EpisodePlanState::Executed, 20 * MIN, 2.0),
        (EpisodePlanState::Executed, 40 * MIN, 2.0),
    ]);
    let mut b = breach(true, true);
    let e = run(Some(&two), &mut b, 60 * MIN, 2.5).expect("goes on");
    assert!(!b.actionable);
    assert_eq!(e.state, EpisodeState::Exhausted);
    assert!(b.reason.contains("exhausted"), "{}", b.reason);
}

#[test]
fn a_rejected_or_expired_plan_ends_the_planning_of_its_episode() {
    for state in [EpisodePlanState::Rejected, EpisodePlanState::Expired] {
        let e = with_plans(&[(state, 20 * MIN, 2.0)]);
        let mut b = breach(true, true);
        let after = run(Some(&e), &mut b, 40 * MIN, 2.2).expect("goes on");
        assert!(!b.actionable, "{state:?}");
        assert_eq!(after.state, EpisodeState::Exhausted);
    }
}

#[test]
fn a_breach_that_worsens_past_the_bar_gets_one_more_plan_once() {
    // The last plan at 2.0 (1.0 beyond a threshold of 1.0): 3.0 is twice as far.
    let two = with_plans(&[
        (EpisodePlanState::Executed, 20 * MIN, 1.5),
        (EpisodePlanState::Executed, 40 * MIN, 2.0),
    ]);
    let mut b = breach(true, true);
    run(Some(&two), &mut b, 60 * MIN, 2.9).expect("goes on");
    assert!(!b.actionable, "1.9x is under the bar");
    let mut b = breach(true, true);
    run(Some(&two), &mut b, 60 * MIN, 3.0).expect("goes on");
    assert!(b.actionable);
    assert!(b.episode.as_ref().is_some_and(|m| m.worsened));
    assert!(b.reason.starts_with("worsened"), "{}", b.reason);
    // Once the worsened plan is recorded, no other.
    let mut three = two.clone();
    three.record_plan("p3", 60 * MIN, 3.0, true);
    three.plans[2].state = EpisodePlanState::Executed;
    three.plans[2].closed_ms = Some(61 * MIN);
    let mut b = breach(true, true);
    run(Some(&three), &mut b, 80 * MIN, 9.0).expect("goes on");
    assert!(!b.actionable);
}

#[test]
fn an_episode_ends_at_the_first_evaluation_a_resolve_period_within_the_threshold() {
    let at = |m: Millis| m * MIN;
    // Breaking at 0..=10 min, a 4 min dip, breaking again, then quiet from 20.
    let mut evals: Vec<(Millis, bool)> = (0..=10).map(|m| (at(m), true)).collect();
    evals.extend((11..=14).map(|m| (at(m), false)));
    evals.extend((15..=19).map(|m| (at(m), true)));
    evals.extend((20..=30).map(|m| (at(m), false)));
    // Resolve period 5 min: the 4 min dip keeps it, 19 + 5 ends it.
    assert_eq!(resolved_at(evals.iter().copied(), 0, 5 * MIN), Some(at(24)));
    // 3 min: the dip ended it.
    assert_eq!(resolved_at(evals.iter().copied(), 0, 3 * MIN), Some(at(13)));
    // Evaluations before the episode began are not read.
    assert_eq!(
        resolved_at(evals.iter().copied(), at(15), 5 * MIN),
        Some(at(24))
    );
    // A gap in the data is no recovery.
    let gap = [(0, true), (at(30), true)];
    assert_eq!(resolved_at(gap, 0, 5 * MIN), None);
}

#[test]
fn a_resolved_episode_is_followed_by_a_new_one_on_a_new_breach() {
    let two = with_plans(&[
        (EpisodePlanState::Executed, 20 * MIN, 2.0),
        (EpisodePlanState::Executed, 40 * MIN, 2.0),
    ]);
    let resolved = Evaluations {
        resolved_at: Some(61 * MIN),
        ..evals(61 * MIN, 56 * MIN, 2.0)
    };
    let mut b = breach(false, false);
    let cfg = EpisodeConfig::default();
    let e = step(
        Some(&two),
        &mut b,
        resolved,
        PolicyEpisodeSettings::default(),
        &cfg,
        61 * MIN,
    )
    .expect("shown resolved");
    assert_eq!(
        (e.state, e.ended_ms),
        (EpisodeState::Resolved, Some(61 * MIN))
    );
    // Resolved in between, breaking again: a new episode with its own plan.
    let mut b = breach(true, true);
    let again = Evaluations {
        resolved_at: Some(61 * MIN),
        ..evals(70 * MIN, 70 * MIN, 2.0)
    };
    let fresh = step(
        Some(&two),
        &mut b,
        again,
        PolicyEpisodeSettings::default(),
        &cfg,
        70 * MIN,
    )
    .expect("a new episode");
    assert_eq!((fresh.since_ms, fresh.plans.len()), (70 * MIN, 0));
    assert!(b.actionable);
    // Not resolved: the exhausted episode goes on, whatever the judge says.
    let mut b = breach(true, true);
    let e = run(Some(&two), &mut b, 70 * MIN, 2.0).expect("goes on");
    assert_eq!(e.state, EpisodeState::Exhausted);
    assert!(!b.actionable);
}

#[test]
fn a_policy_may_allow_more_plans_per_episode() {
    let two = with_plans(&[
        (EpisodePlanState::Executed, 20 * MIN, 2.0),
        (EpisodePlanState::Failed, 40 * MIN, 2.0),
    ]);
    let mut b = breach(true, true);
    step(
        Some(&two),
        &mut b,
        evals(60 * MIN, 60 * MIN, 2.0),
        PolicyEpisodeSettings {
            resolve_ms: None,
            max_plans: Some(3),
        },
        &EpisodeConfig::default(),
        60 * MIN,
    )
    .expect("goes on");
    assert!(b.actionable, "{}", b.reason);
}

#[test]
fn an_escalation_tries_another_action_or_a_larger_scale_step() {
    use crate::model::{ActionType, RemediationEnvelope};
    let envelope = RemediationEnvelope {
        allowed_actions: vec![ActionType::RestartService, ActionType::ScaleUp],
        ..RemediationEnvelope::default()
    };
    let mut e = with_plans(&[(EpisodePlanState::Executed, 20 * MIN, 2.0)]);
    e.plans[0].actions = vec![ActionType::RestartService];
    // The restart was tried: only scaling is left.
    assert_eq!(
        e.escalation_envelope(&envelope).allowed_actions,
        [ActionType::ScaleUp]
    );
    // A scale-up escalates by a larger step: it stays allowed.
    e.plans[0].actions = vec![ActionType::ScaleUp];
    assert_eq!(e.escalation_envelope(&envelope), envelope);
    // A resolved episode restricts nothing.
    e.plans[0].actions = vec![ActionType::RestartService];
    e.state = EpisodeState::Resolved;
    assert_eq!(e.escalation_envelope(&envelope), envelope);
}
