//! The bind policy every server follows (SPEC §5, §17): loopback by default; a
//! non-loopback address only with inbound auth configured, or with an explicit override.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpListener;

/// Why a server could not bind.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A non-loopback bind without an API key.
    #[error("refusing to bind {host}:{port} without an API key: {fix}")]
    Insecure {
        /// The configured host.
        host: String,
        /// The configured port.
        port: u16,
        /// What to set: the key's name, loopback, or the override.
        fix: String,
    },
    /// The host is not an IP address or `localhost`.
    #[error("cannot bind `{host}`: not an IP address or `localhost` ({setting})")]
    BadHost {
        /// The configured host.
        host: String,
        /// Where the host is configured.
        setting: String,
    },
    /// The address could not be bound.
    #[error("cannot bind {addr}: {source} (is another server already running there? choose another port)")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Where and how a server may bind.
#[derive(Debug, Clone)]
pub struct BindPolicy {
    /// The host (`127.0.0.1`, `::1`, `localhost`, `[::]`, `0.0.0.0`, …).
    pub host: String,
    /// The port (0: any free port).
    pub port: u16,
    /// Whether inbound auth is configured.
    pub has_auth: bool,
    /// The explicit override allowing a non-loopback bind without auth.
    pub allow_insecure: bool,
    /// The message telling how to fix a refused bind, e.g. `set CODEX_SIDECAR_API_KEY,
    /// bind 127.0.0.1, or set CODEX_SIDECAR_ALLOW_INSECURE_BIND=1`.
    pub fix: String,
    /// Where the host is configured, for messages (e.g. `CODEX_SIDECAR_HOST`).
    pub host_setting: String,
}

impl BindPolicy {
    /// The host without brackets or surrounding spaces.
    fn bare_host(&self) -> &str {
        self.host
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
    }

    /// The IP address to bind: a literal IP, or loopback for `localhost`.
    pub fn ip(&self) -> Result<IpAddr, BindError> {
        let host = self.bare_host();
        if host.eq_ignore_ascii_case("localhost") {
            return Ok(IpAddr::from([127, 0, 0, 1]));
        }
        host.parse().map_err(|_| BindError::BadHost {
            host: self.host.clone(),
            setting: self.host_setting.clone(),
        })
    }

    /// Refuse a non-loopback host unless auth is configured or the override is set.
    pub fn check(&self) -> Result<SocketAddr, BindError> {
        let ip = self.ip()?;
        if ip.is_loopback() || self.has_auth || self.allow_insecure {
            Ok(SocketAddr::new(ip, self.port))
        } else {
            Err(BindError::Insecure {
                host: self.host.clone(),
                port: self.port,
                fix: self.fix.clone(),
            })
        }
    }

    /// [`BindPolicy::check`], then bind.
    pub async fn bind(&self) -> Result<TcpListener, BindError> {
        let addr = self.check()?;
        TcpListener::bind(addr)
            .await
            .map_err(|source| BindError::Io { addr, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(host: &str, has_auth: bool, allow: bool) -> BindPolicy {
        BindPolicy {
            host: host.into(),
            port: 4000,
            has_auth,
            allow_insecure: allow,
            fix: "set a key".into(),
            host_setting: "HOST".into(),
        }
    }

    #[test]
    fn loopback_always_binds_and_others_need_auth_or_override() {
        assert!(policy("127.0.0.1", false, false).check().is_ok());
        assert!(policy("[::1]", false, false).check().is_ok());
        assert!(policy("localhost", false, false).check().is_ok());
        let e = policy("0.0.0.0", false, false).check().err();
        assert!(matches!(e, Some(BindError::Insecure { .. })));
        assert!(e
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("set a key"));
        assert!(policy("0.0.0.0", true, false).check().is_ok());
        assert!(policy("0.0.0.0", false, true).check().is_ok());
        assert!(matches!(
            policy("example.org", true, false).check(),
            Err(BindError::BadHost { .. })
        ));
    }
}
