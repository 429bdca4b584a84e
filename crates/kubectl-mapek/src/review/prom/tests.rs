//! Reading Prometheus's answers and building its requests.

use kube::Client;

use super::{DEFAULT_SERVICE, Prometheus, parse_matrix};

#[test]
fn a_matrix_becomes_samples_and_non_numbers_stay_non_numbers() {
    let text = r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"pod":"a"},"values":[[1700000000.5,"0.25"],[1700000030,"NaN"],[1700000060,"+Inf"],[1700000090,"x"]]},
        {"metric":{"pod":"b"},"values":[[1700000000,"9"]]}]}}"#;
    let (samples, series) = parse_matrix(text).unwrap();
    assert_eq!(series, 2);
    assert_eq!(samples.len(), 3, "the unparsable value is left out");
    assert_eq!(samples[0], (1_700_000_000_500, 0.25));
    assert!(samples[1].1.is_nan());
    assert_eq!(samples[2].1, f64::INFINITY);
}

#[test]
fn errors_and_empty_answers_say_why() {
    let e = parse_matrix(
        r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
    );
    assert_eq!(e.unwrap_err(), "Prometheus: bad_data parse error at char 3");
    let e = parse_matrix(r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#);
    assert!(e.unwrap_err().contains("no series"));
    assert!(parse_matrix("<html>").unwrap_err().contains("no JSON"));
}

#[tokio::test]
async fn the_service_proxy_path_and_the_query_are_encoded() {
    let (service, _handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    let p = Prometheus::via_proxy(Client::new(service, "shop"), DEFAULT_SERVICE).unwrap();
    let path = p.range_path("rate(x{a=\"b\"}[5m]) > 0.5 & y", 1_000, 11_500, 30);
    assert_eq!(
        path,
        "/api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy/api/v1/query_range\
         ?query=rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29+%3E+0.5+%26+y&start=1.000&end=11.500&step=30"
    );
    for bad in ["prometheus", "monitoring/prom", "mon/../x:9090", "a/b:"] {
        let (service, _h) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        assert!(
            Prometheus::via_proxy(Client::new(service, "x"), bad).is_err(),
            "{bad}"
        );
    }
    assert!(Prometheus::direct("http://127.0.0.1:9090").is_ok());
    assert!(Prometheus::direct("not a url").is_err());
}

/// A Prometheus stand-in on a free port that answers `query_range` at `path`
/// with one sample of the query's length, and 503 elsewhere.
async fn stand_in(path: &'static str) -> String {
    use axum::extract::RawQuery;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = |RawQuery(q): RawQuery| async move {
        let query: String = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "query")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[[100,"{}"]]}}]}}}}"#,
            query.len()
        );
        ([("content-type", "application/json")], body)
    };
    let app = axum::Router::new().route(path, axum::routing::get(answer));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_prometheus_url_is_queried_directly() {
    let url = stand_in("/api/v1/query_range").await;
    let p = Prometheus::direct(&url).unwrap();
    assert_eq!(
        p.range("up == 1", 0, 60_000, 30).await.unwrap(),
        (vec![(100_000, 7.0)], 1)
    );
    // Under a path prefix, as behind a reverse proxy.
    let url = stand_in("/prom/api/v1/query_range").await;
    let p = Prometheus::direct(&format!("{url}/prom")).unwrap();
    assert_eq!(
        p.range("up", 0, 60_000, 30).await.unwrap(),
        (vec![(100_000, 2.0)], 1)
    );
    // Nothing listening: an error that names where it looked.
    let p = Prometheus::direct("http://127.0.0.1:9").unwrap();
    let e = p.range("up", 0, 60_000, 30).await.unwrap_err();
    assert!(e.starts_with("Prometheus at http://127.0.0.1:9: "), "{e}");
}
