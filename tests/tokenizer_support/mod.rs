//! Helpers shared by the `tokenizer_*` test binaries: llama.cpp's suite files and the
//! detokenization checks every suite runs.
#![allow(dead_code)]

use llamette::gguf::GgufFile;
use llamette::tokenizer::{Utf8Decoder, Vocab};

/// Loads the vocabulary of a GGUF file held in memory.
pub fn vocab_from_bytes(bytes: Vec<u8>) -> Vocab {
    let file = GgufFile::from_vec(bytes).expect("GGUF parses");
    Vocab::from_gguf(file.header()).expect("vocabulary loads")
}

/// The texts of a llama.cpp `.inp` file, split exactly as `test-tokenizer-0.cpp`'s `read_tests`
/// does: on `"\n__ggml_vocab_test__\n"`, stopping at the end of the file (so the separator that
/// ends the file does not make an empty last text).
pub fn split_inp(raw: &str) -> Vec<String> {
    const SEP: &str = "\n__ggml_vocab_test__\n";
    let mut texts = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        match raw[pos..].find(SEP) {
            None => {
                texts.push(raw[pos..].to_string());
                break;
            }
            Some(i) => {
                texts.push(raw[pos..pos + i].to_string());
                pos += i + SEP.len();
            }
        }
    }
    texts
}

/// The ids of a llama.cpp `.out` file: one line per text, space-separated (`string_strip`ped).
pub fn parse_out(raw: &str) -> Vec<Vec<u32>> {
    raw.lines()
        .map(|line| {
            line.split_ascii_whitespace()
                .map(|t| t.parse().expect("token id"))
                .collect()
        })
        .collect()
}

/// Whether llama.cpp's `clean_spaces` post-processing changes `text`: it removes a space before
/// `?!.,`, the spaces around a lone `'`, and the space before `'s 'm 're 've`. Each of these
/// patterns, when present, makes the output shorter; when none is present the text is left as
/// is.
pub fn clean_spaces_changes(text: &str) -> bool {
    [" ?", " !", " .", " ,", " ' ", " 's", " 'm", " 're", " 've"]
        .iter()
        .any(|p| text.contains(p))
}

/// Whether `detokenize(tokenize(text, false, false), false, false) == text` holds in llama.cpp
/// for this vocabulary:
///
/// - SPM: always. The space prefix that tokenizing adds is the leading space of the first piece,
///   and detokenizing without a BOS in front strips exactly that one space (`lstrip = 1` for the
///   first token); every character is either a token or byte-fallback tokens, which decode to
///   the same bytes.
/// - byte-level BPE: every byte maps to a token and every token decodes to its bytes, so the
///   text comes back unless the vocabulary cleans up spaces and the text has a pattern that the
///   clean-up rewrites (see [`clean_spaces_changes`]; e.g. `"you 😁 ?"` comes back as
///   `"you 😁?"` from GPT-2, Llama 3, StarCoder and Falcon, not from Qwen2, DeepSeek-Coder or
///   SmolLM, whose pre-tokenizers turn the clean-up off).
pub fn round_trips(vocab: &Vocab, text: &str) -> bool {
    !(vocab.clean_spaces() && clean_spaces_changes(text))
}

/// Checks the detokenization of `ids` (which tokenize `text`):
///
/// - the whole-sequence detokenization equals `text` exactly when [`round_trips`] says so (and
///   differs otherwise), for `remove_special = unparse_special = false`;
/// - the streaming detokenizer, pushed one id at a time, gives the same text as
///   `String::from_utf8_lossy` of the whole detokenization, for all four flag combinations;
/// - the UTF-8 assembler, fed the whole detokenization split at every byte position (and one
///   byte at a time), gives the same text.
///
/// Returns a description of the first mismatch.
pub fn check_detokenization(vocab: &Vocab, text: &str, ids: &[u32]) -> Result<(), String> {
    let whole = vocab
        .detokenize(ids, false, false)
        .map_err(|e| e.to_string())?;
    let expect_round_trip = round_trips(vocab, text);
    if (whole == text.as_bytes()) != expect_round_trip {
        return Err(format!(
            "round trip of {text:?}: expected {}, detokenized to {:?}",
            if expect_round_trip {
                "equal"
            } else {
                "different"
            },
            String::from_utf8_lossy(&whole)
        ));
    }
    for (remove_special, unparse_special) in
        [(false, false), (false, true), (true, false), (true, true)]
    {
        check_streaming(vocab, ids, remove_special, unparse_special)?;
    }
    check_utf8_splits(&whole)
}

/// The streaming detokenizer, one id at a time, equals the whole detokenization.
pub fn check_streaming(
    vocab: &Vocab,
    ids: &[u32],
    remove_special: bool,
    unparse_special: bool,
) -> Result<(), String> {
    let whole = vocab
        .detokenize(ids, remove_special, unparse_special)
        .map_err(|e| e.to_string())?;
    let want = String::from_utf8_lossy(&whole);
    let mut detok = vocab.detokenizer(remove_special, unparse_special);
    let mut got = String::new();
    for &id in ids {
        got.push_str(detok.push(id).map_err(|e| e.to_string())?);
    }
    got.push_str(detok.finish());
    if got != want {
        return Err(format!(
            "streaming {ids:?} (remove_special {remove_special}, unparse_special \
             {unparse_special}): {got:?} != {want:?}"
        ));
    }
    // A finished detokenizer starts over: the same ids give the same text again.
    let mut again = String::new();
    for &id in ids {
        again.push_str(detok.push(id).map_err(|e| e.to_string())?);
    }
    again.push_str(detok.finish());
    if again != want {
        return Err(format!("second run of {ids:?}: {again:?} != {want:?}"));
    }
    Ok(())
}

/// The UTF-8 assembler over `bytes` split at every position, and byte by byte, equals
/// `String::from_utf8_lossy(bytes)`.
pub fn check_utf8_splits(bytes: &[u8]) -> Result<(), String> {
    let want = String::from_utf8_lossy(bytes);
    for k in 0..=bytes.len() {
        let mut d = Utf8Decoder::new();
        let mut got = String::new();
        d.push(&bytes[..k], &mut got);
        d.push(&bytes[k..], &mut got);
        d.finish(&mut got);
        if got != want {
            return Err(format!(
                "UTF-8 split at {k} of {bytes:?}: {got:?} != {want:?}"
            ));
        }
    }
    let mut d = Utf8Decoder::new();
    let mut got = String::new();
    for b in bytes {
        d.push(std::slice::from_ref(b), &mut got);
    }
    d.finish(&mut got);
    if got != want {
        return Err(format!(
            "UTF-8 byte by byte of {bytes:?}: {got:?} != {want:?}"
        ));
    }
    Ok(())
}
