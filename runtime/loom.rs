//! The atomics that the model-checked parts of the scheduler (the local run queue and the
//! park state machine) use: `std`'s in a normal build, `loom`'s under `--cfg loom`, so the
//! same code is what runs and what is checked.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32};

pub(crate) use std::sync::atomic::Ordering;
