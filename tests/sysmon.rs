//! sysmon: P handoff from goroutines blocked in `gort::blocking`, cooperative preemption
//! through `checkpoint`, hog reports, and the M count after a burst.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::{Builder, ConfigError, Runtime};

fn child(test: &str, envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("GORT_TEST_CHILD", test);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec to a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn in_child(test: &str) -> bool {
    std::env::var("GORT_TEST_CHILD").as_deref() == Ok(test)
}

/// With `procs` Ps, one goroutine sits 300 ms in `blocking`; 1,000 short goroutines
/// spawned after it must all finish before it returns.
fn short_goroutines_finish_while_one_blocks(procs: usize) {
    let rt = Runtime::builder().procs(procs).build().unwrap();
    let (done_before, handoffs) = rt.block_on(|| {
        let blocked_done = Arc::new(AtomicBool::new(false));
        let entered = Arc::new(AtomicBool::new(false));
        let (bd, en) = (blocked_done.clone(), entered.clone());
        let blocker = gort::spawn(move || {
            gort::blocking(|| {
                en.store(true, SeqCst);
                std::thread::sleep(Duration::from_millis(300));
            });
            bd.store(true, SeqCst);
        });
        while !entered.load(SeqCst) {
            gort::yield_now();
        }
        let finished_early = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..1000)
            .map(|i| {
                let (bd, fe) = (blocked_done.clone(), finished_early.clone());
                gort::spawn(move || {
                    let v = (0..100u64).fold(i as u64, |a, b| a.wrapping_mul(31) ^ b);
                    if !bd.load(SeqCst) {
                        fe.fetch_add(1, SeqCst);
                    }
                    v
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let early = finished_early.load(SeqCst);
        blocker.join().unwrap();
        (early, gort::metrics().syscall_handoffs)
    });
    assert_eq!(
        done_before, 1000,
        "short goroutines waited for the blocked one"
    );
    if procs == 1 {
        assert!(handoffs >= 1, "the only P must have been handed off");
    }
}

#[test]
fn blocking_hands_the_only_p_to_another_thread() {
    short_goroutines_finish_while_one_blocks(1);
}

#[test]
fn blocking_with_two_procs_does_not_stall_short_goroutines() {
    short_goroutines_finish_while_one_blocks(2);
}

#[test]
fn fifty_blocked_goroutines_do_not_stall_the_rest_and_threads_go_idle_after() {
    let rt = Runtime::builder()
        .procs(2)
        .idle_thread_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    rt.block_on(|| {
        let release = Arc::new(AtomicBool::new(false));
        let inside = Arc::new(AtomicUsize::new(0));
        let blocked: Vec<_> = (0..50)
            .map(|_| {
                let (release, inside) = (release.clone(), inside.clone());
                gort::spawn(move || {
                    gort::blocking(|| {
                        inside.fetch_add(1, SeqCst);
                        let t = Instant::now();
                        while !release.load(SeqCst) && t.elapsed() < Duration::from_secs(20) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    })
                })
            })
            .collect();
        // All 50 are inside `blocking` at the same time...
        let t = Instant::now();
        while inside.load(SeqCst) < 50 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "only {inside:?} entered"
            );
            gort::yield_now();
        }
        assert_eq!(gort::metrics().in_blocking, 50);
        // ...and channel traffic between goroutines still flows.
        let (tx, rx) = gort::chan::bounded::<u32>(0);
        let echo = gort::spawn(move || (0..1000).map(|_| rx.recv().unwrap()).sum::<u32>());
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
        assert_eq!(echo.join().unwrap(), (0..1000).sum::<u32>());
        let during = gort::metrics();
        assert!(during.threads >= 50, "{} threads", during.threads);
        release.store(true, SeqCst);
        for h in blocked {
            h.join().unwrap();
        }
        // Extra Ms go idle, then exit after idle_thread_timeout.
        let t = Instant::now();
        loop {
            let m = gort::metrics();
            if m.in_blocking == 0 && m.threads <= 4 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "threads did not wind down: {} live, {} idle",
                m.threads,
                m.idle_threads
            );
            gort::time::sleep(Duration::from_millis(10));
        }
    });
}

#[test]
fn a_hog_is_reported_once_with_its_name() {
    const NAME: &str = "a_hog_is_reported_once_with_its_name";
    if in_child(NAME) {
        let rt = Runtime::builder().procs(1).build().unwrap();
        let hogs = rt.block_on(|| {
            let h = gort::GoroutineBuilder::new()
                .name("spinner")
                .spawn(|| {
                    // 150 ms of this thread's CPU (wall time could be mostly waiting
                    // for a core on a loaded machine, which is not hogging).
                    let t = Instant::now();
                    let mut x = 0u64;
                    while thread_cpu() < Duration::from_millis(150)
                        && t.elapsed() < Duration::from_secs(30)
                    {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                    x
                })
                .unwrap();
            h.join().unwrap();
            gort::metrics().hogs
        });
        println!("hogs={hogs}");
        return;
    }
    let out = child(NAME, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("without a scheduling point"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("\"spinner\""), "{}", lines[0]);
    assert!(lines[0].contains("tests/sysmon.rs"), "{}", lines[0]);
    assert!(stdout.contains("hogs=1"), "{stdout}");

    let quiet = child(NAME, &[("GORT_HOGWARN", "0")]);
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(quiet.status.success());
    assert!(!stderr.contains("without a scheduling point"), "{stderr}");
    assert!(String::from_utf8_lossy(&quiet.stdout).contains("hogs=1"));
}

#[test]
fn bad_gort_hogwarn_is_a_clear_error() {
    const NAME: &str = "bad_gort_hogwarn_is_a_clear_error";
    if in_child(NAME) {
        let e = Builder::new().config().unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::Env {
                    var: "GORT_HOGWARN",
                    ..
                }
            ),
            "{e}"
        );
        println!("{e}");
        return;
    }
    let out = child(NAME, &[("GORT_HOGWARN", "maybe")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("GORT_HOGWARN=\"maybe\""), "{stdout}");
}

#[test]
fn invalid_sysmon_settings_are_rejected() {
    let e = Builder::new()
        .hog_threshold(Duration::ZERO)
        .config()
        .unwrap_err();
    assert!(e.to_string().contains("hog_threshold"), "{e}");
    let e = Builder::new().procs(4).max_threads(4).config().unwrap_err();
    assert!(e.to_string().contains("max_threads"), "{e}");
    let e = Builder::new()
        .idle_thread_timeout(Duration::ZERO)
        .config()
        .unwrap_err();
    assert!(e.to_string().contains("idle_thread_timeout"), "{e}");
}

#[test]
fn the_thread_cap_bounds_ms_and_nothing_is_lost() {
    let rt = Runtime::builder().procs(1).max_threads(3).build().unwrap();
    let (sum, threads) = rt.block_on(|| {
        let hs: Vec<_> = (0..10u64)
            .map(|i| {
                gort::spawn(move || {
                    gort::blocking(|| std::thread::sleep(Duration::from_millis(20)));
                    i
                })
            })
            .collect();
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        (sum, gort::metrics().threads)
    });
    assert_eq!(sum, 45);
    assert!(threads <= 3, "{threads} threads");
}

#[test]
fn a_goroutine_in_blocking_is_not_a_deadlock() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let v = rt
        .try_block_on(|| {
            let (tx, rx) = gort::chan::bounded::<u32>(0);
            gort::spawn(move || {
                let v = gort::blocking(|| {
                    std::thread::sleep(Duration::from_millis(100));
                    7
                });
                tx.send(v).unwrap();
            });
            rx.recv().unwrap()
        })
        .unwrap();
    assert_eq!(v, 7);
}

#[test]
fn gort_calls_inside_blocking_act_as_on_a_thread() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let got = rt.block_on(|| {
        let (tx, rx) = gort::chan::bounded::<u32>(1);
        let h = gort::spawn(move || {
            gort::time::sleep(Duration::from_millis(5));
            tx.send(5).unwrap();
        });
        // The receive blocks this OS thread (no P is held), and the spawn inside goes
        // to the global queue.
        let (v, h2) = gort::blocking(|| (rx.recv().unwrap(), gort::spawn(|| 6)));
        h.join().unwrap();
        v + h2.join().unwrap()
    });
    assert_eq!(got, 11);
}

