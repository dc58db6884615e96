//! The evaluation context: KV cache and scratch, sized exactly up front, in host memory or one
//! allocation; evaluating tokens allocates nothing.

use alloc::format;
use alloc::vec::Vec;

use super::{llama, Model};
use crate::error::{Error, Result};
use crate::kernels::activation_bytes;
use crate::parallel::Parallel;
use crate::quant::GgmlType;

/// Element type of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvType {
    /// Half precision, as llama.cpp stores it by default.
    #[default]
    F16,
    /// Single precision: twice the memory, no rounding of keys and values.
    F32,
}

impl KvType {
    pub(crate) fn ggml(self) -> GgmlType {
        match self {
            KvType::F16 => GgmlType::F16,
            KvType::F32 => GgmlType::F32,
        }
    }

    fn size(self) -> usize {
        self.ggml().type_size()
    }
}

/// Parameters of a [`Context`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextParams {
    /// Positions the KV cache holds (prompt plus generated tokens).
    pub n_ctx: usize,
    /// Most tokens evaluated in one step; longer inputs are evaluated in steps of this size.
    pub n_batch: usize,
    /// Element type of the KV cache.
    pub kv_type: KvType,
    /// Keep the logits of every position of a batch, not only the last
    /// ([`Context::logits_at`]); a batch may then hold at most `n_batch` tokens.
    pub logits_all: bool,
}

impl Default for ContextParams {
    fn default() -> Self {
        ContextParams {
            n_ctx: 4096,
            n_batch: 512,
            kv_type: KvType::F16,
            logits_all: false,
        }
    }
}

/// Alignment of every region of the context's memory.
const ALIGN: usize = 64;

/// Value-cache rows hold a multiple of this many positions.
pub(crate) const V_PAD: usize = 32;

/// Byte ranges of the context's regions inside its buffer (offsets from an `ALIGN`-aligned
/// base).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub k_cache: (usize, usize),
    pub v_cache: (usize, usize),
    pub x: (usize, usize),
    pub xb: (usize, usize),
    pub q: (usize, usize),
    pub k: (usize, usize),
    pub v: (usize, usize),
    pub att: (usize, usize),
    pub proj: (usize, usize),
    pub gate: (usize, usize),
    pub up: (usize, usize),
    pub rope: (usize, usize),
    pub heads: (usize, usize),
    pub act: (usize, usize),
    pub logits: (usize, usize),
    /// Bytes of scratch per attention head.
    pub head_scratch: usize,
    /// Total bytes, excluding the slack for aligning the base.
    pub total: usize,
}

impl Layout {
    fn new(model: &Model, p: &ContextParams) -> Result<Layout> {
        let c = model.config();
        if p.n_ctx == 0 || p.n_batch == 0 {
            return Err(Error::BadParams {
                reason: format!(
                    "n_ctx ({}) and n_batch ({}) must be positive",
                    p.n_ctx, p.n_batch
                ),
            });
        }
        let overflow = || Error::BadParams {
            reason: format!("a context of {} positions does not fit in memory", p.n_ctx),
        };
        let mut at = 0usize;
        let mut region = |bytes: Option<usize>| -> Result<(usize, usize)> {
            let bytes = bytes.ok_or_else(overflow)?;
            let start = at;
            at = at
                .checked_add(bytes)
                .and_then(|e| e.checked_next_multiple_of(ALIGN))
                .ok_or_else(overflow)?;
            Ok((start, bytes))
        };
        let mul = |a: &[usize]| a.iter().try_fold(1usize, |acc, &x| acc.checked_mul(x));
        let f32s = |a: &[usize]| mul(a).and_then(|n| n.checked_mul(4));
        let b = p.n_batch;
        let kv = p.kv_type.size();
        // Value rows (and attention weights) are padded to a multiple of 32 positions: the dot
        // products over positions run, as in llama.cpp, over a padded window (see `llama.rs`).
        let n_pad = p
            .n_ctx
            .checked_next_multiple_of(V_PAD)
            .ok_or_else(overflow)?;
        let k_elems = [c.n_layer, c.n_head_kv, p.n_ctx, c.head_dim, kv];
        let v_elems = [c.n_layer, c.n_head_kv, n_pad, c.head_dim, kv];
        let head_scratch = (n_pad * 4 + n_pad * kv + c.head_dim * kv).next_multiple_of(ALIGN);
        let act = model
            .matrices()
            .map(|w| activation_bytes(w.ty, w.cols, b))
            .max()
            .unwrap_or(0);
        let n_out = if p.logits_all { b } else { 1 };
        Ok(Layout {
            k_cache: region(mul(&k_elems))?,
            v_cache: region(mul(&v_elems))?,
            x: region(f32s(&[b, c.n_embd]))?,
            xb: region(f32s(&[b, c.n_embd]))?,
            q: region(f32s(&[b, c.n_head, c.head_dim]))?,
            k: region(f32s(&[b, c.n_head_kv, c.head_dim]))?,
            v: region(f32s(&[b, c.n_head_kv, c.head_dim]))?,
            att: region(f32s(&[b, c.n_head, c.head_dim]))?,
            proj: region(f32s(&[b, c.n_embd]))?,
            gate: region(f32s(&[b, c.n_ff]))?,
            up: region(f32s(&[b, c.n_ff]))?,
            rope: region(f32s(&[b, c.n_rot]))?,
            heads: region(mul(&[c.n_head, head_scratch]))?,
            act: region(Some(act))?,
            logits: region(f32s(&[n_out, c.n_vocab]))?,
            head_scratch,
            total: at,
        })
    }
}

