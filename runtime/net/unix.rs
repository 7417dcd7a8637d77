//! `UnixListener` and `UnixStream`: `std::os::unix::net`'s shapes, parking the goroutine.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use gort_netpoll::Mode;

use super::fd::{socket_options, PollFd};
use super::tcp::{fd_traits, stream_by_ref};

/// A Unix-domain stream listener.
pub struct UnixListener {
    fd: PollFd,
    inner: std::os::unix::net::UnixListener,
}

/// A Unix-domain stream connection; `Read`/`Write` also for `&UnixStream`.
pub struct UnixStream {
    fd: PollFd,
    inner: std::os::unix::net::UnixStream,
}

/// An iterator over a Unix listener's connections.
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl UnixListener {
    /// Binds to the socket file at `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let inner = crate::blocking(|| std::os::unix::net::UnixListener::bind(path))?;
        UnixListener::from_std(inner)
    }

    /// Waits for a connection.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, addr) = self.fd.io(Mode::Read, || self.inner.accept())?;
        Ok((UnixStream::from_std(s)?, addr))
    }

    /// An endless iterator of [`accept`](Self::accept) results.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// A second handle on the same socket (registered separately).
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        UnixListener::from_std(self.inner.try_clone()?)
    }
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;

    #[track_caller]
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl UnixStream {
    /// Connects to the socket file at `path` (as blocking work: a Unix connect only
    /// waits when the listener's backlog is full).
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let inner = crate::blocking(|| std::os::unix::net::UnixStream::connect(path))?;
        UnixStream::from_std(inner)
    }

    /// A connected pair.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Shuts down one or both directions, waking a goroutine blocked on them.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)?;
        self.fd.shut(how);
        Ok(())
    }
}

socket_options!(UnixStream);

/// `send(2)` with `MSG_NOSIGNAL`: a write to a closed peer is `BrokenPipe`, never a
/// SIGPIPE (std's Unix-socket write uses `write(2)`).
fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live slice of `len` readable bytes.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

impl Read for &UnixStream {
    #[track_caller]
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        super::fd::read_exact(self, buf)
    }

    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, || (&self.inner).read(buf))
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.fd.io(Mode::Read, || (&self.inner).read_vectored(bufs))
    }
}

impl Write for &UnixStream {
    #[track_caller]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        super::fd::write_all(self, buf)
    }

    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.inner.as_raw_fd();
        self.fd.io(Mode::Write, || send(fd, buf))
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        self.write(first)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fd_traits!(UnixListener, std::os::unix::net::UnixListener);
stream_by_ref!(UnixStream);
fd_traits!(UnixStream, std::os::unix::net::UnixStream);
