//! Models stored in several parts load without joining the files, and give exactly the logits
//! of the unsplit model: llama.cpp's gguf-split shards (written here by llamette's own writer,
//! with the `split.*` metadata llama.cpp's gguf-split writes) and raw byte splits cut anywhere,
//! including inside the header and inside a tensor.

mod common;

use common::fixture;
use llamette::gguf::writer::{MetaValue, Writer};
use llamette::gguf::GgufFile;
use llamette::model::Layout;
use llamette::{Context, ContextParams, Model, Serial};

const PROMPT: [u32; 6] = [1, 450, 4996, 17354, 1023, 29871 % 1024];

fn logits(model: &Model) -> Vec<f32> {
    let params = ContextParams {
        n_ctx: 64,
        n_batch: 16,
        logits_all: true,
        ..Default::default()
    };
    let mut ctx = Context::new(model, params).unwrap();
    ctx.eval(&PROMPT.map(|t| t % 1024), &Serial).unwrap();
    (0..PROMPT.len())
        .flat_map(|i| ctx.logits_at(i).unwrap().to_vec())
        .collect()
}

/// Cuts a GGUF file into `n` shards the way llama.cpp's gguf-split does: every shard is a GGUF
/// file with `split.no`, `split.count` and `split.tensors.count`; the first also carries all
/// the model's metadata; tensors are dealt out in order.
fn shards(bytes: &[u8], n: usize) -> Vec<Vec<u8>> {
    let f = GgufFile::from_bytes(bytes).unwrap();
    let tensors: Vec<_> = f.tensors().collect();
    let per = tensors.len().div_ceil(n);
    (0..n)
        .map(|i| {
            let mut w = Writer::new();
            if i == 0 {
                for (k, v) in f.metadata() {
                    w = w.meta(k, MetaValue::from_value(&v));
                }
            }
            w = w
                .meta("split.no", MetaValue::U16(i as u16))
                .meta("split.count", MetaValue::U16(n as u16))
                .meta("split.tensors.count", MetaValue::I32(tensors.len() as i32));
            for t in tensors.iter().skip(i * per).take(per) {
                w = w.tensor(t.name, t.ggml_type, t.dims(), t.data.to_vec());
            }
            w.to_bytes().unwrap()
        })
        .collect()
}

#[test]
fn gguf_split_shards_give_the_same_logits_and_copy_nothing() {
    let bytes = fixture("models/tiny-codellama.q4_k_m.gguf");
    let whole = Model::from_bytes(&bytes).unwrap();
    let want = logits(&whole);
    for n in [2, 3, 5] {
        let parts = shards(&bytes, n);
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        let model = Model::from_parts(&refs).unwrap();
        assert_eq!(model.layout(), Layout::Shards, "{n} shards");
        assert_eq!(model.copied_bytes(), 0, "{n} shards");
        assert_eq!(model.config(), whole.config());
        assert_eq!(logits(&model), want, "{n} shards");
    }
}

#[test]
fn shards_out_of_order_or_missing_are_errors() {
    let bytes = fixture("models/tiny-codellama.q8_0.gguf");
    let parts = shards(&bytes, 3);
    let swapped = [&parts[1][..], &parts[0][..], &parts[2][..]];
    let e = Model::from_parts(&swapped).unwrap_err();
    assert!(e.to_string().contains("split.no"), "{e}");
    let missing = [&parts[0][..], &parts[1][..]];
    let e = Model::from_parts(&missing).unwrap_err();
    assert!(e.to_string().contains("split"), "{e}");
}

