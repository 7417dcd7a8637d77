//! `std::fs` for goroutines: every call runs as [`blocking`](crate::blocking) work.
