//! Where a model's bytes are: one file, llama.cpp's gguf-split shards, or raw byte splits.
//!
//! - One file: the header and every tensor are borrowed from it.
//! - gguf-split shards (`name-00001-of-00003.gguf`): every part is a GGUF file of its own with
//!   `split.count` / `split.no` metadata; the first holds the model's metadata; tensors never
//!   straddle parts, so all are borrowed.
//! - Raw byte splits (`model.gguf-split-a`, `-split-b`, which the CodeLlama-70B model card says
//!   to `cat` together): the parts are pieces of one file cut anywhere. The header is read from
//!   the first part (or, when the cut falls inside it, from a copy of just enough bytes); a
//!   tensor inside one part is borrowed, a tensor across a cut is copied, and the bytes copied
//!   are counted.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::gguf::{find_sorted, sorted_order, GgufHeader, Storage, MAGIC};
use crate::quant::GgmlType;

/// Where one tensor's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loc {
    /// `len` bytes at `offset` in part `part`.
    Part {
        part: usize,
        offset: usize,
        len: usize,
    },
    /// `len` bytes at `offset` in the model's own copy of tensors that straddle a cut.
    Copied { offset: usize, len: usize },
}

/// A tensor of the model: type, shape and where its bytes are.
#[derive(Debug, Clone)]
pub(crate) struct TensorRef {
    pub name: String,
    pub ty: GgmlType,
    pub dims: Vec<u64>,
    pub loc: Loc,
}

/// How a model's bytes were split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One GGUF file.
    Single,
    /// llama.cpp gguf-split shards, each a GGUF file.
    Shards,
    /// One GGUF file cut into pieces at arbitrary byte offsets.
    ByteSplit,
}

/// The bytes of a model and the index of its tensors.
pub(crate) struct Source<'a> {
    /// Metadata (and, for single files and byte splits, the tensor table).
    pub header: GgufHeader<'a>,
    parts: Vec<Storage<'a>>,
    copied: Vec<u8>,
    pub tensors: Vec<TensorRef>,
    /// Tensor numbers sorted by name (lookups are binary searches: a model's load costs
    /// `n log n` in its number of tensors).
    by_name: Vec<u32>,
    pub layout: Layout,
}

impl<'a> Source<'a> {
    pub(crate) fn bytes(&self, loc: Loc) -> &[u8] {
        match loc {
            Loc::Part { part, offset, len } => &self.parts[part].bytes()[offset..offset + len],
            Loc::Copied { offset, len } => &self.copied[offset..offset + len],
        }
    }

    /// Bytes copied because tensors straddled cuts between parts.
    pub(crate) fn copied_bytes(&self) -> usize {
        self.copied.len()
    }

    pub(crate) fn tensor(&self, name: &str) -> Option<&TensorRef> {
        find_sorted(&self.by_name, &self.tensors, name.as_bytes(), |t| {
            t.name.as_bytes()
        })
    }

