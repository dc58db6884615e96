//! The GGUF file format: header, typed metadata, tensor table, data section.
//!
//! [`GgufFile::from_bytes`] parses a file the host already holds in memory (an mmap, a buffer,
//! an Android asset) without copying it: metadata strings, arrays and tensor data are handed out
//! as slices of those bytes. Under `std` + `mmap`, [`GgufFile::open`] maps a file and keeps the
//! mapping alive inside the `GgufFile`.
//!
//! Everything in the header is checked against the bytes actually present before it is used:
//! every count, length and offset, with overflow-safe arithmetic. Collections grow only as
//! entries actually parse, so an absurd count (2^60 tensors) fails on the bytes, never as a huge
//! allocation. Strings must be UTF-8; tensor types must be known to ggml; tensor data must be
//! aligned, inside the file, and must not overlap another tensor's.
//!
//! Format reference: llama.cpp's `ggml/src/gguf.cpp` (`gguf_init_from_file_impl`) and
//! `docs/gguf.md`. Versions 2 and 3 are read (version 1 used 32-bit counts and is rejected);
//! big-endian files are rejected with their own message.
//!
//! Models stored in several parts (llama.cpp's gguf-split shards, or raw byte splits that a user
//! would `cat` together) are read by a later layer over several `GgufFile`s or over the parts'
//! bytes: [`TensorInfo::file_offset`] gives each tensor's absolute place in its file so that
//! layer can locate a tensor that straddles a cut.

mod reader;
pub mod writer;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::quant::GgmlType;
use reader::{describe, Cursor};

pub use writer::Writer;

/// The four bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u32 = 32;
/// The most tensors a file may describe (1,048,576; a 70B llama has 723, the largest published
/// mixtures of experts a few thousand). GGUF sets no limit; this one bounds the memory the index
/// of a file takes (about 100 bytes a tensor), whatever its size.
pub const MAX_TENSORS: usize = 1 << 20;

/// The most metadata entries a file may have (1,048,576; models have a few dozen, an array
/// being one entry). Bounds the index's memory as [`MAX_TENSORS`] does.
pub const MAX_METADATA: usize = 1 << 20;

/// The most dimensions a tensor may have (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;
/// How deeply arrays may nest inside arrays. GGUF files in the wild use one level; the limit
/// keeps a hostile file from exhausting the stack.
pub const MAX_ARRAY_NESTING: usize = 8;

/// The type of a metadata value, with GGUF's numbers (`enum gguf_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Unsigned 8-bit integer.
    U8 = 0,
    /// Signed 8-bit integer.
    I8 = 1,
    /// Unsigned 16-bit integer.
    U16 = 2,
    /// Signed 16-bit integer.
    I16 = 3,
    /// Unsigned 32-bit integer.
    U32 = 4,
    /// Signed 32-bit integer.
    I32 = 5,
    /// 32-bit float.
    F32 = 6,
    /// Boolean stored as one byte (0 or 1).
    Bool = 7,
    /// UTF-8 string with a u64 length.
    String = 8,
    /// Array: element type, u64 count, elements.
    Array = 9,
    /// Unsigned 64-bit integer.
    U64 = 10,
    /// Signed 64-bit integer.
    I64 = 11,
    /// 64-bit float.
    F64 = 12,
}

impl ValueType {
    /// The type with GGUF's number `id`.
    pub fn from_u32(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// GGUF's short name for the type (`gguf_type_name`): "u32", "str", "arr", ...
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "str",
            Array => "arr",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }

    /// Bytes of one value of a fixed-size type; `None` for strings and arrays.
    pub fn fixed_size(self) -> Option<usize> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }

    /// The fewest bytes one value of this type can take in a file (an empty string is its
    /// 8-byte length; an empty array is its type and count). Used to reject counts the file
    /// cannot hold.
    fn min_size(self) -> usize {
        match self {
            ValueType::String => 8,
            ValueType::Array => 12,
            t => t.fixed_size().unwrap_or(1),
        }
    }
}

