//! Token ids -> text: the whole-sequence [`Vocab::detokenize`] (llama.cpp's
//! `llama_detokenize`) and the streaming [`Detokenizer`], which gives the same text piece by
//! piece and never splits a UTF-8 character.
//!
//! Reference: llama.cpp 0c1e570, `src/llama-vocab.cpp` (`llama_vocab::impl::detokenize`,
//! `token_to_piece`).

use alloc::string::String;
use alloc::vec::Vec;

use super::vocab::Vocab;
use crate::error::Result;

/// llama.cpp's `clean_spaces` post-processing over a whole detokenized text, three passes in
/// place, reproduced literally (it is the reference the streaming [`CleanSpaces`] is tested
/// against):
///
/// 1. a space before `?`, `!`, `.` or `,` is removed;
/// 2. `" ' "` becomes `"'"` (the second space is overwritten with a NUL that the following
///    character then sees as its left neighbour);
/// 3. the space of `" 's"`, `" 'm"`, `" 're"`, `" 've"` is removed.
pub(crate) fn clean_spaces_batch(text: &mut Vec<u8>) {
    // Pass 1.
    let n = text.len();
    let mut total = usize::from(n > 0);
    for i in 1..n {
        let x = text[i];
        if text[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        text[total] = x;
        total += 1;
    }
    text.truncate(total);

    // Pass 2.
    let n = text.len();
    let mut total = usize::from(n > 0);
    let mut i = 1;
    while i < n {
        let x = text[i];
        if x == b'\'' && i + 1 < n && text[i - 1] == b' ' && text[i + 1] == b' ' {
            total -= 1;
            i += 1;
            text[i] = 0;
        }
        text[total] = x;
        total += 1;
        i += 1;
    }
    text.truncate(total);

    // Pass 3.
    let n = text.len();
    let mut total = usize::from(n > 0);
    for i in 1..n {
        let x = text[i];
        if text[i - 1] == b' ' && x == b'\'' && i + 1 < n {
            let x1 = text[i + 1];
            if x1 == b's' || x1 == b'm' {
                total -= 1;
            } else if i + 2 < n {
                let x2 = text[i + 2];
                if (x1 == b'r' || x1 == b'v') && x2 == b'e' {
                    total -= 1;
                }
            }
        }
        text[total] = x;
        total += 1;
    }
    text.truncate(total);
}

/// Pass 1 of [`clean_spaces_batch`] as a stream: a space is held until the next byte shows
/// whether it goes.
#[derive(Debug, Clone, Default)]
struct PassPunct {
    space: bool,
}

impl PassPunct {
    fn feed(&mut self, c: u8, emit: &mut impl FnMut(u8)) {
        if self.space {
            self.space = false;
            if !matches!(c, b'?' | b'!' | b'.' | b',') {
                emit(b' ');
            }
        }
        if c == b' ' {
            self.space = true;
        } else {
            emit(c);
        }
    }

    fn finish(&mut self, emit: &mut impl FnMut(u8)) {
        if core::mem::take(&mut self.space) {
            emit(b' ');
        }
    }
}

/// Pass 2 as a stream. States: nothing held, `" "` held, `" '"` held.
#[derive(Debug, Clone, Default)]
struct PassQuote {
    held: u8,
}

impl PassQuote {
    fn feed(&mut self, c: u8, emit: &mut impl FnMut(u8)) {
        match self.held {
            1 => {
                if c == b'\'' {
                    self.held = 2;
                    return;
                }
                emit(b' ');
                self.held = 0;
            }
            2 => {
                self.held = 0;
                if c == b' ' {
                    // " ' " -> "'"; this space is skipped and its slot (now NUL) is what the
                    // next byte sees on its left, so the next byte starts afresh.
                    emit(b'\'');
                    return;
                }
                emit(b' ');
                emit(b'\'');
            }
            _ => {}
        }
        if c == b' ' {
            self.held = 1;
        } else {
            emit(c);
        }
    }

    fn finish(&mut self, emit: &mut impl FnMut(u8)) {
        match core::mem::take(&mut self.held) {
            1 => emit(b' '),
            2 => {
                emit(b' ');
                emit(b'\'');
            }
            _ => {}
        }
    }
}

/// Pass 3 as a stream. States: nothing held, `" "`, `" '"`, `" 'r"` / `" 'v"` held.
#[derive(Debug, Clone, Default)]
struct PassContraction {
    held: u8,
    x1: u8,
}

impl PassContraction {
    fn feed(&mut self, c: u8, emit: &mut impl FnMut(u8)) {
        match self.held {
            1 => {
                if c == b'\'' {
                    self.held = 2;
                    return;
                }
                emit(b' ');
                self.held = 0;
            }
            2 => {
                self.held = 0;
                match c {
                    b's' | b'm' => {
                        emit(b'\'');
                        emit(c);
                        return;
                    }
                    b'r' | b'v' => {
                        self.held = 3;
                        self.x1 = c;
                        return;
                    }
                    _ => {
                        emit(b' ');
                        emit(b'\'');
                    }
                }
            }
            3 => {
                self.held = 0;
                if c == b'e' {
                    emit(b'\'');
                    emit(self.x1);
                    emit(c);
                    return;
                }
                emit(b' ');
                emit(b'\'');
                emit(self.x1);
            }
            _ => {}
        }
        if c == b' ' {
            self.held = 1;
        } else {
            emit(c);
        }
    }

    fn finish(&mut self, emit: &mut impl FnMut(u8)) {
        match core::mem::take(&mut self.held) {
            1 => emit(b' '),
            2 => {
                emit(b' ');
                emit(b'\'');
            }
            3 => {
                emit(b' ');
                emit(b'\'');
                emit(self.x1);
            }
            _ => {}
        }
    }
}

/// llama.cpp's `clean_spaces` post-processing as a byte stream: the three passes of
/// [`clean_spaces_batch`] chained, each holding back at most three bytes until it knows what
/// they become.
#[derive(Debug, Clone, Default)]
pub(crate) struct CleanSpaces {
    p1: PassPunct,
    p2: PassQuote,
    p3: PassContraction,
}

impl CleanSpaces {
    pub(crate) fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let (p2, p3) = (&mut self.p2, &mut self.p3);
        for &c in bytes {
            self.p1.feed(c, &mut |x| {
                p2.feed(x, &mut |y| p3.feed(y, &mut |z| out.push(z)))
            });
        }
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        let (p2, p3) = (&mut self.p2, &mut self.p3);
        self.p1
            .finish(&mut |x| p2.feed(x, &mut |y| p3.feed(y, &mut |z| out.push(z))));
        p2.finish(&mut |y| p3.feed(y, &mut |z| out.push(z)));
        p3.finish(&mut |z| out.push(z));
    }
}

