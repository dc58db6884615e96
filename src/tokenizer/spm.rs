//! SentencePiece-style BPE (`tokenizer.ggml.model = "llama"`), as llama.cpp's
//! `llm_tokenizer_spm_session`.
//!
//! The (already `▁`-escaped) text is cut into UTF-8 characters; every adjacent pair whose
//! concatenation is a token goes into a queue ordered by that token's score (highest first, ties:
//! the leftmost pair); pairs are merged until the queue is empty. Each final symbol is emitted as
//! its token, or, when it is not one, as byte-fallback tokens (`<0xAB>`, else the one-byte token).
//!
//! llama.cpp's `resegment` also consults a reverse-merge map for symbols that are not tokens;
//! every merged symbol is a token (a pair is only queued when its text is one) and a single
//! character can never be the text of a pair, so for UTF-8 input that branch is never taken and
//! is not reproduced here.
//!
//! Reference: llama.cpp 0c1e570, `src/llama-vocab.cpp` (`llm_tokenizer_spm_session`,
//! `llm_bigram_spm::comparator`, `llama_vocab::byte_to_token`).

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Ordering;

use super::bpe::utf8_len;
use super::vocab::Vocab;
use crate::error::Result;

/// No neighbour.
const NONE: usize = usize::MAX;

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    n: usize,
    prev: usize,
    next: usize,
}

struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    size: usize,
}

// llama.cpp: `(l.score < r.score) || (l.score == r.score && l.left > r.left)` is "less", so the
// top of the (max-)queue has the highest score and, among equal scores, the smallest `left`.
impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

/// Tokenizes `text` (whitespace already escaped to `▁`), appending ids to `out`.
///
/// Fails only when a character that is not a token needs a byte token the vocabulary lacks
/// (llama.cpp throws `std::out_of_range` there).
pub(crate) fn tokenize(vocab: &Vocab, text: &[u8], out: &mut Vec<u32>) -> Result<()> {
    let mut symbols: Vec<Symbol> = Vec::new();
    let mut offset = 0;
    while offset < text.len() {
        let n = utf8_len(text[offset]).min(text.len() - offset);
        let index = symbols.len();
        symbols.push(Symbol {
            start: offset,
            n,
            prev: if index == 0 { NONE } else { index - 1 },
            next: if offset + n == text.len() {
                NONE
            } else {
                index + 1
            },
        });
        offset += n;
    }

    let mut queue = BinaryHeap::new();
    let try_add =
        |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: usize, right: usize| {
            if left == NONE || right == NONE {
                return;
            }
            let l = symbols[left];
            let size = l.n + symbols[right].n;
            if let Some(id) = vocab.token_id_bytes(&text[l.start..l.start + size]) {
                queue.push(Bigram {
                    left,
                    right,
                    score: vocab.score_of(id),
                    size,
                });
            }
        };

    for i in 1..symbols.len() {
        try_add(&mut queue, &symbols, i - 1, i);
    }

    while let Some(bigram) = queue.pop() {
        let left = symbols[bigram.left];
        let right = symbols[bigram.right];
        // One of the two was merged into something else since this pair was queued.
        if left.n == 0 || right.n == 0 || left.n + right.n != bigram.size {
            continue;
        }
        symbols[bigram.left].n += right.n;
        symbols[bigram.right].n = 0;
        symbols[bigram.left].next = right.next;
        if right.next != NONE {
            symbols[right.next].prev = bigram.left;
        }
        let prev = symbols[bigram.left].prev;
        let next = symbols[bigram.left].next;
        try_add(&mut queue, &symbols, prev, bigram.left);
        try_add(&mut queue, &symbols, bigram.left, next);
    }

    let mut i = if symbols.is_empty() { NONE } else { 0 };
    while i != NONE {
        let sym = symbols[i];
        let piece = &text[sym.start..sym.start + sym.n];
        match vocab.token_id_bytes(piece) {
            Some(id) => out.push(id),
            None => {
                for &b in piece {
                    out.push(vocab.byte_to_token(b)?);
                }
            }
        }
        i = sym.next;
    }
    Ok(())
}