/// On one P, a goroutine loops over `step` until another goroutine has run; the other
/// can only run if the loop yields at a scheduling point inside `step` (it was spawned
/// first, so the busy one, in `runnext`, runs first). Returns whether it ran during the
/// loop (bounded at 5 s) and the preempt requests sysmon made.
fn other_runs_during(mut step: impl FnMut() + Send + 'static) -> (bool, u64) {
    // Chaos would yield at the scheduling points on its own, before sysmon asks.
    let rt = Runtime::builder()
        .chaos(None)
        .policy(gort::policy::BuiltIn::Go)
        .procs(1)
        .hog_warning(false)
        .build()
        .unwrap();
    rt.block_on(move || {
        let other_ran = Arc::new(AtomicBool::new(false));
        let o = other_ran.clone();
        let other = gort::spawn(move || other_ran.store(true, SeqCst));
        let busy = gort::spawn(move || {
            let t = Instant::now();
            let mut seen = false;
            while t.elapsed() < Duration::from_secs(5) && !seen {
                step();
                seen |= o.load(SeqCst);
            }
            seen
        });
        let seen = busy.join().unwrap();
        other.join().unwrap();
        (seen, gort::metrics().preempt_requests)
    })
}

#[test]
fn checkpoint_lets_another_goroutine_run_on_the_same_p() {
    let (seen, requests) = other_runs_during(|| {
        for _ in 0..1000 {
            std::hint::black_box(0u64);
        }
        gort::checkpoint();
    });
    assert!(seen, "the busy goroutine was never preempted");
    assert!(requests >= 1);
}

#[test]
fn channel_and_mutex_calls_are_scheduling_points_for_preemption() {
    // Never blocks: a buffered channel the loop feeds itself, and an uncontended lock.
    let (tx, rx) = gort::chan::bounded::<u64>(1);
    let m = gort::sync::Mutex::new(0u64);
    let (seen, requests) = other_runs_during(move || {
        tx.send(1).unwrap();
        *m.lock() += rx.recv().unwrap();
    });
    assert!(
        seen,
        "a loop of channel and mutex calls was never preempted"
    );
    assert!(requests >= 1);
}

#[test]
fn a_loop_of_short_blocking_calls_is_still_preempted() {
    let handoffs = Arc::new(AtomicUsize::new(0));
    let h = handoffs.clone();
    let (seen, requests) = other_runs_during(move || {
        gort::blocking(|| std::hint::black_box(0));
        gort::checkpoint();
        h.store(gort::metrics().syscall_handoffs as usize, SeqCst);
    });
    assert!(seen, "short blocking calls hid a long run from sysmon");
    // Sysmon acted: a preempt request, or (when a call outlived its tick on a loaded
    // machine) a handoff of the P, which also lets the other goroutine run.
    let handoffs = handoffs.load(SeqCst);
    assert!(
        requests >= 1 || handoffs >= 1,
        "{requests} requests, {handoffs} handoffs"
    );
}
