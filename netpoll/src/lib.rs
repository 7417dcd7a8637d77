//! gort's netpoller: one edge-triggered epoll instance, a readiness record per file
//! descriptor, and opaque *waiter tokens* instead of goroutines.
//!
//! The runtime turns "this read returned `EAGAIN`" into "park this goroutine until the
//! socket is readable" (Go's `netpoll.go`). This crate is the part of that which knows
//! nothing about goroutines:
//!
//! - [`Poller`]: the epoll instance plus an eventfd that breaks a blocking wait
//!   ([`Poller::wake`]). Every fd is registered once, when it is created, for
//!   `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`: edge-triggered, so the kernel reports each
//!   readiness change once and nobody re-arms anything per operation.
//! - A *descriptor* ([`Registration`], an index into the poller's table) with two slots,
//!   read and write. A slot is `EMPTY`, `READY` (an edge arrived and nobody consumed it), or
//!   holds a waiter token (a nonzero, even `usize` the runtime chose: gort uses a pointer to
//!   the parked goroutine).
//! - [`Poller::poll`] waits for events, marks slots `READY` and hands back the tokens that
//!   sat in them; the runtime makes those goroutines runnable.
//!
//! The protocol of one blocking read, as the runtime runs it:
//!
//! ```text
//!   loop {
//!       read(fd)                          -> data?  return it
//!       EAGAIN: poller.arm(reg, Read, tok)
//!           Ready   -> an edge came since the last read: retry at once
//!           Parked  -> park the goroutine; when it wakes:
//!                      poller.disarm(reg, Read, tok)
//!                          true  -> nobody took the token: a timeout or a spurious wake
//!                          false -> poll() took it and woke us
//!                      retry the read
//!           Closed  -> the fd is being closed: error
//!   }
//! ```
//!
//! Every transition of a slot is one atomic swap or compare-and-swap, so exactly one party
//! takes each token out of a slot (the waiter by `disarm`, the poller by `poll`, the closer
//! by `deregister`), and whoever takes it owns whatever the token stands for. A `READY` left
//! over from an earlier fd or an event that raced a close only causes one extra `EAGAIN`
//! and re-arm: spurious readiness is harmless, lost readiness is impossible because an edge
//! is recorded even when nobody waits.
//!
//! Descriptors live in a table of fixed chunks that is never shrunk, so the poller reads
//! them without a lock; each carries a sequence number, stored with the index in the epoll
//! data word, so an event for a closed and reused fd is recognised and dropped.
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

mod poller;
mod slot;
mod table;

pub use poller::{Poller, Registration};
pub use slot::{Arm, Mode};
