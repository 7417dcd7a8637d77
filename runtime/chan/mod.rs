//! Channels: Go's way to hand values between goroutines (and plain threads).
