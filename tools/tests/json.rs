//! `gort-trace json` on traces of real programs: the output is Chrome trace JSON whose
//! tracks, slices, arrows and counters agree with what the program did.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{goroutine_named, parse_json, runs, temp_path, traced, JEvent, Slices, EPS};
use gort::chan;
use gort::trace::Trace;
use gort_tools::trace_json::{write_json, JsonOptions};
use gort_tools::trace_summary::Summary;

const LINKS: u32 = 6;
const ROUNDS: u32 = 4;

/// A chain of goroutines `link0..link5`, each passing a token from its left
/// neighbour to its right one over unbuffered channels, `ROUNDS` times; main feeds
/// the chain, reads its end and joins the links.
fn token_chain() {
    let (feed, mut rx) = chan::bounded::<u32>(0);
    let mut links = Vec::new();
    for i in 0..LINKS {
        let (tx, next) = chan::bounded::<u32>(0);
        let input = std::mem::replace(&mut rx, next);
        let link = gort::GoroutineBuilder::new()
            .name(format!("link{i}"))
            .spawn(move || {
                for _ in 0..ROUNDS {
                    let token = input.recv().unwrap();
                    tx.send(token + 1).unwrap();
                }
            })
            .unwrap();
        links.push(link);
    }
    for _ in 0..ROUNDS {
        feed.send(0).unwrap();
        assert_eq!(rx.recv().unwrap(), LINKS);
    }
    // Each link ends inside the trace.
    for link in links {
        link.join().unwrap();
    }
}

fn json_of(t: &Trace, opts: &JsonOptions) -> Vec<JEvent> {
    let mut out = Vec::new();
    let stats = write_json(t, opts, &mut out).unwrap();
    let evs = parse_json(&out);
    assert_eq!(stats.json_events, evs.len() as u64);
    evs
}

/// The goroutine id named by a slice's `runnable_after` ("unpark by g12").
fn waker_of(run: &JEvent) -> Option<u64> {
    run.arg_str("runnable_after")?
        .strip_prefix("unpark by g")?
        .parse()
        .ok()
}

