//! The compute kernels of the forward pass and the drivers that split them into tasks.
//!
//! Everything here follows llama.cpp's CPU backend (`ggml/src/ggml-cpu/ops.cpp`, `vec.h`,
//! `ggml-cpu.c`): the same activation formats before each matrix product, the same order of
//! float operations where it matters for the result. Work is split into tasks run through
//! [`Parallel`]; each output element is computed by exactly one task in a fixed order, so
//! results do not depend on how many tasks there are or which thread runs them.

#[cfg(all(feature = "neon", target_arch = "aarch64"))]
pub mod arm;
pub mod mathf;
pub mod reference;
#[cfg(test)]
pub(crate) mod testgen;
#[cfg(all(feature = "avx2", target_arch = "x86_64"))]
pub mod x86;

use crate::parallel::Parallel;
use crate::quant::{self, GgmlType};

/// A slice that several tasks write to at once, each at indices no other task touches.
///
/// This is how tasks run through [`Parallel`] (which only hands out `&dyn Fn`) fill one output
/// buffer without locks.
pub(crate) struct SharedMut<'a, T> {
    ptr: *mut T,
    len: usize,
    _slice: core::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: `SharedMut` only allows writes through `chunk`, whose contract forbids two tasks from
// touching the same index; with that, sharing it between threads is as safe as sending disjoint
// `&mut` sub-slices, which requires `T: Send`.
unsafe impl<T: Send> Sync for SharedMut<'_, T> {}

impl<'a, T> SharedMut<'a, T> {
    pub(crate) fn new(slice: &'a mut [T]) -> Self {
        SharedMut {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _slice: core::marker::PhantomData,
        }
    }

    /// The sub-slice `start..start + len`.
    ///
    /// # Safety
    ///
    /// No two sub-slices obtained from the same `SharedMut` and alive at the same time may
    /// overlap.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn chunk(&self, start: usize, len: usize) -> &mut [T] {
        assert!(
            start <= self.len && len <= self.len - start,
            "chunk out of range"
        );
        // SAFETY: in bounds (checked above) of a slice borrowed mutably for 'a; exclusive by the
        // caller's contract.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// How many tasks to split `items` independent items into: enough for every thread of `par` to
/// take a few (load balance), never fewer than `min_per_task` items each.
pub(crate) fn task_count(par: &dyn Parallel, items: usize, min_per_task: usize) -> usize {
    let by_size = items / min_per_task.max(1);
    (par.width() * 4).min(by_size).max(1)
}

/// A matrix stored row after row in a ggml type: `rows` rows of `cols` elements.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    /// Element type.
    pub ty: GgmlType,
    /// Number of rows (outputs of a product).
    pub rows: usize,
    /// Elements per row (inputs of a product).
    pub cols: usize,
    /// The bytes, `rows * ty.row_size(cols)` of them.
    pub data: &'a [u8],
}

impl Matrix<'_> {
    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.ty.row_size(self.cols).unwrap_or(0)
    }

    /// Row `r`'s bytes.
    pub fn row(&self, r: usize) -> &[u8] {
        let n = self.row_bytes();
        &self.data[r * n..(r + 1) * n]
    }
}

/// Bytes of scratch [`matmul`] needs to quantize `n_tokens` activation rows of `cols` elements
/// for weights of type `ty`.
pub fn activation_bytes(ty: GgmlType, cols: usize, n_tokens: usize) -> usize {
    ty.vec_dot_type()
        .and_then(|a| a.row_size(cols))
        .unwrap_or(0)
        * n_tokens
}

/// `out[t * w.rows + r] = w.row(r) · x[t * w.cols ..][..w.cols]` for every token `t`, as ggml's
/// `mul_mat` computes it: each activation row is first quantized to the weight type's partner
/// format (into `act`), then every output is one `vec_dot` (or the same bits from a kernel that
/// computes several at once).
///
/// Tasks take contiguous ranges of weight rows and do every token for each row, so a weight
/// row is read from memory once per call.
pub fn matmul(
    w: Matrix,
    x: &[f32],
    n_tokens: usize,
    act: &mut [u8],
    out: &mut [f32],
    par: &dyn Parallel,
) {
    matmuls([w], x, n_tokens, act, [out], par);
}

