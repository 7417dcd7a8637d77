//! schedtrace: Go's `SCHED` lines on stderr every `GORT_SCHEDTRACE` ms, the P/M/G lines of
//! `GORT_SCHEDDETAIL=1`, and the settings' validation.
//!
//! The traces go to the process's stderr, so each test re-runs itself in a child process
//! with the environment set and reads the child's stderr. The child keeps its runtime
//! going until the parent has seen what it needs and closes the child's stdin; every wait
//! on either side is bounded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use gort::{ConfigError, GoroutineBuilder, Runtime};

/// Bound on any wait for a child.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
const PROCS: usize = 2;
const PERIOD_MS: u64 = 20;
const SLEEPER: &str = "schedtrace-sleeper";

fn in_child(test: &str) -> bool {
    std::env::var("GORT_TEST_CHILD").as_deref() == Ok(test)
}

/// What a child printed.
struct ChildRun {
    stderr: Vec<String>,
    stdout: String,
    success: bool,
    /// From spawn to the end of its stderr.
    elapsed: Duration,
}

impl ChildRun {
    fn sched_lines(&self) -> Vec<Sched> {
        self.stderr
            .iter()
            .filter(|l| l.starts_with("SCHED "))
            .map(|l| parse_sched(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }

    fn assert_success(&self) {
        assert!(
            self.success,
            "child failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr.join("\n")
        );
    }
}

/// Runs `test` of this binary in a child with `envs` set; once `enough` holds for the
/// stderr lines read so far (or the child has ended), closes the child's stdin, which
/// tells it to finish, and reads the rest.
fn run_child(test: &str, envs: &[(&str, &str)], enough: impl Fn(&[String]) -> bool) -> ChildRun {
    let start = Instant::now();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("GORT_TEST_CHILD", test)
        .env_remove("GORT_SCHEDTRACE")
        .env_remove("GORT_SCHEDDETAIL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take();
    let stderr = child.stderr.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = start + CHILD_TIMEOUT;
    let mut lines = Vec::new();
    loop {
        if stdin.is_some() && enough(&lines) {
            stdin = None; // EOF: the child winds down
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break, // the child has exited
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "child {test} still running after {CHILD_TIMEOUT:?}; its stderr:\n{}",
                    lines.join("\n")
                );
            }
        }
    }
    drop(stdin);
    let elapsed = start.elapsed();
    // Its stderr is closed: the child has exited or is exiting.
    let status = child.wait().unwrap();
    ChildRun {
        stderr: lines,
        stdout: out_reader.join().unwrap(),
        success: status.success(),
        elapsed,
    }
}

/// In the child: blocks until the parent closes stdin (or writes a line).
fn wait_for_parent() {
    gort::blocking(|| {
        let mut s = String::new();
        let _ = std::io::stdin().read_line(&mut s);
    });
}

/// One parsed `SCHED` line.
#[derive(Debug)]
struct Sched {
    ms: u64,
    fields: HashMap<String, u64>,
    runqs: Vec<u64>,
}

const SCHED_KEYS: [&str; 7] = [
    "gomaxprocs",
    "idleprocs",
    "threads",
    "spinningthreads",
    "needspinning",
    "idlethreads",
    "runqueue",
];

/// Parses `SCHED 40ms: gomaxprocs=2 ... runqueue=0 [1 0]`, requiring Go's keys in Go's
/// order.
fn parse_sched(line: &str) -> Result<Sched, String> {
    let rest = line.strip_prefix("SCHED ").ok_or("no SCHED prefix")?;
    let (ms, rest) = rest.split_once("ms: ").ok_or("no `<n>ms: `")?;
    let ms = ms.parse().map_err(|_| "bad ms")?;
    let (kv, bracket) = rest.split_once(" [").ok_or("no bracket")?;
    let bracket = bracket.strip_suffix(']').ok_or("bracket not closed")?;
    let mut fields = HashMap::new();
    let mut keys = Vec::new();
    for pair in kv.split(' ') {
        let (k, v) = pair.split_once('=').ok_or("not key=value")?;
        let v = v.parse().map_err(|_| format!("{k} is not a number"))?;
        keys.push(k.to_string());
        fields.insert(k.to_string(), v);
    }
    if keys != SCHED_KEYS {
        return Err(format!("keys {keys:?}, expected {SCHED_KEYS:?}"));
    }
    let runqs = bracket
        .split(' ')
        .map(|n| n.parse().map_err(|_| "bad run queue length"))
        .collect::<Result<_, _>>()?;
    Ok(Sched { ms, fields, runqs })
}

/// Checks what every SCHED line of a `PROCS`-P runtime must satisfy, and that lines come
/// in time order, on the period's grid (the k-th line no earlier than k periods).
fn check_sched_lines(lines: &[Sched]) {
    for (k, s) in lines.iter().enumerate() {
        let f = |key: &str| s.fields[key];
        assert_eq!(f("gomaxprocs"), PROCS as u64, "{s:?}");
        assert_eq!(s.runqs.len(), PROCS, "one queue length per P: {s:?}");
        assert!(f("idleprocs") <= PROCS as u64, "{s:?}");
        // Sysmon counts as a thread, and starts before the first M does.
        assert!(f("threads") >= 1, "{s:?}");
        assert!(f("idlethreads") < f("threads"), "{s:?}");
        // A waker counts a spinning M just before it starts one.
        assert!(f("spinningthreads") <= f("threads"), "{s:?}");
        assert_eq!(f("needspinning"), 0, "{s:?}");
        assert!(
            s.ms >= k as u64 * PERIOD_MS,
            "line {k} at {} ms: printed more often than every {PERIOD_MS} ms",
            s.ms
        );
        if k > 0 {
            assert!(s.ms > lines[k - 1].ms, "time went back: {lines:?}");
        }
    }
}

fn count_sched(lines: &[String]) -> usize {
    lines.iter().filter(|l| l.starts_with("SCHED ")).count()
}

#[test]
fn schedtrace_prints_a_sched_line_every_period() {
    const TEST: &str = "schedtrace_prints_a_sched_line_every_period";
    if in_child(TEST) {
        let rt = Runtime::builder().procs(PROCS).build().unwrap();
        assert_eq!(
            rt.config().schedtrace,
            Some(Duration::from_millis(PERIOD_MS))
        );
        rt.block_on(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let until = Instant::now() + CHILD_TIMEOUT;
            // Always-runnable workers keep the Ps busy; a sleeper keeps timers going.
            let mut hs: Vec<_> = (0..4u64)
                .map(|i| {
                    let stop = stop.clone();
                    gort::spawn(move || {
                        let mut x = i;
                        while !stop.load(SeqCst) && Instant::now() < until {
                            for j in 0..10_000u64 {
                                x = x.wrapping_mul(6364136223846793005).wrapping_add(j);
                            }
                            gort::yield_now();
                        }
                        x
                    })
                })
                .collect();
            let s = stop.clone();
            hs.push(gort::spawn(move || {
                while !s.load(SeqCst) && Instant::now() < until {
                    gort::time::sleep(Duration::from_millis(1));
                }
                0
            }));
            wait_for_parent();
            stop.store(true, SeqCst);
            for h in hs {
                h.join().unwrap();
            }
        });
        return;
    }
    let period = PERIOD_MS.to_string();
    let run = run_child(TEST, &[("GORT_SCHEDTRACE", &period)], |l| {
        count_sched(l) >= 5
    });
    run.assert_success();
    let lines = run.sched_lines();
    assert!(lines.len() >= 5, "{:?}", run.stderr);
    check_sched_lines(&lines);
    // The fixed grid and the sleep cap: neither many more lines than periods elapsed...
    let periods = run.elapsed.as_millis() as usize / PERIOD_MS as usize;
    assert!(
        lines.len() <= periods + 2,
        "{} lines in {:?}",
        lines.len(),
        run.elapsed
    );
    // ...and the workers show: some line saw a busy P.
    assert!(
        lines.iter().any(|s| s.fields["idleprocs"] < PROCS as u64),
        "{lines:?}"
    );
}

