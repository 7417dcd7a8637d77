//! `gort::net`: sockets that park goroutines, driven through the epoll netpoller.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use gort::Runtime;

fn rt(procs: usize) -> Runtime {
    Runtime::builder().procs(procs).build().unwrap()
}

/// Spawns an echo server goroutine; returns its address.
fn echo_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    gort::spawn(move || {
        for s in l.incoming() {
            let mut s = s.unwrap();
            gort::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn echo_round_trips_with_1000_concurrent_clients() {
    let (done, rounds) = rt(2).block_on(|| {
        let addr = echo_server();
        let hs: Vec<_> = (0..1000)
            .map(|i| {
                gort::spawn(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    for j in 0..20 {
                        let msg = format!("client {i} message {j};");
                        c.write_all(msg.as_bytes()).unwrap();
                        let mut back = vec![0u8; msg.len()];
                        c.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                    20
                })
            })
            .collect();
        let n = hs.len();
        (n, hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>())
    });
    assert_eq!(done, 1000);
    assert_eq!(rounds, 20_000);
}

#[test]
fn read_and_write_from_two_goroutines_on_one_stream() {
    rt(2).block_on(|| {
        let addr = echo_server();
        let c = Arc::new(TcpStream::connect(addr).unwrap());
        let reader = {
            let c = c.clone();
            gort::spawn(move || {
                let mut total = Vec::new();
                let mut buf = [0u8; 1000];
                while total.len() < 1_000_000 {
                    let n = (&*c).read(&mut buf).unwrap();
                    assert!(n > 0);
                    total.extend_from_slice(&buf[..n]);
                }
                total
            })
        };
        // Large enough that the writer blocks on a full socket buffer while the reader
        // blocks on an empty one, on the same stream.
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        (&*c).write_all(&data).unwrap();
        assert_eq!(reader.join().unwrap(), data);
    });
}

#[test]
fn read_timeout_wakes_with_timed_out_and_the_stream_stays_usable() {
    rt(1).block_on(|| {
        let addr = echo_server();
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(50)));
        let t = Instant::now();
        let err = c.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(t.elapsed() >= Duration::from_millis(50));
        c.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
        assert_eq!(
            c.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    });
}

#[test]
fn write_timeout_fires_when_the_peer_does_not_read() {
    rt(1).block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = gort::spawn(move || l.accept().unwrap().0); // accepts, never reads
        let mut c = TcpStream::connect(addr).unwrap();
        let _peer = server.join().unwrap();
        c.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let chunk = vec![7u8; 1 << 16];
        let mut written = 0usize;
        let err = loop {
            match c.write(&chunk) {
                Ok(n) => written += n,
                Err(e) => break e,
            }
            assert!(written < 1 << 30, "the socket buffers never filled");
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(written > 0);
    });
}

#[test]
fn shutdown_wakes_a_blocked_reader() {
    rt(2).block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = gort::spawn(move || l.accept().unwrap().0);
        let c = Arc::new(TcpStream::connect(addr).unwrap());
        let _peer = server.join().unwrap();
        let reader = {
            let c = c.clone();
            gort::spawn(move || (&*c).read(&mut [0u8; 16]))
        };
        // Wait (bounded) until the reader is parked on the socket.
        let t = Instant::now();
        while gort::metrics().io_waiters == 0 {
            assert!(t.elapsed() < Duration::from_secs(10), "reader never parked");
            gort::yield_now();
        }
        c.shutdown(Shutdown::Read).unwrap();
        assert_eq!(
            reader.join().unwrap().unwrap(),
            0,
            "end of stream after shutdown"
        );
    });
}

#[test]
fn peer_reset_fails_only_that_connection_and_writes_to_a_closed_peer_are_broken_pipe() {
    rt(2).block_on(|| {
        let addr = echo_server();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr2 = l.local_addr().unwrap();
        let server = gort::spawn(move || l.accept().unwrap().0);
        let mut victim = TcpStream::connect(addr2).unwrap();
        let peer = server.join().unwrap();
        // SO_LINGER 0 then close: the peer sends RST.
        let std_peer = peer.into_std().unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt reads one linger struct from a live local.
        let r = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&std_peer),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        drop(std_peer);
        let err = victim.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);

        // A clean close, then writes: the first may land in the buffer, a later one fails
        // with BrokenPipe (EPIPE), never a SIGPIPE.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr3 = l.local_addr().unwrap();
        let server = gort::spawn(move || drop(l.accept().unwrap()));
        let mut w = TcpStream::connect(addr3).unwrap();
        server.join().unwrap();
        let err = loop {
            if let Err(e) = w.write(b"data") {
                break e;
            }
            gort::time::sleep(Duration::from_millis(1));
        };
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );

        // The other connection is unaffected.
        let mut ok = TcpStream::connect(addr).unwrap();
        ok.write_all(b"still fine").unwrap();
        let mut b = [0u8; 10];
        ok.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"still fine");
    });
}

