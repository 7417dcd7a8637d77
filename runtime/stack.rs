//! Goroutine stacks: carved from large slabs, guarded without new mappings, pooled per P
//! and globally (DESIGN §5).
//!
//! ```text
//!   one slab (64 MiB of address space, MAP_NORESERVE, one VMA):
//!
//!   low                                                                   high
//!   | guard | stack 0 ......... | guard | stack 1 ......... | guard | ...
//!     ^ limit()          base() ^
//!     stacks grow down, from base() towards the guard
//! ```
//!
//! Only touched pages cost memory: a goroutine that parks after using a little stack
//! holds one or two pages however large its stack is.
//!
//! The guard below each stack is made one of three ways ([`StackPolicy`]):
//! - `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13): a fault on the page, no new VMA, so a
//!   million guarded stacks leave `vm.max_map_count` alone;
//! - `mprotect(PROT_NONE)`: splits the slab, two VMAs per stack, so it is used only while
//!   the mapping budget (`vm.max_map_count`, 65530 by default) lasts;
//! - no guard page (canary): the lowest bytes of the stack must stay zero, and the M
//!   checks them after every switch. An overflow is then caught late (it may already have
//!   written into the neighbouring stack), but it is still reported with the goroutine's
//!   name before anything else runs on the corrupted stacks.
//!
//! Whatever the regime, an overflow ends the process with a message naming the
//! goroutine (see `overflow.rs`), never in silent corruption.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};

use parking_lot::Mutex;

use crate::config::page_size;

/// How goroutine stacks are guarded against overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackPolicy {
    /// `GuardInstall` where the kernel has it, else `Mprotect` while the mapping budget
    /// lasts, then `Canary` (with a one-time warning on stderr).
    Auto,
    /// `madvise(MADV_GUARD_INSTALL)` guard pages (Linux ≥ 6.13); `build()` fails elsewhere.
    GuardInstall,
    /// `mprotect` guard pages while the mapping budget lasts, then `Canary` with a warning.
    Mprotect,
    /// No guard page; a zeroed red zone at the stack limit checked at every switch.
    Canary,
}

/// How one particular stack is guarded (what `StackPolicy` resolved to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StackGuard {
    /// A `MADV_GUARD_INSTALL` guard page.
    GuardInstall = 1,
    /// An `mprotect(PROT_NONE)` guard page.
    Mprotect = 2,
    /// A zeroed red zone checked at every switch.
    Canary = 3,
}

/// `MADV_GUARD_INSTALL` from Linux 6.13 (`include/uapi/asm-generic/mman-common.h`).
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// Bytes of address space mapped per slab. Large, so a million stacks need few mmaps;
/// NORESERVE, so unused parts cost nothing.
const SLAB_BYTES: usize = 64 << 20;
/// Stacks a P keeps for itself before spilling half to the global pool.
pub(crate) const P_STACK_CACHE: usize = 64;
/// Bytes at the bottom of a canary stack that must stay zero.
const RED_ZONE: usize = 256;
/// Mappings left to the rest of the process when budgeting `mprotect` guards.
const MAP_RESERVE: usize = 4096;

/// Where a stack lies and how it is guarded (a copyable description; ownership is
/// [`GoStack`]'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StackRange {
    base: usize,
    limit: usize,
    guard: StackGuard,
}

/// One goroutine stack. The memory belongs to the pool's slab; dropping a `GoStack`
/// leaks it into the slab until the pool goes.
pub(crate) struct GoStack(StackRange);

// SAFETY: `base` is STACK_ALIGNMENT-aligned and `limit` page-aligned; the range belongs
// to this GoStack alone (the pool hands it out once). With a guard page (GuardInstall,
// Mprotect) the contract holds as stated. With `Canary` the trait's "must have a guard
// page" is not met: gort then guarantees the overflow is caught (zeroed red zone checked
// by the M after every switch, SIGSEGV handler for faults near the limit) and the process
// aborts before any other code runs on the damaged memory. That policy is opt-in or the
// documented fallback once guard pages cannot be had.
unsafe impl corosensei::stack::Stack for GoStack {
    fn base(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.0.base).expect("stack base is non-null")
    }
    fn limit(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.0.limit).expect("stack limit is non-null")
    }
}

impl GoStack {
    pub(crate) fn range(&self) -> StackRange {
        self.0
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn trim(&self) {
        self.0.trim()
    }
}

impl StackRange {
    /// Usable bytes (excluding the guard page).
    pub(crate) fn size(&self) -> usize {
        self.base - self.usable_bottom()
    }

