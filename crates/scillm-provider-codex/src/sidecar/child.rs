//! Starting Codex children (both backends) so that none outlives the sidecar: each child
//! leads its own process group (killed as a whole), gets a parent-death signal, is killed
//! when its handle is dropped, and is listed in the sidecar's [`Children`] so that a signal
//! handler of the hosting process can kill every group at once (SPEC §12 "No orphans").
//!
//! The environment of a child is [`child_env`]: cleared, then only the allowlist of SPEC §12
//! plus `CODEX_ENV_PASSTHROUGH`, never a secret of the configuration.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use process_wrap::tokio::{ChildWrapper, CommandWrap, CommandWrapper, KillOnDrop, ProcessGroup};
use scillm_core::secrecy::ExposeSecret;
use scillm_core::Config;

/// Environment variable names every Codex child may see (SPEC §12), compared without
/// regard to case; `LC_*` is allowed too.
pub const ENV_ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "CODEX_HOME",
    "USER",
    "LANG",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
];

/// The signal a child gets when the thread that started it (and so the process) dies.
/// SIGTERM rather than SIGKILL: the npm launcher of the Codex CLI forwards SIGTERM to the
/// native binary it runs, where a SIGKILL would orphan that binary.
pub const PARENT_DEATH_SIGNAL: Signal = Signal::SIGTERM;

/// Whether `name` is on the allowlist or is an `LC_*` name.
fn allowed(name: &str) -> bool {
    ENV_ALLOWLIST.iter().any(|a| a.eq_ignore_ascii_case(name))
        || name.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("LC_"))
}

/// Every secret value of `config` (sidecar key, forward token, provider and deployment keys).
fn secrets(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |s: Option<&scillm_core::secrecy::SecretString>| {
        if let Some(s) = s {
            let v = s.expose_secret();
            if !v.is_empty() {
                out.push(v.to_string());
            }
        }
    };
    add(config.sidecar.api_key.as_ref());
    add(config.sidecar.forward_token.as_ref());
    add(config.codex_agent.api_key.as_ref());
    add(config.mini_agent.api_key.as_ref());
    for d in &config.model_list {
        add(d.api_key.as_ref());
    }
    out
}

/// The environment of a Codex child: from `vars` (the process environment) only the
/// allowlisted names and those of `sidecar.env_passthrough`, then `extra` (set by the code
/// embedding the sidecar, e.g. `CODEX_HOME`). A variable whose value is a secret of `config`
/// is dropped even when listed.
pub fn child_env(
    config: &Config,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    extra: &[(OsString, OsString)],
) -> Vec<(OsString, OsString)> {
    let secrets = secrets(config);
    let passthrough = &config.sidecar.env_passthrough;
    let is_secret = |v: &OsStr| secrets.iter().any(|s| OsStr::new(s) == v);
    let mut env: Vec<(OsString, OsString)> = vars
        .into_iter()
        .filter(|(k, v)| {
            let name = k.to_string_lossy();
            (allowed(&name) || passthrough.iter().any(|p| p.trim() == name)) && !is_secret(v)
        })
        .collect();
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// The process groups of a sidecar's running children.
#[derive(Debug, Clone, Default)]
pub struct Children {
    groups: Arc<Mutex<HashSet<i32>>>,
}

impl Children {
    /// Send SIGKILL to every listed group now (the reaping is left to each child's owner).
    pub fn kill_all(&self) {
        let groups: Vec<i32> = self
            .groups
            .lock()
            .map(|g| g.iter().copied().collect())
            .unwrap_or_default();
        for pgid in groups {
            // ESRCH (nobody left) is the expected answer once everything has exited.
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }

    /// The process group ids listed now.
    pub fn groups(&self) -> Vec<i32> {
        self.groups
            .lock()
            .map(|g| g.iter().copied().collect())
            .unwrap_or_default()
    }

    fn insert(&self, pgid: i32) {
        if let Ok(mut g) = self.groups.lock() {
            g.insert(pgid);
        }
    }

    fn remove(&self, pgid: i32) {
        if let Ok(mut g) = self.groups.lock() {
            g.remove(&pgid);
        }
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The resolved program.
    pub program: &'a Path,
    /// Its arguments.
    pub args: &'a [OsString],
    /// The whole environment (see [`child_env`]).
    pub env: &'a [(OsString, OsString)],
    /// The working directory.
    pub cwd: &'a Path,
    /// Whether stdin is a pipe (else `/dev/null`).
    pub stdin: bool,
}

/// A started child: its group is killed and unlisted when this is dropped.
#[derive(Debug)]
pub struct Started {
    /// The child (a process-group leader).
    pub child: Box<dyn ChildWrapper>,
    pgid: Option<i32>,
    children: Children,
}

impl Started {
    /// The process id of the child (and id of its group).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL the whole group.
    pub fn kill_group(&self) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }

    /// Kill the group and reap the leader (bounded: SIGKILL cannot be ignored, the bound
    /// only guards against a process stuck in the kernel).
    pub async fn kill_and_reap(&mut self) {
        self.kill_group();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait()).await;
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            self.children.remove(pgid);
        }
    }
}

