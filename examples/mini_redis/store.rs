//! The keyspace: byte-string keys and values with optional expiry, split into shards
//! that each sit behind a `gort::sync::Mutex`.
//!
//! Sharding keeps connections on different Ps from queueing on one lock; the lock is a
//! gort one, so a goroutine that finds it taken parks instead of blocking its OS thread.
//! No lock is held across I/O: replies are built into the connection's own buffer.
//!
//! Expiry is lazy, as in Redis: every access checks the deadline and removes a key that
//! has passed it. Keys that are never touched again are removed by [`Store::sweep`],
//! which a helper goroutine calls on one shard at a time.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

use gort::sync::Mutex;

const SHARDS: usize = 16;

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.map_or(true, |t| now < t)
    }
}

type Shard = HashMap<Vec<u8>, Entry>;

/// `SET`'s `NX` / `XX` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetIf {
    Always,
    Missing,
    Present,
}

/// Why `INCR` failed.
#[derive(Debug, PartialEq, Eq)]
pub enum IncrError {
    NotAnInteger,
    Overflow,
}

pub struct Store {
    shards: Box<[Mutex<Shard>]>,
    /// Seeded per process, so clients cannot aim all their keys at one shard.
    hasher: RandomState,
}

impl Store {
    pub fn new() -> Store {
        Store {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// Calls `f` with the live value of `key` (or `None`) while the shard is locked, so
    /// that a large value is copied once, straight into the reply.
    pub fn with_value<R>(&self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        let mut shard = self.shard(key).lock();
        match live(&mut shard, key, Instant::now()) {
            Some(entry) => f(Some(&entry.value)),
            None => f(None),
        }
    }

    /// Stores `value` under `key` unless `cond` says otherwise; true if it was stored.
    pub fn set(&self, key: &[u8], value: Vec<u8>, expires: Option<Instant>, cond: SetIf) -> bool {
        let mut shard = self.shard(key).lock();
        let exists = live(&mut shard, key, Instant::now()).is_some();
        let allowed = match cond {
            SetIf::Always => true,
            SetIf::Missing => !exists,
            SetIf::Present => exists,
        };
        if allowed {
            shard.insert(key.to_vec(), Entry { value, expires });
        }
        allowed
    }

    /// Removes `key`; true if it was there (and live).
    pub fn del(&self, key: &[u8]) -> bool {
        let mut shard = self.shard(key).lock();
        match shard.remove(key) {
            Some(entry) => entry.live(Instant::now()),
            None => false,
        }
    }

    pub fn exists(&self, key: &[u8]) -> bool {
        let mut shard = self.shard(key).lock();
        live(&mut shard, key, Instant::now()).is_some()
    }

    /// Adds `by` to the integer stored at `key` (a missing key counts as 0) and
    /// returns the result; the key keeps its expiry, as in Redis.
    pub fn incr(&self, key: &[u8], by: i64) -> Result<i64, IncrError> {
        let mut shard = self.shard(key).lock();
        let entry = live(&mut shard, key, Instant::now());
        let current = match &entry {
            Some(e) => crate::resp::parse_i64(&e.value).ok_or(IncrError::NotAnInteger)?,
            None => 0,
        };
        let next = current.checked_add(by).ok_or(IncrError::Overflow)?;
        let value = next.to_string().into_bytes();
        match entry {
            Some(e) => e.value = value,
            None => {
                shard.insert(
                    key.to_vec(),
                    Entry {
                        value,
                        expires: None,
                    },
                );
            }
        }
        Ok(next)
    }

    pub fn shard_count(&self) -> usize {
        SHARDS
    }

    /// Drops every expired key of shard `i`; returns how many.
    pub fn sweep(&self, i: usize) -> usize {
        let now = Instant::now();
        let mut shard = self.shards[i % SHARDS].lock();
        let before = shard.len();
        shard.retain(|_, e| e.live(now));
        before - shard.len()
    }
}

/// The entry for `key` if it has not expired; an expired one is removed on the way.
fn live<'a>(shard: &'a mut Shard, key: &[u8], now: Instant) -> Option<&'a mut Entry> {
    if shard.get(key).is_some_and(|e| !e.live(now)) {
        shard.remove(key);
        return None;
    }
    shard.get_mut(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn get(s: &Store, k: &[u8]) -> Option<Vec<u8>> {
        s.with_value(k, |v| v.map(<[u8]>::to_vec))
    }

    #[test]
    fn set_get_del_exists() {
        let s = Store::new();
        assert!(s.set(b"k", b"v".to_vec(), None, SetIf::Always));
        assert_eq!(get(&s, b"k"), Some(b"v".to_vec()));
        assert!(s.exists(b"k"));
        assert!(!s.set(b"k", b"w".to_vec(), None, SetIf::Missing));
        assert!(s.set(b"k", b"w".to_vec(), None, SetIf::Present));
        assert!(!s.set(b"other", b"w".to_vec(), None, SetIf::Present));
        assert!(s.del(b"k"));
        assert!(!s.del(b"k"));
        assert_eq!(get(&s, b"k"), None);
    }

    #[test]
    fn expired_keys_are_gone_on_access_and_by_sweep() {
        let s = Store::new();
        let past = Instant::now() - Duration::from_millis(1);
        s.set(b"a", b"1".to_vec(), Some(past), SetIf::Always);
        assert_eq!(get(&s, b"a"), None);
        assert!(s.set(b"a", b"1".to_vec(), Some(past), SetIf::Missing));
        assert!(!s.exists(b"a"));
        s.set(b"b", b"1".to_vec(), Some(past), SetIf::Always);
        assert_eq!(s.incr(b"b", 1), Ok(1), "an expired counter starts from 0");
        for k in 0..100u32 {
            s.set(&k.to_be_bytes(), vec![], Some(past), SetIf::Always);
        }
        let swept: usize = (0..s.shard_count()).map(|i| s.sweep(i)).sum();
        assert_eq!(swept, 100);
    }

    #[test]
    fn incr_checks_its_input() {
        let s = Store::new();
        assert_eq!(s.incr(b"n", 1), Ok(1));
        assert_eq!(s.incr(b"n", 1), Ok(2));
        s.set(b"t", b"abc".to_vec(), None, SetIf::Always);
        assert_eq!(s.incr(b"t", 1), Err(IncrError::NotAnInteger));
        s.set(b"m", i64::MAX.to_string().into_bytes(), None, SetIf::Always);
        assert_eq!(s.incr(b"m", 1), Err(IncrError::Overflow));
        let later = Instant::now() + Duration::from_secs(60);
        s.set(b"e", b"5".to_vec(), Some(later), SetIf::Always);
        assert_eq!(s.incr(b"e", 1), Ok(6));
    }
}
