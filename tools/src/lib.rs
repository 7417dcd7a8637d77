//! Tools for gort. `gort-trace` turns an execution trace (`GORT_TRACE=FILE`) into
//! Chrome Trace Event JSON for Perfetto, chrome://tracing or speedscope
//! ([`trace_json`]) and into a text summary ([`trace_summary`]).
//!
//! Both replay the trace's events through [`replay::Replay`], which rebuilds goroutine
//! runs, readiness and states, and counts the [`anomaly`]s it meets.

pub mod anomaly;
pub mod args;
pub mod chrome;
pub mod counter;
pub mod describe;
pub mod idmap;
pub mod lab;
pub mod replay;
pub mod topn;
pub mod trace_json;
pub mod trace_summary;
