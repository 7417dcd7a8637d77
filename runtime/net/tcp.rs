//! `TcpListener` and `TcpStream`: `std::net`'s shapes, with calls that park the
//! goroutine instead of blocking its thread.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;
use std::time::{Duration, Instant};

use gort_netpoll::Mode;

use super::fd::{socket_options, PollFd};
use super::{each_addr, resolve, sys};
use crate::context;

/// A TCP server socket (`std::net::TcpListener` with goroutine-parking `accept`).
///
/// ```no_run
/// use std::io::{Read, Write};
/// gort::run(|| {
///     let listener = gort::net::TcpListener::bind("127.0.0.1:7000").unwrap();
///     for stream in listener.incoming() {
///         let mut stream = stream.unwrap();
///         gort::spawn(move || {
///             let mut buf = [0u8; 4096];
///             while let Ok(n @ 1..) = stream.read(&mut buf) {
///                 stream.write_all(&buf[..n]).unwrap();
///             }
///         });
///     }
/// });
/// ```
pub struct TcpListener {
    fd: PollFd,
    inner: std::net::TcpListener,
}

/// A TCP connection (`std::net::TcpStream` whose reads, writes and connect park the
/// goroutine). `Read` and `Write` are implemented for `&TcpStream` too, so one goroutine
/// may read while another writes.
pub struct TcpStream {
    fd: PollFd,
    inner: std::net::TcpStream,
}

/// An iterator over a listener's connections, from [`TcpListener::incoming`].
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl TcpListener {
    /// Binds to `addr` (resolved as blocking work) and listens with the kernel's largest
    /// backlog. On a goroutine the listener is registered with the runtime's poller; on a
    /// plain thread it is an ordinary blocking listener.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let addrs = resolve(addr)?;
        each_addr(&addrs, |a| {
            let fd = sys::listen_tcp(a)?;
            let inner = std::net::TcpListener::from(fd);
            if context::current_sched().is_none() {
                inner.set_nonblocking(false)?;
            }
            TcpListener::from_std(inner)
        })
    }

    /// Waits for a connection. Errors such as `EMFILE` are returned and leave the
    /// listener usable: the connection stays queued until descriptors free up.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, addr) = self.fd.io(Mode::Read, || self.inner.accept())?;
        Ok((TcpStream::from_std(s)?, addr))
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
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        TcpListener::from_std(self.inner.try_clone()?)
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    #[track_caller]
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl TcpStream {
    /// Connects to `addr` (resolved as blocking work), trying each address in turn. On
    /// a goroutine the connect is non-blocking and parks until the socket is writable.
    #[track_caller]
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let site = Location::caller();
        let addrs = resolve(addr)?;
        each_addr(&addrs, |a| connect_one(a, None, site))
    }

    /// Connects to one address, failing with `TimedOut` after `timeout`.
    #[track_caller]
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        connect_one(addr, Some(Instant::now() + timeout), Location::caller())
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Shuts down one or both directions; a goroutine blocked on that direction wakes
    /// and sees end of stream (read) or an error (write).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)?;
        self.fd.shut(how);
        Ok(())
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.set_nodelay(on)
    }

    /// Reads `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// Reads without consuming, waiting for data like `read`.
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, || self.inner.peek(buf))
    }
}

socket_options!(TcpStream);

/// The connect of one address: non-blocking on a goroutine, std's on a plain thread.
/// `site` is the user's call, shown in dumps while the connect waits.
fn connect_one(
    addr: &SocketAddr,
    deadline: Option<Instant>,
    site: &'static Location<'static>,
) -> io::Result<TcpStream> {
    if context::current_sched().is_none() {
        let s = match deadline {
            Some(d) => std::net::TcpStream::connect_timeout(
                addr,
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_nanos(1)),
            )?,
            None => std::net::TcpStream::connect(addr)?,
        };
        return TcpStream::from_std(s);
    }
    let fd = sys::socket_for(addr, libc::SOCK_STREAM)?;
    let stream = TcpStream::from_std(std::net::TcpStream::from(fd))?;
    if sys::start_connect(stream.as_raw_fd(), addr)? {
        return Ok(stream);
    }
    loop {
        stream.fd.wait_at(Mode::Write, deadline, site)?;
        if let Some(e) = stream.inner.take_error()? {
            return Err(e);
        }
        match stream.inner.peer_addr() {
            Ok(_) => return Ok(stream),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {} // spurious wake
            Err(e) => return Err(e),
        }
    }
}

impl Read for &TcpStream {
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

impl Write for &TcpStream {
    #[track_caller]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        super::fd::write_all(self, buf)
    }

    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.fd.io(Mode::Write, || (&self.inner).write(buf))
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.fd
            .io(Mode::Write, || (&self.inner).write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `Read` and `Write` for a stream type through its `&T` impls (which do the work), with
/// `read_exact`/`write_all` keeping the caller's line as the wait site.
macro_rules! stream_by_ref {
    ($t:ident) => {
        impl std::io::Read for $t {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }

            #[track_caller]
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }

            #[track_caller]
            fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
                super::fd::read_exact(self, buf)
            }
        }

        impl std::io::Write for $t {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }

            #[track_caller]
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            #[track_caller]
            fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
                super::fd::write_all(self, buf)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

pub(crate) use stream_by_ref;

/// What every socket type has around its std twin `$std` (fields `fd: PollFd`, `inner`):
/// the conversions to and from std, fd access, and `Debug`.
macro_rules! fd_traits {
    ($t:ident, $std:ty) => {
        impl $t {
            /// Wraps a std socket, registering it with the runtime's poller when called on
            /// a goroutine (on a plain thread it stays an ordinary blocking socket).
            pub fn from_std(inner: $std) -> std::io::Result<$t> {
                let fd = PollFd::new(inner.as_fd())?;
                Ok($t { fd, inner })
            }

            /// Unregisters the socket and returns it in blocking mode.
            pub fn into_std(self) -> std::io::Result<$std> {
                let $t { fd, inner } = self;
                drop(fd);
                inner.set_nonblocking(false)?;
                Ok(inner)
            }
        }

        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.as_raw_fd()
            }
        }

        impl AsFd for $t {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("fd", &self.inner.as_raw_fd())
                    .field("registered", &self.fd.is_registered())
                    .finish()
            }
        }
    };
}
pub(crate) use fd_traits;

fd_traits!(TcpListener, std::net::TcpListener);
stream_by_ref!(TcpStream);
fd_traits!(TcpStream, std::net::TcpStream);