/// `n` zero bytes for `what`, or [`Error::OutOfMemory`] (never an abort) where the allocator
/// refuses them or, with `std` on Linux, where they are more than the machine's memory and swap:
/// an allocation that could never be backed is refused before it is made. Zeroed pages come
/// from the system untouched, so a large context costs memory only as it fills.
pub(crate) fn zeroed_bytes(n: usize, what: impl Fn() -> alloc::string::String) -> Result<Vec<u8>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let limit = crate::sys::total_memory();
    let fail = |limit| Error::OutOfMemory {
        what: what(),
        bytes: n,
        limit,
    };
    if limit.is_some_and(|m| n as u64 > m) {
        return Err(fail(limit));
    }
    let layout = core::alloc::Layout::array::<u8>(n).map_err(|_| fail(None))?;
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(fail(None));
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of `[u8; n]`, which
    // is the layout a `Vec<u8>` of capacity `n` has; its `n` bytes are initialized (zeroed).
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

enum Memory<'a> {
    Owned(Vec<u8>),
    Borrowed(&'a mut [u8]),
}

/// A model's evaluation state: the KV cache for `n_ctx` positions and the scratch buffers.
pub struct Context<'a> {
    model: &'a Model<'a>,
    params: ContextParams,
    layout: Layout,
    memory: Memory<'a>,
    /// Offset of the aligned base inside `memory`.
    base: usize,
    n_past: usize,
    /// Tokens whose logits are held: 0 before the first evaluation.
    n_logits: usize,
}

impl core::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Context")
            .field("params", &self.params)
            .field("bytes", &self.layout.total)
            .field("n_past", &self.n_past)
            .finish()
    }
}

impl<'a> Context<'a> {
    /// The exact number of bytes a context with these parameters needs, including the slack
    /// to align a buffer of any address.
    pub fn required_bytes(model: &Model, params: &ContextParams) -> Result<usize> {
        Layout::new(model, params)?
            .total
            .checked_add(ALIGN - 1)
            .ok_or_else(|| Error::BadParams {
                reason: "context size overflows".into(),
            })
    }