/// A metadata value, borrowing strings and arrays from the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'s> {
    /// u8.
    U8(u8),
    /// i8.
    I8(i8),
    /// u16.
    U16(u16),
    /// i16.
    I16(i16),
    /// u32.
    U32(u32),
    /// i32.
    I32(i32),
    /// f32.
    F32(f32),
    /// bool.
    Bool(bool),
    /// A string.
    String(&'s str),
    /// An array.
    Array(Array<'s>),
    /// u64.
    U64(u64),
    /// i64.
    I64(i64),
    /// f64.
    F64(f64),
}

impl<'s> Value<'s> {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// The value as a signed 128-bit integer, for integer types (lossless for all of them).
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v.into(),
            Value::I8(v) => v.into(),
            Value::U16(v) => v.into(),
            Value::I16(v) => v.into(),
            Value::U32(v) => v.into(),
            Value::I32(v) => v.into(),
            Value::U64(v) => v.into(),
            Value::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// The value as f64, for float types (f32 widens exactly).
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The string, for string values.
    pub fn as_str(&self) -> Option<&'s str> {
        match *self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The array, for array values.
    pub fn as_array(&self) -> Option<Array<'s>> {
        match *self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// A metadata array: its element type, its length, and its elements' bytes in the file.
///
/// Elements are decoded as they are read, so a 32000-entry token list costs nothing until it is
/// used. The bytes were validated when the file was parsed (every string is UTF-8, every nested
/// array is complete), so reading never fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Array<'s> {
    elem: ValueType,
    len: usize,
    bytes: &'s [u8],
}

impl<'s> Array<'s> {
    /// The element type.
    pub fn elem_type(&self) -> ValueType {
        self.elem
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The raw bytes of the elements (little-endian; strings with their u64 lengths).
    pub fn raw_bytes(&self) -> &'s [u8] {
        self.bytes
    }

    /// All elements in order.
    pub fn iter(&self) -> ArrayIter<'s> {
        ArrayIter {
            elem: self.elem,
            left: self.len,
            cur: Cursor::new(self.bytes),
        }
    }

    /// Element `i`: in constant time for fixed-size types, by walking for strings and arrays.
    pub fn get(&self, i: usize) -> Option<Value<'s>> {
        if i >= self.len {
            return None;
        }
        match self.elem.fixed_size() {
            Some(size) => {
                let mut cur = Cursor::at(self.bytes, i * size);
                read_value(&mut cur, self.elem, "", 0).ok()
            }
            None => self.iter().nth(i),
        }
    }

    /// The elements as strings, when the element type is `String`.
    pub fn strings(&self) -> Option<impl Iterator<Item = &'s str> + 's> {
        (self.elem == ValueType::String).then(|| self.iter().filter_map(|v| v.as_str()))
    }

    /// The elements as f32, when the element type is `F32`.
    pub fn f32s(&self) -> Option<impl Iterator<Item = f32> + 's> {
        (self.elem == ValueType::F32).then(|| {
            self.bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        })
    }

    /// The elements as i64, when the element type is any integer type.
    pub fn integers(&self) -> Option<impl Iterator<Item = i64> + 's> {
        let integral = !matches!(
            self.elem,
            ValueType::F32
                | ValueType::F64
                | ValueType::Bool
                | ValueType::String
                | ValueType::Array
        );
        // u64 values above i64::MAX do not occur in practice; they saturate rather than wrap.
        integral.then(|| {
            self.iter()
                .filter_map(|v| v.as_integer())
                .map(|v| v.clamp(i64::MIN.into(), i64::MAX.into()) as i64)
        })
    }
}

/// Iterator over an [`Array`]'s elements.
pub struct ArrayIter<'s> {
    elem: ValueType,
    left: usize,
    cur: Cursor<'s>,
}

impl<'s> Iterator for ArrayIter<'s> {
    type Item = Value<'s>;