#[test]
fn builder_schedtrace_prints_without_the_env_and_nothing_prints_by_default() {
    const TEST: &str = "builder_schedtrace_prints_without_the_env_and_nothing_prints_by_default";
    if in_child(TEST) {
        let mut b = Runtime::builder().procs(PROCS);
        if std::env::var_os("GORT_TEST_USE_BUILDER").is_some() {
            b = b.schedtrace(Duration::from_millis(PERIOD_MS));
        }
        let rt = b.build().unwrap();
        rt.block_on(|| {
            // The workload: a goroutine sleeping 100 ms, five periods' worth.
            gort::spawn(|| gort::time::sleep(Duration::from_millis(5 * PERIOD_MS)))
                .join()
                .unwrap();
            wait_for_parent();
        });
        return;
    }
    let run = run_child(TEST, &[("GORT_TEST_USE_BUILDER", "1")], |l| {
        count_sched(l) >= 3
    });
    run.assert_success();
    let lines = run.sched_lines();
    assert!(lines.len() >= 3, "{:?}", run.stderr);
    check_sched_lines(&lines);

    let run = run_child(TEST, &[], |_| true);
    run.assert_success();
    assert_eq!(run.sched_lines().len(), 0, "{:?}", run.stderr);
}

/// A `  P0: status=1 schedtick=..` line's id and fields.
fn parse_detail(line: &str, tag: char) -> Option<(String, HashMap<String, String>)> {
    let (head, rest) = line.strip_prefix("  ")?.split_once(": ")?;
    let id = head.strip_prefix(tag)?.to_string();
    let fields = rest
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some((id, fields))
}