    /// Lowest address including the guard page.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn usable_bottom(&self) -> usize {
        match self.guard {
            StackGuard::Canary => self.limit,
            _ => self.limit + page_size(),
        }
    }

    /// True when the red zone of a canary stack has been written (an overflow).
    pub(crate) fn red_zone_damaged(&self) -> bool {
        if self.guard != StackGuard::Canary {
            return false;
        }
        let p = self.limit as *const u64;
        // SAFETY: the red zone is the first RED_ZONE bytes of this stack's own mapped,
        // readable memory; volatile because the coroutine wrote it behind our back.
        unsafe {
            (0..RED_ZONE / 8)
                .step_by(4)
                .any(|i| std::ptr::read_volatile(p.add(i)) != 0)
        }
    }

    /// Gives the pages back to the OS; the next use starts from zeroed pages.
    fn trim(&self) {
        let bottom = self.usable_bottom();
        // SAFETY: [bottom, base) is this stack's own private anonymous memory and no
        // coroutine runs on it (it is in the pool). The guard page is left alone.
        unsafe {
            libc::madvise(bottom as *mut _, self.base - bottom, libc::MADV_DONTNEED);
        }
    }
}

/// Counters of the stack allocator, for metrics.
#[derive(Default)]
pub(crate) struct StackStats {
    pub(crate) slabs: AtomicUsize,
    pub(crate) carved: AtomicUsize,
    pub(crate) trimmed: AtomicU64,
}

struct Carver {
    next: usize,
    end: usize,
    slabs: Vec<(usize, usize)>,
    mprotect_budget: usize,
    warned: bool,
}

/// The global part of the pool: the slab carver and free stacks by size.
pub(crate) struct StackPool {
    policy: StackPolicy,
    default_size: usize,
    carver: Mutex<Carver>,
    free: Mutex<Vec<GoStack>>,
    free_other: Mutex<Vec<GoStack>>,
    /// The `StackGuard` of the most recently carved stack (0 before the first).
    pub(crate) regime: AtomicU8,
    pub(crate) stats: StackStats,
}

/// Error when no stack can be had.
#[derive(Debug)]
pub(crate) struct StackError(pub(crate) String);

impl StackPool {
    pub(crate) fn new(policy: StackPolicy, default_size: usize) -> Result<Self, String> {
        let has_guard_install = guard_install_supported();
        if policy == StackPolicy::GuardInstall && !has_guard_install {
            return Err(
                "stack policy GuardInstall needs madvise(MADV_GUARD_INSTALL), \
                        which this kernel lacks (Linux >= 6.13); use StackPolicy::Auto"
                    .into(),
            );
        }
        let policy = match policy {
            StackPolicy::Auto if has_guard_install => StackPolicy::GuardInstall,
            other => other,
        };
        Ok(StackPool {
            policy,
            default_size,
            carver: Mutex::new(Carver {
                next: 0,
                end: 0,
                slabs: Vec::new(),
                mprotect_budget: mprotect_budget(),
                warned: false,
            }),
            free: Mutex::new(Vec::new()),
            free_other: Mutex::new(Vec::new()),
            regime: AtomicU8::new(0),
            stats: StackStats::default(),
        })
    }

    pub(crate) fn default_size(&self) -> usize {
        self.default_size
    }

    /// Takes a stack of `size` usable bytes: from `cache` (the P's), the global pool,
    /// or a slab.
    pub(crate) fn get(&self, size: usize, cache: &mut Vec<GoStack>) -> Result<GoStack, StackError> {
        if size == self.default_size {
            if let Some(s) = cache.pop() {
                return Ok(s);
            }
            {
                let mut free = self.free.lock();
                let n = free.len().min(P_STACK_CACHE / 2);
                if n > 0 {
                    let at = free.len() - n;
                    cache.extend(free.drain(at..));
                }
            }
            if let Some(s) = cache.pop() {
                return Ok(s);
            }
        } else {
            let mut other = self.free_other.lock();
            if let Some(i) = other.iter().position(|s| s.size() == size) {
                return Ok(other.swap_remove(i));
            }
        }
        self.carve(size)
    }

    /// Returns a stack whose coroutine has finished.
    pub(crate) fn put(&self, stack: GoStack, cache: &mut Vec<GoStack>) {
        if stack.size() != self.default_size {
            stack.trim();
            self.stats.trimmed.fetch_add(1, Relaxed);
            self.free_other.lock().push(stack);
            return;
        }
        cache.push(stack);
        if cache.len() > P_STACK_CACHE {
            // Spill the older half; they go cold, so give their pages back.
            let spill: Vec<GoStack> = cache.drain(..P_STACK_CACHE / 2).collect();
            for s in &spill {
                s.trim();
            }
            self.stats.trimmed.fetch_add(spill.len() as u64, Relaxed);
            self.free.lock().extend(spill);
        }
    }

