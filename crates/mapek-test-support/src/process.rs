//! A server process a test starts (the operator, Prometheus): its output
//! appended to a log file, readiness polled over HTTP, killed (SIGKILL) and
//! reaped on drop so that nothing outlives the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One child process and its log.
pub struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `cmd` with stdin closed and stdout and stderr appended to `log`.
    pub fn spawn(mut cmd: Command, log: &Path) -> Process {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open log {}: {e}", log.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("a second handle on the log"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        Process {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Waits until `GET http://127.0.0.1:{port}{path}` answers 2xx; panics with
    /// the log's tail if the process exits first or `timeout` passes.
    pub async fn ready(&mut self, port: u16, path: &str, timeout: Duration) {
        if let Err(exited) = self.ready_or_exited(port, path, timeout).await {
            panic!("{exited}");
        }
    }

    /// As [`Process::ready`], but a process that exits first is an `Err` with
    /// its exit status and the log's tail, for a test that restarts it.
    pub async fn ready_or_exited(
        &mut self,
        port: u16,
        path: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the process exited ({status}) before it was ready; log {}:\n{}",
                    self.log.display(),
                    self.tail()
                ));
            }
            if http_ok(port, path).await {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "not ready after {timeout:?}; log {}:\n{}",
                self.log.display(),
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the process exits by itself: `Some(signal)` if a signal
    /// ended it, `None` if it exited with a code.
    pub async fn exited(&mut self, timeout: Duration) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait on the process") {
                return status.signal();
            }
            assert!(
                Instant::now() < deadline,
                "the process did not exit within {timeout:?}; log:\n{}",
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (std's `Child::kill`) and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The last 30 lines of its log.
    pub fn tail(&self) -> String {
        tail(&self.log)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last 30 lines of the file at `path` (empty if it cannot be read).
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Whether a plain HTTP/1.0 GET of `path` on the loopback `port` answers 2xx.
async fn http_ok(port: u16, path: &str) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await?;
        // "HTTP/1.x 2.."
        std::io::Result::Ok(head[9] == b'2')
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(true))
    )
}

/// A `kB` field of a process's `/proc/<pid>/status` (`"VmRSS:"`, `"VmHWM:"`),
/// or 0 when the process or the field is gone.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_process_that_exits_is_seen_and_its_log_kept() {
        let dir = std::env::temp_dir().join(format!("mapek-process-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("sh.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hello; exit 3"]);
        let mut p = Process::spawn(cmd, &log);
        assert_eq!(p.exited(Duration::from_secs(10)).await, None);
        assert!(!p.alive());
        assert_eq!(p.tail(), "hello");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_killed_process_reports_sigkill() {
        let dir = std::env::temp_dir().join(format!("mapek-process-k-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut p = Process::spawn(cmd, &dir.join("sleep.log"));
        assert!(p.alive());
        let _ = p.child.kill();
        assert_eq!(p.exited(Duration::from_secs(10)).await, Some(9));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn readiness_is_a_2xx_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for answer in [
                "HTTP/1.0 503 Service Unavailable\r\n\r\n",
                "HTTP/1.0 200 OK\r\n\r\n",
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).await;
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        assert!(!http_ok(port, "/readyz").await);
        assert!(http_ok(port, "/readyz").await);
    }
}