/// [`matmul`] of the same activations with several matrices at once (the query, key and value
/// projections; the gate and up projections): one round of tasks for all of them. Matrices whose
/// types take different activation formats are done one after the other.
pub fn matmuls<const N: usize>(
    ws: [Matrix; N],
    x: &[f32],
    n_tokens: usize,
    act: &mut [u8],
    outs: [&mut [f32]; N],
    par: &dyn Parallel,
) {
    let act_ty = ws[0]
        .ty
        .vec_dot_type()
        .expect("weight types are checked at load");
    if ws
        .iter()
        .any(|w| w.ty.vec_dot_type() != Some(act_ty) || w.cols != ws[0].cols)
    {
        for (w, out) in ws.into_iter().zip(outs) {
            matmuls([w], x, n_tokens, act, [out], par);
        }
        return;
    }
    let cols = ws[0].cols;
    let act_row = act_ty
        .row_size(cols)
        .expect("row lengths are checked at load");
    let act = &mut act[..act_row * n_tokens];
    let x = &x[..cols * n_tokens];

    // Quantize the activations: inline for a token or two (not worth a round of tasks), else
    // one task per token.
    if n_tokens <= 2 {
        for (t, dst) in act.chunks_exact_mut(act_row).enumerate() {
            quantize_activation(ws[0].ty, &x[t * cols..(t + 1) * cols], dst);
        }
    } else {
        let shared = SharedMut::new(act);
        par.run(n_tokens, &|t| {
            // SAFETY: task t writes only activation row t.
            let dst = unsafe { shared.chunk(t * act_row, act_row) };
            quantize_activation(ws[0].ty, &x[t * cols..(t + 1) * cols], dst);
        });
    }
    let act = &*act;

    // Row groups of all matrices, numbered one after the other; tasks take contiguous ranges.
    let groups: [usize; N] = core::array::from_fn(|m| ws[m].rows.div_ceil(TILE_ROWS));
    let total: usize = groups.iter().sum();
    let n_tasks = task_count(par, total, 16 / TILE_ROWS);
    let per_task = total.div_ceil(n_tasks);
    let n_tasks = total.div_ceil(per_task);
    let shared = outs.map(SharedMut::new);
    let paths = ws.map(|w| Path::choose(w.ty, n_tokens, w.rows, w.cols));
    par.run(n_tasks, &|task| {
        let (mut g, g1) = (task * per_task, ((task + 1) * per_task).min(total));
        let (mut m, mut first) = (0, 0);
        while g < g1 {
            while g >= first + groups[m] {
                first += groups[m];
                m += 1;
            }
            let (w, out) = (&ws[m], &shared[m]);
            let r = (g - first) * TILE_ROWS;
            let nr = (w.rows - r).min(TILE_ROWS);
            // A short last group repeats its last row; the copies' results are dropped.
            let rows: [&[u8]; TILE_ROWS] = core::array::from_fn(|k| w.row(r + k.min(nr - 1)));
            let path = paths[m];
            let mut t = 0;
            while t < n_tokens {
                let (nt, v) = tile(w.ty, path, &rows, act, act_row, t, n_tokens);
                for j in 0..nt {
                    // SAFETY: outputs (t + j, r..r + nr) belong to the task that owns this row
                    // group.
                    let dst = unsafe { out.chunk((t + j) * w.rows + r, nr) };
                    for (o, vr) in dst.iter_mut().zip(&v) {
                        *o = vr[j];
                    }
                }
                t += nt;
            }
            g += 1;
        }
    });
}

/// The number of blocks of a tile's rows (weight rows `x`, activation rows `y`; `T >= 1`).
///
/// Panics unless every row has as many blocks as the first activation row.
#[cfg(any(
    all(feature = "avx2", target_arch = "x86_64"),
    all(feature = "neon", target_arch = "aarch64")
))]
#[inline(always)]
pub(crate) fn tile_blocks<X, Y, const R: usize, const T: usize>(
    x: &[&[X]; R],
    y: &[&[Y]; T],
) -> usize {
    let nb = y[0].len();
    assert!(
        x.iter().all(|r| r.len() == nb) && y.iter().all(|r| r.len() == nb),
        "weight and activation rows must have the same number of blocks"
    );
    nb
}

/// The blocks of every row, or `None` when a row is not a whole number of blocks.
#[cfg(any(
    all(feature = "avx2", target_arch = "x86_64"),
    all(feature = "neon", target_arch = "aarch64")
))]
pub(crate) fn rows_as<const N: usize, B: crate::quant::Block>(
    rows: [&[u8]; N],
) -> Option<[&[B]; N]> {
    let v: [Option<&[B]>; N] = rows.map(crate::quant::as_blocks);
    if v.iter().any(Option::is_none) {
        return None;
    }
    Some(v.map(|b| b.unwrap_or_default()))
}

/// Rows per group of the matrix-product driver.
const TILE_ROWS: usize = 4;
/// Tokens per tile of the AVX2 legacy-format kernels (more than one token).
#[cfg(all(feature = "avx2", target_arch = "x86_64"))]
const TILE_TOKENS: usize = 3;

/// Most tokens one kernel call takes.
const MAX_TILE_TOKENS: usize = 8;

/// One tile's results: `v[row][token offset]` for the first `nt` token offsets.
type TileOut = (usize, [[f32; MAX_TILE_TOKENS]; TILE_ROWS]);

