//! A small program whose execution trace shows each kind of scheduling decision: a
//! channel pipeline (park and unpark, the woken goroutine in `runnext`), a CPU hog
//! (sysmon's preempt request and hog report), a burst of goroutines that another P
//! steals, a timer, and a socket round trip through the netpoller.
//!
//! ```text
//! cargo run --release --example trace_demo -- /tmp/demo.trace
//! cargo run --release -p gort-tools --bin gort-trace -- json /tmp/demo.trace -o /tmp/demo.json
//! cargo run --release -p gort-tools --bin gort-trace -- summary /tmp/demo.trace
//! ```
//!
//! Open the JSON in <https://ui.perfetto.dev>, `chrome://tracing` or speedscope.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use gort::chan;
use gort::net::{TcpListener, TcpStream};

const ITEMS: u64 = 200;
const BURST: u64 = 64;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "trace_demo.trace".into());
    let rt = gort::Runtime::builder()
        .procs(2)
        .trace(&path)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (sum, echoed, burst) = rt.block_on(|| {
        let pipeline = named("pipeline", pipeline);
        let hog = named("hog", hog);
        let burst = named("burst", burst);
        let timer = named("timer", || {
            let t = Instant::now();
            gort::time::sleep(Duration::from_millis(5));
            t.elapsed()
        });
        let echoed = named("socket", socket_round_trip);
        hog.join().unwrap();
        timer.join().unwrap();
        (
            pipeline.join().unwrap(),
            echoed.join().unwrap(),
            burst.join().unwrap(),
        )
    });
    assert_eq!(sum, (1..=ITEMS).map(|i| i * i).sum::<u64>());
    assert_eq!(echoed, b"ping");
    assert_eq!(burst, BURST * (BURST - 1) / 2);
    let m = rt.metrics();
    drop(rt); // finishes the trace file
    let trace = gort::trace::Trace::read(&path).expect("read the trace back");
    println!(
        "trace_demo: {} events, {} bytes ({:.1} bytes/event), {} goroutines, {} steals → {path}",
        trace.events.len(),
        trace.bytes,
        trace.bytes as f64 / trace.events.len().max(1) as f64,
        m.total.spawned,
        m.total.steals,
    );
}

#[track_caller]
fn named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> gort::JoinHandle<T> {
    gort::GoroutineBuilder::new()
        .name(name)
        .spawn(f)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// producer → square → sum over unbuffered channels: every item is a park and an unpark.
fn pipeline() -> u64 {
    let (tx, rx) = chan::bounded::<u64>(0);
    let (tx2, rx2) = chan::bounded::<u64>(0);
    named("producer", move || {
        for i in 1..=ITEMS {
            tx.send(i).unwrap();
        }
    });
    named("square", move || {
        for v in rx {
            tx2.send(v * v).unwrap();
        }
    });
    rx2.into_iter().sum()
}

/// Runs 60 ms without a scheduling point: sysmon asks it to yield at 10 ms and reports
/// it at 20 ms or later (sysmon ticks slow down when all is calm); its first
/// `checkpoint` then yields.
fn hog() {
    let t = Instant::now();
    let mut x = 0u64;
    while t.elapsed() < Duration::from_millis(60) {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
    }
    gort::checkpoint();
}

/// Spawns a burst of short goroutines onto this P; the other P's M steals half.
fn burst() -> u64 {
    let hs: Vec<_> = (0..BURST)
        .map(|i| {
            gort::spawn(move || {
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(50) {
                    std::hint::spin_loop();
                }
                i
            })
        })
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

/// A client and a server goroutine exchange a message over 127.0.0.1.
fn socket_round_trip() -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = named("server", move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let mut c = TcpStream::connect(addr).unwrap();
    gort::time::sleep(Duration::from_millis(2)); // the server parks in read meanwhile
    c.write_all(b"ping").unwrap();
    let mut buf = vec![0u8; 4];
    c.read_exact(&mut buf).unwrap();
    server.join().unwrap();
    buf
}
