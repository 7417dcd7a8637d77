//! `select!`: wait on several channel operations at once; the first that can complete
//! wins (Go's `selectgo`).
//!
//! One select runs in rounds, each of two passes over its arms in a freshly shuffled
//! order (so among ready arms each is equally likely to win, Go's fairness):
//!
//! 1. **Poll.** Try each arm without blocking, as `try_send`/`try_recv` would (this may
//!    complete a parked partner through its claim, see `waiters.rs`). The first arm that
//!    completes wins. With a `default` arm, or a timeout that has passed, stop here.
//! 2. **Register and park.** Link one slot per arm into its channel's wait queue, all
//!    sharing one [`Ctx`]. Registration re-checks readiness under each channel's lock
//!    (something may have arrived since the poll); if an arm became ready, the select
//!    aborts its own ctx, unlinks everything and starts a new round, so the select itself
//!    never has to claim two things at once (crossbeam's approach). Otherwise it parks
//!    until the first waker claims the ctx and completes that arm; the drop guard then
//!    unlinks the other slots. A timeout aborts the ctx instead.
//!
//! Exactly one arm wins because the ctx's state goes from WAITING to another state once,
//! by compare-exchange; a waker that loses that race leaves its value where it was (it
//! serves the next waiter, buffers it, or keeps waiting), so nothing vanishes.
//!
//! The values of all `send` arms are evaluated before selecting (as in Go); the values of
//! arms that were not selected are dropped.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::channel::Chan;
use super::error::{RecvError, SendError};
use super::waiters::{Blocker, Ctx, Slot, WAITING};
use crate::g::{Wait, WaitReason};

/// One arm of a select, type-erased.
pub trait Arm<B: Blocker> {
    /// Poll pass: completes the operation now if it can. True: the arm is finished (its
    /// outcome is stored, possibly "disconnected").
    fn try_op(&self) -> bool;
    /// Registration: true if the operation could complete now (nothing is linked);
    /// otherwise links this arm's slot with `ctx` and index `arm`.
    ///
    /// # Safety
    /// `self` and `ctx` stay alive and unmoved until the ctx is settled and
    /// [`unregister`](Arm::unregister) has run.
    unsafe fn register(&self, ctx: &Ctx<B>, arm: usize) -> bool;
    /// Unlinks this arm's slot if it is still linked.
    fn unregister(&self);
    /// A waker claimed this arm (the ctx is DONE for it): store the outcome.
    fn complete(&self);
    /// Runtime teardown, nothing ready: finish with "disconnected".
    fn fail(&self);
}

/// A receive arm.
pub(crate) struct RecvOp<'a, T, B: Blocker> {
    chan: &'a Chan<T, B>,
    slot: Slot<T, B>,
    out: Cell<Option<Result<T, RecvError>>>,
}

impl<'a, T, B: Blocker> RecvOp<'a, T, B> {
    pub(crate) fn new(chan: &'a Chan<T, B>) -> Self {
        RecvOp {
            chan,
            slot: Slot::new(None),
            out: Cell::new(None),
        }
    }

    /// The outcome, if this arm won.
    pub(crate) fn take(&self) -> Option<Result<T, RecvError>> {
        self.out.take()
    }
}

impl<T, B: Blocker> Arm<B> for RecvOp<'_, T, B> {
    fn try_op(&self) -> bool {
        match self.chan.select_try_recv() {
            Some(r) => {
                self.out.set(Some(r.map_err(|()| RecvError)));
                true
            }
            None => false,
        }
    }

    unsafe fn register(&self, ctx: &Ctx<B>, arm: usize) -> bool {
        // SAFETY: forwarded contract: the slot is a field of `self`.
        unsafe { self.chan.register_recv(&self.slot, ctx, arm) }
    }

    fn unregister(&self) {
        self.chan.unregister(&self.slot, false);
    }

    fn complete(&self) {
        self.out.set(Some(self.slot.take_value().ok_or(RecvError)));
    }

    fn fail(&self) {
        self.out.set(Some(Err(RecvError)));
    }
}

