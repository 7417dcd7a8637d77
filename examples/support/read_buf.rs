//! A connection's input buffer for request parsers that work on byte slices.
//!
//! Bytes are read into the free tail, parsers look at [`ReadBuf::filled`] and report how
//! much they used, and [`ReadBuf::consume`] drops it. Kept separate from `Vec::drain`
//! because that moves the remaining bytes after every request; here they move only when
//! the tail runs out of room, and the buffer is zeroed only when it grows.

// Shared by several examples, and not each of them calls every method.
#![allow(dead_code)]

use std::io::{self, Read};

/// Above this size an emptied buffer is given back to the allocator, so one large
/// request does not pin its memory for the rest of the connection.
const SHRINK_ABOVE: usize = 256 * 1024;

pub struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    initial: usize,
}

impl ReadBuf {
    pub fn new(initial: usize) -> Self {
        ReadBuf {
            data: vec![0; initial],
            start: 0,
            end: 0,
            initial,
        }
    }

    /// The bytes read and not yet consumed.
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Drops the first `n` filled bytes.
    pub fn consume(&mut self, n: usize) {
        assert!(n <= self.len(), "consumed more than was filled");
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.data.len() > SHRINK_ABOVE {
                self.data = vec![0; self.initial];
            }
        }
    }

    /// One `read` into the buffer with room for at least `room` new bytes; returns the
    /// number read (0 at end of stream). Only the filled bytes count toward memory
    /// bounds, so callers cap `len()`, not `room`.
    pub fn read_from<R: Read>(&mut self, reader: &mut R, room: usize) -> io::Result<usize> {
        if self.data.len() - self.end < room {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.data.len() - self.end < room {
                self.data.resize(self.end + room, 0);
            }
        }
        let n = reader.read(&mut self.data[self.end..])?;
        self.end += n;
        Ok(n)
    }
}
