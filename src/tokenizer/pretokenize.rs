//! Pre-tokenizers (work in progress).
