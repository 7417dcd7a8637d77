//! Closing a connection after a final reply without losing that reply.
//!
//! When a server closes a socket that still has unread input (the client pipelined more
//! requests behind a bad one, say), the kernel answers with a reset, and a reset can
//! destroy the reply before the client has read it. So we close only our sending side
//! and keep reading, and dropping, what still arrives, briefly and boundedly, until the
//! client closes too; the socket is closed when the caller drops it.

use std::io::Read;
use std::net::Shutdown;
use std::time::Duration;

use gort::net::TcpStream;

/// How long, and how many bytes, we keep draining.
const LINGER_TIME: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 64 * 1024;

pub fn linger_close(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(LINGER_TIME))?;
    let mut sink = [0u8; 4096];
    let mut dropped = 0;
    while dropped < LINGER_BYTES {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => dropped += n,
        }
    }
    Ok(())
}
