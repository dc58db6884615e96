//! A 100 KB source file (tests/fixtures/bench/source-100k.rs.txt, the benchmark's text) tokenizes
//! to exactly llama.cpp's ids with every vocabulary: compared by count and SHA-256 of the ids
//! (tests/fixtures/golden/tok-100k.txt, written by scripts/bench_tokenize_llama.py --golden).

mod common;

use common::{fixture, hex, sha256};
use llamette::gguf::GgufFile;
use llamette::tokenizer::Vocab;

#[test]
fn a_large_source_file_tokenizes_like_llama_cpp() {
    let text = String::from_utf8(fixture("bench/source-100k.rs.txt")).unwrap();
    let golden = String::from_utf8(fixture("golden/tok-100k.txt")).unwrap();
    let mut checked = 0;
    for line in golden.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let (name, count, digest) = (f[0], f[1].parse::<usize>().unwrap(), f[2]);
        let path = if name.starts_with("smollm2") {
            common::smollm2_path()
        } else {
            common::fixture_path(&format!("vocab/{name}.gguf"))
        };
        let file = GgufFile::open(&path).unwrap();
        let ids = Vocab::from_gguf(&file)
            .unwrap()
            .tokenize(&text, false, false)
            .unwrap();
        assert_eq!(ids.len(), count, "{name}");
        let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(hex(&sha256(&bytes)), digest, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 10);
}
