//! Small helpers shared by the peer binaries (included with `#[path]`, not a library).

#![allow(dead_code)]

use std::collections::HashMap;

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid, initialized struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return want.rlim_cur as u64;
            }
        }
        lim.rlim_cur as u64
    }
}

/// `--key value` / `--key=value` arguments. `usage` is printed for `-h`, `--help` and
/// anything that is not a known `--key`.
pub struct Args {
    map: HashMap<String, String>,
}

impl Args {
    pub fn parse(known: &[&str], usage: &str) -> Args {
        let mut map = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if a == "-h" || a == "--help" {
                println!("{usage}");
                std::process::exit(0);
            }
            let Some(key) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
                die(usage, &format!("unexpected argument {a:?}"));
            };
            let (key, val) = match key.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => {
                    let v = it
                        .next()
                        .unwrap_or_else(|| die(usage, &format!("--{key} needs a value")));
                    (key.to_string(), v)
                }
            };
            if !known.contains(&key.as_str()) {
                die(usage, &format!("unknown option --{key}"));
            }
            map.insert(key, val);
        }
        Args { map }
    }

    pub fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        match self.map.get(key) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("bad value for --{key}: {v:?}");
                std::process::exit(2)
            }),
        }
    }
}

fn die(usage: &str, msg: &str) -> ! {
    eprintln!("{msg}\n{usage}");
    std::process::exit(2)
}

/// A multi-thread tokio runtime with `threads` workers.
pub fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime")
}
