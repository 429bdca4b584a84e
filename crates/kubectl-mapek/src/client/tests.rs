//! Every command against a scripted API server (`tower-test`) that records the
//! requests it received.

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use crate::cli::Command;
use crate::error::PluginError;
use crate::fixtures::{RPS, outcome, plan};

use super::Plugin;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    content_type: String,
    body: Value,
}

/// Runs `command` against a server that answers `answer(method, path)` and
/// returns the result and the requests it received.
async fn run_against(
    command: Command,
    answer: impl Fn(&str, &str) -> (u16, Value) + Send + 'static,
) -> (Result<String, PluginError>, Vec<Seen>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let (method, path, content_type, body) = mapek_test_support::decode(request).await;
            let (code, reply) = answer(&method, &path);
            seen.push(Seen {
                method,
                path,
                content_type,
                body,
            });
            send.send_response(mapek_test_support::respond(code, &reply));
        }
        seen
    });
    let plugin = Plugin {
        client: Client::new(service, "shop"),
        namespace: "shop".into(),
    };
    let result = plugin.run(&command).await;
    drop(plugin);
    let seen = tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    (result, seen)
}

fn not_found(path: &str) -> (u16, Value) {
    (
        404,
        json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": "NotFound", "code": 404, "message": format!("{path} not found") }),
    )
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({ "apiVersion": "mapek.io/v1alpha1", "kind": kind,
            "metadata": { "resourceVersion": "1" }, "items": items })
}

const SSR: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

#[tokio::test]
async fn approve_patches_exactly_the_annotation_with_the_current_hash() {
    let (result, seen) = run_against(
        Command::Approve {
            plan: "fix-web".into(),
        },
        |method, path| match (method, path) {
            ("GET", p) if p == format!("{RPS}/fix-web") => {
                (200, plan("fix-web", "shop", Some("Pending")))
            }
            ("PATCH", p) if p == format!("{RPS}/fix-web") => {
                (200, plan("fix-web", "shop", Some("Pending")))
            }
            ("POST", SSR) => (
                201,
                json!({ "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                        "metadata": {}, "status": { "userInfo": { "username": "alice",
                        "groups": ["mapek-approvers", "system:authenticated"] } } }),
            ),
            (_, p) => not_found(p),
        },
    )
    .await;
    let text = result.unwrap();
    assert!(
        text.contains("approved by alice (plan hash 9f3c2a7b)"),
        "{text}"
    );
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        ("POST", SSR)
    );
    assert_eq!(seen[2].method, "PATCH");
    assert_eq!(seen[2].path, format!("{RPS}/fix-web"));
    assert_eq!(seen[2].content_type, "application/merge-patch+json");
    assert_eq!(
        seen[2].body,
        json!({ "metadata": { "annotations": {
            "mapek.io/approve": "9f3c2a7b", "mapek.io/approved-by": "alice" } } })
    );
}

#[tokio::test]
async fn without_self_subject_reviews_the_approval_names_nobody() {
    let (result, seen) = run_against(
        Command::Approve {
            plan: "fix-web".into(),
        },
        |method, path| match (method, path) {
            ("GET" | "PATCH", p) if p == format!("{RPS}/fix-web") => {
                (200, plan("fix-web", "shop", Some("Pending")))
            }
            (_, p) => not_found(p),
        },
    )
    .await;
    let text = result.unwrap();
    assert!(text.contains("approved (plan hash 9f3c2a7b)"), "{text}");
    assert_eq!(
        seen.last().unwrap().body,
        json!({ "metadata": { "annotations": { "mapek.io/approve": "9f3c2a7b" } } })
    );
}

