//! The hostile files of issue 15, made on demand (nothing large is committed): the tests in
//! `tests/hostile.rs` load them under time and memory bounds, and `examples/make_hostile.rs`
//! writes them to a folder for the CLI, the C ABI or a fuzzer's corpus.
//!
//! Each generator is deterministic: the same bytes on every machine.

use llamette::gguf::writer::{MetaValue, Writer};
use llamette::gguf::ValueType;
use llamette::quant::GgmlType;

fn strings(items: impl IntoIterator<Item = String>) -> MetaValue {
    MetaValue::Array(
        ValueType::String,
        items.into_iter().map(MetaValue::String).collect(),
    )
}

fn s(v: &str) -> MetaValue {
    MetaValue::String(v.to_string())
}

/// A SentencePiece (`llama`) vocabulary's metadata: `<unk>`, `<s>`, `</s>`, then `tokens`
/// (normal tokens, score 0).
fn spm_vocab(w: Writer, tokens: impl IntoIterator<Item = String>) -> Writer {
    let mut all = vec!["<unk>".to_string(), "<s>".to_string(), "</s>".to_string()];
    all.extend(tokens);
    let n = all.len();
    let types = (0..n)
        .map(|i| {
            MetaValue::I32(if i == 0 {
                2
            } else if i < 3 {
                3
            } else {
                1
            })
        })
        .collect();
    w.meta("tokenizer.ggml.model", s("llama"))
        .meta("tokenizer.ggml.tokens", strings(all))
        .meta(
            "tokenizer.ggml.scores",
            MetaValue::Array(ValueType::F32, vec![MetaValue::F32(0.0); n]),
        )
        .meta(
            "tokenizer.ggml.token_type",
            MetaValue::Array(ValueType::I32, types),
        )
        .meta("tokenizer.ggml.bos_token_id", MetaValue::U32(1))
        .meta("tokenizer.ggml.eos_token_id", MetaValue::U32(2))
}

/// Shape of a synthetic llama model (F32 weights, all zero but the norms).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Embedding width (one attention head of this size).
    pub n_embd: usize,
    /// Blocks.
    pub n_layer: usize,
    /// Feed-forward width.
    pub n_ff: usize,
    /// `llama.context_length`.
    pub n_ctx_train: u32,
}

/// A valid llama model of `shape` with a 64-token SentencePiece vocabulary (`<unk>`, `<s>`,
/// `</s>`, `a`..`z`, `A`..`Z`, `0`..`9`, `▁`, `.`): every tensor present, F32.
pub fn llama_model(shape: Shape) -> Vec<u8> {
    let Shape {
        n_embd,
        n_layer,
        n_ff,
        n_ctx_train,
    } = shape;
    let chars: Vec<String> = ('a'..='z')
        .chain('A'..='Z')
        .chain('0'..='9')
        .chain(['▁', '.'])
        .map(String::from)
        .collect();
    let n_vocab = 3 + chars.len();
    let u32v = |v: usize| MetaValue::U32(v as u32);
    let mut w = Writer::new()
        .meta("general.architecture", s("llama"))
        .meta("general.name", s("hostile"))
        .meta("llama.context_length", MetaValue::U32(n_ctx_train))
        .meta("llama.embedding_length", u32v(n_embd))
        .meta("llama.block_count", u32v(n_layer))
        .meta("llama.feed_forward_length", u32v(n_ff))
        .meta("llama.attention.head_count", u32v(1))
        .meta("llama.attention.head_count_kv", u32v(1))
        .meta(
            "llama.attention.layer_norm_rms_epsilon",
            MetaValue::F32(1e-5),
        );
    w = spm_vocab(w, chars);
    let zeros = |n: usize| vec![0u8; n * 4];
    let ones = |n: usize| 1.0f32.to_le_bytes().repeat(n);
    let f32 = GgmlType::F32;
    w = w
        .tensor(
            "token_embd.weight",
            f32,
            &[n_embd as u64, n_vocab as u64],
            zeros(n_embd * n_vocab),
        )
        .tensor("output_norm.weight", f32, &[n_embd as u64], ones(n_embd));
    let (e, f) = (n_embd as u64, n_ff as u64);
    for i in 0..n_layer {
        let t = |w: Writer, name: &str, dims: &[u64]| {
            let n = dims.iter().product::<u64>() as usize;
            let data = if dims.len() == 1 { ones(n) } else { zeros(n) };
            w.tensor(&format!("blk.{i}.{name}.weight"), f32, dims, data)
        };
        w = t(w, "attn_norm", &[e]);
        w = t(w, "attn_q", &[e, e]);
        w = t(w, "attn_k", &[e, e]);
        w = t(w, "attn_v", &[e, e]);
        w = t(w, "attn_output", &[e, e]);
        w = t(w, "ffn_norm", &[e]);
        w = t(w, "ffn_gate", &[e, f]);
        w = t(w, "ffn_up", &[e, f]);
        w = t(w, "ffn_down", &[f, e]);
    }
    w.to_bytes().expect("a valid model")
}