    /// A source of these tensors, with its name index; two tensors of one name are an error.
    fn new(
        header: GgufHeader<'a>,
        parts: Vec<Storage<'a>>,
        copied: Vec<u8>,
        tensors: Vec<TensorRef>,
        layout: Layout,
    ) -> Result<Source<'a>> {
        if u32::try_from(tensors.len()).is_err() {
            return Err(Error::BadModel {
                reason: alloc::format!("{} tensors: too many", tensors.len()),
            });
        }
        let by_name = sorted_order(&tensors, |t| t.name.as_bytes());
        if let Some(w) = by_name
            .windows(2)
            .find(|w| tensors[w[0] as usize].name == tensors[w[1] as usize].name)
        {
            return Err(Error::DuplicateTensor {
                tensor: tensors[w[0] as usize].name.clone(),
            });
        }
        Ok(Source {
            header,
            parts,
            copied,
            tensors,
            by_name,
            layout,
        })
    }

    /// A model given as parts (one part is a plain file). `header_storage` gives the storage the
    /// header is parsed from, for the first part: the same bytes again (borrowed) or a second
    /// mapping of the same file, so that no part's storage has to be borrowed by another.
    pub(crate) fn from_storages(
        parts: Vec<Storage<'a>>,
        header_storage: impl FnOnce() -> Result<Storage<'a>>,
    ) -> Result<Source<'a>> {
        if parts.is_empty() {
            return Err(Error::BadModel {
                reason: "no model parts were given".to_string(),
            });
        }
        if parts.len() > 1 && parts.iter().all(|p| p.bytes().starts_with(&MAGIC)) {
            let first = GgufHeader::from_prefix(parts[0].bytes(), parts[0].bytes().len() as u64);
            if let Ok(h) = first {
                if h.get("split.count").is_some() {
                    drop(h);
                    return Source::shards(parts, header_storage()?);
                }
            }
        }
        Source::byte_split(parts, header_storage()?)
    }

    fn shards(parts: Vec<Storage<'a>>, first: Storage<'a>) -> Result<Source<'a>> {
        let mut tensors = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let bytes = part.bytes();
            let h = GgufHeader::from_prefix(bytes, bytes.len() as u64).map_err(|e| {
                Error::BadModel {
                    reason: alloc::format!("shard {} of {}: {e}", i + 1, parts.len()),
                }
            })?;
            let count = h.get_u32("split.count")? as usize;
            let no = h.get_u32("split.no")? as usize;
            if count != parts.len() || no != i {
                return Err(Error::BadModel {
                    reason: alloc::format!(
                        "shard {} of {} says it is split.no {no} of split.count {count}",
                        i + 1,
                        parts.len()
                    ),
                });
            }
            for t in h.tensor_locations() {
                tensors.push(TensorRef {
                    name: t.name.to_string(),
                    ty: t.ggml_type,
                    dims: t.dims().to_vec(),
                    loc: Loc::Part {
                        part: i,
                        offset: t.file_offset as usize,
                        len: t.n_bytes,
                    },
                });
            }
        }
        let len = first.bytes().len() as u64;
        let header = GgufHeader::parse(first, len)?;
        if let Some(n) = header.get_u32_opt("split.tensors.count")? {
            if n as usize != tensors.len() {
                return Err(Error::BadModel {
                    reason: alloc::format!(
                        "split.tensors.count is {n} but the shards hold {} tensors",
                        tensors.len()
                    ),
                });
            }
        }
        Source::new(header, parts, Vec::new(), tensors, Layout::Shards)
    }

    fn byte_split(parts: Vec<Storage<'a>>, first: Storage<'a>) -> Result<Source<'a>> {
        let lens: Vec<u64> = parts.iter().map(|p| p.bytes().len() as u64).collect();
        let total: u64 = lens.iter().sum();
        // Parse the header from the first part; if the cut falls inside the header, from a copy
        // of as many bytes as it turns out to need.
        // A header cut short looks truncated, or its counts look implausible for the bytes left.
        let cut_short =
            |e: &Error| matches!(e, Error::Truncated { .. } | Error::ImplausibleCount { .. });
        let header = match GgufHeader::parse(first, total) {
            Ok(h) => h,
            Err(e) if parts.len() > 1 && cut_short(&e) => {
                let mut want = (lens[0] as usize).max(4096) * 2;
                loop {
                    let prefix = read_range(&parts, 0, want.min(total as usize));
                    match GgufHeader::from_prefix_vec(prefix, total) {
                        Ok(h) => break h,
                        Err(e) if cut_short(&e) && (want as u64) < total => want *= 2,
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        };
        let mut starts = Vec::with_capacity(lens.len());
        let mut at = 0u64;
        for l in &lens {
            starts.push(at);
            at += l;
        }
        let mut copied = Vec::new();
        let mut tensors = Vec::new();
        for t in header.tensor_locations() {
            let start = t.file_offset;
            let end = start + t.n_bytes as u64;
            // The last part that starts at or before the tensor's first byte.
            let part = starts.partition_point(|&s| s <= start).saturating_sub(1);
            let loc = if end <= starts[part] + lens[part] {
                Loc::Part {
                    part,
                    offset: (start - starts[part]) as usize,
                    len: t.n_bytes,
                }
            } else {
                let offset = copied.len();
                copied.extend_from_slice(&read_range(&parts, start as usize, t.n_bytes));
                Loc::Copied {
                    offset,
                    len: t.n_bytes,
                }
            };
            tensors.push(TensorRef {
                name: t.name.to_string(),
                ty: t.ggml_type,
                dims: t.dims().to_vec(),
                loc,
            });
        }
        let layout = if lens.len() == 1 {
            Layout::Single
        } else {
            Layout::ByteSplit
        };
        Source::new(header, parts, copied, tensors, layout)
    }
}

/// Copies `len` bytes from offset `start` of the parts taken as one byte string (the caller
/// keeps `start + len` within their total length).
fn read_range(parts: &[Storage<'_>], start: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut skip = start;
    for p in parts {
        let b = p.bytes();
        if skip >= b.len() {
            skip -= b.len();
            continue;
        }
        let take = (b.len() - skip).min(len - out.len());
        out.extend_from_slice(&b[skip..skip + take]);
        skip = 0;
        if out.len() == len {
            break;
        }
    }
    out
}

/// The files of a model stored in parts, given the path of one of them: the whole series of
/// gguf-split shards (`x-00001-of-00003.gguf`), or raw byte splits from `-split-a` on while the
/// next letter exists; any other path is the only part.
#[cfg(feature = "std")]
pub(crate) fn part_paths(path: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let dir = path.parent().unwrap_or(std::path::Path::new(""));
    // gguf-split: NAME-00001-of-00003.gguf
    if let Some(stem) = name.strip_suffix(".gguf") {
        let b = stem.as_bytes();
        if b.len() > 15 && &b[b.len() - 9..b.len() - 5] == b"-of-" && b[b.len() - 15] == b'-' {
            let no = &stem[stem.len() - 14..stem.len() - 9];
            let count = &stem[stem.len() - 5..];
            if let (Ok(_), Ok(count)) = (no.parse::<u32>(), count.parse::<u32>()) {
                if count == 0 {
                    return Err(Error::Io {
                        path: path.display().to_string(),
                        message: "a gguf-split name says the model has 0 parts".to_string(),
                    });
                }
                let base = &stem[..stem.len() - 15];
                return Ok((1..=count)
                    .map(|i| dir.join(alloc::format!("{base}-{i:05}-of-{count:05}.gguf")))
                    .collect());
            }
        }
    }
    // Byte splits: NAME-split-a, NAME-split-b, ...
    if let Some(base) = name.strip_suffix("-split-a") {
        let mut paths = Vec::new();
        for letter in b'a'..=b'z' {
            let p = dir.join(alloc::format!("{base}-split-{}", letter as char));
            if !p.exists() {
                break;
            }
            paths.push(p);
        }
        if paths.is_empty() {
            return Err(Error::Io {
                path: path.display().to_string(),
                message: "No such file or directory (the first part of a byte-split model)"
                    .to_string(),
            });
        }
        return Ok(paths);
    }
    Ok(alloc::vec![path.to_path_buf()])
}
