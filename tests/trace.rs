//! Execution traces: the events of a small deterministic program, exactly; the
//! invariants of a busy one (each goroutine created once, runs never overlap on an M,
//! each park ended by one unpark before the next run, every unpark followed by a run);
//! start/stop and their errors; bytes per event; a bad `GORT_TRACE` is an error.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use gort::trace::{Event, EventKind, Trace, Waker};
use gort::{chan, WaitReason};

fn trace_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gort-trace-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `f` as the main goroutine of a runtime that traces its whole life.
fn traced<T: Send + 'static>(
    name: &str,
    procs: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> (T, Trace) {
    traced_with(gort::Runtime::builder(), name, procs, f)
}

fn traced_with<T: Send + 'static>(
    builder: gort::Builder,
    name: &str,
    procs: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> (T, Trace) {
    let path = trace_path(name);
    let rt = builder.procs(procs).trace(&path).build().unwrap();
    let v = rt.block_on(f);
    drop(rt); // ends the trace
    let t = Trace::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(t.complete, "the file ends with the END block");
    (v, t)
}

/// The goroutine events only, with timestamps and Ms dropped.
fn goroutine_events(t: &Trace) -> Vec<EventKind> {
    t.events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::GoCreate { .. }
                    | EventKind::GoStart { .. }
                    | EventKind::GoPark { .. }
                    | EventKind::GoUnpark { .. }
                    | EventKind::GoDone { .. }
                    | EventKind::GoYield { .. }
            )
        })
        .map(|e| e.kind.clone())
        .collect()
}

#[test]
fn a_deterministic_program_records_exactly_its_events() {
    // The exact order is the default policy's: no chaos.
    let builder = gort::Runtime::builder()
        .chaos(None)
        .policy(gort::policy::BuiltIn::Go);
    let ((), t) = traced_with(builder, "exact.trace", 1, || {
        let (tx, rx) = chan::bounded::<u32>(0);
        let child = gort::GoroutineBuilder::new()
            .name("child")
            .spawn(move || {
                tx.send(7).unwrap();
                gort::yield_now();
            })
            .unwrap();
        assert_eq!(rx.recv().unwrap(), 7); // parks: the child has not run yet
        child.join().unwrap(); // parks: the child yielded after the send
    });
    let ev = goroutine_events(&t);
    let site = |i: usize| match &ev[i] {
        EventKind::GoCreate { site, .. } => t.site(*site).unwrap().clone(),
        EventKind::GoPark { site, .. } => t.site(site.unwrap()).unwrap().clone(),
        e => panic!("no site in {e:?}"),
    };
    use EventKind::*;
    let expected = [
        GoCreate {
            g: 1,
            parent: 0,
            site: any_site(&ev[0]),
        },
        GoStart {
            g: 1,
            runq: 0,
            inherited: false,
        },
        GoCreate {
            g: 2,
            parent: 1,
            site: any_site(&ev[2]),
        },
        GoPark {
            g: 1,
            reason: WaitReason::ChanRecv,
            site: park_site(&ev[3]),
        },
        GoStart {
            g: 2,
            runq: 0,
            inherited: true,
        },
        GoUnpark {
            g: 1,
            by: Waker::Goroutine(2),
        },
        GoYield { g: 2 },
        GoStart {
            g: 1,
            runq: 1,
            inherited: true,
        },
        GoPark {
            g: 1,
            reason: WaitReason::Join,
            site: park_site(&ev[8]),
        },
        GoStart {
            g: 2,
            runq: 0,
            inherited: false,
        },
        // Done is recorded before the result is delivered (and the joiner woken), so a
        // `stop` right after `join` cannot miss it.
        GoDone { g: 2 },
        GoUnpark {
            g: 1,
            by: Waker::Goroutine(2),
        },
        GoStart {
            g: 1,
            runq: 0,
            inherited: true,
        },
        GoDone { g: 1 },
    ];
    assert_eq!(ev, expected, "all: {:#?}", t.events);
    assert_eq!(t.name(2), Some("child"));
    assert_eq!(t.name(1), Some("main"));
    let me = file!();
    assert_eq!(site(2).file, me, "spawn site");
    assert_eq!(site(3).file, me, "recv site");
    assert_eq!(site(8).file, me, "join site");
    assert!(site(3).line < site(8).line);
}

