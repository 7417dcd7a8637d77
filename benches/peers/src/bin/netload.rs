//! netload: closed-loop echo load generator for `benches/net.sh`.
//!
//! Opens `--conns` TCP connections to an echo server on the loopback interface, then every
//! connection sends a `--size`-byte message, waits for all of it to come back, and repeats
//! (one request in flight per connection). After `--warmup` seconds it measures for
//! `--duration` seconds: requests completed in that window per second, and the round-trip
//! time of each of them in a log-linear histogram (64 sub-buckets per power of two, under
//! 1.6 % error; the maximum is exact). It ends with one machine-readable line:
//!
//!     RESULT conns=10000 size=64 secs=10 rps=123456 mean_us=.. p50_us=.. p99_us=..
//!            p999_us=.. max_us=.. errors=0 connect_errors=0 io_errors=0 mismatches=0 stalled=0
//!
//! `errors` is the sum of: connections that could not be set up (`connect_errors`:
//! connect or first round trip failed or timed out), connections that failed during the
//! run (`io_errors`: reset, early EOF), echoes that came back different (`mismatches`),
//! and connections whose request was still unanswered `--grace` seconds after the end
//! (`stalled`). Nothing panics on a network error.
//!
//! Connection setup is gradual: at most `--batch` connections are being set up at once,
//! and a connection counts as set up only after one full round trip, so the server has
//! accepted it; fewer than `--batch` connections ever wait in the server's accept queue
//! (keep `--batch` under the server's listen backlog; std's is 128). Each step of the
//! setup has a `--connect-timeout`, and connections not started within `--setup-timeout`
//! seconds are not attempted (they count as `connect_errors`): a run ends within
//! setup-timeout + 2 × connect-timeout + warmup + duration + grace seconds.
//!
//! The generator runs `--threads` threads (default 1), each a current-thread tokio runtime
//! serving its share of the connections: on a 2-core machine it takes one core and the
//! server shares what is left. Only loopback addresses are accepted. The soft
//! RLIMIT_NOFILE is raised to the hard limit at start.
//!
//!     netload --addr 127.0.0.1:7000 [--conns 100] [--size 64] [--warmup 2] [--duration 10]
//!             [--threads 1] [--batch 64] [--connect-timeout 5] [--setup-timeout 30]
//!             [--grace 3]

#[path = "../common.rs"]
mod common;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{timeout, timeout_at, Instant};

const USAGE: &str = "usage: netload --addr 127.0.0.1:PORT [--conns 100] [--size 64] \
[--warmup 2] [--duration 10] [--threads 1] [--batch 64] [--connect-timeout 5] \
[--setup-timeout 30] [--grace 3]";

/// Log-linear histogram of nanoseconds: values below 2^(SUB_BITS+1) exactly, above that
/// 2^SUB_BITS buckets per power of two. Shared by all connections; atomic counters.
struct Histogram {
    buckets: Vec<AtomicU64>,
    max: AtomicU64,
    sum: AtomicU64,
}

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
const MAX_EXP: u32 = 40; // ~18 minutes in ns; larger values land in the last bucket

impl Histogram {
    fn new() -> Histogram {
        let n = ((MAX_EXP - SUB_BITS + 1) as u64 * SUB + SUB) as usize;
        Histogram {
            buckets: (0..n).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    fn index(v: u64) -> usize {
        if v < 2 * SUB {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros();
        if exp > MAX_EXP {
            return Self::index((1u64 << (MAX_EXP + 1)) - 1);
        }
        let shift = exp - SUB_BITS;
        (shift as u64 * SUB + (v >> shift)) as usize
    }

    /// The largest value that lands in bucket `i`.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        if i < 2 * SUB {
            return i;
        }
        let shift = i / SUB - 1;
        let mant = i % SUB + SUB;
        ((mant + 1) << shift) - 1
    }

    fn record(&self, ns: u64) {
        self.buckets[Self::index(ns)].fetch_add(1, Relaxed);
        self.max.fetch_max(ns, Relaxed);
        self.sum.fetch_add(ns, Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Smallest recorded bucket bound with at least `q` of the values at or below it.
    fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return Self::upper(i).min(self.max.load(Relaxed));
            }
        }
        self.max.load(Relaxed)
    }
}

