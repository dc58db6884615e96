//! The evaluation context: KV cache and scratch, sized exactly up front, in host memory or one
//! allocation; evaluating tokens allocates nothing.

use alloc::format;
use alloc::vec::Vec;

use core::ops::{Bound, RangeBounds};

mod perf;
mod state;
pub use perf::PerfCounters;
pub use state::reseal_state;

use super::{llama, Model};
use crate::error::{Error, Result};
use crate::kernels::{activation_bytes, as_u64, as_u64_mut};
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
    /// Sequences the context can hold at once (1 to [`MAX_SEQ`]): they share the `n_ctx`
    /// cells of one KV cache (llama.cpp's unified cache), and a [`Context::decode`] may ask for
    /// the logits of up to `n_seq_max` tokens (`n_batch` with `logits_all`).
    pub n_seq_max: usize,
    /// Tokens of one [`Context::decode`] whose logits it can keep (llama.cpp's
    /// `n_outputs_max`); 0: `n_seq_max` (`n_batch` with `logits_all`), one per sequence, as
    /// generation needs. Each row costs `4 * n_vocab` bytes.
    pub n_outputs_max: usize,
    /// Also keep each output token's hidden state after the final norm (llama.cpp's
    /// `embeddings`: what [`Context::embeddings_ith`] and [`crate::embed`] read); each row
    /// costs `4 * n_embd` more bytes.
    pub embeddings: bool,
    /// Compute each sequence's attention over its own cells alone, in position order, with
    /// the one-token kernels whatever the step's size: a sequence's attention then depends
    /// only on its own tokens, not on what other sequences hold or evaluate alongside it, where
    /// its cells fall, or how its tokens were split into steps. The matrix products keep
    /// llama.cpp's kernels: with the legacy formats (Q4_0 to Q8_0) and Q5_K they round a token
    /// alike in any step, so a sequence's logits are then wholly its own (a server's answers do
    /// not depend on its load or on what its prompt cache held); the other K-quants round a
    /// prompt step differently from one-token steps, the float formats any multi-token step
    /// (`tests/isolated_seqs.rs` has the list). Evaluated one token per step from the start
    /// of the cache, a sequence gets the unified cache's bits, llama.cpp's.
    /// Default false: the unified cache's attention, bit for bit llama.cpp's, where the cells
    /// a token's sequence occupies and the step's size change the float order. Costs
    /// `8 * n_seq_max * (n_ctx + 1)` bytes more, a sort of each evaluated sequence's cells
    /// per step, and the one-token kernels' speed on prompts.
    pub isolate_seqs: bool,
}

/// The most sequences a context can hold.
pub const MAX_SEQ: usize = 64;

/// A set of sequence ids, each below [`MAX_SEQ`] (bit `s` stands for sequence `s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SeqSet(pub u64);

impl SeqSet {
    /// The set holding sequence `s` alone (empty when `s >= MAX_SEQ`).
    pub fn one(s: usize) -> SeqSet {
        SeqSet(if s < MAX_SEQ { 1 << s } else { 0 })
    }

    /// This set with sequence `s` added (unchanged when `s >= MAX_SEQ`).
    pub fn with(self, s: usize) -> SeqSet {
        SeqSet(self.0 | SeqSet::one(s).0)
    }

    /// Whether sequence `s` is in the set.
    pub fn contains(self, s: usize) -> bool {
        s < MAX_SEQ && self.0 & (1 << s) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The lowest sequence id in the set.
    pub fn first(self) -> Option<usize> {
        (self.0 != 0).then(|| self.0.trailing_zeros() as usize)
    }

    /// Sequences `0..n` (every sequence for `n >= MAX_SEQ`).
    pub(crate) fn first_n(n: usize) -> SeqSet {
        SeqSet(if n >= MAX_SEQ {
            u64::MAX
        } else {
            (1u64 << n) - 1
        })
    }

    /// The sequence ids in increasing order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_SEQ).filter(move |&s| self.contains(s))
    }
}

/// One token of a batch for [`Context::decode`], as an entry of llama.cpp's `llama_batch`:
/// the token, its position, the sequences it belongs to (a shared prompt token belongs to
/// several), and whether its logits are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchToken {
    /// The token id.
    pub token: u32,
    /// Its position in its sequences (what rope rotates by).
    pub pos: usize,
    /// The sequences it belongs to (not empty). Its attention follows the lowest of them, as
    /// llama.cpp's follows the first one listed.
    pub seqs: SeqSet,
    /// Keep the logits after this token ([`Context::logits_ith`]).
    pub logits: bool,
}

impl BatchToken {
    /// A token of one sequence.
    pub fn new(token: u32, pos: usize, seq: usize, logits: bool) -> BatchToken {
        BatchToken {
            token,
            pos,
            seqs: SeqSet::one(seq),
            logits,
        }
    }
}

/// Words per KV cell: the sequence set, the position plus one (0: empty, so zeroed memory is
/// an empty cache), the number of the evaluation that filled it (to undo an evaluation that
/// unwinds), the position change its key still has to be rotated by (an `i64`: the K-shift
/// applied at the next evaluation), and the token it holds (for prefix reuse).
pub(crate) const CELL_WORDS: usize = 5;

