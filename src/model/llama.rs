//! The llama forward pass (CodeLlama, Llama 2, SmolLM2, Mistral-style GQA), read top to bottom.
//!
//! It follows llama.cpp's graph (`src/models/llama.cpp` and `llm_graph_context::build_attn`)
//! and CPU numerics: activations are quantized to the weight type's partner format before each
//! matrix product ([`matmul`]); queries and attention weights are rounded to the KV cache's type
//! before their products with the cache, as ggml's `mul_mat` converts its second operand to the
//! first's `vec_dot_type`; norms, rope, softmax and SwiGLU are f32 with f64 sums where ggml has
//! them. The fast paths live in `kernels/`.

use super::context::{ContextParams, Layout, CELL_WORDS, UB_WORDS, V_PAD};
use super::Model;
use crate::kernels::{
    add_assign, as_f32_mut, as_u64, dot, matmul, matmuls, rms_norm, rope_apply, rope_cache,
    softmax_scaled, swiglu, Path, SharedMut,
};
use crate::parallel::Parallel;
use crate::quant::{self, GgmlType};

/// The context's memory cut into its regions.
struct Regions<'m> {
    k_cache: &'m mut [u8],
    v_cache: &'m mut [u8],
    x: &'m mut [f32],
    xb: &'m mut [f32],
    q: &'m mut [f32],
    k: &'m mut [f32],
    v: &'m mut [f32],
    att: &'m mut [f32],
    proj: &'m mut [f32],
    gate: &'m mut [f32],
    up: &'m mut [f32],
    rope: &'m mut [f32],
    heads: &'m mut [u8],
    act: &'m mut [u8],
    logits: &'m mut [f32],
    embd: &'m mut [f32],
    cells: &'m [u64],
    ubatch: &'m [u64],
    seq_cells: &'m [u64],
}

fn regions<'m>(mem: &'m mut [u8], l: &Layout) -> Regions<'m> {
    // Regions are laid out in this order, each at its offset; cut them off one by one.
    let mut rest = mem;
    let mut at = 0usize;
    let mut take = |(start, len): (usize, usize)| -> &'m mut [u8] {
        let r = core::mem::take(&mut rest);
        let (_, r) = r.split_at_mut(start - at);
        let (region, r) = r.split_at_mut(len);
        rest = r;
        at = start + len;
        region
    };
    Regions {
        k_cache: take(l.k_cache),
        v_cache: take(l.v_cache),
        x: as_f32_mut(take(l.x)),
        xb: as_f32_mut(take(l.xb)),
        q: as_f32_mut(take(l.q)),
        k: as_f32_mut(take(l.k)),
        v: as_f32_mut(take(l.v)),
        att: as_f32_mut(take(l.att)),
        proj: as_f32_mut(take(l.proj)),
        gate: as_f32_mut(take(l.gate)),
        up: as_f32_mut(take(l.up)),
        rope: as_f32_mut(take(l.rope)),
        heads: take(l.heads),
        act: take(l.act),
        logits: as_f32_mut(take(l.logits)),
        embd: as_f32_mut(take(l.embd)),
        cells: as_u64(take(l.cells)),
        ubatch: as_u64(take(l.ubatch)),
        seq_cells: as_u64(take(l.seq_cells)),
    }
}

/// Receives intermediate tensors: a name as llama.cpp's graph has it (`"attn_norm"`,
/// `"Qcur"`, ...), the layer (for per-layer tensors) and the values, token after token.
pub type Trace<'t> = &'t mut dyn FnMut(&str, Option<usize>, &[f32]);

/// The batch step being evaluated, as the context wrote it: per token its id, whether it
/// wants logits, its position, its sequences and its cell.
#[derive(Clone, Copy)]
struct Step<'m> {
    words: &'m [u64],
}

