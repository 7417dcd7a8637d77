//! Latency histograms in `gort::metrics()` and their Prometheus rendering.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gort::Runtime;

/// Every transition timed, so counts are exact.
fn rt(procs: usize) -> Runtime {
    Runtime::builder()
        .procs(procs)
        .latency_sampling(1)
        .build()
        .unwrap()
}

#[test]
fn park_duration_reflects_how_long_goroutines_slept() {
    let m = rt(2).block_on(|| {
        let hs: Vec<_> = (0..400)
            .map(|_| gort::spawn(|| gort::time::sleep(Duration::from_millis(30))))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        gort::metrics()
    });
    let p = &m.park_duration;
    // Every transition is sampled: 400 sleeps, plus the main goroutine's joins.
    assert!(p.count() >= 400, "{} samples", p.count());
    assert!(
        p.max() >= Duration::from_millis(29),
        "the longest park {:?} is shorter than the sleeps",
        p.max()
    );
    assert!(p.quantile(0.5) <= p.quantile(0.99));
    assert!(p.quantile(0.99) <= p.max());
}

#[test]
fn run_length_sees_a_long_run_and_latency_sees_waiting_behind_it() {
    let m = rt(1).block_on(|| {
        // On one P, goroutines that yield after 2 ms of work make each other wait.
        let hs: Vec<_> = (0..4)
            .map(|_| {
                gort::spawn(|| {
                    for _ in 0..40 {
                        let t = Instant::now();
                        while t.elapsed() < Duration::from_millis(2) {
                            std::hint::spin_loop();
                        }
                        gort::yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        gort::metrics()
    });
    assert!(m.run_length.count() >= 10, "{}", m.run_length.count());
    assert!(
        m.run_length.quantile(0.5) >= Duration::from_micros(1900),
        "median run {:?}",
        m.run_length.quantile(0.5)
    );
    assert!(m.sched_latency.count() >= 10);
    // Behind three others that each run 2 ms, a yielded goroutine waits about 6 ms.
    assert!(
        m.sched_latency.quantile(0.99) >= Duration::from_millis(4),
        "p99 latency {:?}",
        m.sched_latency.quantile(0.99)
    );
}

#[test]
fn a_bad_sampling_rate_is_an_error() {
    for bad in [0, 3, 2048] {
        let e = Runtime::builder()
            .latency_sampling(bad)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("latency_sampling"), "{e}");
    }
}

#[test]
fn prometheus_text_parses_and_matches_the_snapshot() {
    let m = rt(2).block_on(|| {
        let hs: Vec<_> = (0..1000u64).map(|i| gort::spawn(move || i)).collect();
        for h in hs {
            h.join().unwrap();
        }
        gort::time::sleep(Duration::from_millis(2));
        gort::metrics()
    });
    let text = m.to_prometheus();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid Prometheus text");
    let mut by_name: HashMap<&str, Vec<&prometheus_parse::Sample>> = HashMap::new();
    for s in &scrape.samples {
        by_name.entry(s.metric.as_str()).or_default().push(s);
    }
    let value = |s: &prometheus_parse::Sample| match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{} is not a scalar", s.metric),
    };
    // Per-P counters, one sample per P, summing to the snapshot's total.
    let spawned = &by_name["gort_spawned_total"];
    assert_eq!(spawned.len(), 2);
    let sum: f64 = spawned.iter().map(|s| value(s)).sum();
    assert_eq!(sum as u64, m.procs.iter().map(|p| p.spawned).sum::<u64>());
    assert!(sum >= 1000.0);
    assert_eq!(
        value(by_name["gort_goroutines"][0]) as u64,
        m.live_goroutines
    );
    assert!(scrape.docs.contains_key("gort_threads"));
    // The histogram: cumulative buckets ending at the count.
    let hist = by_name["gort_park_duration_seconds"]
        .iter()
        .find_map(|s| match &s.value {
            prometheus_parse::Value::Histogram(b) => Some(b.clone()),
            _ => None,
        })
        .expect("park duration histogram");
    assert!(hist.windows(2).all(|w| w[0].count <= w[1].count));
    assert_eq!(hist.last().unwrap().count as u64, m.park_duration.count());
    let quantiles = &by_name["gort_sched_latency_quantile_seconds"];
    assert_eq!(quantiles.len(), 4);
}

#[test]
fn a_histogram_of_ones_own_durations_has_the_same_accuracy() {
    let mut h = gort::Histogram::new();
    for us in 1..=10_000u64 {
        h.record(std::time::Duration::from_micros(us));
    }
    assert_eq!(h.count(), 10_000);
    assert_eq!(h.max(), std::time::Duration::from_micros(10_000));
    for (q, exact) in [(0.5, 5_000.0), (0.99, 9_900.0), (0.999, 9_990.0)] {
        let got = h.quantile(q).as_secs_f64() * 1e6;
        assert!(
            (got - exact).abs() / exact < 0.02,
            "q{q}: {got} µs vs {exact}"
        );
    }
    let mut d = gort::Histogram::default();
    d.record(std::time::Duration::from_millis(3));
    assert_eq!(d.count(), 1, "a default histogram records too");
}

#[test]
fn goroutines_spawned_from_a_plain_thread_are_timed_too() {
    let rt = gort::Runtime::builder()
        .procs(2)
        .latency_sampling(1)
        .build()
        .unwrap();
    let hs: Vec<_> = (0..100u64).map(|i| rt.spawn(move || i)).collect();
    let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 4950);
    let m = rt.metrics();
    assert!(
        m.sched_latency.count() >= 100,
        "{} of 100 external spawns timed",
        m.sched_latency.count()
    );
}
