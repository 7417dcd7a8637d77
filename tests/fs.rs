//! `gort::fs`: round trips through every wrapped call, many goroutines doing file I/O at
//! once, a call that blocks in the kernel until another goroutine on the same single P
//! acts, descriptor exhaustion (`EMFILE`, in a child process), and `gort::blocking`
//! itself: panics, plain threads, no runtime.

use std::any::Any;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use gort::fs::{File, OpenOptions};
use gort::Runtime;

#[path = "support/bounded.rs"]
mod bounded;
use bounded::within;

fn rt(procs: usize) -> Runtime {
    Runtime::builder().procs(procs).build().unwrap()
}

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, SeqCst);
        let p = std::env::temp_dir().join(format!("gort-fs-{}-{tag}-{n}", std::process::id()));
        std::fs::create_dir(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn panic_text(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<not a string>".into())
}

fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = gort::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn wrapped_types_can_move_between_goroutines() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<File>();
    send_sync::<OpenOptions>();
    send_sync::<gort::fs::DirEntry>();
    fn send<T: Send>() {}
    send::<gort::fs::ReadDir>();
}

/// write / read / read_to_string / append / seek / metadata / set_len / sync / clone /
/// std conversions, and std's errors for the failing cases.
#[test]
fn file_round_trips_on_a_goroutine() {
    let dir = TempDir::new("file");
    let d = dir.path().to_owned();
    within(Duration::from_secs(30), move || {
        let rt = rt(2);
        rt.block_on(move || {
            let a = d.join("a.txt");
            gort::fs::write(&a, "hello").unwrap();
            assert_eq!(gort::fs::read(&a).unwrap(), b"hello");
            assert_eq!(gort::fs::read_to_string(&a).unwrap(), "hello");
            assert!(gort::fs::exists(&a).unwrap());
            assert!(gort::fs::try_exists(&a).unwrap());
            assert!(!gort::fs::exists(d.join("missing")).unwrap());

            // Append through OpenOptions, with both `Write for File` and `Write for &File`.
            let mut f = OpenOptions::new().append(true).open(&a).unwrap();
            f.write_all(b", world").unwrap();
            (&f).write_all(b"!").unwrap();
            write!(f, " {}", 42).unwrap();
            f.flush().unwrap();
            drop(f);
            assert_eq!(gort::fs::read_to_string(&a).unwrap(), "hello, world! 42");

            // Seek and partial reads; `try_clone` shares the cursor.
            let mut f = File::open(&a).unwrap();
            assert_eq!(f.seek(SeekFrom::Start(7)).unwrap(), 7);
            let mut five = [0u8; 5];
            f.read_exact(&mut five).unwrap();
            assert_eq!(&five, b"world");
            let mut g = f.try_clone().unwrap();
            assert_eq!(g.stream_position().unwrap(), 12);
            let mut rest = String::new();
            (&g).read_to_string(&mut rest).unwrap();
            assert_eq!(rest, "! 42");
            assert_eq!(f.seek(SeekFrom::Current(-2)).unwrap(), 14);
            assert_eq!(f.seek(SeekFrom::Current(2)).unwrap(), 16);
            assert_eq!(f.seek(SeekFrom::End(-2)).unwrap(), 14);
            let mut all = Vec::new();
            f.rewind().unwrap();
            assert_eq!(f.read_to_end(&mut all).unwrap(), 16);
            assert_eq!(all, b"hello, world! 42");
            let mut buf = [0u8; 4];
            assert_eq!(f.read(&mut buf).unwrap(), 0, "at the end");
            g.rewind().unwrap();
            let (mut b1, mut b2) = ([0u8; 2], [0u8; 3]);
            let n = g
                .read_vectored(&mut [io::IoSliceMut::new(&mut b1), io::IoSliceMut::new(&mut b2)])
                .unwrap();
            assert_eq!((n, &b1, &b2), (5, b"he", b"llo"));

            // Metadata from the file and from the path agree.
            let m = f.metadata().unwrap();
            assert!(m.is_file());
            assert_eq!(m.len(), 16);
            assert_eq!(gort::fs::metadata(&a).unwrap().len(), 16);
            drop((f, g));

            // A read-write file: create, vectored write, set_len, sync.
            let b = d.join("b.bin");
            let mut f = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&b)
                .unwrap();
            let n = f
                .write_vectored(&[io::IoSlice::new(b"abc"), io::IoSlice::new(b"def")])
                .unwrap();
            assert_eq!(n, 6);
            f.set_len(4).unwrap();
            f.sync_all().unwrap();
            f.sync_data().unwrap();
            f.rewind().unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            assert_eq!(s, "abcd");
            f.set_len(8).unwrap();
            assert_eq!(gort::fs::read(&b).unwrap(), b"abcd\0\0\0\0");

            // std conversions keep the open file (and its cursor).
            let mut std_file: std::fs::File = f.into();
            assert_eq!(std_file.stream_position().unwrap(), 4);
            let mut f = File::from_std(std_file);
            f.write_all(b"XY").unwrap();
            let std_file = f.into_std();
            let f = File::from(std_file);
            assert_eq!(f.as_std().metadata().unwrap().len(), 8);
            drop(f);
            assert_eq!(gort::fs::read(&b).unwrap(), b"abcdXY\0\0");

            // File::create truncates; create_new refuses an existing file.
            File::create(&b).unwrap().write_all(b"z").unwrap();
            assert_eq!(gort::fs::read(&b).unwrap(), b"z");
            let e = File::create_new(&b).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
            let mut c = File::create_new(d.join("c")).unwrap();
            c.write_all(b"new").unwrap();

            // Errors are std's.
            let e = gort::fs::read(d.join("missing")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
            let e = File::open(d.join("missing")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
            let e = gort::fs::read_to_string(d.join("missing")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
            gort::fs::write(d.join("bad-utf8"), [0xff, 0xfe]).unwrap();
            let e = gort::fs::read_to_string(d.join("bad-utf8")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        });
        assert_eq!(rt.metrics().in_blocking, 0);
    });
    drop(dir);
}

/// create_dir(_all) / read_dir (more entries than one `getdents` batch) / DirEntry /
/// rename / copy / hard_link / read_link / symlink_metadata / canonicalize /
/// set_permissions / remove_*.
#[test]
fn directory_round_trips_on_a_goroutine() {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempDir::new("dir");
    let d = dir.path().to_owned();
    within(Duration::from_secs(30), move || {
        rt(2).block_on(move || {
            let deep = d.join("x").join("y").join("z");
            gort::fs::create_dir_all(&deep).unwrap();
            gort::fs::create_dir_all(&deep).unwrap(); // idempotent
            let e = gort::fs::create_dir(&deep).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
            assert!(gort::fs::metadata(&deep).unwrap().is_dir());

            // 1,500 entries with long names: several batches of the std iterator.
            let many = d.join("many");
            gort::fs::create_dir(&many).unwrap();
            let mut want: Vec<String> = (0..1500)
                .map(|i| format!("entry-{i:05}-{}", "n".repeat(40)))
                .collect();
            for n in &want {
                gort::fs::write(many.join(n), n).unwrap();
            }
            want.sort();
            assert_eq!(sorted_names(&many), want);
            for e in gort::fs::read_dir(&many).unwrap().take(20) {
                let e = e.unwrap();
                assert!(e.file_type().unwrap().is_file());
                let name = e.file_name().into_string().unwrap();
                assert_eq!(e.metadata().unwrap().len(), name.len() as u64);
                assert_eq!(e.path(), many.join(&name));
                assert_eq!(e.into_std().file_name().into_string().unwrap(), name);
            }
            let mut std_iter = gort::fs::read_dir(&many).unwrap().into_std();
            assert!(std_iter.next().is_some());
            let e = gort::fs::read_dir(d.join("missing")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);

            // rename, copy, links.
            let a = d.join("a");
            gort::fs::write(&a, "contents").unwrap();
            gort::fs::rename(&a, d.join("b")).unwrap();
            assert!(!gort::fs::exists(&a).unwrap());
            assert_eq!(gort::fs::copy(d.join("b"), d.join("c")).unwrap(), 8);
            assert_eq!(gort::fs::read_to_string(d.join("c")).unwrap(), "contents");
            gort::fs::hard_link(d.join("c"), d.join("c2")).unwrap();
            assert_eq!(gort::fs::read(d.join("c2")).unwrap(), b"contents");
            std::os::unix::fs::symlink("b", d.join("link")).unwrap();
            assert_eq!(gort::fs::read_link(d.join("link")).unwrap(), Path::new("b"));
            assert!(gort::fs::symlink_metadata(d.join("link"))
                .unwrap()
                .file_type()
                .is_symlink());
            assert!(gort::fs::metadata(d.join("link")).unwrap().is_file());
            assert_eq!(
                gort::fs::canonicalize(d.join("link")).unwrap(),
                std::fs::canonicalize(d.join("b")).unwrap()
            );
            let e = gort::fs::rename(d.join("missing"), d.join("elsewhere")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);

            // Permissions, by path and by handle.
            gort::fs::set_permissions(d.join("b"), std::fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(
                gort::fs::metadata(d.join("b"))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o600
            );
            let f = File::open(d.join("b")).unwrap();
            f.set_permissions(std::fs::Permissions::from_mode(0o640))
                .unwrap();
            assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o640);
            let t = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
            f.set_modified(t).unwrap();
            assert_eq!(f.metadata().unwrap().modified().unwrap(), t);
            drop(f);
            let p = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o604)
                .open(d.join("moded"))
                .unwrap();
            assert_eq!(p.metadata().unwrap().permissions().mode() & 0o007, 0o004);

            // Removal.
            gort::fs::remove_file(d.join("c2")).unwrap();
            let e = gort::fs::remove_file(d.join("c2")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
            assert!(gort::fs::remove_dir(d.join("x")).is_err(), "not empty");
            gort::fs::remove_dir(&deep).unwrap();
            gort::fs::remove_dir_all(d.join("x")).unwrap();
            gort::fs::remove_dir_all(&many).unwrap();
            assert_eq!(
                sorted_names(&d),
                ["b", "c", "link", "moded"].map(String::from)
            );
        });
    });
    drop(dir);
}

/// 200 goroutines each write, append, reread, seek, rename, list and remove their own
/// files and read one shared file, on 1, 2 and 4 Ps; every result is checked.
#[test]
fn two_hundred_goroutines_do_file_io_at_once() {
    const N: usize = 200;
    for procs in [1, 2, 4] {
        let dir = TempDir::new("many");
        let d = dir.path().to_owned();
        let shared: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(d.join("shared"), &shared).unwrap();
        let total = within(Duration::from_secs(60), move || {
            let rt = rt(procs);
            let total = rt.block_on(move || {
                let shared = Arc::new(shared);
                let hs: Vec<_> = (0..N)
                    .map(|i| {
                        let (d, shared) = (d.clone(), shared.clone());
                        gort::spawn(move || one_goroutines_files(&d, i, &shared))
                    })
                    .collect();
                let mut total = 0;
                for (i, h) in hs.into_iter().enumerate() {
                    match h.join() {
                        Ok(n) => total += n,
                        Err(p) => panic!("goroutine {i} (procs {procs}): {}", panic_text(&*p)),
                    }
                }
                assert_eq!(sorted_names(&d), ["shared"], "everything else removed");
                total
            });
            assert_eq!(rt.metrics().in_blocking, 0);
            total
        });
        let want: usize = (0..N).map(|i| size_of(i) + format!("tail-{i}").len()).sum();
        assert_eq!(total, want, "procs {procs}");
        drop(dir);
    }
}

fn size_of(i: usize) -> usize {
    1 + (i * 977) % 70_000
}

/// One goroutine's part of `two_hundred_goroutines_do_file_io_at_once`; returns the
/// size of its file.
fn one_goroutines_files(d: &Path, i: usize, shared: &[u8]) -> usize {
    let mine = d.join(format!("g{i}"));
    gort::fs::create_dir(&mine).unwrap();
    let a = mine.join("a");
    let content: Vec<u8> = (0..size_of(i)).map(|k| (i * 31 + k) as u8).collect();
    gort::fs::write(&a, &content).unwrap();
    gort::yield_now();
    let tail = format!("tail-{i}");
    OpenOptions::new()
        .append(true)
        .open(&a)
        .unwrap()
        .write_all(tail.as_bytes())
        .unwrap();
    let back = gort::fs::read(&a).unwrap();
    assert_eq!(back.len(), content.len() + tail.len());
    assert!(back.starts_with(&content), "goroutine {i}: contents differ");
    assert!(back.ends_with(tail.as_bytes()));
    let mut f = File::open(&a).unwrap();
    f.seek(SeekFrom::Start(content.len() as u64)).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, tail);
    drop(f);
    assert_eq!(gort::fs::read(d.join("shared")).unwrap(), shared);
    let b = mine.join("b");
    gort::fs::rename(&a, &b).unwrap();
    assert!(!gort::fs::exists(&a).unwrap());
    assert_eq!(sorted_names(&mine), ["b"]);
    let len = gort::fs::metadata(&b).unwrap().len() as usize;
    gort::fs::remove_file(&b).unwrap();
    gort::fs::remove_dir(&mine).unwrap();
    len
}

/// Opening a FIFO blocks in the kernel until the other end is opened. On one P, the
/// goroutine opening the write end can only run if the reader's P is handed off: with
/// `std::fs` this program would hang, with `gort::fs` it completes.
#[test]
fn a_call_blocked_in_the_kernel_lets_another_goroutine_on_the_only_p_run() {
    use std::os::unix::ffi::OsStrExt;

    let dir = TempDir::new("fifo");
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (got, handoffs) = within(Duration::from_secs(30), move || {
        let rt = rt(1);
        let got = rt.block_on(move || {
            let f2 = fifo.clone();
            let reader = gort::spawn(move || {
                let mut s = String::new();
                File::open(&f2).unwrap().read_to_string(&mut s).unwrap();
                s
            });
            // Let the reader run first, so that it blocks holding the only P.
            gort::yield_now();
            let mut w = OpenOptions::new().write(true).open(&fifo).unwrap();
            w.write_all(b"through the fifo").unwrap();
            drop(w);
            reader.join().unwrap()
        });
        (got, rt.metrics().syscall_handoffs)
    });
    assert_eq!(got, "through the fifo");
    assert!(handoffs >= 1, "the only P was handed off at least once");
    drop(dir);
}

const EMFILE_TEST: &str = "running_out_of_descriptors_is_an_error_and_recoverable";
/// The soft descriptor limit in the child.
const NOFILE: u64 = 64;

/// Runs one test of this binary in a child process (for process-wide settings), with a
/// time limit; returns its combined output.
fn run_child(test: &str, secs: u64) -> String {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("GORT_TEST_CHILD", test)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid (not yet reaped: its waiter is stuck).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("child {test} did not finish within {secs} s");
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child {test} failed:\n{text}");
    text
}

fn set_soft_nofile(n: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one rlimit struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur = n.min(r.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
    }
}

fn assert_emfile<T: std::fmt::Debug>(what: &str, r: io::Result<T>) {
    match r {
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{what}: {e}"),
        Ok(v) => panic!("{what} succeeded without free descriptors: {v:?}"),
    }
}

/// With the descriptor limit reached, every call that needs a descriptor returns
/// `EMFILE` (from one goroutine or fifty at once), nothing panics, and all works again
/// once descriptors are freed.
#[test]
fn running_out_of_descriptors_is_an_error_and_recoverable() {
    if std::env::var("GORT_TEST_CHILD").as_deref() == Ok(EMFILE_TEST) {
        return emfile_child();
    }
    let out = run_child(EMFILE_TEST, 60);
    assert!(out.contains("emfile child done"), "{out}");
}

fn emfile_child() {
    let dir = TempDir::new("emfile");
    let d = dir.path().to_owned();
    let path = d.join("f");
    std::fs::write(&path, b"x").unwrap();
    let rt = rt(2);
    rt.block_on(move || {
        set_soft_nofile(NOFILE);
        let mut held = Vec::new();
        let err = loop {
            match File::open(&path) {
                Ok(f) => held.push(f),
                Err(e) => break e,
            }
            assert!(held.len() as u64 <= NOFILE, "opened past the limit");
        };
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        assert!(held.len() >= 2, "only {} descriptors were free", held.len());
        assert_emfile("read", gort::fs::read(&path));
        assert_emfile("read_to_string", gort::fs::read_to_string(&path));
        assert_emfile("write", gort::fs::write(d.join("new"), "y"));
        assert_emfile("read_dir", gort::fs::read_dir(&d));
        assert_emfile("copy", gort::fs::copy(&path, d.join("copy")));
        assert_emfile("try_clone", held[0].try_clone());
        assert_emfile("create", File::create(d.join("new")));
        assert_emfile("open", OpenOptions::new().read(true).open(&path));
        // Calls that need no descriptor still work.
        assert_eq!(gort::fs::metadata(&path).unwrap().len(), 1);
        let mut b = Vec::new();
        (&held[1]).read_to_end(&mut b).unwrap();
        assert_eq!(b, b"x");

        let errors: Vec<_> = (0..50)
            .map(|_| {
                let p = path.clone();
                gort::spawn(move || gort::fs::read(p).map_err(|e| e.raw_os_error()))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert!(
            errors.iter().all(|r| *r == Err(Some(libc::EMFILE))),
            "{errors:?}"
        );

        drop(held);
        assert_eq!(gort::fs::read(&path).unwrap(), b"x");
        let oks = (0..50)
            .map(|i| {
                let d = d.clone();
                gort::spawn(move || {
                    let p = d.join(format!("after-{i}"));
                    gort::fs::write(&p, i.to_string()).unwrap();
                    gort::fs::read_to_string(&p).unwrap() == i.to_string()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&ok| ok)
            .count();
        assert_eq!(oks, 50);
    });
    drop(dir);
    println!("emfile child done");
}

/// A panic inside `blocking`, immediate (fast path) or after the P was handed away
/// (slow path), reaches `join` as `Err`; afterwards the runtime runs blocking work as
/// before and no goroutine is left counted as blocked.
#[test]
fn a_panic_inside_blocking_reaches_join_and_the_runtime_keeps_working() {
    let dir = TempDir::new("panic");
    let file = dir.path().join("f");
    std::fs::write(&file, b"data").unwrap();
    within(Duration::from_secs(60), move || {
        for procs in [1, 2] {
            let rt = rt(procs);
            let file = file.clone();
            rt.block_on(move || {
                let h = gort::spawn(|| gort::blocking(|| -> u32 { panic!("fast path panic") }));
                assert_eq!(panic_text(&*h.join().unwrap_err()), "fast path panic");

                // The call blocks until this goroutine runs again: on one P, that takes a
                // handoff, so the panicking goroutine comes back without its P.
                let (tx, rx) = mpsc::channel::<()>();
                let entered = Arc::new(AtomicBool::new(false));
                let en = entered.clone();
                let h = gort::spawn(move || {
                    gort::blocking(move || -> u32 {
                        en.store(true, SeqCst);
                        rx.recv_timeout(Duration::from_secs(20))
                            .expect("released by the spawner");
                        panic!("slow path panic")
                    })
                });
                while !entered.load(SeqCst) {
                    gort::yield_now();
                }
                tx.send(()).unwrap();
                assert_eq!(panic_text(&*h.join().unwrap_err()), "slow path panic");

                // A panic out of a gort::fs call made inside `blocking` as well.
                let f2 = file.clone();
                let h = gort::spawn(move || {
                    gort::blocking(|| {
                        let v = gort::fs::read(&f2).unwrap();
                        assert_eq!(v, b"nope", "an assertion failing in blocking");
                    })
                });
                assert!(panic_text(&*h.join().unwrap_err()).contains("an assertion failing"));

                let hs: Vec<_> = (0..100)
                    .map(|i| {
                        let f = file.clone();
                        gort::spawn(move || {
                            let v = gort::fs::read(&f).unwrap();
                            gort::yield_now();
                            gort::blocking(|| i * 2) + v.len()
                        })
                    })
                    .collect();
                for (i, h) in hs.into_iter().enumerate() {
                    assert_eq!(h.join().unwrap(), i * 2 + 4);
                }
            });
            let m = rt.metrics();
            assert_eq!(m.in_blocking, 0, "procs {procs}");
            if procs == 1 {
                assert!(m.syscall_handoffs >= 1, "the slow path was taken");
            }
        }
    });
    drop(dir);
}

/// Outside any runtime and on a plain thread next to a running one, `blocking` and
/// `gort::fs` are plain calls: they run, return, and propagate panics.
#[test]
fn blocking_and_fs_outside_a_runtime_and_on_plain_threads_are_plain_calls() {
    let dir = TempDir::new("plain");
    let d = dir.path().to_owned();
    within(Duration::from_secs(30), move || {
        assert_eq!(gort::blocking(|| 6 * 7), 42);
        let p = catch_unwind(|| gort::blocking(|| -> () { panic!("outside") })).unwrap_err();
        assert_eq!(panic_text(&*p), "outside");
        let f = d.join("outside");
        gort::fs::write(&f, "plain").unwrap();
        let mut file = OpenOptions::new().append(true).open(&f).unwrap();
        file.write_all(b" std").unwrap();
        drop(file);
        assert_eq!(gort::fs::read_to_string(&f).unwrap(), "plain std");
        assert_eq!(sorted_names(&d), ["outside"]);

        let rt = rt(2);
        let f2 = f.clone();
        let (n, nested) = rt.block_on(move || {
            // A plain thread started while goroutines run; its blocking call waits for a
            // goroutine.
            let (tx, rx) = mpsc::channel::<usize>();
            let f3 = f2.clone();
            let t = std::thread::spawn(move || {
                let v = gort::blocking(|| rx.recv_timeout(Duration::from_secs(20)).unwrap());
                v + gort::fs::read(&f3).unwrap().len()
            });
            gort::spawn(move || tx.send(100).unwrap()).join().unwrap();
            // Joining a thread blocks this one: that is blocking work too.
            let n = gort::blocking(|| t.join().unwrap());
            // Nested: the inner call just runs.
            let nested = gort::blocking(|| gort::blocking(|| gort::fs::read(&f2).unwrap().len()));
            (n, nested)
        });
        assert_eq!((n, nested), (109, 9));
        assert_eq!(rt.metrics().in_blocking, 0);
    });
    drop(dir);
}
