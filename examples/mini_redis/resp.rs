//! RESP2, the Redis wire protocol: parsing client commands and encoding replies.
//!
//! [`parse_command`] is a pure function of the bytes received so far, so the connection
//! loop can call it after every read (and a fuzz target can call it on anything): it
//! returns [`Parsed::Incomplete`], one command and the bytes it took, or a
//! [`ProtocolError`]. Clients send commands in two forms, told apart by the first byte:
//!
//! - a *multibulk* array of bulk strings, `*2\r\n$3\r\nGET\r\n$1\r\nk\r\n` (redis-cli,
//!   redis-benchmark, client libraries);
//! - an *inline* line, `GET k\r\n`, split on whitespace with `"..."`/`'...'` quoting
//!   (telnet; the same rules as Redis's `sdssplitargs`).
//!
//! Nothing is allocated from a length the client announced: counts and lengths are
//! checked against [`MAX_ARRAY_LEN`] and [`MAX_BULK_LEN`] (Redis's limits), and memory
//! grows only with bytes that actually arrived. Error texts follow Redis's.

/// Longest bulk string (Redis's `proto-max-bulk-len` default, 512 MiB).
pub const MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// Most elements in one command array (Redis's limit, 1024 × 1024).
pub const MAX_ARRAY_LEN: usize = 1024 * 1024;
/// Longest inline command line (Redis's `PROTO_INLINE_MAX_SIZE`, 64 KiB).
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Longest `*N` / `$N` header line: a sign and 19 digits fit, with room to spare.
const MAX_LENGTH_LINE: usize = 32;

/// What [`parse_command`] found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// No complete command yet; nothing can change until the buffer holds at least
    /// `need` bytes (a hint, so that a large bulk string is not re-parsed on every read).
    Incomplete { need: usize },
    /// A command (possibly empty: blank inline lines and `*0` are skipped by Redis) and
    /// how many bytes of the buffer it took.
    Command { args: Vec<Vec<u8>>, consumed: usize },
}

/// A malformed request; Redis answers `-ERR Protocol error: ...` and closes.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum ProtocolError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    /// A multibulk element that is not a bulk string: the byte found instead of `$`.
    ExpectedBulk(u8),
    MissingCrlfAfterBulk,
    InlineTooLong,
    UnbalancedQuotes,
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtocolError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtocolError::ExpectedBulk(b) => {
                write!(f, "expected '$', got '{}'", char::from(*b).escape_default())
            }
            ProtocolError::MissingCrlfAfterBulk => f.write_str("expected CRLF after bulk data"),
            ProtocolError::InlineTooLong => f.write_str("too big inline request"),
            ProtocolError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
        }
    }
}

/// Parses one command from the start of `buf`.
pub fn parse_command(buf: &[u8]) -> Result<Parsed, ProtocolError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete { need: 1 }),
        Some(b'*') => parse_multibulk(buf),
        Some(_) => parse_inline(buf),
    }
}

/// Outcome of reading a `*N` or `$N` line.
enum Length {
    Incomplete,
    Value { n: i64, next: usize },
    Invalid,
}

/// Reads the signed decimal between `buf[at]` (a prefix byte, already checked) and
/// the next CRLF.
fn length_line(buf: &[u8], at: usize) -> Length {
    let start = at + 1;
    let window = &buf[start..buf.len().min(start + MAX_LENGTH_LINE)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return if window.len() == MAX_LENGTH_LINE {
            Length::Invalid
        } else {
            Length::Incomplete
        };
    };
    match buf.get(start + cr + 1) {
        None => return Length::Incomplete,
        Some(b'\n') => {}
        Some(_) => return Length::Invalid,
    }
    match parse_i64(&window[..cr]) {
        Some(n) => Length::Value {
            n,
            next: start + cr + 2,
        },
        None => Length::Invalid,
    }
}

fn parse_multibulk(buf: &[u8]) -> Result<Parsed, ProtocolError> {
    let (count, mut pos) = match length_line(buf, 0) {
        Length::Incomplete => {
            return Ok(Parsed::Incomplete {
                need: buf.len() + 1,
            })
        }
        Length::Invalid => return Err(ProtocolError::InvalidMultibulkLength),
        Length::Value { n, .. } if n > MAX_ARRAY_LEN as i64 => {
            return Err(ProtocolError::InvalidMultibulkLength)
        }
        Length::Value { n, next } => (n, next),
    };
    if count <= 0 {
        return Ok(Parsed::Command {
            args: Vec::new(),
            consumed: pos,
        });
    }
    // Capacity from what the buffer could hold at most, not from the announced count.
    let mut args = Vec::with_capacity((count as usize).min(buf.len() / 4 + 1));
    for _ in 0..count {
        match buf.get(pos) {
            None => return Ok(Parsed::Incomplete { need: pos + 1 }),
            Some(b'$') => {}
            Some(&other) => return Err(ProtocolError::ExpectedBulk(other)),
        }
        let (len, data) = match length_line(buf, pos) {
            Length::Incomplete => {
                return Ok(Parsed::Incomplete {
                    need: buf.len() + 1,
                })
            }
            Length::Invalid => return Err(ProtocolError::InvalidBulkLength),
            Length::Value { n, next } => match usize::try_from(n) {
                Ok(len) if len <= MAX_BULK_LEN => (len, next),
                _ => return Err(ProtocolError::InvalidBulkLength),
            },
        };
        let end = data + len;
        if buf.len() < end + 2 {
            return Ok(Parsed::Incomplete { need: end + 2 });
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError::MissingCrlfAfterBulk);
        }
        args.push(buf[data..end].to_vec());
        pos = end + 2;
    }
    Ok(Parsed::Command {
        args,
        consumed: pos,
    })
}

