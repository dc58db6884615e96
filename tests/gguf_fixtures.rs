//! Every fixture GGUF file parses, with the metadata and tensor table that FIXTURES.md describes.

mod common;

use common::{fixture, MODELS};
use llamette::gguf::{GgufFile, ValueType};
use llamette::GgmlType;

#[test]
fn every_fixture_model_parses_with_its_documented_shape() {
    for name in MODELS {
        let bytes = fixture(&format!("models/{name}"));
        let f = GgufFile::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let tied = name.contains("tied");
        assert_eq!(f.version(), 3, "{name}");
        assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
        assert_eq!(f.get_u32("llama.embedding_length").unwrap(), 256, "{name}");
        assert_eq!(f.get_u32("llama.block_count").unwrap(), 2, "{name}");
        let ff: u64 = if tied { 512 } else { 768 };
        assert_eq!(
            f.get_u64("llama.feed_forward_length").unwrap(),
            ff,
            "{name}"
        );
        let heads = if tied { 8 } else { 4 };
        assert_eq!(
            f.get_u32("llama.attention.head_count").unwrap(),
            heads,
            "{name}"
        );
        assert_eq!(
            f.get_u32("llama.attention.head_count_kv").unwrap(),
            1,
            "{name}"
        );
        assert_eq!(
            f.get_f32("llama.rope.freq_base").unwrap(),
            10000.0,
            "{name}"
        );
        assert_eq!(
            f.get_f32("llama.attention.layer_norm_rms_epsilon").unwrap(),
            1e-5
        );
        let tokens = f.get_array("tokenizer.ggml.tokens").unwrap();
        assert_eq!(tokens.elem_type(), ValueType::String);
        assert_eq!(tokens.len(), 1024, "{name}");
        assert_eq!(tokens.get(1023).unwrap().as_str(), Some("<step>"));
        assert_eq!(tokens.get(3).unwrap().as_str(), Some("<0x00>"));
        assert_eq!(f.get_array("tokenizer.ggml.scores").unwrap().len(), 1024);

        // 2 layers of 9 tensors, the embedding, the final norm, and the output unless tied.
        assert_eq!(f.tensor_count(), if tied { 20 } else { 21 }, "{name}");
        assert_eq!(f.tensor("output.weight").is_none(), tied, "{name}");
        let embd = f.tensor("token_embd.weight").unwrap();
        assert_eq!(embd.dims(), [256, 1024], "{name}");
        let down = f.tensor("blk.1.ffn_down.weight").unwrap();
        assert_eq!(down.dims(), [ff, 256], "{name}");
        let norm = f.tensor("blk.0.attn_norm.weight").unwrap();
        assert_eq!(norm.ggml_type, GgmlType::F32, "{name}");
        let mut end = 0;
        for t in f.tensors() {
            assert_eq!(t.file_offset() % 32, 0, "{name} {}", t.name);
            let n = usize::try_from(t.n_elements()).unwrap();
            assert_eq!(
                t.ggml_type.row_size(n),
                Some(t.n_bytes()),
                "{name} {}",
                t.name
            );
            end = end.max(t.file_offset() as usize + t.n_bytes());
        }
        // The last tensor ends at the end of the file, padding aside.
        assert!(
            bytes.len() - end < 32,
            "{name}: {} bytes after the last tensor",
            bytes.len() - end
        );
    }
}