/// Computes the products of `rows` with activation rows `t..` (as many as the kernel for this
/// type takes at once, at most the `n_tokens - t` there are): how many tokens it did, and the
/// values by row and token offset.
fn tile(
    ty: GgmlType,
    path: Path,
    rows: &[&[u8]; TILE_ROWS],
    act: &[u8],
    act_row: usize,
    t: usize,
    n_tokens: usize,
) -> TileOut {
    let a = |j: usize| &act[j * act_row..(j + 1) * act_row];
    #[cfg(all(feature = "avx2", target_arch = "x86_64"))]
    if let Some(k) = x86::Avx2::new() {
        let rem = n_tokens - t;
        if let Some(k5) = x86::Avx512::new() {
            let v8 = || acts::<8>(&a, t, n_tokens);
            if path == Path::Tiled {
                if let Some(v) = k5.kquant_tiled_x8(ty, *rows, v8()) {
                    return emit(v, rem.min(8));
                }
            } else if rem >= 5 {
                // The activations are this crate's quantizer's: no -128 quant, as
                // `legacy_tile_vnni` requires.
                if let Some(v) = k5.legacy_tile_vnni(ty, *rows, v8()) {
                    return emit(v, rem.min(8));
                }
            } else if rem >= 2 {
                if let Some(v) = k5.legacy_tile_vnni(ty, *rows, acts::<4>(&a, t, n_tokens)) {
                    return emit(v, rem.min(4));
                }
            }
        }
        if path == Path::Tiled {
            if let Some(v) = k.kquant_tiled_x8(ty, *rows, acts::<8>(&a, t, n_tokens)) {
                return emit(v, rem.min(8));
            }
            let v = k.kquant_tiled_tile(ty, *rows, acts::<TILE_TOKENS>(&a, t, n_tokens));
            if let Some(v) = v {
                return emit(v, rem.min(TILE_TOKENS));
            }
        } else if rem >= 2 {
            if let Some(v) = k.legacy_tile(ty, *rows, acts::<TILE_TOKENS>(&a, t, n_tokens)) {
                return emit(v, rem.min(TILE_TOKENS));
            }
        }
        if let Some(v) = k.legacy_tile(ty, *rows, [a(t)]) {
            return emit(v, 1);
        }
        if path == Path::VecDot {
            if let Some(v) = k.kquant_vec_rows(ty, *rows, a(t)) {
                return emit(v.map(|x| [x]), 1);
            }
        }
    }
    #[cfg(all(feature = "neon", target_arch = "aarch64"))]
    if let Some(k) = arm::Neon::new() {
        // Legacy formats: four rows by two tokens (a weight block unpacked once for both), or
        // by one. Q4_K on the vec_dot path: two rows per activation load (fewer instructions per
        // row than one; not so for Q5_K / Q6_K, whose two-row loops spill). Other types: one
        // dot product per row (below).
        if path == Path::VecDot && ty == GgmlType::Q4_K {
            let a0 = a(t);
            let pair0 = k.kquant_vec_rows(ty, [rows[0], rows[1]], a0);
            let pair1 = k.kquant_vec_rows(ty, [rows[2], rows[3]], a0);
            if let (Some([v0, v1]), Some([v2, v3])) = (pair0, pair1) {
                return emit([[v0], [v1], [v2], [v3]], 1);
            }
        }
        if n_tokens - t >= 2 {
            if let Some(v) = k.legacy_tile(ty, *rows, acts::<2>(&a, t, n_tokens)) {
                return emit(v, 2);
            }
        } else if let Some(v) = k.legacy_tile(ty, *rows, [a(t)]) {
            return emit(v, 1);
        }
    }
    let _ = n_tokens; // only the SIMD kernels take several tokens at once
    let mut out = [[0f32; MAX_TILE_TOKENS]; TILE_ROWS];
    for (o, wr) in out.iter_mut().zip(rows) {
        o[0] = dot(ty, path, wr, a(t));
    }
    (1, out)
}

/// Activation rows `t..` for a kernel taking `T` (from `a(j)`, row `j`); those beyond the last
/// (`n - 1`) repeat it, and their results are dropped by [`emit`].
#[cfg(any(
    all(feature = "avx2", target_arch = "x86_64"),
    all(feature = "neon", target_arch = "aarch64")
))]
fn acts<'a, const T: usize>(a: &dyn Fn(usize) -> &'a [u8], t: usize, n: usize) -> [&'a [u8]; T] {
    core::array::from_fn(|j| a((t + j).min(n - 1)))
}