fn parse_inline(buf: &[u8]) -> Result<Parsed, ProtocolError> {
    let window = &buf[..buf.len().min(MAX_INLINE_LEN + 1)];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return if window.len() > MAX_INLINE_LEN {
            Err(ProtocolError::InlineTooLong)
        } else {
            Ok(Parsed::Incomplete {
                need: buf.len() + 1,
            })
        };
    };
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    Ok(Parsed::Command {
        args: split_inline(line)?,
        consumed: nl + 1,
    })
}

/// Splits an inline command line like Redis's `sdssplitargs`: whitespace separates
/// arguments; `"..."` understands `\n \r \t \b \a \\ \"` and `\xHH`; `'...'` only `\'`;
/// a closing quote must be followed by whitespace or the end.
fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Ok(args);
        }
        let mut arg = Vec::new();
        match line[i] {
            b'"' => i = double_quoted(line, i + 1, &mut arg)?,
            b'\'' => i = single_quoted(line, i + 1, &mut arg)?,
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    arg.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
}

/// Reads a `"..."` argument whose body starts at `i`; returns the index after it.
fn double_quoted(line: &[u8], mut i: usize, arg: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    loop {
        match line.get(i) {
            None => return Err(ProtocolError::UnbalancedQuotes),
            Some(b'"') => return after_closing_quote(line, i + 1),
            Some(b'\\') if i + 3 < line.len() && line[i + 1] == b'x' => {
                match (hex(line[i + 2]), hex(line[i + 3])) {
                    (Some(h), Some(l)) => {
                        arg.push(h << 4 | l);
                        i += 4;
                    }
                    _ => {
                        arg.push(b'x');
                        i += 2;
                    }
                }
            }
            Some(b'\\') if i + 1 < line.len() => {
                arg.push(match line[i + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    other => other,
                });
                i += 2;
            }
            Some(&b) => {
                arg.push(b);
                i += 1;
            }
        }
    }
}

/// Reads a `'...'` argument whose body starts at `i`; returns the index after it.
fn single_quoted(line: &[u8], mut i: usize, arg: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    loop {
        match line.get(i) {
            None => return Err(ProtocolError::UnbalancedQuotes),
            Some(b'\'') => return after_closing_quote(line, i + 1),
            Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                arg.push(b'\'');
                i += 2;
            }
            Some(&b) => {
                arg.push(b);
                i += 1;
            }
        }
    }
}

fn after_closing_quote(line: &[u8], i: usize) -> Result<usize, ProtocolError> {
    match line.get(i) {
        None => Ok(i),
        Some(b) if b.is_ascii_whitespace() => Ok(i),
        Some(_) => Err(ProtocolError::UnbalancedQuotes),
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Parses a decimal `i64` the way Redis's `string2ll` does: an optional `-`, digits,
/// no `+`, no spaces, no leading zeros, no `-0`. Used for lengths, `INCR` and `EX`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !negative => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        // Accumulate downwards: i64::MIN has no positive counterpart.
        n = n.checked_mul(10)?.checked_sub(d)?;
    }
    if negative {
        Some(n)
    } else {
        n.checked_neg()
    }
}

// Reply encoders: each appends one RESP2 value to `out`.

pub fn simple(out: &mut Vec<u8>, s: &str) {
    out.push(b'+');
    push_line(out, s.as_bytes());
}

/// An error reply; `msg` starts with the error kind (`ERR ...`). CR and LF in it
/// (a command name echoed back, say) become spaces, so a reply is always one line.
pub fn error(out: &mut Vec<u8>, msg: &str) {
    out.push(b'-');
    push_line(out, msg.as_bytes());
}

pub fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The null bulk string: `GET` of a missing key.
pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

