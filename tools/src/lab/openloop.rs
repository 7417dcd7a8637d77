//! The open-loop server workload: requests arrive as a Poisson process at a set rate,
//! whether or not earlier ones are done (unlike the closed workloads, the load does not
//! back off when the scheduler is slow), and each runs in a goroutine of its own that
//! busy-spins for its service time. The sojourn time of a request is its completion time
//! minus its *scheduled* arrival time, so a late dispatcher cannot hide queueing
//! (no coordinated omission).
//!
//! Dispatcher: a plain OS thread (the caller of [`run_level`]), not a goroutine, so it
//! does not occupy a P and requests enter the runtime the way outside events do
//! (`Runtime::spawn` from a thread). It sleeps until the next scheduled arrival with
//! `thread::sleep` after lowering its timer slack to 1 ns (Linux otherwise adds up to
//! 50 µs), then spawns every request whose time has come. Gaps shorter than the
//! sleep's wake-up latency (~10–60 µs in a VM) become small bursts; that adds a little
//! burstiness to the process but no error to the sojourn times. Spinning instead would
//! take a whole core away from the runtime on a 2-core machine, and gort's timers
//! (`time::sleep_until`) have millisecond resolution when the runtime idles in
//! `epoll_wait`.
//!
//! Offered load is a fraction of the nominal capacity `procs / mean service time`; the
//! per-request costs (spawn, queueing, switch) come on top, so the real knee is below 1.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::record::Sojourn;
use super::rng::Rng;
use std::sync::Mutex;

/// Service-time distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Service {
    /// Every request takes `mean`.
    Fixed,
    /// Exponential with `mean`.
    Exp,
    /// 99.5 % short, 0.5 % 1000× longer (the heavy-tailed case of the scheduling
    /// papers), scaled so the mean is `mean`.
    Bimodal,
}

impl Service {
    /// Parses `fixed`, `exp` or `bimodal`.
    pub fn parse(s: &str) -> Option<Service> {
        match s {
            "fixed" => Some(Service::Fixed),
            "exp" => Some(Service::Exp),
            "bimodal" => Some(Service::Bimodal),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Fixed => "fixed",
            Service::Exp => "exp",
            Service::Bimodal => "bimodal",
        }
    }

    /// One draw, in ns, for this mean.
    pub fn draw(self, mean_ns: f64, rng: &mut Rng) -> u64 {
        let ns = match self {
            Service::Fixed => mean_ns,
            Service::Exp => rng.exp(mean_ns),
            Service::Bimodal => {
                // short·(0.995 + 0.005·1000) = mean  →  short = mean / 5.995
                let short = mean_ns / 5.995;
                if rng.unit() <= 0.005 {
                    short * 1000.0
                } else {
                    short
                }
            }
        };
        ns as u64
    }
}

/// Parameters of one offered-load level.
#[derive(Clone, Copy, Debug)]
pub struct LevelSpec {
    /// Offered load, fraction of `procs / mean`.
    pub load: f64,
    /// Ps of the runtime (for the arrival rate).
    pub procs: usize,
    /// Service-time distribution.
    pub service: Service,
    /// Mean service time.
    pub mean: Duration,
    /// How long arrivals go on.
    pub duration: Duration,
    /// Stop arrivals after this many requests even if `duration` has not passed.
    pub max_requests: u64,
    /// Seed of the arrival and service draws (same for every config: a paired design).
    pub seed: u64,
}

/// Busy-waits for `ns` on the monotonic clock: a request that uses the CPU, without a
/// scheduling point (like a real handler's computation).
fn spin_for(ns: u64) {
    let start = Instant::now();
    let d = Duration::from_nanos(ns);
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Makes this (dispatcher) thread wake on time: timer slack 1 ns (default 50 µs) and,
/// when allowed (root or CAP_SYS_NICE), real-time priority `SCHED_FIFO` so it preempts
/// the runtime's Ms at once; else nice −20, else nothing. Without this, on a 2-core
/// machine with procs = 2 the kernel let arrivals slip by 1–10 ms behind busy Ms, and
/// that lag (counted in sojourn, as it must be) swamped the scheduler's own effect. The
/// thread sleeps between arrivals, so real-time priority cannot starve the runtime.
/// The lag left is reported as `dispatch_lag_p99_us`.
fn prioritize_dispatcher() {
    #[cfg(target_os = "linux")]
    // SAFETY: these calls only change the calling thread's timer slack and priority.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        let p = libc::sched_param { sched_priority: 1 };
        if libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, -20);
        }
    }
}