#[derive(Default)]
struct Counters {
    connect_errors: AtomicU64,
    io_errors: AtomicU64,
    mismatches: AtomicU64,
}

struct Config {
    addr: SocketAddr,
    conns: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
    batch: usize,
    connect_timeout: Duration,
    setup_timeout: Duration,
    grace: Duration,
}

fn main() {
    let args = common::Args::parse(
        &[
            "addr",
            "conns",
            "size",
            "warmup",
            "duration",
            "threads",
            "batch",
            "connect-timeout",
            "setup-timeout",
            "grace",
        ],
        USAGE,
    );
    let addr: String = args.get("addr", String::new());
    if addr.is_empty() {
        eprintln!("netload: --addr is required\n{USAGE}");
        std::process::exit(2);
    }
    let addr = match addr.to_socket_addrs().ok().and_then(|mut a| a.next()) {
        Some(a) if a.ip().is_loopback() => a,
        Some(a) => {
            eprintln!("netload: {a} is not a loopback address; refusing");
            std::process::exit(2)
        }
        None => {
            eprintln!("netload: cannot resolve {addr:?}");
            std::process::exit(2)
        }
    };
    let secs = |key: &str, default: f64| Duration::from_secs_f64(args.get(key, default).max(0.0));
    let cfg = Config {
        addr,
        conns: args.get("conns", 100usize).max(1),
        size: args.get("size", 64usize).max(8),
        warmup: secs("warmup", 2.0),
        duration: secs("duration", 10.0).max(Duration::from_millis(100)),
        batch: args.get("batch", 64usize).max(1),
        connect_timeout: secs("connect-timeout", 5.0),
        setup_timeout: secs("setup-timeout", 30.0),
        grace: secs("grace", 3.0),
    };
    let threads: usize = args.get("threads", 1usize).clamp(1, cfg.conns);
    let nofile = common::raise_nofile();
    if (nofile as usize) < cfg.conns + 64 {
        eprintln!(
            "netload: RLIMIT_NOFILE is {nofile}, too low for {} connections",
            cfg.conns
        );
    }
    std::process::exit(run(cfg, threads));
}

/// Message number `seq` of a connection: the sequence number, then filler.
fn fill(msg: &mut [u8], seq: u64) {
    msg[..8].copy_from_slice(&seq.to_le_bytes());
}

async fn setup(cfg: &Config, id: usize) -> std::io::Result<TcpStream> {
    let tmo = |what: &'static str| move |_| std::io::Error::new(std::io::ErrorKind::TimedOut, what);
    let mut s = timeout(cfg.connect_timeout, TcpStream::connect(cfg.addr))
        .await
        .map_err(tmo("connect timed out"))??;
    s.set_nodelay(true)?;
    // One round trip: the server has accepted the connection and answers on it.
    let mut msg = vec![(id % 251) as u8; cfg.size];
    fill(&mut msg, u64::MAX);
    let mut back = vec![0u8; cfg.size];
    timeout(cfg.connect_timeout, async {
        s.write_all(&msg).await?;
        s.read_exact(&mut back).await?;
        if back != msg {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "echo mismatch",
            ));
        }
        Ok(())
    })
    .await
    .map_err(tmo("first round trip timed out"))??;
    Ok(s)
}

/// What the generator threads share.
struct Shared {
    cfg: Config,
    hist: Histogram,
    counters: Counters,
    first_error: Mutex<Option<String>>,
    /// Every thread has set up its connections; the leader then sets `start`.
    barrier: Barrier,
    t0: std::time::Instant,
    start: Mutex<Option<std::time::Instant>>,
}

