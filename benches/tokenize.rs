//! Tokenizing a 100 KB source file (`tests/fixtures/bench/source-100k.rs.txt`, a snapshot of
//! llamette's own Rust source) with each tokenizer the fixtures carry: SentencePiece
//! (CodeLlama-70B-Instruct, Llama 2, Phi-3) and byte-level BPE with each pre-tokenizer.
//!
//! ```text
//! cargo bench --bench tokenize
//! python3 scripts/bench_tokenize_llama.py     # llama.cpp's llama_tokenize on the same text
//! ```
//!
//! The `adversarial` group tokenizes long runs of one character (spaces, digits, a letter, a
//! combining mark, newlines) at 100,000 and 400,000 repetitions: the time per byte must not
//! grow faster than the merge queue's `log n` (issue 15):
//!
//! ```text
//! cargo bench --bench tokenize -- adversarial
//! ```
//!
//! The SmolLM2 vocabulary comes from `models/` (scripts/fetch-smollm2.sh) and is skipped with a
//! message when absent; the others are committed fixtures.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use llamette::gguf::GgufFile;
use llamette::tokenizer::Vocab;

const VOCABS: [&str; 9] = [
    "tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf",
    "tests/fixtures/vocab/ggml-vocab-llama-spm.gguf",
    "tests/fixtures/vocab/ggml-vocab-phi-3.gguf",
    "tests/fixtures/vocab/ggml-vocab-gpt-2.gguf",
    "tests/fixtures/vocab/ggml-vocab-llama-bpe.gguf",
    "tests/fixtures/vocab/ggml-vocab-qwen2.gguf",
    "tests/fixtures/vocab/ggml-vocab-starcoder.gguf",
    "tests/fixtures/vocab/ggml-vocab-deepseek-coder.gguf",
    "tests/fixtures/vocab/ggml-vocab-falcon.gguf",
];

fn tokenize(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("tests/fixtures/bench/source-100k.rs.txt"))
        .expect("tests/fixtures/bench/source-100k.rs.txt");
    let mut group = c.benchmark_group("tokenize-100k");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(3));
    let smollm = "models/smollm2-135m-instruct.q4_1.gguf";
    for rel in VOCABS.iter().chain([&smollm]) {
        let path = root.join(rel);
        if !path.exists() {
            eprintln!("skipping {rel}: not present (scripts/fetch-smollm2.sh fetches it)");
            continue;
        }
        let file = GgufFile::open(&path).expect("vocabulary file");
        let vocab = Vocab::from_gguf(&file).expect("vocabulary");
        let name = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".gguf", "");
        let mut ids = Vec::with_capacity(text.len());
        group.bench_function(name, |b| {
            b.iter(|| {
                ids.clear();
                vocab.tokenize_into(&text, false, false, &mut ids).unwrap();
                ids.len()
            })
        });
    }
    group.finish();
}

/// Long runs of one character: one word of 400,000 spaces for a byte-level BPE pre-tokenizer
/// that keeps whitespace together, one SentencePiece symbol chain of 400,000 `▁`, and so on.
fn adversarial(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut group = c.benchmark_group("adversarial");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(2));
    for rel in [VOCABS[0], VOCABS[4], VOCABS[5]] {
        let file = GgufFile::open(root.join(rel)).expect("vocabulary file");
        let vocab = Vocab::from_gguf(&file).expect("vocabulary");
        let name = rel.rsplit('/').next().unwrap().replace(".gguf", "");
        for (what, unit) in [
            ("spaces", " "),
            ("digits", "1"),
            ("letter", "a"),
            ("combining", "\u{301}"),
            ("newlines", "\n"),
        ] {
            for n in [100_000usize, 400_000] {
                let text = unit.repeat(n);
                group.throughput(Throughput::Bytes(text.len() as u64));
                let mut ids = Vec::with_capacity(text.len());
                group.bench_function(format!("{name}/{what}/{n}"), |b| {
                    b.iter(|| {
                        ids.clear();
                        vocab.tokenize_into(&text, false, false, &mut ids).unwrap();
                        ids.len()
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, tokenize, adversarial);
criterion_main!(benches);
