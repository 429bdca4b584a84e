//! Helpers shared by the suites that run against the local cluster (tests/e2e.rs,
//! tests/reliability/).

/// The user name of the local cluster's admin certificate (the default context
/// of e2e/local-cluster's kubeconfig), which e2e/run-local lists among the
/// chart's approvers: an approval the suites send as admin names it in
/// `mapek.io/approved-by`.
#[allow(dead_code)] // not every suite approves
pub const ADMIN_USER: &str = "mapek-admin";

pub use mapek_test_support::poll;

/// Creates Namespace `name` unless it exists (the API server's NamespaceLifecycle
/// admission refuses objects in a namespace that does not).
#[allow(dead_code)] // not every suite uses its own namespaces
pub async fn ensure_namespace(client: &kube::Client, name: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
    }))
    .expect("a Namespace");
    match kube::Api::<Namespace>::all(client.clone())
        .create(&kube::api::PostParams::default(), &ns)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("Namespace {name} not created: {e}"),
    }
}

/// What kubectl (the real client, on PATH in e2e/run-local's environment) said.
#[allow(dead_code)] // not every suite runs kubectl
pub struct Kubectl {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs kubectl with `args`, and `input` on its stdin.
#[allow(dead_code)] // not every suite runs kubectl
pub fn try_kubectl(args: &[&str], input: Option<&str>) -> Kubectl {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("kubectl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("kubectl reads its input");
    }
    let out = child.wait_with_output().expect("kubectl finishes");
    Kubectl {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs kubectl with `args` and `input`; returns its stdout, or panics with its stderr.
#[allow(dead_code)] // not every suite runs kubectl
pub fn kubectl(args: &[&str], input: Option<&str>) -> String {
    let out = try_kubectl(args, input);
    assert!(out.ok, "kubectl {} failed: {}", args.join(" "), out.stderr);
    out.stdout
}
