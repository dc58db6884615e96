//! The vocabulary read from a GGUF file's `tokenizer.*` metadata, and text -> token ids.
//!
//! Reference: llama.cpp 0c1e570, `src/llama-vocab.cpp`: `llama_vocab::impl::load` (which keys are
//! read, the defaults per tokenizer model and pre-tokenizer, the special ids, the token
//! attributes derived from `token_type` and from token texts, the end-of-generation set),
//! `tokenizer_st_partition` (special tokens in raw text), `tokenize` and `token_to_piece`.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use super::bpe::{self, BpeSession};
use super::index::HashIndex;
use super::pretokenize::PreTokenizer;
use super::spm;
use crate::error::{Error, Result};
use crate::gguf::{Array, GgufHeader, ValueType};

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
const KEY_ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
const KEY_ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";

/// Which tokenizer algorithm a vocabulary uses (`tokenizer.ggml.model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VocabType {
    /// SentencePiece-style BPE over `▁`-escaped text with byte fallback (`"llama"`: Llama 1/2,
    /// CodeLlama, Mistral, Phi-3).
    Spm,
    /// Byte-level BPE with merge ranks and a regex pre-tokenizer (`"gpt2"`: GPT-2, Llama 3,
    /// Qwen2, StarCoder, SmolLM, DeepSeek, Falcon).
    Bpe,
}

/// Attributes of a token, as llama.cpp's `llama_token_attr` bit flags (same bit values).
///
/// They come from `tokenizer.ggml.token_type` and are adjusted at load time the way llama.cpp
/// adjusts them (end-of-turn and fill-in-the-middle tokens become control tokens, Phi-3's special
/// tokens strip whitespace on their right, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TokenAttr(u16);

impl TokenAttr {
    /// No attribute (token type `UNDEFINED` or out of range): such a token renders as nothing.
    pub const UNDEFINED: TokenAttr = TokenAttr(0);
    /// The unknown token.
    pub const UNKNOWN: TokenAttr = TokenAttr(1 << 0);
    /// An unused (reserved) token.
    pub const UNUSED: TokenAttr = TokenAttr(1 << 1);
    /// An ordinary token.
    pub const NORMAL: TokenAttr = TokenAttr(1 << 2);
    /// A control token (BOS, EOS, chat markers): matched in text only with `parse_special`,
    /// rendered only with `special`.
    pub const CONTROL: TokenAttr = TokenAttr(1 << 3);
    /// A user-defined token: always matched in raw text before the tokenizer runs, always
    /// rendered as its text.
    pub const USER_DEFINED: TokenAttr = TokenAttr(1 << 4);
    /// A byte-fallback token (`<0xAB>`).
    pub const BYTE: TokenAttr = TokenAttr(1 << 5);
    /// Normalized (unused by llama.cpp's tokenizers).
    pub const NORMALIZED: TokenAttr = TokenAttr(1 << 6);
    /// When matched as a special token, whitespace on its left is dropped.
    pub const LSTRIP: TokenAttr = TokenAttr(1 << 7);
    /// When matched as a special token, whitespace on its right is dropped.
    pub const RSTRIP: TokenAttr = TokenAttr(1 << 8);
    /// Single word (unused by llama.cpp's tokenizers).
    pub const SINGLE_WORD: TokenAttr = TokenAttr(1 << 9);

    /// The raw bits (llama.cpp's values).
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: TokenAttr) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    pub const fn intersects(self, other: TokenAttr) -> bool {
        self.0 & other.0 != 0
    }

    /// The attribute llama.cpp derives from a `tokenizer.ggml.token_type` entry.
    pub const fn from_token_type(token_type: i64) -> TokenAttr {
        match token_type {
            1 => TokenAttr::NORMAL,
            2 => TokenAttr::UNKNOWN,
            3 => TokenAttr::CONTROL,
            4 => TokenAttr::USER_DEFINED,
            5 => TokenAttr::UNUSED,
            6 => TokenAttr::BYTE,
            _ => TokenAttr::UNDEFINED,
        }
    }

    const fn with(self, other: TokenAttr) -> TokenAttr {
        TokenAttr(self.0 | other.0)
    }

    const fn without(self, other: TokenAttr) -> TokenAttr {
        TokenAttr(self.0 & !other.0)
    }
}

impl core::ops::BitOr for TokenAttr {
    type Output = TokenAttr;
    fn bitor(self, rhs: TokenAttr) -> TokenAttr {
        self.with(rhs)
    }
}

impl fmt::Debug for TokenAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 10] = [
            "UNKNOWN",
            "UNUSED",
            "NORMAL",
            "CONTROL",
            "USER_DEFINED",
            "BYTE",
            "NORMALIZED",
            "LSTRIP",
            "RSTRIP",
            "SINGLE_WORD",
        ];
        if self.0 == 0 {
            return f.write_str("TokenAttr(UNDEFINED)");
        }
        f.write_str("TokenAttr(")?;
        let mut first = true;
        for (bit, name) in NAMES.iter().enumerate() {
            if self.0 & (1 << bit) != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// The ids with a special role, as llama.cpp resolves them (`None` is `LLAMA_TOKEN_NULL`).
///
/// Each starts from the default of the tokenizer model (SPM: BOS 1, EOS 2, UNK 0; BPE: BOS and
/// EOS 11), is replaced by its `tokenizer.ggml.*_token_id` key when that names an id inside the
/// vocabulary, and EOT, EOM and the fill-in-the-middle ids are found by token text when no key
/// names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpecialTokens {
    /// Beginning of sequence (`tokenizer.ggml.bos_token_id`).
    pub bos: Option<u32>,
    /// End of sequence (`tokenizer.ggml.eos_token_id`).
    pub eos: Option<u32>,
    /// End of turn (`tokenizer.ggml.eot_token_id`, else a token such as `<|eot_id|>`,
    /// `<|im_end|>`, `<|endoftext|>`, `<EOT>`).
    pub eot: Option<u32>,
    /// End of message (`tokenizer.ggml.eom_token_id`, else `<|eom_id|>`).
    pub eom: Option<u32>,
    /// Unknown (`tokenizer.ggml.unknown_token_id`).
    pub unk: Option<u32>,
    /// Separator (`tokenizer.ggml.seperator_token_id`, llama.cpp's spelling).
    pub sep: Option<u32>,
    /// Padding (`tokenizer.ggml.padding_token_id`).
    pub pad: Option<u32>,
    /// Mask (`tokenizer.ggml.mask_token_id`).
    pub mask: Option<u32>,
    /// Fill-in-the-middle prefix (`tokenizer.ggml.fim_pre_token_id` or `prefix_token_id`, else
    /// `<PRE>`, `▁<PRE>`, `<|fim_prefix|>`, ...).
    pub fim_pre: Option<u32>,
    /// Fill-in-the-middle suffix.
    pub fim_suf: Option<u32>,
    /// Fill-in-the-middle middle.
    pub fim_mid: Option<u32>,
    /// Fill-in-the-middle padding.
    pub fim_pad: Option<u32>,
    /// Fill-in-the-middle repository name.
    pub fim_rep: Option<u32>,
    /// Fill-in-the-middle file separator.
    pub fim_sep: Option<u32>,
    /// The token of a lone `"\n"` (SPM: the `<0x0A>` byte token; BPE: the first token of
    /// tokenizing `"\n"`).
    pub newline: Option<u32>,
}

/// Picks one id field out of [`SpecialTokens`].
type SpecialField = fn(&mut SpecialTokens) -> &mut Option<u32>;

/// Per-pre-tokenizer settings for BPE vocabularies (the `tokenizer_pre == ...` chain in
/// `llama_vocab::impl::load` and `llm_tokenizer_bpe`'s `byte_encode`).
#[derive(Clone, Copy)]
struct PreFlags {
    clean_spaces: bool,
    ignore_merges: bool,
    add_bos: bool,
    escape_whitespaces: bool,
    byte_encode: bool,
    no_bos: bool,
    newline_words_whole: bool,
    force_add_bos: bool,
}

