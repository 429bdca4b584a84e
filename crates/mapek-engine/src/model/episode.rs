//! Breach episodes as data: an [`Episode`] of a policy, its plans and states, and
//! the [`EpisodeMark`] a breach carries (the rules are in [`crate::episode`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Millis;

/// Where an episode stands.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum EpisodeState {
    /// Accepted as a breach; no plan yet.
    #[default]
    Breaching,
    /// A plan of the episode is open, or one ran and a next one may follow.
    Planned,
    /// No more plans until the episode ends: `maxPlansPerEpisode` reached, or a
    /// plan was rejected or expired.
    Exhausted,
    /// The metric has been within its threshold for the resolve period.
    Resolved,
}

/// What became of one plan of an episode.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum EpisodePlanState {
    /// Waiting for approval, or approved and running.
    #[default]
    Open,
    /// Executed to the end (whether or not it helped: the episode tells).
    Executed,
    /// Its execution failed or was rolled back.
    Failed,
    /// A human rejected it.
    Rejected,
    /// Nobody approved it in time.
    Expired,
}

impl EpisodePlanState {
    /// A human said no, or nobody answered: the episode is not planned again.
    pub fn declined(self) -> bool {
        matches!(self, EpisodePlanState::Rejected | EpisodePlanState::Expired)
    }
}

/// One plan of an episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EpisodePlan {
    /// The plan's name (the RemediationPolicy's, or the plan hash).
    pub name: String,
    /// When it was proposed.
    pub at_ms: Millis,
    /// The breach's recent level when it was proposed (the worsening bar's
    /// reference).
    pub level: f64,
    pub state: EpisodePlanState,
    /// When it closed (executed, failed, rejected or expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_ms: Option<Millis>,
    /// It was allowed because the breach worsened past the bar.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worsened: bool,
    /// Its action types, in order (an escalation tries others, or a larger
    /// scale step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<super::ActionType>,
}

/// One breach episode of a policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Episode {
    pub policy: String,
    /// The first evaluation the judge accepted as a breach.
    pub since_ms: Millis,
    /// The latest evaluation over the threshold.
    pub last_breach_ms: Millis,
    pub state: EpisodeState,
    /// Its plans, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<EpisodePlan>,
    /// The most plans it may have (the policy's `maxPlansPerEpisode`).
    pub max_plans: u32,
    /// When it ended (Resolved only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<Millis>,
    /// The state in one sentence.
    pub message: String,
}

impl Episode {
    /// Records `plan`, proposed now on a breach whose episode mark is `mark`
    /// (its recent level and whether the worsening bar allowed it; the plan's
    /// breach level `level` when there is no mark), with its action types.
    pub fn record(
        &mut self,
        plan: &super::RemediationPlan,
        mark: Option<&EpisodeMark>,
        level: f64,
        now: Millis,
    ) {
        self.record_plan(
            &plan.object_name(),
            now,
            mark.and_then(|m| m.level).unwrap_or(level),
            mark.is_some_and(|m| m.worsened),
        );
        if let Some(p) = self.plans.last_mut() {
            p.actions = plan.actions.iter().map(|a| a.action_type).collect();
        }
    }

    /// The envelope an escalation of this episode may use: the action types
    /// its earlier plans used are left out, except SCALE_UP, which escalates by
    /// a larger step (its replicas start from what the last plan set). The
    /// envelope itself when the episode has no plan yet.
    pub fn escalation_envelope(
        &self,
        envelope: &super::RemediationEnvelope,
    ) -> super::RemediationEnvelope {
        use super::ActionType;
        let tried: Vec<ActionType> = self
            .plans
            .iter()
            .flat_map(|p| p.actions.iter().copied())
            .filter(|a| *a != ActionType::ScaleUp)
            .collect();
        let mut out = envelope.clone();
        if self.is_resolved() {
            return out;
        }
        out.allowed_actions.retain(|a| !tried.contains(a));
        out
    }

    /// Whether the episode is over: Resolved.
    pub fn is_resolved(&self) -> bool {
        self.state == EpisodeState::Resolved
    }

    /// Records a plan proposed now at the breach's recent `level`; `worsened`
    /// when the worsening bar allowed it.
    pub fn record_plan(&mut self, name: &str, now: Millis, level: f64, worsened: bool) {
        self.plans.push(EpisodePlan {
            name: name.to_string(),
            at_ms: now,
            level,
            state: EpisodePlanState::Open,
            closed_ms: None,
            worsened,
            actions: Vec::new(),
        });
        self.state = EpisodeState::Planned;
        self.message = format!(
            "plan {} of at most {} proposed: {name}",
            self.plans.len(),
            self.max_plans
        );
    }
}

/// What a breach's episode let it do, as its breach carries it (and the plan's
/// evidence with it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EpisodeMark {
    /// When the episode began.
    pub since_ms: Millis,
    /// Plans the episode had before this analysis.
    pub plans: u32,
    pub max_plans: u32,
    pub state: EpisodeState,
    /// Why a plan may, or may not, follow now.
    pub reason: String,
    /// The breach's recent level (the median of its latest evaluations), which
    /// a plan made now records as the worsening bar's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
    /// A plan now would be allowed by the worsening bar.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worsened: bool,
}