/// What every JSON output must satisfy: named tracks, slices that never overlap on a
/// track, arrows with both ends that start inside their waker's slice and end at the
/// start of the woken goroutine's run, sane counters.
fn check_structure(evs: &[JEvent], max_running: u64) {
    let names = common::track_names(evs);
    assert!(evs
        .iter()
        .any(|e| e.ph == "M" && e.name == "process_name" && e.arg_str("name") == Some("gort")));
    assert_eq!(names.get(&0).map(String::as_str), Some("threads/sysmon"));
    for e in evs.iter().filter(|e| e.ph == "X" || e.ph == "i") {
        let name = names
            .get(&e.tid)
            .unwrap_or_else(|| panic!("unnamed track {}", e.tid));
        if e.tid > 0 {
            let m = e.tid - 1;
            assert!(
                name == &format!("M{m}") || name.starts_with(&format!("M{m} (P")),
                "track {} is named {name}",
                e.tid
            );
        }
    }

    // Slices on one track never overlap.
    let slices = Slices::new(evs);
    for (tid, slices) in slices.tracks() {
        for w in slices.windows(2) {
            assert!(
                w[0].end() <= w[1].ts + EPS,
                "overlap on track {tid}: {} and {}",
                w[0].raw,
                w[1].raw
            );
        }
    }

    // Each flow has one start and one end, in time order; the end is where the woken
    // goroutine's run begins, the start is inside its waker's run or wake slice.
    let mut flows: HashMap<u64, (Vec<&JEvent>, Vec<&JEvent>)> = HashMap::new();
    for e in evs.iter().filter(|e| e.ph == "s" || e.ph == "f") {
        let id = e.id.expect("flow events have an id");
        let ends = flows.entry(id).or_default();
        if e.ph == "s" {
            &mut ends.0
        } else {
            &mut ends.1
        }
        .push(e);
    }
    for (id, (s, f)) in &flows {
        assert_eq!(
            (s.len(), f.len()),
            (1, 1),
            "flow {id} has one start and one end"
        );
        let (s, f) = (s[0], f[0]);
        assert_eq!(f.raw["bp"], "e", "flow ends bind to their enclosing slice");
        assert!(s.ts <= f.ts + EPS, "flow {id} goes forward in time");
        let woken = slices.at(f.tid, f.ts).expect("a flow ends in a slice");
        assert_eq!(woken.cat, "run");
        assert!(
            (woken.ts - f.ts).abs() < EPS,
            "a flow ends where a run starts"
        );
        let from = slices.at(s.tid, s.ts).expect("a flow starts in a slice");
        match from.cat.as_str() {
            "run" => assert_eq!(
                Some(from.arg_u64("goroutine").unwrap()),
                waker_of(woken),
                "flow {id} starts in its waker's run: {} → {}",
                from.raw,
                woken.raw
            ),
            "wake" => assert_eq!(from.arg_u64("goroutine"), woken.arg_u64("goroutine")),
            other => panic!("flow {id} starts in a {other} slice"),
        }
    }

    // Counters: one series per P's run queue and the goroutine counts, in time order.
    let mut last_ts: HashMap<&str, f64> = HashMap::new();
    for c in evs.iter().filter(|e| e.ph == "C") {
        let prev = last_ts.insert(&c.name, c.ts).unwrap_or(f64::MIN);
        assert!(prev <= c.ts, "counter {} goes back in time", c.name);
        match c.name.as_str() {
            "goroutines" => {
                let running = c.arg_u64("running").unwrap();
                assert!(c.arg_u64("runnable").is_some());
                assert!(running <= max_running, "{running} running: {}", c.raw);
            }
            name => {
                assert!(name.starts_with("runq P"), "unexpected counter {name}");
                assert!(c.arg_u64("len").is_some());
            }
        }
    }
}

