//! Models: hyperparameters read from metadata, typed views of the weights, the forward pass.
//!
//! [`Model::from_bytes`] builds a model over bytes the host holds (zero copy);
//! [`Model::from_parts`] over a model stored in several parts; [`Model::load`] (std + mmap)
//! maps a file, or every part of a split model given the first. A [`Context`] evaluates tokens.

mod context;
mod llama;
mod source;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

pub use context::{
    reseal_state, BatchToken, Context, ContextParams, KvType, PerfCounters, SeqSet, MAX_POS,
    MAX_SEQ,
};
pub use llama::Trace;
pub use source::Layout;

use crate::error::{Error, Result};
use crate::gguf::{GgufHeader, Storage};
use crate::kernels::Matrix;
use crate::quant::GgmlType;
use source::{Loc, Source};

/// Rope scaling as llama.cpp reads it from `rope.scaling.type`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    /// No scaling.
    None,
    /// Positions are multiplied by `1 / factor` (`rope.scaling.factor`).
    Linear {
        /// The scaling factor.
        factor: f32,
    },
}

/// The hyperparameters of a llama-architecture model, from its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `general.architecture` (always "llama" for now).
    pub arch: String,
    /// Vocabulary size.
    pub n_vocab: usize,
    /// Width of the residual stream (`embedding_length`).
    pub n_embd: usize,
    /// Transformer blocks (`block_count`).
    pub n_layer: usize,
    /// Hidden width of the feed-forward network (`feed_forward_length`).
    pub n_ff: usize,
    /// Query heads (`attention.head_count`).
    pub n_head: usize,
    /// Key/value heads (`attention.head_count_kv`; fewer than `n_head` is grouped-query attention).
    pub n_head_kv: usize,
    /// Elements per head (`attention.key_length`, by default `n_embd / n_head`).
    pub head_dim: usize,
    /// Elements of each head that rope rotates (`rope.dimension_count`, by default `head_dim`).
    pub n_rot: usize,
    /// RMS norm epsilon (`attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
    /// Rope base frequency (`rope.freq_base`, default 10000).
    pub rope_freq_base: f32,
    /// Rope scaling (`rope.scaling.type` / `rope.scaling.factor`).
    pub rope_scaling: RopeScaling,
    /// Context length the model was trained with (`context_length`).
    pub n_ctx_train: usize,
}

impl Config {
    /// Reads and checks the hyperparameters.
    pub fn from_header(h: &GgufHeader) -> Result<Config> {
        let arch = h.get_str("general.architecture")?.to_string();
        if arch != "llama" {
            return Err(Error::UnsupportedArchitecture { arch });
        }
        let key = |k: &str| format!("{arch}.{k}");
        let size = |k: &str| -> Result<usize> { Ok(h.get_u32(&key(k))? as usize) };
        let size_opt =
            |k: &str| -> Result<Option<usize>> { Ok(h.get_u32_opt(&key(k))?.map(|v| v as usize)) };
        let n_embd = size("embedding_length")?;
        let n_layer = size("block_count")?;
        let n_ff = size("feed_forward_length")?;
        let n_head = size("attention.head_count")?;
        let n_head_kv = size_opt("attention.head_count_kv")?.unwrap_or(n_head);
        let bad = |k: &str, reason: String| Error::BadMetadata {
            key: key(k),
            reason,
        };
        if n_embd == 0 || n_layer == 0 || n_ff == 0 {
            return Err(Error::BadModel {
                reason: format!(
                    "zero size: embedding {n_embd}, blocks {n_layer}, feed-forward {n_ff}"
                ),
            });
        }
        if n_head == 0 || n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(bad(
                "attention.head_count_kv",
                format!("{n_head_kv} key/value heads do not divide {n_head} query heads"),
            ));
        }
        let head_dim = match size_opt("attention.key_length")? {
            Some(d) => d,
            None if n_embd % n_head == 0 => n_embd / n_head,
            None => {
                return Err(bad(
                    "attention.head_count",
                    format!("{n_head} heads do not divide the embedding width {n_embd}"),
                ))
            }
        };
        if let Some(v) = size_opt("attention.value_length")? {
            if v != head_dim {
                return Err(bad(
                    "attention.value_length",
                    format!("{v} differs from the key length {head_dim}"),
                ));
            }
        }
        let n_rot = size_opt("rope.dimension_count")?.unwrap_or(head_dim);
        if head_dim == 0 || n_rot % 2 != 0 || n_rot > head_dim {
            return Err(bad(
                "rope.dimension_count",
                format!("{n_rot} is not an even number up to the head size {head_dim}"),
            ));
        }
        let rms_eps = h.get_f32(&key("attention.layer_norm_rms_epsilon"))?;
        let rope_freq_base = h.get_f32_opt(&key("rope.freq_base"))?.unwrap_or(10000.0);
        let factor = h.get_f32_opt(&key("rope.scaling.factor"))?;
        let rope_scaling = match h.get_str_opt(&key("rope.scaling.type"))? {
            None | Some("none") => match h.get_f32_opt(&key("rope.scale_linear"))? {
                Some(f) if f != 1.0 => RopeScaling::Linear { factor: f },
                _ => RopeScaling::None,
            },
            Some("linear") => match factor {
                Some(f) if f > 0.0 => RopeScaling::Linear { factor: f },
                _ => {
                    return Err(bad(
                        "rope.scaling.factor",
                        "linear rope scaling needs a positive factor".to_string(),
                    ))
                }
            },
            Some(other) => {
                return Err(bad(
                    "rope.scaling.type",
                    format!("rope scaling '{other}' is not supported (none, linear)"),
                ))
            }
        };
        let n_ctx_train = size_opt("context_length")?.unwrap_or(4096);
        let n_vocab = match size_opt("vocab_size")? {
            Some(n) => n,
            None => match h.get_array_opt("tokenizer.ggml.tokens")? {
                Some(a) => a.len(),
                None => h
                    .tensor_location("token_embd.weight")
                    .and_then(|t| t.dims().get(1).copied())
                    .unwrap_or(0) as usize,
            },
        };
        if n_vocab == 0 {
            return Err(Error::BadModel {
                reason: "the vocabulary size is zero or unknown".to_string(),
            });
        }
        Ok(Config {
            arch,
            n_vocab,
            n_embd,
            n_layer,
            n_ff,
            n_head,
            n_head_kv,
            head_dim,
            n_rot,
            rms_eps,
            rope_freq_base,
            rope_scaling,
            n_ctx_train,
        })
    }

    /// The factor rope multiplies positions by (`1 / factor` for linear scaling).
    pub fn rope_freq_scale(&self) -> f32 {
        match self.rope_scaling {
            RopeScaling::None => 1.0,
            RopeScaling::Linear { factor } => 1.0 / factor,
        }
    }
}

