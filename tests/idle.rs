//! An idle runtime parks its threads: it uses (almost) no CPU.

#[test]
fn an_idle_runtime_burns_no_cpu() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    // Start both Ms and give them work, then let everything go idle.
    rt.block_on(|| {
        let hs: Vec<_> = (0..1000).map(|_| gort::spawn(gort::yield_now)).collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    assert!(rt.metrics().threads >= 1);
    let cpu = || {
        // SAFETY: getrusage fills the zeroed struct we pass.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; RUSAGE_SELF is always valid.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        us(u.ru_utime) + us(u.ru_stime)
    };
    // Measure CPU over an idle period (the sleep is the measurement window, not a wait
    // for anything to happen).
    std::thread::sleep(std::time::Duration::from_millis(50));
    let before = cpu();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let used_us = cpu() - before;
    assert!(
        used_us < 25_000,
        "idle runtime used {used_us} µs of CPU in 500 ms"
    );
    assert_eq!(rt.metrics().spinning_threads, 0);
    assert_eq!(rt.metrics().idle_procs, 2);
}
