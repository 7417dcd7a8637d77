//! The simulation loop: one OS thread steps `procs` virtual Ps, chosen by a seeded
//! generator, with the scheduler's own `look` and `execute`, on a virtual clock that
//! jumps to the next timer when no P has work.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use crate::context::{self, MContext};
use crate::m::M;
use crate::overflow;
use crate::sched::Sched;
use crate::schedule;
use crate::timer;

/// Where the virtual clock starts (ns on the timer clock): fixed, so that two runs with
/// one seed see the same times.
const VIRTUAL_EPOCH_NS: u64 = 1_000_000_000;

/// How a simulated run ended.
pub(crate) struct Outcome {
    /// FNV-1a hash of every scheduling decision: (P, goroutine, inherited slice), in order,
    /// and every clock jump.
    pub(crate) hash: u64,
    /// Goroutine runs the loop made.
    pub(crate) steps: u64,
    /// The deadlock report, if every goroutine fell asleep before `done` held.
    pub(crate) deadlock: Option<String>,
}

/// Calls `start` (which spawns the main goroutine) on virtual time, then steps the
/// runtime until `done` holds for what it returned, or a deadlock.
pub(crate) fn drive<H>(
    sched: &Arc<Sched>,
    seed: u64,
    start: impl FnOnce() -> H,
    done: impl Fn(&H) -> bool,
) -> (Outcome, H) {
    let _altstack = overflow::ThreadAltStack::install();
    let clock = VirtualClock::start(sched);
    // `select!` draws its arm order from a per-thread generator: seed it too.
    crate::chan::select::seed_rand(Some(seed));
    let main = start();
    let ctx = MContext::new(sched.clone(), Arc::new(M::new(0)));
    ctx.reseed(seed);
    let outer = context::current();
    context::set_current(&ctx);
    let mut rng = SplitMix(seed);
    let mut hash = Fnv::new();
    let procs = sched.config.procs;
    let mut steps = 0;
    let deadlock = loop {
        if done(&main) {
            break None;
        }
        let pid = (rng.next() % procs as u64) as usize;
        ctx.p.set(Some(pid));
        match schedule::look(&ctx, pid) {
            Some((g, inherit)) => {
                if ctx.spinning.get() {
                    ctx.spinning.set(false);
                    sched.nmspinning.fetch_sub(1, SeqCst);
                }
                hash.add(pid as u64);
                hash.add(g.info().id);
                hash.add(inherit as u64);
                steps += 1;
                schedule::execute(&ctx, g, inherit);
                // `blocking` hands the P back on return here (no sysmon takes it).
                debug_assert_eq!(ctx.p.get(), Some(pid));
            }
            None => {
                if ctx.spinning.get() {
                    ctx.spinning.set(false);
                    sched.nmspinning.fetch_sub(1, SeqCst);
                }
                if any_work(sched) {
                    continue; // another P has some
                }
                let next = sched.earliest_timer();
                if next == u64::MAX {
                    break Some(format!(
                        "all goroutines are asleep - deadlock! (simulation seed {seed})\n\n{}",
                        sched.dump()
                    ));
                }
                clock.advance_to(next);
                hash.add(u64::MAX);
                hash.add(next - VIRTUAL_EPOCH_NS);
            }
        }
    };
    ctx.p.set(None);
    context::set_current(outer);
    drop(clock);
    crate::chan::select::seed_rand(None);
    let out = Outcome {
        hash: hash.0,
        steps,
        deadlock,
    };
    (out, main)
}

/// Where a runtime's virtual clock stands (or starts).
pub(crate) fn virtual_start(sched: &Sched) -> u64 {
    match sched.sim_clock.load(SeqCst) {
        0 => VIRTUAL_EPOCH_NS,
        t => t,
    }
}

/// Whether any P, inbox or the global queue holds a runnable goroutine.
fn any_work(s: &Sched) -> bool {
    s.global_len() > 0 || s.ps.iter().any(|p| !p.runq.is_empty() || p.inbox_len() > 0)
}

/// This thread's virtual clock for the length of a run; the runtime keeps its time
/// between runs.
struct VirtualClock<'a>(&'a Sched);

impl<'a> VirtualClock<'a> {
    fn start(sched: &'a Sched) -> Self {
        timer::start_virtual_clock(virtual_start(sched));
        VirtualClock(sched)
    }

    fn advance_to(&self, ns: u64) {
        if ns > timer::now_ns() {
            timer::set_virtual_ns(ns);
        }
    }
}

impl Drop for VirtualClock<'_> {
    fn drop(&mut self) {
        self.0.sim_clock.store(timer::now_ns(), SeqCst);
        timer::set_virtual_ns(0);
    }
}

/// The seeded generator that picks the next P.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// 64-bit FNV-1a over little-endian words.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, word: u64) {
        for b in word.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
