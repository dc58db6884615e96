//! A small open-addressing hash index over byte strings, built once when a vocabulary loads.
//!
//! llama.cpp keeps `std::unordered_map`s from token text to id and from merge pairs to rank; the
//! core here has no hash-map dependency, so this is the equivalent: a power-of-two table of
//! `u32` entries (linear probing, FNV-1a hashes). The table stores only entry numbers; the
//! caller says how to compare an entry with the key, so token texts and merge pairs live in their
//! own arenas and nothing is copied into the index.

use alloc::vec;
use alloc::vec::Vec;

/// Marks an empty slot.
const EMPTY: u32 = u32::MAX;

/// FNV-1a, 64-bit.
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    hash_continue(0xcbf2_9ce4_8422_2325, bytes)
}

/// Continues an FNV-1a hash over more bytes (for keys made of two strings).
pub(crate) fn hash_continue(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Hash of a key made of two strings, `left` then `right` (a separator byte that cannot occur
/// in UTF-8 keeps `("ab", "c")` and `("a", "bc")` apart most of the time; equality is always
/// checked on both parts).
pub(crate) fn hash_pair(left: &[u8], right: &[u8]) -> u64 {
    let h = hash_continue(hash_bytes(left), &[0xff]);
    hash_continue(h, right)
}

/// Maps a 64-bit hash to entries `0..n` (the entries themselves live elsewhere).
#[derive(Clone)]
pub(crate) struct HashIndex {
    slots: Vec<u32>,
    mask: usize,
}

impl HashIndex {
    /// An index for up to `n` entries (the table is at least twice as large, so probes stay
    /// short).
    pub(crate) fn with_capacity(n: usize) -> HashIndex {
        let size = n.saturating_mul(2).max(16).next_power_of_two();
        HashIndex {
            slots: vec![EMPTY; size],
            mask: size - 1,
        }
    }

    /// The entry whose hash is `hash` and for which `is_key` holds, if any.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = (hash as usize) & self.mask;
        loop {
            let e = self.slots[i];
            if e == EMPTY {
                return None;
            }
            if is_key(e) {
                return Some(e);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Inserts `entry` unless an entry with the same key is present; returns that entry then.
    /// The index must have been made with room for every entry inserted.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        entry: u32,
        mut is_key: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let mut i = (hash as usize) & self.mask;
        loop {
            let e = self.slots[i];
            if e == EMPTY {
                self.slots[i] = entry;
                return None;
            }
            if is_key(e) {
                return Some(e);
            }
            i = (i + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let keys: Vec<Vec<u8>> = (0..1000u32)
            .map(|i| alloc::format!("k{i}").into_bytes())
            .collect();
        let mut index = HashIndex::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let dup = index.insert(hash_bytes(k), i as u32, |e| keys[e as usize] == *k);
            assert_eq!(dup, None);
        }
        // A second insert of the same key reports the first entry.
        assert_eq!(
            index.insert(hash_bytes(b"k7"), 5000, |e| keys[e as usize] == b"k7"),
            Some(7)
        );
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                index.find(hash_bytes(k), |e| keys[e as usize] == *k),
                Some(i as u32)
            );
        }
        assert_eq!(
            index.find(hash_bytes(b"k1000"), |e| keys[e as usize] == b"k1000"),
            None
        );
    }

    #[test]
    fn pair_hash_depends_on_the_split() {
        assert_ne!(hash_pair(b"ab", b"c"), hash_pair(b"a", b"bc"));
    }
}
