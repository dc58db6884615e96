//! Shared helpers for llamette's fuzz targets: embedded fixtures, a byte reader over the fuzz
//! input, a metadata walker, an owned editable GGUF (parsed from a fixture, mutated, written
//! back with `llamette::gguf::Writer`) and the "evaluate a small model" step.
//!
//! Everything here panics only where llamette broke a documented promise: the targets rely on
//! libFuzzer's panic hook to turn that into a crash.

use std::sync::OnceLock;

use llamette::gguf::writer::MetaValue;
use llamette::gguf::{GgufFile, GgufHeader, Value, ValueType, Writer};
use llamette::model::{Context, ContextParams, Model};
use llamette::tokenizer::Vocab;
use llamette::{GgmlType, Serial};

/// Fixture files compiled into the targets.
pub mod fixtures {
    /// Smallest tiny model (885 KB): Q2_K/Q3_K/Q4_K mix, untied output, 1024-token SPM vocab.
    pub static TINY_Q2_K: &[u8] =
        include_bytes!("../../tests/fixtures/models/tiny-codellama.q2_k.gguf");
    /// Tied-output tiny model (887 KB): Q4_K_M mix, no `output.weight`.
    pub static TINY_TIED_Q4_K_M: &[u8] =
        include_bytes!("../../tests/fixtures/models/tiny-codellama-tied.q4_k_m.gguf");
    /// CodeLlama-70B-Instruct's SPM vocabulary (32016 tokens, `<step>`, chat template).
    pub static VOCAB_CODELLAMA: &[u8] =
        include_bytes!("../../tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf");
    /// GPT-2 byte-level BPE (`gpt-2` pre-tokenizer).
    pub static VOCAB_GPT2: &[u8] =
        include_bytes!("../../tests/fixtures/vocab/ggml-vocab-gpt-2.gguf");
    /// Llama 3 byte-level BPE (`llama-bpe` pre-tokenizer, 128k tokens).
    pub static VOCAB_LLAMA_BPE: &[u8] =
        include_bytes!("../../tests/fixtures/vocab/ggml-vocab-llama-bpe.gguf");
    /// Qwen2 byte-level BPE (`qwen2` pre-tokenizer, ChatML special tokens).
    pub static VOCAB_QWEN2: &[u8] =
        include_bytes!("../../tests/fixtures/vocab/ggml-vocab-qwen2.gguf");
}

/// The fixed vocabularies, loaded once: CodeLlama SPM, GPT-2, Llama 3 (llama-bpe), Qwen2.
pub fn vocabs() -> &'static [Vocab] {
    static V: OnceLock<Vec<Vocab>> = OnceLock::new();
    V.get_or_init(|| {
        [
            fixtures::VOCAB_CODELLAMA,
            fixtures::VOCAB_GPT2,
            fixtures::VOCAB_LLAMA_BPE,
            fixtures::VOCAB_QWEN2,
        ]
        .iter()
        .map(|b| {
            let f = GgufFile::from_bytes(b).expect("fixture vocabulary parses");
            Vocab::from_gguf(f.header()).expect("fixture vocabulary loads")
        })
        .collect()
    })
}

/// A reader over the fuzz input that yields zeros once the input is used up.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data, pos: 0 }
    }
    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }
    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
    /// One byte (0 at the end).
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    /// Little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    /// Little-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// Little-endian u64.
    pub fn u64(&mut self) -> u64 {
        (self.u32() as u64) | ((self.u32() as u64) << 32)
    }
    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }
    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let r = &self.data[self.pos.min(self.data.len())..];
        self.pos = self.data.len();
        r
    }
    /// A short string: a length byte, then bytes (lossy UTF-8).
    pub fn short_string(&mut self, max: usize) -> String {
        let n = self.u8() as usize % (max + 1);
        String::from_utf8_lossy(self.bytes(n)).into_owned()
    }
    /// One of `items`.
    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.u8() as usize % items.len()]
    }
}

/// Reads every metadata value (arrays nested included) and every tensor location of a header,
/// checking what `Array` documents: iteration yields exactly `len` elements and never fails.
pub fn walk_header(h: &GgufHeader<'_>) -> u64 {
    let mut acc = h.version() as u64 ^ h.alignment() as u64 ^ h.data_offset() ^ h.file_len();
    acc ^= h.bytes().len() as u64;
    let mut n = 0;
    for (key, v) in h.metadata() {
        n += 1;
        acc = acc
            .wrapping_add(key.len() as u64)
            .wrapping_add(walk_value(&v));
        // A key listed by the iteration is found by lookup.
        assert!(
            h.get(key).is_some(),
            "metadata key {key:?} listed but not found"
        );
    }
    assert_eq!(n, h.metadata_len(), "metadata iteration count");
    let mut t = 0;
    for loc in h.tensor_locations() {
        t += 1;
        acc = acc
            .wrapping_add(loc.dims().len() as u64)
            .wrapping_add(loc.n_elements())
            .wrapping_add(loc.file_offset)
            .wrapping_add(loc.n_bytes as u64)
            .wrapping_add(loc.ggml_type as u64);
        assert!(
            h.tensor_location(loc.name).is_some(),
            "tensor {:?} listed but not found",
            loc.name
        );
    }
    assert_eq!(t, h.tensor_count(), "tensor iteration count");
    acc
}

/// Decodes a value completely.
pub fn walk_value(v: &Value<'_>) -> u64 {
    let _ = (v.value_type(), v.as_integer(), v.as_float(), v.as_str());
    match v {
        Value::String(s) => s.len() as u64,
        Value::Array(a) => {
            let mut acc = a.len() as u64 ^ a.raw_bytes().len() as u64;
            let mut count = 0usize;
            for item in a.iter() {
                count += 1;
                acc = acc.wrapping_add(walk_value(&item));
            }
            assert_eq!(count, a.len(), "array iteration yields len elements");
            if !a.is_empty() {
                assert!(
                    a.get(0).is_some() && a.get(a.len() - 1).is_some(),
                    "array get in range"
                );
            }
            assert!(a.get(a.len()).is_none(), "array get past the end");
            if let Some(s) = a.strings() {
                acc = acc.wrapping_add(s.count() as u64);
            }
            if let Some(f) = a.f32s() {
                acc = acc.wrapping_add(f.count() as u64);
            }
            if let Some(i) = a.integers() {
                acc = acc.wrapping_add(i.count() as u64);
            }
            acc
        }
        _ => 1,
    }
}

/// Loading a vocabulary and using it a little: the quick checks every model-ish target does.
pub fn exercise_vocab(vocab: &Vocab, text: &str) {
    let n = vocab.n_tokens();
    for &(add, parse) in &[(false, false), (true, true)] {
        if let Ok(ids) = vocab.tokenize(text, add, parse) {
            check_ids_detok(vocab, &ids, parse);
        }
    }
    // A few pieces, including past the end (must be errors).
    for id in [0u32, 1, 2, (n / 2) as u32, n.saturating_sub(1) as u32] {
        if (id as usize) < n {
            assert!(
                vocab.token_to_piece(id, true).is_ok(),
                "token_to_piece({id}) in range"
            );
            let _ = vocab.token_text(id);
        }
    }
    assert!(
        vocab.token_to_piece(n as u32, false).is_err(),
        "token_to_piece(n_tokens) is an error"
    );
    assert!(
        vocab.token_to_piece(u32::MAX, true).is_err(),
        "token_to_piece(u32::MAX) is an error"
    );
    let _ = (
        vocab.bos(),
        vocab.eos(),
        vocab.eot(),
        vocab.eog_ids().count(),
    );
}

/// Ids that came out of `tokenize`: each has a piece, the sequence detokenizes, and the
/// streaming detokenizer gives the same text (the promise of `Detokenizer`).
pub fn check_ids_detok(vocab: &Vocab, ids: &[u32], flags: bool) {
    let n = vocab.n_tokens();
    for &id in ids {
        assert!(
            (id as usize) < n,
            "tokenize produced id {id} outside {n} tokens"
        );
        vocab
            .token_to_piece(id, false)
            .expect("piece of a produced id");
        vocab
            .token_to_piece(id, true)
            .expect("piece of a produced id");
    }
    for &(rs, us) in &[(flags, !flags), (!flags, flags)] {
        let whole = vocab
            .detokenize(ids, rs, us)
            .expect("detokenize produced ids");
        let mut d = vocab.detokenizer(rs, us);
        let mut streamed = String::new();
        for &id in ids {
            streamed.push_str(d.push(id).expect("push a produced id"));
        }
        streamed.push_str(d.finish());
        assert_eq!(
            streamed,
            String::from_utf8_lossy(&whole),
            "streamed detokenization differs from detokenize (remove_special {rs}, unparse_special {us})"
        );
    }
}