#[test]
fn connect_errors_and_connect_timeout() {
    rt(1).block_on(|| {
        // A port nobody listens on: bind, note the port, close.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let addr = echo_server();
        let c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        assert_eq!(c.peer_addr().unwrap(), addr);
        assert_eq!(
            TcpStream::connect_timeout(&addr, Duration::ZERO)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
    });
}

#[test]
fn read_write_libraries_work_unchanged() {
    rt(2).block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        gort::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut w = io::BufWriter::new(&s);
            for line in BufReader::new(&s).lines() {
                let line = line.unwrap();
                writeln!(w, "{}", line.len()).unwrap();
                w.flush().unwrap();
            }
        });
        let c = TcpStream::connect(addr).unwrap();
        let mut r = BufReader::new(&c);
        for word in ["a", "bb", "cccc"] {
            writeln!(&c, "{word}").unwrap();
            let mut reply = String::new();
            r.read_line(&mut reply).unwrap();
            assert_eq!(reply.trim(), word.len().to_string());
        }
    });
}

#[test]
fn udp_round_trips() {
    rt(2).block_on(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let h = gort::spawn(move || {
            let mut buf = [0u8; 64];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for i in 0..100u32 {
            c.send(&i.to_le_bytes()).unwrap();
            let mut b = [0u8; 4];
            assert_eq!(c.recv(&mut b).unwrap(), 4);
            assert_eq!(u32::from_le_bytes(b), i);
        }
        h.join().unwrap();
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        assert_eq!(
            c.recv(&mut [0u8; 4]).unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
    });
}

#[test]
fn unix_sockets_round_trip() {
    let dir = std::env::temp_dir().join(format!("gort-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let _ = std::fs::remove_file(&path);
    let p = path.clone();
    rt(2).block_on(move || {
        let l = UnixListener::bind(&p).unwrap();
        gort::spawn(move || {
            for s in l.incoming().take(10) {
                let mut s = s.unwrap();
                gort::spawn(move || {
                    let mut buf = [0u8; 256];
                    let n = s.read(&mut buf).unwrap();
                    s.write_all(&buf[..n]).unwrap();
                });
            }
        });
        let hs: Vec<_> = (0..10)
            .map(|i| {
                let p = p.clone();
                gort::spawn(move || {
                    let mut c = UnixStream::connect(&p).unwrap();
                    let msg = format!("unix {i}");
                    c.write_all(msg.as_bytes()).unwrap();
                    let mut back = vec![0u8; msg.len()];
                    c.read_exact(&mut back).unwrap();
                    back == msg.as_bytes()
                })
            })
            .collect();
        assert!(hs.into_iter().all(|h| h.join().unwrap()));
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let err = loop {
            if let Err(e) = (&a).write(b"x") {
                break e;
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sockets_on_plain_threads_are_ordinary_blocking_sockets() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 5];
        s.read_exact(&mut b).unwrap();
        s.write_all(&b).unwrap();
    });
    let mut c = TcpStream::connect(addr).unwrap();
    assert!(format!("{c:?}").contains("registered: false"));
    c.write_all(b"hello").unwrap();
    let mut b = [0u8; 5];
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"hello");
    t.join().unwrap();
    c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let err = c.read(&mut b);
    assert!(matches!(err, Ok(0)) || err.unwrap_err().kind() == io::ErrorKind::TimedOut);
}

#[test]
fn a_socket_made_on_a_goroutine_works_from_a_plain_thread() {
    let rt = rt(1);
    let (l, c) = rt.block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        assert!(format!("{c:?}").contains("registered: true"));
        (l, c)
    });
    let (mut s, _) = l.accept().unwrap();
    let t = std::thread::spawn(move || {
        let mut c = c;
        let mut b = [0u8; 3];
        c.read_exact(&mut b).unwrap();
        b
    });
    s.write_all(b"abc").unwrap();
    assert_eq!(&t.join().unwrap(), b"abc");
}

#[test]
fn io_waiters_are_not_a_deadlock_and_show_in_dumps() {
    let rt = rt(1);
    let r = rt.try_block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = gort::GoroutineBuilder::new()
            .name("acceptor")
            .spawn(move || l.accept().map(|(s, _)| s.peer_addr().unwrap()))
            .unwrap();
        let t = Instant::now();
        while !gort::dump().contains("IO wait (read)") {
            assert!(t.elapsed() < Duration::from_secs(10));
            gort::yield_now();
        }
        assert!(gort::dump().contains("\"acceptor\" [IO wait (read), "));
        // Only the acceptor and this goroutine (sleeping) are left: not a deadlock.
        gort::time::sleep(Duration::from_millis(20));
        let c = TcpStream::connect(addr).unwrap();
        assert_eq!(h.join().unwrap().unwrap(), c.local_addr().unwrap());
    });
    r.unwrap();
}

