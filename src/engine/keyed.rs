//! State per key for keys `0..n` (user ids): a `Vec` when `n` is small, a
//! `BTreeMap` of the keys actually used when it is large, so that a scenario
//! with four billion API keys costs memory per user seen, not per user that
//! could exist. Every key starts at `T::default()`.

use std::collections::BTreeMap;

/// Above this many keys, state is kept only for the keys used.
const DENSE_MAX: u32 = 1 << 16;

#[derive(Clone, Debug)]
pub enum Keyed<T> {
    Dense(Vec<T>),
    Sparse(BTreeMap<u32, T>),
}

impl<T: Clone + Default + PartialEq> Keyed<T> {
    /// State for keys `0..n`.
    pub fn new(n: u32) -> Self {
        if n <= DENSE_MAX { Keyed::Dense(vec![T::default(); n as usize]) } else { Keyed::Sparse(BTreeMap::new()) }
    }

    /// The state of `key` (which must be below `n`), created on first use.
    #[inline]
    pub fn get_mut(&mut self, key: u32) -> &mut T {
        match self {
            Keyed::Dense(v) => &mut v[key as usize],
            Keyed::Sparse(m) => m.entry(key).or_default(),
        }
    }

    /// The state of `key`, or the default if it was never used.
    #[inline]
    pub fn get(&self, key: u32) -> T {
        match self {
            Keyed::Dense(v) => v[key as usize].clone(),
            Keyed::Sparse(m) => m.get(&key).cloned().unwrap_or_default(),
        }
    }

    /// Every key back to its default.
    pub fn reset(&mut self) {
        match self {
            Keyed::Dense(v) => v.iter_mut().for_each(|x| *x = T::default()),
            Keyed::Sparse(m) => m.clear(),
        }
    }

    /// The keys whose state is not the default, in key order.
    pub fn used(&self) -> Vec<(u32, &T)> {
        let default = T::default();
        match self {
            Keyed::Dense(v) => {
                v.iter().enumerate().filter(|(_, x)| **x != default).map(|(k, x)| (k as u32, x)).collect()
            }
            Keyed::Sparse(m) => m.iter().filter(|(_, x)| **x != default).map(|(k, x)| (*k, x)).collect(),
        }
    }

    /// The bytes `Keyed::new(n)` holds once `used` distinct keys were touched.
    pub fn memory_bytes(n: u32, used: u64) -> u64 {
        let size = std::mem::size_of::<T>() as u64;
        if n <= DENSE_MAX {
            u64::from(n) * size
        } else {
            // A B-tree entry: the key, the value and about half a node's overhead.
            used.min(u64::from(n)).saturating_mul(size + 4 + 16)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_behave_alike() {
        for n in [10, DENSE_MAX + 1, u32::MAX] {
            let mut k: Keyed<u64> = Keyed::new(n);
            assert_eq!(k.get(7), 0);
            *k.get_mut(7) += 3;
            *k.get_mut(2) += 1;
            assert_eq!(k.get(7), 3);
            assert_eq!(k.used(), [(2, &1), (7, &3)]);
            k.reset();
            assert!(k.used().is_empty());
        }
        assert!(matches!(Keyed::<u64>::new(u32::MAX), Keyed::Sparse(_)));
    }
}