    /// A context in one allocation of [`Context::required_bytes`].
    pub fn new(model: &'a Model<'a>, params: ContextParams) -> Result<Context<'a>> {
        let n = Context::required_bytes(model, &params)?;
        let memory = zeroed_bytes(n, || {
            format!(
                "a context of {} positions (batch {}, {:?} KV cache)",
                params.n_ctx, params.n_batch, params.kv_type
            )
        })?;
        Context::build(model, params, Memory::Owned(memory))
    }

    /// A context that lives entirely in `buffer`, which must hold at least
    /// [`Context::required_bytes`] bytes (at any alignment). Nothing is allocated.
    pub fn new_in(
        model: &'a Model<'a>,
        params: ContextParams,
        buffer: &'a mut [u8],
    ) -> Result<Context<'a>> {
        let n = Context::required_bytes(model, &params)?;
        if buffer.len() < n {
            return Err(Error::BufferTooSmall {
                needed: n,
                given: buffer.len(),
            });
        }
        buffer[..n].fill(0);
        Context::build(model, params, Memory::Borrowed(buffer))
    }

    fn build(
        model: &'a Model<'a>,
        params: ContextParams,
        memory: Memory<'a>,
    ) -> Result<Context<'a>> {
        let layout = Layout::new(model, &params)?;
        let ptr = match &memory {
            Memory::Owned(v) => v.as_ptr(),
            Memory::Borrowed(b) => b.as_ptr(),
        };
        let base = ptr.align_offset(ALIGN);
        Ok(Context {
            model,
            params,
            layout,
            memory,
            base,
            n_past: 0,
            n_logits: 0,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &ContextParams {
        &self.params
    }

    /// The model.
    pub fn model(&self) -> &'a Model<'a> {
        self.model
    }

    /// Positions already in the KV cache.
    pub fn n_past(&self) -> usize {
        self.n_past
    }

    /// Forgets every position (the cache is reused from position 0).
    pub fn clear(&mut self) {
        self.n_past = 0;
        self.n_logits = 0;
    }

    /// Forgets positions from `n` on, keeping the first `n` (for example to rewind a chat).
    pub fn truncate(&mut self, n: usize) {
        if n < self.n_past {
            self.n_past = n;
            self.n_logits = 0;
        }
    }

    /// Evaluates `tokens` at the next positions (a whole prompt at once, causally masked) and
    /// keeps the logits of the last one (of every one with `logits_all`).
    ///
    /// Errors, leaving the context as it was: an empty batch, a token outside the vocabulary,
    /// more positions than the context holds, or more than `n_batch` tokens with `logits_all`.
    /// Allocates nothing.
    pub fn eval(&mut self, tokens: &[u32], par: &dyn Parallel) -> Result<()> {
        self.eval_traced(tokens, par, None)
    }

    /// As [`Context::eval`], calling `trace` with every intermediate tensor (the embeddings,
    /// each layer's `attn_norm`, `Qcur`, `Kcur`, `Vcur`, `kqv_out`, `attn_out`, `ffn_inp`,
    /// `ffn_norm`, `ffn_gate`, `ffn_up`, `ffn_swiglu`, `ffn_out`, `l_out`, then `result_norm`
    /// and `result_output`), named as in llama.cpp's graph so that they can be compared with
    /// what llama.cpp's eval callback sees. Values are token-major f32.
    pub fn eval_traced(
        &mut self,
        tokens: &[u32],
        par: &dyn Parallel,
        mut trace: Option<llama::Trace>,
    ) -> Result<()> {
        let c = self.model.config();
        if tokens.is_empty() {
            return Err(Error::BadParams {
                reason: "eval needs at least one token".into(),
            });
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(Error::BadToken {
                token: t,
                n_vocab: c.n_vocab,
            });
        }
        let needed = self.n_past.saturating_add(tokens.len());
        if needed > self.params.n_ctx {
            return Err(Error::ContextFull {
                n_ctx: self.params.n_ctx,
                needed,
            });
        }
        if self.params.logits_all && tokens.len() > self.params.n_batch {
            return Err(Error::BadParams {
                reason: format!(
                    "{} tokens with logits_all exceed n_batch {}",
                    tokens.len(),
                    self.params.n_batch
                ),
            });
        }
        let n_chunks = tokens.len().div_ceil(self.params.n_batch);
        for (i, chunk) in tokens.chunks(self.params.n_batch).enumerate() {
            let last = i + 1 == n_chunks;
            let want = match (last, self.params.logits_all) {
                (false, _) => llama::Logits::None,
                (true, false) => llama::Logits::Last,
                (true, true) => llama::Logits::All,
            };
            let mem = match &mut self.memory {
                Memory::Owned(v) => &mut v[self.base..],
                Memory::Borrowed(b) => &mut b[self.base..],
            };
            let tr = trace.as_mut().map(|t| &mut **t as llama::Trace);
            llama::forward(
                self.model,
                &self.params,
                &self.layout,
                mem,
                self.n_past,
                chunk,
                want,
                par,
                tr,
            );
            self.n_past += chunk.len();
            if last {
                self.n_logits = if self.params.logits_all {
                    chunk.len()
                } else {
                    1
                };
            }
        }
        Ok(())
    }

    fn logits_region(&self) -> &[u8] {
        let (start, len) = self.layout.logits;
        let mem: &[u8] = match &self.memory {
            Memory::Owned(v) => v,
            Memory::Borrowed(b) => b,
        };
        &mem[self.base + start..self.base + start + len]
    }

    /// The logits after the last evaluated token (empty before any evaluation).
    pub fn logits(&self) -> &[f32] {
        match self.n_logits {
            0 => &[],
            n => self.logits_at(n - 1).unwrap_or(&[]),
        }
    }

    /// With `logits_all`, the logits after token `i` of the last batch; without it only `i = 0`
    /// answers, with the logits after the batch's last token (as [`Context::logits`]).
    pub fn logits_at(&self, i: usize) -> Option<&[f32]> {
        if i >= self.n_logits {
            return None;
        }
        let n_vocab = self.model.config().n_vocab;
        let all = crate::kernels::as_f32(self.logits_region());
        all.get(i * n_vocab..(i + 1) * n_vocab)
    }
}
