//! The one error type of the crate.
//!
//! Every variant names what was wrong and where: the metadata key, the tensor name, the byte
//! offset in the file. Malformed input is always an `Err`, never a panic.

use alloc::string::String;
use core::fmt;

/// Everything that can go wrong in llamette.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes end before a structure that should be there.
    Truncated {
        /// What was being read (for example "tensor info" or "metadata value of 'general.name'").
        what: String,
        /// Byte offset in the file where it starts.
        offset: u64,
        /// Bytes needed from `offset`.
        needed: u64,
        /// Bytes present from `offset`.
        available: u64,
    },
    /// The file does not start with the `GGUF` magic.
    BadMagic {
        /// The first four bytes found.
        found: [u8; 4],
    },
    /// A GGUF version this library does not read (only 2 and 3 are supported).
    UnsupportedVersion {
        /// The version number in the header.
        version: u32,
    },
    /// A count in the file is larger than the bytes present could possibly hold.
    ImplausibleCount {
        /// What is being counted ("tensors", "metadata entries", "elements of array 'x'", ...).
        what: String,
        /// The count in the file.
        count: u64,
        /// Byte offset of the count.
        offset: u64,
    },
    /// More of something than this library allows (see the `MAX_` constants: tensors,
    /// metadata entries, tokens); the format itself sets no limit.
    TooMany {
        /// What is counted, and where.
        what: String,
        /// The count in the input.
        count: u64,
        /// The most allowed.
        max: u64,
    },
    /// A string in the file is not valid UTF-8.
    InvalidUtf8 {
        /// Which string ("metadata key", "value of 'tokenizer.ggml.tokens'", "tensor name").
        what: String,
        /// Byte offset of the string's bytes.
        offset: u64,
    },
    /// A metadata value type number that GGUF does not define.
    UnknownValueType {
        /// The metadata key whose value (or array element) has that type.
        key: String,
        /// The type number found.
        type_id: u32,
        /// Byte offset of the type number.
        offset: u64,
    },
    /// A metadata key appears twice.
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// A metadata value is malformed in a way other than its type (for example a bad alignment).
    BadMetadata {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor type number that ggml does not define (or has removed).
    UnknownTensorType {
        /// The tensor.
        tensor: String,
        /// The type number found.
        type_id: u32,
    },
    /// A tensor entry is malformed: bad shape, misaligned or out-of-range offset, overlap.
    BadTensor {
        /// The tensor.
        tensor: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two tensors have the same name.
    DuplicateTensor {
        /// The name.
        tensor: String,
    },
    /// A metadata key that was asked for is not in the file.
    MissingKey {
        /// The key.
        key: String,
    },
    /// A metadata key holds a value of another type than the one asked for.
    WrongType {
        /// The key.
        key: String,
        /// The type asked for.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A tensor that was asked for is not in the file.
    MissingTensor {
        /// The name.
        tensor: String,
    },
    /// A tensor type this build cannot compute with (it can still be read and inspected).
    UnsupportedType {
        /// The ggml type name, for example "IQ2_XXS".
        type_name: &'static str,
        /// What was asked of it ("dequantize", "vec_dot", "quantize").
        operation: &'static str,
    },
    /// Buffers of the wrong length were passed to a kernel.
    LengthMismatch {
        /// What was being done.
        what: &'static str,
        /// The length expected.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The model's architecture (`general.architecture`) is not one llamette runs.
    UnsupportedArchitecture {
        /// The architecture named in the file.
        arch: String,
    },
    /// The model is inconsistent in a way no single key or tensor explains (parts that do not
    /// fit together, hyperparameters that contradict each other).
    BadModel {
        /// What is wrong.
        reason: String,
    },
    /// Context parameters that cannot work (zero context, zero batch, ...).
    BadParams {
        /// What is wrong.
        reason: String,
    },
    /// A buffer handed over by the host is smaller than needed.
    BufferTooSmall {
        /// Bytes needed (see `Context::required_bytes`).
        needed: usize,
        /// Bytes given.
        given: usize,
    },
    /// Evaluating the tokens would pass the end of the context.
    ContextFull {
        /// The context size.
        n_ctx: usize,
        /// Positions the evaluation would need.
        needed: usize,
    },
    /// A token id outside the vocabulary.
    BadToken {
        /// The id.
        token: u32,
        /// The vocabulary size.
        n_vocab: usize,
    },
    /// A conversation that breaks its chat format's rules.
    BadChat {
        /// Index of the offending message.
        message: usize,
        /// What is wrong.
        reason: String,
    },
    /// A chat template (the GGUF file's Jinja `tokenizer.chat_template`, or one given by the
    /// host) that does not parse, calls a function, filter, test or method that is not
    /// supported, raises an exception itself (`raise_exception`), or cannot be rendered for
    /// these messages.
    Template {
        /// What is wrong and where: the unsupported name, the template's own message, and the
        /// line of the template.
        reason: String,
    },
    /// Memory the library asked the allocator for, sized by the input (a context's KV cache,
    /// a copy of tensors), could not be had, or is more than the machine has.
    OutOfMemory {
        /// What the memory was for.
        what: String,
        /// Bytes asked for.
        bytes: usize,
        /// The machine's memory and swap in bytes, where the request was refused for being
        /// larger (std on Linux); `None` where the allocator refused it.
        limit: Option<u64>,
    },
    /// A grammar, JSON schema or regular expression that cannot be used as a constraint.
    BadGrammar {
        /// What is wrong and where: line and column of a GBNF grammar, the JSON pointer or
        /// position in a JSON schema, the offset in a regular expression.
        reason: String,
    },
    /// A sampling constraint (a grammar) allows no token at this step: the text so far can no
    /// longer be completed, or the grammar engine gave up. Generation turns it into
    /// [`StopReason::Constraint`](crate::generate::StopReason::Constraint).
    ConstraintFailed {
        /// Why no token is allowed.
        reason: String,
    },
    /// A saved context or sequence state that cannot be restored here: not a state, another
    /// version, from another model or KV type, truncated or corrupted (its checksum), or
    /// holding more than the context can take. The context is left as it was.
    BadState {
        /// What is wrong.
        reason: String,
    },
    /// An operating-system I/O error (std only), with the path it concerned.
    Io {
        /// The path.
        path: String,
        /// The system's message.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated {
                what,
                offset,
                needed,
                available,
            } => write!(
                f,
                "truncated file: {what} at offset {offset} needs {needed} bytes, {available} present"
            ),
            Error::BadMagic { found } => write!(
                f,
                "not a GGUF file: magic is {:02x} {:02x} {:02x} {:02x}, expected 'GGUF'",
                found[0], found[1], found[2], found[3]
            ),
            Error::UnsupportedVersion { version } => {
                if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
                    write!(f, "big-endian GGUF files are not supported (version field {version:#x})")
                } else {
                    write!(f, "unsupported GGUF version {version} (only versions 2 and 3 are read)")
                }
            }
            Error::ImplausibleCount {
                what,
                count,
                offset,
            } => write!(
                f,
                "implausible count at offset {offset}: {count} {what} cannot fit in the file"
            ),
            Error::TooMany { what, count, max } => {
                write!(f, "{count} {what}: at most {max} are allowed")
            }
            Error::InvalidUtf8 { what, offset } => {
                write!(f, "{what} at offset {offset} is not valid UTF-8")
            }
            Error::UnknownValueType {
                key,
                type_id,
                offset,
            } => write!(
                f,
                "metadata '{key}': unknown value type {type_id} at offset {offset}"
            ),
            Error::DuplicateKey { key } => write!(f, "metadata key '{key}' appears twice"),
            Error::BadMetadata { key, reason } => write!(f, "metadata '{key}': {reason}"),
            Error::UnknownTensorType { tensor, type_id } => {
                write!(f, "tensor {tensor}: unknown tensor type {type_id}")
            }
            Error::BadTensor { tensor, reason } => write!(f, "tensor {tensor}: {reason}"),
            Error::DuplicateTensor { tensor } => write!(f, "tensor {tensor} appears twice"),
            Error::MissingKey { key } => write!(f, "metadata key '{key}' is missing"),
            Error::WrongType {
                key,
                expected,
                found,
            } => write!(f, "metadata '{key}': expected {expected}, found {found}"),
            Error::MissingTensor { tensor } => write!(f, "tensor {tensor} is missing"),
            Error::UnsupportedType {
                type_name,
                operation,
            } => write!(f, "{operation} is not supported for tensor type {type_name}"),
            Error::LengthMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected length {expected}, got {found}"),
            Error::UnsupportedArchitecture { arch } => write!(
                f,
                "unsupported architecture '{arch}' (llamette runs: llama)"
            ),
            Error::BadModel { reason } => write!(f, "bad model: {reason}"),
            Error::BadParams { reason } => write!(f, "bad parameters: {reason}"),
            Error::BufferTooSmall { needed, given } => write!(
                f,
                "buffer too small: {needed} bytes needed, {given} given"
            ),
            Error::ContextFull { n_ctx, needed } => write!(
                f,
                "context full: {needed} positions needed, the context holds {n_ctx}"
            ),
            Error::BadToken { token, n_vocab } => write!(
                f,
                "token id {token} is outside the vocabulary of {n_vocab} tokens"
            ),
            Error::BadChat { message, reason } => write!(f, "chat message {message}: {reason}"),
            Error::Template { reason } => write!(f, "chat template: {reason}"),
            Error::OutOfMemory { what, bytes, limit } => {
                let gib = |b: f64| b / (1u64 << 30) as f64;
                write!(
                    f,
                    "out of memory: {what} needs {bytes} bytes ({:.1} GiB), ",
                    gib(*bytes as f64)
                )?;
                match limit {
                    Some(l) => write!(
                        f,
                        "more than this machine's memory and swap ({l} bytes, {:.1} GiB)",
                        gib(*l as f64)
                    ),
                    None => write!(f, "which the allocator refused"),
                }
            }
            Error::BadState { reason } => write!(f, "bad state: {reason}"),
            Error::BadGrammar { reason } => write!(f, "bad grammar: {reason}"),
            Error::ConstraintFailed { reason } => {
                write!(f, "the constraint allows no token: {reason}")
            }
            Error::Io { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
