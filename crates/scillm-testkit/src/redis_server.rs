//! A throw-away `redis-server` per test: its own free loopback port, no persistence
//! (`--save "" --appendonly no`), stopped when dropped; plain, or TLS only with a fresh
//! self-signed certificate ([`RedisServer::start_tls`]).
//!
//! The binary comes from env `SCILLM_TEST_REDIS` (set by `cargo xtask test`, which installs
//! Debian's `redis-server`). Without it, [`redis_binary`] says the test is skipped — or fails
//! under `SCILLM_REQUIRE_EXTERNAL=1`, so CI never skips silently.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Env var naming the `redis-server` binary.
pub const REDIS_ENV: &str = "SCILLM_TEST_REDIS";

/// The `redis-server` to use: `Ok(None)` (after printing why the test is skipped) when
/// `SCILLM_TEST_REDIS` is unset; `Err` when it is unset under `SCILLM_REQUIRE_EXTERNAL=1` or
/// names no file.
pub fn redis_binary() -> Result<Option<PathBuf>, String> {
    match std::env::var_os(REDIS_ENV).filter(|v| !v.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_file() {
                Ok(Some(p))
            } else {
                Err(format!("{REDIS_ENV}={} is not a file", p.display()))
            }
        }
        None if std::env::var("SCILLM_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1") => Err(format!(
            "{REDIS_ENV} is not set but SCILLM_REQUIRE_EXTERNAL=1: it must name redis-server \
             (apt-get install redis-server; cargo xtask test sets it)"
        )),
        None => {
            eprintln!(
                "SKIPPED: {REDIS_ENV} is not set (it names redis-server); set it to run this test"
            );
            Ok(None)
        }
    }
}

/// A running `redis-server` on 127.0.0.1.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    /// The certificate and key of a TLS-only server.
    tls: Option<tempfile::TempDir>,
}

impl RedisServer {
    /// Start `binary` on a free loopback port and wait until it answers `PING`.
    pub async fn start(binary: &Path) -> Result<Self, String> {
        let port = free_port()?;
        let mut server = Self {
            binary: binary.to_path_buf(),
            port,
            child: None,
            tls: None,
        };
        server.restart().await?;
        Ok(server)
    }

    /// Start `binary` speaking TLS only (no plain port), with a self-signed certificate for
    /// 127.0.0.1 made now, and wait until it answers `PING` over TLS.
    pub async fn start_tls(binary: &Path) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .map_err(|e| format!("making a certificate: {e}"))?;
        std::fs::write(dir.path().join("cert.pem"), made.cert.pem()).map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("key.pem"), made.key_pair.serialize_pem())
            .map_err(|e| e.to_string())?;
        let mut server = Self {
            binary: binary.to_path_buf(),
            port: free_port()?,
            child: None,
            tls: Some(dir),
        };
        server.restart().await?;
        Ok(server)
    }

    /// `redis://127.0.0.1:PORT`, or for a TLS server `rediss://127.0.0.1:PORT/#insecure`
    /// (its certificate is self-signed, so the client is told not to verify it).
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("redis://127.0.0.1:{}", self.port),
            Some(_) => format!("rediss://127.0.0.1:{}/#insecure", self.port),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every key in the server with its remaining lifetime in ms (`PTTL`: -1 = no TTL).
    pub async fn keys_with_ttl(&self) -> Result<Vec<(String, i64)>, String> {
        let client = redis::Client::open(self.url()).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            out.push((key, ttl));
        }
        Ok(out)
    }

    /// Kill the server (SIGKILL: an outage, not a shutdown) and reap it.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Start the server again on the same port (empty: nothing was persisted).
    pub async fn restart(&mut self) -> Result<(), String> {
        self.kill().await;
        let mut command = Command::new(&self.binary);
        match &self.tls {
            None => command.args(["--port", &self.port.to_string()]),
            Some(dir) => command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(dir.path().join("cert.pem"))
                .arg("--tls-key-file")
                .arg(dir.path().join("key.pem"))
                .arg("--tls-ca-cert-file")
                .arg(dir.path().join("cert.pem"))
                .args(["--tls-auth-clients", "no"]),
        };
        let child = command
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--protected-mode", "yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        self.wait_ready().await
    }

    /// Poll `PING` until `+PONG` (at most ~10 s).
    async fn wait_ready(&mut self) -> Result<(), String> {
        for _ in 0..1000 {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("redis-server exited at start: {status}"));
                }
            }
            let answered = match self.tls {
                None => ping(self.port).await,
                Some(_) => ping_with_client(&self.url()).await,
            };
            if answered {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(format!(
            "redis-server on port {} never answered PING",
            self.port
        ))
    }
}

/// Whether the Redis at `url` answers `PING` through the `redis` client (TLS included).
async fn ping_with_client(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let Ok(Ok(mut conn)) = tokio::time::timeout(
        Duration::from_secs(1),
        client.get_multiplexed_async_connection(),
    )
    .await
    else {
        return false;
    };
    let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
    pong.is_ok_and(|p| p == "PONG")
}

/// Whether a Redis on `port` answers `PING`.
async fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).await.is_ok() && &buf == b"+PONG\r\n"
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding a free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("reading the bound port: {e}"))
}
