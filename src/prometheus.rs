//! Prometheus queries for the monitor: one PromQL instant query to one number, with
//! every way that can go wrong named (unreachable, timeout, bad query, empty result,
//! several series, NaN), so that bad data is never mistaken for a measurement.

use std::time::Duration;

use prometheus_http_query::error::PrometheusErrorType;
use prometheus_http_query::response::Data;
use prometheus_http_query::{Error as PromError, reqwest};

/// Why a query gave no usable number. Each maps to the `reason` of the policy's
/// `Ready=False` condition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("Prometheus is unreachable: {0}")]
    Unreachable(String),
    #[error("the query timed out: {0}")]
    Timeout(String),
    #[error("Prometheus rejected the query: {0}")]
    InvalidQuery(String),
    #[error("Prometheus failed to run the query: {0}")]
    QueryFailed(String),
    #[error("the query returned no series")]
    Empty,
    #[error("the query returned {0} series; it must return exactly one number")]
    MultipleSeries(usize),
    #[error("the query returned a range vector; it must return one number")]
    RangeVector,
    #[error("the query returned {0}, not a finite number")]
    NotANumber(f64),
}

impl QueryError {
    /// A CamelCase reason for a status condition.
    pub fn reason(&self) -> &'static str {
        match self {
            QueryError::Unreachable(_) => "PrometheusUnreachable",
            QueryError::Timeout(_) => "QueryTimeout",
            QueryError::InvalidQuery(_) => "InvalidQuery",
            QueryError::QueryFailed(_) => "QueryFailed",
            QueryError::Empty => "EmptyResult",
            QueryError::MultipleSeries(_) => "MultipleSeries",
            QueryError::RangeVector => "NotAnInstantValue",
            QueryError::NotANumber(_) => "NotANumber",
        }
    }
}

/// Reduces a query result to its one finite number.
pub fn single_value(data: &Data) -> Result<f64, QueryError> {
    let value = match data {
        Data::Scalar(sample) => sample.value(),
        Data::Vector(series) => match series.as_slice() {
            [] => return Err(QueryError::Empty),
            [one] => one.sample().value(),
            many => return Err(QueryError::MultipleSeries(many.len())),
        },
        Data::Matrix(_) => return Err(QueryError::RangeVector),
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(QueryError::NotANumber(value))
    }
}

/// A Prometheus HTTP API client with a per-query timeout.
#[derive(Clone)]
pub struct Prometheus {
    client: prometheus_http_query::Client,
    url: String,
    timeout: Duration,
}

impl Prometheus {
    /// A client for the API at `url` (such as `http://localhost:9090`).
    pub fn new(url: &str, timeout: Duration) -> Result<Prometheus, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        let client = prometheus_http_query::Client::from(http, url).map_err(|e| e.to_string())?;
        Ok(Prometheus {
            client,
            url: url.to_string(),
            timeout,
        })
    }

    /// The API's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs an instant query and returns its one finite number.
    pub async fn query_value(&self, query: &str) -> Result<f64, QueryError> {
        let result = self
            .client
            .query(query)
            .timeout(self.timeout.as_millis() as i64)
            .get()
            .await
            .map_err(classify)?;
        single_value(result.data())
    }

    /// Runs a range query from `start_ms` to `end_ms` every `step`, and returns
    /// the one series' finite values with their times (milliseconds). Used to
    /// read back a query's history after a restart.
    pub async fn query_range_values(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step: Duration,
    ) -> Result<Vec<(i64, f64)>, QueryError> {
        let result = self
            .client
            .query_range(
                query,
                start_ms.div_euclid(1000),
                end_ms.div_euclid(1000),
                step.as_secs_f64().max(1.0),
            )
            .timeout(self.timeout.as_millis() as i64)
            .get()
            .await
            .map_err(classify)?;
        series_values(result.data())
    }
}

/// The latest sample time accepted from Prometheus, in seconds since the epoch:
/// the end of year 9999, the last a status time (RFC 3339) can hold.
const MAX_SAMPLE_SECS: f64 = 253_402_300_799.0;