/// Runs `threads` generator threads, each a current-thread tokio runtime with its share of
/// the connections. (Not one multi-thread runtime: with 10,000 connections on a single
/// multi-thread worker we measured a bimodal round trip, p50 2 ms and p99 1 s, against Go
/// and tokio servers alike, which disappears with a current-thread runtime: the tail was
/// the generator's own, some tasks waiting far longer than others to be polled.)
fn run(cfg: Config, threads: usize) -> i32 {
    let sh = Arc::new(Shared {
        cfg,
        hist: Histogram::new(),
        counters: Counters::default(),
        first_error: Mutex::new(None),
        barrier: Barrier::new(threads),
        t0: std::time::Instant::now(),
        start: Mutex::new(None),
    });
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let sh = sh.clone();
            std::thread::Builder::new()
                .name(format!("netload-{t}"))
                .spawn(move || worker(&sh, t, threads))
                .expect("spawn generator thread")
        })
        .collect();
    let (mut connected, mut stalled) = (0usize, 0u64);
    for h in handles {
        let (c, s) = h.join().expect("generator thread panicked");
        connected += c;
        stalled += s;
    }

    let cfg = &sh.cfg;
    let start = sh.start.lock().unwrap().expect("start time");
    let setup_secs = (start - sh.t0).as_secs_f64();
    let connect_errors = sh.counters.connect_errors.load(Relaxed);
    eprintln!(
        "netload: {connected}/{} connections to {} set up in {setup_secs:.2} s{}",
        cfg.conns,
        cfg.addr,
        match &*sh.first_error.lock().unwrap() {
            Some(e) => format!(", {connect_errors} failed (first: {e})"),
            None => String::new(),
        }
    );
    let hist = &sh.hist;
    let secs = cfg.duration.as_secs_f64();
    let count = hist.count();
    let us = |ns: u64| ns as f64 / 1000.0;
    let io_errors = sh.counters.io_errors.load(Relaxed);
    let mismatches = sh.counters.mismatches.load(Relaxed);
    let errors = connect_errors + io_errors + mismatches + stalled;
    if errors > 0 {
        eprintln!(
            "netload: errors: {connect_errors} at setup, {io_errors} i/o, \
             {mismatches} mismatched echoes, {stalled} stalled at the end"
        );
    }
    println!(
        "RESULT conns={} size={} secs={} rps={:.0} mean_us={:.1} p50_us={:.1} p99_us={:.1} \
         p999_us={:.1} max_us={:.1} errors={} connect_errors={} io_errors={} mismatches={} \
         stalled={} setup_s={:.2} threads={}",
        cfg.conns,
        cfg.size,
        secs,
        count as f64 / secs,
        if count > 0 {
            hist.sum.load(Relaxed) as f64 / count as f64 / 1000.0
        } else {
            0.0
        },
        us(hist.quantile(0.50)),
        us(hist.quantile(0.99)),
        us(hist.quantile(0.999)),
        us(hist.max.load(Relaxed)),
        errors,
        connect_errors,
        io_errors,
        mismatches,
        stalled,
        setup_secs,
        threads,
    );
    if count == 0 {
        1
    } else {
        0
    }
}

/// One generator thread: sets up connections `t, t + threads, ...`, waits for the others,
/// runs the closed loop. Returns (connections set up, connections stalled at the end).
fn worker(sh: &Arc<Shared>, t: usize, threads: usize) -> (usize, u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ids: Vec<usize> = (t..sh.cfg.conns).step_by(threads).collect();
    let batch = (sh.cfg.batch / threads).max(1);
    let streams = rt.block_on(setup_all(sh, ids, batch));
    let n = streams.len();
    if sh.barrier.wait().is_leader() {
        *sh.start.lock().unwrap() = Some(std::time::Instant::now());
    }
    sh.barrier.wait();
    let start = sh.start.lock().unwrap().expect("start time");
    let stalled = rt.block_on(closed_loop(sh, streams, Instant::from_std(start)));
    // Stalled connections still hold tasks; do not wait for them.
    rt.shutdown_timeout(Duration::from_millis(100));
    (n, stalled)
}

