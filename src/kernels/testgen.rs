//! Random blocks for the SIMD kernels' tests (x86 and aarch64): weight blocks with random quant
//! bytes and finite f16 scales, Q8_K activations either quantized from random floats or raw.

use crate::quant::k_quants::BlockQ8K;
use crate::quant::{as_blocks, quantize_row, Block, GgmlType, QK_K};
use alloc::vec;
use alloc::vec::Vec;

/// The crate's test generator (splitmix64), shared with the block formats' tests.
pub(crate) use crate::quant::test_rng::Rng;

/// `n` random weight blocks of type `B`, with random finite f16 scales at `f16_at`.
pub(crate) fn weights<B: Block + Clone>(rng: &mut Rng, n: usize, f16_at: &[usize]) -> Vec<B> {
    let size = core::mem::size_of::<B>();
    let mut bytes = vec![0u8; n * size];
    rng.fill(&mut bytes);
    for blk in bytes.chunks_exact_mut(size) {
        for &o in f16_at {
            blk[o..o + 2].copy_from_slice(&rng.f16());
        }
    }
    as_blocks::<B>(&bytes).unwrap().to_vec()
}

/// `n` Q8_K blocks: quantized random floats (`raw == false`), or random quant bytes with a
/// random finite f32 `d` of mixed magnitude and `bsums` consistent with the quants.
pub(crate) fn acts(rng: &mut Rng, n: usize, raw: bool) -> Vec<BlockQ8K> {
    let size = core::mem::size_of::<BlockQ8K>();
    let mut bytes = vec![0u8; n * size];
    if raw {
        rng.fill(&mut bytes);
    } else {
        let scale = [1e-3f32, 1.0, 30.0][(rng.next_u64() % 3) as usize];
        let src: Vec<f32> = (0..n * QK_K).map(|_| rng.f32() * scale).collect();
        quantize_row(GgmlType::Q8_K, &src, &mut bytes).unwrap();
    }
    let mut blocks = as_blocks::<BlockQ8K>(&bytes).unwrap().to_vec();
    if raw {
        for b in &mut blocks {
            let e = (rng.next_u64() % 40) as i32 - 30;
            b.d = (rng.f32() * 2f32.powi(e)).to_le_bytes();
            for (s, q) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
                *s = q.iter().map(|&v| i16::from(v)).sum::<i16>().to_le_bytes();
            }
        }
    }
    blocks
}
