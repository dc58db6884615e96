//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`), as llama.cpp's `llm_tokenizer_bpe_session`.
//!
//! Each raw-text fragment is split into words by the pre-tokenizer (llama.cpp's
//! `unicode_regex_split`); every word is mapped byte by byte to printable characters (GPT-2's
//! `bytes_to_unicode`, llama.cpp's `unicode_byte_to_utf8`), cut into UTF-8 characters, and the
//! adjacent pair with the lowest merge rank is merged until no ranked pair is left (ties: the
//! leftmost pair). Each final symbol that is a token is emitted; one that is not falls back to
//! its single bytes, which are emitted only where a one-byte token exists.
//!
//! Reference: llama.cpp 0c1e570, `src/llama-vocab.cpp` (`llm_tokenizer_bpe_session::tokenize`,
//! `add_new_bigram`, `llm_bigram_bpe::comparator`) and `src/unicode.cpp`
//! (`unicode_byte_to_utf8_map`, `unicode_utf8_to_byte_map`).

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::ops::Range;

use super::vocab::Vocab;

/// No neighbour.
const NONE: usize = usize::MAX;

/// The code point GPT-2's byte-to-unicode table gives each byte: printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100.. in byte order.
const fn byte_to_cp_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut n = 0u16;
    let mut b = 0usize;
    while b < 256 {
        let printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        if printable {
            table[b] = b as u16;
        } else {
            table[b] = 256 + n;
            n += 1;
        }
        b += 1;
    }
    table
}

const BYTE_TO_CP: [u16; 256] = byte_to_cp_table();

/// Number of code points the table produces: 0..=0x143.
const N_CP: usize = 256 + 68;

/// The inverse table: code point -> byte, or -1 where no byte maps to it.
const fn cp_to_byte_table() -> [i16; N_CP] {
    let mut table = [-1i16; N_CP];
    let mut b = 0usize;
    while b < 256 {
        table[BYTE_TO_CP[b] as usize] = b as i16;
        b += 1;
    }
    table
}

const CP_TO_BYTE: [i16; N_CP] = cp_to_byte_table();

/// Appends the UTF-8 encoding of byte `b`'s stand-in character (`unicode_byte_to_utf8`).
#[inline]
pub(crate) fn push_byte_char(b: u8, out: &mut Vec<u8>) {
    let cp = BYTE_TO_CP[b as usize];
    if cp < 0x80 {
        out.push(cp as u8);
    } else {
        // Every stand-in is below U+0800: two bytes.
        out.push(0xc0 | (cp >> 6) as u8);
        out.push(0x80 | (cp & 0x3f) as u8);
    }
}

/// The byte a stand-in character decodes to (`unicode_utf8_to_byte`), if it is one.
#[inline]
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as usize;
    if cp < N_CP && CP_TO_BYTE[cp] >= 0 {
        Some(CP_TO_BYTE[cp] as u8)
    } else {
        None
    }
}

/// Length of the UTF-8 sequence a lead byte announces (`unicode_len_utf8`: continuation bytes
/// count as 1).
#[inline]
pub(crate) fn utf8_len(lead: u8) -> usize {
    const LOOKUP: [u8; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    LOOKUP[(lead >> 4) as usize] as usize
}

/// One symbol of the word being merged: a byte range of the word, linked to its neighbours.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    n: usize,
    prev: usize,
    next: usize,
}

/// A candidate merge of two adjacent symbols.
struct Bigram {
    left: usize,
    right: usize,
    rank: u32,
    size: usize,
}

// `BinaryHeap` pops the greatest element; llama.cpp's comparator puts the lowest rank on top,
// and among equal ranks the leftmost pair.
impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .rank
            .cmp(&self.rank)
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

/// Scratch space for tokenizing one text; reused across its words.
pub(crate) struct BpeSession<'v> {
    vocab: &'v Vocab,
    ranges: Vec<Range<usize>>,
    word: Vec<u8>,
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Bigram>,
}

