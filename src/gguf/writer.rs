//! Writing GGUF files: for tests, for cutting models into parts, for tools.
//!
//! The writer lays a file out as llama.cpp's `gguf_write_to_buf` does: header, metadata, tensor
//! infos, padding to the alignment, then each tensor's data padded to the alignment, in the
//! order the tensors were added.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{ValueType, DEFAULT_ALIGNMENT, MAGIC};
use crate::error::{Error, Result};
use crate::quant::GgmlType;

/// An owned metadata value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
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
    String(String),
    /// An array of values that all have the given element type.
    Array(ValueType, Vec<MetaValue>),
    /// u64.
    U64(u64),
    /// i64.
    I64(i64),
    /// f64.
    F64(f64),
}

impl MetaValue {
    /// An owned copy of a value read from a file (to copy metadata into a new file).
    pub fn from_value(v: &super::Value<'_>) -> MetaValue {
        use super::Value;
        match *v {
            Value::U8(x) => MetaValue::U8(x),
            Value::I8(x) => MetaValue::I8(x),
            Value::U16(x) => MetaValue::U16(x),
            Value::I16(x) => MetaValue::I16(x),
            Value::U32(x) => MetaValue::U32(x),
            Value::I32(x) => MetaValue::I32(x),
            Value::F32(x) => MetaValue::F32(x),
            Value::Bool(x) => MetaValue::Bool(x),
            Value::String(s) => MetaValue::String(s.into()),
            Value::U64(x) => MetaValue::U64(x),
            Value::I64(x) => MetaValue::I64(x),
            Value::F64(x) => MetaValue::F64(x),
            Value::Array(a) => MetaValue::Array(
                a.elem_type(),
                a.iter().map(|item| MetaValue::from_value(&item)).collect(),
            ),
        }
    }

    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            MetaValue::U8(_) => ValueType::U8,
            MetaValue::I8(_) => ValueType::I8,
            MetaValue::U16(_) => ValueType::U16,
            MetaValue::I16(_) => ValueType::I16,
            MetaValue::U32(_) => ValueType::U32,
            MetaValue::I32(_) => ValueType::I32,
            MetaValue::F32(_) => ValueType::F32,
            MetaValue::Bool(_) => ValueType::Bool,
            MetaValue::String(_) => ValueType::String,
            MetaValue::Array(..) => ValueType::Array,
            MetaValue::U64(_) => ValueType::U64,
            MetaValue::I64(_) => ValueType::I64,
            MetaValue::F64(_) => ValueType::F64,
        }
    }

    /// Appends the value's bytes (without its type number) to `out`.
    fn write(&self, key: &str, out: &mut Vec<u8>) -> Result<()> {
        match self {
            MetaValue::U8(v) => out.push(*v),
            MetaValue::I8(v) => out.push(*v as u8),
            MetaValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::Bool(v) => out.push(*v as u8),
            MetaValue::String(s) => write_str(s, out),
            MetaValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::Array(elem, items) => {
                out.extend_from_slice(&(*elem as u32).to_le_bytes());
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for item in items {
                    if item.value_type() != *elem {
                        return Err(Error::BadMetadata {
                            key: key.to_string(),
                            reason: alloc::format!(
                                "array of {} holds a {}",
                                elem.name(),
                                item.value_type().name()
                            ),
                        });
                    }
                    item.write(key, out)?;
                }
            }
        }
        Ok(())
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct PendingTensor {
    name: String,
    ty: GgmlType,
    dims: Vec<u64>,
    /// The bytes, or `None` for a tensor declared by [`Writer::tensor_info`] whose bytes the
    /// caller writes after [`Writer::header_bytes`].
    data: Option<Vec<u8>>,
}

/// Builds a GGUF file in memory.
pub struct Writer {
    version: u32,
    alignment: u32,
    metadata: Vec<(String, MetaValue)>,
    tensors: Vec<PendingTensor>,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl Writer {
    /// An empty version-3 file with the default alignment.
    pub fn new() -> Writer {
        Writer {
            version: 3,
            alignment: DEFAULT_ALIGNMENT,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// Sets the version number written in the header (2 and 3 have the same layout).
    pub fn version(mut self, version: u32) -> Writer {
        self.version = version;
        self
    }

    /// Adds a metadata entry. `general.alignment` (a u32 power of two) also sets the alignment
    /// used for the data.
    pub fn meta(mut self, key: &str, value: MetaValue) -> Writer {
        if let (true, MetaValue::U32(a)) = (key == "general.alignment", &value) {
            if a.is_power_of_two() {
                self.alignment = *a;
            }
        }
        self.metadata.push((key.to_string(), value));
        self
    }

    /// Adds a tensor with shape `dims` (fastest-varying first) and its raw bytes.
    pub fn tensor(mut self, name: &str, ty: GgmlType, dims: &[u64], data: Vec<u8>) -> Writer {
        self.tensors.push(PendingTensor {
            name: name.to_string(),
            ty,
            dims: dims.to_vec(),
            data: Some(data),
        });
        self
    }

    /// Declares a tensor whose bytes are not held here: for files too large to build in
    /// memory, [`Writer::header_bytes`] lays out everything before the data and the caller
    /// then writes each tensor's `row_size` bytes in the order declared, each padded with zeros
    /// to [`Writer::alignment`]. [`Writer::to_bytes`] refuses a writer with such tensors.
    pub fn tensor_info(mut self, name: &str, ty: GgmlType, dims: &[u64]) -> Writer {
        self.tensors.push(PendingTensor {
            name: name.to_string(),
            ty,
            dims: dims.to_vec(),
            data: None,
        });
        self
    }

    /// The alignment of the data section and of every tensor in it.
    pub fn alignment(&self) -> usize {
        self.alignment as usize
    }

    /// Header, metadata and tensor infos, padded to the alignment: the file up to the first
    /// tensor's bytes. Fails as [`Writer::to_bytes`] does for a tensor's bytes that do not
    /// match its shape, or a shape whose size overflows.
    pub fn header_bytes(&self) -> Result<Vec<u8>> {
        let align = self.alignment as usize;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            write_str(key, &mut out);
            out.extend_from_slice(&(value.value_type() as u32).to_le_bytes());
            value.write(key, &mut out)?;
        }
        let mut offset = 0usize;
        for t in &self.tensors {
            let n = t.dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let expected = n
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| t.ty.row_size(n));
            let len = match (&t.data, expected) {
                (Some(data), Some(e)) if data.len() == e => e,
                (None, Some(e)) => e,
                _ => {
                    return Err(Error::BadTensor {
                        tensor: t.name.clone(),
                        reason: alloc::format!(
                            "{} bytes given for shape {:?} of {}",
                            t.data.as_ref().map_or(0, Vec::len),
                            t.dims,
                            t.ty
                        ),
                    })
                }
            };
            write_str(&t.name, &mut out);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&(t.ty as u32).to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset += len.next_multiple_of(align);
        }
        if !self.tensors.is_empty() {
            out.resize(out.len().next_multiple_of(align), 0);
        }
        Ok(out)
    }

    /// Lays the file out. Fails when a tensor's bytes do not match its shape and type, an
    /// array holds an element of another type than declared, or a tensor was declared by
    /// [`Writer::tensor_info`] without bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let align = self.alignment as usize;
        let mut out = self.header_bytes()?;
        for t in &self.tensors {
            let data = t.data.as_ref().ok_or_else(|| Error::BadTensor {
                tensor: t.name.clone(),
                reason: "declared without its bytes (tensor_info): write it after header_bytes"
                    .into(),
            })?;
            out.extend_from_slice(data);
            out.resize(out.len().next_multiple_of(align), 0);
        }
        Ok(out)
    }
}
