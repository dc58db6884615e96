//! Vocabularies: (a) the input as a GGUF file -> `Vocab::from_gguf`; (b) a vocabulary built
//! from the input (tokens, scores, types, merges, model "llama"/"gpt2", a pre-tokenizer name,
//! special ids and flags) written with `gguf::Writer`, loaded, then a text from the rest of
//! the input tokenized (both parse_special settings) and detokenized.
//! Input: [mode][...]; mode even = raw GGUF, odd = structured.
#![no_main]
use libfuzzer_sys::fuzz_target;
use llamette::gguf::writer::MetaValue;
use llamette::gguf::{GgufFile, ValueType, Writer};
use llamette::tokenizer::Vocab;
use llamette_fuzz::{check_ids_detok, exercise_vocab, Input, PIECES, PRE_NAMES};

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

fuzz_target!(|data: &[u8]| {
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
});