fn pre_flags(name: &str) -> Option<PreFlags> {
    let mut f = PreFlags {
        clean_spaces: true,
        ignore_merges: false,
        add_bos: false,
        escape_whitespaces: false,
        byte_encode: true,
        no_bos: false,
        newline_words_whole: false,
        force_add_bos: false,
    };
    match name {
        "" | "default" | "falcon" | "mpt" | "starcoder" | "gpt-2" | "phi-2" | "jina-es"
        | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0" | "mellum"
        | "modern-bert" | "jais-2" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe" | "refact"
        | "stablelm2" | "olmo" | "dbrx" | "smaug-bpe" | "jais" | "codeshell" | "bloom"
        | "gpt3-finnish" | "exaone" | "exaone4" | "exaone-moe" | "minerva-7b" | "megrez"
        | "mellum2" => {}
        "minicpm5" => f.ignore_merges = true,
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => {
            f.ignore_merges = true;
            f.add_bos = true;
        }
        "deepseek-llm" | "deepseek-coder" | "deepseek-v3" | "spark2_5" | "command-r" | "qwen2"
        | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "qwen35" | "poro-chat" | "viking"
        | "smollm" | "gpt-4o" | "llama4" | "kanana2" | "talkie" | "tiny_aya" | "cohere2moe"
        | "superbpe" | "trillion" | "granite-docling" | "bailingmoe" | "bailingmoe2"
        | "llada-moe" | "seed-coder" | "hunyuan" | "hunyuan-dense" | "hy_v4" | "joyai-llm"
        | "kimi-k2" | "ufakzeka" | "grok-2" | "afmoe" | "laguna" | "minimax-m2" | "solar-open" => {
            f.clean_spaces = false
        }
        "youtu" | "granite-embed-multi-97m" => {
            f.clean_spaces = false;
            f.ignore_merges = true;
        }
        "gemma4" | "granite-embed-multi-311m" => {
            f.escape_whitespaces = true;
            f.byte_encode = false;
            f.newline_words_whole = true;
            // llama.cpp overrides `add_bos_token = false` for Gemma 4.
            f.force_add_bos = true;
        }
        "sarvam-moe" => {
            f.escape_whitespaces = true;
            f.clean_spaces = false;
            f.byte_encode = false;
        }
        "whitespace" => f.byte_encode = false,
        "chatglm-bpe" => f.no_bos = true,
        "glm4" | "glm5" => {
            f.no_bos = true;
            f.ignore_merges = true;
        }
        "tekken" => {
            f.clean_spaces = false;
            f.ignore_merges = true;
            f.add_bos = true;
        }
        "chameleon" => {
            f.add_bos = true;
            f.clean_spaces = false;
        }
        _ => return None,
    }
    Some(f)
}

/// One merge rule: `left` and `right` stored back to back in the merge arena.
#[derive(Clone, Copy)]
struct Merge {
    start: u32,
    left_len: u32,
    right_len: u32,
    rank: u32,
}

/// A piece of the input after special tokens have been cut out of it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fragment {
    Text(Range<usize>),
    Token(u32),
}

/// A tokenizer vocabulary: token texts, scores and attributes, merge ranks (BPE), special ids
/// and the end-of-generation set, read from a GGUF header.
///
/// Built once ([`Vocab::from_gguf`]); tokenizing and detokenizing then only read it, so one
/// `Vocab` serves any number of threads. Everything is copied out of the header, so the `Vocab`
/// does not borrow the model's bytes.
///
/// ```no_run
/// # fn main() -> llamette::Result<()> {
/// use llamette::tokenizer::Vocab;
/// let file = llamette::gguf::GgufFile::open("model.gguf")?;
/// let vocab = Vocab::from_gguf(file.header())?;
/// let ids = vocab.tokenize("Hello world", true, false)?;
/// let text = vocab.detokenize(&ids, true, false)?;
/// # let _ = text;
/// # Ok(())
/// # }
/// ```
pub struct Vocab {
    vocab_type: VocabType,
    model_name: String,
    pre_name: String,
    pre: Option<PreTokenizer>,

    add_space_prefix: bool,
    add_bos: bool,
    add_eos: bool,
    clean_spaces: bool,
    escape_whitespaces: bool,
    ignore_merges: bool,
    byte_encode: bool,
    newline_words_whole: bool,

    // Token texts, back to back; token i is text[text_offsets[i]..text_offsets[i + 1]].
    text: String,
    text_offsets: Vec<usize>,
    scores: Vec<f32>,
    attrs: Vec<TokenAttr>,
    token_index: HashIndex,

    merge_text: Vec<u8>,
    merges: Vec<Merge>,
    merge_index: HashIndex,

    // token_to_piece(id, special = true), precomputed as llama.cpp's cache_token_to_piece.
    pieces: Vec<u8>,
    piece_offsets: Vec<usize>,

    // SPM byte fallback: the `<0xAB>` token of each byte, else its one-byte token.
    byte_tokens: [Option<u32>; 256],

    // Tokens matched in raw text before tokenizing, longest text first.
    special_cache: Vec<u32>,
    special: SpecialTokens,
    eog: BTreeSet<u32>,
}

impl fmt::Debug for Vocab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vocab")
            .field("type", &self.vocab_type)
            .field("model", &self.model_name)
            .field("pre", &self.pre_name)
            .field("n_tokens", &self.n_tokens())
            .field("n_merges", &self.merges.len())
            .field("special", &self.special)
            .field("eog", &self.eog)
            .finish()
    }
}

fn bad(key: &str, reason: String) -> Error {
    Error::BadMetadata {
        key: key.to_string(),
        reason,
    }
}

fn wrong_type(key: &str, expected: &'static str, arr: &Array<'_>) -> Error {
    Error::WrongType {
        key: key.to_string(),
        expected,
        found: arr.elem_type().name(),
    }
}

/// `strtol(s, NULL, 16)` over at most two characters, truncated to a byte, as llama.cpp's
/// `token_to_byte` reads the `AB` of `<0xAB>`.
fn parse_hex_byte(s: &[u8]) -> u8 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    let mut v: i64 = 0;
    while i < s.len() {
        let d = match s[i] {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'f' => c - b'a' + 10,
            c @ b'A'..=b'F' => c - b'A' + 10,
            _ => break,
        };
        v = v * 16 + i64::from(d);
        i += 1;
    }
    if negative {
        v = -v;
    }
    v as u8
}

/// llama.cpp's `llama_decode_text`: each character of a byte-level BPE token stands for one
/// byte; a character that stands for none is written out as `[UNK_BYTE_0x<utf8 hex><text>]`.
///
/// That repeats the whole token text once per such character, which is quadratic in a token's
/// length: a 181 KB vocabulary of long tokens made of such characters would decode to 5.9 GB.
/// So the repeat is bounded: while the piece stays within [`MAX_PIECE_GROWTH`] times the text
/// plus [`MAX_PIECE_SLACK`] bytes it is llama.cpp's exactly (every real vocabulary's tokens are
/// far inside that); past it, an unmapped character is written as `[UNK_BYTE_0x<hex>]` alone.
fn decode_byte_level(text: &str, out: &mut Vec<u8>) {
    let start = out.len();
    let budget = text
        .len()
        .saturating_mul(MAX_PIECE_GROWTH)
        .saturating_add(MAX_PIECE_SLACK);
    for c in text.chars() {
        match bpe::char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                if out.len() - start + text.len() < budget {
                    out.extend_from_slice(text.as_bytes());
                }
                out.push(b']');
            }
        }
    }
}

/// The most tokens a vocabulary may have (4,194,304; the largest published vocabularies have
/// about 260,000). GGUF sets no limit; this one bounds the memory a vocabulary takes (about
/// 40 bytes a token) whatever its file says.
pub const MAX_TOKENS: usize = 1 << 22;

