//! The GGUF file format (placeholder; the reader lands in the next commit).
