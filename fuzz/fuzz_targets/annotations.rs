//! The annotations people write on a plan (`mapek.io/approve`, `reject`,
//! `approved-by`, `storm-brake-override`, `episode-since`, and any other), over
//! every approval state the plan's status can be in. The executor must reject
//! when `reject` is set, approve only the exact hash of unedited content, record
//! the `approved-by` it was given, and never start or patch otherwise; the
//! kubectl plugin's text and review page must show every value escaped.

#![no_main]

use arbitrary::Arbitrary;
use kubectl_mapek::review::pages::{PlanPage, plan as plan_page};
use libfuzzer_sys::fuzz_target;
use mapek::controllers::executor::decide::Step;
use mapek_api::{
    APPROVE_ANNOTATION, APPROVED_BY_ANNOTATION, ApprovalState, ExecutionPhase, REJECT_ANNOTATION,
    RemediationPolicyStatus, STORM_BRAKE_OVERRIDE_ANNOTATION,
};
use mapek_engine::plan::plan_hash;
use mapek_fuzz::{Annotations, assert_escaped, drive, plan, policy, scale};

/// An annotation value: the plan's hash, near misses of it, or any text.
#[derive(Arbitrary, Debug)]
enum Hash {
    Exact,
    Padded,
    Upper,
    Prefix(u8),
    Text(String),
}

impl Hash {
    fn text(&self, hash: &str) -> String {
        match self {
            Hash::Exact => hash.to_string(),
            Hash::Padded => format!(" {hash}\n"),
            Hash::Upper => hash.to_uppercase(),
            Hash::Prefix(n) => hash
                .chars()
                .take(usize::from(*n) % (hash.len() + 1))
                .collect(),
            Hash::Text(t) => t.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    approve: Option<Hash>,
    reject: Option<String>,
    approved_by: Option<String>,
    storm_override: Option<Hash>,
    episode_since: Option<String>,
    other: Vec<(String, String)>,
    /// None: no status yet; else Pending, Approved, Rejected or Expired.
    approval: Option<u8>,
    approved_hash: Option<Hash>,
    approval_message: Option<String>,
    /// The plan's content changed after it was hashed.
    edited: bool,
    auto: bool,
    low_risk: bool,
    to: u8,
}

fuzz_target!(|input: Input| {
    let risk = if input.low_risk { "Low" } else { "Medium" };
    let mut rp = plan(vec![scale("a1", true, i64::from(input.to % 8))], risk);
    let hash = rp.spec.plan.plan_hash.clone();
    let mut set = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            rp.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(k.into(), v);
        }
    };
    for (k, v) in input.other.iter().take(4) {
        set(k, Some(v.clone()));
    }
    set(
        APPROVE_ANNOTATION,
        input.approve.as_ref().map(|h| h.text(&hash)),
    );
    set(REJECT_ANNOTATION, input.reject.clone());
    set(APPROVED_BY_ANNOTATION, input.approved_by.clone());
    set(
        STORM_BRAKE_OVERRIDE_ANNOTATION,
        input.storm_override.as_ref().map(|h| h.text(&hash)),
    );
    set("mapek.io/episode-since", input.episode_since.clone());
    if let Some(a) = input.approval {
        let approval = [
            ApprovalState::Pending,
            ApprovalState::Approved,
            ApprovalState::Rejected,
            ApprovalState::Expired,
        ][usize::from(a) % 4];
        rp.status = Some(RemediationPolicyStatus {
            approval,
            approved_hash: input.approved_hash.as_ref().map(|h| h.text(&hash)),
            approval_message: input.approval_message.clone(),
            phase: ExecutionPhase::Pending,
            ..Default::default()
        });
    }
    if input.edited {
        rp.spec.plan.expected_impact += " (edited)";
    }
    let vp = policy(if input.auto { "AutoLowRisk" } else { "Manual" });
    let steps = drive(&rp, &vp, 3);

    let approve = rp.annotations_get(APPROVE_ANNOTATION);
    let status = rp.status.clone().unwrap_or_default();
    let open = matches!(
        status.approval,
        ApprovalState::Pending | ApprovalState::Approved
    );
    if open && rp.annotations_get(REJECT_ANNOTATION).is_some() {
        assert!(
            matches!(steps[0], Step::Reject { .. }),
            "reject set: {:?}",
            steps[0]
        );
    }
    let edited = plan_hash(&rp.spec.plan) != hash;
    for step in &steps {
        if let Step::Approve { auto, by, .. } = step {
            assert!(!edited, "an edited plan approved");
            match auto {
                false => {
                    assert_eq!(approve, Some(hash.as_str()));
                    assert_eq!(by.as_deref(), rp.annotations_get(APPROVED_BY_ANNOTATION));
                }
                true => assert!(input.auto && input.low_risk && approve.is_none()),
            }
        }
        if matches!(
            step,
            Step::Start | Step::WriteAhead { .. } | Step::Apply { .. }
        ) {
            let approved_before = status.approval == ApprovalState::Approved
                && status.approved_hash.as_deref() == Some(hash.as_str());
            assert!(
                !edited
                    && (approve == Some(hash.as_str())
                        || (input.auto && input.low_risk)
                        || approved_before),
                "{step:?} without an approval of this plan"
            );
        }
    }

    let text = kubectl_mapek::explain(&rp);
    assert!(!text.is_empty());
    // Every value that could open a tag is escaped: the page does not hold it
    // unless the same page with plain values holds it too.
    let page = review_page(&rp);
    let mut plain = rp.clone();
    plain
        .metadata
        .annotations
        .iter_mut()
        .flat_map(|a| a.values_mut())
        .for_each(|v| *v = "x".into());
    if let Some(s) = plain.status.as_mut() {
        s.approval_message = s.approval_message.as_ref().map(|_| "x".into());
    }
    let baseline = review_page(&plain);
    let values = rp.metadata.annotations.iter().flat_map(|a| a.values());
    for v in values.chain(status.approval_message.as_ref()) {
        if !baseline.contains(v.as_str()) {
            assert_escaped(&page, v);
        }
    }
});

fn review_page(rp: &mapek_api::RemediationPolicy) -> String {
    plan_page(&PlanPage {
        rp,
        chart: Err("no chart".into()),
        ttl_ms: Some(3_600_000),
        problems: vec![],
        token: "token",
        flash: None,
        now_ms: mapek_fuzz::CREATED_MS,
    })
}
