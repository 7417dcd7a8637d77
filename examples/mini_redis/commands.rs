//! Command dispatch: checks a command's name and arity, runs it against the [`Store`]
//! and appends the RESP reply.
//!
//! Errors in a command (unknown name, wrong arity, bad option) are ordinary replies:
//! the connection goes on. The texts are Redis's, so clients that match on them work.

use std::time::{Duration, Instant};

use crate::resp;
use crate::store::{IncrError, SetIf, Store};

/// Whether the connection goes on after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// `QUIT`: the reply is sent, then the connection closes.
    Close,
}

const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
/// Longest command name that we echo back in an error.
const MAX_ECHOED_NAME: usize = 128;

/// Runs one non-empty command and appends its reply to `out`.
pub fn execute(store: &Store, args: &[Vec<u8>], out: &mut Vec<u8>) -> Flow {
    let name = &args[0];
    // Names are matched case-insensitively; none of ours is longer than 8 bytes.
    let mut lower = [0u8; 8];
    let cmd = match lower.get_mut(..name.len()) {
        Some(dst) => {
            dst.copy_from_slice(name);
            dst.make_ascii_lowercase();
            &*dst
        }
        None => &[],
    };
    let n = args.len();
    let arity_ok = match cmd {
        b"ping" => n <= 2,
        b"echo" | b"get" | b"incr" => n == 2,
        b"set" => n >= 3,
        b"del" | b"exists" | b"config" => n >= 2,
        b"command" | b"quit" => true,
        _ => {
            unknown_command(out, name);
            return Flow::Continue;
        }
    };
    if !arity_ok {
        let cmd = std::str::from_utf8(cmd).expect("command names are ASCII");
        resp::error(
            out,
            &format!("ERR wrong number of arguments for '{cmd}' command"),
        );
        return Flow::Continue;
    }
    match cmd {
        b"ping" => match args.get(1) {
            Some(msg) => resp::bulk(out, msg),
            None => resp::simple(out, "PONG"),
        },
        b"echo" => resp::bulk(out, &args[1]),
        b"get" => store.with_value(&args[1], |v| match v {
            Some(v) => resp::bulk(out, v),
            None => resp::null(out),
        }),
        b"set" => set(store, args, out),
        b"del" => {
            let removed = args[1..].iter().filter(|k| store.del(k)).count();
            resp::integer(out, removed as i64);
        }
        b"exists" => {
            // Like Redis, a key named twice counts twice.
            let found = args[1..].iter().filter(|k| store.exists(k)).count();
            resp::integer(out, found as i64);
        }
        b"incr" => match store.incr(&args[1], 1) {
            Ok(v) => resp::integer(out, v),
            Err(IncrError::NotAnInteger) => resp::error(out, NOT_AN_INTEGER),
            Err(IncrError::Overflow) => {
                resp::error(out, "ERR increment or decrement would overflow")
            }
        },
        // redis-cli asks for `COMMAND DOCS` (for its hints) when it starts; an empty
        // answer means "no documentation" and is enough.
        b"command" => match args.get(1) {
            Some(sub) if sub.eq_ignore_ascii_case(b"count") => resp::integer(out, 0),
            _ => resp::array_header(out, 0),
        },
        b"config" => config(args, out),
        b"quit" => {
            resp::simple(out, "OK");
            return Flow::Close;
        }
        _ => unreachable!("every name that passed the arity check has a case"),
    }
    Flow::Continue
}

/// The settings `CONFIG GET` reports: redis-benchmark reads these two at start (and
/// warns if they are missing); they say truthfully that nothing is persisted.
const SETTINGS: [(&str, &str); 2] = [("save", ""), ("appendonly", "no")];

/// `CONFIG GET name...`: name/value pairs for the [`SETTINGS`] named (exact names, no
/// glob patterns), an empty array for anything else.
fn config(args: &[Vec<u8>], out: &mut Vec<u8>) {
    if !args[1].eq_ignore_ascii_case(b"get") {
        let sub = printable(&args[1]);
        return resp::error(
            out,
            &format!("ERR unknown subcommand '{sub}'. Try CONFIG HELP."),
        );
    }
    if args.len() < 3 {
        return resp::error(
            out,
            "ERR wrong number of arguments for 'config|get' command",
        );
    }
    let found: Vec<_> = SETTINGS
        .iter()
        .filter(|(name, _)| {
            args[2..]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(name.as_bytes()))
        })
        .collect();
    resp::array_header(out, found.len() * 2);
    for (name, value) in found {
        resp::bulk(out, name.as_bytes());
        resp::bulk(out, value.as_bytes());
    }
}

