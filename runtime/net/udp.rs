//! `UdpSocket`: `std::net::UdpSocket` with goroutine-parking sends and receives.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use gort_netpoll::Mode;

use super::fd::{socket_options, PollFd};
use super::tcp::fd_traits;
use super::{each_addr, resolve};

/// A UDP socket whose receives (and sends, when the buffer is full) park the goroutine.
pub struct UdpSocket {
    fd: PollFd,
    inner: std::net::UdpSocket,
}

impl UdpSocket {
    /// Binds to `addr` (resolved as blocking work).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let addrs = resolve(addr)?;
        each_addr(&addrs, |a| {
            UdpSocket::from_std(std::net::UdpSocket::bind(a)?)
        })
    }

    /// Sets the default peer for `send` and `recv` and filters other senders out.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addrs = resolve(addr)?;
        each_addr(&addrs, |a| self.inner.connect(a))
    }

    /// Receives one datagram, waiting for it; returns its length and sender.
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.io(Mode::Read, || self.inner.recv_from(buf))
    }

    /// Like `recv_from` without consuming the datagram.
    #[track_caller]
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.io(Mode::Read, || self.inner.peek_from(buf))
    }

    /// Receives one datagram from the connected peer.
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, || self.inner.recv(buf))
    }

    /// Like `recv` without consuming the datagram.
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, || self.inner.peek(buf))
    }

    /// Sends one datagram to `addr` (resolved as blocking work; the first address).
    #[track_caller]
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let to = *resolve(addr)?.first().ok_or_else(super::no_addresses)?;
        self.fd.io(Mode::Write, || self.inner.send_to(buf, to))
    }

    /// Sends one datagram to the connected peer.
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.io(Mode::Write, || self.inner.send(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_broadcast(on)
    }

    /// Reads `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.broadcast()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }
}

socket_options!(UdpSocket);

fd_traits!(UdpSocket, std::net::UdpSocket);
