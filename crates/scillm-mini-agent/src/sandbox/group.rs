//! The process group of a sandboxed child: killed as a whole, and watched until it is gone.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long to wait for the members of a killed group to be reaped (orphaned members are
/// reaped by init, which may be lazy).
const GONE_WAIT: Duration = Duration::from_secs(10);
const GONE_POLL: Duration = Duration::from_millis(20);

/// Kills the whole group with SIGKILL when dropped, so a cancelled run (for example when
/// the agent's time budget runs out mid-tool) never leaves processes behind.
#[derive(Debug)]
pub struct GroupGuard {
    pgid: Pid,
    /// Set once the group is known to be gone, so a reused id is never signalled.
    gone: bool,
}

impl GroupGuard {
    /// Guard the group `pgid` (the pid of a child that called `setsid`).
    pub fn new(pgid: u32) -> Option<Self> {
        let raw = i32::try_from(pgid).ok().filter(|p| *p > 1)?;
        Some(Self {
            pgid: Pid::from_raw(raw),
            gone: false,
        })
    }

    /// The group id.
    pub fn pgid(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// Send SIGKILL to every process of the group.
    pub fn kill(&self) {
        if self.gone {
            return;
        }
        match killpg(self.pgid, Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!(pgid = self.pgid.as_raw(), error = %e, "killpg failed"),
        }
    }

    /// Kill the group, then wait (bounded) until no process of it exists any more.
    /// Returns whether the group is gone.
    pub async fn kill_and_wait_gone(&mut self) -> bool {
        self.kill();
        let give_up = tokio::time::Instant::now() + GONE_WAIT;
        loop {
            if group_gone(self.pgid.as_raw()) {
                self.gone = true;
                return true;
            }
            if tokio::time::Instant::now() >= give_up {
                tracing::warn!(
                    pgid = self.pgid.as_raw(),
                    "sandbox process group still present after SIGKILL"
                );
                return false;
            }
            self.kill();
            tokio::time::sleep(GONE_POLL).await;
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether no process (zombies included) is left in the group `pgid`.
pub fn group_gone(pgid: i32) -> bool {
    matches!(killpg(Pid::from_raw(pgid), None), Err(Errno::ESRCH))
}
