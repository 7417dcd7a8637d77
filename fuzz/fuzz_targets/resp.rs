//! Fuzzes mini_redis's RESP2/inline parser (the example's own `resp.rs`, included).
//!
//! Beyond "no panic" (and no huge allocation: run.sh sets `-malloc_limit_mb`), it
//! checks what the connection loop relies on:
//! - a command reports how many bytes it took, and those bytes alone parse to the
//!   same command;
//! - every strict prefix of a command is `Incomplete`, with a `need` hint past the
//!   prefix and not past the command (an overshooting hint would stall the server,
//!   which does not re-parse before `need` bytes are buffered);
//! - feeding the input in small pieces, skipping parses below `need` as the server
//!   does, yields the same commands and the same ending as parsing it whole;
//! - parsed arguments, re-encoded as a multibulk with the reply encoders, parse back
//!   to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../examples/mini_redis/resp.rs"]
mod resp;

use resp::{parse_command, Parsed, ProtocolError};

/// How a buffer ends once every complete command in it has been taken.
#[derive(Debug, PartialEq)]
enum End {
    Incomplete,
    Error(ProtocolError),
}

type Commands = Vec<Vec<Vec<u8>>>;

/// Parses `buf` command after command, checking each one.
fn parse_whole(buf: &[u8]) -> (Commands, End) {
    let mut commands = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        match parse_command(rest) {
            Ok(Parsed::Incomplete { need }) => {
                assert!(
                    need > rest.len(),
                    "need {need} with {} buffered",
                    rest.len()
                );
                return (commands, End::Incomplete);
            }
            Ok(Parsed::Command { args, consumed }) => {
                assert!(
                    consumed > 0 && consumed <= rest.len(),
                    "consumed {consumed}"
                );
                check_command(&rest[..consumed], &args);
                commands.push(args);
                pos += consumed;
            }
            Err(e) => return (commands, End::Error(e)),
        }
    }
}

/// `wire` is exactly one command, which parsed to `args`.
fn check_command(wire: &[u8], args: &[Vec<u8>]) {
    let again = parse_command(wire);
    assert_eq!(
        again,
        Ok(Parsed::Command {
            args: args.to_vec(),
            consumed: wire.len()
        }),
        "the command's own bytes parse differently"
    );
    let n = wire.len();
    for cut in [0, n / 2, n - 1, n.saturating_sub(3)] {
        match parse_command(&wire[..cut]) {
            Ok(Parsed::Incomplete { need }) => {
                assert!(need > cut && need <= n, "prefix {cut}/{n}: need {need}")
            }
            other => panic!("prefix {cut} of a {n}-byte command: {other:?}"),
        }
    }
    if !args.is_empty() {
        let mut encoded = Vec::new();
        resp::array_header(&mut encoded, args.len());
        for a in args {
            resp::bulk(&mut encoded, a);
        }
        assert_eq!(
            parse_command(&encoded),
            Ok(Parsed::Command {
                args: args.to_vec(),
                consumed: encoded.len()
            }),
            "re-encoded arguments do not round-trip"
        );
    }
}

/// Feeds `buf` in pieces of 1 to 64 bytes (sizes from a generator seeded by the input)
/// and parses like mini_redis's connection loop, including its `need` skipping.
fn parse_streamed(buf: &[u8]) -> (Commands, End) {
    let mut seed = buf.len() as u32 ^ u32::from(buf.first().copied().unwrap_or(0)) << 8;
    let mut commands = Vec::new();
    let (mut start, mut fed, mut need) = (0, 0, 1);
    loop {
        while fed - start >= need {
            match parse_command(&buf[start..fed]) {
                Ok(Parsed::Incomplete { need: n }) => need = n,
                Ok(Parsed::Command { args, consumed }) => {
                    start += consumed;
                    need = 1;
                    commands.push(args);
                }
                Err(e) => return (commands, End::Error(e)),
            }
        }
        if fed == buf.len() {
            return (commands, End::Incomplete);
        }
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        fed = buf.len().min(fed + 1 + (seed >> 16) as usize % 64);
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = parse_whole(data);
    let streamed = parse_streamed(data);
    assert_eq!(
        whole, streamed,
        "parsing in pieces differs from parsing whole"
    );
});
