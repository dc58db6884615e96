//! The vocabulary API against llama.cpp's own answers for every vocabulary fixture
//! (tests/fixtures/golden/vocab-special.json, from `scripts/vocab_goldens.py` over llama.cpp's
//! Python package): the special tokens of `llama_vocab_bos/eos/eot/sep/nl/pad/fim_*`, whether
//! BOS and EOS are added, every token's attributes, the end-of-generation set, and the
//! fill-in-the-middle prompts llama.cpp's server builds for `/infill`.

mod common;

use std::collections::HashMap;

use common::{parse_json, Json};
use llamette::gguf::GgufFile;
use llamette::infill::{self, ExtraChunk, InfillParams};
use llamette::tokenizer::{TokenAttr, Vocab};

fn golden() -> Json {
    let bytes = common::fixture("golden/vocab-special.json");
    parse_json(std::str::from_utf8(&bytes).unwrap()).unwrap()
}

fn vocab(name: &str) -> Vocab {
    let path = common::fixture_path(&format!("vocab/{name}"));
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Vocab::from_gguf(&file).unwrap()
}

fn opt(j: &Json) -> Option<u32> {
    j.as_u32()
}

const ATTRS: &[(&str, TokenAttr)] = &[
    ("unknown", TokenAttr::UNKNOWN),
    ("unused", TokenAttr::UNUSED),
    ("normal", TokenAttr::NORMAL),
    ("control", TokenAttr::CONTROL),
    ("user_defined", TokenAttr::USER_DEFINED),
    ("byte", TokenAttr::BYTE),
    ("normalized", TokenAttr::NORMALIZED),
    ("lstrip", TokenAttr::LSTRIP),
    ("rstrip", TokenAttr::RSTRIP),
    ("single_word", TokenAttr::SINGLE_WORD),
];

#[test]
fn special_tokens_flags_attributes_and_eog_are_llama_cpps() {
    let g = golden();
    let vocabs = g["vocabs"].as_object().unwrap();
    assert!(vocabs.len() >= 9, "every vocabulary fixture");
    for (name, want) in vocabs {
        let v = vocab(name);
        assert_eq!(v.n_tokens(), want["n_tokens"].as_usize().unwrap(), "{name}");
        let s = v.special();
        let sp = &want["special"];
        for (field, got) in [
            ("bos", s.bos),
            ("eos", s.eos),
            ("eot", s.eot),
            ("sep", s.sep),
            ("nl", s.newline),
            ("pad", s.pad),
            ("fim_pre", s.fim_pre),
            ("fim_suf", s.fim_suf),
            ("fim_mid", s.fim_mid),
            ("fim_pad", s.fim_pad),
            ("fim_rep", s.fim_rep),
            ("fim_sep", s.fim_sep),
        ] {
            assert_eq!(got, opt(&sp[field]), "{name}: {field}");
        }
        assert_eq!(
            v.add_bos(),
            want["add_bos"].as_bool().unwrap(),
            "{name}: add_bos"
        );
        assert_eq!(
            v.add_eos(),
            want["add_eos"].as_bool().unwrap(),
            "{name}: add_eos"
        );
        let eog: Vec<u32> = v.eog_ids().collect();
        assert_eq!(eog, want["eog"].u32_vec(), "{name}: end-of-generation set");
        let control: Vec<u32> = (0..v.n_tokens() as u32)
            .filter(|&t| v.token_attr(t).unwrap().contains(TokenAttr::CONTROL))
            .collect();
        assert_eq!(control, want["control"].u32_vec(), "{name}: control tokens");
        let odd: HashMap<&str, &Json> = want["attrs_not_just_normal"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        for t in 0..v.n_tokens() as u32 {
            let a = v.token_attr(t).unwrap();
            let names: Vec<&str> = ATTRS
                .iter()
                .filter(|(_, f)| a.contains(*f))
                .map(|(n, _)| *n)
                .collect();
            let want_names: Vec<String> = match odd.get(t.to_string().as_str()) {
                Some(list) => list
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect(),
                None => vec!["normal".to_string()],
            };
            assert_eq!(names, want_names, "{name}: token {t}'s attributes");
        }
    }
}

#[test]
fn infill_prompts_are_llama_cpps_infill_layout() {
    let g = golden();
    let mut checked = 0;
    let mut vocabs_with_fim = 0;
    for (name, want) in g["vocabs"].as_object().unwrap() {
        let v = vocab(name);
        let cases = want["infill"].as_array().unwrap();
        if cases.is_empty() {
            // No FIM tokens: a clear error, never a prompt without them.
            let e =
                infill::infill_tokens(&v, "a", "b", &[], &[], InfillParams::default()).unwrap_err();
            assert!(e.to_string().contains("fill-in-the-middle"), "{name}: {e}");
            continue;
        }
        vocabs_with_fim += 1;
        for (i, c) in cases.iter().enumerate() {
            let extra: Vec<(Option<String>, String)> = c["extra"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    (
                        x["filename"].as_str().map(String::from),
                        x["text"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let chunks: Vec<ExtraChunk> = extra
                .iter()
                .map(|(f, t)| ExtraChunk {
                    text: t,
                    filename: f.as_deref(),
                })
                .collect();
            let prompt = v
                .tokenize(c["prompt"].as_str().unwrap(), false, false)
                .unwrap();
            assert_eq!(prompt, c["prompt_ids"].u32_vec(), "{name} #{i}: prompt ids");
            let p = InfillParams {
                n_batch: c["n_batch"].as_usize().unwrap(),
                n_predict: c["n_predict"].as_i64().unwrap() as i32,
                n_ctx: c["n_ctx"].as_usize().unwrap(),
                spm_infill: c["spm_infill"].as_bool().unwrap(),
            };
            let got = infill::infill_tokens(
                &v,
                c["prefix"].as_str().unwrap(),
                c["suffix"].as_str().unwrap(),
                &chunks,
                &prompt,
                p,
            )
            .unwrap();
            assert_eq!(got, c["ids"].u32_vec(), "{name} #{i}");
            checked += 1;
        }
        // The middle ends at the end-of-generation tokens, which include the FIM ends.
        let stops = infill::stop_tokens(&v);
        for t in want["eog"].u32_vec() {
            assert!(stops.contains(&t), "{name}: {t}");
        }
    }
    assert!(
        vocabs_with_fim >= 3,
        "{vocabs_with_fim} vocabularies with FIM tokens"
    );
    println!("{checked} infill prompts equal llama.cpp's ({vocabs_with_fim} vocabularies)");
}