    fn next(&mut self) -> Option<Value<'s>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated at parse time, so this succeeds; on the impossible failure
        // the iteration simply ends.
        match read_value(&mut self.cur, self.elem, "", 0) {
            Ok(v) => Some(v),
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ArrayIter<'_> {}

/// Reads one value of type `ty` at the cursor. `key` and `depth` are for errors and the nesting
/// limit. Used both to validate at parse time and to decode afterwards.
fn read_value<'a>(
    cur: &mut Cursor<'a>,
    ty: ValueType,
    key: &str,
    depth: usize,
) -> Result<Value<'a>> {
    let what = || format!("value of '{key}'");
    Ok(match ty {
        ValueType::U8 => Value::U8(cur.u8(&what)?),
        ValueType::I8 => Value::I8(cur.u8(&what)? as i8),
        ValueType::U16 => Value::U16(cur.u16(&what)?),
        ValueType::I16 => Value::I16(cur.u16(&what)? as i16),
        ValueType::U32 => Value::U32(cur.u32(&what)?),
        ValueType::I32 => Value::I32(cur.u32(&what)? as i32),
        ValueType::F32 => Value::F32(f32::from_bits(cur.u32(&what)?)),
        ValueType::Bool => {
            let at = cur.pos();
            match cur.u8(&what)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(Error::BadMetadata {
                        key: key.to_string(),
                        reason: format!("boolean byte {b} at offset {at} is neither 0 nor 1"),
                    })
                }
            }
        }
        ValueType::String => Value::String(cur.string(&what)?.1),
        ValueType::U64 => Value::U64(cur.u64(&what)?),
        ValueType::I64 => Value::I64(cur.u64(&what)? as i64),
        ValueType::F64 => Value::F64(f64::from_bits(cur.u64(&what)?)),
        ValueType::Array => {
            if depth >= MAX_ARRAY_NESTING {
                return Err(Error::BadMetadata {
                    key: key.to_string(),
                    reason: format!("arrays nested more than {MAX_ARRAY_NESTING} deep"),
                });
            }
            let type_at = cur.pos();
            let elem_id = cur.u32(&|| format!("array element type of '{key}'"))?;
            let elem = ValueType::from_u32(elem_id).ok_or_else(|| Error::UnknownValueType {
                key: key.to_string(),
                type_id: elem_id,
                offset: type_at as u64,
            })?;
            let count_at = cur.pos();
            let count = cur.u64(&|| format!("array length of '{key}'"))?;
            // Each element takes at least `min_size` bytes: reject counts the rest of the file
            // cannot hold before walking (or trusting) them.
            let plausible = (count as u128) * (elem.min_size() as u128) <= cur.remaining() as u128;
            if !plausible {
                return Err(Error::ImplausibleCount {
                    what: format!("elements of array '{key}'"),
                    count,
                    offset: count_at as u64,
                });
            }
            let len = count as usize; // fits: bounded by the bytes present
            let start = cur.pos();
            match elem.fixed_size() {
                Some(size) => {
                    let data = cur.take((len * size) as u64, &what)?;
                    // Booleans are checked here as a scalar's are, so iterating an array can
                    // never meet a byte it cannot decode.
                    if elem == ValueType::Bool {
                        if let Some(i) = data.iter().position(|&b| b > 1) {
                            return Err(Error::BadMetadata {
                                key: key.to_string(),
                                reason: format!(
                                    "boolean byte {} of element {i} (offset {}) is neither 0 nor 1",
                                    data[i],
                                    start + i
                                ),
                            });
                        }
                    }
                }
                None => {
                    for _ in 0..len {
                        read_value(cur, elem, key, depth + 1)?;
                    }
                }
            }
            let bytes = cur.since(start);
            Value::Array(Array { elem, len, bytes })
        }
    })
}

/// A tensor's entry in the tensor table, with its data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorInfo<'s> {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub name: &'s str,
    /// The element type.
    pub ggml_type: GgmlType,
    dims: [u64; MAX_DIMS],
    n_dims: usize,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    data_offset: u64,
    /// The tensor's bytes: borrowed, never copied.
    pub data: &'s [u8],
}

impl<'s> TensorInfo<'s> {
    /// The shape, fastest-varying dimension first (ggml's `ne`): a matrix of `rows` rows of
    /// `cols` elements is `[cols, rows]`.
    pub fn dims(&self) -> &[u64] {
        &self.dims[..self.n_dims]
    }

    /// The number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims().iter().product()
    }

    /// The number of bytes of data.
    pub fn n_bytes(&self) -> usize {
        self.data.len()
    }

    /// The offset of the data from the start of the file.
    pub fn file_offset(&self) -> u64 {
        self.data_offset + self.offset
    }
}

/// Where the parsed strings and values live: offsets into the file's bytes, so that a
/// `GgufFile` can own its mapping without borrowing from itself.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

#[derive(Debug, Clone, Copy)]
struct MetaEntry {
    key: Span,
    /// Offset of the value's type number.
    value_at: usize,
    ty: ValueType,
}

#[derive(Debug, Clone, Copy)]
struct TensorEntry {
    name: Span,
    ty: GgmlType,
    dims: [u64; MAX_DIMS],
    n_dims: usize,
    offset: u64,
    size: usize,
}

/// Bytes a parsed file lives in: borrowed from the host, owned, or a memory map.
pub(crate) enum Storage<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    #[cfg(feature = "mmap")]
    Mapped(memmap2::Mmap),
    /// A file's bytes copied into anonymous memory ([`read_file_resident`]).
    #[cfg(feature = "mmap")]
    Resident(memmap2::MmapMut),
}

impl Storage<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Borrowed(b) => b,
            Storage::Owned(v) => v,
            #[cfg(feature = "mmap")]
            Storage::Mapped(m) => m,
            #[cfg(feature = "mmap")]
            Storage::Resident(m) => m,
        }
    }
}

