//! The block formats against their references, on the fixture models:
//!
//! - every tensor of every fixture model dequantizes to exactly the f32 values of gguf-py's
//!   `gguf.quants.dequantize` (which tests/fixtures/golden/README.md shows to equal llama.cpp's
//!   own C dequantizers bit for bit), compared by SHA-256 of the f32 bytes;
//! - `quantize_row` for Q8_0, Q8_1 and Q8_K gives exactly the bytes of llama.cpp's
//!   `quantize_row_q8_*_ref` on the rows of `quantize-ref.bin`;
//! - `vec_dot` of real weight rows against quantized activations agrees with an f64 dot of the
//!   dequantized row and the original activations within a bound derived per type below.

mod common;

use std::collections::BTreeMap;

use common::{fixture, hex, sha256, MODELS};
use llamette::gguf::GgufFile;
use llamette::quant::{dequantize_row, quantize_row, vec_dot};
use llamette::GgmlType;

fn dequantize_tensor(ty: GgmlType, data: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    dequantize_row(ty, data, &mut out).unwrap();
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn every_fixture_tensor_dequantizes_exactly_like_gguf_py() {
    let tsv = String::from_utf8(fixture("golden/dequant-gguf-py.tsv")).unwrap();
    let mut by_model: BTreeMap<&str, Vec<Vec<&str>>> = BTreeMap::new();
    for line in tsv.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 7, "bad golden line {line:?}");
        by_model.entry(fields[0]).or_default().push(fields);
    }
    assert_eq!(
        by_model.len(),
        MODELS.len(),
        "golden covers every fixture model"
    );
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    for name in MODELS {
        let bytes = fixture(&format!("models/{name}"));
        let file = GgufFile::from_bytes(&bytes).unwrap();
        let lines = &by_model[name];
        assert_eq!(
            lines.len(),
            file.tensor_count(),
            "{name}: golden covers every tensor"
        );
        for f in lines {
            let t = file.require_tensor(f[1]).unwrap();
            assert_eq!(t.ggml_type.name(), f[2], "{name} {}", f[1]);
            let n: usize = f[3].parse().unwrap();
            assert_eq!(t.n_elements() as usize, n, "{name} {}", f[1]);
            let values = dequantize_tensor(t.ggml_type, t.data, n);
            let max_abs = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert_eq!(
                max_abs,
                f[6].parse::<f64>().unwrap() as f32,
                "{name} {}",
                f[1]
            );
            assert_eq!(
                hex(&sha256(&f32_bytes(&values))),
                f[4],
                "{name} {}: dequantized values differ from gguf-py's",
                f[1]
            );
            *per_type.entry(f[2]).or_default() += 1;
        }
    }
    // Every weight format the fixtures hold was exercised.
    let types: Vec<&str> = per_type.keys().copied().collect();
    assert_eq!(
        types,
        [
            "BF16", "F16", "F32", "Q2_K", "Q3_K", "Q4_0", "Q4_1", "Q4_K", "Q5_0", "Q5_1", "Q5_K",
            "Q6_K", "Q8_0"
        ]
    );
}

/// One row of `quantize-ref.bin` (format in tests/fixtures/golden/README.md).
struct QuantRow {
    label: String,
    x: Vec<f32>,
    q8_0: Vec<u8>,
    q8_1: Vec<u8>,
    q8_k: Vec<u8>,
}

fn read_quant_rows() -> Vec<QuantRow> {
    let bytes = fixture("golden/quantize-ref.bin");
    let mut at = 0usize;
    let mut take = |n: usize| {
        let s = &bytes[at..at + n];
        at += n;
        s
    };
    assert_eq!(take(8), b"LMQ8REF1");
    let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap()) as usize;
    assert_eq!(u32_of(take(4)), 1, "version");
    let n_rows = u32_of(take(4));
    let mut rows = Vec::new();
    for _ in 0..n_rows {
        let n = u32_of(take(4));
        let label_len = u32_of(take(4));
        let label = String::from_utf8(take(label_len).to_vec()).unwrap();
        let x = take(4 * n)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let q8_0 = take(n / 32 * 34).to_vec();
        let q8_1 = take(n / 32 * 36).to_vec();
        let q8_k = take(n / 256 * 292).to_vec();
        rows.push(QuantRow {
            label,
            x,
            q8_0,
            q8_1,
            q8_k,
        });
    }
    assert_eq!(at, bytes.len(), "trailing bytes in quantize-ref.bin");
    rows
}

#[test]
fn activation_quantizers_match_llama_cpp_reference_bytes() {
    let rows = read_quant_rows();
    assert_eq!(rows.len(), 17);
    for row in &rows {
        for (ty, want) in [
            (GgmlType::Q8_0, &row.q8_0),
            (GgmlType::Q8_1, &row.q8_1),
            (GgmlType::Q8_K, &row.q8_k),
        ] {
            let mut got = vec![0u8; want.len()];
            quantize_row(ty, &row.x, &mut got).unwrap();
            let bs = ty.type_size();
            for (b, (g, w)) in got.chunks(bs).zip(want.chunks(bs)).enumerate() {
                assert_eq!(g, w, "{ty} row {} block {b}", row.label);
            }
        }
    }
}