#[tokio::test]
async fn a_plan_without_status_yet_counts_as_pending() {
    let (result, seen) = run_against(
        Command::Approve {
            plan: "fresh".into(),
        },
        |method, path| match method {
            "GET" | "PATCH" => (200, plan("fresh", "shop", None)),
            _ => not_found(path),
        },
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(seen.last().unwrap().method, "PATCH");
}

#[tokio::test]
async fn approving_or_rejecting_a_closed_plan_is_refused_without_a_write() {
    for (state, command) in [
        (
            "Approved",
            Command::Approve {
                plan: "fix-web".into(),
            },
        ),
        (
            "Rejected",
            Command::Approve {
                plan: "fix-web".into(),
            },
        ),
        (
            "Expired",
            Command::Reject {
                plan: "fix-web".into(),
                reason: "no".into(),
            },
        ),
    ] {
        let (result, seen) = run_against(command, move |method, path| match method {
            "GET" => (200, plan("fix-web", "shop", Some(state))),
            _ => not_found(path),
        })
        .await;
        let err = result.unwrap_err();
        assert!(matches!(err, PluginError::NotPending { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("is {state}, not Pending")),
            "{message}"
        );
        assert!(
            seen.iter().all(|s| s.method == "GET"),
            "no write for a {state} plan: {seen:?}"
        );
    }
}

#[tokio::test]
async fn reject_writes_the_reason() {
    let (result, seen) = run_against(
        Command::Reject {
            plan: "fix-web".into(),
            reason: "  capacity freeze until Monday ".into(),
        },
        |method, path| match method {
            "GET" | "PATCH" => (200, plan("fix-web", "shop", Some("Pending"))),
            _ => not_found(path),
        },
    )
    .await;
    assert_eq!(
        result.unwrap(),
        "RemediationPolicy fix-web rejected: capacity freeze until Monday\n"
    );
    let patch = seen.iter().find(|s| s.method == "PATCH").unwrap();
    assert_eq!(patch.content_type, "application/merge-patch+json");
    assert_eq!(
        patch.body,
        json!({ "metadata": { "annotations": { "mapek.io/reject": "capacity freeze until Monday" } } })
    );
}

#[tokio::test]
async fn an_empty_reason_is_refused_before_any_request() {
    let (result, seen) = run_against(
        Command::Reject {
            plan: "fix-web".into(),
            reason: "   ".into(),
        },
        |_, path| not_found(path),
    )
    .await;
    assert!(
        matches!(result, Err(PluginError::EmptyReason)),
        "{result:?}"
    );
    assert!(seen.is_empty(), "{seen:?}");
}

#[tokio::test]
async fn a_missing_plan_is_named_in_the_error() {
    let (result, _) = run_against(
        Command::Approve {
            plan: "nope".into(),
        },
        |_, path| not_found(path),
    )
    .await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "RemediationPolicy nope not found in namespace shop"
    );
}

#[tokio::test]
async fn plans_lists_one_namespace_or_all() {
    let items = vec![
        plan("fix-web", "shop", Some("Pending")),
        plan("old", "shop", Some("Approved")),
        plan("fix-api", "billing", None),
    ];
    let answer = move |method: &str, path: &str| match (method, path) {
        ("GET", RPS) => (200, list("RemediationPolicyList", items[..2].to_vec())),
        ("GET", "/apis/mapek.io/v1alpha1/remediationpolicies") => {
            (200, list("RemediationPolicyList", items.clone()))
        }
        (_, p) => not_found(p),
    };
    let (result, seen) = run_against(
        Command::Plans {
            all_namespaces: false,
        },
        answer.clone(),
    )
    .await;
    let text = result.unwrap();
    assert_eq!(seen.len(), 1);
    assert!(text.contains("fix-web") && !text.contains("old"), "{text}");
    assert!(!text.contains("NAMESPACE"), "{text}");
    let (result, seen) = run_against(
        Command::Plans {
            all_namespaces: true,
        },
        answer,
    )
    .await;
    let text = result.unwrap();
    assert_eq!(seen[0].path, "/apis/mapek.io/v1alpha1/remediationpolicies");
    assert!(text.starts_with("NAMESPACE"), "{text}");
    assert!(
        text.contains("billing") && text.contains("fix-api"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[tokio::test]
async fn insights_learn_from_the_outcomes() {
    let (result, seen) = run_against(
        Command::Insights {
            all_namespaces: false,
        },
        |method, path| match (method, path) {
            ("GET", "/apis/mapek.io/v1alpha1/namespaces/shop/policyoutcomes") => (
                200,
                list(
                    "PolicyOutcomeList",
                    vec![
                        outcome("a", "Success"),
                        outcome("b", "Success"),
                        outcome("c", "Degradation"),
                    ],
                ),
            ),
            (_, p) => not_found(p),
        },
    )
    .await;
    let text = result.unwrap();
    assert_eq!(seen.len(), 1);
    assert!(text.starts_with("Learned from 3 PolicyOutcomes"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("LoadSpike"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("SCALE_UP"), "{row}");
    assert!(row.trim_end().ends_with('3'), "three observations: {row}");
    assert!(
        text.contains("SCALE_UP resolved 2 of 3 LoadSpike incidents"),
        "{text}"
    );
}