/// A parsed GGUF header: metadata and the tensor table, with tensor *locations* only.
///
/// This is what a GGUF file is before its tensor data is reachable as one slice: a model whose
/// bytes are cut into several parts (see [`GgufHeader::from_prefix`]) has its header in the
/// first part and its tensors anywhere. A [`GgufFile`] is a header whose bytes hold the whole
/// file, and dereferences to its header for the metadata accessors.
pub struct GgufHeader<'a> {
    storage: Storage<'a>,
    version: u32,
    alignment: u32,
    data_offset: u64,
    total_len: u64,
    metadata: Vec<MetaEntry>,
    tensors: Vec<TensorEntry>,
    /// Metadata entry numbers sorted by key, and tensor numbers sorted by name: lookups are
    /// binary searches, so a file with many entries costs `n log n` to load, never `n^2`.
    meta_by_key: Vec<u32>,
    tensor_by_name: Vec<u32>,
}

impl core::fmt::Debug for GgufHeader<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GgufHeader")
            .field("version", &self.version)
            .field("header_bytes", &self.bytes().len())
            .field("file_bytes", &self.total_len)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

/// Where a tensor's bytes are in its file, without the bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorLocation<'s> {
    /// The tensor's name.
    pub name: &'s str,
    /// The element type.
    pub ggml_type: GgmlType,
    dims: [u64; MAX_DIMS],
    n_dims: usize,
    /// Offset of the data from the start of the file.
    pub file_offset: u64,
    /// Length of the data in bytes.
    pub n_bytes: usize,
}

impl TensorLocation<'_> {
    /// The shape, fastest-varying dimension first (ggml's `ne`).
    pub fn dims(&self) -> &[u64] {
        &self.dims[..self.n_dims]
    }

    /// The number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims().iter().product()
    }
}

impl<'a> GgufHeader<'a> {
    /// Parses the header of a file of `total_len` bytes from its first bytes, `prefix`,
    /// borrowing them. Tensor locations are checked against `total_len` (they may lie past the
    /// prefix). Fails with [`Error::Truncated`] when the header does not fit in the prefix; the
    /// error's offset and length say how much more is needed.
    pub fn from_prefix(prefix: &'a [u8], total_len: u64) -> Result<GgufHeader<'a>> {
        GgufHeader::parse(Storage::Borrowed(prefix), total_len)
    }

    /// As [`GgufHeader::from_prefix`], owning the prefix (for a header copied together from
    /// several parts).
    pub fn from_prefix_vec(prefix: Vec<u8>, total_len: u64) -> Result<GgufHeader<'static>> {
        GgufHeader::parse(Storage::Owned(prefix), total_len)
    }

    pub(crate) fn parse(storage: Storage<'a>, total_len: u64) -> Result<GgufHeader<'a>> {
        let index = Index::parse(storage.bytes(), total_len)?;
        let bytes = storage.bytes();
        let span = |s: Span| &bytes[s.start..s.start + s.len];
        // The counts were checked against the bytes: they fit in u32.
        let meta_by_key = sorted_order(&index.metadata, |e| span(e.key));
        let tensor_by_name = sorted_order(&index.tensors, |t| span(t.name));
        Ok(GgufHeader {
            storage,
            version: index.version,
            alignment: index.alignment,
            data_offset: index.data_offset,
            total_len,
            metadata: index.metadata,
            tensors: index.tensors,
            meta_by_key,
            tensor_by_name,
        })
    }

    fn span_bytes(&self, s: Span) -> &[u8] {
        &self.bytes()[s.start..s.start + s.len]
    }

    /// The metadata entry whose key is `key` (binary search over the sorted keys).
    fn meta_entry(&self, key: &str) -> Option<&MetaEntry> {
        find_sorted(&self.meta_by_key, &self.metadata, key.as_bytes(), |e| {
            self.span_bytes(e.key)
        })
    }

    /// The tensor entry named `name` (binary search over the sorted names).
    fn tensor_entry(&self, name: &str) -> Option<&TensorEntry> {
        find_sorted(&self.tensor_by_name, &self.tensors, name.as_bytes(), |t| {
            self.span_bytes(t.name)
        })
    }

    /// The length of the whole file the header describes.
    pub fn file_len(&self) -> u64 {
        self.total_len
    }

    /// The bytes that hold the header (for a [`GgufFile`], the whole file).
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The alignment of tensor data (`general.alignment`, default 32).
    pub fn alignment(&self) -> u32 {
        self.alignment
    }

    /// Offset of the data section from the start of the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    fn span_str(&self, s: Span) -> &str {
        // Spans were validated as UTF-8 at parse time over these same bytes.
        core::str::from_utf8(&self.bytes()[s.start..s.start + s.len]).unwrap_or("")
    }