/// Size limits under which `run_small_model` evaluates (keeps one execution in milliseconds).
pub const SMALL_FILE: usize = 2_500_000;

/// If the model is small, makes a context (n_ctx 8..32, n_batch 8) and evaluates 1-3 tokens
/// chosen by `sel`; checks that an out-of-range token and an over-long batch are errors.
pub fn run_small_model(model: &Model<'_>, file_len: usize, sel: &mut Input<'_>) {
    let c = model.config();
    let _ = (
        model.layout(),
        model.copied_bytes(),
        model.tied_output(),
        c.rope_freq_scale(),
    );
    if file_len > SMALL_FILE
        || c.n_vocab == 0
        || c.n_vocab > 50_000
        || c.n_embd.saturating_mul(c.n_layer) > 1 << 16
    {
        return;
    }
    let n_ctx = 8 + (sel.u8() as usize % 25);
    let params = ContextParams {
        n_ctx,
        n_batch: 8,
        logits_all: sel.u8() & 1 == 1,
        ..ContextParams::default()
    };
    match Context::required_bytes(model, &params) {
        Ok(n) if n <= 256 << 20 => {}
        _ => return,
    }
    let Ok(mut ctx) = Context::new(model, params) else {
        return;
    };
    let nv = c.n_vocab as u32;
    let k = 1 + sel.u8() as usize % 3;
    let tokens: Vec<u32> = (0..k).map(|_| sel.u16() as u32 % nv).collect();
    let bad = nv.wrapping_add(sel.u8() as u32).max(nv);
    assert!(
        ctx.eval(&[bad], &Serial).is_err(),
        "eval of token {bad} (n_vocab {nv}) must fail"
    );
    assert_eq!(
        ctx.n_past(),
        0,
        "a failed eval leaves the context as it was"
    );
    let too_many = vec![0u32; n_ctx + 1];
    assert!(
        ctx.eval(&too_many, &Serial).is_err(),
        "eval past n_ctx must fail"
    );
    if ctx.eval(&tokens, &Serial).is_ok() {
        assert_eq!(ctx.n_past(), tokens.len());
        let _ = ctx.logits().len();
        let _ = ctx.logits_at(0);
        // One more step, as generation does.
        let _ = ctx.eval(&tokens[..1], &Serial);
    }
}

/// A tensor of an editable GGUF.
#[derive(Clone)]
pub struct EditTensor {
    /// Name.
    pub name: String,
    /// Raw ggml type number.
    pub ty: u32,
    /// Shape.
    pub dims: Vec<u64>,
    /// Bytes.
    pub data: Vec<u8>,
    /// A data offset to write instead of the writer's (forces the patch path).
    pub offset: Option<u64>,
}

/// A GGUF file as owned, editable parts.
#[derive(Clone)]
pub struct EditGguf {
    /// Header version.
    pub version: u32,
    /// Metadata, in order.
    pub meta: Vec<(String, MetaValue)>,
    /// Tensors, in order.
    pub tensors: Vec<EditTensor>,
}

impl EditGguf {
    /// Copies a parsed file.
    pub fn from_file(f: &GgufFile<'_>) -> EditGguf {
        let h = f.header();
        EditGguf {
            version: h.version(),
            meta: h
                .metadata()
                .map(|(k, v)| (k.to_string(), MetaValue::from_value(&v)))
                .collect(),
            tensors: f
                .tensors()
                .map(|t| EditTensor {
                    name: t.name.to_string(),
                    ty: t.ggml_type as u32,
                    dims: t.dims().to_vec(),
                    data: t.data.to_vec(),
                    offset: None,
                })
                .collect(),
        }
    }

    /// Writes the file with `gguf::Writer`. Tensors whose type is unknown or whose bytes do not
    /// match their shape cannot go through the writer: they are written as F32 `[1]` and their
    /// real type/shape patched into the tensor table afterwards (see `raw_patch`).
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        let mut w = Writer::new().version(self.version);
        for (k, v) in &self.meta {
            w = w.meta(k, v.clone());
        }
        let mut patches = Vec::new();
        for (i, t) in self.tensors.iter().enumerate() {
            let ty = GgmlType::from_u32(t.ty);
            let expected = ty.and_then(|ty| {
                let n = t.dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
                ty.row_size(usize::try_from(n).ok()?)
            });
            match (ty, expected) {
                (Some(ty), Some(e))
                    if e == t.data.len() && t.dims.len() <= 4 && t.offset.is_none() =>
                {
                    w = w.tensor(&t.name, ty, &t.dims, t.data.clone());
                }
                _ => {
                    // Keep the data's size: an F32 vector of the right length (rounded up).
                    let n = t.data.len().div_ceil(4).max(1);
                    let mut data = t.data.clone();
                    data.resize(n * 4, 0);
                    w = w.tensor(&t.name, GgmlType::F32, &[n as u64], data);
                    patches.push(i);
                }
            }
        }
        let align = w.alignment();
        let out = w.to_bytes().ok()?;
        if patches.is_empty() {
            return Some(out);
        }
        // Rewrite the patched tensors' infos (same name, new dims/type, same offset), then
        // pad the header again so the data section stays aligned.
        let infos = self.info_positions(&out)?;
        let first = infos.first()?.0;
        let last_end = infos.last()?.1;
        let data_start = last_end.next_multiple_of(align);
        let mut rebuilt = Vec::with_capacity(out.len() + 64);
        rebuilt.extend_from_slice(&out[..first]);
        for (i, &(start, end)) in infos.iter().enumerate() {
            if !patches.contains(&i) {
                rebuilt.extend_from_slice(&out[start..end]);
                continue;
            }
            let t = &self.tensors[i];
            rebuilt.extend_from_slice(&(t.name.len() as u64).to_le_bytes());
            rebuilt.extend_from_slice(t.name.as_bytes());
            rebuilt.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                rebuilt.extend_from_slice(&d.to_le_bytes());
            }
            rebuilt.extend_from_slice(&t.ty.to_le_bytes());
            match t.offset {
                Some(o) => rebuilt.extend_from_slice(&o.to_le_bytes()),
                None => rebuilt.extend_from_slice(&out[end - 8..end]),
            }
        }
        rebuilt.resize(rebuilt.len().next_multiple_of(align), 0);
        rebuilt.extend_from_slice(out.get(data_start..)?);
        Some(rebuilt)
    }

    /// Byte ranges of each tensor info in a file written by `to_bytes` (before patching).
    pub fn info_positions(&self, out: &[u8]) -> Option<Vec<(usize, usize)>> {
        let mut w = Writer::new().version(self.version);
        for (k, v) in &self.meta {
            w = w.meta(k, v.clone());
        }
        let mut pos = w.header_bytes().ok()?.len();
        let mut v = Vec::with_capacity(self.tensors.len());
        for _ in &self.tensors {
            let start = pos;
            let name_len = u64::from_le_bytes(out.get(pos..pos + 8)?.try_into().ok()?) as usize;
            pos += 8 + name_len;
            let n_dims = u32::from_le_bytes(out.get(pos..pos + 4)?.try_into().ok()?) as usize;
            pos += 4 + 8 * n_dims + 4 + 8;
            if pos > out.len() {
                return None;
            }
            v.push((start, pos));
        }
        Some(v)
    }
}

/// Metadata keys that the model and vocabulary loaders read (for "add a key" mutations).
pub const KNOWN_KEYS: &[&str] = &[
    "general.architecture",
    "general.alignment",
    "general.name",
    "llama.vocab_size",
    "llama.context_length",
    "llama.embedding_length",
    "llama.block_count",
    "llama.feed_forward_length",
    "llama.attention.head_count",
    "llama.attention.head_count_kv",
    "llama.attention.key_length",
    "llama.attention.value_length",
    "llama.attention.layer_norm_rms_epsilon",
    "llama.rope.dimension_count",
    "llama.rope.freq_base",
    "llama.rope.scaling.type",
    "llama.rope.scaling.factor",
    "llama.rope.scale_linear",
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.seperator_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.mask_token_id",
    "tokenizer.ggml.fim_pre_token_id",
    "tokenizer.ggml.fim_suf_token_id",
    "tokenizer.ggml.fim_mid_token_id",
    "tokenizer.ggml.prefix_token_id",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_eos_token",
    "tokenizer.ggml.add_space_prefix",
    "tokenizer.chat_template",
    "split.count",
    "split.no",
    "split.tensors.count",
];