/// `SET key value [EX seconds | PX milliseconds] [NX | XX]`.
fn set(store: &Store, args: &[Vec<u8>], out: &mut Vec<u8>) {
    let mut expires = None;
    let mut cond = SetIf::Always;
    let mut i = 3;
    while i < args.len() {
        let opt = &args[i];
        let unit_ms = if opt.eq_ignore_ascii_case(b"ex") {
            Some(1000)
        } else if opt.eq_ignore_ascii_case(b"px") {
            Some(1)
        } else {
            None
        };
        match unit_ms {
            Some(unit_ms) if expires.is_none() && i + 1 < args.len() => {
                let Some(amount) = resp::parse_i64(&args[i + 1]) else {
                    return resp::error(out, NOT_AN_INTEGER);
                };
                let deadline = u64::try_from(amount)
                    .ok()
                    .filter(|&a| a > 0)
                    .and_then(|a| a.checked_mul(unit_ms))
                    .and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms)));
                match deadline {
                    Some(t) => expires = Some(t),
                    None => return resp::error(out, "ERR invalid expire time in 'set' command"),
                }
                i += 2;
            }
            None if opt.eq_ignore_ascii_case(b"nx") && cond == SetIf::Always => {
                cond = SetIf::Missing;
                i += 1;
            }
            None if opt.eq_ignore_ascii_case(b"xx") && cond == SetIf::Always => {
                cond = SetIf::Present;
                i += 1;
            }
            _ => return resp::error(out, "ERR syntax error"),
        }
    }
    if store.set(&args[1], args[2].clone(), expires, cond) {
        resp::simple(out, "OK");
    } else {
        resp::null(out);
    }
}

fn unknown_command(out: &mut Vec<u8>, name: &[u8]) {
    resp::error(out, &format!("ERR unknown command '{}'", printable(name)));
}

/// A client-supplied name, cut short and made safe to put inside an error line.
fn printable(name: &[u8]) -> String {
    let cut = &name[..name.len().min(MAX_ECHOED_NAME)];
    String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(store: &Store, cmd: &str) -> String {
        let args: Vec<Vec<u8>> = cmd.split(' ').map(|s| s.as_bytes().to_vec()).collect();
        let mut out = Vec::new();
        execute(store, &args, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn commands_reply_like_redis() {
        let s = Store::new();
        assert_eq!(run(&s, "PING"), "+PONG\r\n");
        assert_eq!(run(&s, "ping hi"), "$2\r\nhi\r\n");
        assert_eq!(run(&s, "ECHO x"), "$1\r\nx\r\n");
        assert_eq!(run(&s, "GET k"), "$-1\r\n");
        assert_eq!(run(&s, "SET k v"), "+OK\r\n");
        assert_eq!(run(&s, "GET k"), "$1\r\nv\r\n");
        assert_eq!(run(&s, "SET k w NX"), "$-1\r\n");
        assert_eq!(run(&s, "SET k w XX EX 100"), "+OK\r\n");
        assert_eq!(run(&s, "EXISTS k k nope"), ":2\r\n");
        assert_eq!(run(&s, "DEL k nope k"), ":1\r\n");
        assert_eq!(run(&s, "INCR n"), ":1\r\n");
        assert_eq!(run(&s, "incr n"), ":2\r\n");
        assert_eq!(run(&s, "SET t abc"), "+OK\r\n");
        assert_eq!(run(&s, "INCR t"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(run(&s, "COMMAND DOCS"), "*0\r\n");
        assert_eq!(run(&s, "COMMAND"), "*0\r\n");
        assert_eq!(run(&s, "CONFIG GET save"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
        assert_eq!(run(&s, "CONFIG GET maxmemory"), "*0\r\n");
        assert_eq!(run(&s, "QUIT"), "+OK\r\n");
    }

    #[test]
    fn errors_keep_the_connection() {
        let s = Store::new();
        assert_eq!(run(&s, "FOO a"), "-ERR unknown command 'FOO'\r\n");
        assert_eq!(
            run(&s, "GET"),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            run(&s, "PING a b"),
            "-ERR wrong number of arguments for 'ping' command\r\n"
        );
        assert_eq!(run(&s, "SET k v EX"), "-ERR syntax error\r\n");
        assert_eq!(
            run(&s, "SET k v EX 0"),
            "-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(
            run(&s, "SET k v PX -5"),
            "-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(run(&s, "SET k v EX x"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(
            run(&s, "SET k v EX 9223372036854775807"),
            "-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(run(&s, "SET k v EX 1 EX 1"), "-ERR syntax error\r\n");
        assert_eq!(run(&s, "SET k v NX XX"), "-ERR syntax error\r\n");
        assert_eq!(
            run(&s, "SETTINGSVERYLONG"),
            "-ERR unknown command 'SETTINGSVERYLONG'\r\n"
        );
        let mut out = Vec::new();
        execute(&s, &[b"a\r\nb".to_vec()], &mut out);
        assert_eq!(out, b"-ERR unknown command 'a  b'\r\n");
    }

    #[test]
    fn long_expiries_are_accepted() {
        let s = Store::new();
        assert_eq!(run(&s, "SET k v EX 5000000000"), "+OK\r\n");
        assert_eq!(run(&s, "SET k v PX 5000000000"), "+OK\r\n");
        assert_eq!(run(&s, "GET k"), "$1\r\nv\r\n");
    }
}