fn any_site(e: &EventKind) -> gort::trace::SiteId {
    match e {
        EventKind::GoCreate { site, .. } => *site,
        e => panic!("expected a create, got {e:?}"),
    }
}

fn park_site(e: &EventKind) -> Option<gort::trace::SiteId> {
    match e {
        EventKind::GoPark { site, .. } => *site,
        e => panic!("expected a park, got {e:?}"),
    }
}

/// What a goroutine is doing, as the trace tells it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum St {
    Runnable,
    Running(u32),
    Parked,
    Done,
}

/// Checks the trace's invariants; returns the number of goroutines seen.
fn check_invariants(t: &Trace) -> usize {
    let mut st: HashMap<u64, St> = HashMap::new();
    let mut on_m: HashMap<u32, u64> = HashMap::new();
    let mut last_ts = 0;
    for (i, e @ Event { ts, m, kind, .. }) in t.events.iter().enumerate() {
        assert!(*ts >= last_ts, "events are in time order at {i}");
        last_ts = *ts;
        let ctx = || format!("event {i}: {e:?}");
        let stop = |st: &mut HashMap<u64, St>, on_m: &mut HashMap<u32, u64>, g: u64, next: St| {
            let m = m.expect("runs end on an M");
            assert_eq!(st.get(&g), Some(&St::Running(m)), "{}", ctx());
            assert_eq!(on_m.remove(&m), Some(g), "{}", ctx());
            st.insert(g, next);
        };
        match *kind {
            EventKind::GoCreate { g, .. } => {
                assert!(
                    st.insert(g, St::Runnable).is_none(),
                    "created twice: {}",
                    ctx()
                );
            }
            EventKind::GoStart { g, .. } => {
                let m = m.expect("runs are on an M");
                assert_eq!(st.get(&g), Some(&St::Runnable), "{}", ctx());
                assert!(
                    on_m.insert(m, g).is_none(),
                    "two runs at once on M{m}: {}",
                    ctx()
                );
                st.insert(g, St::Running(m));
            }
            EventKind::GoYield { g } | EventKind::GoPreempted { g } => {
                stop(&mut st, &mut on_m, g, St::Runnable)
            }
            EventKind::GoPark { g, .. } => stop(&mut st, &mut on_m, g, St::Parked),
            EventKind::GoDone { g } => stop(&mut st, &mut on_m, g, St::Done),
            EventKind::GoUnpark { g, .. } => {
                assert_eq!(
                    st.get(&g),
                    Some(&St::Parked),
                    "unpark without a park: {}",
                    ctx()
                );
                st.insert(g, St::Runnable);
            }
            EventKind::BlockingEnter { g } | EventKind::BlockingExit { g, .. } => {
                assert!(matches!(st.get(&g), Some(St::Running(_))), "{}", ctx());
            }
            EventKind::GoRequeue { g } => {
                // Leaves `blocking` without a P: its M gave up the run there.
                assert!(matches!(st.get(&g), Some(St::Running(_))), "{}", ctx());
                on_m.retain(|_, v| *v != g);
                st.insert(g, St::Runnable);
            }
            _ => {}
        }
    }
    assert!(
        st.values().all(|s| *s == St::Done),
        "every goroutine ran to its end, each unpark was followed by a run: {st:?}"
    );
    st.len()
}