/// A kernel's `rows x T` results as a [`TileOut`] of `nt` tokens.
#[cfg(any(
    all(feature = "avx2", target_arch = "x86_64"),
    all(feature = "neon", target_arch = "aarch64")
))]
fn emit<const T: usize>(v: [[f32; T]; TILE_ROWS], nt: usize) -> TileOut {
    let mut out = [[0f32; MAX_TILE_TOKENS]; TILE_ROWS];
    for (o, vr) in out.iter_mut().zip(&v) {
        o[..nt].copy_from_slice(&vr[..nt]);
    }
    (nt, out)
}

/// Views 4-aligned bytes as f32 (scratch regions the context laid out aligned).
pub(crate) fn as_f32(bytes: &[u8]) -> &[f32] {
    assert!(
        bytes.as_ptr().align_offset(4) == 0 && bytes.len().is_multiple_of(4),
        "misaligned f32 region"
    );
    // SAFETY: aligned and a whole number of f32 (checked above); every bit pattern is an f32.
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), bytes.len() / 4) }
}

/// Views 4-aligned bytes as mutable f32.
pub(crate) fn as_f32_mut(bytes: &mut [u8]) -> &mut [f32] {
    assert!(
        bytes.as_ptr().align_offset(4) == 0 && bytes.len().is_multiple_of(4),
        "misaligned f32 region"
    );
    // SAFETY: as in `as_f32`; the exclusive borrow moves to the result.
    unsafe { core::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<f32>(), bytes.len() / 4) }
}

/// Views 8-aligned bytes as u64 words (the context's cell and batch bookkeeping).
pub(crate) fn as_u64(bytes: &[u8]) -> &[u64] {
    assert!(
        bytes.as_ptr().align_offset(8) == 0 && bytes.len().is_multiple_of(8),
        "misaligned u64 region"
    );
    // SAFETY: aligned and a whole number of u64 (checked above); every bit pattern is a u64.
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<u64>(), bytes.len() / 8) }
}

/// Views 8-aligned bytes as mutable u64 words.
pub(crate) fn as_u64_mut(bytes: &mut [u8]) -> &mut [u64] {
    assert!(
        bytes.as_ptr().align_offset(8) == 0 && bytes.len().is_multiple_of(8),
        "misaligned u64 region"
    );
    // SAFETY: as in `as_u64`; the exclusive borrow moves to the result.
    unsafe { core::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<u64>(), bytes.len() / 8) }
}

/// Quantizes one activation row for weights of type `ty` ([`quant::quantize_row_for_matmul`]),
/// with the AVX2 quantizers where they apply (bit-identical).
fn quantize_activation(ty: GgmlType, x: &[f32], dst: &mut [u8]) {
    /// The SIMD token `$t`'s quantizer for `ty`'s activation format (same names on both).
    #[cfg(any(
        all(feature = "avx2", target_arch = "x86_64"),
        all(feature = "neon", target_arch = "aarch64")
    ))]
    macro_rules! simd_quantize {
        ($t:expr) => {
            match ty.vec_dot_type() {
                Some(GgmlType::Q8_0) => {
                    quant::as_blocks_mut(dst).map(|b| $t.quantize_row_q8_0(x, b))
                }
                Some(GgmlType::Q8_1) => {
                    quant::as_blocks_mut(dst).map(|b| $t.quantize_row_q8_1(x, b))
                }
                Some(GgmlType::Q8_K) => {
                    quant::as_blocks_mut(dst).map(|b| $t.quantize_row_q8_k(x, b))
                }
                _ => None,
            }
        };
    }
    #[cfg(all(feature = "avx2", target_arch = "x86_64"))]
    if let Some(t) = x86::Avx2::new() {
        if simd_quantize!(t).is_some() {
            return;
        }
    }
    #[cfg(all(feature = "neon", target_arch = "aarch64"))]
    if let Some(t) = arm::Neon::new() {
        if simd_quantize!(t).is_some() {
            return;
        }
    }
    // Lengths were checked when the model was built.
    let _ = quant::quantize_row_for_matmul(ty, x, dst);
}

/// Which of llama.cpp's kernels computes a matrix product on its x86 build, which decides the
/// order of the float operations (see `reference`): one path for all elements of a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// `ggml_vec_dot_*`, one call per output element.
    VecDot,
    /// llamafile's tinyBLAS (`llamafile_sgemm`): F32/F16/BF16 weights, two or more tokens,
    /// `cols % 8 == 0`, `rows % 4 == 0`. (For Q4_0/Q5_0/Q8_0 tinyBLAS gives the same bits as
    /// vec_dot, so they stay on `VecDot`.)
    Tiny,
    /// ggml-cpu's tiled K-quant kernels: K-quant weights, 8 or more tokens.
    Tiled,
}

