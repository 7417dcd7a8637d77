//! What every network example shares: the `--addr`/`--procs` flags, starting the
//! runtime, the "listening on ADDR" line and the accept loop that gives each connection
//! its own goroutine.
//!
//! The first stdout line is the bound address, flushed at once, so that tests and
//! scripts can start a server on port 0 and read which port it got.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use gort::net::{TcpListener, TcpStream};

/// First and last pause after a failed `accept` (Go's `net/http` uses the same
/// doubling from 5 ms to 1 s): running out of descriptors (EMFILE) is usually
/// temporary, and retrying at once would only spin.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Parsed command line.
struct Options {
    addr: String,
    procs: Option<usize>,
}

/// Parses the flags, starts the runtime (`--procs N` builds one with N Ps, otherwise
/// `gort::run`'s default), binds, prints the address and serves forever.
///
/// `setup` runs once inside the main goroutine after the bind (so it may spawn helper
/// goroutines) and returns the per-connection handler, which runs in a goroutine of
/// its own for each accepted connection.
pub fn serve<S, H>(name: &str, default_addr: &str, setup: S)
where
    S: FnOnce() -> H + Send + 'static,
    H: Fn(TcpStream) + Clone + Send + 'static,
{
    let opts = parse_args(name, default_addr);
    let addr = opts.addr;
    let main = move || accept_loop(&addr, setup);
    match opts.procs {
        Some(n) => match gort::Runtime::builder().procs(n).build() {
            Ok(rt) => rt.block_on(main),
            Err(e) => fail(&format!("bad --procs {n}: {e}")),
        },
        None => gort::run(main),
    }
}

fn accept_loop<S, H>(addr: &str, setup: S)
where
    S: FnOnce() -> H,
    H: Fn(TcpStream) + Clone + Send + 'static,
{
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| fail(&format!("bind {addr}: {e}")));
    let local = listener
        .local_addr()
        .unwrap_or_else(|e| fail(&format!("local_addr: {e}")));
    announce(local);
    let handler = setup();
    let mut backoff = BACKOFF_MIN;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = BACKOFF_MIN;
                let handler = handler.clone();
                let spawned = gort::GoroutineBuilder::new()
                    .name(format!("conn {peer}"))
                    .spawn(move || handler(stream));
                if let Err(e) = spawned {
                    eprintln!("spawn for {peer}: {e}; dropping the connection");
                }
            }
            // The peer gave up before we got to it, or a signal: nothing to wait for.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                eprintln!("accept: {e}; retrying in {backoff:?}");
                gort::time::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

fn announce(local: SocketAddr) {
    let mut out = std::io::stdout().lock();
    // Ignoring a failed print is right here: nobody is reading, and serving goes on.
    let _ = writeln!(out, "listening on {local}");
    let _ = out.flush();
}

fn parse_args(name: &str, default_addr: &str) -> Options {
    let usage = format!("usage: {name} [--addr HOST:PORT (default {default_addr})] [--procs N]");
    let mut opts = Options {
        addr: default_addr.to_string(),
        procs: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| fail(&format!("{flag} needs a value\n{usage}")))
        };
        match flag.as_str() {
            "--addr" => opts.addr = value(),
            "--procs" => {
                let v = value();
                match v.parse::<usize>() {
                    Ok(n) if n > 0 => opts.procs = Some(n),
                    _ => fail(&format!(
                        "--procs wants a positive integer, got {v:?}\n{usage}"
                    )),
                }
            }
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            _ => fail(&format!("unknown argument {flag:?}\n{usage}")),
        }
    }
    opts
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(2);
}