/// Gradual setup: a rolling window of `batch` connections in progress.
async fn setup_all(sh: &Arc<Shared>, ids: Vec<usize>, batch: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(ids.len());
    let mut pending = JoinSet::new();
    let collect = |r: Result<std::io::Result<TcpStream>, tokio::task::JoinError>,
                   streams: &mut Vec<TcpStream>| {
        let e = match r {
            Ok(Ok(s)) => return streams.push(s),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        sh.counters.connect_errors.fetch_add(1, Relaxed);
        sh.first_error.lock().unwrap().get_or_insert(e);
    };
    let deadline = Instant::from_std(sh.t0) + sh.cfg.setup_timeout;
    let total = ids.len();
    for (k, id) in ids.into_iter().enumerate() {
        if Instant::now() >= deadline {
            let skipped = (total - k) as u64;
            sh.counters.connect_errors.fetch_add(skipped, Relaxed);
            sh.first_error.lock().unwrap().get_or_insert_with(|| {
                format!("setup timeout: {skipped} connections not attempted")
            });
            break;
        }
        while pending.len() >= batch {
            let r = pending.join_next().await.expect("pending setups");
            collect(r, &mut streams);
        }
        let sh = sh.clone();
        pending.spawn(async move { setup(&sh.cfg, id).await });
    }
    while let Some(r) = pending.join_next().await {
        collect(r, &mut streams);
    }
    streams
}

/// Closed loop on every connection from `start`; returns the number of connections still
/// waiting for an answer `grace` after the end.
async fn closed_loop(sh: &Arc<Shared>, streams: Vec<TcpStream>, start: Instant) -> u64 {
    let cfg = &sh.cfg;
    let measure_from = start + cfg.warmup;
    let end = measure_from + cfg.duration;
    let mut running = JoinSet::new();
    for (i, mut s) in streams.into_iter().enumerate() {
        let sh = sh.clone();
        running.spawn(async move {
            let (cfg, hist, counters) = (&sh.cfg, &sh.hist, &sh.counters);
            let mut msg = vec![(i % 251) as u8; cfg.size];
            let mut back = vec![0u8; cfg.size];
            let mut seq = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    return;
                }
                fill(&mut msg, seq);
                seq += 1;
                let r = async {
                    s.write_all(&msg).await?;
                    s.read_exact(&mut back).await
                }
                .await;
                let done = Instant::now();
                if r.is_err() {
                    counters.io_errors.fetch_add(1, Relaxed);
                    return;
                }
                if back != msg {
                    counters.mismatches.fetch_add(1, Relaxed);
                    return;
                }
                if done > measure_from && done <= end {
                    hist.record((done - sent).as_nanos() as u64);
                }
            }
        });
    }
    let n = running.len();
    let mut finished = 0usize;
    while let Ok(Some(_)) = timeout_at(end + cfg.grace, running.join_next()).await {
        finished += 1;
    }
    running.abort_all();
    (n - finished) as u64
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn buckets_are_contiguous_and_bounded() {
        let mut prev = 0;
        for v in 0..(1u64 << 20) {
            let i = Histogram::index(v);
            assert!(i == prev || i == prev + 1, "gap at {v}");
            assert!(Histogram::upper(i) >= v);
            assert!((Histogram::upper(i) - v) as f64 <= v as f64 / 64.0 + 1.0);
            prev = i;
        }
        let h = Histogram::new();
        assert!(Histogram::index(u64::MAX) < h.buckets.len());
    }

    #[test]
    fn quantiles() {
        let h = Histogram::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5);
        assert!((500_000..=508_000).contains(&p50), "{p50}");
        assert_eq!(h.quantile(1.0), 1_000_000);
    }
}