/// Turns a stream of bytes into UTF-8 text, holding back an incomplete character until its last
/// byte arrives.
///
/// Invalid input never panics and is never dropped silently: each maximal invalid sequence
/// becomes one U+FFFD REPLACEMENT CHARACTER, and an incomplete character still pending at
/// [`Utf8Decoder::finish`] becomes one U+FFFD. That is exactly what
/// [`String::from_utf8_lossy`] does, so however the bytes are split into pushes, the
/// concatenated output equals `String::from_utf8_lossy` of all of them.
#[derive(Debug, Clone, Default)]
pub struct Utf8Decoder {
    // At most 3 bytes: the start of a character whose remaining bytes have not arrived.
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// A decoder with nothing pending.
    pub fn new() -> Utf8Decoder {
        Utf8Decoder::default()
    }

    /// Decodes `bytes` after whatever was pending, appending every complete character to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut String) {
        if bytes.is_empty() {
            return;
        }
        if self.pending.is_empty() {
            self.decode(bytes, out);
        } else {
            let mut buf = core::mem::take(&mut self.pending);
            buf.extend_from_slice(bytes);
            self.decode(&buf, out);
        }
    }

    /// Ends the stream: an incomplete character still pending becomes U+FFFD. The decoder is
    /// then empty and can be reused.
    pub fn finish(&mut self, out: &mut String) {
        if !self.pending.is_empty() {
            self.pending.clear();
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }

    /// Whether bytes of an incomplete character are held back.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn decode(&mut self, mut bytes: &[u8], out: &mut String) {
        loop {
            match core::str::from_utf8(bytes) {
                Ok(s) => {
                    out.push_str(s);
                    return;
                }
                Err(e) => {
                    let (valid, rest) = bytes.split_at(e.valid_up_to());
                    if let Ok(s) = core::str::from_utf8(valid) {
                        out.push_str(s);
                    }
                    match e.error_len() {
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            bytes = &rest[n..];
                        }
                        None => {
                            // The input ends inside a character: keep its start for later.
                            self.pending.extend_from_slice(rest);
                            return;
                        }
                    }
                }
            }
        }
    }
}

