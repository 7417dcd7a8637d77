//! The pure half of `http_hello`: parsing a request head and building the response,
//! with no socket, so that unit tests and the fuzz target (`fuzz/fuzz_targets/http.rs`,
//! which includes this file) exercise exactly the code the server runs.

/// Largest request head (request line and headers) we keep in memory.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most headers per request; more is answered like an oversized head.
pub const MAX_HEADERS: usize = 64;

pub const BODY: &[u8] = b"Hello, World!";

/// A parsed request head: what the connection loop needs to answer it.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    /// Bytes of request line and headers, including the blank line.
    pub len: usize,
    /// Body bytes that follow the head and must be skipped.
    pub body: u64,
    pub keep_alive: bool,
    /// `HEAD`: the response carries headers only.
    pub head_only: bool,
    /// `GET /metrics`: the runtime's counters in the Prometheus text format.
    pub metrics: bool,
}

/// Why a request cannot be served; each ends the connection.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Reject {
    BadRequest,
    HeadTooLarge,
    NotImplemented,
}

impl Reject {
    pub fn response(self) -> &'static [u8] {
        match self {
            Reject::BadRequest => {
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request"
            }
            Reject::HeadTooLarge => {
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 31\r\nConnection: close\r\n\r\nRequest Header Fields Too Large"
            }
            Reject::NotImplemented => {
                b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 15\r\nConnection: close\r\n\r\nNot Implemented"
            }
        }
    }
}

/// Parses the request head at the start of `buf`: `Ok(None)` if it is not complete yet.
/// Pure, so that it can be tested (and fuzzed) without a socket.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, Reject> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
        Ok(httparse::Status::Complete(_)) | Err(httparse::Error::TooManyHeaders) => {
            return Err(Reject::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(Reject::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Reject::BadRequest),
    };
    let http11 = req.version == Some(1);
    let (mut close, mut keep_alive_token, mut host) = (false, false, false);
    let mut body: Option<u64> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(h.value).ok_or(Reject::BadRequest)?;
            // Repeated Content-Length headers must agree (RFC 9112 §6.3).
            if body.is_some_and(|prev| prev != n) {
                return Err(Reject::BadRequest);
            }
            body = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Reject::NotImplemented);
        } else if h.name.eq_ignore_ascii_case("host") {
            host = true;
        }
    }
    // HTTP/1.1 requests must name the host (RFC 9112 §3.2).
    if http11 && !host {
        return Err(Reject::BadRequest);
    }
    Ok(Some(Head {
        len,
        body: body.unwrap_or(0),
        keep_alive: !close && (http11 || keep_alive_token),
        head_only: req.method == Some("HEAD"),
        metrics: req.method == Some("GET") && req.path == Some("/metrics"),
    }))
}

/// Digits only: no sign, no spaces, no lists.
fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Appends the answer to `head` to `out`.
pub fn respond(out: &mut Vec<u8>, head: &Head) {
    if head.metrics {
        let body = gort::metrics().to_prometheus();
        out.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(if head.keep_alive {
            b"Connection: keep-alive\r\n\r\n"
        } else {
            b"Connection: close\r\n\r\n"
        });
        out.extend_from_slice(body.as_bytes());
        return;
    }
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n");
    // Only deviations from the version's default need saying; HTTP/1.0 clients that
    // asked for keep-alive expect it confirmed.
    out.extend_from_slice(if head.keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    if !head.head_only {
        out.extend_from_slice(BODY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(buf: &[u8]) -> Head {
        parse_head(buf).expect("valid").expect("complete")
    }

    #[test]
    fn keep_alive_defaults_follow_the_version() {
        assert!(head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
        assert!(!head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!head(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn partial_heads_wait_for_more() {
        let full = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse_head(&full[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(head(full).len, full.len());
    }

    #[test]
    fn bodies_are_measured_and_checked() {
        let h = head(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(h.body, 5);
        let bad = [
            &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        ];
        for b in bad {
            assert_eq!(
                parse_head(b),
                Err(Reject::BadRequest),
                "{:?}",
                String::from_utf8_lossy(b)
            );
        }
        assert_eq!(
            parse_head(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Reject::NotImplemented)
        );
    }

    #[test]
    fn malformed_and_oversized_heads_are_rejected() {
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"),
            Err(Reject::BadRequest)
        );
        assert_eq!(parse_head(b"\x00\x01\x02\r\n\r\n"), Err(Reject::BadRequest));
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\n\r\n"),
            Err(Reject::BadRequest),
            "no Host"
        );
        let mut long = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        long.resize(MAX_HEAD + 10, b'a');
        assert_eq!(parse_head(&long), Err(Reject::HeadTooLarge), "partial");
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_head(&long), Err(Reject::HeadTooLarge), "complete");
        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_head(&many),
            Err(Reject::HeadTooLarge),
            "too many headers"
        );
    }

    #[test]
    fn head_requests_get_no_body() {
        let h = head(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
        let mut out = Vec::new();
        respond(&mut out, &h);
        assert!(out.ends_with(b"\r\n\r\n"));
        let g = head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        out.clear();
        respond(&mut out, &g);
        assert!(out.ends_with(BODY));
    }
}
