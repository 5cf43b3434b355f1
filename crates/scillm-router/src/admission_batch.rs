//! Shared admissions that arrive together go to Redis together: one script call admits a
//! group of requests of one deployment all or none, exactly as that many requests
//! admitted one after another at the same instant (SPEC §13 limits unchanged). While one
//! group's call is in flight the next requests queue and form the next group, so under
//! load the Redis calls per request fall well below one, and a lone request still goes at
//! once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use scillm_state::{Gate, RateLimit, RedisStore};
use tokio::sync::{mpsc, oneshot};

/// Most requests admitted by one script call.
const MAX_GROUP: usize = 64;

/// One request waiting for its group's answer.
struct Waiter {
    tokens: u64,
    reply: oneshot::Sender<Grouped>,
}

/// A group's answer to one of its requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grouped {
    /// The script's answer (`None`: Redis was not reached).
    pub(crate) gate: Option<Gate>,
    /// How many requests the call was for: a refusal of a group of more than one says
    /// nothing about a single request, which then asks on its own.
    pub(crate) size: usize,
}

/// One admission queue per deployment, each drained by its own task.
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Waiter>>>,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl Batcher {
    /// Admit one request of `deployment` charged `tokens`, in a group with the requests
    /// that arrive meanwhile. `None` when the group could not be formed (no runtime).
    pub(crate) async fn admit(
        &self,
        store: &Arc<RedisStore>,
        deployment: &str,
        limit: RateLimit,
        tokens: u64,
    ) -> Option<Grouped> {
        let (reply, answer) = oneshot::channel();
        let waiter = Waiter { tokens, reply };
        {
            let mut queues = self.queues.lock().ok()?;
            let queue = queues.entry(deployment.to_owned()).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(drain(Arc::clone(store), deployment.to_owned(), limit, rx));
                tx
            });
            queue.send(waiter).ok()?;
        }
        answer.await.ok()
    }
}

/// Admit the queued requests group by group until every sender is gone.
async fn drain(
    store: Arc<RedisStore>,
    deployment: String,
    limit: RateLimit,
    mut rx: mpsc::UnboundedReceiver<Waiter>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let tokens = group
            .iter()
            .map(|w| w.tokens)
            .fold(0u64, u64::saturating_add);
        let size = group.len();
        let gate = store
            .acquire_many_unless_cooling(&deployment, limit, size as u64, tokens)
            .await;
        for w in group.drain(..) {
            let _ = w.reply.send(Grouped { gate, size });
        }
    }
}