/// Words per token of the batch step being evaluated: token id (bit 32: logits wanted),
/// position, sequence set, cell, and its attention window: the cells up to the last one it
/// may see, and whether it sees every one of them (one sequence at consecutive cells, the
/// common case, needs no per-cell mask). The window is the same in every layer and head, so
/// it is worked out once per step.
pub(crate) const UB_WORDS: usize = 6;

/// Positions are at most this (llama.cpp's `llama_pos` is an `i32`).
pub const MAX_POS: usize = i32::MAX as usize;

impl Default for ContextParams {
    fn default() -> Self {
        ContextParams {
            n_ctx: 4096,
            n_batch: 512,
            kv_type: KvType::F16,
            logits_all: false,
            n_seq_max: 1,
            n_outputs_max: 0,
            embeddings: false,
            isolate_seqs: false,
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
    /// Hidden states after the final norm, a row per logits row (empty without
    /// [`ContextParams::embeddings`]).
    pub embd: (usize, usize),
    /// The KV cells ([`CELL_WORDS`] u64 each).
    pub cells: (usize, usize),
    /// The batch step being evaluated ([`UB_WORDS`] u64 per token).
    pub ubatch: (usize, usize),
    /// The batch index of each logits row (u64).
    pub out_ids: (usize, usize),
    /// With [`ContextParams::isolate_seqs`]: per sequence, the number of its cells, then
    /// those cells sorted by position (`n_ctx + 1` u64 each; empty otherwise).
    pub seq_cells: (usize, usize),
    /// Rows of the logits region.
    pub n_out: usize,
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
        if p.n_seq_max == 0 || p.n_seq_max > MAX_SEQ {
            return Err(Error::BadParams {
                reason: format!("n_seq_max ({}) must be 1 to {MAX_SEQ}", p.n_seq_max),
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
        // Scores (f32), weights and the query in the cache's type; with isolated sequences
        // also a value row gathered from the sequence's cells.
        let gathered = if p.isolate_seqs { n_pad * kv } else { 0 };
        let head_scratch =
            (n_pad * 4 + n_pad * kv + c.head_dim * kv + gathered).next_multiple_of(ALIGN);
        let act = model
            .matrices()
            .map(|w| activation_bytes(w.ty, w.cols, b))
            .max()
            .unwrap_or(0);
        let n_out = match (p.n_outputs_max, p.logits_all) {
            (0, true) => b,
            (0, false) => p.n_seq_max,
            (n, true) => n.max(b),
            (n, false) => n,
        };
        let words = |n: usize, w: usize| mul(&[n, w, 8]);
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
            embd: region(f32s(&[if p.embeddings { n_out } else { 0 }, c.n_embd]))?,
            cells: region(words(p.n_ctx, CELL_WORDS))?,
            ubatch: region(words(b, UB_WORDS))?,
            out_ids: region(words(n_out, 1))?,
            seq_cells: region(if p.isolate_seqs {
                words(p.n_seq_max, p.n_ctx + 1)
            } else {
                Some(0)
            })?,
            n_out,
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

/// A model's evaluation state: the KV cache's `n_ctx` cells, shared by up to `n_seq_max`
/// sequences, and the scratch buffers.
pub struct Context<'a> {
    model: &'a Model<'a>,
    params: ContextParams,
    layout: Layout,
    memory: Memory<'a>,
    /// Offset of the aligned base inside `memory`.
    base: usize,
    /// Where the search for free cells starts (llama.cpp's `head`).
    head: usize,
    /// Cells in use.
    used: usize,
    /// Rows of logits held from the last evaluation: 0 before the first.
    n_outputs: usize,
    /// Evaluations so far (the number the cells of the next one are marked with).
    epoch: u64,
    /// Some cell's key waits for a K-shift.
    has_shift: bool,
    /// What has been evaluated (a plain field, outside the arena, so `required_bytes` does not
    /// depend on it).
    perf: PerfCounters,
}

/// Undoes an evaluation whose forward pass unwinds (a host `Parallel` that panics): the cells
/// it claimed are freed, so the context is as it was before the call.
struct Rollback<'a> {
    ctx: *mut Context<'a>,
    state: (usize, usize, usize),
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        // SAFETY: `ctx` comes from the `&mut Context` of the `decode_with` call this guard
        // lives in; it is dropped (without `forget`) only while that call unwinds, when no
        // other borrow of the context is in use.
        let ctx = unsafe { &mut *self.ctx };
        let epoch = ctx.epoch;
        let n = ctx.params.n_ctx;
        let cells = ctx.cells_mut();
        for i in 0..n {
            let c = &mut cells[i * CELL_WORDS..][..CELL_WORDS];
            if c[1] != 0 && c[2] == epoch {
                c.fill(0);
            }
        }
        (ctx.head, ctx.used, ctx.n_outputs) = self.state;
    }
}

impl core::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Context")
            .field("params", &self.params)
            .field("bytes", &self.layout.total)
            .field("used", &self.used)
            .finish()
    }
}

/// The resolved bounds of a position range: `[p0, p1)`.
fn span(range: impl RangeBounds<usize>) -> (usize, usize) {
    let p0 = match range.start_bound() {
        Bound::Included(&p) => p,
        Bound::Excluded(&p) => p.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let p1 = match range.end_bound() {
        Bound::Included(&p) => p.saturating_add(1),
        Bound::Excluded(&p) => p,
        Bound::Unbounded => usize::MAX,
    };
    (p0, p1)
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
            head: 0,
            used: 0,
            n_outputs: 0,
            epoch: 0,
            has_shift: false,
            perf: PerfCounters::started(),
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

    /// What this context has evaluated since it was created or since [`Context::perf_reset`]:
    /// prompt and generated tokens, calls, tokens kept by [`Context::reuse_prefix`], and (with
    /// the `std` feature; zero without) the time spent (llama.cpp's `llama_perf_context`).
    pub fn perf(&self) -> PerfCounters {
        self.perf
    }

    /// Zeroes the counters and starts counting again from now (llama.cpp's
    /// `llama_perf_context_reset`). The cache, logits and everything else stay as they are.
    pub fn perf_reset(&mut self) {
        self.perf = PerfCounters::started();
    }

    fn mem(&self) -> &[u8] {
        match &self.memory {
            Memory::Owned(v) => &v[self.base..],
            Memory::Borrowed(b) => &b[self.base..],
        }
    }

    fn mem_mut(&mut self) -> &mut [u8] {
        match &mut self.memory {
            Memory::Owned(v) => &mut v[self.base..],
            Memory::Borrowed(b) => &mut b[self.base..],
        }
    }

    fn cells(&self) -> &[u64] {
        let (start, len) = self.layout.cells;
        as_u64(&self.mem()[start..start + len])
    }

    fn cells_mut(&mut self) -> &mut [u64] {
        let (start, len) = self.layout.cells;
        as_u64_mut(&mut self.mem_mut()[start..start + len])
    }

    /// Cell `i`'s position and sequences, `None` when it is empty.
    fn cell(&self, i: usize) -> Option<(usize, SeqSet)> {
        let c = &self.cells()[i * CELL_WORDS..][..CELL_WORDS];
        (c[1] != 0).then(|| ((c[1] - 1) as usize, SeqSet(c[0])))
    }

    /// Cells in use (by any sequence).
    pub fn n_used(&self) -> usize {
        self.used
    }

    /// The next position of sequence 0: the positions it holds, for a context used as one
    /// sequence at consecutive positions from 0 ([`Context::eval`]).
    pub fn n_past(&self) -> usize {
        self.seq_pos_max(0).map_or(0, |p| p + 1)
    }

    /// The smallest position sequence `seq` holds (`None`: it holds none, or `seq` is not a
    /// sequence of this context).
    pub fn seq_pos_min(&self, seq: usize) -> Option<usize> {
        (0..self.params.n_ctx)
            .filter_map(|i| self.cell(i))
            .filter(|(_, s)| s.contains(seq))
            .map(|(p, _)| p)
            .min()
    }

    /// The largest position sequence `seq` holds (`None`: it holds none).
    pub fn seq_pos_max(&self, seq: usize) -> Option<usize> {
        (0..self.params.n_ctx)
            .filter_map(|i| self.cell(i))
            .filter(|(_, s)| s.contains(seq))
            .map(|(p, _)| p)
            .max()
    }

    fn check_seq(&self, seq: usize) -> Result<()> {
        if seq >= self.params.n_seq_max {
            return Err(Error::BadParams {
                reason: format!(
                    "sequence {seq} is not below this context's n_seq_max ({})",
                    self.params.n_seq_max
                ),
            });
        }
        Ok(())
    }

    /// Applies `f(seqs, pos) -> new seqs` to every non-empty cell; cells left with no sequence
    /// become empty (llama.cpp moves its head back to the first cell freed before it).
    fn edit_cells(&mut self, f: impl Fn(SeqSet, usize) -> SeqSet) {
        let n = self.params.n_ctx;
        let mut freed_first = None;
        let mut used = self.used;
        let cells = self.cells_mut();
        for i in 0..n {
            let c = &mut cells[i * CELL_WORDS..][..CELL_WORDS];
            if c[1] == 0 {
                continue;
            }
            let seqs = f(SeqSet(c[0]), (c[1] - 1) as usize);
            c[0] = seqs.0;
            if seqs.is_empty() {
                c.fill(0);
                used -= 1;
                freed_first.get_or_insert(i);
            }
        }
        self.used = used;
        if let Some(i) = freed_first {
            if i < self.head {
                self.head = i;
            }
        }
    }

    /// Removes the positions in `range` of sequence `seq` (`None`: of every sequence), as
    /// llama.cpp's `llama_memory_seq_rm`; a cell shared with other sequences stays theirs.
    /// The logits of the last evaluation stay readable.
    pub fn seq_rm(&mut self, seq: Option<usize>, range: impl RangeBounds<usize>) -> Result<()> {
        if let Some(s) = seq {
            self.check_seq(s)?;
        }
        let (p0, p1) = span(range);
        let drop = seq.map_or(SeqSet(u64::MAX), SeqSet::one);
        self.edit_cells(|seqs, pos| {
            if (p0..p1).contains(&pos) {
                SeqSet(seqs.0 & !drop.0)
            } else {
                seqs
            }
        });
        Ok(())
    }

    /// Adds sequence `dst` to the cells of sequence `src` in `range` (the cells are shared,
    /// not copied), as `llama_memory_seq_cp`.
    pub fn seq_cp(&mut self, src: usize, dst: usize, range: impl RangeBounds<usize>) -> Result<()> {
        self.check_seq(src)?;
        self.check_seq(dst)?;
        if src == dst {
            return Ok(());
        }
        let (p0, p1) = span(range);
        self.edit_cells(|seqs, pos| {
            if seqs.contains(src) && (p0..p1).contains(&pos) {
                seqs.with(dst)
            } else {
                seqs
            }
        });
        Ok(())
    }

    /// Keeps sequence `seq` only: every other sequence is removed, as `llama_memory_seq_keep`.
    pub fn seq_keep(&mut self, seq: usize) -> Result<()> {
        self.check_seq(seq)?;
        let keep = SeqSet::one(seq);
        self.edit_cells(|seqs, _| SeqSet(seqs.0 & keep.0));
        Ok(())
    }

    /// Adds `delta` to the positions in `range` of sequence `seq`, as llama.cpp's
    /// `llama_memory_seq_add`: the keys of those cells are re-rotated by `delta` before the next
    /// evaluation (llama.cpp's K-shift), so a host can drop the oldest part of a conversation
    /// with [`Context::seq_rm`] and move the rest back ("context shift"). A cell whose position
    /// would fall below 0 is removed (from every sequence it holds). A position past
    /// [`MAX_POS`] is an error that changes nothing.
    pub fn seq_add(
        &mut self,
        seq: usize,
        range: impl RangeBounds<usize>,
        delta: isize,
    ) -> Result<()> {
        self.check_seq(seq)?;
        let (p0, p1) = span(range);
        if delta == 0 || p0 >= p1 {
            return Ok(());
        }
        let n = self.params.n_ctx;
        let bit = SeqSet::one(seq).0;
        let touched =
            |c: &[u64]| c[1] != 0 && c[0] & bit != 0 && (p0..p1).contains(&((c[1] - 1) as usize));
        if delta > 0 {
            let cells = self.cells();
            for i in 0..n {
                let c = &cells[i * CELL_WORDS..][..CELL_WORDS];
                if touched(c) && (c[1] - 1) as u128 + delta as u128 > MAX_POS as u128 {
                    return Err(Error::BadParams {
                        reason: format!(
                            "seq_add: position {} + {delta} is above {MAX_POS}",
                            c[1] - 1
                        ),
                    });
                }
            }
        }
        let mut freed_first = None;
        let mut freed = 0;
        let cells = self.cells_mut();
        for i in 0..n {
            let c = &mut cells[i * CELL_WORDS..][..CELL_WORDS];
            if !touched(c) {
                continue;
            }
            let new = (c[1] - 1) as i64 + delta as i64;
            if new < 0 {
                c.fill(0);
                freed += 1;
                freed_first.get_or_insert(i);
            } else {
                c[1] = new as u64 + 1;
                c[3] = (c[3] as i64).wrapping_add(delta as i64) as u64;
            }
        }
        self.used -= freed;
        self.has_shift = true;
        // llama.cpp: the head goes to the first freed cell, else to the start.
        self.head = freed_first.unwrap_or(0);
        Ok(())
    }

    /// Divides the positions in `range` of sequence `seq` by `d` (integer division), as
    /// llama.cpp's `llama_memory_seq_div` (self-extend); the keys are re-rotated to their new
    /// positions before the next evaluation. `d = 0` is an error.
    pub fn seq_div(&mut self, seq: usize, range: impl RangeBounds<usize>, d: usize) -> Result<()> {
        self.check_seq(seq)?;
        if d == 0 {
            return Err(Error::BadParams {
                reason: "seq_div: division by 0".into(),
            });
        }
        let (p0, p1) = span(range);
        if d == 1 || p0 >= p1 {
            return Ok(());
        }
        let n = self.params.n_ctx;
        let bit = SeqSet::one(seq).0;
        let cells = self.cells_mut();
        for i in 0..n {
            let c = &mut cells[i * CELL_WORDS..][..CELL_WORDS];
            if c[1] == 0 || c[0] & bit == 0 || !(p0..p1).contains(&((c[1] - 1) as usize)) {
                continue;
            }
            let old = c[1] - 1;
            let new = old / d as u64;
            c[1] = new + 1;
            // The key moves from `old` to `new`. (llama.cpp 0c1e570 adds `old - new`, the
            // opposite rotation; earlier versions added `new - old`, as here.)
            c[3] = (c[3] as i64).wrapping_sub((old - new) as i64) as u64;
        }
        self.has_shift = true;
        Ok(())
    }

    /// Rotates the keys of the cells whose positions moved by their pending shift (llama.cpp's
    /// K-shift: `ggml_rope_ext` of each cached key by the shift, in place, F16 keys converted
    /// to f32 and back), then forgets the shifts.
    fn apply_shift(&mut self) {
        if !self.has_shift {
            return;
        }
        self.has_shift = false;
        let c = self.model.config();
        let (n_layer, n_head_kv, hd, n_rot) = (c.n_layer, c.n_head_kv, c.head_dim, c.n_rot);
        let (base, scale) = (c.rope_freq_base, c.rope_freq_scale());
        let n = self.params.n_ctx;
        let ty = self.params.kv_type.ggml();
        let e = ty.type_size();
        let layout = self.layout;
        let mem = self.mem_mut();
        let (cells_at, cells_len) = layout.cells;
        let (k_at, k_len) = layout.k_cache;
        let (rope_at, _) = layout.rope;
        // Regions in layout order: keys, ..., rope table, ..., cells.
        let (lo, hi) = mem.split_at_mut(rope_at);
        let k_cache = &mut lo[k_at..k_at + k_len];
        let (rope, rest) = hi.split_at_mut(n_rot * 4);
        let table = crate::kernels::as_f32_mut(rope);
        let cells = as_u64_mut(&mut rest[cells_at - rope_at - n_rot * 4..][..cells_len]);
        let mut row = [0f32; 2];
        for i in 0..n {
            let cell = &mut cells[i * CELL_WORDS..][..CELL_WORDS];
            let shift = cell[3] as i64;
            cell[3] = 0;
            if cell[1] == 0 || shift == 0 {
                continue;
            }
            crate::kernels::rope_cache_signed(shift as f32, n_rot, base, scale, table);
            for layer in 0..n_layer {
                for g in 0..n_head_kv {
                    let at = ((layer * n_head_kv + g) * n + i) * hd * e;
                    let key = &mut k_cache[at..at + n_rot * e];
                    for (p, pair) in key.chunks_exact_mut(2 * e).enumerate() {
                        for (k, x) in row.iter_mut().enumerate() {
                            *x = load_kv(ty, &pair[k * e..(k + 1) * e]);
                        }
                        let (cos, sin) = (table[2 * p], table[2 * p + 1]);
                        let (y0, y1) =
                            crate::kernels::reference::math::rope_pair(row[0], row[1], cos, sin);
                        store_kv(ty, y0, &mut pair[..e]);
                        store_kv(ty, y1, &mut pair[e..]);
                    }
                }
            }
        }
    }

    /// How many of `tokens` sequence `seq` already holds as its first positions: the length of
    /// the longest prefix of `tokens` cached at positions `0..` (0 when the sequence's cached
    /// positions have a gap or a duplicate before the first difference).
    pub fn cached_prefix(&self, seq: usize, tokens: &[u32]) -> usize {
        if seq >= self.params.n_seq_max {
            return 0;
        }
        let bit = SeqSet::one(seq).0;
        let cells = self.cells();
        // The first position (within `tokens`) that holds another token.
        let mut first_bad = tokens.len();
        for c in cells.chunks_exact(CELL_WORDS) {
            if c[1] == 0 || c[0] & bit == 0 {
                continue;
            }
            let pos = (c[1] - 1) as usize;
            if pos < first_bad && c[4] != u64::from(tokens[pos]) {
                first_bad = pos;
            }
        }
        // Below it every cached position matches; the prefix is 0..end when those positions
        // are all present (the cache may also end before `first_bad`: a prompt that extends
        // what is cached). A gap (a range removed from the middle) keeps nothing.
        let (mut present, mut end) = (0, 0);
        for c in cells.chunks_exact(CELL_WORDS) {
            if c[1] != 0 && c[0] & bit != 0 && ((c[1] - 1) as usize) < first_bad {
                present += 1;
                end = end.max(c[1] as usize);
            }
        }
        if present == end {
            end
        } else {
            0
        }
    }

    /// Makes sequence 0 ready to hold exactly `tokens`: keeps the longest prefix of them it
    /// already holds ([`Context::cached_prefix`]), short of the last token (whose logits must be
    /// computed again), and removes everything after it. Returns how many tokens were kept: the
    /// caller evaluates `tokens[kept..]` ([`Context::eval`], or a generation's feed), so a
    /// prompt that repeats the start of the previous one is not evaluated again. The kept tokens
    /// are added to [`Context::perf`]'s `n_reused`.
    pub fn reuse_prefix(&mut self, tokens: &[u32]) -> usize {
        let kept = self
            .cached_prefix(0, tokens)
            .min(tokens.len().saturating_sub(1));
        let used = self.used;
        // Sequence 0 always exists.
        let _ = self.seq_rm(Some(0), kept..);
        if self.used != used {
            // The last logits were of a position that is gone.
            self.n_outputs = 0;
        }
        self.perf.reused(kept);
        kept
    }

    /// Forgets every position of every sequence (the cache is reused from cell 0).
    pub fn clear(&mut self) {
        let n = self.params.n_ctx * CELL_WORDS;
        self.cells_mut()[..n].fill(0);
        self.used = 0;
        self.head = 0;
        self.n_outputs = 0;
        self.has_shift = false;
    }

    /// Forgets positions from `n` on of sequence 0, keeping the first `n` (for example to
    /// rewind a chat). The logits are forgotten when anything is removed.
    pub fn truncate(&mut self, n: usize) {
        if n < self.n_past() {
            // Sequence 0 always exists.
            let _ = self.seq_rm(Some(0), n..);
            self.n_outputs = 0;
        }
    }

    /// Evaluates `tokens` at the next positions of sequence 0 (a whole prompt at once,
    /// causally masked) and keeps the logits of the last one (of every one with `logits_all`).
    ///
    /// Errors, leaving the context as it was: an empty batch, a token outside the vocabulary,
    /// more positions than the context holds, or more than `n_batch` tokens with `logits_all`.
    /// Allocates nothing. Counted in [`Context::perf`].
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
        trace: Option<llama::Trace>,
    ) -> Result<()> {
        if self.params.logits_all && tokens.len() > self.params.n_batch {
            return Err(Error::BadParams {
                reason: format!(
                    "{} tokens with logits_all exceed n_batch {}",
                    tokens.len(),
                    self.params.n_batch
                ),
            });
        }
        let n_past = self.n_past();
        let all = self.params.logits_all;
        let n = tokens.len();
        let at = |i: usize| BatchToken {
            token: tokens[i],
            pos: n_past + i,
            seqs: SeqSet::one(0),
            logits: all || i + 1 == n,
        };
        self.decode_with(n, &at, par, trace)
    }

    /// Evaluates a batch: tokens of any of the context's sequences, each at its own position,
    /// in one pass over the weights per step of `n_batch` tokens (llama.cpp's `llama_decode`).
    /// Each token attends to the cached cells of its (lowest) sequence at positions up to its
    /// own, including the batch's earlier tokens; its keys and values take the first free
    /// cells from where the last step ended, as llama.cpp's unified cache places them, so the
    /// logits equal llama.cpp's for the same batch. The logits of the tokens that asked are
    /// read by batch index with [`Context::logits_ith`].
    ///
    /// Errors, leaving the context as it was: an empty batch; a token outside the vocabulary;
    /// an empty sequence set or one naming a sequence at or above `n_seq_max`; a position
    /// above [`MAX_POS`]; positions of a sequence that do not continue what the cache holds
    /// for it (the first must be one past its largest cached position), decrease, or skip one;
    /// more tokens asking for logits than the context keeps ([`ContextParams::n_outputs_max`]);
    /// more tokens than free cells ([`Error::ContextFull`]). Allocates nothing. Counted in
    /// [`Context::perf`].
    pub fn decode(&mut self, batch: &[BatchToken], par: &dyn Parallel) -> Result<()> {
        self.decode_with(batch.len(), &|i| batch[i], par, None)
    }

    /// As [`Context::decode`], with the batch's tokens made by `at` (no slice to build).
    pub(crate) fn decode_fn(
        &mut self,
        n: usize,
        at: &dyn Fn(usize) -> BatchToken,
        par: &dyn Parallel,
    ) -> Result<()> {
        self.decode_with(n, at, par, None)
    }

    /// Rows of outputs (logits, embeddings) one evaluation can keep.
    pub fn output_rows(&self) -> usize {
        self.layout.n_out
    }

    fn validate(&self, n: usize, at: &dyn Fn(usize) -> BatchToken) -> Result<()> {
        let c = self.model.config();
        let n_seq = self.params.n_seq_max;
        if n == 0 {
            return Err(Error::BadParams {
                reason: "eval needs at least one token".into(),
            });
        }
        let valid = SeqSet::first_n(n_seq);
        let mut outputs = 0usize;
        // Per sequence: the batch's smallest and largest position and token count, the last
        // position seen (for order).
        let mut min = [usize::MAX; MAX_SEQ];
        let mut max = [0usize; MAX_SEQ];
        let mut count = [0usize; MAX_SEQ];
        let mut last = [0usize; MAX_SEQ];
        for i in 0..n {
            let t = at(i);
            if t.token as usize >= c.n_vocab {
                return Err(Error::BadToken {
                    token: t.token,
                    n_vocab: c.n_vocab,
                });
            }
            if t.seqs.is_empty() || t.seqs.0 & !valid.0 != 0 {
                return Err(Error::BadParams {
                    reason: format!(
                        "batch token {i}: sequence set {:#x} is empty or names a sequence at or above n_seq_max ({n_seq})",
                        t.seqs.0
                    ),
                });
            }
            if t.pos > MAX_POS {
                return Err(Error::BadParams {
                    reason: format!("batch token {i}: position {} is above {MAX_POS}", t.pos),
                });
            }
            outputs += usize::from(t.logits);
            for s in t.seqs.iter() {
                if count[s] > 0 && t.pos < last[s] {
                    return Err(Error::BadParams {
                        reason: format!(
                            "batch token {i}: the positions of sequence {s} decrease ({} after {})",
                            t.pos, last[s]
                        ),
                    });
                }
                last[s] = t.pos;
                min[s] = min[s].min(t.pos);
                max[s] = max[s].max(t.pos);
                count[s] += 1;
            }
        }
        if outputs > self.layout.n_out {
            return Err(Error::BadParams {
                reason: format!(
                    "{outputs} tokens ask for logits; this context keeps {} rows (ContextParams::n_outputs_max)",
                    self.layout.n_out
                ),
            });
        }
        let mut cached = [None::<usize>; MAX_SEQ];
        for i in 0..self.params.n_ctx {
            if let Some((p, seqs)) = self.cell(i) {
                for s in seqs.iter() {
                    cached[s] = Some(cached[s].map_or(p, |m: usize| m.max(p)));
                }
            }
        }
        for s in 0..n_seq {
            if count[s] == 0 {
                continue;
            }
            if let Some(p) = cached[s] {
                if min[s] != p + 1 {
                    return Err(Error::BadParams {
                        reason: format!(
                            "sequence {s}: the batch starts at position {}, the cache holds positions up to {p}: positions must continue at {}",
                            min[s],
                            p + 1
                        ),
                    });
                }
            }
            if max[s] - min[s] + 1 > count[s] {
                return Err(Error::BadParams {
                    reason: format!(
                        "sequence {s}: the batch's positions {}..={} skip some",
                        min[s], max[s]
                    ),
                });
            }
        }
        let needed = self.used.saturating_add(n);
        if needed > self.params.n_ctx {
            return Err(Error::ContextFull {
                n_ctx: self.params.n_ctx,
                needed,
            });
        }
        Ok(())
    }

    /// [`Context::decode`] of the `n` tokens `at(0..n)` (a host's batch in its own layout,
    /// converted one token at a time: the C ABI's).
    pub(crate) fn decode_with(
        &mut self,
        n: usize,
        at: &dyn Fn(usize) -> BatchToken,
        par: &dyn Parallel,
        mut trace: Option<llama::Trace>,
    ) -> Result<()> {
        self.validate(n, at)?;
        // As llama.cpp's decode, timed from after the batch is checked (a pending K-shift
        // included) to when the logits are ready.
        let t0 = perf::clock::now();
        self.apply_shift();
        self.epoch += 1;
        let epoch = self.epoch;
        let rollback = Rollback {
            ctx: self as *mut Context<'a>,
            state: (self.head, self.used, self.n_outputs),
        };
        let n_ctx = self.params.n_ctx;
        let n_batch = self.params.n_batch;
        let layout = self.layout;
        let mut outputs = 0usize;
        let mut start = 0usize;
        while start < n {
            let len = (n - start).min(n_batch);
            // Cells for the step: the first free ones from the head, wrapping (llama.cpp's
            // `find_slot` with non-contiguous slots), started over from 0 when enough free
            // cells lie before the head. Free cells exist: `validate` counted them.
            let mut head = self.head;
            if head > self.used + 2 * len {
                head = 0;
            }
            let mut last_cell = 0usize;
            let out0 = outputs;
            {
                let mem = self.mem_mut();
                let (cells_at, cells_len) = layout.cells;
                let (ub_at, ub_len) = layout.ubatch;
                let (ids_at, ids_len) = layout.out_ids;
                // The three regions are disjoint and in this order.
                let (lo, hi) = mem.split_at_mut(ub_at);
                let cells = as_u64_mut(&mut lo[cells_at..cells_at + cells_len]);
                let (ub, rest) = hi.split_at_mut(ub_len);
                let ub = as_u64_mut(ub);
                let ids = as_u64_mut(&mut rest[ids_at - ub_at - ub_len..][..ids_len]);
                let mut k = 0usize;
                while k < len {
                    if head >= n_ctx {
                        head = 0;
                    }
                    let i = head;
                    head += 1;
                    if cells[i * CELL_WORDS + 1] != 0 {
                        continue;
                    }
                    let t = at(start + k);
                    cells[i * CELL_WORDS] = t.seqs.0;
                    cells[i * CELL_WORDS + 1] = t.pos as u64 + 1;
                    cells[i * CELL_WORDS + 2] = epoch;
                    cells[i * CELL_WORDS + 3] = 0;
                    cells[i * CELL_WORDS + 4] = t.token as u64;
                    let w = &mut ub[k * UB_WORDS..][..UB_WORDS];
                    w[0] = t.token as u64 | (u64::from(t.logits) << 32);
                    w[1] = t.pos as u64;
                    w[2] = t.seqs.0;
                    w[3] = i as u64;
                    if t.logits {
                        ids[outputs] = (start + k) as u64;
                        outputs += 1;
                    }
                    last_cell = i;
                    k += 1;
                }
            }
            self.used += len;
            self.head = last_cell + 1;
            // The attention window: cells up to the last one in use.
            let n_kv = (0..n_ctx)
                .rev()
                .find(|&i| self.cells()[i * CELL_WORDS + 1] != 0)
                .map_or(0, |i| i + 1);
            if self.params.isolate_seqs {
                mark_isolated_windows(self.mem_mut(), &layout, len, n_kv, n_ctx);
            } else {
                mark_windows(self.mem_mut(), &layout, len, n_kv);
            }
            let tr = trace.as_mut().map(|t| &mut **t as llama::Trace);
            let model = self.model;
            let params = self.params;
            llama::forward(model, &params, &layout, self.mem_mut(), len, out0, par, tr);
            start += len;
        }
        core::mem::forget(rollback);
        self.n_outputs = outputs;
        self.perf.record(n, perf::clock::since(t0));
        Ok(())
    }

    fn logits_region(&self) -> &[u8] {
        let (start, len) = self.layout.logits;
        &self.mem()[start..start + len]
    }

    /// The logits after the last evaluated token that asked for them (empty before any
    /// evaluation).
    pub fn logits(&self) -> &[f32] {
        match self.n_outputs {
            0 => &[],
            n => self.logits_at(n - 1).unwrap_or(&[]),
        }
    }

    /// Row `i` of the last evaluation's logits: the `i`-th token that asked for them (with
    /// [`Context::eval`] and `logits_all`, token `i`; without it only `i = 0`, the last
    /// token).
    pub fn logits_at(&self, i: usize) -> Option<&[f32]> {
        if i >= self.n_outputs {
            return None;
        }
        let n_vocab = self.model.config().n_vocab;
        let all = crate::kernels::as_f32(self.logits_region());
        all.get(i * n_vocab..(i + 1) * n_vocab)
    }

    /// The logits after token `i` of the last [`Context::decode`]'s batch, if it asked for them
    /// (llama.cpp's `llama_get_logits_ith`).
    pub fn logits_ith(&self, i: usize) -> Option<&[f32]> {
        let (start, len) = self.layout.out_ids;
        let ids = &as_u64(&self.mem()[start..start + len])[..self.n_outputs];
        // Batch indices are stored in increasing order.
        let row = ids.binary_search(&(i as u64)).ok()?;
        self.logits_at(row)
    }

    /// Tokens whose logits the last evaluation kept.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Row `i` of the last evaluation's embeddings (as [`Context::logits_at`]): the hidden
    /// state after the final norm of the `i`-th token that asked for outputs, `n_embd` floats
    /// (llama.cpp's embeddings with pooling `none`). `None` without
    /// [`ContextParams::embeddings`].
    pub fn embeddings_at(&self, i: usize) -> Option<&[f32]> {
        if i >= self.n_outputs || !self.params.embeddings {
            return None;
        }
        let d = self.model.config().n_embd;
        let (start, len) = self.layout.embd;
        let all = crate::kernels::as_f32(&self.mem()[start..start + len]);
        all.get(i * d..(i + 1) * d)
    }

    /// The embedding of token `i` of the last [`Context::decode`]'s batch, if it asked for
    /// outputs (llama.cpp's `llama_get_embeddings_ith`).
    pub fn embeddings_ith(&self, i: usize) -> Option<&[f32]> {
        let (start, len) = self.layout.out_ids;
        let ids = &as_u64(&self.mem()[start..start + len])[..self.n_outputs];
        let row = ids.binary_search(&(i as u64)).ok()?;
        self.embeddings_at(row)
    }
}

/// One element of the KV cache as f32 (F16 or F32, little-endian).
fn load_kv(ty: GgmlType, b: &[u8]) -> f32 {
    match ty {
        GgmlType::F16 => crate::quant::f16_le([b[0], b[1]]),
        _ => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
    }
}

/// Stores an f32 as one KV cache element (rounded to nearest even for F16).
fn store_kv(ty: GgmlType, x: f32, b: &mut [u8]) {
    match ty {
        GgmlType::F16 => b.copy_from_slice(&crate::quant::to_f16_le(x)),
        _ => b.copy_from_slice(&x.to_le_bytes()),
    }
}

/// With isolated sequences: writes, for each sequence the step's tokens follow, its cells
/// sorted by position into the `seq_cells` region, and into each token's `ubatch` word 4 how
/// many of them it may see (the first ones: positions not after its own).
fn mark_isolated_windows(mem: &mut [u8], layout: &Layout, len: usize, n_kv: usize, n_ctx: usize) {
    let (cells_at, cells_len) = layout.cells;
    let (ub_at, ub_len) = layout.ubatch;
    let (sc_at, sc_len) = layout.seq_cells;
    let (lo, hi) = mem.split_at_mut(ub_at);
    let cells = as_u64(&lo[cells_at..cells_at + cells_len]);
    let (ub, rest) = hi.split_at_mut(ub_len);
    let ub = as_u64_mut(ub);
    let seq_cells = as_u64_mut(&mut rest[sc_at - ub_at - ub_len..][..sc_len]);
    let words = n_ctx + 1;
    // The sequences the step's tokens follow (bit set).
    let mut present = 0u64;
    for w in ub[..len * UB_WORDS].chunks_exact(UB_WORDS) {
        present |= w[2] & w[2].wrapping_neg();
    }
    for s in SeqSet(present).iter() {
        let list = &mut seq_cells[s * words..(s + 1) * words];
        let (n, cells_of) = list.split_at_mut(1);
        let bit = 1u64 << s;
        let mut k = 0;
        for (j, c) in cells[..n_kv * CELL_WORDS]
            .chunks_exact(CELL_WORDS)
            .enumerate()
        {
            if c[1] != 0 && c[0] & bit != 0 {
                cells_of[k] = j as u64;
                k += 1;
            }
        }
        // By position (a sequence holds each position once).
        cells_of[..k].sort_unstable_by_key(|&j| cells[j as usize * CELL_WORDS + 1]);
        n[0] = k as u64;
    }
    for w in ub[..len * UB_WORDS].chunks_exact_mut(UB_WORDS) {
        let (pos, seq) = (w[1], w[2] & w[2].wrapping_neg());
        let s = seq.trailing_zeros() as usize;
        let list = &seq_cells[s * words..(s + 1) * words];
        let k = list[0] as usize;
        let seen = list[1..=k].partition_point(|&j| cells[j as usize * CELL_WORDS + 1] - 1 <= pos);
        w[4] = seen as u64;
        w[5] = 0;
    }
}

/// Writes each step token's attention window into its `ubatch` words 4 and 5: one past the
/// last cell it may see (in use, of its lowest sequence, at a position not after its own:
/// llama.cpp's KQ mask) and whether it may see every cell below that.
fn mark_windows(mem: &mut [u8], layout: &Layout, len: usize, n_kv: usize) {
    let (cells_at, cells_len) = layout.cells;
    let (ub_at, ub_len) = layout.ubatch;
    let (lo, hi) = mem.split_at_mut(ub_at);
    let cells = as_u64(&lo[cells_at..cells_at + cells_len]);
    let ub = as_u64_mut(&mut hi[..ub_len]);
    for w in ub[..len * UB_WORDS].chunks_exact_mut(UB_WORDS) {
        let (pos, seqs) = (w[1], w[2]);
        let seq = seqs & seqs.wrapping_neg();
        let (mut seen, mut visible) = (0u64, 0u64);
        for (j, c) in cells[..n_kv * CELL_WORDS]
            .chunks_exact(CELL_WORDS)
            .enumerate()
        {
            if c[1] != 0 && c[0] & seq != 0 && c[1] - 1 <= pos {
                seen = j as u64 + 1;
                visible += 1;
            }
        }
        w[4] = seen;
        w[5] = u64::from(visible == seen);
    }
}