#[test]
fn read_exact_and_write_all_report_the_callers_line_as_wait_site() {
    let rt = rt(1);
    rt.block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let reader = gort::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).map(|()| buf) // the wait site
        });
        let line = line!() - 2; // the `read_exact` line
        let mut c = TcpStream::connect(addr).unwrap();
        let t = Instant::now();
        let site = format!("IO wait (read) at {}:{line}:", file!());
        let dump = loop {
            let d = gort::dump();
            if d.contains("[IO wait (read), ") && !d.contains("accept") {
                break d;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "{d}");
            gort::yield_now();
        };
        assert!(dump.contains(&site), "want `{site}` in\n{dump}");
        c.write_all(b"ping").unwrap();
        assert_eq!(&reader.join().unwrap().unwrap(), b"ping");
    });
}

#[test]
fn stale_events_after_close_and_reuse_do_not_confuse_new_sockets() {
    // fds are closed and reused in a loop while other connections stay busy: a stale
    // event for an old fd must never wake or fail a new socket.
    let ok = rt(2).block_on(|| {
        let addr = echo_server();
        let busy: Vec<_> = (0..4)
            .map(|_| {
                gort::spawn(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    for i in 0..2000u32 {
                        c.write_all(&i.to_le_bytes()).unwrap();
                        let mut b = [0u8; 4];
                        c.read_exact(&mut b).unwrap();
                        assert_eq!(u32::from_le_bytes(b), i);
                    }
                })
            })
            .collect();
        let churn = AtomicUsize::new(0);
        for i in 0..2000u32 {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(&i.to_le_bytes()).unwrap();
            let mut b = [0u8; 4];
            c.read_exact(&mut b).unwrap();
            assert_eq!(u32::from_le_bytes(b), i);
            churn.fetch_add(1, SeqCst);
        }
        for h in busy {
            h.join().unwrap();
        }
        churn.load(SeqCst)
    });
    assert_eq!(ok, 2000);
}

#[test]
fn try_clone_and_std_conversions() {
    rt(2).block_on(|| {
        let addr = echo_server();
        let c = TcpStream::connect(addr).unwrap();
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        let mut c2 = c.try_clone().unwrap();
        (&c).write_all(b"xy").unwrap();
        let mut b = [0u8; 2];
        c2.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"xy");
        let s = c.into_std().unwrap();
        let back = TcpStream::from_std(s).unwrap();
        (&back).write_all(b"z").unwrap();
        let mut b = [0u8; 1];
        c2.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"z");
    });
}

#[test]
fn goroutines_woken_by_the_poller_are_never_taken_for_a_deadlock() {
    // Clients on plain threads: every wake of the server goroutines comes from the
    // netpoller (poll M, find_runnable or sysmon), while idle Ms keep running the
    // deadlock check. A woken goroutine in flight to a queue must not look dead.
    let rt = rt(2);
    let r = rt.try_block_on(move || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let clients = std::thread::spawn(move || {
            let ts: Vec<_> = (0..8)
                .map(|_| {
                    std::thread::spawn(move || {
                        let mut c = std::net::TcpStream::connect(addr).unwrap();
                        for i in 0..300u32 {
                            c.write_all(&i.to_le_bytes()).unwrap();
                            let mut b = [0u8; 4];
                            c.read_exact(&mut b).unwrap();
                            assert_eq!(u32::from_le_bytes(b), i);
                        }
                    })
                })
                .collect();
            for t in ts {
                t.join().unwrap();
            }
        });
        let conns: Vec<_> = (0..8)
            .map(|_| {
                let (mut s, _) = l.accept().unwrap();
                gort::spawn(move || {
                    let mut b = [0u8; 4];
                    while s.read_exact(&mut b).is_ok() {
                        s.write_all(&b).unwrap();
                    }
                })
            })
            .collect();
        for c in conns {
            c.join().unwrap();
        }
        gort::blocking(|| clients.join().unwrap());
    });
    assert!(r.is_ok(), "{:?}", r.err());
}