impl Step<'_> {
    fn token(&self, t: usize) -> u32 {
        self.words[t * UB_WORDS] as u32
    }
    fn wants_logits(&self, t: usize) -> bool {
        self.words[t * UB_WORDS] >> 32 & 1 == 1
    }
    fn pos(&self, t: usize) -> usize {
        self.words[t * UB_WORDS + 1] as usize
    }
    /// The sequence the token's attention follows: the lowest of its set.
    fn seq(&self, t: usize) -> u64 {
        let s = self.words[t * UB_WORDS + 2];
        s & s.wrapping_neg()
    }
    fn cell(&self, t: usize) -> usize {
        self.words[t * UB_WORDS + 3] as usize
    }
    /// One past the last cell the token may see.
    fn seen(&self, t: usize) -> usize {
        self.words[t * UB_WORDS + 4] as usize
    }
    /// The token may see every cell below [`Step::seen`].
    fn dense(&self, t: usize) -> bool {
        self.words[t * UB_WORDS + 5] == 1
    }
}

/// Evaluates the `n` tokens of the batch step (the context's `ubatch` region, whose cells the
/// context has already claimed in the `cells` region), writing their keys and values into
/// their cells and the logits of the tokens that want them into the logits region from row
/// `out_row0`. Each token's attention window is in its `ubatch` words (see `UB_WORDS`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    model: &Model,
    params: &ContextParams,
    layout: &Layout,
    mem: &mut [u8],
    n: usize,
    out_row0: usize,
    par: &dyn Parallel,
    mut trace: Option<Trace>,
) {
    let mut tr = |name: &str, layer: Option<usize>, v: &[f32]| {
        if let Some(f) = trace.as_mut() {
            f(name, layer, v);
        }
    };
    let c = model.config();
    let s = regions(mem, layout);
    let step = Step { words: s.ubatch };
    let (d, hd, n_rot) = (c.n_embd, c.head_dim, c.n_rot);
    let kv_ty = params.kv_type.ggml();

    // Token embeddings: rows of token_embd, dequantized.                      (n, d)
    let embd = model.matrix(&model.token_embd);
    for t in 0..n {
        let _ = quant::dequantize_row(
            embd.ty,
            embd.row(step.token(t) as usize),
            &mut s.x[t * d..(t + 1) * d],
        );
    }
    // Rope tables, one per position of the batch.                             (n, n_rot)
    for t in 0..n {
        let table = &mut s.rope[t * n_rot..(t + 1) * n_rot];
        rope_cache(
            step.pos(t),
            n_rot,
            c.rope_freq_base,
            c.rope_freq_scale(),
            table,
        );
    }

    tr("embd", None, &s.x[..n * d]);

    for (il, layer) in model.layers.iter().enumerate() {
        let l = Some(il);
        // Attention block.
        for t in 0..n {
            let norm = model.bytes(&layer.attn_norm);
            rms_norm(
                &s.x[t * d..(t + 1) * d],
                norm,
                c.rms_eps,
                &mut s.xb[t * d..(t + 1) * d],
            );
        }
        tr("attn_norm", l, &s.xb[..n * d]);
        // q: (n, n_head * hd), k and v: (n, n_head_kv * hd)
        let qkv = [&layer.wq, &layer.wk, &layer.wv].map(|t| model.matrix(t));
        matmuls(qkv, s.xb, n, s.act, [&mut *s.q, &mut *s.k, &mut *s.v], par);
        for t in 0..n {
            let table = &s.rope[t * n_rot..(t + 1) * n_rot];
            for h in s.q[t * c.n_head * hd..(t + 1) * c.n_head * hd].chunks_exact_mut(hd) {
                rope_apply(&mut h[..n_rot], table);
            }
            for h in s.k[t * c.n_head_kv * hd..(t + 1) * c.n_head_kv * hd].chunks_exact_mut(hd) {
                rope_apply(&mut h[..n_rot], table);
            }
        }
        tr("Qcur", l, &s.q[..n * c.n_head * hd]);
        tr("Kcur", l, &s.k[..n * c.n_head_kv * hd]);
        tr("Vcur", l, &s.v[..n * c.n_head_kv * hd]);
        let cache = KvCache {
            ty: kv_ty,
            n_ctx: params.n_ctx,
            v_stride: params.n_ctx.next_multiple_of(V_PAD),
            n_head_kv: c.n_head_kv,
            head_dim: hd,
            layer: il,
        };
        cache.store(s.k_cache, s.v_cache, s.k, s.v, step, n);
        attention(
            &cache,
            s.k_cache,
            s.v_cache,
            s.q,
            s.att,
            s.heads,
            layout.head_scratch,
            c.n_head,
            (step, n),
            s.cells,
            params.isolate_seqs.then_some(s.seq_cells),
            par,
        );
        tr("kqv_out", l, &s.att[..n * c.n_head * hd]);
        matmul(model.matrix(&layer.wo), s.att, n, s.act, s.proj, par); //     (n, d)
        tr("attn_out", l, &s.proj[..n * d]);
        // After the last layer's attention only the positions that need logits go on, as in
        // llama.cpp (`ggml_get_rows(.., inp_out_ids)`): their rows move to the front, in order.
        let m = if il + 1 == model.layers.len() {
            let mut m = 0;
            for t in 0..n {
                if step.wants_logits(t) {
                    if m != t {
                        s.x.copy_within(t * d..(t + 1) * d, m * d);
                        s.proj.copy_within(t * d..(t + 1) * d, m * d);
                    }
                    m += 1;
                }
            }
            m
        } else {
            n
        };
        if m == 0 {
            return;
        }
        add_assign(&mut s.x[..m * d], &s.proj[..m * d]);
        tr("ffn_inp", l, &s.x[..m * d]);

        // Feed-forward block: down(silu(gate(x)) * up(x)).                      (m rows)
        for t in 0..m {
            let norm = model.bytes(&layer.ffn_norm);
            rms_norm(
                &s.x[t * d..(t + 1) * d],
                norm,
                c.rms_eps,
                &mut s.xb[t * d..(t + 1) * d],
            );
        }
        tr("ffn_norm", l, &s.xb[..m * d]);
        let gate_up = [&layer.w_gate, &layer.w_up].map(|t| model.matrix(t)); // (m, n_ff) each
        matmuls(gate_up, s.xb, m, s.act, [&mut *s.gate, &mut *s.up], par);
        tr("ffn_gate", l, &s.gate[..m * c.n_ff]);
        tr("ffn_up", l, &s.up[..m * c.n_ff]);
        swiglu(&mut s.gate[..m * c.n_ff], &s.up[..m * c.n_ff]);
        tr("ffn_swiglu", l, &s.gate[..m * c.n_ff]);
        matmul(model.matrix(&layer.w_down), s.gate, m, s.act, s.proj, par); // (m, d)
        tr("ffn_out", l, &s.proj[..m * d]);
        add_assign(&mut s.x[..m * d], &s.proj[..m * d]);
        tr("l_out", l, &s.x[..m * d]);
        if il + 1 == model.layers.len() {
            // Output: final norm and projection to the vocabulary.                (m, n_vocab)
            for t in 0..m {
                let norm = model.bytes(&model.output_norm);
                rms_norm(
                    &s.x[t * d..(t + 1) * d],
                    norm,
                    c.rms_eps,
                    &mut s.xb[t * d..(t + 1) * d],
                );
            }
            tr("result_norm", None, &s.xb[..m * d]);
            // Embeddings: the hidden states after the final norm (llama.cpp's `t_embd`).
            if !s.embd.is_empty() {
                s.embd[out_row0 * d..(out_row0 + m) * d].copy_from_slice(&s.xb[..m * d]);
            }
            let rows = &mut s.logits[out_row0 * c.n_vocab..];
            matmul(model.matrix(&model.output), s.xb, m, s.act, rows, par);
            tr("result_output", None, &rows[..m * c.n_vocab]);
        }
    }
}