impl Path {
    /// The path llama.cpp takes for `n_tokens` activation rows against a `rows` x `cols`
    /// matrix of type `ty` (`ggml_compute_forward_mul_mat`: tiled first, then llamafile, then
    /// vec_dot).
    pub(crate) fn choose(ty: GgmlType, n_tokens: usize, rows: usize, cols: usize) -> Path {
        use GgmlType::*;
        match ty {
            Q2_K | Q3_K | Q4_K | Q5_K | Q6_K if n_tokens >= reference::kquants::TILED_MIN_ROWS => {
                Path::Tiled
            }
            F32 | F16 | BF16
                if n_tokens >= 2 && cols.is_multiple_of(8) && rows.is_multiple_of(4) =>
            {
                Path::Tiny
            }
            _ => Path::VecDot,
        }
    }
}

/// [`dot`] on a SIMD token `$t` (`x86::Avx2` or `arm::Neon`, whose kernels carry the same
/// names): `Some(value)` for the types and paths it covers, `None` otherwise (or for rows that
/// are not whole blocks). The legacy formats give the same bits on the vec_dot and tinyBLAS
/// paths.
#[cfg(any(
    all(feature = "avx2", target_arch = "x86_64"),
    all(feature = "neon", target_arch = "aarch64")
))]
macro_rules! simd_dot {
    ($t:expr, $ty:expr, $path:expr, $w:expr, $a:expr) => {{
        use quant::as_blocks;
        use GgmlType::*;
        let (t, w, a) = ($t, $w, $a);
        macro_rules! blocks {
            ($m:ident) => {
                match (as_blocks(w), as_blocks(a)) {
                    (Some(w), Some(a)) => Some(t.$m(w, a)),
                    _ => None,
                }
            };
        }
        match ($ty, $path) {
            (F32, Path::Tiny) => Some(t.dot_f32_tiny_le(w, a)),
            (F32, _) => Some(t.dot_f32_vec_le(w, a)),
            (F16, Path::Tiny) => Some(t.dot_f16_tiny(w, a)),
            (F16, _) => Some(t.dot_f16_vec(w, a)),
            (BF16, Path::Tiny) => Some(t.dot_bf16_tiny(w, a)),
            (BF16, _) => Some(t.dot_bf16_vec(w, a)),
            (Q4_0, _) => blocks!(dot_q4_0_q8_0),
            (Q4_1, _) => blocks!(dot_q4_1_q8_1),
            (Q5_0, _) => blocks!(dot_q5_0_q8_0),
            (Q5_1, _) => blocks!(dot_q5_1_q8_1),
            (Q8_0, _) => blocks!(dot_q8_0_q8_0),
            (Q2_K, Path::Tiled) => blocks!(dot_q2_k_q8_k_tiled),
            (Q2_K, _) => blocks!(dot_q2_k_q8_k_vec),
            (Q3_K, Path::Tiled) => blocks!(dot_q3_k_q8_k_tiled),
            (Q3_K, _) => blocks!(dot_q3_k_q8_k_vec),
            (Q4_K, Path::Tiled) => blocks!(dot_q4_k_q8_k_tiled),
            (Q4_K, _) => blocks!(dot_q4_k_q8_k_vec),
            (Q5_K, Path::Tiled) => blocks!(dot_q5_k_q8_k_tiled),
            (Q5_K, _) => blocks!(dot_q5_k_q8_k_vec),
            (Q6_K, Path::Tiled) => blocks!(dot_q6_k_q8_k_tiled),
            (Q6_K, _) => blocks!(dot_q6_k_q8_k_vec),
            _ => None,
        }
    }};
}

/// One output of a matrix product: weights row `w` (type `ty`) against an activation row `a`
/// already in `ty`'s partner format, in the float order of llama.cpp's kernel for `path`: with
/// the `avx2` feature on a CPU that has it, the AVX2 kernel (bit-identical), else the scalar
/// reference.
pub(crate) fn dot(ty: GgmlType, path: Path, w: &[u8], a: &[u8]) -> f32 {
    #[cfg(all(feature = "avx2", target_arch = "x86_64"))]
    if let Some(t) = x86::Avx2::new() {
        if let Some(v) = simd_dot!(t, ty, path, w, a) {
            return v;
        }
    }
    #[cfg(all(feature = "neon", target_arch = "aarch64"))]
    if let Some(t) = arm::Neon::new() {
        if let Some(v) = simd_dot!(t, ty, path, w, a) {
            return v;
        }
    }
    dot_reference(ty, path, w, a)
}