/// A send arm; the slot holds the value until a receiver takes it.
pub(crate) struct SendOp<'a, T, B: Blocker> {
    chan: &'a Chan<T, B>,
    slot: Slot<T, B>,
    out: Cell<Option<Result<(), SendError<T>>>>,
}

impl<'a, T, B: Blocker> SendOp<'a, T, B> {
    pub(crate) fn new(chan: &'a Chan<T, B>, v: T) -> Self {
        SendOp {
            chan,
            slot: Slot::new(Some(v)),
            out: Cell::new(None),
        }
    }

    /// The outcome, if this arm won.
    pub(crate) fn take(&self) -> Option<Result<(), SendError<T>>> {
        self.out.take()
    }

    fn finish(&self) {
        // Empty slot: a receiver took the value. Full: disconnected, hand it back.
        self.out.set(Some(
            self.slot.take_value().map_or(Ok(()), |v| Err(SendError(v))),
        ));
    }
}

impl<T, B: Blocker> Arm<B> for SendOp<'_, T, B> {
    fn try_op(&self) -> bool {
        if self.chan.select_try_send(&self.slot) {
            self.finish();
            true
        } else {
            false
        }
    }

    unsafe fn register(&self, ctx: &Ctx<B>, arm: usize) -> bool {
        // SAFETY: forwarded contract: the slot is a field of `self`.
        unsafe { self.chan.register_send(&self.slot, ctx, arm) }
    }

    fn unregister(&self) {
        self.chan.unregister(&self.slot, true);
    }

    fn complete(&self) {
        self.finish();
    }

    fn fail(&self) {
        let v = self
            .slot
            .take_value()
            .expect("an unfinished send arm holds its value");
        self.out.set(Some(Err(SendError(v))));
    }
}

/// When a select gives up if no arm is ready.
#[derive(Clone, Copy, Debug)]
pub enum Timeout {
    /// Park until an arm is ready.
    Never,
    /// Do not park (a `default` arm).
    Now,
    /// Park at most this long (a `default(duration)` arm).
    After(Duration),
    /// Park until this instant.
    At(Instant),
}