/// The longest token text, in bytes (published vocabularies stay under a few hundred). GGUF sets
/// no limit; this one bounds the work of tokenizing, which looks up candidate pieces up to twice
/// this long, per byte of text.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// A byte-level token's piece repeats its text for an unmapped character only while the piece
/// stays below this many times the text's length plus [`MAX_PIECE_SLACK`] (see
/// `decode_byte_level`): a token's piece is then at most 20 times its text plus 256 bytes
/// (an unmapped one-byte character, such as a space, is 15 bytes of piece on its own).
pub const MAX_PIECE_GROWTH: usize = 4;

/// See [`MAX_PIECE_GROWTH`].
pub const MAX_PIECE_SLACK: usize = 256;

/// First position of `needle` in `hay`, in time linear in their lengths: candidate positions
/// are compared directly while that has cost at most a few bytes per byte of `hay` (the common
/// case: a special token's first byte is rare), then Knuth-Morris-Pratt takes over, so a
/// hostile pattern (`aaa...ab` in `aaa...a`) cannot make the search quadratic.
fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut budget = hay.len().saturating_mul(4).saturating_add(64);
    let mut i = 0;
    while i <= last_start {
        let p = hay[i..=last_start].iter().position(|&b| b == first)?;
        i += p;
        let same = hay[i..i + needle.len()]
            .iter()
            .zip(needle)
            .take_while(|(a, b)| a == b)
            .count();
        if same == needle.len() {
            return Some(i);
        }
        budget = budget.saturating_sub(same + 1);
        i += 1;
        if budget == 0 {
            return find_kmp(&hay[i..], needle).map(|p| i + p);
        }
    }
    None
}