#[test]
fn fixture_files_carry_the_types_their_names_promise() {
    // The main type of each file, read from the attention-query matrix of layer 0 (llama.cpp's
    // mixes keep some tensors in other types; see FIXTURES.md).
    let expect = [
        ("tiny-codellama.f32.gguf", GgmlType::F32),
        ("tiny-codellama.f16.gguf", GgmlType::F16),
        ("tiny-codellama.bf16.gguf", GgmlType::BF16),
        ("tiny-codellama.q4_0.gguf", GgmlType::Q4_0),
        ("tiny-codellama.q4_1.gguf", GgmlType::Q4_1),
        ("tiny-codellama.q5_0.gguf", GgmlType::Q5_0),
        ("tiny-codellama.q5_1.gguf", GgmlType::Q5_1),
        ("tiny-codellama.q8_0.gguf", GgmlType::Q8_0),
        ("tiny-codellama.q2_k.gguf", GgmlType::Q2_K),
        ("tiny-codellama.q3_k_m.gguf", GgmlType::Q3_K),
        ("tiny-codellama.q4_k_m.gguf", GgmlType::Q4_K),
        ("tiny-codellama.q5_k_m.gguf", GgmlType::Q5_K),
        ("tiny-codellama.q6_k.gguf", GgmlType::Q6_K),
    ];
    for (name, ty) in expect {
        let bytes = fixture(&format!("models/{name}"));
        let f = GgufFile::from_bytes(&bytes).unwrap();
        assert_eq!(
            f.tensor("blk.0.attn_q.weight").unwrap().ggml_type,
            ty,
            "{name}"
        );
    }
}

#[test]
fn codellama_70b_vocabulary_reads_whole() {
    let bytes = fixture("vocab/codellama-70b-instruct-vocab.gguf");
    let f = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.tensor_count(), 0);
    assert_eq!(f.get_u32("llama.block_count").unwrap(), 80);
    assert_eq!(f.get_u32("llama.embedding_length").unwrap(), 8192);
    assert_eq!(f.get_u32("llama.attention.head_count_kv").unwrap(), 8);
    assert_eq!(f.get_u32("tokenizer.ggml.eot_token_id").unwrap(), 32015);
    let tokens = f.get_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 32016);
    let all: Vec<&str> = tokens.strings().unwrap().collect();
    assert_eq!(all.len(), 32016);
    assert_eq!(all[32015], "<step>");
    assert_eq!(all[32007], "▁<PRE>");
    assert_eq!(all[29871], "▁");
    let types: Vec<i64> = f
        .get_array("tokenizer.ggml.token_type")
        .unwrap()
        .integers()
        .unwrap()
        .collect();
    assert_eq!(types.len(), 32016);
    assert_eq!(types[32015], 3, "<step> is a control token");
    assert_eq!(types[32014], 4, "CodeLlama's added pieces are user-defined");
    let template = f.get_str("tokenizer.chat_template").unwrap();
    assert!(
        template.contains("Source: assistant\\nDestination: user"),
        "{template}"
    );
}

#[test]
fn open_maps_the_file_and_names_a_missing_path() {
    let path = common::fixture_path("models/tiny-codellama.q8_0.gguf");
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let mapped = GgufFile::open(&path).unwrap();
    let borrowed = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(mapped.bytes(), &bytes[..]);
    let a: Vec<_> = mapped.tensors().collect();
    let b: Vec<_> = borrowed.tensors().collect();
    assert_eq!(a, b);
    let missing = path.with_file_name("no-such-model.gguf");
    match GgufFile::open(&missing).unwrap_err() {
        llamette::Error::Io { path, .. } => assert!(path.ends_with("no-such-model.gguf"), "{path}"),
        e => panic!("expected Io, got {e}"),
    }
}

#[test]
fn corrupted_headers_never_panic() {
    // Flip bytes anywhere in a real header (and the first data bytes) many times over: the
    // parser must return Ok or Err, never panic, and an Ok file's tensors must lie in the file.
    let bytes = fixture("models/tiny-codellama.q4_k_m.gguf");
    let header_end = GgufFile::from_bytes(&bytes).unwrap().data_offset() as usize + 64;
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut err) = (0, 0);
    for _ in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % header_end as u64) as usize;
            b[at] = next() as u8;
        }
        match GgufFile::from_bytes(&b) {
            Ok(f) => {
                ok += 1;
                for t in f.tensors() {
                    assert!(t.file_offset() as usize + t.n_bytes() <= b.len());
                }
            }
            Err(_) => err += 1,
        }
    }
    // Most flips land in token strings and scores, which stay valid; some break structure.
    assert!(ok > 0 && err > 0, "ok {ok}, err {err}");
}