impl Vocab {
    /// Detokenizes `ids` as `llama_detokenize` does, returning the bytes (possibly not UTF-8:
    /// byte tokens can split a character or be invalid on their own).
    ///
    /// `remove_special`: drop a leading BOS (when [`Vocab::add_bos`]) and a trailing EOS (when
    /// [`Vocab::add_eos`]). `unparse_special`: render control tokens as their text (otherwise
    /// they render as nothing). When [`Vocab::add_space_prefix`] is set, one leading space of the
    /// first token's piece is dropped (the space SPM tokenizing put in front); the first token is
    /// the one after a BOS that `remove_special` removed, and in that case nothing is dropped
    /// (llama.cpp's rule); a first token that renders as nothing uses up the strip. When [`Vocab::clean_spaces`] is set, spaces before `?!.,`, around a lone `'` and
    /// before `'s 'm 're 've` are removed afterwards.
    ///
    /// Fails with [`crate::Error::BadToken`] for an id outside the vocabulary.
    pub fn detokenize(
        &self,
        ids: &[u32],
        remove_special: bool,
        unparse_special: bool,
    ) -> Result<Vec<u8>> {
        let mut ids = ids;
        let mut remove_space = self.add_space_prefix();
        if remove_special && self.add_bos() {
            if let (Some(&first), Some(bos)) = (ids.first(), self.bos()) {
                if first == bos {
                    remove_space = false;
                    ids = &ids[1..];
                }
            }
        }
        if remove_special && self.add_eos() {
            if let (Some(&last), Some(eos)) = (ids.last(), self.eos()) {
                if last == eos {
                    ids = &ids[..ids.len() - 1];
                }
            }
        }
        let mut out = Vec::new();
        for &id in ids {
            let piece = self.token_to_piece(id, unparse_special)?;
            out.extend_from_slice(strip_one_space(piece, remove_space));
            remove_space = false;
        }
        if self.clean_spaces() {
            clean_spaces_batch(&mut out);
        }
        Ok(out)
    }

    /// A streaming detokenizer over this vocabulary (see [`Detokenizer`]).
    pub fn detokenizer(&self, remove_special: bool, unparse_special: bool) -> Detokenizer<'_> {
        Detokenizer::new(self, remove_special, unparse_special)
    }
}

/// `token_to_piece`'s `lstrip`: llama.cpp's detokenizer asks to skip at most one leading space.
fn strip_one_space(piece: &[u8], strip: bool) -> &[u8] {
    match piece {
        [b' ', rest @ ..] if strip => rest,
        _ => piece,
    }
}