    /// Returns a P's cache to the global pool (the P is going away).
    pub(crate) fn put_all(&self, cache: &mut Vec<GoStack>) {
        self.free.lock().append(cache);
    }

    fn carve(&self, size: usize) -> Result<GoStack, StackError> {
        let page = page_size();
        let mut c = self.carver.lock();
        let guard = match self.policy {
            StackPolicy::GuardInstall => StackGuard::GuardInstall,
            StackPolicy::Canary => StackGuard::Canary,
            StackPolicy::Auto | StackPolicy::Mprotect => {
                if c.mprotect_budget > 0 {
                    StackGuard::Mprotect
                } else {
                    if !c.warned {
                        c.warned = true;
                        eprintln!(
                            "gort: warning: stack guard pages would exceed vm.max_map_count \
                             ({}); further goroutine stacks use the Canary policy (overflow \
                             caught at the next switch). Raise vm.max_map_count or run on \
                             Linux >= 6.13 for guard pages without mappings.",
                            read_usize("/proc/sys/vm/max_map_count").unwrap_or(65530)
                        );
                    }
                    StackGuard::Canary
                }
            }
        };
        // Every stack gets a page below it: a guard page, or for canary stacks a gap
        // that keeps one stack's red zone off its neighbour's top.
        let slot = size + page;
        if c.end - c.next < slot {
            let len = SLAB_BYTES.max(slot);
            // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                let err = std::io::Error::last_os_error();
                return Err(StackError(format!(
                    "cannot map {} MiB for goroutine stacks: {err}",
                    len >> 20
                )));
            }
            c.slabs.push((p as usize, len));
            c.next = p as usize;
            c.end = p as usize + len;
            self.stats.slabs.fetch_add(1, Relaxed);
        }
        let limit = c.next;
        c.next += slot;
        let stack = match guard {
            StackGuard::GuardInstall => {
                // SAFETY: `limit` is the first page of this stack's slot in our slab.
                let rc = unsafe { libc::madvise(limit as *mut _, page, MADV_GUARD_INSTALL) };
                if rc != 0 {
                    let err = std::io::Error::last_os_error();
                    return Err(StackError(format!("madvise(MADV_GUARD_INSTALL): {err}")));
                }
                StackRange {
                    base: limit + slot,
                    limit,
                    guard,
                }
            }
            StackGuard::Mprotect => {
                // SAFETY: as above; PROT_NONE on our own slab page.
                let rc = unsafe { libc::mprotect(limit as *mut _, page, libc::PROT_NONE) };
                if rc != 0 {
                    c.mprotect_budget = 0;
                    drop(c);
                    return self.carve(size);
                }
                c.mprotect_budget -= 1;
                StackRange {
                    base: limit + slot,
                    limit,
                    guard,
                }
            }
            StackGuard::Canary => StackRange {
                base: limit + slot,
                limit: limit + page,
                guard,
            },
        };
        let stack = GoStack(stack);
        self.regime.store(guard as u8, Relaxed);
        self.stats.carved.fetch_add(1, Relaxed);
        Ok(stack)
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        for &(p, len) in &self.carver.get_mut().slabs {
            // SAFETY: the runtime drops the pool only after every coroutine is gone, so no
            // stack in these slabs is in use; each (p, len) came from our mmap.
            unsafe {
                libc::munmap(p as *mut _, len);
            }
        }
    }
}

/// Whether this kernel supports `MADV_GUARD_INSTALL`, tried once on a scratch mapping.
fn guard_install_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let page = page_size();
        // SAFETY: a scratch anonymous mapping of two pages, unmapped below.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return false;
            }
            let ok = libc::madvise(p, page, MADV_GUARD_INSTALL) == 0;
            libc::munmap(p, 2 * page);
            ok
        }
    })
}

/// How many `mprotect` guard pages (two mappings each) fit in what is left of
/// `vm.max_map_count`, keeping a reserve for the rest of the process.
fn mprotect_budget() -> usize {
    let max = read_usize("/proc/sys/vm/max_map_count").unwrap_or(65530);
    let used = std::fs::read_to_string("/proc/self/maps").map_or(0, |s| s.lines().count());
    max.saturating_sub(used + MAP_RESERVE) / 2
}

fn read_usize(path: &str) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
