//! Matrix-vector and matrix-matrix products through the public kernel API
//! ([`llamette::kernels::matmul`]) on one thread ([`llamette::Serial`]), for each weight type a
//! model may use: a 2048 x 2048 weight matrix times 1 token (`matvec/<type>`) and times 32
//! tokens (`matmul32/<type>`). Throughput is counted in bytes of weights per call, so criterion
//! prints the GB/s of weights streamed (for `matmul32` each weight byte serves 32 tokens).
//!
//! ```text
//! cargo bench --features avx2 --bench kernels                  # all groups (a couple of minutes)
//! cargo bench --features avx2 --bench kernels -- matvec/q4_0   # one group
//! LLAMETTE_SCALAR=1 cargo bench --features avx2 --bench kernels   # force the scalar kernels
//! ```
//!
//! Without `--features avx2` only the scalar reference kernels exist. The timings include
//! quantizing the activations into the weight type's partner format, as in a real forward pass.
//!
//! Weights: F16 and Q8_0 come from `llamette::quant::quantize_row` on deterministic
//! pseudo-random floats. The other block formats have no quantizer in the library (it only
//! loads them), so their blocks are pseudo-random bytes with every f16 scale (`d`, `dmin`)
//! overwritten by a plausible value (0.01 to 0.1): the kernels' cost does not depend on the
//! values, but NaN/infinite or subnormal scales could distort it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use llamette::kernels::{activation_bytes, matmul, Matrix};
use llamette::quant::{
    self, as_blocks_mut, to_f16_le, Block, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1,
    BlockQ5K, BlockQ5_0, BlockQ6K,
};
use llamette::{GgmlType, Serial};

const ROWS: usize = 2048;
const COLS: usize = 2048;

const TYPES: [GgmlType; 10] = [
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// splitmix64: small and deterministic.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }

    fn floats(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.range(-1.0, 1.0)).collect()
    }

    fn scale(&mut self) -> [u8; 2] {
        to_f16_le(self.range(0.01, 0.1))
    }
}

/// Random bytes viewed as blocks of `B`, then `fix` sets each block's scales.
fn random_blocks<B: Block>(rng: &mut Rng, bytes: &mut [u8], mut fix: impl FnMut(&mut B, &mut Rng)) {
    for b in bytes.iter_mut() {
        *b = rng.next_u64() as u8;
    }
    for block in as_blocks_mut::<B>(bytes).expect("whole blocks") {
        fix(block, rng);
    }
}

/// A `ROWS x COLS` weight matrix of type `ty`, deterministic.
fn weights(ty: GgmlType, rng: &mut Rng) -> Vec<u8> {
    let row_bytes = ty.row_size(COLS).expect("COLS is a whole number of blocks");
    let mut data = vec![0u8; ROWS * row_bytes];
    match ty {
        GgmlType::F16 | GgmlType::Q8_0 => {
            for row in data.chunks_exact_mut(row_bytes) {
                quant::quantize_row(ty, &rng.floats(COLS), row).expect("quantize_row");
            }
        }
        GgmlType::Q4_0 => random_blocks::<BlockQ4_0>(rng, &mut data, |b, r| b.d = r.scale()),
        GgmlType::Q4_1 => random_blocks::<BlockQ4_1>(rng, &mut data, |b, r| {
            b.d = r.scale();
            b.m = r.scale();
        }),
        GgmlType::Q5_0 => random_blocks::<BlockQ5_0>(rng, &mut data, |b, r| b.d = r.scale()),
        GgmlType::Q2_K => random_blocks::<BlockQ2K>(rng, &mut data, |b, r| {
            b.d = r.scale();
            b.dmin = r.scale();
        }),
        GgmlType::Q3_K => random_blocks::<BlockQ3K>(rng, &mut data, |b, r| b.d = r.scale()),
        GgmlType::Q4_K => random_blocks::<BlockQ4K>(rng, &mut data, |b, r| {
            b.d = r.scale();
            b.dmin = r.scale();
        }),
        GgmlType::Q5_K => random_blocks::<BlockQ5K>(rng, &mut data, |b, r| {
            b.d = r.scale();
            b.dmin = r.scale();
        }),
        GgmlType::Q6_K => random_blocks::<BlockQ6K>(rng, &mut data, |b, r| b.d = r.scale()),
        other => panic!("no weight generator for {other}"),
    }
    data
}

fn kernels(c: &mut Criterion) {
    let mut rng = Rng(0x1234_5678_9abc_def0);
    for ty in TYPES {
        let data = weights(ty, &mut rng);
        let w = Matrix {
            ty,
            rows: ROWS,
            cols: COLS,
            data: &data,
        };
        for (prefix, n_tokens) in [("matvec", 1), ("matmul32", 32)] {
            let x = rng.floats(COLS * n_tokens);
            let mut act = vec![0u8; activation_bytes(ty, COLS, n_tokens)];
            let mut out = vec![0f32; ROWS * n_tokens];
            let mut group =
                c.benchmark_group(format!("{prefix}/{}", ty.name().to_ascii_lowercase()));
            group
                .throughput(Throughput::Bytes(w.data.len() as u64))
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(2))
                .sample_size(10);
            group.bench_function(format!("{ROWS}x{COLS}"), |b| {
                b.iter(|| {
                    matmul(
                        black_box(w),
                        black_box(&x),
                        n_tokens,
                        &mut act,
                        &mut out,
                        &Serial,
                    );
                    black_box(out[0])
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