/// One layer's view of the KV cache. Keys are stored `[layer][kv_head][position][head_dim]`;
/// values transposed, `[layer][kv_head][head_dim][position]`, as llama.cpp keeps them without
/// flash attention, so that both products with the cache read contiguous rows.
struct KvCache {
    ty: GgmlType,
    n_ctx: usize,
    /// Positions per value row: `n_ctx` padded to a multiple of `V_PAD`.
    v_stride: usize,
    n_head_kv: usize,
    head_dim: usize,
    layer: usize,
}

impl KvCache {
    fn elem(&self) -> usize {
        self.ty.type_size()
    }

    /// Byte offset of head `g`'s keys in this layer.
    fn k_offset(&self, g: usize) -> usize {
        ((self.layer * self.n_head_kv + g) * self.n_ctx * self.head_dim) * self.elem()
    }

    /// Byte offset of head `g`'s values in this layer.
    fn v_offset(&self, g: usize) -> usize {
        ((self.layer * self.n_head_kv + g) * self.v_stride * self.head_dim) * self.elem()
    }

    /// Key of head `g` at position `p`: `head_dim` elements.
    fn key<'c>(&self, k_cache: &'c [u8], g: usize, p: usize) -> &'c [u8] {
        let start = self.k_offset(g) + p * self.head_dim * self.elem();
        &k_cache[start..start + self.head_dim * self.elem()]
    }

    /// Values of head `g`, dimension `i`, positions `0..len` (`len <= v_stride`).
    fn values<'c>(&self, v_cache: &'c [u8], g: usize, i: usize, len: usize) -> &'c [u8] {
        let start = self.v_offset(g) + i * self.v_stride * self.elem();
        &v_cache[start..start + len * self.elem()]
    }

    /// Writes the keys and values of the step's `n` tokens into their cells, converted to the
    /// cache's type (`ggml_cpy` into the cache).
    fn store(
        &self,
        k_cache: &mut [u8],
        v_cache: &mut [u8],
        k: &[f32],
        v: &[f32],
        step: Step<'_>,
        n: usize,
    ) {
        let (hd, e) = (self.head_dim, self.elem());
        for t in 0..n {
            let p = step.cell(t);
            for g in 0..self.n_head_kv {
                let src = &k[(t * self.n_head_kv + g) * hd..][..hd];
                let start = self.k_offset(g) + p * hd * e;
                let _ = quant::quantize_row(self.ty, src, &mut k_cache[start..start + hd * e]);
                for (i, &x) in v[(t * self.n_head_kv + g) * hd..][..hd].iter().enumerate() {
                    let at = self.v_offset(g) + (i * self.v_stride + p) * e;
                    let _ = quant::quantize_row(self.ty, &[x], &mut v_cache[at..at + e]);
                }
            }
        }
    }
}