/// Pre-tokenizer names: every family `PreTokenizer::from_name` knows, plus names it rejects.
pub const PRE_NAMES: &[&str] = &[
    "",
    "default",
    "gpt-2",
    "llama-bpe",
    "llama3",
    "qwen2",
    "qwen35",
    "starcoder",
    "deepseek-coder",
    "deepseek-llm",
    "deepseek-v3",
    "falcon",
    "kimi-k2",
    "bloom",
    "viking",
    "laguna",
    "tekken",
    "gpt-4o",
    "granite-embed-multi-97m",
    "seed-coder",
    "ufakzeka",
    "minicpm5",
    "bailingmoe",
    "exaone-moe",
    "jais-2",
    "tiny_aya",
    "afmoe",
    "spark2_5",
    "youtu",
    "chameleon",
    "gemma4",
    "whitespace",
    "smollm",
    "command-r",
    "refact",
    "superbpe",
    "gpt2",
    "bogus",
];

/// Interesting integers.
pub const EDGE_INTS: &[i64] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    31,
    32,
    63,
    64,
    255,
    256,
    1023,
    1024,
    1025,
    4096,
    65535,
    65536,
    i32::MAX as i64,
    1 << 31,
    u32::MAX as i64,
    -1,
    -2,
    i64::MIN,
    i64::MAX,
];

/// Interesting floats.
pub const EDGE_FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    1e-5,
    1e-30,
    1e30,
    10000.0,
    0.5,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MIN_POSITIVE,
    3.4e38,
];

/// A value of type `ty` derived from the input (for scalar types), or a string/array.
pub fn derive_value(inp: &mut Input<'_>, ty: u8, like: Option<&MetaValue>) -> MetaValue {
    let i = if inp.u8() & 1 == 0 {
        *inp.pick(EDGE_INTS)
    } else {
        inp.u64() as i64
    };
    let f = if inp.u8() & 1 == 0 {
        *inp.pick(EDGE_FLOATS)
    } else {
        f32::from_bits(inp.u32()) as f64
    };
    match ty % 14 {
        0 => MetaValue::U8(i as u8),
        1 => MetaValue::I8(i as i8),
        2 => MetaValue::U16(i as u16),
        3 => MetaValue::I16(i as i16),
        4 => MetaValue::U32(i as u32),
        5 => MetaValue::I32(i as i32),
        6 => MetaValue::F32(f as f32),
        7 => MetaValue::Bool(i & 1 == 1),
        8 => MetaValue::String(inp.short_string(24)),
        9 => MetaValue::U64(i as u64),
        10 => MetaValue::I64(i),
        11 => MetaValue::F64(f),
        12 => {
            // An array: of the same kind as `like` when it is one, else of a derived type.
            let n = inp.u8() as usize % 8;
            let elem_ty = match like {
                Some(MetaValue::Array(_, items)) if !items.is_empty() => match &items[0] {
                    MetaValue::String(_) => 8,
                    MetaValue::F32(_) => 6,
                    MetaValue::I32(_) => 5,
                    _ => inp.u8() % 12,
                },
                _ => inp.u8() % 12,
            };
            let items: Vec<MetaValue> = (0..n).map(|_| derive_value(inp, elem_ty, None)).collect();
            let vt = items
                .first()
                .map(|v| v.value_type())
                .unwrap_or(ValueType::U32);
            MetaValue::Array(vt, items)
        }
        _ => {
            // Nested arrays.
            let depth = 1 + inp.u8() as usize % 10;
            let mut v = MetaValue::Array(ValueType::U8, vec![MetaValue::U8(1)]);
            for _ in 0..depth {
                v = MetaValue::Array(ValueType::Array, vec![v]);
            }
            v
        }
    }
}

/// Edits applied to the written bytes.
#[derive(Default)]
pub struct RawEdits {
    /// Cut the file to this length.
    pub truncate: Option<usize>,
    /// (position, byte) overwrites, position taken modulo the length.
    pub pokes: Vec<(usize, u8)>,
}

impl RawEdits {
    /// Applies the edits.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        for &(p, b) in &self.pokes {
            if !bytes.is_empty() {
                let n = bytes.len();
                bytes[p % n] = b;
            }
        }
        if let Some(t) = self.truncate {
            bytes.truncate(t);
        }
    }
}

/// Tweaks a value a little (keeps its type).
fn tweak(inp: &mut Input<'_>, v: &mut MetaValue) {
    let d = inp.u8() as i8 as i64;
    match v {
        MetaValue::U8(x) => *x = (*x as i64 + d) as u8,
        MetaValue::I8(x) => *x = (*x as i64 + d) as i8,
        MetaValue::U16(x) => *x = (*x as i64 + d) as u16,
        MetaValue::I16(x) => *x = (*x as i64 + d) as i16,
        MetaValue::U32(x) => {
            *x = if d & 1 == 0 {
                (*x as i64 + (d >> 1)) as u32
            } else {
                *inp.pick(EDGE_INTS) as u32
            }
        }
        MetaValue::I32(x) => {
            *x = if d & 1 == 0 {
                (*x as i64 + (d >> 1)) as i32
            } else {
                *inp.pick(EDGE_INTS) as i32
            }
        }
        MetaValue::U64(x) => *x = (*x as i64).wrapping_add(d) as u64,
        MetaValue::I64(x) => *x = x.wrapping_add(d),
        MetaValue::F32(x) => *x = *inp.pick(EDGE_FLOATS) as f32,
        MetaValue::F64(x) => *x = *inp.pick(EDGE_FLOATS),
        MetaValue::Bool(x) => *x = !*x,
        MetaValue::String(s) => tweak_string(inp, s),
        MetaValue::Array(_, items) => {
            if !items.is_empty() {
                let i = inp.u16() as usize % items.len();
                tweak(inp, &mut items[i]);
            }
        }
    }
}

/// Pieces that matter to tokenizers and chat templates.
pub const PIECES: &[&str] = &[
    "",
    " ",
    "\u{2581}",
    "\u{120}",
    "\u{10a}",
    "<",
    ">",
    "<s>",
    "</s>",
    "<unk>",
    "<step>",
    "<0x",
    "0A>",
    "<0xFF>",
    "<0x00>",
    "<|im_start|>",
    "<|im_end|>",
    "<|eot_id|>",
    "[INST]",
    "\n",
    "\t",
    "a",
    "b",
    "ab",
    "\u{e9}",
    "\u{1f600}",
    "\u{fffd}",
    "'s",
    "?",
    "\0",
    "Source: ",
    "Destination: user",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "  ",
    "\r\n",
];

/// Edits a string: truncate, append or insert a piece, or replace with a piece.
pub fn tweak_string(inp: &mut Input<'_>, s: &mut String) {
    let piece = *inp.pick(PIECES);
    match inp.u8() % 4 {
        0 => {
            let mut n = inp.u8() as usize % (s.len() + 1);
            while !s.is_char_boundary(n) {
                n -= 1;
            }
            s.truncate(n);
        }
        1 => s.push_str(piece),
        2 => {
            let mut n = inp.u8() as usize % (s.len() + 1);
            while !s.is_char_boundary(n) {
                n -= 1;
            }
            s.insert_str(n, piece);
        }
        _ => *s = piece.to_string(),
    }
}

/// Indexes of array-valued metadata entries.
fn arrays(g: &EditGguf) -> Vec<usize> {
    g.meta
        .iter()
        .enumerate()
        .filter(|(_, (_, v))| matches!(v, MetaValue::Array(..)))
        .map(|(i, _)| i)
        .collect()
}

