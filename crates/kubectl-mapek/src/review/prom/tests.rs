//! Reading Prometheus's answers and building its requests.

use kube::Client;

use super::{DEFAULT_SERVICE, Prometheus, parse_matrix};

#[test]
fn a_matrix_becomes_samples_and_non_numbers_stay_non_numbers() {
    let text = r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"pod":"a"},"values":[[1700000000.5,"0.25"],[1700000030,"NaN"],[1700000060,"+Inf"],[1700000090,"x"]]},
        {"metric":{"pod":"b"},"values":[[1700000000,"9"]]}]}}"#;
    let samples = parse_matrix(text).unwrap();
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