impl<'v> BpeSession<'v> {
    pub(crate) fn new(vocab: &'v Vocab) -> BpeSession<'v> {
        BpeSession {
            vocab,
            ranges: Vec::new(),
            word: Vec::new(),
            symbols: Vec::new(),
            queue: BinaryHeap::new(),
        }
    }

    /// Tokenizes one raw-text fragment (already whitespace-escaped where the vocabulary wants
    /// that), appending ids to `out`.
    pub(crate) fn tokenize(&mut self, text: &str, out: &mut Vec<u32>) {
        let vocab = self.vocab;
        let mut ranges = core::mem::take(&mut self.ranges);
        ranges.clear();
        vocab.pre_split(text, &mut ranges);
        for r in ranges.iter() {
            let Some(word) = text.as_bytes().get(r.clone()) else {
                continue;
            };
            self.word.clear();
            if vocab.byte_encode() {
                for &b in word {
                    push_byte_char(b, &mut self.word);
                }
            } else {
                self.word.extend_from_slice(word);
            }
            self.merge_word();
            self.emit_word(out);
        }
        self.ranges = ranges;
    }

    /// Runs the merges over `self.word`, leaving the final symbols in `self.symbols`.
    fn merge_word(&mut self) {
        let vocab = self.vocab;
        let word = &self.word;
        self.symbols.clear();
        self.queue.clear();

        let mut offset = 0;
        let whole_word_token = || vocab.token_id_bytes(word).is_some();
        if (vocab.ignore_merges() && whole_word_token())
            || (vocab.newline_words_whole()
                && word.iter().all(|&b| b == b'\n')
                && whole_word_token())
        {
            self.symbols.push(Symbol {
                start: 0,
                n: word.len(),
                prev: NONE,
                next: NONE,
            });
            offset = word.len();
        }
        while offset < word.len() {
            let n = utf8_len(word[offset]).min(word.len() - offset);
            let index = self.symbols.len();
            self.symbols.push(Symbol {
                start: offset,
                n,
                prev: if index == 0 { NONE } else { index - 1 },
                next: if offset + n == word.len() {
                    NONE
                } else {
                    index + 1
                },
            });
            offset += n;
        }

        for i in 1..self.symbols.len() {
            self.add_bigram(i - 1, i);
        }

        while let Some(bigram) = self.queue.pop() {
            let left = self.symbols[bigram.left];
            let right = self.symbols[bigram.right];
            // Skip pairs that went stale: one side was merged away, or the right side grew
            // (llama.cpp compares the texts; the left side's start never moves and the right
            // side's start is fixed, so equal sizes mean equal texts).
            if left.n == 0 || right.n == 0 || left.n + right.n != bigram.size {
                continue;
            }
            self.symbols[bigram.left].n += right.n;
            self.symbols[bigram.right].n = 0;
            self.symbols[bigram.left].next = right.next;
            if right.next != NONE {
                self.symbols[right.next].prev = bigram.left;
            }
            let prev = self.symbols[bigram.left].prev;
            let next = self.symbols[bigram.left].next;
            self.add_bigram(prev, bigram.left);
            self.add_bigram(bigram.left, next);
        }
    }

    fn add_bigram(&mut self, left: usize, right: usize) {
        if left == NONE || right == NONE {
            return;
        }
        let l = self.symbols[left];
        let r = self.symbols[right];
        let left_text = &self.word[l.start..l.start + l.n];
        let right_text = &self.word[r.start..r.start + r.n];
        if let Some(rank) = self.vocab.merge_rank(left_text, right_text) {
            self.queue.push(Bigram {
                left,
                right,
                rank,
                size: l.n + r.n,
            });
        }
    }

    /// Emits the final symbols of the word: as tokens, or byte by byte where a symbol is not
    /// a token (bytes without a token of their own are dropped, as in llama.cpp).
    fn emit_word(&self, out: &mut Vec<u32>) {
        let vocab = self.vocab;
        for sym in self.symbols.iter().filter(|s| s.n > 0) {
            let text = &self.word[sym.start..sym.start + sym.n];
            match vocab.token_id_bytes(text) {
                Some(id) => out.push(id),
                None => {
                    for &b in text {
                        let id = if vocab.byte_encode() {
                            vocab.token_id_bytes(&[b])
                        } else {
                            vocab.token_id_bytes(&hex_byte_token(b))
                        };
                        if let Some(id) = id {
                            out.push(id);
                        }
                    }
                }
            }
        }
    }
}

/// The text of a byte-fallback token, `<0xAB>` (upper-case hex, as llama.cpp writes it).
pub(crate) fn hex_byte_token(b: u8) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    [
        b'<',
        b'0',
        b'x',
        HEX[(b >> 4) as usize],
        HEX[(b & 15) as usize],
        b'>',
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn byte_table_matches_gpt2() {
        // GPT-2's bytes_to_unicode: ' ' -> 'Ġ' (U+0120), '\n' -> 'Ċ' (U+010A), 'a' -> 'a',
        // 0xAD -> U+0143 (the last stand-in), 0xFF -> 'ÿ'.
        let enc = |b: u8| {
            let mut v = Vec::new();
            push_byte_char(b, &mut v);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(enc(b' '), "Ġ");
        assert_eq!(enc(b'\n'), "Ċ");
        assert_eq!(enc(b'a'), "a");
        assert_eq!(enc(0xad), "\u{143}");
        assert_eq!(enc(0xff), "ÿ");
        assert_eq!(enc(0), "\u{100}");
        // The map is a bijection onto 256 distinct characters, and char_to_byte inverts it.
        let mut seen = alloc::collections::BTreeSet::new();
        for b in 0..=255u8 {
            let s = enc(b);
            let c = s.chars().next().unwrap();
            assert_eq!(s.chars().count(), 1);
            assert!(seen.insert(c));
            assert_eq!(char_to_byte(c), Some(b));
        }
        assert_eq!(char_to_byte('\u{144}'), None);
        assert_eq!(char_to_byte(' '), None);
        assert_eq!(char_to_byte('€'), None);
    }

    #[test]
    fn utf8_len_follows_the_lead_byte() {
        assert_eq!(utf8_len(b'a'), 1);
        assert_eq!(utf8_len(0x80), 1);
        assert_eq!(utf8_len(0xc3), 2);
        assert_eq!(utf8_len(0xe2), 3);
        assert_eq!(utf8_len(0xf0), 4);
    }

    #[test]
    fn hex_byte_token_is_upper_case() {
        assert_eq!(&hex_byte_token(0x0a), b"<0x0A>");
        assert_eq!(&hex_byte_token(0xfe), b"<0xFE>");
    }
}