    fn entry_value(&self, e: &MetaEntry) -> Value<'_> {
        let mut cur = Cursor::at(self.bytes(), e.value_at);
        // Validated at parse time; the fallback is unreachable.
        read_value(&mut cur, e.ty, "", 0).unwrap_or(Value::U8(0))
    }

    /// The number of metadata entries.
    pub fn metadata_len(&self) -> usize {
        self.metadata.len()
    }

    /// Every metadata entry, in file order.
    pub fn metadata(&self) -> impl Iterator<Item = (&str, Value<'_>)> + '_ {
        self.metadata
            .iter()
            .map(move |e| (self.span_str(e.key), self.entry_value(e)))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<Value<'_>> {
        self.meta_entry(key).map(|e| self.entry_value(e))
    }

    fn integer<T: TryFrom<i128>>(&self, key: &str, expected: &'static str) -> Result<Option<T>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let wrong = || Error::WrongType {
            key: key.to_string(),
            expected,
            found: v.value_type().name(),
        };
        let i = v.as_integer().ok_or_else(wrong)?;
        T::try_from(i).map(Some).map_err(|_| Error::BadMetadata {
            key: key.to_string(),
            reason: format!("value {i} does not fit in {expected}"),
        })
    }

    /// `key` as u32: any integer type whose value fits. Errors name the key when it is
    /// missing, not an integer, or out of range.
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        self.integer(key, "u32")?.ok_or_else(|| missing(key))
    }

    /// `key` as u32 if present (errors only for a wrong type or range).
    pub fn get_u32_opt(&self, key: &str) -> Result<Option<u32>> {
        self.integer(key, "u32")
    }

    /// `key` as u64: any integer type whose value fits.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.integer(key, "u64")?.ok_or_else(|| missing(key))
    }

    /// `key` as i32: any integer type whose value fits.
    pub fn get_i32(&self, key: &str) -> Result<i32> {
        self.integer(key, "i32")?.ok_or_else(|| missing(key))
    }

    /// `key` as f32: an f32, or an f64 rounded to f32.
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        self.get_f32_opt(key)?.ok_or_else(|| missing(key))
    }

    /// `key` as f32 if present.
    pub fn get_f32_opt(&self, key: &str) -> Result<Option<f32>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        v.as_float()
            .map(|f| Some(f as f32))
            .ok_or_else(|| Error::WrongType {
                key: key.to_string(),
                expected: "f32",
                found: v.value_type().name(),
            })
    }

    /// `key` as a bool.
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        self.get_bool_opt(key)?.ok_or_else(|| missing(key))
    }

    /// `key` as a bool if present.
    pub fn get_bool_opt(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(v) => Err(Error::WrongType {
                key: key.to_string(),
                expected: "bool",
                found: v.value_type().name(),
            }),
        }
    }

    /// `key` as a string.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        self.get_str_opt(key)?.ok_or_else(|| missing(key))
    }

    /// `key` as a string if present.
    pub fn get_str_opt(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(Error::WrongType {
                key: key.to_string(),
                expected: "str",
                found: v.value_type().name(),
            }),
        }
    }

    /// `key` as an array.
    pub fn get_array(&self, key: &str) -> Result<Array<'_>> {
        self.get_array_opt(key)?.ok_or_else(|| missing(key))
    }

    /// `key` as an array if present.
    pub fn get_array_opt(&self, key: &str) -> Result<Option<Array<'_>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(Error::WrongType {
                key: key.to_string(),
                expected: "arr",
                found: v.value_type().name(),
            }),
        }
    }

    /// The number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    fn location(&self, t: &TensorEntry) -> TensorLocation<'_> {
        TensorLocation {
            name: self.span_str(t.name),
            ggml_type: t.ty,
            dims: t.dims,
            n_dims: t.n_dims,
            file_offset: self.data_offset + t.offset,
            n_bytes: t.size,
        }
    }

    /// Where every tensor is, in the order of the tensor table.
    pub fn tensor_locations(&self) -> impl Iterator<Item = TensorLocation<'_>> + '_ {
        self.tensors.iter().map(move |t| self.location(t))
    }

    /// Where the tensor named `name` is, if present.
    pub fn tensor_location(&self, name: &str) -> Option<TensorLocation<'_>> {
        self.tensor_entry(name).map(|t| self.location(t))
    }
}

/// A parsed GGUF file: the bytes plus an index of its metadata and tensors.
///
/// It dereferences to [`GgufHeader`] for the metadata accessors (`get_u32`, `get_str`, ...).
pub struct GgufFile<'a> {
    header: GgufHeader<'a>,
}

impl core::fmt::Debug for GgufFile<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("GgufFile").field(&self.header).finish()
    }
}

impl<'a> core::ops::Deref for GgufFile<'a> {
    type Target = GgufHeader<'a>;

