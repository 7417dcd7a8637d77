//! Goroutine-aware synchronisation: every blocking call parks the goroutine, never the
//! OS thread (on a plain thread it blocks the thread).
