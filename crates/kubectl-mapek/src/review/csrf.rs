//! What keeps other web pages from acting through the review page: a random
//! token per server start (in a hidden field of every form, checked on every
//! POST, compared in constant time), and the `Host` and `Origin` headers, which
//! must name this server (a DNS-rebinding page has another `Host`, a cross-site
//! form another `Origin`).

use std::net::SocketAddr;

/// The token and the host names this server answers to.
#[derive(Clone, Debug)]
pub struct Guard {
    token: String,
    hosts: Vec<String>,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Host,
    Origin,
    Token,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Host => {
                "the Host header does not name this server (open it as http://127.0.0.1:PORT/)"
            }
            Refusal::Origin => {
                "the request comes from another site (its Origin is not this server)"
            }
            Refusal::Token => {
                "the form's CSRF token is missing or stale: reload the page and try again"
            }
        }
    }
}

/// 32 random bytes as hex, from the operating system's generator.
pub fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for the CSRF token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Guard {
    /// A guard for a server listening on `addr` (its literal address and
    /// `localhost`, with the port).
    pub fn new(token: String, addr: SocketAddr) -> Guard {
        let port = addr.port();
        let ip = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        Guard {
            token,
            hosts: vec![format!("{ip}:{port}"), format!("localhost:{port}")],
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether `host` (the `Host` header) names this server.
    pub fn host_ok(&self, host: Option<&str>) -> bool {
        host.is_some_and(|h| self.hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h)))
    }

    /// Whether `origin` is this server's; an absent `Origin` (a client that is
    /// not a browser) passes, the token still has to match.
    pub fn origin_ok(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(o) => o
                .strip_prefix("http://")
                .is_some_and(|h| self.hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h))),
        }
    }

    /// Whether `given` is the token, compared in constant time.
    pub fn token_ok(&self, given: Option<&str>) -> bool {
        let Some(given) = given else { return false };
        let (a, b) = (self.token.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The checks of a POST: host, origin, token.
    pub fn check_post(
        &self,
        host: Option<&str>,
        origin: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), Refusal> {
        if !self.host_ok(host) {
            Err(Refusal::Host)
        } else if !self.origin_ok(origin) {
            Err(Refusal::Origin)
        } else if !self.token_ok(token) {
            Err(Refusal::Token)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