    fn deref(&self) -> &GgufHeader<'a> {
        &self.header
    }
}

impl<'a> GgufFile<'a> {
    /// Parses and validates a GGUF file held in memory, borrowing it (zero copy).
    pub fn from_bytes(bytes: &'a [u8]) -> Result<GgufFile<'a>> {
        Self::parse(Storage::Borrowed(bytes))
    }

    /// Parses and validates a GGUF file, taking ownership of its bytes.
    pub fn from_vec(bytes: Vec<u8>) -> Result<GgufFile<'static>> {
        GgufFile::parse(Storage::Owned(bytes))
    }

    /// Maps the file at `path` into memory and parses it. The mapping lives as long as the
    /// returned `GgufFile`.
    ///
    /// The file must not be truncated or modified by anyone while it is mapped: the operating
    /// system would then change (or invalidate) bytes this library has validated.
    #[cfg(feature = "mmap")]
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<GgufFile<'static>> {
        GgufFile::parse(Storage::Mapped(map_file(path.as_ref())?))
    }

    fn parse(storage: Storage<'a>) -> Result<GgufFile<'a>> {
        let len = storage.bytes().len() as u64;
        Ok(GgufFile {
            header: GgufHeader::parse(storage, len)?,
        })
    }

    /// The header: metadata and tensor locations.
    pub fn header(&self) -> &GgufHeader<'a> {
        &self.header
    }

    fn info(&self, t: &TensorEntry) -> TensorInfo<'_> {
        let start = self.header.data_offset as usize + t.offset as usize; // validated at parse time
        TensorInfo {
            name: self.header.span_str(t.name),
            ggml_type: t.ty,
            dims: t.dims,
            n_dims: t.n_dims,
            offset: t.offset,
            data_offset: self.header.data_offset,
            data: &self.bytes()[start..start + t.size],
        }
    }

    /// Every tensor, in the order of the tensor table.
    pub fn tensors(&self) -> impl Iterator<Item = TensorInfo<'_>> + '_ {
        self.header.tensors.iter().map(move |t| self.info(t))
    }

    /// The tensor named `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<TensorInfo<'_>> {
        self.header.tensor_entry(name).map(|t| self.info(t))
    }

    /// The tensor named `name`, or [`Error::MissingTensor`].
    pub fn require_tensor(&self, name: &str) -> Result<TensorInfo<'_>> {
        self.tensor(name).ok_or_else(|| Error::MissingTensor {
            tensor: name.to_string(),
        })
    }
}

/// The parsed index of a file, before it is attached to its storage.
struct Index {
    version: u32,
    alignment: u32,
    data_offset: u64,
    metadata: Vec<MetaEntry>,
    tensors: Vec<TensorEntry>,
}

/// Entries are pushed as they parse, never reserved from a count in the file beyond this.
const INITIAL_CAPACITY: usize = 64;

