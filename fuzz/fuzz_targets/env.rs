//! Fuzzes the `GORT_*` environment parsing behind `gort::Builder::config`.
//!
//! Each line `NAME=value` of the input sets a variable: NAME is one of the known
//! variables, or any other name picks one by its first byte (so that mutations reach
//! them all). Values are raw bytes (not always UTF-8); NULs are dropped, as the OS
//! cannot hold them. `config()` must then return `Ok` with sane values or an error that
//! names a variable that was set, never panic. libFuzzer runs inputs on one thread,
//! which is what makes `set_var` sound here; every variable is removed after each input.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use gort::{Builder, ConfigError, MAX_PROCS};
use libfuzzer_sys::fuzz_target;

/// The variables `config()` reads (runtime/config.rs, the README's table).
const VARS: [&str; 6] = [
    "GORT_PROCS",
    "GORT_HOGWARN",
    "GORT_MAX_THREADS",
    "GORT_SCHEDTRACE",
    "GORT_SCHEDDETAIL",
    "GORT_SIGQUIT",
];

fn clear() {
    for v in VARS {
        std::env::remove_var(v);
    }
}

fuzz_target!(|data: &[u8]| {
    clear();
    let mut set = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (name, value) = (&line[..eq], &line[eq + 1..]);
        let var = match VARS.iter().find(|v| v.as_bytes() == name) {
            Some(v) => *v,
            None => match name.first() {
                Some(&b) => VARS[usize::from(b) % VARS.len()],
                None => continue,
            },
        };
        let value: Vec<u8> = value.iter().copied().filter(|&b| b != 0).collect();
        std::env::set_var(var, OsStr::from_bytes(&value));
        set.push(var);
    }
    let result = Builder::new().config();
    match &result {
        Ok(c) => {
            assert!(c.procs >= 1 && c.procs <= MAX_PROCS, "procs {}", c.procs);
            assert!(c.max_threads > c.procs, "max_threads {}", c.max_threads);
            assert!(c.schedtrace.is_none_or(|p| !p.is_zero()));
        }
        Err(ConfigError::Env { var, .. }) => assert!(set.contains(var), "{var} was not set"),
        // Values that parse but do not fit: too many procs, too few threads for them.
        Err(ConfigError::Invalid { setting, .. }) => {
            assert!(["procs", "max_threads"].contains(setting), "{setting}")
        }
        Err(e) => panic!("config() started something: {e:?}"),
    }
    if let Err(e) = &result {
        assert!(!e.to_string().is_empty());
    }
    // Reading the same environment again gives the same answer.
    assert_eq!(
        format!("{result:?}"),
        format!("{:?}", Builder::new().config())
    );
    clear();
});