/// Streaming detokenization: push token ids as they are generated, get back text as soon as it
/// is certain.
///
/// The text returned by all [`Detokenizer::push`] calls followed by [`Detokenizer::finish`],
/// concatenated, equals `String::from_utf8_lossy(&vocab.detokenize(ids, remove_special,
/// unparse_special)?)` for the same ids, including the leading-space, BOS/EOS and clean-up
/// rules of [`Vocab::detokenize`]. To get there it holds back:
///
/// - the bytes of an incomplete UTF-8 character, until its last byte arrives (byte tokens split
///   characters: `<0xF0> <0x9F> <0xA6> <0x99>` is one emoji);
/// - with `remove_special` and a vocabulary that appends EOS, an EOS token, until another token
///   shows it was not the last;
/// - with a vocabulary that cleans up spaces ([`Vocab::clean_spaces`]), a space or `'` whose
///   fate depends on the next one or two bytes.
///
/// Invalid UTF-8 (a lone byte token such as `<0xFF>`) becomes U+FFFD, as in
/// [`Utf8Decoder`]; nothing panics.
///
/// ```no_run
/// # fn demo(vocab: &llamette::tokenizer::Vocab, ids: &[u32]) -> llamette::Result<()> {
/// let mut detok = vocab.detokenizer(false, false);
/// for &id in ids {
///     print!("{}", detok.push(id)?);
/// }
/// print!("{}", detok.finish());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Detokenizer<'v> {
    vocab: &'v Vocab,
    remove_special: bool,
    unparse_special: bool,
    seen_first: bool,
    remove_space: bool,
    held_eos: Option<u32>,
    clean: Option<CleanSpaces>,
    bytes: Vec<u8>,
    utf8: Utf8Decoder,
    text: String,
}

