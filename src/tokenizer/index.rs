//! A small open-addressing hash index over byte strings, built once when a vocabulary loads.
//!
//! llama.cpp keeps `std::unordered_map`s from token text to id and from merge pairs to rank; the
//! core here has no hash-map dependency, so this is the equivalent: a power-of-two table of
//! `u32` entries (linear probing). The table stores only entry numbers; the caller says how to
//! compare an entry with the key, so token texts and merge pairs live in their own arenas and
//! nothing is copied into the index.
//!
//! The hash is SipHash-1-3 (Rust's own `HashMap` hash) keyed per index, so the slot of a key
//! cannot be known in advance: a vocabulary cannot be made of keys that all land in one probe
//! chain (an unkeyed hash let 131,072 chosen tokens take a minute to load and made tokenizing
//! 300 times slower). With `std` the key comes from the standard library's per-process random
//! keys (`RandomState`); without it, from the table's address and a counter, which is weaker:
//! a `no_std` host that loads untrusted vocabularies should be aware that the key is only as
//! unpredictable as its allocator's addresses.

use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

/// Marks an empty slot.
const EMPTY: u32 = u32::MAX;

/// SipHash with `C` compression rounds and `D` finalization rounds, keyed by `(k0, k1)`, over
/// the bytes written (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012).
#[derive(Clone)]
pub(crate) struct SipHasher<const C: usize, const D: usize> {
    v: [u64; 4],
    /// Bytes not yet compressed (fewer than 8), little-endian in the low bits.
    tail: u64,
    ntail: usize,
    len: u64,
}

impl<const C: usize, const D: usize> SipHasher<C, D> {
    pub(crate) fn new(k0: u64, k1: u64) -> Self {
        SipHasher {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
            tail: 0,
            ntail: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    #[inline(always)]
    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        for _ in 0..C {
            Self::round(&mut self.v);
        }
        self.v[0] ^= m;
    }

    #[inline]
    pub(crate) fn write(&mut self, mut bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u64);
        // Fill the pending word first.
        while self.ntail != 0 && !bytes.is_empty() {
            self.tail |= u64::from(bytes[0]) << (8 * self.ntail);
            self.ntail += 1;
            bytes = &bytes[1..];
            if self.ntail == 8 {
                let m = self.tail;
                self.compress(m);
                self.tail = 0;
                self.ntail = 0;
            }
        }
        if bytes.is_empty() {
            return;
        }
        // Here the pending word is empty.
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.compress(u64::from_le_bytes(b));
        }
        for (i, &b) in words.remainder().iter().enumerate() {
            self.tail |= u64::from(b) << (8 * i);
        }
        self.ntail = words.remainder().len();
    }

    #[inline]
    pub(crate) fn finish(mut self) -> u64 {
        let m = self.tail | ((self.len & 0xff) << 56);
        self.compress(m);
        self.v[2] ^= 0xff;
        for _ in 0..D {
            Self::round(&mut self.v);
        }
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }
}

/// The hash the indexes use: SipHash-1-3, as Rust's `HashMap`.
type Hasher = SipHasher<1, 3>;

/// A fresh key for one index (see the module docs).
fn new_key(salt: usize) -> (u64, u64) {
    #[cfg(feature = "std")]
    {
        use core::hash::BuildHasher;
        // `RandomState::new` takes the thread's random keys (drawn from the OS once) and
        // advances them; two of its hashes give 128 bits no input can predict.
        let state = std::collections::hash_map::RandomState::new();
        (state.hash_one((salt, 0u8)), state.hash_one((salt, 1u8)))
    }
    #[cfg(not(feature = "std"))]
    {
        static COUNTER: AtomicU64 = AtomicU64::new(0x243f_6a88_85a3_08d3);
        let c = COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        let mut h = Hasher::new(c, salt as u64);
        h.write(&(new_key as *const () as usize).to_le_bytes());
        let k0 = h.clone().finish();
        h.write(&[1]);
        (k0, h.finish())
    }
}

/// Maps byte strings (or pairs of them) to entries `0..n` (the entries themselves live
/// elsewhere).
#[derive(Clone)]
pub(crate) struct HashIndex {
    slots: Vec<u32>,
    mask: usize,
    key: (u64, u64),
}

/// Counts the indexes made (a salt for their keys).
static INDEXES: AtomicU64 = AtomicU64::new(0);

impl HashIndex {
    /// An index for up to `n` entries (the table is at least twice as large, so probes stay
    /// short), with a key of its own.
    pub(crate) fn with_capacity(n: usize) -> HashIndex {
        let size = n.saturating_mul(2).max(16).next_power_of_two();
        let slots = vec![EMPTY; size];
        let salt = (slots.as_ptr() as usize) ^ INDEXES.fetch_add(1, Ordering::Relaxed) as usize;
        HashIndex {
            slots,
            mask: size - 1,
            key: new_key(salt),
        }
    }

