//! Runtime configuration: the [`Builder`], its validation, and the `GORT_*` environment
//! variables it reads. Every scheduling constant Go hard-codes is a knob here, with Go's
//! value as the default.

use std::fmt;
use std::time::Duration;

use crate::policy::{Choice, Policy};
use crate::runtime::Runtime;
use crate::stack::StackPolicy;

/// Default goroutine stack size: 256 KiB of address space. Only touched pages cost
/// memory, so a parked goroutine that used little stack holds about one page.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Which other Ps a stealing M visits, and in what order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VictimOrder {
    /// Go's order: a random start and a random stride coprime to `procs`, so every P is
    /// visited once per round in an order that differs between thieves.
    RandomCoprime,
    /// tokio's order: a random start, then every P in index order.
    RandomStart,
    /// No randomness: start at the thief's own index + 1 and go round.
    RoundRobin,
}

/// How many Ms may spin (look for work without a P's own work) at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpinningLimit {
    /// Go's rule: spinning Ms ≤ half of the busy Ps.
    HalfBusy,
    /// At most this many (0: never spin, idle Ms park at once).
    AtMost(usize),
}

/// Errors from [`Builder::build`]: a setting that cannot work, named with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A Builder value out of range.
    Invalid {
        /// The setting, e.g. `procs`.
        setting: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// A `GORT_*` environment variable that could not be parsed.
    Env {
        /// The variable name.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// The OS refused a resource at start-up (threads, memory).
    Os(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid { setting, reason } => {
                write!(f, "gort: invalid runtime setting `{setting}`: {reason}")
            }
            ConfigError::Env { var, value, reason } => {
                write!(
                    f,
                    "gort: invalid environment variable {var}={value:?}: {reason}"
                )
            }
            ConfigError::Os(msg) => write!(f, "gort: {msg}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The validated settings a runtime runs with. Read them back with
/// [`Runtime::config`](crate::Runtime::config).
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of Ps: goroutines that can run at once.
    pub procs: usize,
    /// Default goroutine stack size in bytes (page-rounded, guard excluded).
    pub stack_size: usize,
    /// How stacks are guarded.
    pub stack_policy: StackPolicy,
    /// Slots in each P's local run queue (power of two).
    pub local_queue_capacity: usize,
    /// Share of a victim's run queue taken per steal, in thousandths (500 = half).
    pub steal_permille: u32,
    /// Rounds over all victims before an M gives up stealing (0: never steal).
    pub steal_rounds: u32,
    /// Victim visiting order.
    pub victim_order: VictimOrder,
    /// Whether spawned and woken goroutines go to the `runnext` slot.
    pub runnext: bool,
    /// Every this many scheduler ticks a P takes one goroutine from the global queue
    /// before its own (Go: 61).
    pub global_queue_interval: u32,
    /// Spinning M limit.
    pub spinning: SpinningLimit,
    /// The time slice a `runnext` chain may inherit before woken goroutines go to the
    /// tail instead (Go's preemption quantum, 10 ms).
    pub time_slice: Duration,
    /// Whether "all goroutines are asleep - deadlock!" is detected (see `gort::dump`).
    pub deadlock_detection: bool,
    /// A goroutine running this long without a scheduling point is asked to yield at
    /// its next one, and reported as a hog if it does not reach one (sysmon).
    pub hog_threshold: Duration,
    /// Whether hogs are reported on stderr (`GORT_HOGWARN`).
    pub hog_warning: bool,
    /// Upper bound on OS threads (Ms) of this runtime, like Go's 10,000.
    pub max_threads: usize,
    /// An M beyond `procs` that stays idle this long exits.
    pub idle_thread_timeout: Duration,
    /// Print a Go-style `SCHED` line to stderr at this period (`GORT_SCHEDTRACE=<ms>`).
    pub schedtrace: Option<Duration>,
    /// With `schedtrace`, also a line per P, M and goroutine (`GORT_SCHEDDETAIL=1`).
    pub scheddetail: bool,
    /// SIGQUIT prints a goroutine dump to stderr instead of ending the process
    /// (`GORT_SIGQUIT=dump`).
    pub sigquit_dump: bool,
    /// One runnable transition in this many is timed for the latency histograms.
    pub latency_sampling: u32,
    /// Record an execution trace into this file from start to shutdown
    /// (`GORT_TRACE=<file>`; see [`trace`](crate::trace)).
    pub trace: Option<std::path::PathBuf>,
    /// Upper bound on live goroutines (spawned, not finished); `try_spawn` fails beyond
    /// it (`GORT_MAX_GOROUTINES`). `usize::MAX`: no bound.
    pub max_goroutines: usize,
    /// The scheduling policy (`GORT_POLICY=<name>`; see [`policy`](crate::policy)).
    pub policy: Choice,
    /// Most goroutines taken from the global queue at once (0: Go's rule), from the policy.
    pub global_batch: usize,
    /// Runs in a row from `runnext` (`u32::MAX`: no cap), from the policy.
    pub runnext_limit: u32,
    /// Deterministic simulation with this seed ([`Builder::simulate`]).
    pub simulate: Option<u64>,
    /// Chaos scheduling with this seed (`GORT_CHAOS=<seed>`): random yields, delayed and
    /// moved wakeups, single-goroutine steals, to shake out ordering assumptions in tests.
    pub chaos: Option<u64>,
    /// A run longer than this yields at its next `checkpoint`, measured with the cycle
    /// counter (microsecond quanta without sysmon); `None`: only sysmon's request at
    /// `hog_threshold`.
    pub quantum: Option<Duration>,
}

/// Builds a [`Runtime`]. Every knob defaults to Go's behaviour.
///
/// ```
/// let rt = gort::Runtime::builder().procs(2).stack_size(64 * 1024).build().unwrap();
/// assert_eq!(rt.block_on(|| 6 * 7), 42);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    procs: Option<usize>,
    stack_size: Option<usize>,
    stack_policy: Option<StackPolicy>,
    local_queue_capacity: Option<usize>,
    steal_fraction: Option<f64>,
    steal_rounds: Option<u32>,
    victim_order: Option<VictimOrder>,
    runnext: Option<bool>,
    global_queue_interval: Option<u32>,
    spinning: Option<SpinningLimit>,
    time_slice: Option<Duration>,
    deadlock_detection: Option<bool>,
    hog_threshold: Option<Duration>,
    hog_warning: Option<bool>,
    max_threads: Option<usize>,
    idle_thread_timeout: Option<Duration>,
    schedtrace: Option<Duration>,
    scheddetail: Option<bool>,
    sigquit_dump: Option<bool>,
    latency_sampling: Option<u32>,
    trace: Option<std::path::PathBuf>,
    max_goroutines: Option<usize>,
    chaos: Option<Option<u64>>,
    quantum: Option<Duration>,
    policy: Option<Choice>,
    simulate: Option<u64>,
}

impl Builder {
    /// A builder with every setting at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of Ps (like `GOMAXPROCS`). Default: `GORT_PROCS` if set, else the CPUs
    /// this process may use (which honours cgroup CPU quotas and affinity masks).
    pub fn procs(mut self, n: usize) -> Self {
        self.procs = Some(n);
        self
    }

    /// Default stack size of goroutines in bytes, rounded up to whole pages; at least one
    /// page. Default [`DEFAULT_STACK_SIZE`]. Stacks do not grow: a goroutine that needs
    /// more ends the process with a message naming it.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// How stack overflows are caught; default [`StackPolicy::Auto`].
    pub fn stack_policy(mut self, policy: StackPolicy) -> Self {
        self.stack_policy = Some(policy);
        self
    }

    /// Slots in each P's local run queue; a power of two ≥ 2. Default 256.
    pub fn local_queue_capacity(mut self, slots: usize) -> Self {
        self.local_queue_capacity = Some(slots);
        self
    }

    /// Fraction of a victim's queue a thief takes, in (0, 1], rounded up. Default 0.5.
    pub fn steal_fraction(mut self, fraction: f64) -> Self {
        self.steal_fraction = Some(fraction);
        self
    }

    /// Rounds over all victims before giving up; 0 disables stealing. Default 4.
    pub fn steal_rounds(mut self, rounds: u32) -> Self {
        self.steal_rounds = Some(rounds);
        self
    }

    /// Order in which thieves visit victims. Default [`VictimOrder::RandomCoprime`].
    pub fn victim_order(mut self, order: VictimOrder) -> Self {
        self.victim_order = Some(order);
        self
    }

    /// Whether new and woken goroutines use the `runnext` slot. Default true.
    pub fn runnext(mut self, on: bool) -> Self {
        self.runnext = Some(on);
        self
    }

    /// Global-queue fairness interval in scheduler ticks, ≥ 1. Default 61.
    pub fn global_queue_interval(mut self, ticks: u32) -> Self {
        self.global_queue_interval = Some(ticks);
        self
    }

    /// Limit on spinning Ms. Default [`SpinningLimit::HalfBusy`].
    pub fn spinning(mut self, limit: SpinningLimit) -> Self {
        self.spinning = Some(limit);
        self
    }

    /// Time slice inherited through `runnext`; > 0. Default 10 ms.
    pub fn time_slice(mut self, slice: Duration) -> Self {
        self.time_slice = Some(slice);
        self
    }

    /// Whether to detect "all goroutines are asleep - deadlock!" (default on). Turn it
    /// off when plain threads hold handles that wake goroutines only later (gort cannot
    /// see those; see [`dump`](crate::dump)).
    pub fn deadlock_detection(mut self, on: bool) -> Self {
        self.deadlock_detection = Some(on);
        self
    }

    /// How long a goroutine may run without a scheduling point before sysmon asks it to
    /// yield (and reports it as a hog if it does not); > 0. Default 10 ms.
    pub fn hog_threshold(mut self, t: Duration) -> Self {
        self.hog_threshold = Some(t);
        self
    }

    /// Whether hogs get a line on stderr. Default on, or `GORT_HOGWARN` (`0` / `1`).
    pub fn hog_warning(mut self, on: bool) -> Self {
        self.hog_warning = Some(on);
        self
    }

    /// Maximum OS threads (Ms), ≥ `procs` + 1. Default [`DEFAULT_MAX_THREADS`], or
    /// `GORT_MAX_THREADS`. Beyond it, a blocked goroutine's P is not handed off.
    pub fn max_threads(mut self, n: usize) -> Self {
        self.max_threads = Some(n);
        self
    }

    /// How long an M beyond `procs` may stay idle before it exits; > 0. Default 10 s.
    pub fn idle_thread_timeout(mut self, t: Duration) -> Self {
        self.idle_thread_timeout = Some(t);
        self
    }

    /// Prints a scheduler summary line to stderr every `period`, in Go's `schedtrace`
    /// format; > 0. Default off, or `GORT_SCHEDTRACE=<ms>`.
    pub fn schedtrace(mut self, period: Duration) -> Self {
        self.schedtrace = Some(period);
        self
    }

    /// With [`schedtrace`](Self::schedtrace), adds a line per P, M and goroutine (Go's
    /// `scheddetail`). Default off, or `GORT_SCHEDDETAIL=1`.
    pub fn scheddetail(mut self, on: bool) -> Self {
        self.scheddetail = Some(on);
        self
    }

    /// Whether SIGQUIT (Ctrl-\) prints a goroutine dump to stderr and lets the process
    /// go on. Default off (the signal keeps its usual meaning), or `GORT_SIGQUIT=dump`.
    pub fn sigquit_dump(mut self, on: bool) -> Self {
        self.sigquit_dump = Some(on);
        self
    }

    /// Times one runnable transition in `every` for the latency histograms of
    /// [`Metrics`](crate::Metrics) (scheduling latency, run length, park duration); a power
    /// of two from 1 (every transition: exact, for tests and experiments) to 1024. Default
    /// 64: each sample reads the cycle counter twice, which costs ~25 ns in a VM.
    pub fn latency_sampling(mut self, every: u32) -> Self {
        self.latency_sampling = Some(every);
        self
    }

    /// Records an execution trace of the whole life of the runtime into `path` (see
    /// [`trace`](crate::trace); read it with `gort-trace`). Or `GORT_TRACE=<file>`.
    /// The file is created when the runtime is built: `build` fails if it cannot be.
    pub fn trace(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.trace = Some(path.into());
        self
    }

    /// Caps the goroutines alive at once (spawned and not finished): beyond it
    /// [`try_spawn`](crate::try_spawn) returns [`SpawnError::TooManyGoroutines`](crate::SpawnError)
    /// and `spawn` panics saying so. Default: no cap (`GORT_MAX_GOROUTINES`).
    pub fn max_goroutines(mut self, n: usize) -> Self {
        self.max_goroutines = Some(n);
        self
    }

    /// Short time slices enforced at scheduling points: a goroutine that has run for
    /// `quantum` yields at its next [`checkpoint`](crate::checkpoint) (which every
    /// channel, lock, sleep and socket call passes), checked against the cycle counter
    /// as Concord does, so 5–50 µs quanta work without sysmon. Default off: sysmon asks
    /// a goroutine to yield after `hog_threshold` (10 ms), as Go does. Each run then reads
    /// the cycle counter once more (~25 ns in a VM).
    pub fn quantum(mut self, quantum: Duration) -> Self {
        self.quantum = Some(quantum);
        self
    }

    /// Chaos scheduling: `Some(seed)` makes scheduling points randomly yield, wakeups
    /// randomly go to the back of the queue or to another P, and steals randomly take
    /// one goroutine, all driven by `seed` (per M), so tests meet interleavings the
    /// default policy rarely produces. `None` turns it off even under `GORT_CHAOS`.
    /// Off by default; costs nothing when off.
    pub fn chaos(mut self, seed: Option<u64>) -> Self {
        self.chaos = Some(seed);
        self
    }

    /// The scheduling policy (default [`BuiltIn::Go`](crate::policy::BuiltIn), or
    /// `GORT_POLICY=<name>`): a built-in one or your own (see [`policy`](crate::policy)).
    /// The knobs above, when set, override what the policy says.
    pub fn policy<T: Policy>(mut self, policy: T) -> Self {
        self.policy = Some(Choice::new(policy));
        self
    }

    /// Runs the runtime in deterministic simulation with this seed: `block_on` drives
    /// every P from the calling thread on virtual time (see [`sim`](crate::sim)).
    pub fn simulate(mut self, seed: u64) -> Self {
        self.simulate = Some(seed);
        self
    }

    /// Validates the settings and starts nothing yet: threads start on first use.
    pub fn build(self) -> Result<Runtime, ConfigError> {
        Runtime::from_config(self.config()?)
    }

    /// Validates the settings, applying environment overrides.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let invalid = |setting, reason: String| ConfigError::Invalid { setting, reason };
        let policy = match &self.policy {
            Some(p) => p.clone(),
            None => match std::env::var("GORT_POLICY") {
                Ok(v) => match crate::policy::BuiltIn::by_name(&v) {
                    Ok(b) => Choice::BuiltIn(b),
                    Err(_) => {
                        return Err(ConfigError::Env {
                            var: "GORT_POLICY",
                            value: v,
                            reason: format!(
                                "unknown policy; valid policies: {}",
                                crate::policy::BuiltIn::NAMES.join(", ")
                            ),
                        })
                    }
                },
                Err(std::env::VarError::NotPresent) => Choice::default(),
                Err(std::env::VarError::NotUnicode(v)) => {
                    return Err(ConfigError::Env {
                        var: "GORT_POLICY",
                        value: v.to_string_lossy().into_owned(),
                        reason: "not valid UTF-8".into(),
                    })
                }
            },
        };
        let pol = policy.policy();
        let steal = pol.steal();
        let procs = match self.procs {
            Some(n) => n,
            None => match env_usize("GORT_PROCS")? {
                Some(n) => {
                    if n == 0 {
                        return Err(ConfigError::Env {
                            var: "GORT_PROCS",
                            value: "0".into(),
                            reason: "must be at least 1".into(),
                        });
                    }
                    n
                }
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
        };
        if procs == 0 {
            return Err(invalid("procs", "must be at least 1".into()));
        }
        if procs > MAX_PROCS {
            return Err(invalid(
                "procs",
                format!("{procs} exceeds the maximum {MAX_PROCS}"),
            ));
        }
        let page = page_size();
        let stack_size = self.stack_size.unwrap_or(DEFAULT_STACK_SIZE);
        if stack_size < page {
            return Err(invalid(
                "stack_size",
                format!("{stack_size} bytes is smaller than a page ({page} bytes)"),
            ));
        }
        if stack_size > MAX_STACK_SIZE {
            return Err(invalid(
                "stack_size",
                format!("{stack_size} bytes exceeds the maximum {MAX_STACK_SIZE}"),
            ));
        }
        let stack_size = stack_size.next_multiple_of(page);
        let cap = self.local_queue_capacity.unwrap_or(256);
        if !cap.is_power_of_two() || cap < 2 {
            return Err(invalid(
                "local_queue_capacity",
                format!("{cap} is not a power of two ≥ 2"),
            ));
        }
        if cap > 1 << 20 {
            return Err(invalid(
                "local_queue_capacity",
                format!("{cap} exceeds 2^20"),
            ));
        }
        let fraction = self
            .steal_fraction
            .unwrap_or(f64::from(steal.permille) / 1000.0);
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(invalid(
                "steal_fraction",
                format!("{fraction} is not in (0, 1]"),
            ));
        }
        let global_queue_interval = self
            .global_queue_interval
            .unwrap_or_else(|| pol.global_queue_interval());
        if global_queue_interval == 0 {
            return Err(invalid(
                "global_queue_interval",
                "must be at least 1".into(),
            ));
        }
        let time_slice = self.time_slice.unwrap_or(Duration::from_millis(10));
        if time_slice.is_zero() {
            return Err(invalid("time_slice", "must be longer than zero".into()));
        }
        let hog_threshold = self.hog_threshold.unwrap_or(Duration::from_millis(10));
        if hog_threshold.is_zero() {
            return Err(invalid("hog_threshold", "must be longer than zero".into()));
        }
        let hog_warning = match self.hog_warning {
            Some(on) => on,
            None => env_bool("GORT_HOGWARN")?.unwrap_or(true),
        };
        let max_threads = match self.max_threads {
            Some(n) => n,
            None => env_usize("GORT_MAX_THREADS")?.unwrap_or(DEFAULT_MAX_THREADS),
        };
        if max_threads <= procs {
            return Err(invalid(
                "max_threads",
                format!("{max_threads} leaves no thread beyond the {procs} procs"),
            ));
        }
        let idle_thread_timeout = self.idle_thread_timeout.unwrap_or(Duration::from_secs(10));
        if idle_thread_timeout.is_zero() {
            return Err(invalid(
                "idle_thread_timeout",
                "must be longer than zero".into(),
            ));
        }
        let schedtrace = match self.schedtrace {
            Some(p) if p.is_zero() => {
                return Err(invalid(
                    "schedtrace",
                    "the period must be longer than zero".into(),
                ))
            }
            Some(p) => Some(p),
            None => match env_usize("GORT_SCHEDTRACE")? {
                Some(0) => {
                    return Err(ConfigError::Env {
                        var: "GORT_SCHEDTRACE",
                        value: "0".into(),
                        reason: "a period in milliseconds, at least 1".into(),
                    })
                }
                Some(ms) => Some(Duration::from_millis(ms as u64)),
                None => None,
            },
        };
        let scheddetail = match self.scheddetail {
            Some(on) => on,
            None => env_bool("GORT_SCHEDDETAIL")?.unwrap_or(false),
        };
        let sigquit_dump = match self.sigquit_dump {
            Some(on) => on,
            None => match std::env::var("GORT_SIGQUIT") {
                Ok(v) if v.trim() == "dump" => true,
                Ok(v) if v.trim().is_empty() || v.trim() == "default" => false,
                Ok(v) => {
                    return Err(ConfigError::Env {
                        var: "GORT_SIGQUIT",
                        value: v,
                        reason: "expected `dump` or `default`".into(),
                    })
                }
                Err(_) => false,
            },
        };
        let latency_sampling = self.latency_sampling.unwrap_or(64);
        if !latency_sampling.is_power_of_two() || latency_sampling > 1024 {
            return Err(invalid(
                "latency_sampling",
                format!("{latency_sampling} is not a power of two from 1 to 1024"),
            ));
        }
        let trace = match &self.trace {
            Some(p) if p.as_os_str().is_empty() => {
                return Err(invalid("trace", "the file name is empty".into()))
            }
            Some(p) => Some(p.clone()),
            None => match std::env::var_os("GORT_TRACE") {
                Some(v) if v.is_empty() => {
                    return Err(ConfigError::Env {
                        var: "GORT_TRACE",
                        value: String::new(),
                        reason: "a file name to write the trace to".into(),
                    })
                }
                Some(v) => Some(v.into()),
                None => None,
            },
        };
        let max_goroutines = match self.max_goroutines {
            Some(0) => return Err(invalid("max_goroutines", "must be at least 1".into())),
            Some(n) => n,
            None => match env_usize("GORT_MAX_GOROUTINES")? {
                Some(0) => {
                    return Err(ConfigError::Env {
                        var: "GORT_MAX_GOROUTINES",
                        value: "0".into(),
                        reason: "must be at least 1".into(),
                    })
                }
                Some(n) => n,
                None => usize::MAX,
            },
        };
        let chaos = match self.chaos {
            Some(seed) => seed,
            None => env_u64("GORT_CHAOS")?,
        };
        let stack_policy = match self.stack_policy {
            Some(p) => p,
            None => match std::env::var("GORT_STACK_POLICY") {
                Err(std::env::VarError::NotPresent) => StackPolicy::Auto,
                Ok(v) => match v.trim() {
                    "auto" => StackPolicy::Auto,
                    "guard-install" => StackPolicy::GuardInstall,
                    "mprotect" => StackPolicy::Mprotect,
                    "canary" => StackPolicy::Canary,
                    _ => {
                        return Err(ConfigError::Env {
                            var: "GORT_STACK_POLICY",
                            value: v,
                            reason: "expected auto, guard-install, mprotect or canary".into(),
                        })
                    }
                },
                Err(std::env::VarError::NotUnicode(v)) => {
                    return Err(ConfigError::Env {
                        var: "GORT_STACK_POLICY",
                        value: v.to_string_lossy().into_owned(),
                        reason: "not valid UTF-8".into(),
                    })
                }
            },
        };
        let quantum = self.quantum.or_else(|| pol.quantum());
        if quantum.is_some_and(|q| q.is_zero()) {
            return Err(invalid("quantum", "must be longer than zero".into()));
        }
        if pol.runnext_limit() == Some(0) {
            return Err(invalid(
                "policy",
                format!("{}: runnext_limit must be at least 1", pol.name()),
            ));
        }
        Ok(Config {
            procs,
            stack_size,
            stack_policy,
            local_queue_capacity: cap,
            steal_permille: ((fraction * 1000.0).round() as u32).max(1),
            steal_rounds: self.steal_rounds.unwrap_or(steal.rounds),
            victim_order: self.victim_order.unwrap_or(steal.order),
            runnext: self.runnext.unwrap_or(true),
            global_queue_interval,
            global_batch: pol.global_batch(),
            runnext_limit: pol.runnext_limit().unwrap_or(u32::MAX),
            spinning: self.spinning.unwrap_or_else(|| pol.spinning()),
            time_slice,
            deadlock_detection: self.deadlock_detection.unwrap_or(true),
            hog_threshold,
            hog_warning,
            max_threads,
            idle_thread_timeout,
            schedtrace,
            scheddetail,
            sigquit_dump,
            latency_sampling,
            trace,
            max_goroutines,
            chaos,
            quantum,
            simulate: self.simulate,
            policy,
        })
    }
}

/// Upper bound on `procs` (Go's is 1024 by default as well, for a different reason).
pub const MAX_PROCS: usize = 1024;
/// Default upper bound on OS threads per runtime (Go's `debug.SetMaxThreads` default).
pub const DEFAULT_MAX_THREADS: usize = 10_000;
/// Upper bound on a goroutine stack (1 GiB, Go's maximum stack).
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// The OS page size, asked once (stack code needs it on every goroutine exit).
pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let cached = PAGE.load(std::sync::atomic::Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let n = if n > 0 { n as usize } else { 4096 };
    PAGE.store(n, std::sync::atomic::Ordering::Relaxed);
    n
}

fn env_bool(var: &'static str) -> Result<Option<bool>, ConfigError> {
    match std::env::var(var) {
        Ok(v) => match v.trim() {
            "1" | "true" | "on" => Ok(Some(true)),
            "0" | "false" | "off" => Ok(Some(false)),
            _ => Err(ConfigError::Env {
                var,
                value: v.clone(),
                reason: "expected 0 or 1".into(),
            }),
        },
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(ConfigError::Env {
            var,
            value: v.to_string_lossy().into_owned(),
            reason: "not valid UTF-8".into(),
        }),
    }
}

fn env_u64(var: &'static str) -> Result<Option<u64>, ConfigError> {
    Ok(env_usize(var)?.map(|n| n as u64))
}

fn env_usize(var: &'static str) -> Result<Option<usize>, ConfigError> {
    match std::env::var(var) {
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .map(Some)
            .map_err(|_| ConfigError::Env {
                var,
                value: v.clone(),
                reason: "expected a whole number".into(),
            }),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(ConfigError::Env {
            var,
            value: v.to_string_lossy().into_owned(),
            reason: "not valid UTF-8".into(),
        }),
    }
}