#[test]
fn a_token_chain_becomes_tracks_slices_and_arrows() {
    let ((), path) = traced("chain.trace", 2, token_chain);
    let t = Trace::read(&path).unwrap();
    let evs = json_of(&t, &JsonOptions::default());
    check_structure(&evs, 2);

    let runs = runs(&evs);
    let links: Vec<u64> = (0..LINKS)
        .map(|i| goroutine_named(&t, &format!("link{i}")))
        .collect();
    let main = links[0] - 1; // block_on's goroutine, spawned just before the links
    assert_eq!(t.name(main), Some("main"));

    // Each goroutine: slices under its name, created once, ended once.
    let mut named: HashSet<&str> = HashSet::new();
    for (i, &g) in links.iter().enumerate() {
        let mine: Vec<&&JEvent> = runs
            .iter()
            .filter(|r| r.arg_u64("goroutine") == Some(g))
            .collect();
        assert!(!mine.is_empty(), "link{i} ran");
        for r in &mine {
            assert_eq!(r.name, format!("link{i}"));
            let site = r.arg_str("spawned_at").unwrap();
            assert!(site.starts_with("tools/tests/json.rs:"), "{site}");
            assert!(r.arg_u64("p").unwrap() < 2);
            named.insert(&r.name);
        }
        let created = mine
            .iter()
            .filter(|r| {
                r.arg_str("runnable_after")
                    .is_some_and(|a| a == format!("spawn by g{main}"))
            })
            .count();
        assert_eq!(created, 1, "link{i} was made runnable by its spawn once");
        let done: Vec<_> = mine
            .iter()
            .filter(|r| r.arg_str("end") == Some("done"))
            .collect();
        assert_eq!(done.len(), 1, "link{i} ended once");
        let last = mine.iter().max_by(|a, b| a.ts.total_cmp(&b.ts)).unwrap();
        assert_eq!(last.arg_str("end"), Some("done"), "its last run ends it");
        // Parks are on the channel calls of the chain, at their line in this file.
        for r in mine.iter().filter(|r| r.arg_str("end") == Some("park")) {
            let reason = r.arg_str("wait_reason").unwrap();
            assert!(["chan receive", "chan send"].contains(&reason), "{reason}");
            assert!(r
                .arg_str("wait_site")
                .unwrap()
                .starts_with("tools/tests/json.rs:"));
        }
    }
    assert_eq!(named.len(), LINKS as usize);

    // Every token handoff that parked someone is an arrow from one neighbour to the
    // other: link i is woken only by link i-1 or i+1 (main at both ends).
    let neighbours = |i: usize| {
        let left = if i == 0 { main } else { links[i - 1] };
        let right = links.get(i + 1).copied().unwrap_or(main);
        [left, right]
    };
    let mut wakes = 0;
    for (i, &g) in links.iter().enumerate() {
        for r in runs.iter().filter(|r| r.arg_u64("goroutine") == Some(g)) {
            if let Some(w) = waker_of(r) {
                assert!(neighbours(i).contains(&w), "link{i} woken by g{w}");
                wakes += 1;
            }
        }
    }
    let flows = evs.iter().filter(|e| e.ph == "f").count();
    assert!(wakes > 0 && flows >= wakes, "{wakes} wakes, {flows} flows");

    // M tracks carry the P they ran goroutines for.
    let names = common::track_names(&evs);
    for r in &runs {
        let p = r.arg_u64("p").unwrap();
        assert!(
            names[&r.tid].contains(&format!("P{p}")),
            "{}",
            names[&r.tid]
        );
    }

    // At the end nothing runs or waits to.
    let last = evs
        .iter()
        .filter(|e| e.ph == "C" && e.name == "goroutines")
        .max_by(|a, b| a.ts.total_cmp(&b.ts))
        .unwrap();
    assert_eq!(last.arg_u64("running"), Some(0));
    assert_eq!(last.arg_u64("runnable"), Some(0));
    assert!(evs.iter().any(|e| e.ph == "C" && e.name == "runq P0"));
    std::fs::remove_file(path).unwrap();
}

#[test]
fn the_window_and_goroutine_filters_cut_the_json() {
    let ((), path) = traced("filters.trace", 2, token_chain);
    let t = Trace::read(&path).unwrap();
    let link3 = goroutine_named(&t, "link3");

    let only = JsonOptions {
        goroutines: Some([link3].into()),
        ..JsonOptions::default()
    };
    let evs = json_of(&t, &only);
    check_structure(&evs, 2);
    let runs = runs(&evs);
    assert!(!runs.is_empty());
    assert!(runs.iter().all(|r| r.name == "link3"));
    let flows: Vec<_> = evs.iter().filter(|e| e.ph == "f").collect();
    assert!(!flows.is_empty(), "link3 waits on its neighbours");
    // Its wakers' runs are filtered out: arrows start from wake slices.
    let slices = Slices::new(&evs);
    for s in evs.iter().filter(|e| e.ph == "s") {
        assert_eq!(slices.at(s.tid, s.ts).unwrap().cat, "wake");
    }

    // A window in the middle of the trace: everything drawn lies inside it.
    let span = t.events.last().unwrap().ts;
    let (from, to) = (span / 4, span / 2);
    let window = JsonOptions {
        from: Some(from),
        to: Some(to),
        ..JsonOptions::default()
    };
    let evs = json_of(&t, &window);
    check_structure(&evs, 2);
    let (from_us, to_us) = (from as f64 / 1e3, to as f64 / 1e3);
    for e in evs.iter().filter(|e| e.ph != "M") {
        assert!(
            e.ts >= from_us - EPS && e.end() <= to_us + EPS,
            "{} outside [{from_us}, {to_us}]",
            e.raw
        );
    }
    let all = json_of(&t, &JsonOptions::default());
    // Runs that began before the window are cut to start at it: leave them out.
    let inside = |e: &&JEvent| e.ts > from_us + EPS && e.ts <= to_us + EPS;
    let runs_all = runs_starting_inside(&all, &inside);
    let runs_window = runs_starting_inside(&evs, &inside);
    assert_eq!(
        runs_window, runs_all,
        "the window keeps the runs that start in it"
    );
    std::fs::remove_file(path).unwrap();
}