/// Applies `n_ops` edits read from the input to the metadata and tensor table.
pub fn mutate(g: &mut EditGguf, inp: &mut Input<'_>, n_ops: usize) -> RawEdits {
    let mut raw = RawEdits::default();
    for _ in 0..n_ops {
        if inp.is_empty() {
            break;
        }
        let op = inp.u8() % 19;
        let nm = g.meta.len().max(1);
        let nt = g.tensors.len().max(1);
        match op {
            // Replace a value by one of any type.
            0 if !g.meta.is_empty() => {
                let i = inp.u16() as usize % nm;
                let ty = inp.u8();
                let v = derive_value(inp, ty, Some(&g.meta[i].1));
                g.meta[i].1 = v;
            }
            // Tweak a value, keeping its type.
            1 if !g.meta.is_empty() => {
                let i = inp.u16() as usize % nm;
                tweak(inp, &mut g.meta[i].1);
            }
            // Edit an array (the tokenizer's lists).
            2 => {
                let a = arrays(g);
                if a.is_empty() {
                    continue;
                }
                let i = a[inp.u8() as usize % a.len()];
                if let MetaValue::Array(_, items) = &mut g.meta[i].1 {
                    let n = items.len().max(1);
                    let j = inp.u16() as usize % n;
                    let k = inp.u16() as usize % n;
                    match inp.u8() % 6 {
                        0 => items.truncate(inp.u16() as usize % n),
                        1 if !items.is_empty() => {
                            items.remove(j);
                        }
                        2 if !items.is_empty() => {
                            let v = items[j].clone();
                            items.insert(k.min(items.len()), v);
                        }
                        3 if !items.is_empty() => {
                            let k = k.min(items.len() - 1);
                            items.swap(j, k);
                        }
                        4 if !items.is_empty() => {
                            let mut v = items[j].clone();
                            tweak(inp, &mut v);
                            let k = k.min(items.len() - 1);
                            items[k] = v;
                        }
                        _ => {
                            if let Some(v) = items.last().cloned() {
                                let mut v = v;
                                tweak(inp, &mut v);
                                items.push(v);
                            }
                        }
                    }
                }
            }
            3 if !g.meta.is_empty() => {
                g.meta.remove(inp.u16() as usize % nm);
            }
            4 if !g.meta.is_empty() => {
                let e = g.meta[inp.u16() as usize % nm].clone();
                g.meta.push(e);
            }
            5 => {
                let k = inp.pick(KNOWN_KEYS).to_string();
                let ty = inp.u8();
                let v = derive_value(inp, ty, None);
                g.meta.retain(|(kk, _)| *kk != k);
                g.meta.push((k, v));
            }
            6 if !g.meta.is_empty() => {
                let i = inp.u16() as usize % nm;
                g.meta[i].0 = inp.pick(KNOWN_KEYS).to_string();
            }
            // Tensor type (optionally with data resized to the new type).
            7 if !g.tensors.is_empty() => {
                let t = &mut g.tensors[inp.u16() as usize % nt];
                let b = inp.u8();
                t.ty = if b & 0x80 == 0 {
                    GgmlType::ALL[b as usize % GgmlType::ALL.len()] as u32
                } else {
                    inp.u32() % 64
                };
                if b & 0x40 != 0 {
                    resize_to_shape(t);
                }
            }
            // Tensor shape.
            8 if !g.tensors.is_empty() => {
                let t = &mut g.tensors[inp.u16() as usize % nt];
                let b = inp.u8();
                match b % 4 {
                    0 if !t.dims.is_empty() => {
                        let j = inp.u8() as usize % t.dims.len();
                        t.dims[j] = *inp.pick(EDGE_INTS) as u64;
                    }
                    1 => t.dims.push(1 + inp.u8() as u64 % 3),
                    2 => {
                        t.dims.pop();
                    }
                    _ => t.dims.reverse(),
                }
                if b & 0x40 != 0 {
                    resize_to_shape(t);
                }
            }
            9 if !g.tensors.is_empty() => {
                let t = &mut g.tensors[inp.u16() as usize % nt];
                t.offset = Some(if inp.u8() & 1 == 0 {
                    *inp.pick(EDGE_INTS) as u64
                } else {
                    inp.u32() as u64 * 32
                });
            }
            10 if !g.tensors.is_empty() => {
                let i = inp.u16() as usize % nt;
                let j = inp.u16() as usize % nt;
                g.tensors[i].name = if inp.u8() & 1 == 0 {
                    g.tensors[j].name.clone()
                } else {
                    let mut s = g.tensors[j].name.clone();
                    tweak_string(inp, &mut s);
                    s
                };
            }
            11 if !g.tensors.is_empty() => {
                g.tensors.remove(inp.u16() as usize % nt);
            }
            // Corrupt data bytes (f16 scales become inf/NaN, and so on).
            12 if !g.tensors.is_empty() => {
                let t = &mut g.tensors[inp.u16() as usize % nt];
                if !t.data.is_empty() {
                    let p = inp.u32() as usize % t.data.len();
                    let v = *inp.pick(&[0x00u8, 0xFF, 0x7C, 0x7E, 0x80, 0xFE, 0x01]);
                    let n = 1 + inp.u8() as usize % 32;
                    let end = (p + n).min(t.data.len());
                    t.data[p..end].fill(v);
                }
            }
            13 if !g.tensors.is_empty() => {
                let i = inp.u16() as usize % nt;
                let j = inp.u16() as usize % nt;
                g.tensors.swap(i, j);
            }
            14 => g.version = *inp.pick(&[1u32, 2, 3, 4, 0, u32::MAX, 0x0300_0000]),
            15 if !g.tensors.is_empty() => {
                let t = &mut g.tensors[inp.u16() as usize % nt];
                let n = inp.u32() as usize % (t.data.len() + 64);
                t.data.resize(n, 0);
            }
            16 => raw.truncate = Some(inp.u32() as usize),
            17 => raw.pokes.push((inp.u32() as usize, inp.u8())),
            // Drop all tensors but a few (files with odd tables, and faster ones).
            18 if !g.tensors.is_empty() => {
                let keep = inp.u8() as usize % nt;
                g.tensors.truncate(keep);
            }
            _ => {}
        }
    }
    raw
}

/// Makes a tensor's bytes the size its type and shape need (when that size is computable and
/// not huge), so the file passes the writer and reaches the model's own checks.
fn resize_to_shape(t: &mut EditTensor) {
    let Some(ty) = GgmlType::from_u32(t.ty) else {
        return;
    };
    let Some(n) = t.dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d)) else {
        return;
    };
    let Some(e) = usize::try_from(n).ok().and_then(|n| ty.row_size(n)) else {
        return;
    };
    if e <= 4 << 20 {
        t.data.resize(e, 0);
    }
}

/// The grammar targets' shared part: the input split into a grammar and strings to match, and
/// the checks run on a grammar that builds.
#[cfg(feature = "grammar")]
pub mod grammar_check {
    use std::sync::OnceLock;

    use llamette::grammar::{Grammar, GrammarVocab};
    use llamette::sampling::{Candidates, Constraint};

    /// Strings matched per input, and bytes per string.
    const MAX_STRINGS: usize = 4;
    const MAX_STRING_LEN: usize = 64;

    /// The end-of-generation token of [`byte_vocab`]; tokens 0..=255 are the bytes.
    const EOG: u32 = 256;

    /// `data` as [grammar text, lossy UTF-8][0][string][0][string]...: the text and up to
    /// [`MAX_STRINGS`] strings of at most [`MAX_STRING_LEN`] bytes. Without a 0 byte the
    /// strings are the text's own first 16 bytes and first 64.
    pub fn split(data: &[u8]) -> (String, Vec<&[u8]>) {
        let mut parts = data.split(|&b| b == 0);
        let head = parts.next().unwrap_or_default();
        let text = String::from_utf8_lossy(head).into_owned();
        let mut strings: Vec<&[u8]> = parts
            .take(MAX_STRINGS)
            .map(|s| &s[..s.len().min(MAX_STRING_LEN)])
            .collect();
        if head.len() == data.len() {
            strings = vec![&head[..head.len().min(16)], &head[..head.len().min(64)]];
        }
        (text, strings)
    }

