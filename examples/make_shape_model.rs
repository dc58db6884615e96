//! Writes a llama-architecture GGUF model with a real model's layer shape and seeded random F16
//! weights: the fixtures that check numerics at CodeLlama-70B's own sizes (issue 14), too large
//! to commit, so they are rebuilt from this program (then quantized by llama.cpp, see
//! `scripts/shape/make.sh`) and checked by SHA-256. It also writes the 1.1B benchmark model
//! (`scripts/make-bench-models.sh`).
//!
//! ```text
//! cargo run --release --example make_shape_model -- SHAPE LAYERS OUT.gguf [VOCAB.gguf]
//! ```
//!
//! `SHAPE` is `70b` (CodeLlama-70B-Instruct: embedding 8192, 64 query heads and 8 KV heads of
//! 128, feed-forward 28672, rope theta 1e4) or `13b` (CodeLlama-13B: embedding 5120, 40 heads
//! and 40 KV heads of 128, feed-forward 13824, rope theta 1e6) or `bench-1b` (TinyLlama-1.1B,
//! the benchmark model at 22 layers: embedding 2048, 32 query heads and 4 KV heads of 64,
//! feed-forward 5632, rope theta 1e4). The vocabulary and every other
//! `tokenizer.*` key come from `VOCAB.gguf` (default: the committed CodeLlama-70B-Instruct
//! vocabulary, 32016 tokens with `<step>`).
//!
//! The weights are a pure function of (shape, layer count, tensor, element): a splitmix64 of
//! the element's index gives four 16-bit uniforms whose centred sum (Irwin-Hall, scaled to unit
//! variance) times the tensor's scale is rounded to f16. Integer and IEEE-rounded arithmetic
//! only, so every machine writes the same bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use llamette::gguf::writer::MetaValue;
use llamette::gguf::{GgufFile, Writer};
use llamette::quant::GgmlType;

/// A real model's layer shape.
struct Shape {
    name: &'static str,
    n_embd: u64,
    n_ff: u64,
    n_head: u64,
    n_head_kv: u64,
    rope_theta: f32,
    seed: u64,
}

const SHAPES: [Shape; 3] = [
    Shape {
        name: "70b",
        n_embd: 8192,
        n_ff: 28672,
        n_head: 64,
        n_head_kv: 8,
        rope_theta: 10_000.0,
        seed: 0x7000_5eed,
    },
    Shape {
        name: "13b",
        n_embd: 5120,
        n_ff: 13824,
        n_head: 40,
        n_head_kv: 40,
        rope_theta: 1_000_000.0,
        seed: 0x1300_5eed,
    },
    Shape {
        name: "bench-1b",
        n_embd: 2048,
        n_ff: 5632,
        n_head: 32,
        n_head_kv: 4,
        rope_theta: 10_000.0,
        seed: 0xb100_5eed,
    },
];

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Element `i` of the tensor seeded `seed`: about N(0, 1) (a centred sum of four uniforms).
fn normal(seed: u64, i: u64) -> f32 {
    let z = splitmix64(seed ^ i.wrapping_mul(0xd134_2543_de82_ef95));
    let sum = (z & 0xffff) + ((z >> 16) & 0xffff) + ((z >> 32) & 0xffff) + (z >> 48);
    // Four U(0,1) have mean 2 and variance 1/3.
    ((sum as f32 + 2.0) / 65536.0 - 2.0) * 1.732_050_8
}

/// One tensor to write: name, dims (fastest first), type and the scale of its values
/// (`None`: a norm weight, 1 + 0.1 N(0, 1)).
struct Spec {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    std: Option<f32>,
}

