//! An idle runtime parks its threads: it uses (almost) no CPU. The tests run one at a
//! time (each measures the whole process).

use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

/// CPU time (user + system) used by this process, in microseconds.
fn cpu_us() -> u64 {
    // SAFETY: getrusage fills the zeroed struct we pass; RUSAGE_SELF is always valid.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(u.ru_utime) + us(u.ru_stime)
}

/// CPU used by the process over 500 ms, after 50 ms to settle. The sleeps are the
/// measurement window, not a wait for anything to happen.
fn cpu_over_half_a_second() -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(50));
    let before = cpu_us();
    std::thread::sleep(std::time::Duration::from_millis(500));
    cpu_us() - before
}

#[test]
fn an_idle_runtime_burns_no_cpu() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    // Start both Ms and give them work, then let everything go idle.
    rt.block_on(|| {
        let hs: Vec<_> = (0..1000).map(|_| gort::spawn(gort::yield_now)).collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    assert!(rt.metrics().threads >= 1);
    let used_us = cpu_over_half_a_second();
    assert!(
        used_us < 25_000,
        "idle runtime used {used_us} µs of CPU in 500 ms"
    );
    assert_eq!(rt.metrics().spinning_threads, 0);
    assert_eq!(rt.metrics().idle_procs, 2);
}

#[test]
fn a_runtime_waiting_for_a_far_timer_burns_no_cpu() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = std::sync::Arc::new(gort::Runtime::builder().procs(2).build().unwrap());
    let h = rt.spawn(|| gort::time::sleep(std::time::Duration::from_millis(1500)));
    let used_us = cpu_over_half_a_second();
    assert!(
        used_us < 25_000,
        "runtime used {used_us} µs of CPU in 500 ms while waiting for a timer"
    );
    h.join().unwrap();
}
