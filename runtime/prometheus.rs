//! `Metrics::to_prometheus`: the snapshot in the Prometheus text exposition format
//! (version 0.0.4), ready to serve at `/metrics` (see `examples/http_hello.rs`).
//!
//! Counters end in `_total`; per-P counters carry a `p` label; the three histograms are
//! Prometheus histograms in seconds on a 1-2-5 ladder from 1 µs to 10 s, with their
//! p50/p99/p99.9 as `*_quantile_seconds` gauges (Prometheus cannot derive those from
//! coarse buckets as precisely as gort's own 1.6 % buckets do).

use std::fmt::Write;

use crate::histogram::Histogram;
use crate::metrics::{Metrics, ProcMetrics};

/// Bucket bounds of the exported histograms, in nanoseconds.
const LADDER_NS: [u64; 22] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
];

type PerP = fn(&ProcMetrics) -> u64;

/// Per-P counters: name, help, accessor.
const PER_P: [(&str, &str, PerP); 12] = [
    (
        "spawned",
        "Goroutines spawned by goroutines on this P.",
        |p| p.spawned,
    ),
    ("completed", "Goroutines that finished on this P.", |p| {
        p.completed
    }),
    ("switches", "Switches into goroutines.", |p| p.switches),
    ("yields", "yield_now calls and preemption yields.", |p| {
        p.yields
    }),
    ("parks", "Parks that put a goroutine to sleep.", |p| p.parks),
    ("steals", "Successful steals by this P (batches).", |p| {
        p.steals
    }),
    ("stolen", "Goroutines this P stole.", |p| p.stolen),
    (
        "global_pulls",
        "Goroutines taken from the global queue.",
        |p| p.global_pulls,
    ),
    (
        "overflows",
        "Local run-queue overflows to the global queue.",
        |p| p.overflows,
    ),
    (
        "spins",
        "Times an M holding this P started spinning.",
        |p| p.spins,
    ),
    (
        "runnext_runs",
        "Goroutines run from the runnext slot.",
        |p| p.runnext_runs,
    ),
    (
        "syscall_reacquires",
        "Goroutines back from a handed-off blocking call that got this P.",
        |p| p.syscall_reacquires,
    ),
];

impl Metrics {
    /// Renders every counter, gauge and histogram in the Prometheus text format.
    ///
    /// ```
    /// let text = gort::run(|| gort::metrics().to_prometheus());
    /// assert!(text.contains("# TYPE gort_goroutines gauge"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let gauges: [(&str, &str, u64); 9] = [
            (
                "goroutines",
                "Goroutines spawned and not finished.",
                self.live_goroutines,
            ),
            (
                "global_queue_length",
                "Goroutines in the global run queue.",
                self.global_queue_len as u64,
            ),
            ("threads", "OS threads (Ms) alive.", self.threads as u64),
            (
                "idle_threads",
                "Ms in the idle list.",
                self.idle_threads as u64,
            ),
            ("idle_procs", "Ps without an M.", self.idle_procs as u64),
            (
                "spinning_threads",
                "Ms looking for work.",
                self.spinning_threads as u64,
            ),
            (
                "goroutines_in_blocking",
                "Goroutines inside gort::blocking.",
                self.in_blocking as u64,
            ),
            (
                "io_waiters",
                "Goroutines parked on socket readiness.",
                self.io_waiters as u64,
            ),
            (
                "stack_slabs",
                "Slabs of stack address space mapped.",
                self.stack_slabs as u64,
            ),
        ];
        for (name, help, v) in gauges {
            family(&mut out, name, help, "gauge");
            let _ = writeln!(out, "gort_{name} {v}");
        }
        for (name, help, get) in PER_P {
            let full = format!("{name}_total");
            family(&mut out, &full, help, "counter");
            for (i, p) in self.procs.iter().enumerate() {
                let _ = writeln!(out, "gort_{full}{{p=\"{i}\"}} {}", get(p));
            }
        }
        let counters: [(&str, &str, u64); 6] = [
            (
                "syscall_handoffs_total",
                "Ps sysmon took from blocked calls and handed off.",
                self.syscall_handoffs,
            ),
            (
                "preempt_requests_total",
                "Times sysmon asked a long run to yield.",
                self.preempt_requests,
            ),
            ("hogs_total", "Goroutines reported as hogs.", self.hogs),
            (
                "netpoll_woken_total",
                "Goroutines made runnable by the netpoller.",
                self.netpoll_woken,
            ),
            (
                "stacks_allocated_total",
                "Stacks carved from slabs.",
                self.stacks_allocated as u64,
            ),
            (
                "stacks_trimmed_total",
                "Pooled stacks whose pages were released.",
                self.stacks_trimmed,
            ),
        ];
        for (name, help, v) in counters {
            family(&mut out, name, help, "counter");
            let _ = writeln!(out, "gort_{name} {v}");
        }
        let hists = [
            (
                "sched_latency",
                "Runnable to running (sampled, see Builder::latency_sampling).",
                &self.sched_latency,
            ),
            (
                "run_length",
                "Switch-in to the next scheduling point (sampled).",
                &self.run_length,
            ),
            (
                "park_duration",
                "Park to wake (sampled).",
                &self.park_duration,
            ),
        ];
        for (name, help, h) in hists {
            histogram(&mut out, name, help, h);
        }
        out
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP gort_{name} {help}");
    let _ = writeln!(out, "# TYPE gort_{name} {kind}");
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    let full = format!("{name}_seconds");
    family(out, &full, help, "histogram");
    for le in LADDER_NS {
        let _ = writeln!(
            out,
            "gort_{full}_bucket{{le=\"{}\"}} {}",
            secs(le),
            h.count_at_most(le)
        );
    }
    let _ = writeln!(out, "gort_{full}_bucket{{le=\"+Inf\"}} {}", h.count());
    let _ = writeln!(out, "gort_{full}_sum {}", h.sum().as_secs_f64());
    let _ = writeln!(out, "gort_{full}_count {}", h.count());
    let q = format!("{name}_quantile_seconds");
    family(
        out,
        &q,
        &format!("{help} Quantiles from gort's 1.6 % buckets."),
        "gauge",
    );
    for quantile in [0.5, 0.99, 0.999, 1.0] {
        let _ = writeln!(
            out,
            "gort_{q}{{quantile=\"{quantile}\"}} {}",
            h.quantile(quantile).as_secs_f64()
        );
    }
}
