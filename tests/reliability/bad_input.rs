//! Bad input: objects the schema and the CEL rules refuse.

use super::*;

/// Objects that break the schema or the CEL rules are refused by the API server
/// with the field and the reason, and nothing is stored.
#[tokio::test]
async fn bad_input() {
    let c = client().await;
    let ns = "bad-input";
    common::ensure_namespace(&c, ns).await;
    // Untyped, so that what the Rust types could not even hold reaches the server.
    let resource = kube::api::ApiResource::erase::<ViolationPolicy>(&());
    let api = Api::<kube::api::DynamicObject>::namespaced_with(c.clone(), ns, &resource);
    let base = || {
        json!({
            "targetRef": {"name": "web"},
            "query": "vector(1)",
            "condition": {"operator": "GreaterThan", "threshold": 1},
            "remediation": remediation("1h")
        })
    };
    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    let mut v = base();
    v["remediation"]["scale"]["minReplicas"] = json!(-1);
    cases.push(("negative replicas", v, "minReplicas"));
    let mut v = base();
    v["remediation"]["scale"] = json!({"minReplicas": 5, "maxReplicas": 2, "maxStep": 1});
    cases.push((
        "min above max",
        v,
        "minReplicas must not exceed maxReplicas",
    ));
    let mut v = base();
    v["remediation"]["allowedActions"] = json!(["DELETE_EVERYTHING"]);
    cases.push(("unknown action type", v, "allowedActions"));
    let mut v = base();
    v["query"] = json!("");
    cases.push(("empty query", v, "spec.query"));
    let mut v = base();
    v["query"] = json!("x".repeat(5000));
    cases.push(("oversized query", v, "spec.query"));
    let mut v = base();
    v["remediation"]["config"] = json!([]);
    cases.push((
        "config action without a listed setting",
        v,
        "needs a remediation.config setting",
    ));
    let mut v = base();
    v["remediation"]["config"][0]["allowedValues"] = json!(["x", "y"]);
    cases.push(("config value not allowed", v, "allowedValues"));
    let mut v = base();
    v["evaluationInterval"] = json!("soon");
    cases.push(("malformed duration", v, "evaluationInterval"));

    let mut rejected = 0;
    let mut accepted = 0;
    for (i, (what, spec, field)) in cases.iter().enumerate() {
        let name = format!("bad-{i}");
        let vp: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "mapek.io/v1alpha1", "kind": "ViolationPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec
        }))
        .expect("an untyped object");
        match api.create(&PostParams::default(), &vp).await {
            Err(kube::Error::Api(s)) if s.code == 422 && s.message.contains(field) => rejected += 1,
            Err(e) => panic!("{what}: refused without naming {field:?}: {e}"),
            Ok(_) => {
                accepted += 1;
                eprintln!("{what}: ACCEPTED by the API server");
            }
        }
        assert!(api.get_opt(&name).await.unwrap().is_none() || accepted > 0);
    }
    report(
        "bad input (schema and CEL rules on the real API server)",
        cases.len(),
        rejected,
        &[("invalid objects stored", accepted)],
        json!({}),
    );
    assert_eq!(accepted, 0);
}