/// A weight matrix (or vector) of the model: type, shape and where its bytes are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Weight {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub loc: Loc,
}

/// The weights of one transformer block.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub attn_norm: Weight,
    pub wq: Weight,
    pub wk: Weight,
    pub wv: Weight,
    pub wo: Weight,
    pub ffn_norm: Weight,
    pub w_gate: Weight,
    pub w_up: Weight,
    pub w_down: Weight,
}

/// A model ready to evaluate: its bytes, hyperparameters and weights.
pub struct Model<'a> {
    source: Source<'a>,
    config: Config,
    pub(crate) token_embd: Weight,
    pub(crate) output_norm: Weight,
    pub(crate) output: Weight,
    pub(crate) layers: Vec<Layer>,
}

impl core::fmt::Debug for Model<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Model")
            .field("config", &self.config)
            .field("layout", &self.source.layout)
            .field("copied_bytes", &self.copied_bytes())
            .finish()
    }
}

impl<'a> Model<'a> {
    /// A model over a GGUF file the host holds in memory, borrowing it: no weight is copied.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Model<'a>> {
        Model::from_parts(&[bytes])
    }

    /// A model stored in several parts, in order: llama.cpp's gguf-split shards, or the pieces
    /// of a file cut at arbitrary offsets (`model.gguf-split-a`, `-split-b`, ...). Tensors that
    /// lie inside one part are borrowed; a tensor that straddles a cut is copied
    /// ([`Model::copied_bytes`]).
    pub fn from_parts(parts: &[&'a [u8]]) -> Result<Model<'a>> {
        let storages = parts.iter().map(|p| Storage::Borrowed(p)).collect();
        let first = parts.first().copied().unwrap_or(&[]);
        Model::build(Source::from_storages(storages, || {
            Ok(Storage::Borrowed(first))
        })?)
    }

    /// Maps the model at `path` (and, for a split model, its other parts: give the first shard
    /// `…-00001-of-0000N.gguf` or the first piece `…-split-a`). The mappings live as long as
    /// the model. The files must not be modified while mapped.
    #[cfg(feature = "mmap")]
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Model<'static>> {
        let paths = source::part_paths(path.as_ref())?;
        let mut storages = Vec::with_capacity(paths.len());
        for p in &paths {
            storages.push(Storage::Mapped(crate::gguf::map_file(p)?));
        }
        let first = paths.first().cloned().unwrap_or_default();
        Model::build(Source::from_storages(storages, move || {
            Ok(Storage::Mapped(crate::gguf::map_file(&first)?))
        })?)
    }

    /// As [`Model::load`], but the file(s) are read into memory the model owns instead of being
    /// mapped, and on Linux that memory is backed by transparent huge pages where the system
    /// allows (`madvise`). Loading costs a copy of the file and the memory is not shared with
    /// the page cache, but generation, which streams every weight once per token, runs faster
    /// with far fewer TLB misses (about 20% on the 1.1B benchmark model here; see the README).
    /// The `llamette` program's `--no-mmap` and the bench's `--resident` choose it.
    #[cfg(feature = "mmap")]
    pub fn load_resident(path: impl AsRef<std::path::Path>) -> Result<Model<'static>> {
        let paths = source::part_paths(path.as_ref())?;
        let mut storages = Vec::with_capacity(paths.len());
        for p in &paths {
            storages.push(crate::gguf::read_file_resident(p)?);
        }
        let first = paths.first().cloned().unwrap_or_default();
        Model::build(Source::from_storages(storages, move || {
            Ok(Storage::Mapped(crate::gguf::map_file(&first)?))
        })?)
    }

    fn build(source: Source<'a>) -> Result<Model<'a>> {
        let config = Config::from_header(&source.header)?;
        let c = &config;
        let matrix = |name: &str, cols: usize, rows: usize| matrix(&source, name, cols, rows);
        let norm = |name: &str| norm(&source, name, c.n_embd);
        let q_width = c.n_head * c.head_dim;
        let kv_width = c.n_head_kv * c.head_dim;
        let token_embd = matrix("token_embd.weight", c.n_embd, c.n_vocab)?;
        let output = match source.tensor("output.weight") {
            Some(_) => matrix("output.weight", c.n_embd, c.n_vocab)?,
            None => token_embd,
        };
        let output_norm = norm("output_norm.weight")?;
        let mut layers = Vec::with_capacity(c.n_layer.min(1024));
        for i in 0..c.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(Layer {
                attn_norm: norm(&n("attn_norm"))?,
                wq: matrix(&n("attn_q"), c.n_embd, q_width)?,
                wk: matrix(&n("attn_k"), c.n_embd, kv_width)?,
                wv: matrix(&n("attn_v"), c.n_embd, kv_width)?,
                wo: matrix(&n("attn_output"), q_width, c.n_embd)?,
                ffn_norm: norm(&n("ffn_norm"))?,
                w_gate: matrix(&n("ffn_gate"), c.n_embd, c.n_ff)?,
                w_up: matrix(&n("ffn_up"), c.n_embd, c.n_ff)?,
                w_down: matrix(&n("ffn_down"), c.n_ff, c.n_embd)?,
            });
        }
        Ok(Model {
            source,
            config,
            token_embd,
            output_norm,
            output,
            layers,
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The metadata (of the first part, for a split model).
    pub fn header(&self) -> &GgufHeader<'a> {
        &self.source.header
    }

    /// How the model's bytes were split.
    pub fn layout(&self) -> Layout {
        self.source.layout
    }

    /// Bytes of weights copied at load (tensors that straddle a cut between parts); zero for a
    /// model in one file or in gguf-split shards.
    pub fn copied_bytes(&self) -> usize {
        self.source.copied_bytes()
    }

    /// Whether the output projection reuses the token embedding (no `output.weight`).
    pub fn tied_output(&self) -> bool {
        self.output.loc == self.token_embd.loc
    }

    pub(crate) fn bytes(&self, w: &Weight) -> &[u8] {
        self.source.bytes(w.loc)
    }

    pub(crate) fn matrix(&self, w: &Weight) -> Matrix<'_> {
        Matrix {
            ty: w.ty,
            rows: w.rows,
            cols: w.cols,
            data: self.bytes(w),
        }
    }

    /// All weight matrices, for sizing scratch buffers.
    pub(crate) fn matrices(&self) -> impl Iterator<Item = &Weight> + '_ {
        self.layers
            .iter()
            .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down])
            .chain([&self.output])
    }
}

