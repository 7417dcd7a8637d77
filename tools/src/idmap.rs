//! A map from ids (goroutines, Ms, Ps) to per-id state.
//!
//! Ids are handed out in sequence, so a `Vec` indexed by id is both the fastest and the
//! smallest map for them: a skynet trace touches a million goroutines several times
//! each. An id far past the dense part (a trace begun mid-run, a foreign numbering)
//! goes to a `HashMap` instead, so one odd id cannot make the `Vec` huge.

use std::collections::HashMap;

/// Ids below this always go to the `Vec`.
const DENSE_FLOOR: u64 = 1 << 16;

/// Per-id values, each created with `T::default()` the first time it is asked for.
#[derive(Debug)]
pub struct IdMap<T> {
    dense: Vec<Option<T>>,
    sparse: HashMap<u64, T>,
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        IdMap {
            dense: Vec::new(),
            sparse: HashMap::new(),
        }
    }
}

impl<T: Default> IdMap<T> {
    /// The value of `id`, created if absent.
    pub fn entry(&mut self, id: u64) -> &mut T {
        // Growing to twice the current length keeps sequential ids dense without
        // letting one large id allocate a huge vector.
        let limit = DENSE_FLOOR.max(2 * self.dense.len() as u64);
        if id < limit {
            let i = id as usize;
            if i >= self.dense.len() {
                self.dense.resize_with(i + 1, || None);
            }
            self.dense[i].get_or_insert_with(T::default)
        } else {
            self.sparse.entry(id).or_default()
        }
    }
}

impl<T> IdMap<T> {
    /// The value of `id`, if it was ever created.
    pub fn get(&self, id: u64) -> Option<&T> {
        match self.dense.get(id as usize) {
            Some(slot) => slot.as_ref(),
            None => self.sparse.get(&id),
        }
    }

    /// The value of `id` for changing, if it was ever created.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        match self.dense.get_mut(id as usize) {
            Some(slot) => slot.as_mut(),
            None => self.sparse.get_mut(&id),
        }
    }

    /// Every (id, value), dense ids in order first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i as u64, v)));
        dense.chain(self.sparse.iter().map(|(&id, v)| (id, v)))
    }

    /// Every value, for changing.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        let dense = self.dense.iter_mut().flatten();
        dense.chain(self.sparse.values_mut())
    }

    /// How many ids have a value.
    pub fn len(&self) -> usize {
        self.dense.iter().filter(|v| v.is_some()).count() + self.sparse.len()
    }

    /// Whether no id has a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::IdMap;

    #[test]
    fn dense_and_sparse_ids_both_work() {
        let mut m: IdMap<u32> = IdMap::default();
        *m.entry(3) += 1;
        *m.entry(3) += 1;
        *m.entry(u64::MAX) = 7; // far away: must not grow the vector
        assert_eq!(m.get(3), Some(&2));
        assert_eq!(m.get(4), None);
        assert_eq!(m.get(u64::MAX), Some(&7));
        assert!(m.dense.len() < 1 << 17);
        let all: Vec<_> = m.iter().collect();
        assert_eq!(all, vec![(3, &2), (u64::MAX, &7)]);
        assert_eq!(m.len(), 2);
    }
}