/// Issue 15, finding 2: a valid model of `n_layer` blocks two wide (9 tensors a block; 16,000
/// blocks is about 12 MB). A linear tensor lookup made this quadratic: 127 s for 16,000 blocks.
pub fn many_layers(n_layer: usize) -> Vec<u8> {
    llama_model(Shape {
        n_embd: 2,
        n_layer,
        n_ff: 2,
        n_ctx_train: 64,
    })
}

/// Issue 15, finding 5: a small model (one block, width 64) that says its context is
/// `u32::MAX` positions: a context of that length needs 1.1 TB of KV cache.
pub fn huge_context() -> Vec<u8> {
    llama_model(Shape {
        n_embd: 64,
        n_layer: 1,
        n_ff: 16,
        n_ctx_train: u32::MAX,
    })
}

/// Issue 15, finding 1: a byte-level BPE vocabulary (no model) of `n_long` tokens, each of
/// `n_chars` copies of `€` (a character outside GPT-2's byte map) and a distinguishing suffix.
/// llama.cpp's piece for such a token repeats its whole text once per `€`: 45 tokens of 1,333
/// (181 KB) decode to 241 MB, 3 tokens of 20,000 (the same size) to 3.6 GB.
pub fn unmapped_vocab(n_long: usize, n_chars: usize) -> Vec<u8> {
    let mut tokens: Vec<String> = (b'a'..=b'z').map(|b| (b as char).to_string()).collect();
    for i in 0..n_long {
        tokens.push(
            format!("{}{}", "€".repeat(n_chars), (b'a' + (i % 26) as u8) as char)
                + &"z".repeat(i / 26),
        );
    }
    Writer::new()
        .meta("general.architecture", s("llama"))
        .meta("tokenizer.ggml.model", s("gpt2"))
        .meta("tokenizer.ggml.pre", s("default"))
        .meta("tokenizer.ggml.tokens", strings(tokens))
        .meta("tokenizer.ggml.merges", strings(Vec::new()))
        .to_bytes()
        .expect("a valid vocabulary file")
}

/// FNV-1a 64 continued from state `h`, the hash the token index used before issue 15.
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Issue 15, finding 3: 2^`k` distinct 3k-byte tokens whose FNV-1a hashes agree in their low
/// `k + 2` bits: every one lands in the same slot of a table of 2^(k+2) slots (the old index's
/// size for a little over 2^k tokens), making one probe chain of 2^k entries. Built from `k` blocks: in block
/// `j` two 3-letter strings whose FNV-1a states, from the common state so far, collide in
/// those low bits (the low bits of the next state depend only on the low bits of the current
/// one, so any choice of strings from earlier blocks keeps the collision).
pub fn flooded_tokens(k: u32) -> Vec<String> {
    let bits = k + 2;
    let mask = (1u64 << bits) - 1;
    let alnum: Vec<u8> = (b'a'..=b'z')
        .chain(b'A'..=b'Z')
        .chain(b'0'..=b'9')
        .collect();
    let mut state = 0xcbf2_9ce4_8422_2325u64;
    let mut blocks: Vec<[[u8; 3]; 2]> = Vec::new();
    for _ in 0..k {
        let mut seen = std::collections::HashMap::new();
        let pair = 'found: {
            for &a in &alnum {
                for &b in &alnum {
                    for &c in &alnum {
                        let t = [a, b, c];
                        let low = fnv(state, &t) & mask;
                        if let Some(prev) = seen.insert(low, t) {
                            break 'found [prev, t];
                        }
                    }
                }
            }
            unreachable!("62^3 strings always hold a collision in 19 bits")
        };
        state = fnv(state, &pair[0]);
        blocks.push(pair);
    }
    (0..1u64 << k)
        .map(|choice| {
            let mut t = String::with_capacity(3 * k as usize);
            for (j, pair) in blocks.iter().enumerate() {
                t.push_str(std::str::from_utf8(&pair[(choice >> j & 1) as usize]).unwrap());
            }
            t
        })
        .collect()
}

/// The SentencePiece vocabulary of [`flooded_tokens`] (plus the 62 letters and digits and `▁`,
/// so any alphanumeric text tokenizes): 2^17 tokens is 7.7 MB, which took the old index 66 s to load.
pub fn flooded_vocab(k: u32) -> Vec<u8> {
    let chars = ('a'..='z')
        .chain('A'..='Z')
        .chain('0'..='9')
        .chain(['▁'])
        .map(String::from);
    let w = Writer::new().meta("general.architecture", s("llama"));
    spm_vocab(w, chars.chain(flooded_tokens(k)))
        .to_bytes()
        .expect("a valid vocabulary file")
}

/// `n` bytes of letters and digits from a fixed linear congruential sequence.
pub fn alnum_text(n: usize) -> String {
    let alnum: Vec<u8> = (b'a'..=b'z')
        .chain(b'A'..=b'Z')
        .chain(b'0'..=b'9')
        .collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            alnum[(x >> 33) as usize % alnum.len()] as char
        })
        .collect()
}