#[test]
fn a_busy_program_keeps_the_trace_invariants() {
    let (sum, t) = traced("busy.trace", 2, || {
        // A pipeline over unbuffered channels, sleepers, a socket and a burst to steal.
        let (tx, rx) = chan::bounded::<u64>(0);
        let (tx2, rx2) = chan::bounded::<u64>(0);
        gort::spawn(move || (0..500).for_each(|i| tx.send(i).unwrap()));
        gort::spawn(move || rx.into_iter().for_each(|v| tx2.send(v * 2).unwrap()));
        let sleepers: Vec<_> = (0..20)
            .map(|i| gort::spawn(move || gort::time::sleep(Duration::from_micros(100 * i))))
            .collect();
        let listener = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = gort::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut b = [0u8; 3];
            s.read_exact(&mut b).unwrap();
            s.write_all(&b).unwrap();
        });
        let client = gort::spawn(move || {
            let mut c = gort::net::TcpStream::connect(addr).unwrap();
            c.write_all(b"abc").unwrap();
            let mut b = [0u8; 3];
            c.read_exact(&mut b).unwrap();
            assert_eq!(&b, b"abc");
        });
        let burst: Vec<_> = (0..200u64)
            .map(|i| {
                gort::spawn(move || {
                    gort::blocking(|| ());
                    i
                })
            })
            .collect();
        let mut sum: u64 = rx2.into_iter().sum();
        sum += burst.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
        sleepers.into_iter().for_each(|h| h.join().unwrap());
        server.join().unwrap();
        client.join().unwrap();
        sum
    });
    assert_eq!(sum, 2 * (0..500).sum::<u64>() + (0..200).sum::<u64>());
    let goroutines = check_invariants(&t);
    assert_eq!(goroutines, 1 + 2 + 20 + 2 + 200);
    let count = |f: fn(&EventKind) -> bool| t.events.iter().filter(|e| f(&e.kind)).count();
    assert!(
        count(|k| matches!(
            k,
            EventKind::GoUnpark {
                by: Waker::Netpoll,
                ..
            }
        )) >= 1
    );
    assert!(
        count(|k| matches!(
            k,
            EventKind::GoUnpark {
                by: Waker::Timer,
                ..
            }
        )) >= 1
    );
    assert!(count(|k| matches!(k, EventKind::TimerFire { .. })) >= 1);
    assert!(count(|k| matches!(k, EventKind::NetpollWake { .. })) >= 1);
    assert_eq!(
        count(|k| matches!(k, EventKind::BlockingEnter { .. })),
        200 + 2
    ); // + 2 lookups
    assert!(count(|k| matches!(k, EventKind::MStart)) >= 2); // more if sysmon handed off a P
    assert!(t.bytes as f64 / t.events.len() as f64 <= 40.0);
}

#[test]
fn start_and_stop_record_only_the_window_between_them() {
    let path = trace_path("window.trace");
    let p = path.clone();
    let stats = gort::Runtime::builder()
        .procs(2)
        .build()
        .unwrap()
        .block_on(move || {
            assert!(!gort::trace::is_recording());
            gort::spawn(|| ()).join().unwrap(); // before: not recorded
            gort::trace::start(&p).unwrap();
            assert!(gort::trace::is_recording());
            let e = gort::trace::start(&p).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
            let h = gort::spawn(gort::yield_now);
            h.join().unwrap();
            let stats = gort::trace::stop().unwrap();
            assert!(!gort::trace::is_recording());
            assert_eq!(gort::trace::stop().unwrap_err().kind(), ErrorKind::NotFound);
            gort::spawn(|| ()).join().unwrap(); // after: not recorded
            stats
        });
    let t = Trace::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(stats.events, t.events.len() as u64);
    assert_eq!(stats.bytes, t.bytes);
    let created: Vec<u64> = t
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::GoCreate { g, .. } => Some(g),
            _ => None,
        })
        .collect();
    assert_eq!(
        created.len(),
        1,
        "only the goroutine spawned inside the window"
    );
    let g = created[0];
    let of_g = |f: fn(&EventKind, u64) -> bool| t.events.iter().filter(|e| f(&e.kind, g)).count();
    assert_eq!(
        of_g(|k, g| matches!(k, EventKind::GoYield { g: x } if *x == g)),
        1
    );
    assert_eq!(
        of_g(|k, g| matches!(k, EventKind::GoDone { g: x } if *x == g)),
        1
    );
    // The goroutine that started the trace has a start, so its park in `join` is a run end.
    assert!(matches!(
        t.events.first().map(|e| &e.kind),
        Some(EventKind::GoStart { g: 1, .. })
    ));
}

#[test]
fn trace_calls_outside_a_runtime_and_bad_paths_are_errors() {
    let e = gort::trace::start(trace_path("x.trace")).unwrap_err();
    assert!(e.to_string().contains("outside a gort runtime"), "{e}");
    assert!(gort::trace::stop().is_err());
    assert!(!gort::trace::is_recording());
    let e = gort::Runtime::builder()
        .trace("/nonexistent-dir/x.trace")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("/nonexistent-dir/x.trace"), "{e}");
    let e = gort::Runtime::builder().trace("").build().unwrap_err();
    assert!(e.to_string().contains("trace"), "{e}");
    let e = Trace::from_bytes(b"not a trace at all, not at all, no").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
}