thread_local! {
    /// The arm-order generator's state (0: not seeded yet).
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// Seeds this thread's arm-order generator (a simulation's driver: one seed, one
/// sequence of choices); `None` goes back to seeding from the clock on next use.
pub(crate) fn seed_rand(seed: Option<u64>) {
    let state = seed.map_or(0, |s| {
        (s ^ 0x005E_1EC7).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
    });
    RNG.with(|r| r.set(state));
}

/// A per-thread xorshift64* generator for the arm order (no shared state; not
/// cryptographic). Read and written within one call, never across a scheduling point.
fn rand() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        if x == 0 {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            x = (seed ^ (r as *const _ as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// A uniformly random permutation (Fisher–Yates). Under loom the identity, so that every
/// execution of a model is reproducible.
fn shuffle(order: &mut [usize]) {
    for (i, o) in order.iter_mut().enumerate() {
        *o = i;
    }
    if cfg!(loom) {
        return;
    }
    for i in (1..order.len()).rev() {
        let j = ((rand() as u128 * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
}

/// Runs a select over `arms`: `Some(i)` when arm `i` finished (its outcome is stored in
/// it), `None` when the timeout (or `default`) applied. The wait site is the caller's
/// (the `select!` invocation, through `__private::run`).
#[track_caller]
pub(crate) fn select<B: Blocker>(arms: &[&dyn Arm<B>], timeout: Timeout) -> Option<usize> {
    let deadline = match timeout {
        Timeout::After(d) => crate::timer::now().checked_add(d),
        Timeout::At(t) => Some(t),
        Timeout::Never | Timeout::Now => None,
    };
    let nonblocking = matches!(timeout, Timeout::Now);
    let n = arms.len();
    if n == 0 {
        return select_nothing::<B>(nonblocking, deadline, Wait::here(WaitReason::Select));
    }
    let mut small = [0usize; 16];
    let mut big = Vec::new();
    let order: &mut [usize] = if n <= small.len() {
        &mut small[..n]
    } else {
        big.resize(n, 0);
        &mut big
    };
    shuffle(order);
    let ctx = Ctx::<B>::new();
    loop {
        for &i in order.iter() {
            if arms[i].try_op() {
                return Some(i);
            }
        }
        if nonblocking || deadline.is_some_and(|d| crate::timer::now() >= d) {
            return None;
        }
        if B::in_teardown() {
            // Parks return at once: fail like a disconnected channel instead of spinning.
            arms[order[0]].fail();
            return Some(order[0]);
        }
        let wait = Wait::here(WaitReason::Select);
        ctx.prepare();
        let mut reg = Registered {
            arms,
            order,
            count: 0,
            ctx: &ctx,
            wait,
        };
        let mut ready = false;
        for &i in order.iter() {
            // SAFETY: `arms` and `ctx` outlive `reg`, whose drop settles the ctx and
            // unregisters every arm registered so far, also on unwinding.
            if unsafe { arms[i].register(&ctx, i) } {
                ready = true;
                break;
            }
            reg.count += 1;
            if ctx.state() != WAITING {
                break; // already claimed through an earlier arm
            }
        }
        let won = if ready && ctx.try_abort() {
            None
        } else if ready {
            ctx.wait(None, wait)
        } else {
            ctx.wait(deadline, wait)
        };
        drop(reg);
        match won {
            Some(i) => {
                arms[i].complete();
                return Some(i);
            }
            // Restart (an arm became ready), or the deadline passed, or teardown: the
            // next round's poll and checks decide.
            None => ctx.reset(),
        }
    }
}

/// A select with no arms: waits for the timeout, or forever (Go's `select {}`).
fn select_nothing<B: Blocker>(
    nonblocking: bool,
    deadline: Option<Instant>,
    wait: Wait,
) -> Option<usize> {
    if nonblocking {
        return None;
    }
    loop {
        if B::in_teardown() {
            panic!("gort: select! with no arms and no timeout during runtime teardown");
        }
        match deadline {
            Some(d) => {
                if crate::timer::now() >= d || B::park_until(d, wait) {
                    return None;
                }
            }
            None => B::park(wait),
        }
    }
}

/// Settles the ctx and unlinks every registered arm but the winner (whose slot the
/// winning waker unlinked), on return and on unwinding.
struct Registered<'a, 'b, B: Blocker> {
    arms: &'a [&'b dyn Arm<B>],
    order: &'a [usize],
    count: usize,
    ctx: &'a Ctx<B>,
    wait: Wait,
}

impl<B: Blocker> Drop for Registered<'_, '_, B> {
    fn drop(&mut self) {
        let won = self.ctx.settle(self.wait);
        for &i in &self.order[..self.count] {
            if won != Some(i) {
                self.arms[i].unregister();
            }
        }
    }
}

/// What the `select!` macro expands to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use super::Arm;
    pub use super::Timeout;
    pub use crate::chan::waiters::{Blocker, Ctx, Rt};

    use super::{RecvOp, SendOp};
    use crate::chan::error::{RecvError, SendError};
    use crate::chan::{Receiver, Sender};

    /// A `recv(rx) -> res` arm.
    pub struct RecvArm<'a, T>(RecvOp<'a, T, Rt>);

    impl<'a, T> RecvArm<'a, T> {
        /// An arm receiving from `rx`.
        pub fn new(rx: &'a Receiver<T>) -> Self {
            RecvArm(RecvOp::new(&rx.chan))
        }
        /// The arm as a select operand.
        pub fn as_dyn(&self) -> &dyn Arm<Rt> {
            &self.0
        }
        /// The outcome if this arm won.
        pub fn take(&self) -> Option<Result<T, RecvError>> {
            self.0.take()
        }
    }

    /// A `send(tx, v) -> res` arm.
    pub struct SendArm<'a, T>(SendOp<'a, T, Rt>);

    impl<'a, T> SendArm<'a, T> {
        /// An arm sending `v` on `tx`.
        pub fn new(tx: &'a Sender<T>, v: T) -> Self {
            SendArm(SendOp::new(&tx.chan, v))
        }
        /// The arm as a select operand.
        pub fn as_dyn(&self) -> &dyn Arm<Rt> {
            &self.0
        }
        /// The outcome if this arm won.
        pub fn take(&self) -> Option<Result<(), SendError<T>>> {
            self.0.take()
        }
    }

    /// Runs the select; the `select!` invocation is its wait site.
    #[track_caller]
    pub fn run(arms: &[&dyn Arm<Rt>], timeout: Timeout) -> Option<usize> {
        super::select(arms, timeout)
    }
}

/// Waits on several channel operations and runs the branch of the first that completes
/// (Go's `select`).
///
/// ```
/// use std::time::Duration;
/// use gort::chan;
///
/// gort::run(|| {
///     let (tx1, rx1) = chan::bounded::<i32>(0);
///     let (tx2, rx2) = chan::bounded::<&str>(0);
///     gort::spawn(move || tx1.send(7).unwrap());
///     let got = gort::select! {
///         recv(rx1) -> v => format!("rx1: {}", v.unwrap()),
///         send(tx2, "hi") -> r => format!("sent: {r:?}"),
///         default(Duration::from_secs(5)) => "timeout".to_string(),
///     };
///     assert_eq!(got, "rx1: 7");
///     drop(rx2);
/// });
/// ```
///
/// Arms (any number, in any order, separated by commas; a block body needs no comma):
///
/// - `recv(rx) -> res => body`: receive from `rx` (a [`Receiver`](crate::chan::Receiver) or a reference to
///   one); `res: Result<T, RecvError>`, `Err` when the channel is empty and disconnected.
/// - `send(tx, value) -> res => body`: send `value` on `tx`; `res: Result<(),
///   SendError<T>>`, `Err` (with the value) when every receiver is gone. **Every send
///   value is evaluated before selecting, as in Go; those of arms not chosen are
///   dropped.**
/// - at most one of `default => body` (run when no arm is ready at once) or
///   `default(timeout) => body` (run when none became ready within the `Duration`).
///
/// When several arms are ready, one is chosen uniformly at random. With none ready the
/// caller parks (the goroutine, or the thread on a plain thread) once on all of them and
/// is woken by the first that completes; exactly one arm runs. A disconnected channel
/// counts as ready (its arm runs with `Err`). `res` must be an irrefutable pattern.
/// During runtime teardown a select that would park completes one arm with `Err`
/// instead (see the [module docs](crate::chan)).
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__gort_select_parse!([] [] $($tokens)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __gort_select_parse {
    ([$($arms:tt)*] [$($def:tt)*]) => {
        $crate::__gort_select_decl!([$($arms)*] [] [$($def)*])
    };
    ([$($arms:tt)*] [$($def:tt)*] , $($rest:tt)*) => {
        $crate::__gort_select_parse!([$($arms)*] [$($def)*] $($rest)*)
    };
    ([$($arms:tt)*] [$($def:tt)*]
        recv($rx:expr) -> $res:pat => $body:block $($rest:tt)*) => {
        $crate::__gort_select_parse!(
            [$($arms)* [recv ($rx) ($res) ($body)]] [$($def)*] $($rest)*)
    };
    ([$($arms:tt)*] [$($def:tt)*]
        recv($rx:expr) -> $res:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__gort_select_parse!(
            [$($arms)* [recv ($rx) ($res) ($body)]] [$($def)*] $($($rest)*)?)
    };
    ([$($arms:tt)*] [$($def:tt)*]
        send($tx:expr, $v:expr) -> $res:pat => $body:block $($rest:tt)*) => {
        $crate::__gort_select_parse!(
            [$($arms)* [send ($tx, $v) ($res) ($body)]] [$($def)*] $($rest)*)
    };
    ([$($arms:tt)*] [$($def:tt)*]
        send($tx:expr, $v:expr) -> $res:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__gort_select_parse!(
            [$($arms)* [send ($tx, $v) ($res) ($body)]] [$($def)*] $($($rest)*)?)
    };
    ([$($arms:tt)*] []
        default($t:expr) => $body:block $($rest:tt)*) => {
        $crate::__gort_select_parse!([$($arms)*] [after ($t) ($body)] $($rest)*)
    };
    ([$($arms:tt)*] []
        default($t:expr) => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__gort_select_parse!([$($arms)*] [after ($t) ($body)] $($($rest)*)?)
    };
    ([$($arms:tt)*] [] default => $body:block $($rest:tt)*) => {
        $crate::__gort_select_parse!([$($arms)*] [now ($body)] $($rest)*)
    };
    ([$($arms:tt)*] [] default => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__gort_select_parse!([$($arms)*] [now ($body)] $($($rest)*)?)
    };
    ([$($arms:tt)*] [$($def:tt)+] default $($rest:tt)*) => {
        ::core::compile_error!("select!: more than one `default` arm")
    };
    ([$($arms:tt)*] [$($def:tt)*] $($rest:tt)+) => {
        ::core::compile_error!(
            "select!: expected `recv(rx) -> res => body`, `send(tx, value) -> res => body`, \
             `default => body` or `default(timeout) => body`")
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __gort_select_decl {
    // One output variable per arm, each declared by its own expansion (so each name is
    // distinct by hygiene) and carried along as a token.
    ([[$($arm:tt)*] $($rest:tt)*] [$($done:tt)*] [$($def:tt)*]) => {{
        let __gort_out;
        $crate::__gort_select_decl!([$($rest)*] [$($done)* [__gort_out $($arm)*]] [$($def)*])
    }};
    ([] [$($done:tt)*] [$($def:tt)*]) => {{
        $crate::__gort_select_build!([$($done)*] [] [$($def)*]);
        $crate::__gort_select_dispatch!([$($done)*] [$($def)*])
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __gort_select_build {
    // `match &expr` keeps temporaries alive for the whole select.
    ([[$out:ident recv ($rx:expr) $($x:tt)*] $($rest:tt)*] [$($built:tt)*] [$($def:tt)*]) => {
        match &$rx {
            __gort_rx => {
                let __gort_arm = $crate::chan::__private::RecvArm::new(__gort_rx);
                $crate::__gort_select_build!(
                    [$($rest)*] [$($built)* [$out __gort_arm]] [$($def)*])
            }
        }
    };
    ([[$out:ident send ($tx:expr, $v:expr) $($x:tt)*] $($rest:tt)*]
        [$($built:tt)*] [$($def:tt)*]) => {
        match &$tx {
            __gort_tx => {
                let __gort_arm = $crate::chan::__private::SendArm::new(__gort_tx, $v);
                $crate::__gort_select_build!(
                    [$($rest)*] [$($built)* [$out __gort_arm]] [$($def)*])
            }
        }
    };
    ([] [$([$out:ident $arm:ident])*] [$($def:tt)*]) => {{
        $crate::chan::__private::run(
            &[$($arm.as_dyn()),*],
            $crate::__gort_select_timeout!($($def)*),
        );
        $( $out = $arm.take(); )*
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __gort_select_timeout {
    () => {
        $crate::chan::__private::Timeout::Never
    };
    (now ($body:expr)) => {
        $crate::chan::__private::Timeout::Now
    };
    (after ($t:expr) ($body:expr)) => {
        $crate::chan::__private::Timeout::After($t)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __gort_select_dispatch {
    ([$([$out:ident $kind:ident ($($args:tt)*) ($res:pat) ($body:expr)])*] [$($def:tt)*]) => {
        $(
            if let ::core::option::Option::Some(__gort_r) = $out {
                let $res = __gort_r;
                $body
            } else
        )* {
            $crate::__gort_select_default!($($def)*)
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __gort_select_default {
    () => {
        ::core::unreachable!("select!: no arm completed")
    };
    (now ($body:expr)) => {
        $body
    };
    (after ($t:expr) ($body:expr)) => {
        $body
    };
}