fn runs_starting_inside(evs: &[JEvent], inside: &dyn Fn(&&JEvent) -> bool) -> usize {
    runs(evs).into_iter().filter(|r| inside(r)).count()
}

#[test]
fn a_trace_started_mid_run_has_runs_without_a_start() {
    let path = temp_path("midrun.trace");
    let p = path.clone();
    let spinner_id = gort::Runtime::builder()
        .procs(2)
        .hog_warning(false)
        .build()
        .unwrap()
        .block_on(move || {
            let running = Arc::new(AtomicBool::new(false));
            let stop = Arc::new(AtomicBool::new(false));
            let (r, s) = (running.clone(), stop.clone());
            let spinner = gort::GoroutineBuilder::new()
                .name("spinner")
                .spawn(move || {
                    r.store(true, Ordering::SeqCst);
                    // No scheduling point until told: it runs across the trace start.
                    while !s.load(Ordering::SeqCst) {
                        std::hint::spin_loop();
                    }
                })
                .unwrap();
            while !running.load(Ordering::SeqCst) {
                gort::yield_now();
            }
            gort::trace::start(&p).unwrap();
            gort::spawn(|| 7).join().unwrap();
            stop.store(true, Ordering::SeqCst);
            let id = spinner.id();
            spinner.join().unwrap();
            gort::trace::stop().unwrap();
            id
        });
    let t = Trace::read(&path).unwrap();
    assert!(t.complete);

    let summary = Summary::new(&t);
    assert_eq!(
        summary.anomalies.total(),
        0,
        "a mid-run start is not an anomaly:\n{}",
        summary.anomalies
    );
    let evs = json_of(&t, &JsonOptions::default());
    check_structure(&evs, 2);
    // Created before the trace: its name and spawn site are not in it.
    assert_eq!(t.name(spinner_id), None);
    let spinner: Vec<_> = runs(&evs)
        .into_iter()
        .filter(|r| r.arg_u64("goroutine") == Some(spinner_id))
        .collect();
    assert_eq!(spinner.len(), 1, "one run: the spin, then done");
    assert_eq!(spinner[0].name, format!("g{spinner_id}"));
    assert_eq!(spinner[0].raw["args"]["started_before_trace"], true);
    // Its GoDone comes after it woke main, which may stop the trace first.
    let end = spinner[0].arg_str("end").unwrap();
    assert!(["done", "running at trace end"].contains(&end), "{end}");
    assert_eq!(spinner[0].arg_str("spawned_at"), Some("?"));
    // It woke main (joining it) from inside that run.
    let main_woken = runs(&evs)
        .into_iter()
        .filter(|r| r.arg_str("runnable_after") == Some(&format!("unpark by g{spinner_id}")))
        .count();
    assert_eq!(main_woken, 1);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_busy_program_replays_without_anomalies() {
    // A spawn tree with work stealing across 2 Ps.
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        let hs: Vec<_> = (0..4)
            .map(|_| gort::spawn(move || tree(depth - 1)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    }
    let (leaves, path) = traced("busy.trace", 2, || tree(7));
    assert_eq!(leaves, 4u64.pow(7));
    let t = Trace::read(&path).unwrap();
    let summary = Summary::new(&t);
    assert_eq!(summary.anomalies.total(), 0, "{}", summary.anomalies);
    assert_eq!(
        summary.created,
        (4u64.pow(8) - 1) / 3,
        "the tree, main its root"
    );
    let evs = json_of(&t, &JsonOptions::default());
    check_structure(&evs, 2);
    assert_eq!(runs(&evs).len() as u64, summary.runs);
    std::fs::remove_file(path).unwrap();
}