/// [`dot`] on the scalar reference kernels.
fn dot_reference(ty: GgmlType, path: Path, w: &[u8], a: &[u8]) -> f32 {
    use quant::as_blocks;
    use reference::{float as f, kquants as k, legacy as l};
    use GgmlType::*;
    // Lengths and types were checked when the model was built; `as_blocks` cannot fail here.
    macro_rules! blocks {
        ($f:path) => {
            match (as_blocks(w), as_blocks(a)) {
                (Some(w), Some(a)) => $f(w, a),
                _ => f32::NAN,
            }
        };
    }
    match (ty, path) {
        (F32, Path::Tiny) => f::dot_f32_tiny_le(w, a),
        (F32, _) => f::dot_f32_vec_le(w, a),
        (F16, Path::Tiny) => f::dot_f16_tiny(w, a),
        (F16, _) => f::dot_f16_vec(w, a),
        (BF16, Path::Tiny) => f::dot_bf16_tiny(w, a),
        (BF16, _) => f::dot_bf16_vec(w, a),
        (Q4_0, _) => blocks!(l::dot_q4_0_q8_0_vec),
        (Q4_1, _) => blocks!(l::dot_q4_1_q8_1_vec),
        (Q5_0, _) => blocks!(l::dot_q5_0_q8_0_vec),
        (Q5_1, _) => blocks!(l::dot_q5_1_q8_1_vec),
        (Q8_0, _) => blocks!(l::dot_q8_0_q8_0_vec),
        (Q2_K, Path::Tiled) => blocks!(k::dot_q2_k_q8_k_tiled),
        (Q2_K, _) => blocks!(k::dot_q2_k_q8_k_vec),
        (Q3_K, Path::Tiled) => blocks!(k::dot_q3_k_q8_k_tiled),
        (Q3_K, _) => blocks!(k::dot_q3_k_q8_k_vec),
        (Q4_K, Path::Tiled) => blocks!(k::dot_q4_k_q8_k_tiled),
        (Q4_K, _) => blocks!(k::dot_q4_k_q8_k_vec),
        (Q5_K, Path::Tiled) => blocks!(k::dot_q5_k_q8_k_tiled),
        (Q5_K, _) => blocks!(k::dot_q5_k_q8_k_vec),
        (Q6_K, Path::Tiled) => blocks!(k::dot_q6_k_q8_k_tiled),
        (Q6_K, _) => blocks!(k::dot_q6_k_q8_k_vec),
        _ => f32::NAN,
    }
}

/// Reads little-endian f32 values (a norm weight tensor's bytes).
#[inline]
pub fn f32_at(bytes: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([
        bytes[4 * i],
        bytes[4 * i + 1],
        bytes[4 * i + 2],
        bytes[4 * i + 3],
    ])
}

/// RMS normalisation times a weight, as ggml's `rms_norm` followed by `mul`
/// (`ggml_compute_forward_rms_norm_f32`): the sum of squares in f64, `scale = 1/sqrt(mean + eps)`
/// in f32, `y = (x * scale) * w`.
pub fn rms_norm(x: &[f32], weight: &[u8], eps: f32, y: &mut [f32]) {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0f32 / libm::sqrtf(mean + eps);
    for (i, (o, &v)) in y.iter_mut().zip(x).enumerate() {
        *o = v * scale * f32_at(weight, i);
    }
}

/// The cos/sin table of ggml's rope for one position (`ggml_rope_cache_init` with no YaRN
/// extrapolation): `theta_i = p * base^(-2i/n_rot)` built by repeated multiplication in f32,
/// scaled by `freq_scale` (linear rope scaling), `cache[2i] = cos`, `cache[2i + 1] = sin`.
pub fn rope_cache(pos: usize, n_rot: usize, freq_base: f32, freq_scale: f32, cache: &mut [f32]) {
    rope_cache_signed(pos as f32, n_rot, freq_base, freq_scale, cache);
}

/// [`rope_cache`] for a position given as an f32, which may be negative: the rotation by a
/// position delta that a K-shift applies to cached keys.
pub fn rope_cache_signed(
    pos: f32,
    n_rot: usize,
    freq_base: f32,
    freq_scale: f32,
    cache: &mut [f32],
) {
    let theta_scale = mathf::powf(freq_base, -2.0f32 / n_rot as f32);
    let mut theta = pos;
    for pair in cache[..n_rot].chunks_exact_mut(2) {
        let t = freq_scale * theta;
        pair[0] = mathf::cosf(t);
        pair[1] = mathf::sinf(t);
        theta *= theta_scale;
    }
}

/// Rotates adjacent pairs of one head's first `2 * (cache.len() / 2)` values (ggml's "normal"
/// rope mode), in llama.cpp's x86 float order ([`reference::math::rope_row_norm`]).
pub fn rope_apply(x: &mut [f32], cache: &[f32]) {
    #[cfg(all(feature = "avx2", target_arch = "x86_64"))]
    if let Some(t) = x86::Avx2::new() {
        return t.rope_row_norm(x, cache);
    }
    #[cfg(all(feature = "neon", target_arch = "aarch64"))]
    if let Some(t) = arm::Neon::new() {
        return t.rope_row_norm(x, cache);
    }
    reference::math::rope_row_norm(x, cache);
}

