//! A bounds-checked little-endian cursor over the file's bytes.
//!
//! Every read checks the bytes that are actually present, with overflow-safe arithmetic, and
//! fails with [`Error::Truncated`] naming what was being read and where.

use alloc::string::{String, ToString};

use crate::error::{Error, Result};

/// A position in a byte slice that only moves forward through checked reads.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    pub(crate) fn at(bytes: &'a [u8], pos: usize) -> Self {
        Cursor { bytes, pos }
    }

    /// The current offset from the start of the bytes.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes from `start` (an earlier position) to the current position.
    pub(crate) fn since(&self, start: usize) -> &'a [u8] {
        &self.bytes[start.min(self.pos)..self.pos]
    }

    /// Bytes left after the current position.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// Takes the next `n` bytes; `what` describes them for the error.
    pub(crate) fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8]> {
        let available = self.remaining();
        match usize::try_from(n) {
            Ok(n) if n <= available => {
                let s = &self.bytes[self.pos..self.pos + n];
                self.pos += n;
                Ok(s)
            }
            _ => Err(Error::Truncated {
                what: what(),
                offset: self.pos as u64,
                needed: n,
                available: available as u64,
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self, what: &dyn Fn() -> String) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &dyn Fn() -> String) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A GGUF string: a u64 length, then that many bytes of UTF-8. Returns the offset of the
    /// string's bytes and the string.
    pub(crate) fn string(&mut self, what: &dyn Fn() -> String) -> Result<(usize, &'a str)> {
        let len = self.u64(&|| {
            let mut s = what();
            s.push_str(" (length)");
            s
        })?;
        let start = self.pos;
        let bytes = self.take(len, what)?;
        match core::str::from_utf8(bytes) {
            Ok(s) => Ok((start, s)),
            Err(_) => Err(Error::InvalidUtf8 {
                what: what(),
                offset: start as u64,
            }),
        }
    }
}

/// Builds a description lazily (errors are rare; descriptions cost an allocation).
pub(crate) fn describe(s: &str) -> impl Fn() -> String + '_ {
    move || s.to_string()
}
