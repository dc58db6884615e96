//! Unicode character classes (work in progress).