/// Softmax of `x * scale` in place, as llama.cpp's `soft_max` computes one attention row
/// ([`reference::math::softmax_row`]).
pub fn softmax_scaled(x: &mut [f32], scale: f32) {
    #[cfg(all(feature = "avx2", target_arch = "x86_64"))]
    if let Some(t) = x86::Avx2::new() {
        return t.softmax_row(x, scale);
    }
    #[cfg(all(feature = "neon", target_arch = "aarch64"))]
    if let Some(t) = arm::Neon::new() {
        return t.softmax_row(x, scale);
    }
    reference::math::softmax_row(x, scale);
}

/// `gate = silu(gate) * up`, as llama.cpp's `swiglu` ([`reference::math::swiglu_row`]).
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    #[cfg(all(feature = "avx2", target_arch = "x86_64"))]
    if let Some(t) = x86::Avx2::new() {
        return t.swiglu_row(gate, up);
    }
    #[cfg(all(feature = "neon", target_arch = "aarch64"))]
    if let Some(t) = arm::Neon::new() {
        return t.swiglu_row(gate, up);
    }
    reference::math::swiglu_row(gate, up);
}

/// `x += y`.
pub fn add_assign(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::Serial;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Pretends to be `width` threads wide but runs tasks in reverse order, so tests see
    /// different splits and orders without threads.
    struct Reversed(usize);
    impl Parallel for Reversed {
        fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) {
            (0..n).rev().for_each(task);
        }
        fn width(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn matmul_equals_row_by_row_dot_for_any_split() {
        let (rows, cols, n_tokens) = (37, 64, 3);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0)
            .collect();
        let mut wq = vec![0u8; GgmlType::Q8_0.row_size(rows * cols).unwrap()];
        quant::quantize_row(GgmlType::Q8_0, &w, &mut wq).unwrap();
        let m = Matrix {
            ty: GgmlType::Q8_0,
            rows,
            cols,
            data: &wq,
        };
        let x: Vec<f32> = (0..cols * n_tokens)
            .map(|i| ((i * 13 % 29) as f32 - 14.0) / 7.0)
            .collect();
        let mut act = vec![0u8; activation_bytes(m.ty, cols, n_tokens)];
        let mut reference = vec![0f32; rows * n_tokens];
        for t in 0..n_tokens {
            let mut a = vec![0u8; GgmlType::Q8_0.row_size(cols).unwrap()];
            quant::quantize_row_for_matmul(m.ty, &x[t * cols..(t + 1) * cols], &mut a).unwrap();
            for r in 0..rows {
                reference[t * rows + r] = dot(m.ty, Path::VecDot, m.row(r), &a);
            }
        }
        for width in [1, 2, 4, 16] {
            let mut out = vec![0f32; rows * n_tokens];
            matmul(m, &x, n_tokens, &mut act, &mut out, &Reversed(width));
            assert_eq!(out, reference, "width {width}");
        }
        let mut out = vec![0f32; rows * n_tokens];
        matmul(m, &x, n_tokens, &mut act, &mut out, &Serial);
        assert_eq!(out, reference);
    }

    /// `rows` random weight rows of `ty`: random quant bytes with every f16 scale field set to a
    /// sane 0.01..0.1, or random values for the float types.
    fn random_weights(
        ty: GgmlType,
        rows: usize,
        cols: usize,
        rng: &mut quant::test_rng::Rng,
    ) -> Vec<u8> {
        use GgmlType::*;
        let n = rows * ty.row_size(cols).unwrap();
        let mut w = vec![0u8; n];
        match ty {
            F32 => (0..rows * cols).for_each(|i| {
                w[4 * i..4 * i + 4].copy_from_slice(&rng.range(-1.0, 1.0).to_le_bytes())
            }),
            F16 => (0..rows * cols).for_each(|i| {
                w[2 * i..2 * i + 2].copy_from_slice(&quant::to_f16_le(rng.range(-1.0, 1.0)))
            }),
            BF16 => (0..rows * cols).for_each(|i| {
                let b = (rng.range(-1.0, 1.0).to_bits() >> 16) as u16;
                w[2 * i..2 * i + 2].copy_from_slice(&b.to_le_bytes())
            }),
            _ => {
                rng.fill(&mut w);
                let fields: &[usize] = match ty {
                    Q3_K => &[108],
                    Q6_K => &[208],
                    Q4_0 | Q5_0 | Q8_0 => &[0],
                    Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
                    Q2_K => &[80, 82],
                    _ => unreachable!("no weights of {ty:?}"),
                };
                for b in w.chunks_exact_mut(ty.type_size()) {
                    for &f in fields {
                        b[f..f + 2].copy_from_slice(&rng.f16_scale());
                    }
                }
            }
        }
        w
    }

    #[test]
    fn every_product_equals_the_reference_dot_for_any_shape() {
        use GgmlType::*;
        let mut rng = quant::test_rng::Rng(42);
        let types = [
            F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
        ];
        let (rows, cols) = (13, 512);
        for ty in types {
            let wq = random_weights(ty, rows, cols, &mut rng);
            let m = Matrix {
                ty,
                rows,
                cols,
                data: &wq,
            };
            for n_tokens in [1, 2, 3, 4, 7, 8, 9, 17] {
                let x: Vec<f32> = (0..cols * n_tokens).map(|_| rng.range(-2.0, 2.0)).collect();
                let path = Path::choose(ty, n_tokens, rows, cols);
                let act_ty = ty.vec_dot_type().unwrap();
                let mut expect = vec![0f32; rows * n_tokens];
                for t in 0..n_tokens {
                    let mut a = vec![0u8; act_ty.row_size(cols).unwrap()];
                    quant::quantize_row_for_matmul(ty, &x[t * cols..(t + 1) * cols], &mut a)
                        .unwrap();
                    for r in 0..rows {
                        expect[t * rows + r] = dot_reference(ty, path, m.row(r), &a);
                    }
                }
                let expect: Vec<u32> = expect.iter().map(|v| v.to_bits()).collect();
                let mut act = vec![0u8; activation_bytes(ty, cols, n_tokens)];
                for width in [1, 3] {
                    let mut out = vec![0f32; rows * n_tokens];
                    matmul(m, &x, n_tokens, &mut act, &mut out, &Reversed(width));
                    let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                    assert_eq!(got, expect, "{ty:?} x {n_tokens} tokens, width {width}");
                }
            }
        }
    }

    #[test]
    fn products_take_the_kernel_llama_cpp_takes() {
        use GgmlType::*;
        // K-quants: tiled from 8 activation rows on.
        assert_eq!(Path::choose(Q4_K, 7, 256, 256), Path::VecDot);
        assert_eq!(Path::choose(Q6_K, 8, 256, 256), Path::Tiled);
        // Float weights: tinyBLAS from 2 rows when k % 8 == 0 and m % 4 == 0.
        assert_eq!(Path::choose(F16, 1, 256, 256), Path::VecDot);
        assert_eq!(Path::choose(F16, 2, 256, 256), Path::Tiny);
        assert_eq!(Path::choose(BF16, 2, 256, 260), Path::VecDot);
        assert_eq!(Path::choose(F32, 3, 258, 256), Path::VecDot);
        // Legacy quants: tinyBLAS gives vec_dot's bits, Q4_1/Q5_1 never leave vec_dot.
        assert_eq!(Path::choose(Q4_0, 64, 256, 256), Path::VecDot);
        assert_eq!(Path::choose(Q5_1, 64, 256, 256), Path::VecDot);
    }

    #[test]
    fn softmax_sums_to_one_and_orders_like_its_input() {
        let mut x = [1.0f32, 2.0, 3.0, f32::NEG_INFINITY];
        softmax_scaled(&mut x, 0.5);
        assert_eq!(x[3], 0.0);
        let s: f32 = x.iter().sum();
        assert!((s - 1.0).abs() < 1e-6, "{s}");
        // e^0.5 ratios between neighbours.
        assert!((x[1] / x[0] - libm::expf(0.5)).abs() < 1e-5);
    }

    #[test]
    fn rope_rotates_pairs_by_position_times_frequency() {
        let mut cache = [0f32; 4];
        rope_cache(3, 4, 10000.0, 1.0, &mut cache);
        // Pair 0 turns by 3 radians, pair 1 by 3 / 100 (10000^(-2/4) = 1/100).
        assert_eq!(cache[0], mathf::cosf(3.0));
        assert_eq!(cache[1], mathf::sinf(3.0));
        assert!((cache[2] - mathf::cosf(0.03)).abs() < 1e-7);
        let mut x = [1.0f32, 0.0, 0.0, 1.0, 5.0];
        rope_apply(&mut x[..4], &cache);
        assert_eq!(x[0], cache[0]);
        assert_eq!(x[1], cache[1]);
        assert_eq!(x[2], -cache[3]);
        assert_eq!(x[3], cache[2]);
        assert_eq!(x[4], 5.0);
    }

    #[test]
    fn rms_norm_scales_to_unit_rms_times_weight() {
        let x = [3.0f32, 4.0];
        let w: Vec<u8> = [2.0f32, 1.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut y = [0f32; 2];
        rms_norm(&x, &w, 0.0, &mut y);
        let scale = 1.0 / 12.5f32.sqrt();
        assert_eq!(y, [3.0 * scale * 2.0, 4.0 * scale]);
    }
}