impl Index {
    fn parse(bytes: &[u8], total_len: u64) -> Result<Index> {
        // The prefix is the start of the file: the file cannot be shorter.
        let total_len = total_len.max(bytes.len() as u64);
        let mut cur = Cursor::new(bytes);
        let magic: [u8; 4] = {
            let m = cur.take(4, &describe("GGUF magic"))?;
            [m[0], m[1], m[2], m[3]]
        };
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let version = cur.u32(&describe("GGUF version"))?;
        if version != 2 && version != 3 {
            return Err(Error::UnsupportedVersion { version });
        }
        let n_tensors_at = cur.pos();
        let n_tensors = cur.u64(&describe("tensor count"))?;
        let n_kv_at = cur.pos();
        let n_kv = cur.u64(&describe("metadata count"))?;

        // What the bytes left could hold, then this library's limits. Smallest possible
        // entries: a key/name length (8), a value type (4) and a 1-byte value; a tensor info is
        // a name length (8), n_dims (4), type (4) and offset (8).
        check_count("metadata entries", n_kv, 13, cur.remaining(), n_kv_at)?;
        check_count("tensors", n_tensors, 24, cur.remaining(), n_tensors_at)?;
        for (what, count, max, at) in [
            ("metadata entries", n_kv, MAX_METADATA, n_kv_at),
            ("tensors", n_tensors, MAX_TENSORS, n_tensors_at),
        ] {
            if count > max as u64 {
                return Err(Error::TooMany {
                    what: format!("{what} (count at offset {at})"),
                    count,
                    max: max as u64,
                });
            }
        }

        let mut metadata = Vec::with_capacity((n_kv as usize).min(INITIAL_CAPACITY));
        let mut keys: BTreeMap<&str, ()> = BTreeMap::new();
        let mut alignment = DEFAULT_ALIGNMENT;
        for i in 0..n_kv {
            let (key_at, key) = cur.string(&|| format!("metadata key #{i}"))?;
            if key.is_empty() {
                return Err(Error::BadMetadata {
                    key: String::new(),
                    reason: format!("metadata key #{i} at offset {key_at} is empty"),
                });
            }
            if keys.insert(key, ()).is_some() {
                return Err(Error::DuplicateKey {
                    key: key.to_string(),
                });
            }
            let type_at = cur.pos();
            let type_id = cur.u32(&|| format!("value type of '{key}'"))?;
            let ty = ValueType::from_u32(type_id).ok_or_else(|| Error::UnknownValueType {
                key: key.to_string(),
                type_id,
                offset: type_at as u64,
            })?;
            let value_at = cur.pos();
            let value = read_value(&mut cur, ty, key, 0)?;
            if key == "general.alignment" {
                alignment = match value {
                    Value::U32(a) if a != 0 && a.is_power_of_two() => a,
                    Value::U32(a) => {
                        return Err(Error::BadMetadata {
                            key: key.to_string(),
                            reason: format!("alignment {a} is not a power of two"),
                        })
                    }
                    v => {
                        return Err(Error::WrongType {
                            key: key.to_string(),
                            expected: "u32",
                            found: v.value_type().name(),
                        })
                    }
                };
            }
            metadata.push(MetaEntry {
                key: Span {
                    start: key_at,
                    len: key.len(),
                },
                value_at,
                ty,
            });
        }

        let mut tensors = Vec::with_capacity((n_tensors as usize).min(INITIAL_CAPACITY));
        let mut names: BTreeMap<&str, ()> = BTreeMap::new();
        for i in 0..n_tensors {
            let (name_at, name) = cur.string(&|| format!("name of tensor #{i}"))?;
            if names.insert(name, ()).is_some() {
                return Err(Error::DuplicateTensor {
                    tensor: name.to_string(),
                });
            }
            let bad = |reason: String| Error::BadTensor {
                tensor: name.to_string(),
                reason,
            };
            let n_dims = cur.u32(&|| format!("dimension count of tensor {name}"))? as usize;
            if n_dims > MAX_DIMS {
                return Err(bad(format!(
                    "{n_dims} dimensions, at most {MAX_DIMS} are allowed"
                )));
            }
            let mut dims = [1u64; MAX_DIMS];
            for (j, d) in dims.iter_mut().enumerate().take(n_dims) {
                *d = cur.u64(&|| format!("dimension {j} of tensor {name}"))?;
                if *d > i64::MAX as u64 {
                    return Err(bad(format!(
                        "dimension {j} is {} (negative as ggml's int64)",
                        *d as i64
                    )));
                }
            }
            let n_elements = dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or_else(|| {
                    bad(format!(
                        "shape {:?} overflows the element count",
                        &dims[..n_dims]
                    ))
                })?;
            let type_id = cur.u32(&|| format!("type of tensor {name}"))?;
            let ty = GgmlType::from_u32(type_id).ok_or_else(|| Error::UnknownTensorType {
                tensor: name.to_string(),
                type_id,
            })?;
            if dims[0] % ty.block_size() as u64 != 0 {
                return Err(bad(format!(
                    "rows of {} elements are not a whole number of {ty} blocks of {}",
                    dims[0],
                    ty.block_size()
                )));
            }
            let size = usize::try_from(n_elements)
                .ok()
                .and_then(|n| ty.row_size(n))
                .ok_or_else(|| {
                    bad(format!(
                        "{n_elements} elements of {ty} do not fit in memory"
                    ))
                })?;
            let offset = cur.u64(&|| format!("data offset of tensor {name}"))?;
            if offset % alignment as u64 != 0 {
                return Err(bad(format!(
                    "data offset {offset} is not a multiple of the alignment {alignment}"
                )));
            }
            tensors.push(TensorEntry {
                name: Span {
                    start: name_at,
                    len: name.len(),
                },
                ty,
                dims,
                n_dims,
                offset,
                size,
            });
        }

        // The data section starts at the next multiple of the alignment after the header.
        // A file without tensors (a vocabulary-only file) may end right after its metadata.
        let header_end = cur.pos() as u64;
        let data_offset = header_end.next_multiple_of(alignment as u64);
        if !tensors.is_empty() && data_offset > total_len {
            return Err(Error::Truncated {
                what: "padding before the data section".to_string(),
                offset: header_end,
                needed: data_offset - header_end,
                available: total_len - header_end,
            });
        }
        let data_len = total_len.saturating_sub(data_offset);
        for (t, name) in tensors.iter().zip(names_in_order(bytes, &tensors)) {
            let end = t.offset.checked_add(t.size as u64);
            if end.is_none_or(|e| e > data_len) {
                return Err(Error::BadTensor {
                    tensor: name.to_string(),
                    reason: format!(
                        "data at offset {} ({} bytes) runs past the end of the data section ({data_len} bytes, file offset {data_offset})",
                        t.offset, t.size
                    ),
                });
            }
        }
        // No two tensors may share bytes: sort by offset and compare neighbours.
        let mut order: Vec<usize> = (0..tensors.len()).collect();
        order.sort_unstable_by_key(|&i| tensors[i].offset);
        for w in order.windows(2) {
            let (a, b) = (&tensors[w[0]], &tensors[w[1]]);
            if a.offset + a.size as u64 > b.offset {
                let name = |t: &TensorEntry| {
                    core::str::from_utf8(&bytes[t.name.start..t.name.start + t.name.len])
                        .unwrap_or("")
                };
                return Err(Error::BadTensor {
                    tensor: name(b).to_string(),
                    reason: format!(
                        "data at offset {} overlaps tensor {} (offset {}, {} bytes)",
                        b.offset,
                        name(a),
                        a.offset,
                        a.size
                    ),
                });
            }
        }
        Ok(Index {
            version,
            alignment,
            data_offset,
            metadata,
            tensors,
        })
    }
}

