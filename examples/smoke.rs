fn main() {
    let t = std::time::Instant::now();
    let sum = gort::run(|| {
        let hs: Vec<_> = (0..1000u64).map(|i| gort::spawn(move || i * 2)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    println!("sum {sum} in {:?}", t.elapsed());
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let n = rt.block_on(|| {
        fn chain(n: u32) -> u32 {
            if n == 0 {
                0
            } else {
                gort::spawn(move || chain(n - 1)).join().unwrap() + 1
            }
        }
        chain(10000)
    });
    println!("chain {n}; {:?}", rt.metrics().total);
}