/// Sets the parent-death signal in the child ([`PARENT_DEATH_SIGNAL`]).
#[derive(Debug, Clone, Copy)]
struct ParentDeathSignal;

impl CommandWrapper for ParentDeathSignal {
    fn pre_spawn(
        &mut self,
        command: &mut tokio::process::Command,
        _core: &CommandWrap,
    ) -> std::io::Result<()> {
        let parent = nix::unistd::getpid();
        // SAFETY: the closure runs in the forked child before exec and only makes the
        // async-signal-safe system calls prctl(2) and getppid(2).
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(PARENT_DEATH_SIGNAL)
                    .map_err(std::io::Error::from)?;
                // The parent died before the signal was armed: do not run at all.
                if nix::unistd::getppid() != parent {
                    return Err(std::io::Error::other("the parent process is gone"));
                }
                Ok(())
            });
        }
        Ok(())
    }
}

/// Start `spec` with piped stdout and stderr, listed in `children` until dropped.
pub fn spawn(spec: &Spec<'_>, children: &Children) -> std::io::Result<Started> {
    let mut cmd = CommandWrap::with_new(spec.program, |c| {
        c.args(spec.args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(spec.cwd)
            .stdin(if spec.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    });
    cmd.wrap(ProcessGroup::leader())
        .wrap(KillOnDrop)
        .wrap(ParentDeathSignal);
    let child = cmd.spawn()?;
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    if let Some(pgid) = pgid {
        children.insert(pgid);
    }
    Ok(Started {
        child,
        pgid,
        children: children.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scillm_core::config::ConfigLoader;

    #[test]
    fn only_the_allowlist_and_passthrough_reach_children() {
        let config = ConfigLoader::new()
            .no_file()
            .env_from(std::iter::empty::<(String, String)>())
            .set("sidecar.api_key", "sk-side")
            .set("sidecar.forward_token", "tok-fwd")
            .set("sidecar.env_passthrough", vec!["MY_VAR", "LEAKY"])
            .load()
            .unwrap();
        let vars = [
            ("PATH", "/bin"),
            ("https_proxy", "http://p"),
            ("LC_ALL", "C"),
            ("CODEX_SIDECAR_API_KEY", "sk-side"),
            ("OPENAI_API_KEY", "sk-openai"),
            ("MY_VAR", "1"),
            ("LEAKY", "tok-fwd"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = child_env(&config, vars, &[("CODEX_HOME".into(), "/tmp/ch".into())]);
        let names: Vec<String> = env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["PATH", "https_proxy", "LC_ALL", "MY_VAR", "CODEX_HOME"]
        );
    }
}