/// A small deterministic generator (splitmix64) for activations.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Roughly normal: the sum of four uniforms, centred.
    fn normal(&mut self) -> f32 {
        let u = |r: &mut Rng| (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((u(self) + u(self) + u(self) + u(self) - 2.0) * 1.7) as f32
    }
}

/// The largest error that quantizing `x` to the activation format `act` can put into a dot
/// product with weights `w`, a priori (from the format, not from the result):
///
/// - Q8_0 / Q8_1: per 32-block the step is `d = amax/127`; rounding moves each element by at most
///   `d/2`, and storing `d` as f16 (relative error <= 2^-11) moves a quant of magnitude <= 127 by
///   at most `127 * d * 2^-11`. For Q8_1 the block sum `s = f16(d * sum q)` is rounded too
///   (|s| <= 32*127*d, relative error 2^-11), and it is multiplied by the weight block's minimum,
///   whose magnitude is at most the block's largest |w|.
/// - Q8_K: per 256-block `d = amax/127` kept in f32, so `d/2` per element.
/// - F16 / BF16: each element rounds with relative error 2^-11 / 2^-8.
/// - F32: no quantization error.
///
/// On top of that, float accumulation in the kernel: a relative `1e-5` of `sum |w x|` (a few
/// hundred f32 additions at 2^-24 each).
fn quantization_bound(act: GgmlType, w: &[f32], x: &[f32]) -> f64 {
    let abs_dot: f64 = w.iter().zip(x).map(|(a, b)| (a * b).abs() as f64).sum();
    let accumulation = 1e-5 * abs_dot;
    let per_block = |block: usize, f: &dyn Fn(f64, f64, f64) -> f64| -> f64 {
        w.chunks(block)
            .zip(x.chunks(block))
            .map(|(wb, xb)| {
                let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
                let sum_w: f64 = wb.iter().map(|v| v.abs() as f64).sum();
                let max_w = wb.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
                f(amax / 127.0, sum_w, max_w)
            })
            .sum()
    };
    let h = 2f64.powi(-11);
    accumulation
        + match act {
            GgmlType::Q8_0 => per_block(32, &|d, sw, _| sw * (d / 2.0 + 127.0 * d * h)),
            GgmlType::Q8_1 => per_block(32, &|d, sw, mw| {
                sw * (d / 2.0 + 127.0 * d * h) + mw * 32.0 * 127.0 * d * h
            }),
            GgmlType::Q8_K => per_block(256, &|d, sw, _| sw * d / 2.0),
            GgmlType::F16 => abs_dot * h,
            GgmlType::BF16 => abs_dot * 2f64.powi(-8),
            GgmlType::F32 => 0.0,
            t => panic!("no bound for activation type {t}"),
        }
}

#[test]
fn vec_dot_on_fixture_rows_agrees_with_float_dot() {
    let mut rng = Rng(2024);
    let mut worst: BTreeMap<GgmlType, f64> = BTreeMap::new();
    for name in MODELS {
        let bytes = fixture(&format!("models/{name}"));
        let file = GgufFile::from_bytes(&bytes).unwrap();
        for t in file.tensors().filter(|t| t.dims().len() == 2) {
            let (cols, rows) = (t.dims()[0] as usize, t.dims()[1] as usize);
            let act = t.ggml_type.vec_dot_type().unwrap();
            let row_bytes = t.ggml_type.row_size(cols).unwrap();
            let x: Vec<f32> = (0..cols).map(|_| rng.normal()).collect();
            let mut xq = vec![0u8; act.row_size(cols).unwrap()];
            quantize_row(act, &x, &mut xq).unwrap();
            for r in [0, 1, rows / 2, rows - 1] {
                let wr = &t.data[r * row_bytes..(r + 1) * row_bytes];
                let w = dequantize_tensor(t.ggml_type, wr, cols);
                let got = vec_dot(t.ggml_type, cols, wr, &xq).unwrap() as f64;
                let want: f64 = w.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
                let bound = quantization_bound(act, &w, &x);
                let err = (got - want).abs();
                assert!(
                    err <= bound,
                    "{name} {} row {r} ({}): vec_dot {got} vs f64 {want}: error {err} > bound {bound}",
                    t.name,
                    t.ggml_type
                );
                let ratio = if bound > 0.0 { err / bound } else { err };
                let e = worst.entry(t.ggml_type).or_default();
                *e = e.max(ratio);
            }
        }
    }
    // The bound is meant to be reachable, not vacuous: print how close each type came.
    for (ty, ratio) in &worst {
        eprintln!("vec_dot {ty}: worst error / bound = {ratio:.3}");
    }
    assert_eq!(
        worst.len(),
        13,
        "every weight type was exercised: {worst:?}"
    );
}
