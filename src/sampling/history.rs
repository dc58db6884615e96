//! The recent-token window the penalties look at (`ring_buffer<llama_token> prev` in
//! `llama_sampler_penalties`).

use alloc::vec::Vec;

/// The last `capacity` accepted tokens, oldest first: a fixed-size ring buffer that never
/// allocates after creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHistory {
    /// Grows to `capacity` once, then is overwritten in place.
    buf: Vec<u32>,
    capacity: usize,
    /// Index of the oldest token once `buf` is full (0 before).
    head: usize,
}

impl TokenHistory {
    /// An empty window of `capacity` tokens, or `None` when the memory cannot be reserved.
    pub(super) fn try_new(capacity: usize) -> Option<Self> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(capacity).ok()?;
        Some(Self {
            buf,
            capacity,
            head: 0,
        })
    }

    /// Appends `token`; returns the oldest token when it had to make room for it. A window of
    /// capacity 0 keeps nothing.
    pub(super) fn push(&mut self, token: u32) -> Option<u32> {
        if self.capacity == 0 {
            return None;
        }
        if self.buf.len() < self.capacity {
            self.buf.push(token);
            return None;
        }
        let evicted = core::mem::replace(&mut self.buf[self.head], token);
        self.head = (self.head + 1) % self.capacity;
        Some(evicted)
    }

    /// Forgets every token (keeps the memory).
    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
    }

    /// How many tokens the window holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many tokens it holds now.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The tokens as two slices, oldest first: the first slice, then the second.
    pub fn as_slices(&self) -> (&[u32], &[u32]) {
        let (newer, older) = self.buf.split_at(self.head);
        (older, newer)
    }

    /// The token `i` places before the newest (`0` is the newest; `ring_buffer::rat` in
    /// llama.cpp). `i` must be below [`len`](Self::len).
    pub(super) fn rat(&self, i: usize) -> u32 {
        let n = self.buf.len();
        debug_assert!(i < n);
        // Logical index n - 1 - i, oldest first, stored at (head + that) % n.
        let at = self.head + (n - 1 - i);
        self.buf[if at >= n { at - n } else { at }]
    }

    /// The tokens, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (a, b) = self.as_slices();
        a.iter().chain(b).copied()
    }
}
