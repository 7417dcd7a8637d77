//! Turning a goroutine stack overflow into a message that names the goroutine.
//!
//! std's SIGSEGV handler recognises only the *thread's* guard page; a fault on a
//! coroutine's guard page would end as a bare "Segmentation fault". So, once per process,
//! gort installs its own `SA_ONSTACK` handler for SIGSEGV and SIGBUS:
//!
//! - every M runs with an alternate signal stack (std gives its threads one; otherwise
//!   [`ThreadAltStack`] maps one), because the handler cannot run on the stack that just
//!   overflowed;
//! - the M records the goroutine it runs (`context::current_g`, a const-initialised
//!   thread-local without destructor, so safe to read in a signal handler), and the G
//!   holds its stack range and identity;
//! - the handler checks whether the fault address, or the stack pointer at the fault, is
//!   on or just below that goroutine's guard page, or (canary stacks) whether the
//!   goroutine's red zone has been written. If so it formats the message into a buffer on
//!   its own stack (no allocation), writes it to stderr and aborts. If not, it chains to
//!   the previous handler (std's, which still reports a plain thread's overflow, or a
//!   sanitizer's), or restores the default action and returns so the fault repeats and
//!   kills the process as it would have.
//!
//! Canary stacks (no guard page) are checked by the M after every switch instead; a
//! damaged red zone ends in the same message ([`canary_overflow`]). An overflow that
//! never reaches a switch runs on into the memory below until it faults (at the guard
//! of a lower stack or the one under the slab's first stack, see `stack.rs`); the
//! red-zone check in the handler attributes that fault to the goroutine.

use std::cell::UnsafeCell;
use std::sync::Once;

use crate::context;
use crate::g::GInfo;

/// How far below the guard page a fault still counts as this goroutine's overflow: a
/// frame larger than a page can skip the guard in code built without stack probes.
const BELOW_GUARD: usize = 64 * 1024;
/// Alternate signal stack size when the thread has none.
const ALT_STACK: usize = 64 * 1024;

struct OldActions(UnsafeCell<[libc::sigaction; 2]>);
// SAFETY: written once inside `INSTALL.call_once`, before our handler is installed (the
// sigaction syscall orders the write before any invocation of the handler), and only
// read afterwards.
unsafe impl Sync for OldActions {}

static INSTALL: Once = Once::new();
// SAFETY: an all-zero sigaction is a valid value (SIG_DFL, empty mask, no flags).
static OLD: OldActions = OldActions(UnsafeCell::new(unsafe { std::mem::zeroed() }));

