//! Reading a scenario: parsing the YAML, checking every field (naming the file,
//! the field and the reason of a failure) and converting the timeline into the
//! engine's violations, samples, context samples, outcome records, template
//! changes and breach episodes. [`Scenario::parse`] runs one named step per part
//! of the file, in the file's order.

use std::collections::BTreeSet;
use std::path::Path;

use super::file::{ScenarioEpisode, ScenarioFile, ScenarioPolicy, ScenarioSeries};
use super::{Scenario, ScenarioError, check_envelope};
use crate::config::EpisodeConfig;
use crate::model::{
    ContextKind, ContextSample, Episode, EpisodePlan, EpisodePlanState, EpisodeState, FieldChange,
    MetricSample, Millis, SharedStr, TemplateChange, Violation,
};

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            field: "-".into(),
            reason: format!("cannot read the file: {e}"),
        })?;
        Scenario::parse(path, &text)
    }

    /// Parses and checks scenario text; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = serde_saphyr::from_str(text).map_err(|e| {
            let field = match e.location() {
                Some(l) => format!("line {} column {}", l.line(), l.column()),
                None => "-".into(),
            };
            error(path, field, parser_reason(&e.without_snippet().to_string()))
        })?;
        let start = file
            .start
            .parse::<jiff::Timestamp>()
            .map_err(|e| error(path, "start".into(), format!("not an RFC 3339 time: {e}")))?
            .as_millisecond();
        let r = Reader {
            path,
            file: &file,
            start,
        };
        r.policies()?;
        let violations = r.violations()?;
        let samples = r.series()?;
        let context = r.context()?;
        let now = r.now(&violations, &samples)?;
        r.expect()?;
        let outcomes = r.outcomes()?;
        let changes = r.changes()?;
        let episodes = r.episodes(now)?;
        Ok(Scenario {
            description: file.description,
            policies: file.policies,
            violations,
            samples,
            context,
            now,
            expect: file.expect,
            outcomes,
            changes,
            episodes,
        })
    }
}

fn error(path: &Path, field: String, reason: String) -> ScenarioError {
    ScenarioError {
        file: path.to_path_buf(),
        field,
        reason,
    }
}

/// The parsed file and its start time, with the checks every step shares.
struct Reader<'a> {
    path: &'a Path,
    file: &'a ScenarioFile,
    start: Millis,
}

