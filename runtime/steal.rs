//! Work stealing (Go's `stealWork`): an M whose P has nothing to run takes half of
//! another P's run queue in one batch.
//!
//! Up to `steal_rounds` rounds (Go: 4); each round visits every other P once, in an
//! order from [`VictimOrder`]. Go's order is a random start and a random stride coprime
//! to `procs`, which visits each P exactly once and differs between thieves, so two
//! thieves rarely hit the same victim. Only the last round also takes a victim's
//! `runnext`: that goroutine was just readied by the victim's running goroutine and will
//! most likely run there soon, on a warm cache.

use std::sync::atomic::Ordering::Relaxed;

use crate::config::VictimOrder;
use crate::context::MContext;
use crate::g::GRef;
use crate::metrics::{add, bump};
use crate::p::P;

/// Yields victim P indices for one round, covering every P once (including the thief,
/// which callers skip).
pub(crate) struct Victims {
    pos: usize,
    stride: usize,
    n: usize,
    left: usize,
}

impl Victims {
    pub(crate) fn new(
        order: VictimOrder,
        me: usize,
        n: usize,
        coprimes: &[usize],
        rand: u64,
    ) -> Self {
        let (pos, stride) = match order {
            VictimOrder::RandomCoprime => (
                (rand % n as u64) as usize,
                coprimes[((rand >> 32) % coprimes.len() as u64) as usize],
            ),
            VictimOrder::RandomStart => ((rand % n as u64) as usize, 1),
            VictimOrder::RoundRobin => ((me + 1) % n, 1),
        };
        Victims {
            pos,
            stride,
            n,
            left: n,
        }
    }
}

impl Iterator for Victims {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let v = self.pos;
        self.pos = (self.pos + self.stride) % self.n;
        Some(v)
    }
}

/// Tries to steal a goroutine for P `p` (held by `ctx`'s M, its ring empty).
pub(crate) fn steal_work(ctx: &MContext, p: &P) -> Option<GRef> {
    let s = &*ctx.sched;
    let cfg = &s.config;
    let n = cfg.procs;
    for round in 0..cfg.steal_rounds {
        let last = round + 1 == cfg.steal_rounds;
        for v in Victims::new(cfg.victim_order, p.id, n, &s.coprimes, ctx.rand()) {
            if s.shutdown.load(Relaxed) {
                return None;
            }
            if v == p.id {
                continue;
            }
            let victim = &s.ps[v];
            let permille = if ctx.chaos_on() && ctx.chaos_roll(crate::chaos::STEAL_ONE_ODDS) {
                1 // one goroutine
            } else {
                cfg.steal_permille
            };
            // SAFETY: this M holds `p`, so it owns `p.runq`, whose ring is empty (we
            // only steal after our own queue came up empty); all Ps share one capacity.
            let got = unsafe {
                victim
                    .runq
                    .steal_into(&p.runq, permille, last && cfg.runnext)
            };
            if let Some((g, count)) = got {
                bump(&p.counters.steals);
                add(&p.counters.stolen, count as u64);
                if crate::trace::on(s) {
                    let arg = (v as u32) << 16 | count;
                    let k = crate::trace::kind::STEAL;
                    crate::trace::points::event_on(ctx, k, 0, Some(p.id), arg);
                }
                return Some(g);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_order_visits_each_p_exactly_once_per_round() {
        for n in 1..=12usize {
            let coprimes: Vec<usize> = (1..=n).filter(|&i| gcd(i, n) == 1).collect();
            for order in [
                VictimOrder::RandomCoprime,
                VictimOrder::RandomStart,
                VictimOrder::RoundRobin,
            ] {
                for seed in [0u64, 7, 0xdead_beef_1234_5678, u64::MAX] {
                    let mut seen: Vec<usize> = Victims::new(order, 0, n, &coprimes, seed).collect();
                    seen.sort_unstable();
                    assert_eq!(seen, (0..n).collect::<Vec<_>>(), "{order:?} n={n}");
                }
            }
        }
    }

    #[test]
    fn random_coprime_orders_differ_between_seeds() {
        let n = 8;
        let coprimes = vec![1, 3, 5, 7];
        let orders: std::collections::HashSet<Vec<usize>> = (0..64u64)
            .map(|s| {
                let r = s.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                Victims::new(VictimOrder::RandomCoprime, 0, n, &coprimes, r).collect()
            })
            .collect();
        assert!(orders.len() > 8, "only {} distinct orders", orders.len());
    }

    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
}