/// Installs the SIGSEGV/SIGBUS handler once per process.
pub(crate) fn install_handler() {
    INSTALL.call_once(|| {
        for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
            // SAFETY: we fill a zeroed sigaction with our handler and flags, and save
            // the previous action in OLD (see OldActions) before the handler can run.
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = handler as *const () as usize;
                act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut act.sa_mask);
                let old = &mut (*OLD.0.get())[i];
                libc::sigaction(sig, &act, old);
            }
        }
    });
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let sp = stack_pointer(uctx);
    let g = context::current_g();
    // SAFETY: a non-null current G is the goroutine this M is running; the M keeps it
    // alive while it runs, and only this thread writes its owner-only fields, so reading
    // them here (interrupting this thread) sees a consistent value.
    let running = (!g.is_null()).then(|| unsafe { (&*g, (*g).stack()) });
    if let Some((g, Some(range))) = running {
        let lo = range.limit().saturating_sub(BELOW_GUARD);
        let hi = range.usable_bottom();
        let hit = |a: usize| a >= lo && a < hi;
        let on_guard = hit(addr) || sp.is_some_and(hit);
        if on_guard || range.red_zone_damaged() {
            let info = g.info();
            let how = if on_guard {
                ""
            } else {
                " (red zone overwritten; detected at a fault below the stack)"
            };
            report(info, range.size(), how);
        }
    }
    // Not ours: chain.
    let i = if sig == libc::SIGSEGV { 0 } else { 1 };
    // SAFETY: OLD was written before this handler was installed (OldActions).
    let old = unsafe { (*OLD.0.get())[i] };
    if old.sa_sigaction == libc::SIG_DFL || old.sa_sigaction == libc::SIG_IGN {
        // Restore and return: the faulting instruction runs again and the default action
        // (a core dump) happens as if gort were not here.
        // SAFETY: reinstalling a previously installed action.
        unsafe { libc::sigaction(sig, &old, std::ptr::null_mut()) };
    } else if old.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this
        // signature; we pass our own arguments through unchanged.
        unsafe {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(old.sa_sigaction);
            f(sig, info, uctx);
        }
    } else {
        // SAFETY: a plain handler takes only the signal number.
        unsafe {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(old.sa_sigaction);
            f(sig);
        }
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn stack_pointer(uctx: *mut libc::c_void) -> Option<usize> {
    if uctx.is_null() {
        return None;
    }
    // SAFETY: for SA_SIGINFO handlers the third argument is the interrupted ucontext.
    Some(
        unsafe { (*(uctx as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RSP as usize] }
            as usize,
    )
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn stack_pointer(_uctx: *mut libc::c_void) -> Option<usize> {
    None
}

/// A canary stack's red zone was overwritten: report like a guard-page hit.
pub(crate) fn canary_overflow(info: &GInfo, size: usize) -> ! {
    report(
        info,
        size,
        " (red zone overwritten; detected at a context switch)",
    )
}

/// Writes the fatal message without allocating and aborts.
fn report(info: &GInfo, size: usize, how: &str) -> ! {
    let mut w = Buf::new();
    w.s("fatal error: stack overflow in goroutine ");
    w.n(info.id as usize);
    if let Some(name) = &info.name {
        w.s(" \"");
        w.s(name);
        w.s("\"");
    }
    w.s(" (spawned at ");
    w.s(info.site.file());
    w.s(":");
    w.n(info.site.line() as usize);
    w.s("), stack ");
    w.n(size / 1024);
    w.s(" KiB");
    w.s(how);
    w.s("; give it a larger stack with GoroutineBuilder::stack_size or Builder::stack_size\n");
    w.flush();
    // SAFETY: abort is async-signal-safe and never returns.
    unsafe { libc::abort() }
}

/// A fixed buffer on the signal stack; formatting by hand keeps the handler free of
/// allocation and locks.
struct Buf {
    b: [u8; 1024],
    len: usize,
}

impl Buf {
    fn new() -> Self {
        Buf {
            b: [0; 1024],
            len: 0,
        }
    }

    fn s(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn bytes(&mut self, s: &[u8]) {
        for &c in s {
            if self.len < self.b.len() {
                self.b[self.len] = c;
                self.len += 1;
            }
        }
    }

    fn n(&mut self, mut v: usize) {
        let mut d = [0u8; 20];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.bytes(&d[i..]);
    }

    fn flush(&self) {
        // SAFETY: writing our own buffer to fd 2; write is async-signal-safe.
        unsafe {
            libc::write(2, self.b.as_ptr().cast(), self.len);
        }
    }
}

/// An alternate signal stack for this thread if it has none (freed on drop).
pub(crate) struct ThreadAltStack {
    mapping: Option<(*mut libc::c_void, usize)>,
}

impl ThreadAltStack {
    pub(crate) fn install() -> ThreadAltStack {
        // SAFETY: querying and setting this thread's sigaltstack with valid structs; the
        // mapping we install stays alive until `drop`, which disables it first, and one
        // that could not be installed is unmapped before anything can run on it.
        unsafe {
            let mut cur: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(std::ptr::null(), &mut cur) == 0
                && cur.ss_flags & libc::SS_DISABLE == 0
            {
                return ThreadAltStack { mapping: None };
            }
            let page = crate::config::page_size();
            let len = ALT_STACK + page;
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return ThreadAltStack { mapping: None };
            }
            // The guard page under the alternate stack; without it a handler that
            // overflows it would write into whatever lies below.
            let st = libc::stack_t {
                ss_sp: p.cast::<u8>().add(page).cast(),
                ss_flags: 0,
                ss_size: ALT_STACK,
            };
            if libc::mprotect(p, page, libc::PROT_NONE) != 0
                || libc::sigaltstack(&st, std::ptr::null_mut()) != 0
            {
                libc::munmap(p, len);
                return ThreadAltStack { mapping: None };
            }
            ThreadAltStack {
                mapping: Some((p, len)),
            }
        }
    }
}

impl Drop for ThreadAltStack {
    fn drop(&mut self) {
        if let Some((p, len)) = self.mapping {
            // SAFETY: disable our alternate stack before unmapping it; no signal handler
            // is running on it (we are in ordinary thread code).
            unsafe {
                let st = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&st, std::ptr::null_mut());
                libc::munmap(p, len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_altstack() -> libc::stack_t {
        // SAFETY: a query of this thread's alternate stack into a valid struct.
        unsafe {
            let mut cur: libc::stack_t = std::mem::zeroed();
            assert_eq!(libc::sigaltstack(std::ptr::null(), &mut cur), 0);
            cur
        }
    }

    #[test]
    fn numbers_are_formatted_by_hand() {
        let mut b = Buf::new();
        for v in [0, 7, 10, 65536, usize::MAX] {
            b.n(v);
            b.s(" ");
        }
        let want = format!("0 7 10 65536 {} ", usize::MAX);
        assert_eq!(&b.b[..b.len], want.as_bytes());
    }

    #[test]
    fn alt_stack_is_kept_or_made() {
        std::thread::spawn(|| {
            // A std thread already has one (std installs its handler at startup): keep it.
            let std_stack = current_altstack();
            if std_stack.ss_flags & libc::SS_DISABLE == 0 {
                let kept = ThreadAltStack::install();
                assert!(kept.mapping.is_none());
                assert_eq!(current_altstack().ss_sp, std_stack.ss_sp);
                drop(kept);
                assert_eq!(current_altstack().ss_sp, std_stack.ss_sp);
            }
            // Without one, a 64 KiB stack over a guard page is mapped and then freed.
            let off = libc::stack_t {
                ss_sp: std::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disabling this thread's alternate stack; no handler runs on it.
            // std's thread exit frees its own mapping whether or not it is enabled.
            assert_eq!(unsafe { libc::sigaltstack(&off, std::ptr::null_mut()) }, 0);
            let made = ThreadAltStack::install();
            let (p, len) = made.mapping.expect("an alternate stack was mapped");
            let cur = current_altstack();
            assert_eq!(cur.ss_flags & libc::SS_DISABLE, 0);
            assert_eq!(cur.ss_size, ALT_STACK);
            assert_eq!(cur.ss_sp as usize, p as usize + crate::config::page_size());
            assert_eq!(len, ALT_STACK + crate::config::page_size());
            drop(made);
            assert_ne!(current_altstack().ss_flags & libc::SS_DISABLE, 0);
        })
        .join()
        .unwrap();
    }
}