fn specs(s: &Shape, n_layer: u64, n_vocab: u64) -> Vec<Spec> {
    let hd = s.n_embd / s.n_head;
    let d = s.n_embd as f32;
    let mat = |name: String, rows: u64, cols: u64, std: f32| Spec {
        name,
        dims: vec![cols, rows],
        ty: GgmlType::F16,
        std: Some(std),
    };
    let norm = |name: String| Spec {
        name,
        dims: vec![s.n_embd],
        ty: GgmlType::F32,
        std: None,
    };
    let mut v = vec![mat("token_embd.weight".into(), n_vocab, s.n_embd, 1.0)];
    for il in 0..n_layer {
        let p = |t: &str| format!("blk.{il}.{t}.weight");
        // Queries and keys of about 1.5 each give attention scores of a few units: softmax
        // weights that are neither uniform nor one-hot.
        v.push(norm(p("attn_norm")));
        v.push(mat(p("attn_q"), s.n_head * hd, s.n_embd, 1.5 / d.sqrt()));
        v.push(mat(p("attn_k"), s.n_head_kv * hd, s.n_embd, 1.5 / d.sqrt()));
        v.push(mat(p("attn_v"), s.n_head_kv * hd, s.n_embd, 1.0 / d.sqrt()));
        v.push(mat(
            p("attn_output"),
            s.n_embd,
            s.n_head * hd,
            1.0 / d.sqrt(),
        ));
        v.push(norm(p("ffn_norm")));
        v.push(mat(p("ffn_gate"), s.n_ff, s.n_embd, 1.0 / d.sqrt()));
        v.push(mat(p("ffn_up"), s.n_ff, s.n_embd, 1.0 / d.sqrt()));
        v.push(mat(
            p("ffn_down"),
            s.n_embd,
            s.n_ff,
            (s.n_ff as f32).sqrt().recip(),
        ));
    }
    v.push(norm("output_norm.weight".into()));
    v.push(mat(
        "output.weight".into(),
        n_vocab,
        s.n_embd,
        4.0 / d.sqrt(),
    ));
    v
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: make_shape_model SHAPE(70b|13b|bench-1b) LAYERS OUT.gguf [VOCAB.gguf]";
    if args.len() < 3 || args.len() > 4 {
        return Err(usage.into());
    }
    let shape = SHAPES
        .iter()
        .find(|s| s.name == args[0])
        .ok_or_else(|| format!("unknown shape {:?}\n{usage}", args[0]))?;
    let n_layer: u64 = args[1]
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("LAYERS must be a positive number, not {:?}", args[1]))?;
    let out = PathBuf::from(&args[2]);
    let vocab_path = args.get(3).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf")
    });
    let vocab =
        GgufFile::open(&vocab_path).map_err(|e| format!("{}: {e}", vocab_path.display()))?;
    let n_vocab = vocab
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.as_array())
        .map(|a| a.len() as u64)
        .ok_or_else(|| format!("{}: no tokenizer.ggml.tokens", vocab_path.display()))?;

    let s = shape;
    let hd = s.n_embd / s.n_head;
    let name = format!("shape-{}-{}l", s.name, n_layer);
    let mut w = Writer::new()
        .meta("general.architecture", MetaValue::String("llama".into()))
        .meta("general.name", MetaValue::String(name))
        .meta("general.file_type", MetaValue::U32(1))
        .meta("llama.context_length", MetaValue::U32(4096))
        .meta("llama.embedding_length", MetaValue::U32(s.n_embd as u32))
        .meta("llama.block_count", MetaValue::U32(n_layer as u32))
        .meta("llama.feed_forward_length", MetaValue::U32(s.n_ff as u32))
        .meta(
            "llama.attention.head_count",
            MetaValue::U32(s.n_head as u32),
        )
        .meta(
            "llama.attention.head_count_kv",
            MetaValue::U32(s.n_head_kv as u32),
        )
        .meta("llama.rope.dimension_count", MetaValue::U32(hd as u32))
        .meta("llama.rope.freq_base", MetaValue::F32(s.rope_theta))
        .meta(
            "llama.attention.layer_norm_rms_epsilon",
            MetaValue::F32(1e-5),
        )
        .meta("llama.vocab_size", MetaValue::U32(n_vocab as u32));
    for (key, value) in vocab.metadata() {
        if key.starts_with("tokenizer.") {
            w = w.meta(key, MetaValue::from_value(&value));
        }
    }
    let tensors = specs(s, n_layer, n_vocab);
    for t in &tensors {
        w = w.tensor_info(&t.name, t.ty, &t.dims);
    }
    let header = w.header_bytes().map_err(|e| e.to_string())?;
    let file = File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut f = BufWriter::with_capacity(1 << 22, file);
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    f.write_all(&header).map_err(io)?;
    let mut written = header.len();
    let mut buf = Vec::new();
    for (ti, t) in tensors.iter().enumerate() {
        let n: u64 = t.dims.iter().product();
        let seed = splitmix64(s.seed ^ (n_layer << 56) ^ ((ti as u64) << 40));
        buf.clear();
        for i in 0..n {
            let x = normal(seed, i);
            match t.std {
                Some(std) => buf.extend_from_slice(&half::f16::from_f32(x * std).to_le_bytes()),
                None => buf.extend_from_slice(&(1.0 + 0.1 * x).to_le_bytes()),
            }
        }
        f.write_all(&buf).map_err(io)?;
        written += buf.len();
        let pad = written.next_multiple_of(w.alignment()) - written;
        f.write_all(&vec![0u8; pad]).map_err(io)?;
        written += pad;
    }
    f.flush().map_err(io)?;
    println!(
        "{}: {} tensors, {written} bytes",
        out.display(),
        tensors.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_shape_model: {e}");
            ExitCode::FAILURE
        }
    }
}