    /// One token per byte and an end-of-generation token: the vocabulary on which the
    /// constraint's masks must agree with `Grammar::accepts_bytes`.
    fn byte_vocab() -> &'static GrammarVocab {
        static V: OnceLock<GrammarVocab> = OnceLock::new();
        V.get_or_init(|| {
            let bytes: Vec<[u8; 1]> = (0..=255u8).map(|b| [b]).collect();
            let mut tokens: Vec<&[u8]> = bytes.iter().map(|b| &b[..]).collect();
            tokens.push(b"</s>");
            GrammarVocab::from_token_bytes(&tokens, &[EOG], &[EOG]).expect("the byte vocabulary")
        })
    }

    /// The tokens `c` allows now (every token offered with the same logit), or `None` when
    /// it allows none (a named error).
    fn allowed(c: &mut dyn Constraint) -> Option<Vec<u32>> {
        let mut cands = Candidates::from_logits(&[0.0; EOG as usize + 1]);
        match c.apply(&mut cands) {
            Ok(()) => {
                assert!(
                    !cands.is_empty(),
                    "apply kept no candidate without an error"
                );
                Some(cands.iter().map(|d| d.id).collect())
            }
            Err(_) => None,
        }
    }

    /// Matches each string with `Grammar::accepts_bytes` and, when `exact` (no token
    /// elements, which name other tokens on the byte vocabulary), walks it through a
    /// constraint on the byte vocabulary: a byte the mask allows is one the engine consumes,
    /// and after the whole string the end is allowed exactly when the string is accepted.
    pub fn check(g: &Grammar, strings: &[&[u8]], exact: bool) {
        let mut c = exact.then(|| {
            // It compiled for the byte-level check; a vocabulary of bytes is the same one.
            byte_vocab()
                .constraint(g)
                .expect("a grammar that builds compiles for a byte vocabulary")
        });
        for s in strings {
            let accepted = g.accepts_bytes(s).expect("a grammar that builds runs");
            let Some(c) = c.as_mut() else {
                continue;
            };
            c.reset();
            let mut consumed = 0;
            for &b in s.iter() {
                let Some(ids) = allowed(c) else { break };
                if !ids.contains(&(b as u32)) {
                    break;
                }
                c.accept(b as u32)
                    .expect("a token the mask allows is accepted");
                consumed += 1;
            }
            if consumed < s.len() {
                assert!(
                    !accepted,
                    "the mask refuses byte {consumed} of an accepted string {s:?}"
                );
                continue;
            }
            let end = allowed(c).is_some_and(|ids| ids.contains(&EOG));
            assert_eq!(
                end, accepted,
                "end of generation allowed after {s:?} iff accepts_bytes"
            );
            if end {
                c.accept(EOG).expect("the end, once allowed, is accepted");
            }
        }
    }
}