impl<'v> Detokenizer<'v> {
    /// A detokenizer with the meaning of `remove_special` and `unparse_special` of
    /// [`Vocab::detokenize`].
    pub fn new(vocab: &'v Vocab, remove_special: bool, unparse_special: bool) -> Detokenizer<'v> {
        Detokenizer {
            vocab,
            remove_special,
            unparse_special,
            seen_first: false,
            remove_space: vocab.add_space_prefix(),
            held_eos: None,
            clean: vocab.clean_spaces().then(CleanSpaces::default),
            bytes: Vec::new(),
            utf8: Utf8Decoder::new(),
            text: String::new(),
        }
    }

    /// Adds one token; returns the text that became certain (often the token's piece, possibly
    /// empty, possibly including text held back from earlier tokens). Fails with
    /// [`crate::Error::BadToken`] for an id outside the vocabulary (the state is unchanged then).
    pub fn push(&mut self, id: u32) -> Result<&str> {
        self.vocab.token_to_piece(id, self.unparse_special)?;
        self.text.clear();
        self.bytes.clear();
        let vocab = self.vocab;
        if !self.seen_first {
            self.seen_first = true;
            if self.remove_special && vocab.add_bos() && Some(id) == vocab.bos() {
                self.remove_space = false;
                return Ok(&self.text);
            }
        }
        if let Some(eos) = self.held_eos.take() {
            self.render(eos)?;
        }
        if self.remove_special && vocab.add_eos() && Some(id) == vocab.eos() {
            self.held_eos = Some(id);
        } else {
            self.render(id)?;
        }
        self.drain();
        Ok(&self.text)
    }

    /// Ends the sequence: drops a held-back final EOS (with `remove_special`), releases held
    /// spaces, and turns an incomplete character into U+FFFD. Returns the remaining text. The
    /// detokenizer then starts a new sequence (the leading-space and BOS rules apply again).
    pub fn finish(&mut self) -> &str {
        self.text.clear();
        self.bytes.clear();
        self.held_eos = None;
        if let Some(clean) = &mut self.clean {
            clean.finish(&mut self.bytes);
        }
        self.utf8.push(&self.bytes, &mut self.text);
        self.utf8.finish(&mut self.text);
        self.seen_first = false;
        self.remove_space = self.vocab.add_space_prefix();
        &self.text
    }

    /// Appends token `id`'s piece to `self.bytes`, through the space clean-up.
    fn render(&mut self, id: u32) -> Result<()> {
        let piece = self.vocab.token_to_piece(id, self.unparse_special)?;
        let piece = strip_one_space(piece, self.remove_space);
        self.remove_space = false;
        match &mut self.clean {
            Some(clean) => clean.push(piece, &mut self.bytes),
            None => self.bytes.extend_from_slice(piece),
        }
        Ok(())
    }

    fn drain(&mut self) {
        self.utf8.push(&self.bytes, &mut self.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn stream_clean(chunks: &[&[u8]]) -> Vec<u8> {
        let mut c = CleanSpaces::default();
        let mut out = Vec::new();
        for ch in chunks {
            c.push(ch, &mut out);
        }
        c.finish(&mut out);
        out
    }

    fn batch_clean(s: &[u8]) -> Vec<u8> {
        let mut v = s.to_vec();
        clean_spaces_batch(&mut v);
        v
    }

    #[test]
    fn clean_spaces_examples() {
        assert_eq!(batch_clean(b"Hello , world !"), b"Hello, world!");
        assert_eq!(batch_clean(b"it ' s"), b"it's");
        assert_eq!(batch_clean(b"he 's here , they 're"), b"he's here, they're");
        assert_eq!(batch_clean(b"don 't 'll"), b"don 't 'll");
        assert_eq!(batch_clean(b" ?"), b"?");
        // The NUL left by pass 2 hides the next space from the next apostrophe.
        assert_eq!(batch_clean(b" ' ' "), b"'' ");
        assert_eq!(batch_clean(b""), b"");
    }

    /// Every string over a small alphabet that exercises all three passes, split at every
    /// position: the stream equals the batch reference.
    #[test]
    fn streaming_clean_spaces_equals_batch_at_every_split() {
        let alphabet = [b' ', b'\'', b's', b'r', b'e', b'?', b'x', b'v', b'm'];
        // All strings of length 0..=5 over the alphabet (66430 of them).
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for s in &last {
                for &c in &alphabet {
                    let mut t = s.clone();
                    t.push(c);
                    next.push(t);
                }
            }
            inputs.extend(next.iter().cloned());
            last = next;
        }
        assert!(inputs.len() > 50_000);
        for s in &inputs {
            let want = batch_clean(s);
            assert_eq!(stream_clean(&[s]), want, "{:?}", String::from_utf8_lossy(s));
            for k in 0..=s.len() {
                assert_eq!(stream_clean(&[&s[..k], &s[k..]]), want);
            }
            let bytes: Vec<&[u8]> = s.chunks(1).collect();
            assert_eq!(stream_clean(&bytes), want);
        }
    }

    #[test]
    fn utf8_decoder_holds_incomplete_characters() {
        let mut d = Utf8Decoder::new();
        let mut out = String::new();
        d.push(&[0xf0, 0x9f], &mut out);
        assert_eq!(out, "");
        assert!(d.has_pending());
        d.push(&[0xa6], &mut out);
        assert_eq!(out, "");
        d.push(&[0x99, b'!'], &mut out);
        assert_eq!(out, "🦙!");
        d.finish(&mut out);
        assert_eq!(out, "🦙!");
    }

    #[test]
    fn utf8_decoder_matches_from_utf8_lossy_at_every_split() {
        let cases: [&[u8]; 6] = [
            "h€llo 🦙 wörld".as_bytes(),
            b"\xff\xfe abc \xc3",
            b"\xe2\x82 x \xf0\x9f\xa6",
            b"\xed\xa0\x80 surrogate",
            b"\xf4\x90\x80\x80 too big \xc0\xaf overlong",
            b"\x80\x80\xe2\x82\xac\xe2",
        ];
        for bytes in cases {
            let want = String::from_utf8_lossy(bytes).into_owned();
            for k in 0..=bytes.len() {
                for j in k..=bytes.len() {
                    let mut d = Utf8Decoder::new();
                    let mut out = String::new();
                    d.push(&bytes[..k], &mut out);
                    d.push(&bytes[k..j], &mut out);
                    d.push(&bytes[j..], &mut out);
                    d.finish(&mut out);
                    assert_eq!(out, want, "{bytes:?} split at {k}, {j}");
                }
            }
        }
    }
}