#[test]
fn scheddetail_adds_p_m_and_goroutine_lines() {
    const TEST: &str = "scheddetail_adds_p_m_and_goroutine_lines";
    if in_child(TEST) {
        let rt = Runtime::builder().procs(PROCS).build().unwrap();
        assert!(rt.config().scheddetail);
        rt.block_on(|| {
            let (tx, rx) = gort::chan::bounded::<u32>(0);
            let sleeper = GoroutineBuilder::new()
                .name(SLEEPER)
                .spawn(move || rx.recv().unwrap())
                .unwrap();
            // The runtime idles (the sleeper parked, main inside `blocking`) and sysmon
            // keeps printing.
            wait_for_parent();
            tx.send(7).unwrap();
            assert_eq!(sleeper.join().unwrap(), 7);
        });
        return;
    }
    let period = PERIOD_MS.to_string();
    let sleeper_line = |l: &String| {
        l.starts_with("  G")
            && l.contains(&format!("name={SLEEPER:?}"))
            && l.contains("status=4(chan receive)")
    };
    let run = run_child(
        TEST,
        &[("GORT_SCHEDTRACE", &period), ("GORT_SCHEDDETAIL", "1")],
        |l| count_sched(l) >= 3 && l.iter().any(sleeper_line),
    );
    run.assert_success();
    check_sched_lines(&run.sched_lines());

    // Split into traces: a SCHED line and the indented lines after it.
    let mut traces: Vec<Vec<&String>> = Vec::new();
    for l in &run.stderr {
        if l.starts_with("SCHED ") {
            traces.push(vec![l]);
        } else if l.starts_with("  ") {
            traces
                .last_mut()
                .unwrap_or_else(|| panic!("detail line before any SCHED line: {l:?}"))
                .push(l);
        }
    }
    assert!(traces.len() >= 3, "{:?}", run.stderr);
    let mut saw_sleeper = false;
    let mut saw_main = false;
    for t in &traces {
        let ps: Vec<_> = t.iter().filter_map(|l| parse_detail(l, 'P')).collect();
        let ids: Vec<String> = (0..PROCS).map(|i| i.to_string()).collect();
        assert_eq!(
            ps.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
            ids,
            "one line per P, in order: {t:?}"
        );
        for (_, f) in &ps {
            for key in [
                "status",
                "schedtick",
                "syscalltick",
                "curg",
                "runqsize",
                "timerslen",
            ] {
                assert!(f.contains_key(key), "P line without {key}: {t:?}");
            }
            assert!(["0", "1", "2"].contains(&f["status"].as_str()), "{t:?}");
        }
        assert_eq!(
            t.iter().filter(|l| l.starts_with("  M*: notidle=")).count(),
            1,
            "{t:?}"
        );
        for l in t
            .iter()
            .filter(|l| l.starts_with("  M") && !l.starts_with("  M*"))
        {
            let (id, f) = parse_detail(l, 'M').unwrap_or_else(|| panic!("{l:?}"));
            assert!(id.parse::<usize>().is_ok(), "{l:?}");
            assert_eq!(f["idle"], "true", "{l:?}");
        }
        for l in t
            .iter()
            .filter(|l| l.starts_with("  G") && !l.starts_with("  G*"))
        {
            let (id, f) = parse_detail(l, 'G').unwrap_or_else(|| panic!("{l:?}"));
            assert!(id.parse::<u64>().is_ok(), "{l:?}");
            let status = &f["status"];
            assert!(
                ["1(", "2(", "4("].iter().any(|s| status.starts_with(s)),
                "{l:?}"
            );
            assert!(f.contains_key("p"), "{l:?}");
            saw_sleeper |= sleeper_line(l);
            saw_main |= l.contains("name=\"main\"");
        }
    }
    assert!(saw_sleeper, "no G line for {SLEEPER}: {:?}", run.stderr);
    assert!(
        saw_main,
        "no G line for the main goroutine: {:?}",
        run.stderr
    );
}