/// Back to normal scheduling for the lab's main thread after a level.
fn restore_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: as above.
    unsafe {
        let p = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_OTHER, &p);
        libc::setpriority(libc::PRIO_PROCESS, 0, 0);
    }
}

/// Runs one level on `rt` from the calling thread and returns its sojourn percentiles.
/// Returns after every request has completed.
pub fn run_level(rt: &gort::Runtime, spec: &LevelSpec) -> Sojourn {
    prioritize_dispatcher();
    let mean_ns = spec.mean.as_nanos() as f64;
    let rate_per_ns = spec.load * spec.procs as f64 / mean_ns;
    let gap_mean_ns = 1.0 / rate_per_ns;
    // One lock per request: at most tens of thousands a second, never contended long.
    let hist = Arc::new(Mutex::new(gort::Histogram::new()));
    let done = Arc::new(AtomicU64::new(0));
    let mut lag = gort::Histogram::new();
    let mut rng = Rng::new(spec.seed);
    let start = Instant::now();
    let mut next = Duration::from_nanos(rng.exp(gap_mean_ns) as u64);
    let mut issued = 0u64;
    while issued < spec.max_requests && next < spec.duration {
        let now = start.elapsed();
        if next > now {
            std::thread::sleep(next - now);
        }
        // Spawn every request due by now (a burst when the sleep woke late).
        let now = start.elapsed();
        while next <= now && issued < spec.max_requests && next < spec.duration {
            lag.record(now - next);
            let arrival = start + next;
            let service = spec.service.draw(mean_ns, &mut rng);
            let (hist, done) = (hist.clone(), done.clone());
            drop(rt.spawn(move || {
                spin_for(service);
                let sojourn = arrival.elapsed();
                hist.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record(sojourn);
                done.fetch_add(1, Relaxed);
            }));
            issued += 1;
            next += Duration::from_nanos(rng.exp(gap_mean_ns) as u64);
        }
    }
    // Drain: requests are short, so this ends soon after the last arrival.
    while done.load(Relaxed) < issued {
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = start.elapsed().as_secs_f64();
    restore_priority();
    let sojourns = hist.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Sojourn {
        load: spec.load,
        requests: issued,
        achieved_rps: issued as f64 / elapsed,
        p50_us: us(sojourns.quantile(0.5)),
        p99_us: us(sojourns.quantile(0.99)),
        p999_us: us(sojourns.quantile(0.999)),
        dispatch_lag_p99_us: us(lag.quantile(0.99)),
    }
}

/// Linear interpolation of the offered load at which `p99` first crosses `slo_us`, over
/// points sorted by load. `None` if it never does; the first load if it starts above.
pub fn slo_crossing(points: &[(f64, f64)], slo_us: f64) -> Option<f64> {
    let first = points.first()?;
    if first.1 > slo_us {
        return Some(first.0);
    }
    points.windows(2).find_map(|w| {
        let ((l0, p0), (l1, p1)) = (w[0], w[1]);
        (p0 <= slo_us && p1 > slo_us).then(|| l0 + (l1 - l0) * (slo_us - p0) / (p1 - p0))
    })
}

/// Microseconds, for the report.
fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_crossing_interpolates() {
        let pts = [(0.1, 10.0), (0.5, 50.0), (0.9, 250.0)];
        assert_eq!(slo_crossing(&pts, 1000.0), None);
        assert!((slo_crossing(&pts, 150.0).unwrap() - 0.7).abs() < 1e-9);
        assert_eq!(slo_crossing(&pts, 5.0), Some(0.1));
    }

    #[test]
    fn bimodal_mean_is_the_mean() {
        let mut r = Rng::new(1);
        let n = 400_000;
        let m = (0..n)
            .map(|_| Service::Bimodal.draw(6_000.0, &mut r))
            .sum::<u64>() as f64
            / n as f64;
        assert!((m - 6_000.0).abs() < 600.0, "{m}");
    }

    #[test]
    fn a_light_level_has_sojourn_near_service() {
        let rt = gort::Runtime::builder()
            .procs(2)
            .chaos(None)
            .build()
            .unwrap();
        let s = run_level(
            &rt,
            &LevelSpec {
                load: 0.1,
                procs: 2,
                service: Service::Fixed,
                mean: Duration::from_micros(50),
                duration: Duration::from_millis(100),
                max_requests: 1_000,
                seed: 3,
            },
        );
        assert!(s.requests > 100, "{s:?}");
        assert!(s.p50_us >= 50.0, "{s:?}");
    }
}
