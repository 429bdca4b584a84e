//! The whole server over HTTP on a free port, against the scripted API server:
//! GET the list, GET a plan, POST an approve without and with the token.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::Scope;
use super::*;

/// Serves the review page for the scripted `client` on a free port.
pub(crate) async fn start(client: Client) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = review(client, Scope::One("shop".into()), &addr.to_string());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    addr
}

/// One HTTP/1.1 request; the status code and the whole response.
async fn http(addr: SocketAddr, head: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let code = response[9..12].parse().unwrap();
    (code, response)
}

#[tokio::test]
async fn the_server_lists_shows_and_approves_over_http() {
    let (client, log) = scripted(cluster);
    let addr = start(client).await;
    let (code, list) = http(addr, "GET / HTTP/1.1", "").await;
    assert_eq!(code, 200, "{list}");
    assert!(list.contains("text/html") && list.contains("fix-web"));
    let (code, page) = http(addr, "GET /plans/shop/fix-web HTTP/1.1", "").await;
    assert_eq!(code, 200);
    assert!(page.contains("<svg") && page.contains("id=\"approve\""));
    let form = "Content-Type: application/x-www-form-urlencoded";
    let head = format!("POST /plans/shop/fix-web/approve HTTP/1.1\r\n{form}");
    let (code, refused) = http(addr, &head, "hash=9f3c2a7b").await;
    assert_eq!(code, 403, "{refused}");
    assert!(patches(&log).is_empty());
    let body = format!("csrf={TOKEN}&hash=9f3c2a7b");
    let (code, done) = http(addr, &format!("{head}\r\nOrigin: http://{addr}"), &body).await;
    assert_eq!(code, 200, "{done}");
    assert!(done.contains("approved by alice"));
    assert_eq!(patches(&log).len(), 1);
}

#[tokio::test]
async fn only_a_loopback_address_is_served() {
    let (client, _) = scripted(cluster);
    let options = super::super::ReviewOptions {
        address: "0.0.0.0".parse().unwrap(),
        port: 0,
        prometheus_url: None,
        prometheus_service: DEFAULT_SERVICE.into(),
        scope: Scope::One("shop".into()),
    };
    let plugin = Plugin {
        client,
        namespace: "shop".into(),
    };
    let e = super::super::serve(options, plugin).await.unwrap_err();
    assert!(e.to_string().contains("loopback address only"), "{e}");
}
