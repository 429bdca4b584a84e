//! Waiting in tests and benchmarks: one poll loop, and a free loopback port.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every `every` until it returns `Some`, or panics naming `what`
/// once `timeout` has passed.
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// A loopback port nothing listens on now (the OS picks it), for a server a
/// test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn poll_returns_the_first_some() {
        let mut calls = 0;
        let v = poll(
            "the third call",
            Duration::from_secs(5),
            Duration::ZERO,
            || {
                calls += 1;
                let c = calls;
                async move { (c == 3).then_some(c) }
            },
        )
        .await;
        assert_eq!(v, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 50ms waiting for nothing")]
    async fn poll_panics_naming_what_it_waited_for() {
        poll::<(), _, _>(
            "nothing",
            Duration::from_millis(50),
            Duration::from_millis(10),
            || async { None },
        )
        .await;
    }

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    }
}
