//! Picking one deployment among the healthy candidates (SPEC §13 routing strategies,
//! LiteLLM's names): first the lowest `order` present, then by `routing_strategy`.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scillm_core::config::RoutingStrategy;

use crate::deployments::DeploymentState;
use crate::state::RouterState;

/// The routing strategy with its RNG.
#[derive(Debug)]
pub struct Picker {
    strategy: RoutingStrategy,
    rng: Mutex<StdRng>,
}

impl Picker {
    /// A picker for `strategy`; `seed` makes `simple-shuffle` reproducible.
    pub fn new(strategy: RoutingStrategy, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Self {
            strategy,
            rng: Mutex::new(rng),
        }
    }

    /// The position in `candidates` (deployments, never empty) to call: among those
    /// with the lowest `order`, the strategy's choice. Ties go by `model`'s rotation.
    pub fn pick(
        &self,
        model: &str,
        candidates: &[&DeploymentState],
        state: &dyn RouterState,
    ) -> usize {
        if candidates.len() <= 1 {
            return 0;
        }
        let best_order = candidates.iter().map(|d| d.order).min().unwrap_or(u32::MAX);
        let eligible: Vec<usize> = (0..candidates.len())
            .filter(|&i| candidates[i].order == best_order)
            .collect();
        if eligible.len() == 1 {
            return eligible[0];
        }
        match self.strategy {
            RoutingStrategy::SimpleShuffle => self.weighted(candidates, &eligible),
            RoutingStrategy::LeastBusy => lowest(model, &eligible, state, |i| {
                candidates[i].in_flight() as f64
            }),
            RoutingStrategy::LatencyBased => lowest(model, &eligible, state, |i| {
                // No sample yet counts as fastest, so every deployment gets measured.
                candidates[i].latency().map_or(0.0, |d| d.as_secs_f64())
            }),
            RoutingStrategy::UsageBased => lowest(model, &eligible, state, |i| {
                usage_share(candidates[i], state)
            }),
        }
    }

    /// A random pick weighted by `weight`.
    fn weighted(&self, candidates: &[&DeploymentState], eligible: &[usize]) -> usize {
        let total: f64 = eligible.iter().map(|&i| candidates[i].weight).sum();
        let mut x = match self.rng.lock() {
            Ok(mut rng) => rng.random::<f64>() * total,
            Err(_) => 0.0,
        };
        for &i in eligible {
            x -= candidates[i].weight;
            if x < 0.0 {
                return i;
            }
        }
        eligible[eligible.len() - 1]
    }
}

/// The eligible position with the lowest `score`; ties broken by the model's rotation.
fn lowest(
    model: &str,
    eligible: &[usize],
    state: &dyn RouterState,
    score: impl Fn(usize) -> f64,
) -> usize {
    let scores: Vec<f64> = eligible.iter().map(|&i| score(i)).collect();
    let best = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let tied: Vec<usize> = eligible
        .iter()
        .zip(&scores)
        .filter(|(_, s)| **s <= best)
        .map(|(i, _)| *i)
        .collect();
    if tied.len() == 1 {
        return tied[0];
    }
    let turn = usize::try_from(state.next_rotation(model)).unwrap_or(0);
    tied[turn % tied.len()]
}

/// The share of its limits a deployment used this minute: the larger of the `rpm` and
/// `tpm` shares; without limits, its request count (so unlimited ones spread evenly).
fn usage_share(d: &DeploymentState, state: &dyn RouterState) -> f64 {
    let used = state.usage(&d.id);
    let rpm = d
        .limits
        .rpm
        .map(|l| used.requests as f64 / f64::from(l.max(1)));
    let tpm = d.limits.tpm.map(|l| used.tokens as f64 / l.max(1) as f64);
    match (rpm, tpm) {
        (None, None) => used.requests as f64,
        (a, b) => a.unwrap_or(0.0).max(b.unwrap_or(0.0)),
    }
}
