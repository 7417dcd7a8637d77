//! The `n` largest items of a stream by a key, kept in O(n) memory (the summary's top
//! tens over millions of runs and goroutines).

/// Keeps the `n` items with the largest keys seen; on equal keys, the first seen.
#[derive(Clone, Debug)]
pub struct TopN<T> {
    n: usize,
    items: Vec<(u64, T)>,
}

impl<T> TopN<T> {
    /// Keeps at most `n` items.
    pub fn new(n: usize) -> Self {
        TopN {
            n,
            items: Vec::with_capacity(n),
        }
    }

    /// The index and key of the item a better one would replace (`None` while there
    /// is room).
    fn floor(&self) -> Option<(usize, u64)> {
        if self.items.len() < self.n {
            return None;
        }
        // Linear: `n` is ten or so; the fast rejection below skips most calls.
        self.items
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (i, *k))
            .min_by_key(|&(i, k)| (k, std::cmp::Reverse(i)))
    }

    /// Whether an item with `key` would get in: lets callers skip building it.
    pub fn wants(&self, key: u64) -> bool {
        self.n > 0 && self.floor().map_or(true, |(_, min)| key > min)
    }

    /// Offers an item.
    pub fn push(&mut self, key: u64, item: T) {
        if self.n == 0 {
            return;
        }
        match self.floor() {
            None => self.items.push((key, item)),
            Some((i, min)) if key > min => self.items[i] = (key, item),
            Some(_) => {}
        }
    }

    /// The items kept, largest key first (equal keys: first seen first).
    pub fn into_sorted(self) -> Vec<(u64, T)> {
        let mut items: Vec<(usize, (u64, T))> = self.items.into_iter().enumerate().collect();
        // The index breaks ties only among survivors: good enough for a report.
        items.sort_by_key(|(i, (k, _))| (std::cmp::Reverse(*k), *i));
        items.into_iter().map(|(_, item)| item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::TopN;

    #[test]
    fn keeps_the_largest() {
        let mut t = TopN::new(3);
        for (k, v) in [(5, 'a'), (1, 'b'), (9, 'c'), (7, 'd'), (5, 'e'), (2, 'f')] {
            t.push(k, v);
        }
        assert!(t.wants(6));
        assert!(!t.wants(5));
        assert_eq!(t.into_sorted(), vec![(9, 'c'), (7, 'd'), (5, 'a')]);
    }
}