/// The fuzz targets' bodies, one module each (`run(data)`): `fuzz_targets/NAME.rs` only calls
/// `targets::NAME::run`, and `tests/hostile.rs` includes this file to replay committed
/// findings (`tests/fixtures/hostile/fuzz-NAME-*.bin`) through the very same code.
pub mod targets {
    /// Arbitrary bytes as a GGUF file: `GgufFile::from_bytes` (walking every metadata value and
    /// tensor) and `GgufHeader::from_prefix` (the bytes as the prefix of a longer file).
    pub mod gguf_parse {
        use super::super::{walk_header, Input};
        use llamette::gguf::{GgufFile, GgufHeader};

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            if let Ok(f) = GgufFile::from_bytes(data) {
                walk_header(f.header());
                let mut n = 0;
                for t in f.tensors() {
                    n += 1;
                    let _ = (t.dims(), t.n_elements(), t.ggml_type);
                    assert_eq!(t.n_bytes(), t.data.len());
                    let end = t
                        .file_offset()
                        .checked_add(t.n_bytes() as u64)
                        .expect("tensor end overflows");
                    assert!(
                        end <= data.len() as u64,
                        "tensor {:?} ends past the file",
                        t.name
                    );
                    assert!(
                        f.tensor(t.name).is_some(),
                        "tensor {:?} listed but not found",
                        t.name
                    );
                }
                assert_eq!(n, f.header().tensor_count());
                let _ = f.require_tensor("token_embd.weight");
            }
            // The same bytes as the prefix of a longer file (as a host reading the head of a file).
            let mut inp = Input::new(data);
            let extra = match inp.u8() % 4 {
                0 => 0,
                1 => inp.u8() as u64,
                2 => inp.u32() as u64,
                _ => inp.u64(),
            };
            let total = (data.len() as u64).saturating_add(extra);
            if let Ok(h) = GgufHeader::from_prefix(data, total) {
                walk_header(&h);
                assert_eq!(h.file_len(), total);
                for loc in h.tensor_locations() {
                    let end = loc
                        .file_offset
                        .checked_add(loc.n_bytes as u64)
                        .expect("tensor end overflows");
                    assert!(
                        end <= total,
                        "tensor {:?} ends past the declared length",
                        loc.name
                    );
                }
            }
            let _ = GgufHeader::from_prefix_vec(data.to_vec(), data.len() as u64);
        }
    }

    /// Arbitrary bytes as a model: `Model::from_bytes`; a small model that loads is evaluated.
    pub mod model_from_bytes {
        use super::super::{exercise_vocab, run_small_model, Input};
        use llamette::model::Model;
        use llamette::tokenizer::Vocab;

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            let Ok(model) = Model::from_bytes(data) else {
                return;
            };
            if let Ok(v) = Vocab::from_gguf(model.header()) {
                exercise_vocab(&v, "Hello <s> world");
            }
            // Token choices from the input's last bytes (the head is the file).
            let tail = &data[data.len().saturating_sub(8)..];
            run_small_model(&model, data.len(), &mut Input::new(tail));
        }
    }

    /// A model cut into 1-4 parts at offsets derived from the input: `Model::from_parts`.
    /// Input: [n_cuts][4 bytes per cut][file bytes...].
    pub mod model_from_parts {
        use super::super::{run_small_model, Input};
        use llamette::model::Model;

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            let mut inp = Input::new(data);
            let n_cuts = 1 + inp.u8() as usize % 3;
            let raw: Vec<u32> = (0..n_cuts).map(|_| inp.u32()).collect();
            let file = inp.rest();
            let mut cuts: Vec<usize> = raw.iter().map(|&c| c as usize % (file.len() + 1)).collect();
            cuts.sort_unstable();
            let mut parts = Vec::with_capacity(n_cuts + 1);
            let mut last = 0;
            for c in cuts {
                parts.push(&file[last..c]);
                last = c;
            }
            parts.push(&file[last..]);
            if let Ok(model) = Model::from_parts(&parts) {
                run_small_model(&model, file.len(), &mut Input::new(&raw[0].to_le_bytes()));
            }
            // No parts at all.
            let _ = Model::from_parts(&[]);
        }
    }

    /// A valid tiny model (embedded fixture), edited by the input: metadata values (type, value,
    /// array length and elements, keys), tensor table (type, shape, offset, name, order, data),
    /// version, raw byte pokes; re-written with `gguf::Writer`; then `Model::from_bytes`,
    /// `Vocab::from_gguf`, and a context with one small evaluation.
    /// Input: [fixture][n_ops][ops...][token choices...].
    pub mod model_mutate {
        use std::sync::OnceLock;

        use super::super::{
            exercise_vocab, fixtures, mutate, run_small_model, walk_header, EditGguf, Input,
        };
        use llamette::gguf::GgufFile;
        use llamette::model::Model;
        use llamette::tokenizer::Vocab;

        fn bases() -> &'static [EditGguf; 2] {
            static B: OnceLock<[EditGguf; 2]> = OnceLock::new();
            B.get_or_init(|| {
                let p = |b| EditGguf::from_file(&GgufFile::from_bytes(b).expect("fixture parses"));
                [p(fixtures::TINY_Q2_K), p(fixtures::TINY_TIED_Q4_K_M)]
            })
        }

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            let mut inp = Input::new(data);
            let mut g = bases()[inp.u8() as usize & 1].clone();
            let n_ops = 1 + inp.u8() as usize % 8;
            let raw = mutate(&mut g, &mut inp, n_ops);
            let Some(mut bytes) = g.to_bytes() else {
                return;
            };
            raw.apply(&mut bytes);
            if let Ok(f) = GgufFile::from_bytes(&bytes) {
                walk_header(f.header());
                if let Ok(v) = Vocab::from_gguf(f.header()) {
                    exercise_vocab(&v, "<s>Hello world </s> <step> \u{fc} \u{1f600}\n\tx");
                }
            }
            if let Ok(model) = Model::from_bytes(&bytes) {
                run_small_model(&model, bytes.len(), &mut inp);
            }
        }
    }

    /// Vocabularies: (a) the input as a GGUF file -> `Vocab::from_gguf`; (b) a vocabulary built
    /// from the input (tokens, scores, types, merges, model "llama"/"gpt2", a pre-tokenizer name,
    /// special ids and flags) written with `gguf::Writer`, loaded, then a text from the rest of
    /// the input tokenized (both parse_special settings) and detokenized.
    /// Input: [mode][...]; mode even = raw GGUF, odd = structured.
    pub mod vocab {
        use super::super::{check_ids_detok, exercise_vocab, Input, PIECES, PRE_NAMES};
        use llamette::gguf::writer::MetaValue;
        use llamette::gguf::{GgufFile, ValueType, Writer};
        use llamette::tokenizer::Vocab;

        /// Characters token texts and texts are made of, so that tokens, merges and text overlap.
        const ALPHABET: &[&str] = &[
            "a",
            "b",
            "c",
            "d",
            " ",
            "\u{2581}",
            "\u{120}",
            "\u{10a}",
            "\n",
            "<",
            ">",
            "|",
            "s",
            "/",
            "\u{e9}",
            "\u{1f600}",
            "'",
            "?",
            ".",
            "1",
            "\t",
            "\u{4e2d}",
            "A",
            "_",
        ];

        fn token_text(inp: &mut Input<'_>) -> String {
            let b = inp.u8();
            match b % 8 {
                0 => format!("<0x{:02X}>", inp.u8()),
                1 => inp.pick(PIECES).to_string(),
                2 => String::from_utf8_lossy(inp.bytes(1 + b as usize % 5)).into_owned(),
                _ => {
                    let n = 1 + (b as usize >> 3) % 6;
                    (0..n).map(|_| *inp.pick(ALPHABET)).collect()
                }
            }
        }

        fn structured(data: &[u8]) {
            let mut inp = Input::new(data);
            let flags = inp.u16();
            let model = if flags & 1 == 0 { "llama" } else { "gpt2" };
            let n = 1 + inp.u16() as usize % 400;
            let tokens: Vec<String> = (0..n).map(|_| token_text(&mut inp)).collect();
            let mut w = Writer::new().meta(
                "tokenizer.ggml.model",
                MetaValue::String(if flags & 0x8000 != 0 {
                    "bert".into()
                } else {
                    model.into()
                }),
            );
            if flags & 2 != 0 {
                w = w.meta(
                    "tokenizer.ggml.pre",
                    MetaValue::String(inp.pick(PRE_NAMES).to_string()),
                );
            }
            let n_listed = if flags & 4 != 0 {
                n.saturating_sub(inp.u8() as usize % 3)
            } else {
                n
            };
            w = w.meta(
                "tokenizer.ggml.tokens",
                MetaValue::Array(
                    ValueType::String,
                    tokens
                        .iter()
                        .map(|t| MetaValue::String(t.clone()))
                        .collect(),
                ),
            );
            if flags & 8 != 0 {
                let scores = (0..n_listed)
                    .map(|_| {
                        MetaValue::F32(if inp.u8() & 7 == 0 {
                            f32::NAN
                        } else {
                            -(inp.u8() as f32)
                        })
                    })
                    .collect();
                w = w.meta(
                    "tokenizer.ggml.scores",
                    MetaValue::Array(ValueType::F32, scores),
                );
            }
            if flags & 16 != 0 {
                let types = (0..n_listed).map(|_| {
                    let b = inp.u8();
                    MetaValue::I32(if b < 200 { 1 } else { (b % 8) as i32 - 1 })
                });
                w = w.meta(
                    "tokenizer.ggml.token_type",
                    MetaValue::Array(ValueType::I32, types.collect()),
                );
            }
            if flags & 32 != 0 || model == "gpt2" {
                let n_merges = inp.u8() as usize * 2 % 300;
                let merges = (0..n_merges)
                    .map(|_| {
                        let a = &tokens[inp.u16() as usize % n];
                        let b = &tokens[inp.u16() as usize % n];
                        let sep = if inp.u8() & 15 == 0 { "" } else { " " };
                        MetaValue::String(format!("{a}{sep}{b}"))
                    })
                    .collect();
                w = w.meta(
                    "tokenizer.ggml.merges",
                    MetaValue::Array(ValueType::String, merges),
                );
            }
            for (bit, key) in [
                (64, "tokenizer.ggml.bos_token_id"),
                (128, "tokenizer.ggml.eos_token_id"),
                (256, "tokenizer.ggml.unknown_token_id"),
                (512, "tokenizer.ggml.eot_token_id"),
                (1024, "tokenizer.ggml.padding_token_id"),
            ] {
                if flags & bit != 0 {
                    let v = inp.u16() as u32;
                    let id = if v >= 0xFFF0 {
                        u32::MAX - (v & 15)
                    } else {
                        v % (n as u32 + 4)
                    };
                    w = w.meta(key, MetaValue::U32(id));
                }
            }
            for (bit, key) in [
                (2048, "tokenizer.ggml.add_bos_token"),
                (4096, "tokenizer.ggml.add_eos_token"),
                (8192, "tokenizer.ggml.add_space_prefix"),
            ] {
                if flags & bit != 0 {
                    w = w.meta(key, MetaValue::Bool(inp.u8() & 1 == 1));
                }
            }
            let Ok(bytes) = w.to_bytes() else { return };
            let f = GgufFile::from_bytes(&bytes).expect("a file gguf::Writer wrote parses");
            let Ok(vocab) = Vocab::from_gguf(f.header()) else {
                return;
            };
            assert_eq!(vocab.n_tokens(), n);
            let rest = inp.rest();
            let text: String = if flags & 0x4000 != 0 {
                rest.iter()
                    .map(|&b| ALPHABET[b as usize % ALPHABET.len()])
                    .collect()
            } else {
                String::from_utf8_lossy(rest).into_owned()
            };
            for parse in [false, true] {
                if let Ok(ids) = vocab.tokenize(&text, flags & 0x2000 != 0, parse) {
                    check_ids_detok(&vocab, &ids, parse);
                }
            }
            exercise_vocab(&vocab, "a b\n<s>");
        }

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            let Some((&mode, rest)) = data.split_first() else {
                return;
            };
            if mode & 1 == 0 {
                if let Ok(f) = GgufFile::from_bytes(rest) {
                    if let Ok(v) = Vocab::from_gguf(f.header()) {
                        exercise_vocab(&v, "Hello world <s> <|im_start|> \u{e9}\n");
                    }
                }
            } else {
                structured(rest);
            }
        }
    }

    /// Text through fixed vocabularies (CodeLlama SPM, GPT-2, Llama 3, Qwen2): tokenize, every
    /// produced id has a piece, detokenize and stream-detokenize agree.
    /// Input: [vocab and flags][text (lossy UTF-8)...].
    pub mod tokenize {
        use super::super::{check_ids_detok, vocabs};

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            let Some((&b, rest)) = data.split_first() else {
                return;
            };
            let vocab = &vocabs()[b as usize % 4];
            let text = String::from_utf8_lossy(rest);
            if let Ok(ids) = vocab.tokenize(&text, b & 4 != 0, b & 8 != 0) {
                check_ids_detok(vocab, &ids, b & 16 != 0);
            }
        }
    }

    /// Token ids (some out of range on purpose) through fixed vocabularies: the streaming
    /// `Detokenizer` and `Vocab::detokenize`. Out-of-range ids are errors (and leave the stream
    /// unchanged); the streamed text equals the lossy whole-sequence text of the valid ids.
    /// Input: [vocab and flags][3 bytes per id...].
    pub mod detokenize {
        use super::super::vocabs;

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            let Some((&b, rest)) = data.split_first() else {
                return;
            };
            let vocab = &vocabs()[b as usize % 4];
            let (rs, us) = (b & 4 != 0, b & 8 != 0);
            let n = vocab.n_tokens() as u32;
            let ids: Vec<u32> = rest
                .chunks(3)
                .map(|c| {
                    let v = c.iter().rev().fold(0u32, |a, &x| a << 8 | x as u32);
                    match v >> 20 {
                        0xF => n.wrapping_add(v & 7),
                        0xE if v & 1 == 1 => u32::MAX - (v & 0xFF),
                        _ => v % n,
                    }
                })
                .collect();
            let mut d = vocab.detokenizer(rs, us);
            let mut streamed = String::new();
            let mut valid = Vec::with_capacity(ids.len());
            for &id in &ids {
                let ok = id < n;
                assert_eq!(
                    vocab.token_to_piece(id, us).is_ok(),
                    ok,
                    "token_to_piece({id}) of {n}"
                );
                match d.push(id) {
                    Ok(s) => {
                        assert!(ok, "push({id}) of {n} tokens succeeded");
                        streamed.push_str(s);
                        valid.push(id);
                    }
                    Err(_) => assert!(!ok, "push({id}) of {n} tokens failed"),
                }
                if b & 16 != 0 && id % 61 == 0 {
                    // A mid-stream finish starts a new sequence; compare only the tail afterwards.
                    streamed.clear();
                    streamed.push_str(d.finish());
                    streamed.clear();
                    valid.clear();
                }
            }
            streamed.push_str(d.finish());
            let whole = vocab.detokenize(&ids, rs, us);
            assert_eq!(
                whole.is_ok(),
                ids.iter().all(|&i| i < n),
                "detokenize fails iff an id is out of range"
            );
            let whole_valid = vocab
                .detokenize(&valid, rs, us)
                .expect("detokenize of valid ids");
            assert_eq!(
                streamed,
                String::from_utf8_lossy(&whole_valid),
                "streamed != whole (rs {rs}, us {us})"
            );
        }
    }

    /// Chat formats: a format by name or detected from a template string, messages (role,
    /// content) from the input; `check`, `render`, `render_ids` with a fixed vocabulary and
    /// `stop_tokens`.
    /// Input: [selector][format name or template, 0-terminated][role 0 content 0 ...].
    pub mod chat {
        use super::super::vocabs;
        use llamette::chat::{ChatFormat, Message};

        const ROLES: &[&str] = &[
            "system",
            "user",
            "assistant",
            "tool",
            "",
            "user\n",
            "<user>",
        ];

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            let Some((&sel, rest)) = data.split_first() else {
                return;
            };
            let mut fields = rest.split(|&b| b == 0).map(String::from_utf8_lossy);
            let head = fields.next().unwrap_or_default();
            let format = if sel & 1 == 0 {
                ChatFormat::from_name(&head)
                    .unwrap_or(ChatFormat::ALL[(sel >> 1) as usize % ChatFormat::ALL.len()])
            } else {
                match ChatFormat::from_template(&head) {
                    Some(f) => f,
                    None => return,
                }
            };
            assert_eq!(ChatFormat::from_name(format.name()), Some(format));
            let owned: Vec<_> = fields.take(64).collect();
            let mut messages = Vec::with_capacity(owned.len() / 2 + 1);
            for (i, pair) in owned.chunks(2).enumerate() {
                // Roles: by index from the role field's first byte when it is short, else verbatim.
                let role: &str = match pair[0].as_bytes() {
                    [b] if (*b as usize) < ROLES.len() => ROLES[*b as usize],
                    [] if sel & 2 != 0 => ROLES[(i + 1) % 3],
                    _ => &pair[0],
                };
                let content = pair.get(1).map(|c| &**c).unwrap_or("");
                messages.push(Message::new(role, content));
            }
            let checked = format.check(&messages);
            let add_assistant = sel & 4 != 0;
            let rendered = format.render(&messages, add_assistant);
            assert_eq!(
                checked.is_ok(),
                rendered.is_ok(),
                "render fails iff check fails"
            );
            // Vocabularies: CodeLlama (SPM, <step>), Llama 3, Qwen2 (ChatML).
            let vocab = &vocabs()[[0usize, 2, 3][(sel >> 3) as usize % 3]];
            if let Ok(ids) = format.render_ids(vocab, &messages, add_assistant) {
                let n = vocab.n_tokens();
                assert!(
                    ids.iter().all(|&id| (id as usize) < n),
                    "render_ids gave an id outside the vocabulary"
                );
                let _ = vocab
                    .detokenize(&ids, false, true)
                    .expect("detokenize rendered ids");
            }
            let _ = format.stop_tokens(vocab);
        }
    }

    /// The C ABI over arbitrary bytes: `llamette_model_from_memory` (and `_from_parts` with the
    /// bytes cut in two), then info, metadata, tokenize, a context and one eval of a small model,
    /// and the frees. A panic inside the boundary is a crash (libFuzzer's panic hook aborts before
    /// the boundary can turn it into LLAMETTE_ERR_PANIC), and so is LLAMETTE_ERR_PANIC itself.
    /// Input: [cut selector][file bytes...].
    #[cfg(feature = "ffi")]
    pub mod ffi_model {
        use std::mem::MaybeUninit;
        use std::ptr;

        use llamette::ffi::context::{
            llamette_context_free, llamette_context_new, llamette_eval, LlametteContext,
            LlametteContextParams,
        };
        use llamette::ffi::model::{
            llamette_model_free, llamette_model_from_memory, llamette_model_from_parts,
            llamette_model_info, llamette_model_meta_string, llamette_tokenize, LlametteModel,
            LlametteModelInfo,
        };
        use llamette::ffi::{KvTypeArg, LlametteStatus};

        fn ok(s: LlametteStatus, what: &str) -> bool {
            assert_ne!(
                s,
                LlametteStatus::LLAMETTE_ERR_PANIC,
                "{what} reported a panic"
            );
            s == LlametteStatus::LLAMETTE_OK
        }

        /// Info, metadata, tokenize, and for a small model a context with one evaluation.
        ///
        /// # Safety
        /// `m` is a live model handle (from `llamette_model_from_*`, not yet freed).
        unsafe fn exercise(m: *mut LlametteModel, file_len: usize) {
            let mut info = MaybeUninit::<LlametteModelInfo>::zeroed();
            if !ok(
                // SAFETY: `m` is live (the caller's contract); `info` is writable storage.
                unsafe { llamette_model_info(m, info.as_mut_ptr()) },
                "model_info",
            ) {
                return;
            }
            // SAFETY: zeroed is a valid value of this plain C struct, and model_info filled it.
            let info = unsafe { info.assume_init() };
            let mut buf = [0u8; 16];
            let mut n = 0usize;
            ok(
                // SAFETY: a NUL-terminated key; `buf` holds `buf.len()` bytes; `n` is writable.
                unsafe {
                    llamette_model_meta_string(
                        m,
                        c"general.architecture".as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut n,
                    )
                },
                "meta_string",
            );
            let text = "Hello <s> world";
            let mut ids = [0u32; 64];
            ok(
                // SAFETY: `text` is valid for its length, `ids` for `ids.len()` ids; `n` is
                // writable.
                unsafe {
                    llamette_tokenize(
                        m,
                        text.as_ptr().cast(),
                        text.len(),
                        true,
                        true,
                        ids.as_mut_ptr(),
                        ids.len(),
                        &mut n,
                    )
                },
                "tokenize",
            );
            if file_len > super::super::SMALL_FILE || info.n_vocab == 0 || info.n_vocab > 50_000 {
                return;
            }
            let p = LlametteContextParams {
                n_ctx: 16,
                n_batch: 8,
                kv_type: KvTypeArg(0),
                logits_all: false,
            };
            let mut c: *mut LlametteContext = ptr::null_mut();
            if ok(
                // SAFETY: `m` is live, `p` a valid parameter block, `c` writable.
                unsafe { llamette_context_new(m, &p, &mut c) },
                "context_new",
            ) {
                let bad = [info.n_vocab];
                assert!(
                    // SAFETY: `c` is the live context just made; `bad` holds one id.
                    !ok(unsafe { llamette_eval(c, bad.as_ptr(), 1) }, "eval"),
                    "eval of an out-of-range token succeeded"
                );
                let toks = [1u32 % info.n_vocab, 2 % info.n_vocab];
                ok(
                    // SAFETY: as above; `toks` holds `toks.len()` ids.
                    unsafe { llamette_eval(c, toks.as_ptr(), toks.len()) },
                    "eval",
                );
                // SAFETY: `c` was made above and is freed once.
                unsafe { llamette_context_free(c) };
            }
        }

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            let Some((&sel, file)) = data.split_first() else {
                return;
            };
            // SAFETY: `file` (and each part of it) stays valid for the whole call, longer than
            // any model borrowing it (each is freed before the call returns, once); the part
            // and length arrays hold 2 entries; `m` is writable and live when `exercise` runs.
            unsafe {
                let mut m: *mut LlametteModel = ptr::null_mut();
                if ok(
                    llamette_model_from_memory(file.as_ptr(), file.len(), &mut m),
                    "model_from_memory",
                ) {
                    exercise(m, file.len());
                    llamette_model_free(m);
                }
                if sel & 1 == 1 {
                    let cut = (sel as usize * 4099) % (file.len() + 1);
                    let parts = [file[..cut].as_ptr(), file[cut..].as_ptr()];
                    let lens = [cut, file.len() - cut];
                    let mut m: *mut LlametteModel = ptr::null_mut();
                    if ok(
                        llamette_model_from_parts(parts.as_ptr(), lens.as_ptr(), 2, &mut m),
                        "model_from_parts",
                    ) {
                        exercise(m, file.len());
                        llamette_model_free(m);
                    }
                }
            }
        }
    }

    /// Saved states, edited: a whole-context or one-sequence state of a tiny model with two
    /// sequences, with bytes flipped (and the checksum recomputed, or not), cut or extended by
    /// the input, restored into a fresh context: an error, or a state that evaluates on.
    /// Input: [mode][n_edits][edits: 4 bytes offset, 1 byte xor ...][cut][extra bytes...].
    pub mod state {
        use std::sync::OnceLock;

        use super::super::{fixtures, Input};
        use llamette::model::{reseal_state, BatchToken, Context, ContextParams, Model};
        use llamette::Serial;

        fn model() -> &'static Model<'static> {
            static M: OnceLock<Model<'static>> = OnceLock::new();
            M.get_or_init(|| Model::from_bytes(fixtures::TINY_Q2_K).expect("fixture loads"))
        }

        fn params(n_ctx: usize) -> ContextParams {
            ContextParams {
                n_ctx,
                n_batch: 8,
                n_seq_max: 2,
                ..ContextParams::default()
            }
        }

        /// A whole-context state and sequence 1's state.
        fn saved() -> &'static (Vec<u8>, Vec<u8>) {
            static S: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
            S.get_or_init(|| {
                let mut ctx = Context::new(model(), params(32)).expect("context");
                let batch: Vec<BatchToken> = (0..10)
                    .map(|i| BatchToken::new(3 + i as u32, i / 2, i % 2, i >= 8))
                    .collect();
                ctx.decode(&batch, &Serial).expect("decode");
                let mut whole = vec![0u8; ctx.state_size()];
                ctx.state_write(&mut whole).expect("state");
                let mut seq = vec![0u8; ctx.seq_state_size(1).expect("size")];
                ctx.seq_state_write(1, &mut seq).expect("seq state");
                (whole, seq)
            })
        }

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            let mut inp = Input::new(data);
            let mode = inp.u8();
            let (whole, seq) = saved();
            let mut bytes = if mode & 1 == 0 {
                whole.clone()
            } else {
                seq.clone()
            };
            for _ in 0..inp.u8() % 16 {
                let at = inp.u32() as usize % bytes.len();
                let x = inp.u8();
                bytes[at] ^= x;
            }
            if mode & 2 != 0 {
                reseal_state(&mut bytes);
            }
            if mode & 4 != 0 {
                let cut = inp.u32() as usize % (bytes.len() + 1);
                bytes.truncate(cut);
            }
            if mode & 8 != 0 {
                bytes.extend_from_slice(inp.rest());
            }
            let mut ctx = Context::new(model(), params(8 + (mode >> 4) as usize * 4))
                .expect("a small context");
            let restored = if mode & 1 == 0 {
                ctx.state_read(&bytes)
            } else {
                ctx.seq_state_read(usize::from(mode & 0x10 != 0), &bytes)
            };
            if restored.is_ok() {
                // Whatever was restored evaluates on (or is a named error, e.g. a full
                // context), and the state written again is read back.
                let next = ctx.seq_pos_max(0).map_or(0, |p| p + 1);
                let _ = ctx.decode(&[BatchToken::new(5, next, 0, true)], &Serial);
                let mut again = vec![0u8; ctx.state_size()];
                let n = ctx
                    .state_write(&mut again)
                    .expect("a restored context saves");
                let mut fresh = Context::new(model(), params(ctx.params().n_ctx)).expect("context");
                fresh
                    .state_read(&again[..n])
                    .expect("a state just written restores");
            }
        }
    }

    /// Arbitrary text as a GBNF grammar: `Grammar::gbnf` (and `Grammar::gbnf_for` with Qwen2's
    /// vocabulary when the text has a `<`, for token elements by text), then each string
    /// matched with `accepts_bytes` and walked through the constraint's masks (see
    /// `grammar_check::check`). Input: [GBNF text][0][string][0][string]...
    pub mod grammar {
        /// The target's body: one input.
        #[cfg(feature = "grammar")]
        pub fn run(data: &[u8]) {
            use super::super::{grammar_check, vocabs};
            use llamette::grammar::Grammar;

            let (text, strings) = grammar_check::split(data);
            let tokens = text.contains('<');
            let built = match Grammar::gbnf(&text) {
                Ok(g) => Some(g),
                Err(_) if tokens => Grammar::gbnf_for(&text, &vocabs()[3]).ok(),
                Err(_) => None,
            };
            let Some(g) = built else {
                return;
            };
            assert!(g.lark_text().is_some(), "a GBNF grammar has Lark text");
            grammar_check::check(&g, &strings, !tokens);
        }

        /// Without the `grammar` feature (tests/hostile.rs in a default build) there is no
        /// grammar to fuzz: the replay runs nothing.
        #[cfg(not(feature = "grammar"))]
        pub fn run(_data: &[u8]) {}
    }

    /// Arbitrary text as a JSON schema: `Grammar::json_schema`, then each string matched with
    /// `accepts_bytes` and walked through the constraint's masks (see `grammar_check::check`).
    /// Input: [schema text][0][string][0][string]...
    pub mod json_schema {
        /// The target's body: one input.
        #[cfg(feature = "grammar")]
        pub fn run(data: &[u8]) {
            use super::super::grammar_check;
            use llamette::grammar::Grammar;

            let (text, strings) = grammar_check::split(data);
            let Ok(g) = Grammar::json_schema(&text) else {
                return;
            };
            grammar_check::check(&g, &strings, true);
        }

        /// Without the `grammar` feature (tests/hostile.rs in a default build) there is no
        /// schema to fuzz: the replay runs nothing.
        #[cfg(not(feature = "grammar"))]
        pub fn run(_data: &[u8]) {}
    }

    /// Arbitrary text as a Jinja chat template (`chat::template::ChatTemplate`, BOS `<s>`,
    /// EOS `</s>`), rendered over messages from the input with and without the generation
    /// prompt: any template ends with its text or an error (minijinja's fuel and recursion
    /// bounds stop endless loops and deep recursion), never a panic or a hang.
    /// Input: [template][0][role][0][content][0][role][0][content]...
    pub mod chat_template {
        /// The target's body: one input.
        #[cfg(feature = "templates")]
        pub fn run(data: &[u8]) {
            use llamette::chat::template::ChatTemplate;
            use llamette::chat::Message;

            let mut parts = data.split(|&b| b == 0);
            let Some(Ok(source)) = parts.next().map(core::str::from_utf8) else {
                return;
            };
            let Ok(t) = ChatTemplate::new(source, "<s>", "</s>") else {
                return;
            };
            let t = t.with_now(1_785_074_709);
            let texts: Vec<String> = parts
                .take(64)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            let messages: Vec<Message> = texts
                .chunks(2)
                .map(|c| Message::new(&c[0], c.get(1).map_or("", String::as_str)))
                .collect();
            for add in [false, true] {
                let _ = t.render(&messages, add);
            }
        }

        /// Without the `templates` feature there is no template engine: the replay runs
        /// nothing.
        #[cfg(not(feature = "templates"))]
        pub fn run(_data: &[u8]) {}
    }

    /// A request body for the server: the first byte picks the endpoint's dialect (chat,
    /// completion, llama-server's own), the rest is the body, read as every generating
    /// endpoint reads it (`api::parse_object`, `gen_params`, `prompt`, `messages`); an error
    /// is fine, a panic is not.
    pub mod server_request {
        use llamette_server::api::{self, Dialect, Fields};

        /// The target's body: one input.
        pub fn run(data: &[u8]) {
            let Some((&pick, body)) = data.split_first() else {
                return;
            };
            let dialect = match pick % 3 {
                0 => Dialect::Chat,
                1 => Dialect::Completion,
                _ => Dialect::Native,
            };
            let Ok(m) = api::parse_object(body) else {
                return;
            };
            let f = Fields(&m);
            if let Err(e) = api::gen_params(f, dialect) {
                // Every error is a client's error with a message.
                assert!(!e.message.is_empty());
                let _ = e.body();
            }
            let _ = api::prompt(f, "prompt");
            let _ = api::messages(f);
        }
    }

    /// Every target's body by name (`ffi_model` only with the `ffi` feature; `grammar` and
    /// `json_schema` run nothing without the `grammar` feature).
    pub fn by_name(name: &str) -> Option<fn(&[u8])> {
        Some(match name {
            "gguf_parse" => gguf_parse::run,
            "model_from_bytes" => model_from_bytes::run,
            "model_from_parts" => model_from_parts::run,
            "model_mutate" => model_mutate::run,
            "vocab" => vocab::run,
            "tokenize" => tokenize::run,
            "detokenize" => detokenize::run,
            "chat" => chat::run,
            "state" => state::run,
            "grammar" => grammar::run,
            "json_schema" => json_schema::run,
            "chat_template" => chat_template::run,
            "server_request" => server_request::run,
            #[cfg(feature = "ffi")]
            "ffi_model" => ffi_model::run,
            _ => return None,
        })
    }
}
