//! Headless Chromium through WebDriver (`fantoccini`), for the review page's
//! tests: Debian's chromedriver (its path in `MAPEK_CHROMEDRIVER`, which `make
//! unit` and `e2e/run-local` set through `mk/chromedriver`) in a process group
//! of its own with the Chromium it starts, the whole group killed on drop so
//! that a failed test leaves no browser.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

use crate::{Process, free_port, poll};

/// A running chromedriver.
pub struct Driver {
    process: Process,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.process.pid());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
    }
}

/// Starts the chromedriver at `path` on a free port and waits until it listens.
pub async fn driver(path: &str) -> Driver {
    use std::os::unix::process::CommandExt as _;
    let port = free_port();
    let log = std::env::temp_dir().join(format!("mapek-chromedriver-{port}.log"));
    let mut cmd = std::process::Command::new(path);
    cmd.arg(format!("--port={port}")).process_group(0);
    let process = Process::spawn(cmd, &log);
    // chromedriver answers HTTP/1.1 only, so readiness is its port accepting.
    let ready = || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    };
    poll(
        "chromedriver",
        Duration::from_secs(30),
        Duration::from_millis(100),
        ready,
    )
    .await;
    Driver { process, port }
}

/// A headless Chromium session through `driver` (`MAPEK_CHROMIUM`, or Debian's
/// `/usr/bin/chromium`).
pub async fn session(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let binary = std::env::var("MAPEK_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": binary,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-breakpad",
                         "--disable-dev-shm-usage", "--window-size=1280,1700"] }),
    );
    ClientBuilder::rustls()
        .expect("a WebDriver client")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}