#[test]
fn bad_schedtrace_settings_are_errors_naming_them() {
    const TEST: &str = "bad_schedtrace_settings_are_errors_naming_them";
    if in_child(TEST) {
        let var = if std::env::var_os("GORT_SCHEDTRACE").is_some() {
            "GORT_SCHEDTRACE"
        } else {
            "GORT_SCHEDDETAIL"
        };
        let e = Runtime::new().unwrap_err();
        assert!(
            matches!(e, ConfigError::Env { var: v, .. } if v == var),
            "{e:?}"
        );
        assert!(e.to_string().contains(var), "{e}");
        return;
    }
    let cases = [
        ("GORT_SCHEDTRACE", "abc"),
        ("GORT_SCHEDTRACE", "0"),
        ("GORT_SCHEDTRACE", "-5"),
        ("GORT_SCHEDTRACE", "1.5"),
        ("GORT_SCHEDDETAIL", "maybe"),
    ];
    for (var, value) in cases {
        let run = run_child(TEST, &[(var, value)], |_| true);
        assert!(
            run.success,
            "{var}={value:?}: {}\n{}",
            run.stdout,
            run.stderr.join("\n")
        );
    }

    match Runtime::builder().schedtrace(Duration::ZERO).build() {
        Err(e @ ConfigError::Invalid { setting, .. }) => {
            assert_eq!(setting, "schedtrace");
            assert!(e.to_string().contains("schedtrace"), "{e}");
        }
        Err(e) => panic!("expected Invalid for schedtrace, got {e:?}"),
        Ok(_) => panic!("a zero schedtrace period was accepted"),
    }
    let c = Runtime::builder()
        .schedtrace(Duration::from_millis(7))
        .scheddetail(true)
        .config()
        .unwrap();
    assert_eq!(c.schedtrace, Some(Duration::from_millis(7)));
    assert!(c.scheddetail);
}