/// Knuth-Morris-Pratt: the first position of a non-empty `needle` in `hay`, in
/// `O(hay + needle)` time.
fn find_kmp(hay: &[u8], needle: &[u8]) -> Option<usize> {
    // fail[i]: the length of the longest proper border of needle[..=i].
    let mut fail = alloc::vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = fail[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        fail[i] = k;
    }
    let mut k = 0;
    for (i, &b) in hay.iter().enumerate() {
        while k > 0 && b != needle[k] {
            k = fail[k - 1];
        }
        if b == needle[k] {
            k += 1;
        }
        if k == needle.len() {
            return Some(i + 1 - k);
        }
    }
    None
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

// Texts llama.cpp recognises when no metadata key names the id (`llama_vocab::impl::load`).
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

impl Vocab {
    /// Reads the vocabulary from a GGUF header (for a model: `Vocab::from_gguf(model.header())`).
    ///
    /// Keys read, as llama.cpp's loader does: `tokenizer.ggml.model` (`"llama"` for SPM,
    /// `"gpt2"` for byte-level BPE; other tokenizers are an [`Error::BadMetadata`]), `.pre`,
    /// `.tokens`, `.scores`, `.token_type`, `.merges`, the `*_token_id` keys, `.add_bos_token`,
    /// `.add_eos_token`, `.add_space_prefix`, plus `general.name` and `general.architecture`
    /// for llama.cpp's per-model token attributes.
    ///
    /// Fails, naming the key, where llama.cpp fails to load: a missing or mistyped token list,
    /// scores or types shorter than the token list, a token text that appears twice, missing
    /// merges (BPE), an unknown pre-tokenizer name, a byte token whose text is too short to hold
    /// a byte. A pre-tokenizer llama.cpp knows but this build cannot split is also an error.
    pub fn from_gguf(header: &GgufHeader<'_>) -> Result<Vocab> {
        let model_name = header.get_str(KEY_MODEL)?.to_string();
        let pre_name = header.get_str_opt(KEY_PRE)?.unwrap_or("").to_string();

        let vocab_type = match model_name.as_str() {
            "llama" => VocabType::Spm,
            "gpt2" => VocabType::Bpe,
            other => {
                return Err(bad(
                    KEY_MODEL,
                    format!(
                        "tokenizer model '{other}' is not supported (llamette reads 'llama' (SPM) \
                         and 'gpt2' (byte-level BPE))"
                    ),
                ))
            }
        };

        // Defaults per tokenizer model, then per pre-tokenizer (BPE only).
        let mut special = SpecialTokens::default();
        let (mut add_space_prefix, add_bos, add_eos, clean_spaces, escape_whitespaces);
        let (mut ignore_merges, mut byte_encode, mut newline_words_whole) = (false, true, false);
        let mut pre = None;
        let mut force_add_bos = false;
        match vocab_type {
            VocabType::Spm => {
                special.bos = Some(1);
                special.eos = Some(2);
                special.unk = Some(0);
                add_space_prefix = true;
                clean_spaces = false;
                add_bos = true;
                add_eos = false;
                escape_whitespaces = true;
            }
            VocabType::Bpe => {
                special.bos = Some(11);
                special.eos = Some(11);
                let flags = pre_flags(&pre_name).ok_or_else(|| {
                    bad(KEY_PRE, format!("unknown pre-tokenizer type: '{pre_name}'"))
                })?;
                add_space_prefix = false;
                add_eos = false;
                clean_spaces = flags.clean_spaces;
                ignore_merges = flags.ignore_merges;
                add_bos = flags.add_bos;
                force_add_bos = flags.force_add_bos;
                escape_whitespaces = flags.escape_whitespaces;
                byte_encode = flags.byte_encode;
                newline_words_whole = flags.newline_words_whole;
                if flags.no_bos {
                    special.bos = None;
                }
                let name = if pre_name.is_empty() {
                    "default"
                } else {
                    pre_name.as_str()
                };
                pre = Some(PreTokenizer::from_name(name).ok_or_else(|| {
                    bad(
                        KEY_PRE,
                        format!("pre-tokenizer '{name}' is not supported by this build"),
                    )
                })?);
            }
        }
        if let Some(v) = header.get_bool_opt(KEY_ADD_SPACE_PREFIX)? {
            add_space_prefix = v;
        }

        // The token list, scores and types.
        let tokens = header.get_array(KEY_TOKENS)?;
        let token_texts = tokens
            .strings()
            .ok_or_else(|| wrong_type(KEY_TOKENS, "arr[str]", &tokens))?;
        let n = tokens.len();
        if n > MAX_TOKENS {
            return Err(Error::TooMany {
                what: format!("tokens in '{KEY_TOKENS}'"),
                count: n as u64,
                max: MAX_TOKENS as u64,
            });
        }
        let mut text = String::new();
        let mut text_offsets = Vec::with_capacity(n + 1);
        text_offsets.push(0);
        for (i, t) in token_texts.enumerate() {
            if t.len() > MAX_TOKEN_BYTES {
                return Err(bad(
                    KEY_TOKENS,
                    format!(
                        "token {i} is {} bytes long: at most {MAX_TOKEN_BYTES} are allowed",
                        t.len()
                    ),
                ));
            }
            if t.is_empty() {
                // llama.cpp renames empty tokens so that every text is distinct and non-empty.
                text.push_str(&format!("[EMPTY_{i}]"));
            } else {
                text.push_str(t);
            }
            text_offsets.push(text.len());
        }

        let scores = match header.get_array_opt(KEY_SCORES)? {
            None => alloc::vec![0.0f32; n],
            Some(a) => {
                if a.len() < n {
                    return Err(bad(
                        KEY_SCORES,
                        format!("{} scores for {n} tokens", a.len()),
                    ));
                }
                match a.elem_type() {
                    ValueType::F32 => a.f32s().into_iter().flatten().take(n).collect(),
                    ValueType::I32 => a
                        .integers()
                        .into_iter()
                        .flatten()
                        .take(n)
                        .map(|v| v as f32)
                        .collect(),
                    _ => return Err(wrong_type(KEY_SCORES, "arr[f32] or arr[i32]", &a)),
                }
            }
        };

        let attrs: Vec<TokenAttr> = match header.get_array_opt(KEY_TOKEN_TYPE)? {
            None => alloc::vec![TokenAttr::NORMAL; n],
            Some(a) => {
                if a.elem_type() != ValueType::I32 {
                    return Err(wrong_type(KEY_TOKEN_TYPE, "arr[i32]", &a));
                }
                if a.len() < n {
                    return Err(bad(
                        KEY_TOKEN_TYPE,
                        format!("{} token types for {n} tokens", a.len()),
                    ));
                }
                a.integers()
                    .into_iter()
                    .flatten()
                    .take(n)
                    .map(TokenAttr::from_token_type)
                    .collect()
            }
        };

        let mut vocab = Vocab {
            vocab_type,
            model_name,
            pre_name,
            pre,
            add_space_prefix,
            add_bos,
            add_eos,
            clean_spaces,
            escape_whitespaces,
            ignore_merges,
            byte_encode,
            newline_words_whole,
            text,
            text_offsets,
            scores,
            attrs,
            token_index: HashIndex::with_capacity(n),
            merge_text: Vec::new(),
            merges: Vec::new(),
            merge_index: HashIndex::with_capacity(0),
            pieces: Vec::new(),
            piece_offsets: Vec::new(),
            byte_tokens: [None; 256],
            special_cache: Vec::new(),
            special,
            eog: BTreeSet::new(),
        };
        vocab.build_token_index()?;
        if vocab_type == VocabType::Bpe {
            vocab.load_merges(header)?;
        }
        for b in 0..=255u8 {
            vocab.byte_tokens[b as usize] = vocab
                .token_id_bytes(&bpe::hex_byte_token(b))
                .or_else(|| vocab.token_id_bytes(&[b]));
        }

        // The newline token is determined before the special ids are read, so its fallback is
        // the default padding id, which is always null.
        vocab.special.newline = match vocab_type {
            VocabType::Spm => vocab.byte_tokens[b'\n' as usize],
            VocabType::Bpe => {
                let mut ids = Vec::new();
                BpeSession::new(&vocab).tokenize("\n", &mut ids);
                ids.first().copied()
            }
        };

        vocab.read_special_ids(header)?;

        if let Some(v) = header.get_bool_opt(KEY_ADD_BOS)? {
            vocab.add_bos = v;
        }
        if let Some(v) = header.get_bool_opt(KEY_ADD_EOS)? {
            vocab.add_eos = v;
        }
        if force_add_bos {
            // llama.cpp's workaround for Gemma 4.
            vocab.add_bos = true;
        }

        vocab.detect_special_by_text();
        vocab.build_eog();

        // Tokens matched in raw text: control, user-defined and unknown ones, longest first.
        // llama.cpp uses an unstable sort; equal lengths keep id order here.
        let mut cache: Vec<u32> = (0..n as u32)
            .filter(|&id| {
                vocab.attrs[id as usize]
                    .intersects(TokenAttr::CONTROL | TokenAttr::USER_DEFINED | TokenAttr::UNKNOWN)
            })
            .collect();
        cache.sort_by_key(|&id| core::cmp::Reverse(vocab.text_of(id).len()));
        vocab.special_cache = cache;

        vocab.build_pieces()?;
        vocab.set_model_specific_attrs(header)?;
        Ok(vocab)
    }

    fn build_token_index(&mut self) -> Result<()> {
        let n = self.attrs.len();
        let (text, offsets) = (self.text.as_bytes(), &self.text_offsets);
        let text_at = |e: u32| &text[offsets[e as usize]..offsets[e as usize + 1]];
        for id in 0..n as u32 {
            let key = text_at(id);
            if let Some(first) = self
                .token_index
                .insert(self.token_index.hash(key), id, |e| text_at(e) == key)
            {
                return Err(bad(
                    KEY_TOKENS,
                    format!(
                        "token text '{}' appears twice (ids {first} and {id})",
                        String::from_utf8_lossy(key)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn load_merges(&mut self, header: &GgufHeader<'_>) -> Result<()> {
        let Some(arr) = header.get_array_opt(KEY_MERGES)? else {
            // Kimi-K2 tokenizes without merges; every other BPE vocabulary needs them.
            if self.pre_name == "kimi-k2" {
                return Ok(());
            }
            return Err(Error::MissingKey {
                key: KEY_MERGES.to_string(),
            });
        };
        let merges = arr
            .strings()
            .ok_or_else(|| wrong_type(KEY_MERGES, "arr[str]", &arr))?;
        self.merge_index = HashIndex::with_capacity(arr.len());
        for (rank, m) in merges.enumerate() {
            // llama.cpp: `word.find(' ', 1)`; a merge without a space becomes ("", ""), which
            // no pair of (non-empty) symbols can ever look up, so it is skipped.
            let bytes = m.as_bytes();
            let Some(pos) = bytes.iter().skip(1).position(|&b| b == b' ').map(|p| p + 1) else {
                continue;
            };
            let (left, right) = (&bytes[..pos], &bytes[pos + 1..]);
            let start = self.merge_text.len();
            let too_big = || bad(KEY_MERGES, "merge texts exceed 4 GiB".to_string());
            let merge = Merge {
                start: u32::try_from(start).map_err(|_| too_big())?,
                left_len: u32::try_from(left.len()).map_err(|_| too_big())?,
                right_len: u32::try_from(right.len()).map_err(|_| too_big())?,
                rank: u32::try_from(rank).map_err(|_| too_big())?,
            };
            self.merge_text.extend_from_slice(left);
            self.merge_text.extend_from_slice(right);
            let entry = self.merges.len() as u32;
            let (mt, ms) = (&self.merge_text, &self.merges);
            let is_key = |e: u32| merge_parts(mt, &ms[e as usize]) == (left, right);
            // `emplace` keeps the first rank of a duplicated pair.
            if self
                .merge_index
                .insert(self.merge_index.hash_pair(left, right), entry, is_key)
                .is_none()
            {
                self.merges.push(merge);
            } else {
                self.merge_text.truncate(start);
            }
        }
        Ok(())
    }

    fn read_special_ids(&mut self, header: &GgufHeader<'_>) -> Result<()> {
        let n = self.n_tokens();
        let keys: [(&str, SpecialField); 17] = [
            ("tokenizer.ggml.bos_token_id", |s| &mut s.bos),
            ("tokenizer.ggml.eos_token_id", |s| &mut s.eos),
            ("tokenizer.ggml.eot_token_id", |s| &mut s.eot),
            ("tokenizer.ggml.eom_token_id", |s| &mut s.eom),
            ("tokenizer.ggml.unknown_token_id", |s| &mut s.unk),
            ("tokenizer.ggml.seperator_token_id", |s| &mut s.sep),
            ("tokenizer.ggml.padding_token_id", |s| &mut s.pad),
            ("tokenizer.ggml.mask_token_id", |s| &mut s.mask),
            ("tokenizer.ggml.fim_pre_token_id", |s| &mut s.fim_pre),
            ("tokenizer.ggml.fim_suf_token_id", |s| &mut s.fim_suf),
            ("tokenizer.ggml.fim_mid_token_id", |s| &mut s.fim_mid),
            ("tokenizer.ggml.fim_pad_token_id", |s| &mut s.fim_pad),
            ("tokenizer.ggml.fim_rep_token_id", |s| &mut s.fim_rep),
            ("tokenizer.ggml.fim_sep_token_id", |s| &mut s.fim_sep),
            // Deprecated spellings, read last as in llama.cpp.
            ("tokenizer.ggml.prefix_token_id", |s| &mut s.fim_pre),
            ("tokenizer.ggml.suffix_token_id", |s| &mut s.fim_suf),
            ("tokenizer.ggml.middle_token_id", |s| &mut s.fim_mid),
        ];
        for (key, field) in keys {
            let slot = field(&mut self.special);
            // A default outside the vocabulary is disabled.
            if slot.is_some_and(|id| id as usize >= n) {
                *slot = None;
            }
            // An id from the file outside the vocabulary is ignored (llama.cpp warns and keeps
            // the default).
            if let Some(id) = header.get_u32_opt(key)? {
                if (id as usize) < n {
                    *slot = Some(id);
                }
            }
        }
        Ok(())
    }

    /// Finds EOT, EOM and fill-in-the-middle tokens by text where no key named them, and makes
    /// them control tokens; marks control tokens named "unused" as unused.
    ///
    /// llama.cpp walks its `std::unordered_map<std::string, llama_token>` of token texts and
    /// takes the first candidate it meets, so when a vocabulary has several (`<|im_end|>` and
    /// `<|endoftext|>`), which one wins depends on the map's iteration order. Here that order
    /// is worked out as GCC's libstdc++ lays the map out ([`unordered_map_order`]), which gives
    /// llama.cpp's choice on Linux (tests/vocab_special.rs checks every vocabulary fixture).
    fn detect_special_by_text(&mut self) {
        let lists: [(&[&str], SpecialField); 8] = [
            (EOT_TEXTS, |s| &mut s.eot),
            (EOM_TEXTS, |s| &mut s.eom),
            (FIM_PRE_TEXTS, |s| &mut s.fim_pre),
            (FIM_SUF_TEXTS, |s| &mut s.fim_suf),
            (FIM_MID_TEXTS, |s| &mut s.fim_mid),
            (FIM_PAD_TEXTS, |s| &mut s.fim_pad),
            (FIM_REP_TEXTS, |s| &mut s.fim_rep),
            (FIM_SEP_TEXTS, |s| &mut s.fim_sep),
        ];
        // Each token's place in llama.cpp's walk, computed once if some field has a choice.
        let mut rank: Option<Vec<u32>> = None;
        for (texts, field) in lists {
            if field(&mut self.special).is_some() {
                continue;
            }
            let mut found: Option<u32> = None;
            for id in texts.iter().filter_map(|t| self.token_id(t)) {
                found = Some(match found {
                    None => id,
                    Some(other) => {
                        let r = rank.get_or_insert_with(|| self.unordered_map_ranks());
                        if r[id as usize] < r[other as usize] {
                            id
                        } else {
                            other
                        }
                    }
                });
            }
            if let Some(id) = found {
                *field(&mut self.special) = Some(id);
                self.attrs[id as usize] = self.attrs[id as usize].with(TokenAttr::CONTROL);
            }
        }
        for id in 0..self.n_tokens() {
            let attr = self.attrs[id];
            if attr.contains(TokenAttr::CONTROL)
                && !attr.contains(TokenAttr::UNUSED)
                && self.text_of(id as u32).contains("unused")
            {
                self.attrs[id] = attr.with(TokenAttr::UNUSED);
            }
        }
    }

    /// Each token's position when llama.cpp iterates its `token_to_id` map (see
    /// [`unordered_map_order`]); a duplicated text counts at its last id, which is the one the
    /// map holds.
    fn unordered_map_ranks(&self) -> Vec<u32> {
        let n = self.n_tokens();
        let keys: Vec<Option<u64>> = (0..n as u32)
            .map(|id| {
                let t = self.text_of(id);
                // Inserted once per text: its node holds the last id of that text.
                (self.token_id(t) == Some(id)).then(|| libstdcxx_hash(t.as_bytes()))
            })
            .collect();
        let order = unordered_map_order(&keys);
        let mut rank = alloc::vec![u32::MAX; n];
        for (pos, &id) in order.iter().enumerate() {
            rank[id as usize] = pos as u32;
        }
        rank
    }

    /// The end-of-generation set, as llama.cpp builds it.
    fn build_eog(&mut self) {
        let s = &self.special;
        for id in [s.fim_pad, s.fim_rep, s.fim_sep].into_iter().flatten() {
            self.eog.insert(id);
        }
        for t in EOG_TEXTS {
            if let Some(id) = self.token_id(t) {
                self.eog.insert(id);
                self.attrs[id as usize] = self.attrs[id as usize].with(TokenAttr::CONTROL);
            }
        }
        // gpt-oss: always render these.
        for t in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let Some(id) = self.token_id(t) {
                self.attrs[id as usize] = TokenAttr::USER_DEFINED;
            }
        }
        let s = &self.special;
        for id in [s.eos, s.eot, s.eom].into_iter().flatten() {
            self.eog.insert(id);
        }
        // o200k_harmony and solar-open: `<|end|>` ends a message, not the generation.
        let has = |v: &Vocab, t: &str| v.eog.iter().any(|&id| v.text_of(id) == t);
        let end_id = self
            .eog
            .iter()
            .copied()
            .find(|&id| self.text_of(id) == "<|end|>");
        if let Some(end_id) = end_id {
            let ret = has(self, "<|return|>");
            let call = has(self, "<|call|>") || has(self, "<|calls|>");
            let flush = has(self, "<|flush|>");
            if call && (ret || flush) {
                self.eog.remove(&end_id);
                self.attrs[end_id as usize] = TokenAttr::USER_DEFINED;
            }
        }
        // Gemma 4 and PLaMo have an ordinary `</s>`.
        let marker = has(self, "<|tool_response>") || has(self, "<|plamo:eos|>");
        let s_id = self
            .eog
            .iter()
            .copied()
            .find(|&id| self.text_of(id) == "</s>");
        if let (true, Some(s_id)) = (marker, s_id) {
            self.eog.remove(&s_id);
            self.attrs[s_id as usize] = TokenAttr::NORMAL;
        }
    }

    /// Precomputes `token_to_piece(id, special = true)` for every token (llama.cpp's
    /// `cache_token_to_piece`).
    fn build_pieces(&mut self) -> Result<()> {
        let n = self.n_tokens();
        let mut pieces = Vec::with_capacity(self.text.len());
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for id in 0..n as u32 {
            let attr = self.attrs[id as usize];
            let text = self.text_of(id);
            if attr.intersects(TokenAttr::UNKNOWN | TokenAttr::CONTROL | TokenAttr::USER_DEFINED) {
                pieces.extend_from_slice(text.as_bytes());
            } else if attr.contains(TokenAttr::NORMAL) {
                if self.vocab_type == VocabType::Spm || self.escape_whitespaces {
                    pieces.extend_from_slice(text.replace('▁', " ").as_bytes());
                } else {
                    decode_byte_level(text, &mut pieces);
                }
            } else if attr.contains(TokenAttr::BYTE) {
                // `token_data.text.substr(3, 2)` throws for texts shorter than 3 bytes.
                let t = text.as_bytes();
                if t.len() < 3 {
                    return Err(bad(
                        KEY_TOKEN_TYPE,
                        format!("byte token {id} has text '{text}', too short for '<0xAB>'"),
                    ));
                }
                pieces.push(parse_hex_byte(&t[3..t.len().min(5)]));
            }
            offsets.push(pieces.len());
        }
        self.pieces = pieces;
        self.piece_offsets = offsets;
        Ok(())
    }

    /// Per-model attributes llama.cpp sets by model or pre-tokenizer name (after the piece cache,
    /// as there): `<mask>` strips left for Jina v2, Phi-3's special tokens strip right.
    fn set_model_specific_attrs(&mut self, header: &GgufHeader<'_>) -> Result<()> {
        let model_name = header
            .get_str_opt("general.name")?
            .unwrap_or("")
            .to_ascii_lowercase();
        let arch = header.get_str_opt("general.architecture")?.unwrap_or("");
        let pre = self.pre_name.as_str();
        let contains_any = |s: &str, subs: &[&str]| subs.iter().any(|x| s.contains(x));
        let set = |v: &mut Vocab, text: &str, attr: TokenAttr, on: bool| {
            // llama.cpp's `token_to_id.at()` throws for a missing text; a missing token is
            // skipped here.
            if let Some(id) = v.token_id(text) {
                let a = &mut v.attrs[id as usize];
                *a = if on { a.with(attr) } else { a.without(attr) };
            }
        };
        if contains_any(pre, &["jina-v2-de", "jina-v2-es", "jina-v2-code"])
            || contains_any(arch, &["nomic-bert-moe", "jina-bert-v3"])
        {
            set(self, "<mask>", TokenAttr::LSTRIP, true);
        } else if contains_any(&model_name, &["phi-3", "phi3"]) {
            for i in 0..self.special_cache.len() {
                let id = self.special_cache[i] as usize;
                self.attrs[id] = self.attrs[id].with(TokenAttr::RSTRIP);
            }
            set(self, "</s>", TokenAttr::RSTRIP, true);
            for t in ["<unk>", "<s>", "<|endoftext|>"] {
                set(self, t, TokenAttr::RSTRIP, false);
            }
        } else if contains_any(&model_name, &["modern-bert"]) {
            set(self, "[MASK]", TokenAttr::LSTRIP, true);
        }
        Ok(())
    }

    // ---- lookups used by the tokenizers ----

    fn text_of(&self, id: u32) -> &str {
        let i = id as usize;
        &self.text[self.text_offsets[i]..self.text_offsets[i + 1]]
    }

    /// The id of the token whose text is exactly `bytes`.
    pub(crate) fn token_id_bytes(&self, bytes: &[u8]) -> Option<u32> {
        let text = self.text.as_bytes();
        let offsets = &self.text_offsets;
        self.token_index.find(self.token_index.hash(bytes), |e| {
            &text[offsets[e as usize]..offsets[e as usize + 1]] == bytes
        })
    }

    /// The rank of merging `left` with `right`, if that merge exists.
    pub(crate) fn merge_rank(&self, left: &[u8], right: &[u8]) -> Option<u32> {
        let e = self
            .merge_index
            .find(self.merge_index.hash_pair(left, right), |e| {
                merge_parts(&self.merge_text, &self.merges[e as usize]) == (left, right)
            })?;
        Some(self.merges[e as usize].rank)
    }

    /// The score of a token known to be in range.
    pub(crate) fn score_of(&self, id: u32) -> f32 {
        self.scores[id as usize]
    }

    /// SPM byte fallback (`llama_vocab::byte_to_token`).
    pub(crate) fn byte_to_token(&self, b: u8) -> Result<u32> {
        self.byte_tokens[b as usize].ok_or_else(|| {
            bad(
                KEY_TOKENS,
                format!("the text needs byte 0x{b:02X}, but the vocabulary has no token for it"),
            )
        })
    }

    pub(crate) fn pre_split(&self, text: &str, out: &mut Vec<Range<usize>>) {
        match &self.pre {
            Some(pre) => pre.split(text, out),
            None => out.push(0..text.len()),
        }
    }

    pub(crate) fn byte_encode(&self) -> bool {
        self.byte_encode
    }

    pub(crate) fn ignore_merges(&self) -> bool {
        self.ignore_merges
    }

    pub(crate) fn newline_words_whole(&self) -> bool {
        self.newline_words_whole
    }

    fn check(&self, id: u32) -> Result<usize> {
        let i = id as usize;
        if i < self.attrs.len() {
            Ok(i)
        } else {
            Err(Error::BadToken {
                token: id,
                n_vocab: self.attrs.len(),
            })
        }
    }

    // ---- public API ----

    /// The tokenizer algorithm.
    pub fn vocab_type(&self) -> VocabType {
        self.vocab_type
    }

    /// `tokenizer.ggml.model` as found in the file (`"llama"` or `"gpt2"`).
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// `tokenizer.ggml.pre` as found in the file (empty when absent).
    pub fn pre_name(&self) -> &str {
        &self.pre_name
    }

    /// The number of tokens; ids are `0..n_tokens()`.
    pub fn n_tokens(&self) -> usize {
        self.attrs.len()
    }

    /// The number of merge rules (BPE; 0 for SPM).
    pub fn n_merges(&self) -> usize {
        self.merges.len()
    }

    /// The token's text as stored in the vocabulary (SPM spaces as `▁`, byte-level BPE bytes as
    /// their stand-in characters; an empty text in the file reads `[EMPTY_<id>]`, as in
    /// llama.cpp).
    pub fn token_text(&self, id: u32) -> Result<&str> {
        self.check(id)?;
        Ok(self.text_of(id))
    }

    /// The token's score (`tokenizer.ggml.scores`, 0 when absent).
    pub fn token_score(&self, id: u32) -> Result<f32> {
        Ok(self.scores[self.check(id)?])
    }

    /// The token's attributes.
    pub fn token_attr(&self, id: u32) -> Result<TokenAttr> {
        Ok(self.attrs[self.check(id)?])
    }

    /// The id of the token whose text is exactly `text` (llama.cpp's `text_to_token`).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.token_id_bytes(text.as_bytes())
    }

    /// The ids with special roles.
    pub fn special(&self) -> &SpecialTokens {
        &self.special
    }

    /// Beginning-of-sequence id.
    pub fn bos(&self) -> Option<u32> {
        self.special.bos
    }

    /// End-of-sequence id.
    pub fn eos(&self) -> Option<u32> {
        self.special.eos
    }

    /// End-of-turn id.
    pub fn eot(&self) -> Option<u32> {
        self.special.eot
    }

    /// Whether `tokenize(.., add_special = true, ..)` puts BOS in front
    /// (`tokenizer.ggml.add_bos_token`, default: true for SPM and for Llama-3-style BPE).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether `tokenize(.., add_special = true, ..)` appends EOS
    /// (`tokenizer.ggml.add_eos_token`, default false).
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// Whether SPM text gets a space in front (`tokenizer.ggml.add_space_prefix`, default true
    /// for SPM, false for BPE); detokenizing removes it again.
    pub fn add_space_prefix(&self) -> bool {
        self.add_space_prefix
    }

    /// Whether detokenizing cleans up spaces before punctuation and contractions, as Hugging
    /// Face's `clean_up_tokenization_spaces` (BPE vocabularies, depending on the pre-tokenizer).
    pub fn clean_spaces(&self) -> bool {
        self.clean_spaces
    }

    /// Whether `id` ends generation (llama.cpp's `llama_vocab_is_eog`).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.contains(&id)
    }

    /// The end-of-generation ids, ascending: EOS, EOT, EOM, the fill-in-the-middle pad,
    /// repository and file-separator ids, and tokens whose text marks an end (`<|im_end|>`,
    /// `<|endoftext|>`, `<end_of_turn>`, ...), as llama.cpp collects them.
    pub fn eog_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.eog.iter().copied()
    }

    /// Adds `id` to the end-of-generation set (for a chat format whose turn marker the file does
    /// not flag, such as CodeLlama-70B's `<step>` where no `eot_token_id` names it). Fails with
    /// [`Error::BadToken`] for an id outside the vocabulary.
    pub fn add_eog(&mut self, id: u32) -> Result<()> {
        self.check(id)?;
        self.eog.insert(id);
        Ok(())
    }

    /// Removes `id` from the end-of-generation set; returns whether it was there.
    pub fn remove_eog(&mut self, id: u32) -> bool {
        self.eog.remove(&id)
    }

    /// Tokenizes `text` as `llama_tokenize` does, returning the ids.
    ///
    /// `add_special`: put BOS in front and EOS at the end where the vocabulary says so
    /// ([`Vocab::add_bos`], [`Vocab::add_eos`]). `parse_special`: control tokens written in the
    /// text (`<s>`, `<|im_start|>`) become their ids; without it they are tokenized as text.
    /// User-defined tokens are always matched. For SPM, text that starts the input or follows a
    /// special token gets a space in front when [`Vocab::add_space_prefix`] is set.
    ///
    /// The input is a `&str`, so it is valid UTF-8 by construction (llama.cpp's behaviour on
    /// invalid UTF-8 is not reproduced; there is no byte-slice entry point).
    ///
    /// Fails only where llama.cpp aborts or throws: BOS/EOS asked for but the vocabulary has
    /// none, or an SPM character that needs a byte token the vocabulary lacks.
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        self.tokenize_into(text, add_special, parse_special, &mut out)?;
        Ok(out)
    }

    /// As [`Vocab::tokenize`], appending to `out` (which is not cleared). On failure `out` may
    /// hold part of the result.
    pub fn tokenize_into(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let fragments = self.partition(text, parse_special);
        let need = |id: Option<u32>, what: &str| {
            id.ok_or_else(|| {
                bad(
                    if what == "BOS" {
                        KEY_ADD_BOS
                    } else {
                        KEY_ADD_EOS
                    },
                    format!("the vocabulary asks for {what} but has no {what} token"),
                )
            })
        };
        if add_special && self.add_bos {
            out.push(need(self.special.bos, "BOS")?);
        }
        match self.vocab_type {
            VocabType::Spm => {
                // Text at the start or after a special token gets the space prefix.
                let mut is_prev_special = true;
                let mut buf = String::new();
                for f in &fragments {
                    match *f {
                        Fragment::Text(ref r) => {
                            buf.clear();
                            if self.add_space_prefix && is_prev_special {
                                buf.push(' ');
                            }
                            buf.push_str(&text[r.clone()]);
                            let escaped = buf.replace(' ', "▁");
                            spm::tokenize(self, escaped.as_bytes(), out)?;
                            is_prev_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            is_prev_special = true;
                        }
                    }
                }
            }
            VocabType::Bpe => {
                let mut session = BpeSession::new(self);
                for f in &fragments {
                    match *f {
                        Fragment::Text(ref r) => {
                            if self.escape_whitespaces {
                                session.tokenize(&text[r.clone()].replace(' ', "▁"), out);
                            } else {
                                session.tokenize(&text[r.clone()], out);
                            }
                        }
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.push(need(self.special.eos, "EOS")?);
        }
        Ok(())
    }

    /// Cuts special tokens out of `text` (llama.cpp's `tokenizer_st_partition`): for each
    /// special token, longest first, every occurrence inside the remaining text fragments
    /// becomes a token fragment; `LSTRIP`/`RSTRIP` tokens drop the whitespace beside them.
    fn partition(&self, text: &str, parse_special: bool) -> Vec<Fragment> {
        let bytes = text.as_bytes();
        let mut fragments = Vec::new();
        if !text.is_empty() {
            fragments.push(Fragment::Text(0..bytes.len()));
        }
        let mut next = Vec::new();
        for &id in &self.special_cache {
            let attr = self.attrs[id as usize];
            if !parse_special && attr.intersects(TokenAttr::CONTROL | TokenAttr::UNKNOWN) {
                continue;
            }
            let pat = self.text_of(id).as_bytes();
            // Nothing to do unless the token occurs somewhere (the common case).
            let occurs = fragments.iter().any(|f| match f {
                Fragment::Text(r) => find_bytes(&bytes[r.clone()], pat).is_some(),
                Fragment::Token(_) => false,
            });
            if !occurs {
                continue;
            }
            next.clear();
            for f in fragments.drain(..) {
                let Fragment::Text(r) = f else {
                    next.push(f);
                    continue;
                };
                let (mut start, end) = (r.start, r.end);
                loop {
                    let Some(pos) = find_bytes(&bytes[start..end], pat) else {
                        if start < end {
                            next.push(Fragment::Text(start..end));
                        }
                        break;
                    };
                    let m = start + pos;
                    if m > start {
                        let mut left_end = m;
                        if attr.contains(TokenAttr::LSTRIP) {
                            while left_end > start && is_c_space(bytes[left_end - 1]) {
                                left_end -= 1;
                            }
                        }
                        if left_end > start {
                            next.push(Fragment::Text(start..left_end));
                        }
                    }
                    next.push(Fragment::Token(id));
                    let mut right = m + pat.len();
                    if right >= end {
                        break;
                    }
                    if attr.contains(TokenAttr::RSTRIP) {
                        while right < end && is_c_space(bytes[right]) {
                            right += 1;
                        }
                    }
                    // The rest of the fragment is searched again.
                    start = right;
                }
            }
            core::mem::swap(&mut fragments, &mut next);
        }
        fragments
    }

    /// The bytes of token `id`, as `llama_token_to_piece(vocab, id, buf, len, 0, special)`.
    ///
    /// SPM: `▁` becomes a space, byte tokens become their byte. Byte-level BPE: each character
    /// becomes the byte it stands for. Control and unknown tokens are empty unless `special`;
    /// user-defined tokens are their text. A piece may be an incomplete or invalid UTF-8
    /// sequence (a byte token); [`super::Detokenizer`] assembles pieces into text.
    ///
    /// Fails with [`Error::BadToken`] for an id outside the vocabulary.
    pub fn token_to_piece(&self, id: u32, special: bool) -> Result<&[u8]> {
        let i = self.check(id)?;
        if !special && self.attrs[i].intersects(TokenAttr::UNKNOWN | TokenAttr::CONTROL) {
            return Ok(&[]);
        }
        Ok(&self.pieces[self.piece_offsets[i]..self.piece_offsets[i + 1]])
    }
}

fn merge_parts<'a>(text: &'a [u8], m: &Merge) -> (&'a [u8], &'a [u8]) {
    let start = m.start as usize;
    let mid = start + m.left_len as usize;
    (&text[start..mid], &text[mid..mid + m.right_len as usize])
}

/// GCC libstdc++'s `std::hash<std::string>` on 64-bit targets (`std::_Hash_bytes` with the seed
/// `0xc70f6907`, a 64-bit MurmurHash2 variant).
fn libstdcxx_hash(bytes: &[u8]) -> u64 {
    const MUL: u64 = (0xc6a4_a793_u64 << 32) + 0x5bd1_e995;
    let shift_mix = |v: u64| v ^ (v >> 47);
    let len = bytes.len();
    let aligned = len & !7;
    let mut hash = 0xc70f_6907_u64 ^ (len as u64).wrapping_mul(MUL);
    for chunk in bytes[..aligned].chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let data = shift_mix(u64::from_le_bytes(w).wrapping_mul(MUL)).wrapping_mul(MUL);
        hash ^= data;
        hash = hash.wrapping_mul(MUL);
    }
    if len & 7 != 0 {
        let data = bytes[aligned..]
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8).wrapping_add(u64::from(b)));
        hash ^= data;
        hash = hash.wrapping_mul(MUL);
    }
    shift_mix(shift_mix(hash).wrapping_mul(MUL))
}

/// The bucket counts libstdc++'s `unordered_map` grows to (its prime rehash policy, load factor
/// 1): `(n, buckets)` means that inserting the `n`-th element first rehashes to `buckets`.
const LIBSTDCXX_GROWTH: &[(usize, usize)] = &[
    (1, 13),
    (14, 29),
    (30, 59),
    (60, 127),
    (128, 257),
    (258, 541),
    (542, 1109),
    (1110, 2357),
    (2358, 5087),
    (5088, 10273),
    (10274, 20753),
    (20754, 42043),
    (42044, 85229),
    (85230, 172933),
    (172934, 351061),
    (351062, 712697),
    (712698, 1447153),
    (1447154, 2893249),
    (2893250, 5786659),
];

/// The order in which a libstdc++ `unordered_map`, filled by inserting `keys` (their hashes;
/// `None` is not inserted) one by one in index order, iterates them: its singly linked node
/// list, where a key joins at the front of its bucket's run, or at the very front when its
/// bucket is empty, and a rehash relinks the nodes bucket by bucket in list order. Returns the
/// indices in iteration order.
fn unordered_map_order(keys: &[Option<u64>]) -> Vec<u32> {
    const NIL: u32 = u32::MAX;
    /// A bucket whose run starts at the list head (libstdc++'s `_M_before_begin`).
    const HEAD: u32 = u32::MAX - 1;
    /// An empty bucket.
    const EMPTY: u32 = u32::MAX - 2;
    let mut next = alloc::vec![NIL; keys.len()];
    let mut head = NIL;
    let mut buckets: Vec<u32> = alloc::vec![EMPTY; 1];
    let mut growth = LIBSTDCXX_GROWTH.iter().peekable();
    let mut size = 0usize;
    let hash = |i: u32| keys[i as usize].unwrap_or(0);
    for (i, key) in keys.iter().enumerate() {
        let Some(h) = *key else { continue };
        let i = i as u32;
        if growth.peek().is_some_and(|&&(n, _)| n == size + 1) {
            let (_, n) = *growth.next().unwrap_or(&(0, 1));
            let mut fresh = alloc::vec![EMPTY; n];
            let mut p = head;
            head = NIL;
            let mut first_bucket = 0usize;
            while p != NIL {
                let q = next[p as usize];
                let b = (hash(p) % n as u64) as usize;
                if fresh[b] == EMPTY {
                    next[p as usize] = head;
                    head = p;
                    fresh[b] = HEAD;
                    if next[p as usize] != NIL {
                        fresh[first_bucket] = p;
                    }
                    first_bucket = b;
                } else {
                    let before = fresh[b];
                    if before == HEAD {
                        next[p as usize] = head;
                        head = p;
                    } else {
                        next[p as usize] = next[before as usize];
                        next[before as usize] = p;
                    }
                }
                p = q;
            }
            buckets = fresh;
        }
        let n = buckets.len() as u64;
        let b = (h % n) as usize;
        match buckets[b] {
            EMPTY => {
                next[i as usize] = head;
                head = i;
                if next[i as usize] != NIL {
                    let nb = (hash(next[i as usize]) % n) as usize;
                    buckets[nb] = i;
                }
                buckets[b] = HEAD;
            }
            HEAD => {
                next[i as usize] = head;
                head = i;
            }
            before => {
                next[i as usize] = next[before as usize];
                next[before as usize] = i;
            }
        }
        size += 1;
    }
    let mut out = Vec::with_capacity(size);
    let mut p = head;
    while p != NIL {
        out.push(p);
        p = next[p as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libstdcxx_hash_is_gccs() {
        // std::hash<std::string> of g++ 13 on x86-64.
        assert_eq!(libstdcxx_hash(b""), 6142509188972423790);
        assert_eq!(libstdcxx_hash(b"<|im_end|>"), 2038672007907099973);
        assert_eq!(libstdcxx_hash(b"abcdefghi"), 13036955925923793583);
    }

    #[test]
    fn unordered_map_order_follows_libstdcxx() {
        // Two keys in one bucket of 13: the later joins the front of its bucket's run; a key
        // in an empty bucket goes to the very front.
        let order = unordered_map_order(&[Some(1), Some(14), None, Some(5)]);
        assert_eq!(order, vec![3, 1, 0]);
        // Fourteen keys rehash to 29 buckets, relinked bucket by bucket in list order.
        let keys: Vec<Option<u64>> = (0..14).map(|k| Some(k * 29 + (k % 2))).collect();
        let order = unordered_map_order(&keys);
        assert_eq!(order.len(), 14);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..14).collect::<Vec<u32>>());
    }

    #[test]
    fn hex_byte_parses_like_strtol() {
        assert_eq!(parse_hex_byte(b"0A"), 0x0a);
        assert_eq!(parse_hex_byte(b"ff"), 0xff);
        assert_eq!(parse_hex_byte(b"F"), 0x0f);
        assert_eq!(parse_hex_byte(b"zz"), 0);
        assert_eq!(parse_hex_byte(b" 7"), 7);
        assert_eq!(parse_hex_byte(b"-1"), 0xff);
        assert_eq!(parse_hex_byte(b""), 0);
    }

    #[test]
    fn byte_level_decoding_marks_unknown_characters() {
        let mut out = Vec::new();
        decode_byte_level("ĠHi", &mut out);
        assert_eq!(out, b" Hi");
        out.clear();
        decode_byte_level("a€", &mut out);
        assert_eq!(out, b"a[UNK_BYTE_0xe282aca\xe2\x82\xac]".to_vec());
    }

    /// llama.cpp repeats the token's text for every unmapped character: kept exactly while the
    /// piece is small, bounded (linear in the text) past that.
    #[test]
    fn byte_level_decoding_is_linear_in_the_text() {
        let mut out = Vec::new();
        // Three unmapped characters in a short token: llama.cpp's piece, text repeated 3 times.
        decode_byte_level("€x€€", &mut out);
        let text = "€x€€";
        let group = format!("[UNK_BYTE_0xe282ac{text}]");
        assert_eq!(out, format!("{group}x{group}{group}").into_bytes());
        // 60,000 unmapped characters (180 KB): llama.cpp would write 10.8 GB.
        let text = "€".repeat(60_000);
        out.clear();
        decode_byte_level(&text, &mut out);
        let bound = text.len() * 20 + MAX_PIECE_SLACK;
        assert!(out.len() <= bound, "{} > {bound}", out.len());
        // The first groups repeat the text; the remaining characters are bare groups.
        let bare = b"[UNK_BYTE_0xe282ac]";
        assert!(out.starts_with(format!("[UNK_BYTE_0xe282ac{text}]").as_bytes()));
        assert!(out.ends_with(&bare.repeat(100)));
        let n_full = (out.len() - 60_000 * bare.len()) / text.len();
        // Groups with the text are written while the piece stays under 4 x 180,000 + 256.
        assert_eq!(n_full, 4);
    }

    #[test]
    fn find_bytes_is_linear_on_hostile_patterns() {
        // Every position matches all but the last byte of the needle: the direct comparison
        // would cost 10^5 x 10^4 byte compares; the budget hands over to KMP.
        let hay = vec![b'a'; 100_000];
        let mut needle = vec![b'a'; 10_000];
        needle.push(b'b');
        assert_eq!(find_bytes(&hay, &needle), None);
        let mut hay2 = hay.clone();
        hay2.extend_from_slice(&needle);
        assert_eq!(find_bytes(&hay2, &needle), Some(100_000));
        // KMP agrees with the direct search on every split of small texts.
        let texts: [&[u8]; 5] = [b"abababca", b"aabaabaaab", b"abcabcabd", b"zzzz", b""];
        for hay in texts {
            for needle in texts {
                for start in 0..needle.len() {
                    let n = &needle[start..];
                    let naive = (0..=hay.len().saturating_sub(n.len()))
                        .find(|&i| hay.len() >= n.len() && &hay[i..i + n.len()] == n);
                    assert_eq!(find_kmp(hay, n), naive, "{hay:?} {n:?}");
                    assert_eq!(find_bytes(hay, n), naive, "{hay:?} {n:?}");
                }
            }
        }
    }

    #[test]
    fn find_bytes_finds_first_occurrence() {
        assert_eq!(find_bytes(b"abcabc", b"ca"), Some(2));
        assert_eq!(find_bytes(b"abc", b"abcd"), None);
        assert_eq!(find_bytes(b"aab", b"ab"), Some(1));
        assert_eq!(find_bytes(b"", b"a"), None);
    }

    #[test]
    fn every_llama_cpp_pre_tokenizer_name_has_flags() {
        assert!(pre_flags("llama-bpe").unwrap().ignore_merges);
        assert!(pre_flags("llama-bpe").unwrap().add_bos);
        assert!(!pre_flags("qwen2").unwrap().clean_spaces);
        assert!(pre_flags("gpt-2").unwrap().clean_spaces);
        assert!(pre_flags("no-such-pre").is_none());
    }
}