/// The positions of `items` (fewer than 2^32) in the order of their keys.
pub(crate) fn sorted_order<'t, T>(items: &'t [T], key: impl Fn(&'t T) -> &'t [u8]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..items.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| key(&items[a as usize]).cmp(key(&items[b as usize])));
    order
}

/// The item whose key is `key`, by binary search over `order` (from [`sorted_order`]).
pub(crate) fn find_sorted<'t, T>(
    order: &[u32],
    items: &'t [T],
    key: &[u8],
    key_of: impl Fn(&'t T) -> &'t [u8],
) -> Option<&'t T> {
    let i = order
        .binary_search_by(|&e| key_of(&items[e as usize]).cmp(key))
        .ok()?;
    Some(&items[order[i] as usize])
}

fn names_in_order<'b>(
    bytes: &'b [u8],
    tensors: &'b [TensorEntry],
) -> impl Iterator<Item = &'b str> + 'b {
    tensors.iter().map(move |t| {
        core::str::from_utf8(&bytes[t.name.start..t.name.start + t.name.len]).unwrap_or("")
    })
}

/// Maps a whole file read-only.
#[cfg(feature = "mmap")]
pub(crate) fn map_file(path: &std::path::Path) -> Result<memmap2::Mmap> {
    let io = |e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // A directory opens on Unix and then fails to map with "No such device".
    if file.metadata().map_err(io)?.is_dir() {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: "is a directory".into(),
        });
    }
    // SAFETY: memmap2 requires that the file not be modified while mapped; that is the
    // documented contract of every function that maps a model (model files are read-only in
    // practice).
    unsafe { memmap2::Mmap::map(&file) }.map_err(io)
}

/// Reads the file at `path` into fresh anonymous memory that the OS is asked to back with
/// transparent huge pages (`madvise(MADV_HUGEPAGE)` on Linux; elsewhere, or when refused, plain
/// pages). Streaming weights from it needs far fewer TLB entries than from a file mapping of
/// 4 KiB pages.
#[cfg(feature = "mmap")]
pub(crate) fn read_file_resident(path: &std::path::Path) -> Result<Storage<'static>> {
    use std::io::Read;
    let io = |e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = usize::try_from(file.metadata().map_err(io)?.len()).map_err(|_| Error::Io {
        path: path.display().to_string(),
        message: "file larger than the address space".into(),
    })?;
    if len == 0 {
        // Nothing to copy (and no empty anonymous mapping): the empty file's own mapping.
        return map_file(path).map(Storage::Mapped);
    }
    let mut mem = memmap2::MmapOptions::new()
        .len(len)
        .map_anon()
        .map_err(io)?;
    #[cfg(target_os = "linux")]
    {
        // Advice only: without transparent huge pages the memory works the same, slower.
        let _ = mem.advise(memmap2::Advice::HugePage);
    }
    file.read_exact(&mut mem).map_err(io)?;
    Ok(Storage::Resident(mem))
}

fn missing(key: &str) -> Error {
    Error::MissingKey {
        key: key.to_string(),
    }
}

fn check_count(
    what: &str,
    count: u64,
    min_size: u64,
    remaining: usize,
    offset: usize,
) -> Result<()> {
    if (count as u128) * (min_size as u128) > remaining as u128 {
        return Err(Error::ImplausibleCount {
            what: what.to_string(),
            count,
            offset: offset as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