#[test]
fn gort_trace_records_a_whole_run_and_an_empty_value_is_an_error() {
    if let Some(path) = std::env::var_os("GORT_TRACE") {
        if path.is_empty() {
            let e = gort::Runtime::new().unwrap_err();
            assert!(e.to_string().contains("GORT_TRACE"), "{e}");
        } else {
            gort::run(|| gort::spawn(|| 1).join().unwrap());
            let t = Trace::read(&path).unwrap();
            assert_eq!(check_invariants(&t), 2);
        }
        return;
    }
    let path = trace_path("env.trace");
    for value in [path.as_os_str(), "".as_ref()] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "gort_trace_records_a_whole_run_and_an_empty_value_is_an_error",
                "--nocapture",
            ])
            .env("GORT_TRACE", value)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "GORT_TRACE={value:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_skynet_tree_costs_at_most_40_bytes_per_event() {
    fn tree(n: u64) -> u64 {
        if n <= 1 {
            return 1;
        }
        let hs: Vec<_> = (0..4).map(|_| gort::spawn(move || tree(n / 4))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    }
    let (leaves, t) = traced("tree.trace", 2, || tree(4096));
    assert_eq!(leaves, 4096);
    assert_eq!(check_invariants(&t), 1 + (4 + 16 + 64 + 256 + 1024 + 4096));
    let per_event = t.bytes as f64 / t.events.len() as f64;
    assert!(per_event <= 40.0, "{per_event:.1} bytes per event");
}

#[test]
fn trace_timestamps_agree_with_the_os_clock() {
    // One run of a known length: a spin without a scheduling point.
    let builder = gort::Runtime::builder().hog_warning(false);
    let (spun, t) = traced_with(builder, "clock.trace", 1, || {
        gort::spawn(|| {
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_millis(60) {
                std::hint::spin_loop();
            }
            start.elapsed()
        })
        .join()
        .unwrap()
    });
    let (mut started, mut run) = (None, None);
    for e in &t.events {
        match e.kind {
            EventKind::GoStart { g: 2, .. } => started = Some(e.ts),
            EventKind::GoDone { g: 2 } => run = started.map(|s| e.ts - s),
            _ => {}
        }
    }
    let run = Duration::from_nanos(run.expect("the spinner's run"));
    // The run holds the spin; the tick rate comes from the whole trace, so the two
    // clocks agree to better than 0.1 % (the 2 ms calibration alone is ~0.25 % off here).
    assert!(
        run.as_secs_f64() >= spun.as_secs_f64() * 0.999,
        "{run:?} < {spun:?}"
    );
    assert!(
        run <= spun + Duration::from_millis(5),
        "{run:?} vs {spun:?}"
    );
}

/// A simulated run traced twice with one seed gives the same file, byte for byte (on
/// virtual time), and the trace keeps the invariants; another seed gives another file.
#[test]
fn a_simulation_traces_the_same_bytes_for_the_same_seed() {
    let program = || {
        let (tx, rx) = chan::bounded::<u32>(1);
        let hs: Vec<_> = (0..6u32)
            .map(|i| {
                let tx = tx.clone();
                gort::spawn(move || {
                    gort::time::sleep(Duration::from_millis(u64::from(i % 3)));
                    tx.send(i).unwrap();
                    gort::blocking(|| ());
                })
            })
            .collect();
        drop(tx);
        let got: Vec<u32> = rx.iter().collect();
        for h in hs {
            h.join().unwrap();
        }
        got
    };
    let run = |seed: u64, name: &str| {
        let path = trace_path(name);
        let rt = gort::Builder::new()
            .procs(3)
            .chaos(None)
            .simulate(seed)
            .trace(&path)
            .build()
            .unwrap();
        let got = rt.block_on(program);
        drop(rt);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        (got, bytes)
    };
    let (a, bytes_a) = run(5, "sim-a.trace");
    let (b, bytes_b) = run(5, "sim-b.trace");
    assert_eq!(a, b);
    assert!(bytes_a == bytes_b, "same seed, different trace files");
    let t = Trace::from_bytes(&bytes_a).unwrap();
    assert!(t.complete);
    let runs = check_invariants(&t);
    assert!(runs >= 7, "{runs} runs");
    let differs = (6..26).any(|seed| run(seed, "sim-c.trace").1 != bytes_a);
    assert!(differs, "20 other seeds all traced the same schedule");
}