#[test]
fn byte_splits_give_the_same_logits_and_copy_only_straddling_tensors() {
    let bytes = fixture("models/tiny-codellama.q4_0.gguf");
    let file = GgufFile::from_bytes(&bytes).unwrap();
    let data_offset = file.data_offset() as usize;
    let t = file.tensor("blk.0.ffn_up.weight").unwrap();
    let inside = t.file_offset() as usize + t.n_bytes() / 3;
    let boundary = t.file_offset() as usize;
    let whole = Model::from_bytes(&bytes).unwrap();
    let want = logits(&whole);
    // Cuts: inside the magic, inside the token list, right at the data section, at a tensor
    // boundary, inside a tensor, one byte before the end; and three-way cuts.
    let cut_sets: Vec<Vec<usize>> = vec![
        vec![2],
        vec![5000],
        vec![data_offset],
        vec![boundary],
        vec![inside],
        vec![bytes.len() - 1],
        vec![1000, inside],
        vec![boundary, inside, bytes.len() - 100],
    ];
    for cuts in cut_sets {
        let mut parts = Vec::new();
        let mut start = 0;
        for &c in &cuts {
            parts.push(&bytes[start..c]);
            start = c;
        }
        parts.push(&bytes[start..]);
        let model = Model::from_parts(&parts).unwrap_or_else(|e| panic!("cuts {cuts:?}: {e}"));
        assert_eq!(model.layout(), Layout::ByteSplit);
        // Exactly the tensors that straddle a cut were copied.
        let straddling: usize = file
            .tensors()
            .filter(|t| {
                let (a, b) = (
                    t.file_offset() as usize,
                    t.file_offset() as usize + t.n_bytes(),
                );
                cuts.iter().any(|&c| a < c && c < b)
            })
            .map(|t| t.n_bytes())
            .sum();
        assert_eq!(model.copied_bytes(), straddling, "cuts {cuts:?}");
        assert_eq!(logits(&model), want, "cuts {cuts:?}");
    }
}

#[test]
fn load_finds_every_part_from_the_first() {
    let bytes = fixture("models/tiny-codellama.q5_k_m.gguf");
    let want = logits(&Model::from_bytes(&bytes).unwrap());
    let dir = std::env::temp_dir().join(format!("llamette-parts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Raw byte splits, as the CodeLlama-70B model card publishes them.
    let cut = bytes.len() / 2 + 7;
    std::fs::write(dir.join("m.gguf-split-a"), &bytes[..cut]).unwrap();
    std::fs::write(dir.join("m.gguf-split-b"), &bytes[cut..]).unwrap();
    let model = Model::load(dir.join("m.gguf-split-a")).unwrap();
    assert_eq!(model.layout(), Layout::ByteSplit);
    assert_eq!(logits(&model), want);
    // gguf-split shards.
    for (i, s) in shards(&bytes, 3).iter().enumerate() {
        std::fs::write(dir.join(format!("m-{:05}-of-00003.gguf", i + 1)), s).unwrap();
    }
    let model = Model::load(dir.join("m-00001-of-00003.gguf")).unwrap();
    assert_eq!(model.layout(), Layout::Shards);
    assert_eq!(logits(&model), want);
    // A missing shard names the file.
    std::fs::remove_file(dir.join("m-00003-of-00003.gguf")).unwrap();
    let e = Model::load(dir.join("m-00001-of-00003.gguf")).unwrap_err();
    assert!(e.to_string().contains("m-00003-of-00003.gguf"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_resident_equals_load_for_files_and_parts() {
    let bytes = fixture("models/tiny-codellama.q4_k_m.gguf");
    let want = logits(&Model::from_bytes(&bytes).unwrap());
    let dir = std::env::temp_dir().join(format!("llamette-resident-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.gguf"), &bytes).unwrap();
    let model = Model::load_resident(dir.join("m.gguf")).unwrap();
    assert_eq!(model.layout(), Layout::Single);
    assert_eq!(model.copied_bytes(), 0);
    assert_eq!(logits(&model), want);
    let cut = bytes.len() / 3 + 5;
    std::fs::write(dir.join("m.gguf-split-a"), &bytes[..cut]).unwrap();
    std::fs::write(dir.join("m.gguf-split-b"), &bytes[cut..]).unwrap();
    let model = Model::load_resident(dir.join("m.gguf-split-a")).unwrap();
    assert_eq!(model.layout(), Layout::ByteSplit);
    assert_eq!(logits(&model), want);
    // Errors name the file; an empty file is an error, not a crash.
    let e = Model::load_resident(dir.join("missing.gguf")).unwrap_err();
    assert!(e.to_string().contains("missing.gguf"), "{e}");
    std::fs::write(dir.join("empty.gguf"), b"").unwrap();
    assert!(Model::load_resident(dir.join("empty.gguf")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