impl Reader<'_> {
    fn err(&self, field: String, reason: String) -> ScenarioError {
        error(self.path, field, reason)
    }

    /// Seconds after `start` as a time.
    fn at(&self, field: String, t: f64) -> Result<Millis, ScenarioError> {
        if !(0.0..=1e10).contains(&t) {
            return Err(self.err(
                field,
                format!("{t} is not a number of seconds between 0 and 1e10"),
            ));
        }
        Ok(self.start.saturating_add((t * 1000.0).round() as i64))
    }

    fn finite(&self, field: String, v: f64) -> Result<f64, ScenarioError> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.err(field, format!("{v} is not a finite number")))
        }
    }

    fn policy(&self, field: String, name: &str) -> Result<&ScenarioPolicy, ScenarioError> {
        self.file
            .policies
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| self.err(field, format!("unknown policy {name:?}")))
    }

    /// The policy that targets Deployment `target`.
    fn targeting(&self, field: String, target: &str) -> Result<&ScenarioPolicy, ScenarioError> {
        self.file
            .policies
            .iter()
            .find(|p| p.target == target)
            .ok_or_else(|| self.err(field, format!("no policy targets Deployment {target:?}")))
    }

    /// `policies`: at least one, names unique, every field in range.
    fn policies(&self) -> Result<(), ScenarioError> {
        if self.file.policies.is_empty() {
            return Err(self.err("policies".into(), "at least one policy is required".into()));
        }
        let mut names = BTreeSet::new();
        for (i, p) in self.file.policies.iter().enumerate() {
            let field = |name: &str| format!("policies[{i}].{name}");
            if p.name.is_empty() {
                return Err(self.err(field("name"), "must not be empty".into()));
            }
            if !names.insert(p.name.as_str()) {
                return Err(self.err(field("name"), format!("duplicate policy {:?}", p.name)));
            }
            if p.target.is_empty() {
                return Err(self.err(field("target"), "must not be empty".into()));
            }
            self.finite(field("threshold"), p.threshold)?;
            if p.current_replicas < 0 {
                return Err(self.err(field("currentReplicas"), "must not be negative".into()));
            }
            check_envelope(&p.remediation).map_err(|(f, reason)| {
                self.err(format!("policies[{i}].remediation.{f}"), reason)
            })?;
            self.policy_durations(i, p)?;
        }
        Ok(())
    }

    /// A policy's `interval`, `for`, `keepFiringFor` and `maxPlansPerEpisode`.
    fn policy_durations(&self, i: usize, p: &ScenarioPolicy) -> Result<(), ScenarioError> {
        let field = |name: &str| format!("policies[{i}].{name}");
        if let Some(v) = p.interval
            && !(v.is_finite() && v > 0.0)
        {
            return Err(self.err(
                field("interval"),
                format!("{v} is not a positive number of seconds"),
            ));
        }
        for (name, value) in [("for", p.for_seconds), ("keepFiringFor", p.keep_firing_for)] {
            if let Some(v) = value
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(self.err(field(name), format!("{v} is not a number of seconds >= 0")));
            }
        }
        if p.max_plans_per_episode == Some(0) {
            return Err(self.err(field("maxPlansPerEpisode"), "must be at least 1".into()));
        }
        Ok(())
    }

    /// `violations`: each of a known policy, at a time, with a finite value.
    fn violations(&self) -> Result<Vec<Violation>, ScenarioError> {
        let mut violations = Vec::with_capacity(self.file.violations.len());
        for (i, v) in self.file.violations.iter().enumerate() {
            let field = |name: &str| format!("violations[{i}].{name}");
            let p = self.policy(field("policy"), &v.policy)?;
            violations.push(Violation {
                id: v
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("{}-{i}", p.name))
                    .into(),
                policy: p.name.clone(),
                target: p.target.clone(),
                component: p.component.clone().unwrap_or_else(|| p.target.clone()),
                metric: p.metric.clone().unwrap_or_else(|| p.name.clone()),
                severity: p.severity,
                value: self.finite(field("value"), v.value)?,
                threshold: p.threshold,
                at_ms: self.at(field("t"), v.t)?,
            });
        }
        Ok(violations)
    }

    /// One series of `list` (`series`, `load`, `saturation`): its policy's
    /// name and its points, each a positive step after the last.
    fn points(
        &self,
        list: &str,
        i: usize,
        s: &ScenarioSeries,
    ) -> Result<(String, Vec<(Millis, f64)>), ScenarioError> {
        let field = |f: &str| format!("{list}[{i}].{f}");
        let p = self.policy(field("policy"), &s.policy)?;
        if !(s.step.is_finite() && s.step > 0.0) {
            return Err(self.err(field("step"), "must be a positive number of seconds".into()));
        }
        let mut out = Vec::with_capacity(s.values.len());
        for (j, value) in s.values.iter().enumerate() {
            out.push((
                self.at(field("start"), s.start + s.step * j as f64)?,
                self.finite(format!("{list}[{i}].values[{j}]"), *value)?,
            ));
        }
        Ok((p.name.clone(), out))
    }

    /// `series`: the policies' metric samples.
    fn series(&self) -> Result<Vec<MetricSample>, ScenarioError> {
        let mut samples = Vec::new();
        for (i, s) in self.file.series.iter().enumerate() {
            let (policy, out) = self.points("series", i, s)?;
            let policy = SharedStr::from(policy);
            samples.extend(out.into_iter().map(|(at_ms, value)| MetricSample {
                policy: policy.clone(),
                at_ms,
                value,
            }));
        }
        Ok(samples)
    }

    /// `load` and `saturation`: samples of the policies' context queries.
    fn context(&self) -> Result<Vec<ContextSample>, ScenarioError> {
        let mut context = Vec::new();
        for (list, kind, name) in [
            (&self.file.load, ContextKind::Load, "load"),
            (&self.file.saturation, ContextKind::Saturation, "saturation"),
        ] {
            for (i, s) in list.iter().enumerate() {
                let (policy, out) = self.points(name, i, s)?;
                let policy = SharedStr::from(policy);
                context.extend(out.into_iter().map(|(at_ms, value)| ContextSample {
                    policy: policy.clone(),
                    kind,
                    at_ms,
                    value,
                }));
            }
        }
        Ok(context)
    }

    /// `now`, or the last violation or sample (`start` without any).
    fn now(
        &self,
        violations: &[Violation],
        samples: &[MetricSample],
    ) -> Result<Millis, ScenarioError> {
        let last = violations
            .iter()
            .map(|v| v.at_ms)
            .chain(samples.iter().map(|s| s.at_ms))
            .max()
            .unwrap_or(self.start);
        match self.file.now {
            Some(t) => self.at("now".into(), t),
            None => Ok(last),
        }
    }

    /// `expect`: a target some policy has and an action, or `noPlan` alone.
    fn expect(&self) -> Result<(), ScenarioError> {
        let Some(e) = &self.file.expect else {
            return Ok(());
        };
        match (e.no_plan, &e.target, e.action) {
            (true, None, None) if e.replicas.is_none() => Ok(()),
            (true, _, _) => Err(self.err(
                "expect".into(),
                "noPlan: true takes no target or action".into(),
            )),
            (false, Some(t), Some(_)) => self.targeting("expect.target".into(), t).map(|_| ()),
            (false, _, _) => Err(self.err(
                "expect".into(),
                "give a target and an action, or noPlan: true".into(),
            )),
        }
    }

    /// `outcomes`: earlier remediations of a Deployment some policy targets.
    fn outcomes(&self) -> Result<Vec<crate::OutcomeRecord>, ScenarioError> {
        let mut outcomes = Vec::with_capacity(self.file.outcomes.len());
        for (i, o) in self.file.outcomes.iter().enumerate() {
            let target = o
                .target
                .clone()
                .unwrap_or_else(|| self.file.policies[0].target.clone());
            let policy = self.targeting(format!("outcomes[{i}].target"), &target)?;
            if o.actions.is_empty() {
                return Err(self.err(
                    format!("outcomes[{i}].actions"),
                    "at least one action type is required".into(),
                ));
            }
            outcomes.push(crate::OutcomeRecord {
                plan_name: format!("outcome-{i}"),
                plan_hash: String::new(),
                target,
                policy: policy.name.clone(),
                root_cause: o.root_cause,
                action_types: o.actions.clone(),
                violations_before: None,
                violations_after: None,
                resolved_count: 0,
                time_to_stabilization_seconds: None,
                outcome: o.outcome,
                success_confidence: 0.0,
                recorded_at_ms: self.at(format!("outcomes[{i}].t"), o.t)?,
                detail: None,
            });
        }
        Ok(outcomes)
    }

    /// `changes`: pod-template changes of Deployments some policy targets.
    fn changes(&self) -> Result<Vec<TemplateChange>, ScenarioError> {
        let mut changes = Vec::with_capacity(self.file.changes.len());
        for (i, c) in self.file.changes.iter().enumerate() {
            let field = |name: &str| format!("changes[{i}].{name}");
            self.targeting(field("target"), &c.target)?;
            if c.revision < 1 {
                return Err(self.err(field("revision"), "must be at least 1".into()));
            }
            if !(1..c.revision).contains(&c.previous_revision) {
                return Err(self.err(
                    field("previousRevision"),
                    format!(
                        "{} is not a revision between 1 and revision - 1 ({})",
                        c.previous_revision,
                        c.revision - 1
                    ),
                ));
            }
            let mut diff = Vec::with_capacity(c.diff.len());
            for (j, f) in c.diff.iter().enumerate() {
                if f.field.is_empty() {
                    return Err(self.err(
                        format!("changes[{i}].diff[{j}].field"),
                        "must not be empty".into(),
                    ));
                }
                diff.push(FieldChange {
                    field: f.field.clone(),
                    before: f.before.clone(),
                    after: f.after.clone(),
                });
            }
            changes.push(TemplateChange {
                target: c.target.clone(),
                at_ms: self.at(field("t"), c.t)?,
                revision: c.revision,
                previous_revision: c.previous_revision,
                diff,
            });
        }
        Ok(changes)
    }

    /// `episodes`: at most one per known policy.
    fn episodes(&self, now: Millis) -> Result<Vec<Episode>, ScenarioError> {
        let mut seen = BTreeSet::new();
        let mut episodes = Vec::with_capacity(self.file.episodes.len());
        for (i, e) in self.file.episodes.iter().enumerate() {
            let episode = self.episode(i, e, now)?;
            if !seen.insert(e.policy.as_str()) {
                return Err(self.err(
                    format!("episodes[{i}].policy"),
                    format!("a second episode of policy {:?}", e.policy),
                ));
            }
            episodes.push(episode);
        }
        Ok(episodes)
    }

    /// Episode `i`: of a known policy, its times in order and none after `now`.
    fn episode(
        &self,
        i: usize,
        e: &ScenarioEpisode,
        now: Millis,
    ) -> Result<Episode, ScenarioError> {
        let field = |name: &str| format!("episodes[{i}].{name}");
        let p = self.policy(field("policy"), &e.policy)?;
        let since_ms = self.at(field("since"), e.since)?;
        let last_breach_ms = match e.last_breach {
            Some(t) => self.at(field("lastBreach"), t)?,
            None => since_ms,
        };
        if last_breach_ms < since_ms {
            return Err(self.err(field("lastBreach"), "is before since".into()));
        }
        let ended_ms = self.episode_end(i, e, last_breach_ms)?;
        let plans = self.episode_plans(i, e, since_ms)?;
        let latest = plans
            .iter()
            .map(|p| p.closed_ms.unwrap_or(p.at_ms))
            .chain([last_breach_ms, ended_ms.unwrap_or(since_ms)])
            .max()
            .unwrap_or(since_ms);
        if latest > now {
            return Err(self.err(
                format!("episodes[{i}]"),
                format!(
                    "states what happened {}s after now",
                    (latest - now) as f64 / 1000.0
                ),
            ));
        }
        Ok(Episode {
            policy: p.name.clone(),
            since_ms,
            last_breach_ms,
            state: e.state,
            plans,
            max_plans: p
                .max_plans_per_episode
                .unwrap_or(EpisodeConfig::default().max_plans),
            ended_ms,
            message: format!("{:?}, as the scenario states it", e.state),
        })
    }

    /// When episode `i` ended: `endedAt`, of a Resolved episode only, not
    /// before its last breach.
    fn episode_end(
        &self,
        i: usize,
        e: &ScenarioEpisode,
        last_breach_ms: Millis,
    ) -> Result<Option<Millis>, ScenarioError> {
        let field = format!("episodes[{i}].endedAt");
        let Some(t) = e.ended_at else {
            return Ok(None);
        };
        if e.state != EpisodeState::Resolved {
            return Err(self.err(
                field,
                format!("only a Resolved episode has ended, not a {:?} one", e.state),
            ));
        }
        let end = self.at(field.clone(), t)?;
        if end < last_breach_ms {
            return Err(self.err(field, "is before lastBreach".into()));
        }
        Ok(Some(end))
    }

    /// The plans of episode `i`: each named, at or after `since` and after the
    /// plan before it, with a finite level, closed (if at all) not before it
    /// was proposed and only once it is no longer Open.
    fn episode_plans(
        &self,
        i: usize,
        e: &ScenarioEpisode,
        since_ms: Millis,
    ) -> Result<Vec<EpisodePlan>, ScenarioError> {
        let mut plans: Vec<EpisodePlan> = Vec::with_capacity(e.plans.len());
        for (j, p) in e.plans.iter().enumerate() {
            let field = |name: &str| format!("episodes[{i}].plans[{j}].{name}");
            if p.name.is_empty() {
                return Err(self.err(field("name"), "must not be empty".into()));
            }
            let at_ms = self.at(field("t"), p.t)?;
            if at_ms < since_ms {
                return Err(self.err(field("t"), "is before the episode's since".into()));
            }
            if plans.last().is_some_and(|prev| at_ms < prev.at_ms) {
                return Err(self.err(
                    field("t"),
                    format!("is before plans[{}].t: plans are oldest first", j - 1),
                ));
            }
            let closed_ms = match p.closed_at {
                None => None,
                Some(_) if p.state == EpisodePlanState::Open => {
                    return Err(self.err(field("closedAt"), "an Open plan has not closed".into()));
                }
                Some(t) => Some(self.at(field("closedAt"), t)?),
            };
            if closed_ms.is_some_and(|c| c < at_ms) {
                return Err(self.err(field("closedAt"), "is before the plan's t".into()));
            }
            plans.push(EpisodePlan {
                name: p.name.clone(),
                at_ms,
                level: self.finite(field("level"), p.level)?,
                state: p.state,
                closed_ms,
                worsened: p.worsened,
                actions: p.actions.clone(),
            });
        }
        Ok(plans)
    }
}

/// The parser's reason without its `error: line L column C:` prefix, which the
/// field already says, on one line.
fn parser_reason(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let reason = match first.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest,
        _ => first,
    };
    match reason.rsplit_once(" at line ") {
        Some((reason, _)) => reason.to_string(),
        None => reason.to_string(),
    }
}