pub fn array_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn push_line(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(
        s.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn command(buf: &[u8]) -> (Vec<Vec<u8>>, usize) {
        match parse_command(buf) {
            Ok(Parsed::Command { args, consumed }) => (args, consumed),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
        }
    }

    #[test]
    fn multibulk_commands_parse_and_report_their_length() {
        let wire = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nx!\r\n*1\r\n$4\r\nPING\r\n";
        let (a, used) = command(wire);
        assert_eq!(a, args(&["SET", "k", "v\r\nx!"]));
        let (b, rest) = command(&wire[used..]);
        assert_eq!(b, args(&["PING"]));
        assert_eq!(used + rest, wire.len());
    }

    #[test]
    fn every_prefix_of_a_command_is_incomplete() {
        let wire = b"*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
        for cut in 0..wire.len() {
            match parse_command(&wire[..cut]) {
                Ok(Parsed::Incomplete { need }) => assert!(need > cut && need <= wire.len()),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        assert_eq!(command(wire).1, wire.len());
        let inline = b"SET a b\r\n";
        for cut in 0..inline.len() {
            assert!(matches!(
                parse_command(&inline[..cut]),
                Ok(Parsed::Incomplete { .. })
            ));
        }
    }

    #[test]
    fn empty_commands_are_skipped_by_the_caller() {
        assert_eq!(command(b"*0\r\n"), (vec![], 4));
        assert_eq!(command(b"*-1\r\n"), (vec![], 5));
        assert_eq!(command(b"\r\n"), (vec![], 2));
        assert_eq!(command(b"   \n"), (vec![], 4));
    }

    #[test]
    fn bulk_strings_are_binary_and_may_be_empty() {
        let (a, _) = command(b"*2\r\n$0\r\n\r\n$3\r\n\x00\xff\n\r\n");
        assert_eq!(a, vec![vec![], vec![0, 255, b'\n']]);
    }

    #[test]
    fn announced_lengths_are_bounded_and_not_allocated() {
        use ProtocolError::*;
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"*abc\r\n", InvalidMultibulkLength),
            (b"*1048577\r\n", InvalidMultibulkLength),
            (b"*99999999999999999999999\r\n", InvalidMultibulkLength),
            (b"*+1\r\n", InvalidMultibulkLength),
            (b"*1\r\n$-1\r\n", InvalidBulkLength),
            (b"*1\r\n$536870913\r\n", InvalidBulkLength),
            (b"*1\r\n$01\r\nx\r\n", InvalidBulkLength),
            (b"*1\r\n$1x\r\n", InvalidBulkLength),
            (b"*1\r\n:1\r\n", ExpectedBulk(b':')),
            (b"*1\r\n$1\r\nxyz", MissingCrlfAfterBulk),
            (b"*1\rx", InvalidMultibulkLength),
        ];
        for (wire, want) in cases {
            assert_eq!(
                parse_command(wire).as_ref(),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        // The largest legal bulk only asks for more bytes.
        let head = b"*1\r\n$536870912\r\n";
        assert_eq!(
            parse_command(head),
            Ok(Parsed::Incomplete {
                need: head.len() + MAX_BULK_LEN + 2
            })
        );
        // A length line that never ends is cut off early, not buffered.
        let endless = [b'*']
            .iter()
            .chain([b'1'; 40].iter())
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(parse_command(&endless), Err(InvalidMultibulkLength));
        // The largest legal count is accepted and waits for its elements.
        assert!(matches!(
            parse_command(b"*1048576\r\n$1\r\na\r\n"),
            Ok(Parsed::Incomplete { .. })
        ));
    }

    #[test]
    fn inline_commands_split_like_redis() {
        assert_eq!(command(b"GET k\r\n").0, args(&["GET", "k"]));
        assert_eq!(command(b"  SET  a   b\n").0, args(&["SET", "a", "b"]));
        assert_eq!(
            command(b"SET \"a b\" 'c \\'d' \"\\x41\\n\"\r\n").0,
            args(&["SET", "a b", "c 'd", "A\n"])
        );
        assert_eq!(
            parse_command(b"SET \"a\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
        assert_eq!(
            parse_command(b"SET \"a\"b\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
        assert_eq!(
            parse_command(b"SET 'a\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
        let long = vec![b'a'; MAX_INLINE_LEN + 1];
        assert_eq!(parse_command(&long), Err(ProtocolError::InlineTooLong));
        assert!(matches!(
            parse_command(&long[..MAX_INLINE_LEN]),
            Ok(Parsed::Incomplete { .. })
        ));
    }

    #[test]
    fn integers_parse_strictly() {
        for (s, want) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-0", None),
            ("01", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("", None),
            ("-", None),
            ("1.5", None),
        ] {
            assert_eq!(parse_i64(s.as_bytes()), want, "{s:?}");
        }
    }

    #[test]
    fn replies_encode_as_resp2() {
        let mut out = Vec::new();
        simple(&mut out, "OK");
        error(&mut out, "ERR unknown command 'a\r\nb'");
        integer(&mut out, -7);
        bulk(&mut out, b"hi");
        null(&mut out);
        array_header(&mut out, 0);
        assert_eq!(
            out,
            b"+OK\r\n-ERR unknown command 'a  b'\r\n:-7\r\n$2\r\nhi\r\n$-1\r\n*0\r\n"
        );
    }
}