/// Causal multi-head attention over the cache for the step's `n` tokens, one task per query
/// head (heads share key/value heads in groups of `n_head / n_head_kv`).
///
/// For each token and head, as llama.cpp without flash attention: `kq = K · q` over the cells
/// it may see (llama.cpp's KQ mask: cells of its sequence at positions up to its own; the
/// others are -inf, so they weigh an exact 0 wherever they fall among the visible ones),
/// `softmax(kq / sqrt(head_dim))`, and `out = V · weights`. Both products are ggml `mul_mat`s, so they round like one: the query
/// and the weights are converted to the cache's type first, and the kernel (hence the float
/// order) depends on the batch: llamafile's tinyBLAS for two or more tokens, `ggml_vec_dot_*`
/// for one; an f32 cache's `K · q` is always a vec_dot (the permuted query is not contiguous,
/// which llamafile refuses and which needs no conversion for f32). llama.cpp runs the products
/// over a window of cache cells padded to a multiple of 256, whose extra weights are zero; the
/// padding changes which positions share a SIMD lane, so the weights here are padded with
/// zeros to the 8 (tinyBLAS) or 32 (vec_dot) positions that give the same lanes.
#[allow(clippy::too_many_arguments)]
fn attention(
    cache: &KvCache,
    k_cache: &[u8],
    v_cache: &[u8],
    q: &[f32],
    out: &mut [f32],
    heads: &mut [u8],
    head_scratch: usize,
    n_head: usize,
    (step, n): (Step<'_>, usize),
    cells: &[u64],
    seq_cells: Option<&[u64]>,
    par: &dyn Parallel,
) {
    let hd = cache.head_dim;
    let e = cache.elem();
    let group = n_head / cache.n_head_kv;
    let scale = 1.0f32 / libm::sqrtf(hd as f32);
    // The kernels (hence the float order) follow the batch: the step's tokens, or with
    // isolated sequences the step's tokens of the token's own sequence.
    let paths = |n: usize| {
        let kq_path = match (cache.ty, n) {
            (GgmlType::F16, 2..) if hd.is_multiple_of(8) => Path::Tiny,
            _ => Path::VecDot,
        };
        let (kqv_path, pad) = if n >= 2 {
            (Path::Tiny, 8)
        } else {
            (Path::VecDot, V_PAD)
        };
        (kq_path, kqv_path, pad)
    };
    let out = SharedMut::new(&mut out[..n * n_head * hd]);
    let heads = SharedMut::new(heads);
    par.run(n_head, &|h| {
        let g = h / group;
        // SAFETY: task h alone uses head h's scratch.
        let scratch = unsafe { heads.chunk(h * head_scratch, head_scratch) };
        let (scores, rest) = scratch.split_at_mut(cache.v_stride * 4);
        let (weights, rest) = rest.split_at_mut(cache.v_stride * e);
        let (q_conv, rest) = rest.split_at_mut(hd * e);
        let scores = as_f32_mut(scores);
        if let Some(seq_cells) = seq_cells {
            let gathered = &mut rest[..cache.v_stride * e];
            let words = cache.n_ctx + 1;
            for t in 0..n {
                // The token's sequence's cells by position; it sees the first `seen`.
                let s = step.seq(t).trailing_zeros() as usize;
                let list = &seq_cells[s * words + 1..(s + 1) * words];
                // The one-token kernels whatever the step: the token's attention is then a
                // function of its sequence's keys and values alone, not of how many tokens
                // the step evaluates.
                let seen = step.seen(t);
                let (kq_path, kqv_path, pad) = paths(1);
                let window = seen.next_multiple_of(pad);
                let _ = quant::quantize_row(cache.ty, &q[(t * n_head + h) * hd..][..hd], q_conv);
                for (sc, &j) in scores[..seen].iter_mut().zip(list) {
                    *sc = dot(cache.ty, kq_path, cache.key(k_cache, g, j as usize), q_conv);
                }
                softmax_scaled(&mut scores[..seen], scale);
                let _ = quant::quantize_row(cache.ty, &scores[..seen], &mut weights[..seen * e]);
                weights[seen * e..window * e].fill(0);
                gathered[seen * e..window * e].fill(0);
                // SAFETY: task h alone writes head h's outputs.
                let o = unsafe { out.chunk((t * n_head + h) * hd, hd) };
                for (i, oi) in o.iter_mut().enumerate() {
                    let row = cache.values(v_cache, g, i, cache.n_ctx);
                    for (k, &j) in list[..seen].iter().enumerate() {
                        let j = j as usize;
                        gathered[k * e..(k + 1) * e].copy_from_slice(&row[j * e..(j + 1) * e]);
                    }
                    *oi = dot(
                        cache.ty,
                        kqv_path,
                        &gathered[..window * e],
                        &weights[..window * e],
                    );
                }
            }
            return;
        }
        let (kq_path, kqv_path, pad) = paths(n);
        for t in 0..n {
            let (pos, seq) = (step.pos(t) as u64, step.seq(t));
            // The cell is visible: in use, of the token's sequence, not after it.
            let visible = |j: usize| {
                let c = &cells[j * CELL_WORDS..][..CELL_WORDS];
                c[1] != 0 && c[0] & seq != 0 && c[1] - 1 <= pos
            };
            // Cells past the last visible one weigh zero, as the padding does.
            let (seen, dense) = (step.seen(t), step.dense(t));
            let window = seen.next_multiple_of(pad);
            let _ = quant::quantize_row(cache.ty, &q[(t * n_head + h) * hd..][..hd], q_conv);
            for (j, sc) in scores[..seen].iter_mut().enumerate() {
                *sc = if dense || visible(j) {
                    dot(cache.ty, kq_path, cache.key(k_cache, g, j), q_conv)
                } else {
                    f32::NEG_INFINITY
                };
            }
            softmax_scaled(&mut scores[..seen], scale);
            let _ = quant::quantize_row(cache.ty, &scores[..seen], &mut weights[..seen * e]);
            weights[seen * e..window * e].fill(0);
            // SAFETY: task h alone writes head h's outputs.
            let o = unsafe { out.chunk((t * n_head + h) * hd, hd) };
            for (i, oi) in o.iter_mut().enumerate() {
                let vals = cache.values(v_cache, g, i, window);
                *oi = dot(cache.ty, kqv_path, vals, &weights[..window * e]);
            }
        }
    });
}
