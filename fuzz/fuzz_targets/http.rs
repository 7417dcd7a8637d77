//! Fuzzes http_hello's request-head parser and response builder (the example's own
//! `http_hello/request.rs`, included).
//!
//! Beyond "no panic" (and no huge allocation: run.sh sets `-malloc_limit_mb`):
//! - a complete head is within the buffer and within `MAX_HEAD`, its own bytes parse
//!   to the same head, and its strict prefixes are incomplete (`Ok(None)`);
//! - an incomplete head is shorter than `MAX_HEAD` (so the buffer stays bounded);
//! - every response (200s and rejections) is one well-formed HTTP/1.1 response whose
//!   `Content-Length` matches its body and whose `Connection` matches keep-alive;
//! - pipelined requests are walked like the connection loop does, body skipping
//!   included, so later heads are fuzzed too.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../examples/http_hello/request.rs"]
mod request;

use request::{parse_head, respond, Head, BODY, MAX_HEAD};

/// Parses `wire` as one complete response: (status, keep-alive, body).
fn check_response(wire: &[u8], head_only: bool) -> (u16, bool) {
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(wire) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!(
            "malformed response {other:?}: {:?}",
            String::from_utf8_lossy(wire)
        ),
    };
    assert_eq!(resp.version, Some(1));
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let content_length: usize = std::str::from_utf8(header("content-length").expect("length"))
        .unwrap()
        .parse()
        .unwrap();
    let body = &wire[len..];
    assert_eq!(body.len(), if head_only { 0 } else { content_length });
    let keep_alive = match header("connection") {
        Some(b"keep-alive") => true,
        Some(b"close") => false,
        other => panic!("connection header {other:?}"),
    };
    (resp.code.unwrap(), keep_alive)
}

fn check_head(buf: &[u8], h: &Head) {
    assert!(
        h.len > 0 && h.len <= buf.len() && h.len <= MAX_HEAD,
        "len {}",
        h.len
    );
    match parse_head(&buf[..h.len]) {
        Ok(Some(again)) => assert_eq!(&again, h, "the head's own bytes parse differently"),
        other => panic!("the head's own bytes: {other:?}"),
    }
    for cut in [0, h.len / 2, h.len - 1] {
        assert_eq!(parse_head(&buf[..cut]), Ok(None), "prefix {cut}/{}", h.len);
    }
    // `/metrics` reads the runtime's counters: not what this target is about.
    if !h.metrics {
        let mut out = Vec::new();
        respond(&mut out, h);
        let (status, keep_alive) = check_response(&out, h.head_only);
        assert_eq!((status, keep_alive), (200, h.keep_alive));
        if !h.head_only {
            assert!(out.ends_with(BODY));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut pos = 0;
    loop {
        let buf = &data[pos..];
        match parse_head(buf) {
            Ok(Some(h)) => {
                check_head(buf, &h);
                if !h.keep_alive {
                    return;
                }
                // The body is skipped, as far as it is there.
                let skip = (h.len as u64).saturating_add(h.body).min(buf.len() as u64);
                pos += skip as usize;
            }
            Ok(None) => {
                assert!(buf.len() < MAX_HEAD, "{} bytes still incomplete", buf.len());
                return;
            }
            Err(reject) => {
                let (status, keep_alive) = check_response(reject.response(), false);
                assert!(status >= 400 && !keep_alive);
                return;
            }
        }
    }
});