fn find<'s>(source: &'s Source, name: &str) -> Result<&'s source::TensorRef> {
    source.tensor(name).ok_or_else(|| Error::MissingTensor {
        tensor: name.to_string(),
    })
}

fn bad_tensor(name: &str, reason: String) -> Error {
    Error::BadTensor {
        tensor: name.to_string(),
        reason,
    }
}

/// A matrix of `rows` rows of `cols` elements (ggml shape `[cols, rows]`) in a type this build
/// can multiply with.
fn matrix(source: &Source, name: &str, cols: usize, rows: usize) -> Result<Weight> {
    let t = find(source, name)?;
    if t.dims != [cols as u64, rows as u64] {
        return Err(bad_tensor(
            name,
            format!(
                "shape {:?}, expected [{cols}, {rows}] from the hyperparameters",
                t.dims
            ),
        ));
    }
    if !t.ty.is_supported() {
        return Err(bad_tensor(
            name,
            format!("tensor type {} is not supported", t.ty),
        ));
    }
    Ok(Weight {
        ty: t.ty,
        rows,
        cols,
        loc: t.loc,
    })
}

/// A norm weight: `n` f32 values.
fn norm(source: &Source, name: &str, n: usize) -> Result<Weight> {
    let t = find(source, name)?;
    if t.dims != [n as u64] {
        return Err(bad_tensor(
            name,
            format!("shape {:?}, expected [{n}]", t.dims),
        ));
    }
    if t.ty != GgmlType::F32 {
        return Err(bad_tensor(
            name,
            format!("norm weights must be F32, found {}", t.ty),
        ));
    }
    Ok(Weight {
        ty: t.ty,
        rows: 1,
        cols: n,
        loc: t.loc,
    })
}