    /// The hash of a key that is one string.
    #[inline]
    pub(crate) fn hash(&self, bytes: &[u8]) -> u64 {
        let mut h = Hasher::new(self.key.0, self.key.1);
        h.write(bytes);
        h.finish()
    }

    /// The hash of a key made of two strings, `left` then `right` (a separator byte that cannot
    /// occur in UTF-8 keeps `("ab", "c")` and `("a", "bc")` apart most of the time; equality is
    /// always checked on both parts).
    #[inline]
    pub(crate) fn hash_pair(&self, left: &[u8], right: &[u8]) -> u64 {
        let mut h = Hasher::new(self.key.0, self.key.1);
        h.write(left);
        h.write(&[0xff]);
        h.write(right);
        h.finish()
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

    /// The longest run of occupied slots (a probe never goes further): for tests.
    #[cfg(test)]
    fn longest_run(&self) -> usize {
        let mut best = 0;
        let mut run = 0;
        for &s in self.slots.iter().chain(self.slots.iter()) {
            run = if s == EMPTY { 0 } else { run + 1 };
            best = best.max(run);
        }
        best.min(self.slots.len())
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
            let dup = index.insert(index.hash(k), i as u32, |e| keys[e as usize] == *k);
            assert_eq!(dup, None);
        }
        // A second insert of the same key reports the first entry.
        assert_eq!(
            index.insert(index.hash(b"k7"), 5000, |e| keys[e as usize] == b"k7"),
            Some(7)
        );
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                index.find(index.hash(k), |e| keys[e as usize] == *k),
                Some(i as u32)
            );
        }
        assert_eq!(
            index.find(index.hash(b"k1000"), |e| keys[e as usize] == b"k1000"),
            None
        );
    }

    #[test]
    fn pair_hash_depends_on_the_split() {
        let index = HashIndex::with_capacity(4);
        assert_ne!(index.hash_pair(b"ab", b"c"), index.hash_pair(b"a", b"bc"));
        // The pair hash is the hash of the bytes with the separator between.
        assert_eq!(index.hash_pair(b"ab", b"c"), index.hash(b"ab\xffc"));
    }

    /// The reference vectors of the SipHash paper (appendix A: key 00..0f, message 00..0e
    /// gives a129ca6149be45e5 for SipHash-2-4), and the standard library's SipHash-2-4 on
    /// every length from 0 to 63 written in three uneven pieces.
    #[test]
    #[allow(deprecated)]
    fn siphash_matches_the_paper_and_core() {
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let msg: Vec<u8> = (0..64u8).collect();
        let mut h = SipHasher::<2, 4>::new(k0, k1);
        h.write(&msg[..15]);
        assert_eq!(h.finish(), 0xa129_ca61_49be_45e5);
        for n in 0..64 {
            let mut ours = SipHasher::<2, 4>::new(k0, k1);
            // Three writes, the middle one short, so that pieces end inside a word.
            let (a, rest) = msg[..n].split_at(n / 3);
            let (b, c) = rest.split_at(rest.len().min(2));
            ours.write(a);
            ours.write(b);
            ours.write(c);
            let mut core = core::hash::SipHasher::new_with_keys(k0, k1);
            core::hash::Hasher::write(&mut core, &msg[..n]);
            assert_eq!(
                ours.finish(),
                core::hash::Hasher::finish(&core),
                "length {n}"
            );
        }
    }

    #[test]
    fn indexes_have_their_own_keys() {
        let a = HashIndex::with_capacity(16);
        let b = HashIndex::with_capacity(16);
        assert_ne!(a.key, b.key);
        assert_ne!(a.hash(b"token"), b.hash(b"token"));
    }

    /// Keys chosen to collide under an unkeyed hash (here: all with the same FNV-1a low bits,
    /// the slot the old index used) spread out under the keyed one.
    #[test]
    fn chosen_collisions_do_not_make_a_long_probe_chain() {
        let fnv = |bytes: &[u8]| {
            bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        };
        let n = 4096;
        let mask = (2 * n as u64).next_power_of_two() - 1;
        let keys: Vec<Vec<u8>> = (0u64..)
            .map(|i| alloc::format!("t{i}").into_bytes())
            .filter(|k| fnv(k) & mask == 0)
            .take(n)
            .collect();
        let mut index = HashIndex::with_capacity(n);
        for (i, k) in keys.iter().enumerate() {
            index.insert(index.hash(k), i as u32, |e| keys[e as usize] == *k);
        }
        // All 4096 keys shared one FNV slot (a 4096-long chain); keyed, the longest run of
        // occupied slots in a half-full table stays small.
        assert!(index.longest_run() < 64, "{}", index.longest_run());
    }
}
