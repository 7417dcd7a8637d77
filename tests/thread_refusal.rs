//! When the OS refuses a new thread (here: the address space is capped, so no thread
//! stack can be mapped), `gort::blocking` keeps running on its own M: one warning,
//! no deadlock, no abort, every result delivered.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

const TEST: &str = "blocking_runs_on_its_own_m_when_the_os_refuses_threads";

fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Caps the address space at what is mapped now plus `margin` bytes.
fn cap_address_space(margin: u64) {
    let lim = libc::rlimit {
        rlim_cur: vm_size() + margin,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: passes a valid rlimit for the calling process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
}

#[test]
fn blocking_runs_on_its_own_m_when_the_os_refuses_threads() {
    if std::env::var_os("GORT_TEST_CHILD").is_some() {
        let rt = gort::Runtime::builder().procs(1).build().unwrap();
        let (sum, ticks) = rt.block_on(|| {
            gort::blocking(|| ()); // sysmon and the first M exist from here on
                                   // A new thread needs a 2 MiB stack: 1 MiB of room refuses it.
            cap_address_space(1 << 20);
            let refused = std::thread::Builder::new().spawn(|| ());
            assert!(refused.is_err(), "the cap refuses threads");
            let ticks = Arc::new(AtomicU64::new(0));
            let t = ticks.clone();
            let ticker = gort::spawn(move || {
                for _ in 0..100 {
                    t.fetch_add(1, SeqCst);
                    gort::yield_now();
                }
            });
            let blockers: Vec<_> = (0..5u64)
                .map(|i| {
                    gort::spawn(move || {
                        gort::blocking(|| std::thread::sleep(Duration::from_millis(20)));
                        i
                    })
                })
                .collect();
            let sum: u64 = blockers.into_iter().map(|h| h.join().unwrap()).sum();
            ticker.join().unwrap();
            (sum, ticks.load(SeqCst))
        });
        assert_eq!(sum, 10);
        assert_eq!(ticks, 100);
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env("GORT_TEST_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    let warnings = stderr.matches("the OS refused a new thread").count();
    assert_eq!(warnings, 1, "one warning: {stderr}");
}
