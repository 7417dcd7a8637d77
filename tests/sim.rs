use std::sync::Arc;
fn prog() -> (Vec<(u32, u32)>, Vec<u32>) {
    let log = Arc::new(gort::sync::Mutex::new(Vec::new()));
    let (tx, rx) = gort::chan::bounded::<u32>(0);
    for w in 0..4u32 {
        let (log, tx) = (log.clone(), tx.clone());
        gort::spawn(move || {
            for s in 0..5 {
                log.lock().push((w, s));
                gort::yield_now();
                tx.send(w).unwrap();
            }
        });
    }
    drop(tx);
    let order = rx.iter().collect();
    let l = log.lock().clone();
    (l, order)
}
#[test]
fn probe() {
    for procs in [1, 2, 4] {
        let mut hs = std::collections::HashSet::new();
        let mut os = std::collections::HashSet::new();
        for seed in 0..20 {
            let a = gort::sim::try_run(seed, procs, prog).unwrap();
            hs.insert(a.schedule_hash);
            os.insert(a.value);
        }
        eprintln!("procs {procs}: {} hashes {} orders", hs.len(), os.len());
    }
}
