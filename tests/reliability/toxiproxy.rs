//! Toxiproxy (github.com/Shopify/toxiproxy/v2, built by e2e/toxiproxy-bin and
//! started by e2e/run-local, its HTTP API in `$MAPEK_TOXIPROXY`): one TCP proxy
//! per test between the operator and the API server or Prometheus, with toxics
//! (latency with jitter, `reset_peer`, `timeout`, `bandwidth`) added and removed,
//! and the proxy disabled for a full partition (its connections are cut and new
//! ones refused) and enabled again to heal.

use super::*;

/// One proxy of the Toxiproxy server, listening on 127.0.0.1.
pub(super) struct Proxy {
    http: reqwest::Client,
    url: String,
    /// `127.0.0.1:PORT`, where the proxy listens.
    pub(super) listen: String,
}

impl Proxy {
    /// Creates proxy `name` (replacing one of that name) to `upstream`
    /// (`host:port`), listening on a free loopback port.
    pub(super) async fn create(name: &str, upstream: &str) -> Proxy {
        let api = var("MAPEK_TOXIPROXY");
        let http = reqwest::Client::new();
        let url = format!("{api}/proxies/{name}");
        let _ = http.delete(&url).send().await;
        let body = json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream});
        let created = call(http.post(format!("{api}/proxies")).body(body.to_string())).await;
        let listen = created["listen"]
            .as_str()
            .expect("Toxiproxy says where the proxy listens")
            .to_string();
        Proxy { http, url, listen }
    }

    /// Adds toxic `name` of `kind` on `stream` (`upstream` or `downstream`) to
    /// a `toxicity` share of the connections.
    pub(super) async fn toxic(
        &self,
        name: &str,
        kind: &str,
        stream: &str,
        toxicity: f64,
        attributes: Value,
    ) {
        let body = json!({"name": name, "type": kind, "stream": stream,
                          "toxicity": toxicity, "attributes": attributes});
        let req = self
            .http
            .post(format!("{}/toxics", self.url))
            .body(body.to_string());
        call(req).await;
    }

    /// Enables (heals) or disables (partitions) the proxy.
    pub(super) async fn set_enabled(&self, enabled: bool) {
        let req = self
            .http
            .post(&self.url)
            .body(json!({"enabled": enabled}).to_string());
        call(req).await;
    }

    /// Removes every toxic and enables the proxy.
    pub(super) async fn heal(&self) {
        let proxy = call(self.http.get(&self.url)).await;
        for toxic in proxy["toxics"].as_array().into_iter().flatten() {
            let name = toxic["name"].as_str().unwrap_or_default();
            let req = self.http.delete(format!("{}/toxics/{name}", self.url));
            call(req).await;
        }
        self.set_enabled(true).await;
    }
}

/// Sends `req`; panics with Toxiproxy's answer unless it is 2xx.
async fn call(req: reqwest::RequestBuilder) -> Value {
    let resp = req.send().await.expect("the Toxiproxy API answers");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "Toxiproxy answered {status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// `host:port` of the API server the admin kubeconfig points at.
pub(super) fn api_server() -> String {
    let server = kubectl(
        &[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
        None,
    );
    server
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

/// A copy of `kubeconfig` whose server is the proxy (TLS passes through the
/// proxy; its address, 127.0.0.1, is among the API server certificate's names).
pub(super) fn through(kubeconfig: &Path, proxy: &Proxy, suffix: &str) -> PathBuf {
    let copy = kubeconfig.with_file_name(format!(
        "{}-{suffix}",
        kubeconfig.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::copy(kubeconfig, &copy).expect("kubeconfig copied");
    let file = copy.to_str().expect("a UTF-8 path");
    let cluster = first_context(file, "cluster");
    let server = format!("--server=https://{}", proxy.listen);
    kubectl(
        &[
            "--kubeconfig",
            file,
            "config",
            "set-cluster",
            &cluster,
            &server,
        ],
        None,
    );
    copy
}
