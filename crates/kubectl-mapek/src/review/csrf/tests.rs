//! The CSRF guard: token, Host and Origin.

use std::net::SocketAddr;

use super::{Guard, Refusal, random_token};

fn guard() -> Guard {
    Guard::new(
        "abc123".into(),
        "127.0.0.1:8090".parse::<SocketAddr>().unwrap(),
    )
}

#[test]
fn tokens_are_random_and_long() {
    let (a, b) = (random_token().unwrap(), random_token().unwrap());
    assert_eq!(a.len(), 64);
    assert_ne!(a, b);
}

#[test]
fn a_post_needs_this_host_this_origin_and_the_token() {
    let g = guard();
    let ok = Some("127.0.0.1:8090");
    assert_eq!(
        g.check_post(ok, Some("http://127.0.0.1:8090"), Some("abc123")),
        Ok(())
    );
    assert_eq!(
        g.check_post(Some("localhost:8090"), None, Some("abc123")),
        Ok(())
    );
    assert_eq!(g.check_post(ok, None, None), Err(Refusal::Token));
    assert_eq!(g.check_post(ok, None, Some("abc124")), Err(Refusal::Token));
    assert_eq!(g.check_post(ok, None, Some("abc12")), Err(Refusal::Token));
    assert_eq!(g.check_post(ok, None, Some("")), Err(Refusal::Token));
    assert_eq!(
        g.check_post(ok, Some("http://evil.example"), Some("abc123")),
        Err(Refusal::Origin)
    );
    assert_eq!(
        g.check_post(ok, Some("null"), Some("abc123")),
        Err(Refusal::Origin)
    );
    assert_eq!(
        g.check_post(ok, Some("https://127.0.0.1:8090"), Some("abc123")),
        Err(Refusal::Origin)
    );
    // A DNS-rebinding page reaches the port under its own name.
    assert_eq!(
        g.check_post(
            Some("evil.example:8090"),
            Some("http://evil.example:8090"),
            Some("abc123")
        ),
        Err(Refusal::Host)
    );
    assert_eq!(g.check_post(None, None, Some("abc123")), Err(Refusal::Host));
    assert_eq!(
        g.check_post(Some("127.0.0.1:8091"), None, Some("abc123")),
        Err(Refusal::Host)
    );
}

#[test]
fn ipv6_loopback_hosts_are_bracketed() {
    let g = Guard::new("t".into(), "[::1]:9000".parse::<SocketAddr>().unwrap());
    assert!(g.host_ok(Some("[::1]:9000")));
    assert!(g.host_ok(Some("localhost:9000")));
    assert!(!g.host_ok(Some("::1:9000")));
}