/// Reduces a range query result to its one series' finite values, by time in
/// milliseconds. Samples timed before 1970 or after 9999 (no Prometheus
/// answers so) are dropped like non-finite values: their time would reach the
/// status as one no reader accepts.
pub fn series_values(data: &Data) -> Result<Vec<(i64, f64)>, QueryError> {
    let series = match data {
        Data::Matrix(series) => series,
        Data::Scalar(_) | Data::Vector(_) => {
            return Err(QueryError::QueryFailed(
                "a range query returned an instant value".into(),
            ));
        }
    };
    match series.as_slice() {
        [] => Err(QueryError::Empty),
        [one] => Ok(one
            .samples()
            .iter()
            .filter(|s| s.value().is_finite() && (0.0..=MAX_SAMPLE_SECS).contains(&s.timestamp()))
            .map(|s| ((s.timestamp() * 1000.0).round() as i64, s.value()))
            .collect()),
        many => Err(QueryError::MultipleSeries(many.len())),
    }
}

fn classify(e: PromError) -> QueryError {
    match &e {
        PromError::Prometheus(p) => match p.error_type() {
            PrometheusErrorType::BadData => QueryError::InvalidQuery(p.message().to_string()),
            PrometheusErrorType::Timeout | PrometheusErrorType::Canceled => {
                QueryError::Timeout(p.message().to_string())
            }
            _ => QueryError::QueryFailed(p.to_string()),
        },
        PromError::Client(c) => {
            let text = e.to_string();
            match c.inner() {
                Some(r) if r.is_timeout() => QueryError::Timeout(text),
                Some(r) if r.is_connect() || r.is_request() => QueryError::Unreachable(text),
                _ => QueryError::QueryFailed(text),
            }
        }
        _ => QueryError::QueryFailed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(json: &str) -> Data {
        serde_json::from_str(json).expect("valid Prometheus data")
    }

    #[test]
    fn one_series_gives_its_value() {
        let d = data(
            r#"{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1700000000,"0.75"]}]}"#,
        );
        assert_eq!(single_value(&d), Ok(0.75));
    }

    #[test]
    fn a_scalar_gives_its_value() {
        let d = data(r#"{"resultType":"scalar","result":[1700000000,"3"]}"#);
        assert_eq!(single_value(&d), Ok(3.0));
    }

    #[test]
    fn empty_many_nan_and_matrix_are_errors() {
        let empty = data(r#"{"resultType":"vector","result":[]}"#);
        assert_eq!(single_value(&empty), Err(QueryError::Empty));
        let many = data(
            r#"{"resultType":"vector","result":[{"metric":{"i":"1"},"value":[1,"1"]},{"metric":{"i":"2"},"value":[1,"2"]}]}"#,
        );
        assert_eq!(single_value(&many), Err(QueryError::MultipleSeries(2)));
        let nan = data(r#"{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}"#);
        assert!(matches!(single_value(&nan), Err(QueryError::NotANumber(v)) if v.is_nan()));
        let inf = data(r#"{"resultType":"scalar","result":[1,"+Inf"]}"#);
        assert_eq!(
            single_value(&inf),
            Err(QueryError::NotANumber(f64::INFINITY))
        );
        let matrix = data(r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}"#);
        assert_eq!(single_value(&matrix), Err(QueryError::RangeVector));
    }

    #[test]
    fn a_range_gives_one_series_finite_values_in_milliseconds() {
        let one = data(
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"1"],[1700000030.5,"NaN"],[1700000060,"2.5"]]}]}"#,
        );
        assert_eq!(
            series_values(&one),
            Ok(vec![(1_700_000_000_000, 1.0), (1_700_000_060_000, 2.5)])
        );
        let none = data(r#"{"resultType":"matrix","result":[]}"#);
        assert_eq!(series_values(&none), Err(QueryError::Empty));
        let two = data(
            r#"{"resultType":"matrix","result":[{"metric":{"i":"1"},"values":[[1,"1"]]},{"metric":{"i":"2"},"values":[[1,"1"]]}]}"#,
        );
        assert_eq!(series_values(&two), Err(QueryError::MultipleSeries(2)));
    }

    /// Found by the `prometheus_response` fuzz target: a sample at -1e300 s
    /// became a history point at i64::MIN ms, written to status as the time
    /// "-9999-01-02T01:59:59Z", which no reader parses.
    #[test]
    fn samples_timed_outside_1970_to_9999_are_dropped() {
        let d = data(
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1e300,"1"],[-1e300,"2"],[-1,"3"],[1700000000,"4"]]}]}"#,
        );
        assert_eq!(series_values(&d), Ok(vec![(1_700_000_000_000, 4.0)]));
    }
}
