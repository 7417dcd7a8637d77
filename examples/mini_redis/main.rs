//! mini_redis: a small Redis-compatible server, one goroutine per connection.
//!
//! ```text
//! cargo run --release --example mini_redis -- --addr 127.0.0.1:6380 [--procs N]
//! redis-cli -p 6380 set greeting hello
//! redis-benchmark -p 6380 -c 100 -n 100000 -t ping,set,get -q
//! ```
//!
//! Commands: `PING [msg]`, `ECHO msg`, `SET key value [EX s | PX ms] [NX | XX]`, `GET`,
//! `DEL key...`, `EXISTS key...`, `INCR`, `QUIT`; `COMMAND ...` answers an empty array
//! (enough for redis-cli's hints) and `CONFIG GET` knows only `save` and `appendonly`
//! (what redis-benchmark asks for).
//!
//! Files: `resp.rs` the wire protocol, `store.rs` the keyspace, `commands.rs` what
//! each command does, this file the connection loop.
//!
//! The loop answers every complete command in its buffer before writing, so pipelined
//! commands (`redis-benchmark -P 16`) cost one read and one write per batch. A command
//! error (unknown name, wrong arity) is a normal reply and the connection goes on. A
//! malformed request (bad RESP framing, unbalanced quotes) gets `-ERR Protocol error:
//! ...` and the connection is closed, as Redis does: after a framing error the rest of
//! the stream cannot be trusted to start at a command boundary.

use std::sync::Arc;
use std::time::Duration;

use gort::net::TcpStream;

mod commands;
mod resp;
mod store;

#[path = "../support/linger.rs"]
mod linger;
#[path = "../support/read_buf.rs"]
mod read_buf;
#[path = "../support/server.rs"]
mod server;

use commands::Flow;
use read_buf::ReadBuf;
use resp::Parsed;
use store::Store;

/// Room offered to each read; more (up to [`MAX_READ_ROOM`]) while a large bulk string
/// is arriving, so that it takes fewer reads and fewer re-parses.
const READ_ROOM: usize = 16 * 1024;
const MAX_READ_ROOM: usize = 1024 * 1024;
/// Pending replies are written out once they reach this size.
const FLUSH_AT: usize = 64 * 1024;
/// Most unparsed input one connection may hold (Redis's `client-query-buffer-limit`);
/// a client over it is disconnected.
const MAX_QUERY_BUF: usize = 1024 * 1024 * 1024;
/// One shard's expired keys are dropped this often (see `Store::sweep`).
const SWEEP_EVERY: Duration = Duration::from_millis(100);

fn main() {
    server::serve("mini_redis", "127.0.0.1:6380", || {
        let store = Arc::new(Store::new());
        let sweeper = Arc::clone(&store);
        gort::GoroutineBuilder::new()
            .name("expiry sweeper")
            .spawn(move || sweep_forever(&sweeper))
            .expect("spawning inside the runtime");
        move |stream| serve_conn(&store, stream)
    });
}

fn sweep_forever(store: &Store) {
    for i in (0..store.shard_count()).cycle() {
        gort::time::sleep(SWEEP_EVERY);
        store.sweep(i);
    }
}

fn serve_conn(store: &Store, mut stream: TcpStream) {
    if let Err(e) = serve_commands(store, &mut stream) {
        if !matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
        ) {
            eprintln!("mini_redis: {e}");
        }
    }
}

fn serve_commands(store: &Store, stream: &mut TcpStream) -> std::io::Result<()> {
    use std::io::Write;

    let mut input = ReadBuf::new(READ_ROOM);
    let mut out = Vec::with_capacity(1024);
    // The parser's hint: below this many buffered bytes it cannot make progress.
    let mut need = 1;
    loop {
        while input.len() >= need {
            match resp::parse_command(input.filled()) {
                Ok(Parsed::Incomplete { need: n }) => need = n,
                Ok(Parsed::Command { args, consumed }) => {
                    input.consume(consumed);
                    need = 1;
                    if !args.is_empty() && commands::execute(store, &args, &mut out) == Flow::Close
                    {
                        stream.write_all(&out)?;
                        return linger::linger_close(stream);
                    }
                    if out.len() >= FLUSH_AT {
                        stream.write_all(&out)?;
                        out.clear();
                    }
                }
                Err(e) => {
                    resp::error(&mut out, &format!("ERR Protocol error: {e}"));
                    stream.write_all(&out)?;
                    return linger::linger_close(stream);
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        if input.len() >= MAX_QUERY_BUF {
            eprintln!("mini_redis: query buffer over {MAX_QUERY_BUF} bytes; disconnecting");
            return Ok(());
        }
        let room = (need - input.len()).clamp(READ_ROOM, MAX_READ_ROOM);
        if input.read_from(stream, room)? == 0 {
            return Ok(());
        }
    }
}
