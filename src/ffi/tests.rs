//! Tests of the C ABI, calling the exported functions from Rust as C would.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ffi::{c_char, c_void, CStr};
use core::ptr::{null, null_mut};
use core::sync::atomic::{AtomicUsize, Ordering};
use std::path::PathBuf;

use super::chat::*;
use super::context::*;
use super::generate::*;
use super::model::*;
use super::sequences::*;
use super::state::*;
use super::*;

use LlametteStatus::*;
use LlametteStopReason::*;

#[path = "../../tests/common/json.rs"]
#[allow(dead_code)]
mod json;

use json::Json;

// ---- helpers ----

fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A fixture's bytes, leaked: models borrow them for the rest of the test process.
fn fixture(rel: &str) -> &'static [u8] {
    let path = fixture_path(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Vec::leak(bytes)
}

fn json(rel: &str) -> Json {
    json::parse(core::str::from_utf8(fixture(rel)).unwrap()).unwrap()
}

const Q8_0: &str = "models/tiny-codellama.q8_0.gguf";

/// Golden case 0 of the q8_0 model: the prompt, llama.cpp's 32 greedy tokens, the logits after
/// the prompt and at every prompt position.
struct Golden {
    prompt: Vec<u32>,
    greedy: Vec<u32>,
    last_logits: Vec<f32>,
    all_logits: Vec<Vec<f32>>,
}

fn golden() -> Golden {
    let g = json("golden/tiny-codellama.q8_0.json");
    let case = &g["cases"][0];
    Golden {
        prompt: case["prompt"].u32_vec(),
        greedy: case["greedy"].u32_vec(),
        last_logits: case["last_logits"].f32_vec(),
        all_logits: case["all_logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(Json::f32_vec)
            .collect(),
    }
}

/// Asserts two logit rows agree to float rounding (llamette reproduces llama.cpp's logits bit
/// for bit on x86-64; the margin only allows for another platform's libm).
fn assert_logits(ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f32, |m, x| m.max(x.abs()));
    let worst = ours
        .iter()
        .zip(theirs)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= 1e-4 * scale, "max |diff| {worst} (scale {scale})");
}

/// A fixture conversation's `(role, content)` pairs.
fn conversation(messages: &Json) -> Vec<(String, String)> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().into(),
                m["content"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// `LlametteMessage`s pointing into `turns`, which must outlive them.
fn c_messages<S: AsRef<str>>(turns: &[(S, S)]) -> Vec<LlametteMessage> {
    turns
        .iter()
        .map(|(r, c)| {
            let (r, c) = (r.as_ref(), c.as_ref());
            LlametteMessage {
                role: r.as_ptr().cast(),
                role_len: r.len(),
                content: c.as_ptr().cast(),
                content_len: c.len(),
            }
        })
        .collect()
}

fn ok(s: LlametteStatus) {
    assert_eq!(s, LLAMETTE_OK, "{}", last_error());
}

fn last_error() -> String {
    // SAFETY: never NULL, NUL-terminated, valid until the next call on this thread.
    unsafe { CStr::from_ptr(llamette_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn load(bytes: &'static [u8]) -> *mut LlametteModel {
    let mut m = null_mut();
    // SAFETY: the bytes are leaked, so they outlive the model.
    ok(unsafe { llamette_model_from_memory(bytes.as_ptr(), bytes.len(), &mut m) });
    assert!(!m.is_null());
    m
}

fn params(n_ctx: u32, logits_all: bool) -> LlametteContextParams {
    LlametteContextParams {
        n_ctx,
        n_batch: 64,
        logits_all,
        ..llamette_context_default_params()
    }
}

fn new_context(m: *mut LlametteModel, p: &LlametteContextParams) -> *mut LlametteContext {
    let mut c = null_mut();
    // SAFETY: a live model, a valid params struct.
    ok(unsafe { llamette_context_new(m, p, &mut c) });
    c
}

fn greedy_sampler(m: *const LlametteModel) -> *mut LlametteSampler {
    let p = LlametteSamplerParams {
        temp: 0.0,
        ..llamette_sampler_default_params()
    };
    let mut s = null_mut();
    // SAFETY: a live model.
    ok(unsafe { llamette_sampler_new(m, &p, &mut s) });
    s
}

fn logits(c: *const LlametteContext) -> Vec<f32> {
    let mut p = null();
    let mut n = 0;
    // SAFETY: a live context; the array is copied before the next call.
    unsafe {
        ok(llamette_logits(c, &mut p, &mut n));
        core::slice::from_raw_parts(p, n).to_vec()
    }
}

fn eval(c: *mut LlametteContext, tokens: &[u32]) -> LlametteStatus {
    // SAFETY: a live context and a valid slice.
    unsafe { llamette_eval(c, tokens.as_ptr(), tokens.len()) }
}

/// Evaluates the prompt, then `n` greedy tokens one at a time through the sampler functions.
fn greedy_ids(
    c: *mut LlametteContext,
    s: *mut LlametteSampler,
    prompt: &[u32],
    n: usize,
) -> Vec<u32> {
    ok(eval(c, prompt));
    let mut ids = Vec::new();
    for _ in 0..n {
        let mut t = u32::MAX;
        // SAFETY: live handles.
        unsafe {
            ok(llamette_sampler_sample(s, c, &mut t));
            ok(llamette_sampler_accept(s, t));
        }
        ids.push(t);
        ok(eval(c, &[t]));
    }
    ids
}

/// The text `llamette_generate` should hand out for `ids`: their pieces through a UTF-8
/// decoder.
fn text_of(m: *const LlametteModel, ids: &[u32]) -> String {
    let mut bytes = Vec::new();
    for &id in ids {
        let mut buf = [0 as c_char; 64];
        let mut n = 0;
        // SAFETY: a live model, a 64-byte buffer.
        ok(unsafe { llamette_token_to_piece(m, id, false, buf.as_mut_ptr(), buf.len(), &mut n) });
        bytes.extend(buf[..n].iter().map(|&b| b as u8));
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Collects generated pieces (the `user` of `collect_pieces`).
#[derive(Default)]
struct Pieces {
    text: String,
    count: usize,
    /// Return false after this many pieces.
    stop_after: Option<usize>,
    /// Raise this flag after this many pieces (as another thread would).
    abort: Option<(usize, *const VolatileU32)>,
}

unsafe extern "C" fn collect_pieces(user: *mut c_void, text: *const c_char, len: usize) -> bool {
    // SAFETY: `user` is the test's `Pieces`, `text` holds `len` bytes plus a NUL.
    let p = unsafe { &mut *user.cast::<Pieces>() };
    let bytes = unsafe { core::slice::from_raw_parts(text.cast::<u8>(), len + 1) };
    assert!(len > 0, "pieces are never empty");
    assert_eq!(bytes[len], 0, "pieces are NUL-terminated");
    p.text
        .push_str(core::str::from_utf8(&bytes[..len]).expect("pieces are UTF-8"));
    p.count += 1;
    if let Some((after, flag)) = p.abort {
        if p.count == after {
            // SAFETY: the test's flag, aligned; only this thread uses it here.
            unsafe { core::sync::atomic::AtomicU32::from_ptr(flag.cast::<u32>().cast_mut()) }
                .store(1, Ordering::Relaxed);
        }
    }
    p.stop_after != Some(p.count)
}

fn generate(
    c: *mut LlametteContext,
    s: *mut LlametteSampler,
    prompt: &[u32],
    p: Option<&LlametteGenerateParams>,
    pieces: &mut Pieces,
) -> (LlametteStatus, LlametteStopReason, u32) {
    let mut reason = LLAMETTE_STOP_LENGTH;
    let mut n = u32::MAX;
    // SAFETY: live handles, valid arrays, the callback's `user` is `pieces`.
    let status = unsafe {
        llamette_generate(
            c,
            s,
            prompt.as_ptr(),
            prompt.len(),
            p.map_or(null(), |p| p),
            Some(collect_pieces),
            (pieces as *mut Pieces).cast(),
            &mut reason,
            &mut n,
        )
    };
    (status, reason, n)
}

fn gen_params(n_predict: i32) -> LlametteGenerateParams {
    LlametteGenerateParams {
        n_predict,
        stop_tokens: null(),
        n_stop_tokens: 0,
        stop_strings: null(),
        stop_string_lens: null(),
        n_stop_strings: 0,
        abort_flag: null(),
    }
}

// ---- version, statuses, errors ----

#[test]
fn version_matches_the_crate_and_every_status_has_a_message() {
    let v = llamette_version();
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
    let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
    let patch: u32 = env!("CARGO_PKG_VERSION_PATCH").parse().unwrap();
    assert_eq!(
        (
            LLAMETTE_VERSION_MAJOR,
            LLAMETTE_VERSION_MINOR,
            LLAMETTE_VERSION_PATCH
        ),
        (major, minor, patch)
    );
    assert_eq!(v, (major << 16) | (minor << 8) | patch);
    let msg = |s: u32| {
        // SAFETY: a static NUL-terminated string.
        unsafe { CStr::from_ptr(llamette_status_message(StatusArg(s))) }
            .to_str()
            .unwrap()
    };
    assert_eq!(msg(LLAMETTE_OK as u32), "ok");
    assert_eq!(
        msg(LLAMETTE_ERR_BUFFER_TOO_SMALL as u32),
        "buffer too small"
    );
    let all: Vec<&str> = (0..=LLAMETTE_ERR_CONSTRAINT as u32).map(msg).collect();
    for (i, m) in all.iter().enumerate() {
        assert!(!m.is_empty() && *m != "unknown status", "status {i}");
        assert_eq!(all.iter().filter(|x| *x == m).count(), 1, "status {i}");
    }
    assert_eq!(
        LLAMETTE_ERR_PANIC as u32, 12,
        "existing numbers never change"
    );
    assert_eq!(LLAMETTE_ERR_BAD_STATE as u32, 13);
    assert_eq!(LLAMETTE_ERR_CONSTRAINT as u32, 15);
    assert_eq!(msg(16), "unknown status");
    assert_eq!(msg(u32::MAX), "unknown status");
}

#[test]
fn the_last_error_is_per_thread_and_survives_success() {
    std::thread::spawn(|| {
        assert_eq!(last_error(), "");
        // SAFETY: NULL handles are allowed.
        assert_eq!(
            unsafe { llamette_eval(null_mut(), null(), 0) },
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        assert_eq!(last_error(), "llamette_eval: `c` is NULL");
        std::thread::spawn(|| assert_eq!(last_error(), ""))
            .join()
            .unwrap();
        let _ = llamette_version();
        let m = load(fixture(Q8_0));
        // SAFETY: a live handle.
        unsafe { llamette_model_free(m) };
        assert_eq!(last_error(), "llamette_eval: `c` is NULL");
    })
    .join()
    .unwrap();
}

#[test]
fn errors_map_to_their_statuses() {
    use crate::Error;
    let e = |s: &str| String::from(s);
    assert_eq!(
        status_of(&Error::MissingTensor { tensor: e("x") }),
        LLAMETTE_ERR_BAD_FILE
    );
    assert_eq!(
        status_of(&Error::UnsupportedVersion { version: 9 }),
        LLAMETTE_ERR_UNSUPPORTED
    );
    assert_eq!(
        status_of(&Error::Io {
            path: e("p"),
            message: e("m")
        }),
        LLAMETTE_ERR_IO
    );
    assert_eq!(
        status_of(&Error::BadParams { reason: e("r") }),
        LLAMETTE_ERR_INVALID_ARGUMENT
    );
    assert_eq!(
        status_of(&Error::OutOfMemory {
            what: e("w"),
            bytes: 1,
            limit: None
        }),
        LLAMETTE_ERR_ALLOCATION
    );
    assert_eq!(
        status_of(&Error::ContextFull {
            n_ctx: 1,
            needed: 2
        }),
        LLAMETTE_ERR_CONTEXT_FULL
    );
    assert_eq!(
        status_of(&Error::BadToken {
            token: 1,
            n_vocab: 1
        }),
        LLAMETTE_ERR_BAD_TOKEN
    );
    assert_eq!(
        status_of(&Error::BadChat {
            message: 0,
            reason: e("r")
        }),
        LLAMETTE_ERR_BAD_CHAT
    );
    assert_eq!(
        status_of(&Error::BufferTooSmall {
            needed: 2,
            given: 1
        }),
        LLAMETTE_ERR_BUFFER_TOO_SMALL
    );
    assert_eq!(
        status_of(&Error::BadState { reason: e("r") }),
        LLAMETTE_ERR_BAD_STATE
    );
}

// ---- models ----

/// The q8_0 model with its metadata edited and/or a tensor replaced.
fn rebuilt(
    edit: &dyn Fn(&str, crate::gguf::writer::MetaValue) -> crate::gguf::writer::MetaValue,
    replace: Option<(&str, crate::GgmlType)>,
) -> &'static [u8] {
    use crate::gguf::writer::{MetaValue, Writer};
    let f = crate::gguf::GgufFile::from_bytes(fixture(Q8_0)).unwrap();
    let mut w = Writer::new();
    for (k, v) in f.metadata() {
        w = w.meta(k, edit(k, MetaValue::from_value(&v)));
    }
    for t in f.tensors() {
        match replace {
            Some((name, ty)) if name == t.name => {
                let n = t.dims().iter().product::<u64>() as usize;
                w = w.tensor(t.name, ty, t.dims(), vec![0; ty.row_size(n).unwrap()]);
            }
            _ => w = w.tensor(t.name, t.ggml_type, t.dims(), t.data.to_vec()),
        }
    }
    Vec::leak(w.to_bytes().unwrap())
}

fn from_memory(bytes: &[u8]) -> (LlametteStatus, *mut LlametteModel) {
    let sentinel = 0x1234 as *mut LlametteModel;
    let mut m = sentinel;
    // SAFETY: valid bytes (leaked or outliving the model, which is freed by the caller).
    let s = unsafe { llamette_model_from_memory(bytes.as_ptr(), bytes.len(), &mut m) };
    if s != LLAMETTE_OK {
        assert_eq!(m, sentinel, "out-params are untouched on failure");
    }
    (s, m)
}

#[test]
fn model_from_memory_reports_its_info() {
    let m = load(fixture(Q8_0));
    let mut info = LlametteModelInfo {
        n_vocab: 0,
        n_embd: 0,
        n_layer: 0,
        n_ff: 0,
        n_head: 0,
        n_head_kv: 0,
        head_dim: 0,
        n_ctx_train: 0,
        rope_freq_base: 0.0,
        rms_eps: 0.0,
        bos: 0,
        eos: 0,
        eot: 0,
        chat_format: LlametteChatFormat::LLAMETTE_CHAT_LLAMA3,
        copied_bytes: 99,
    };
    // SAFETY: a live model.
    ok(unsafe { llamette_model_info(m, &mut info) });
    assert_eq!(
        (info.n_vocab, info.n_embd, info.n_layer, info.n_ff),
        (1024, 256, 2, 768)
    );
    assert_eq!((info.n_head, info.n_head_kv, info.head_dim), (4, 1, 64));
    assert_eq!(info.n_ctx_train, 4096);
    assert_eq!(info.rope_freq_base, 10000.0);
    assert_eq!(info.rms_eps, 1e-5);
    assert_eq!((info.bos, info.eos, info.eot), (1, 2, -1));
    assert_eq!(
        info.chat_format,
        LlametteChatFormat::LLAMETTE_CHAT_NONE,
        "no chat template"
    );
    assert_eq!(info.copied_bytes, 0);
    // Without a template, "the model's format" is an error; a named format works.
    let mut stops = [0u32; 4];
    let mut n = 0;
    // SAFETY: a live model, room for 4 ids.
    unsafe {
        let none = ChatFormatArg(LlametteChatFormat::LLAMETTE_CHAT_NONE as u32);
        assert_eq!(
            llamette_chat_stop_tokens(m, none, stops.as_mut_ptr(), 4, &mut n),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        let codellama = ChatFormatArg(LlametteChatFormat::LLAMETTE_CHAT_CODELLAMA_70B as u32);
        ok(llamette_chat_stop_tokens(
            m,
            codellama,
            stops.as_mut_ptr(),
            4,
            &mut n,
        ));
    }
    assert_eq!(&stops[..n], [2, 1023], "</s> and <step>");

    let arch = |cap: usize| {
        let mut buf = vec![b'#' as c_char; 8];
        let mut n = 0;
        // SAFETY: a live model, a buffer of at least `cap` bytes.
        let s = unsafe { llamette_model_architecture(m, buf.as_mut_ptr(), cap, &mut n) };
        (s, n, buf)
    };
    let (s, n, buf) = arch(5);
    assert_eq!((s, n), (LLAMETTE_ERR_BUFFER_TOO_SMALL, 5));
    assert!(buf.iter().all(|&b| b == b'#' as c_char), "buffer untouched");
    let (s, n, buf) = arch(6);
    assert_eq!((s, n), (LLAMETTE_OK, 5));
    // SAFETY: NUL-terminated by the call.
    assert_eq!(unsafe { CStr::from_ptr(buf.as_ptr()) }, c"llama");

    let meta = |key: &CStr| {
        let mut buf = [0 as c_char; 64];
        let mut n = 0;
        // SAFETY: a live model, a 64-byte buffer.
        let s =
            unsafe { llamette_model_meta_string(m, key.as_ptr(), buf.as_mut_ptr(), 64, &mut n) };
        // SAFETY: NUL-terminated on success.
        (
            s,
            (s == LLAMETTE_OK).then(|| {
                unsafe { CStr::from_ptr(buf.as_ptr()) }
                    .to_str()
                    .unwrap()
                    .to_owned()
            }),
        )
    };
    assert_eq!(meta(c"general.architecture").1.as_deref(), Some("llama"));
    assert_eq!(meta(c"llama.embedding_length").1.as_deref(), Some("256"));
    assert_eq!(meta(c"llama.rope.freq_base").1.as_deref(), Some("10000"));
    assert_eq!(
        meta(c"tokenizer.ggml.tokens").1.as_deref(),
        Some("[1024 items]")
    );
    assert_eq!(meta(c"no.such.key").0, LLAMETTE_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("'no.such.key'"), "{}", last_error());

    let eog = |t: u32| {
        let mut b = false;
        // SAFETY: a live model.
        let s = unsafe { llamette_model_is_eog(m, t, &mut b) };
        (s, b)
    };
    assert_eq!(eog(2), (LLAMETTE_OK, true));
    assert_eq!(eog(5), (LLAMETTE_OK, false));
    assert_eq!(eog(1024).0, LLAMETTE_ERR_BAD_TOKEN);
    // SAFETY: a live handle, freed once.
    unsafe { llamette_model_free(m) };
}

#[test]
fn models_load_from_parts_and_files() {
    let bytes = fixture(Q8_0);
    let (a, b) = bytes.split_at(bytes.len() / 2 + 3);
    let parts = [a.as_ptr(), b.as_ptr()];
    let lens = [a.len(), b.len()];
    let mut m = null_mut();
    // SAFETY: leaked bytes; arrays of two.
    ok(unsafe { llamette_model_from_parts(parts.as_ptr(), lens.as_ptr(), 2, &mut m) });
    let mut info = llamette_model_info_of(m);
    assert!(info.copied_bytes > 0, "a tensor straddles the cut");
    // SAFETY: a live handle.
    unsafe { llamette_model_free(m) };
    // SAFETY: arrays of zero parts.
    assert_eq!(
        unsafe { llamette_model_from_parts(parts.as_ptr(), lens.as_ptr(), 0, &mut m) },
        LLAMETTE_ERR_INVALID_ARGUMENT
    );

    let path = std::ffi::CString::new(fixture_path(Q8_0).to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    ok(unsafe { llamette_model_load(path.as_ptr(), &mut m) });
    info = llamette_model_info_of(m);
    assert_eq!((info.n_vocab, info.copied_bytes), (1024, 0));
    // SAFETY: a live handle.
    unsafe { llamette_model_free(m) };
    let sentinel = 0x99 as *mut LlametteModel;
    m = sentinel;
    // SAFETY: a NUL-terminated path.
    assert_eq!(
        unsafe { llamette_model_load(c"/no/such/model.gguf".as_ptr(), &mut m) },
        LLAMETTE_ERR_IO
    );
    assert_eq!(m, sentinel);
    assert!(
        last_error().starts_with("llamette_model_load: /no/such/model.gguf"),
        "{}",
        last_error()
    );
    // Split names whose parts are not there (these panicked indexing an empty list).
    for path in [
        c"/no/such/model-split-a",
        c"/no/such/model-00001-of-00000.gguf",
        c"/no/such/model-00001-of-00002.gguf",
    ] {
        // SAFETY: a NUL-terminated path.
        assert_eq!(
            unsafe { llamette_model_load(path.as_ptr(), &mut m) },
            LLAMETTE_ERR_IO,
            "{path:?}"
        );
        assert!(
            last_error().starts_with("llamette_model_load: /no/such/model-"),
            "{}",
            last_error()
        );
    }
    assert_eq!(m, sentinel);
}

/// A caught panic's payload is dropped (it was leaked), and one whose `Drop` panics in turn is
/// caught as well: nothing unwinds out of the boundary.
#[test]
fn caught_panic_payloads_are_freed() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            DROPS.fetch_add(10, Ordering::SeqCst);
            panic!("a payload that panics when dropped");
        }
    }
    let status = guard("t", || std::panic::panic_any(Counted));
    assert_eq!(status, LLAMETTE_ERR_PANIC);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    assert_eq!(guard_or("t", 7, || std::panic::panic_any(Counted)), 7);
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    let status = guard("t", || std::panic::panic_any(Bomb));
    assert_eq!(status, LLAMETTE_ERR_PANIC);
    assert_eq!(DROPS.load(Ordering::SeqCst), 12);
    assert_eq!(last_error(), "t: panic: a panic without a message");
}

fn llamette_model_info_of(m: *const LlametteModel) -> LlametteModelInfo {
    let mut info = core::mem::MaybeUninit::<LlametteModelInfo>::uninit();
    // SAFETY: a live model; the struct is written on success.
    unsafe {
        ok(llamette_model_info(m, info.as_mut_ptr()));
        info.assume_init()
    }
}

#[test]
fn bad_files_are_named_statuses_and_leave_out_untouched() {
    assert_eq!(from_memory(b"GGUF").0, LLAMETTE_ERR_BAD_FILE);
    assert_eq!(from_memory(b"not a model at all").0, LLAMETTE_ERR_BAD_FILE);
    assert!(last_error().contains("not a GGUF file"), "{}", last_error());
    let bytes = fixture(Q8_0);
    assert_eq!(
        from_memory(&bytes[..bytes.len() / 3]).0,
        LLAMETTE_ERR_BAD_FILE
    );
    // A model file missing a tensor is still an error that names it.
    {
        use crate::gguf::writer::{MetaValue, Writer};
        let f = crate::gguf::GgufFile::from_bytes(bytes).unwrap();
        let mut w = Writer::new();
        for (k, v) in f.metadata() {
            w = w.meta(k, MetaValue::from_value(&v));
        }
        for t in f.tensors().filter(|t| t.name != "token_embd.weight") {
            w = w.tensor(t.name, t.ggml_type, t.dims(), t.data.to_vec());
        }
        let broken = w.to_bytes().unwrap();
        assert_eq!(
            from_memory(Box::leak(broken.into_boxed_slice())).0,
            LLAMETTE_ERR_BAD_FILE
        );
        assert!(
            last_error().contains("token_embd.weight"),
            "{}",
            last_error()
        );
    }

    use crate::gguf::writer::MetaValue;
    let falcon = rebuilt(
        &|k, v| match k {
            "general.architecture" => MetaValue::String("falcon".into()),
            _ => v,
        },
        None,
    );
    assert_eq!(from_memory(falcon).0, LLAMETTE_ERR_UNSUPPORTED);
    let iq2 = rebuilt(
        &|_, v| v,
        Some(("blk.0.attn_q.weight", crate::GgmlType::IQ2_XXS)),
    );
    assert_eq!(from_memory(iq2).0, LLAMETTE_ERR_UNSUPPORTED);
    assert!(last_error().contains("IQ2_XXS"), "{}", last_error());
}

// ---- tokens ----

#[test]
fn tokenize_asks_for_the_size_then_fills_the_buffer() {
    let bytes = fixture(Q8_0);
    let m = load(bytes);
    let text = "Hello world, héllo <s>!";
    let tokenize = |ids: *mut u32, cap: usize, n: &mut usize| {
        // SAFETY: a live model, `ids` valid for `cap` ids (or NULL with 0).
        unsafe { llamette_tokenize(m, text.as_ptr().cast(), text.len(), true, true, ids, cap, n) }
    };
    let mut n = 0;
    assert_eq!(
        tokenize(null_mut(), 0, &mut n),
        LLAMETTE_ERR_BUFFER_TOO_SMALL
    );
    let vocab =
        crate::tokenizer::Vocab::from_gguf(&crate::gguf::GgufFile::from_bytes(bytes).unwrap())
            .unwrap();
    let want = vocab.tokenize(text, true, true).unwrap();
    assert_eq!(n, want.len());
    let mut ids = vec![u32::MAX; n];
    let mut n2 = 0;
    assert_eq!(
        tokenize(ids.as_mut_ptr(), n - 1, &mut n2),
        LLAMETTE_ERR_BUFFER_TOO_SMALL
    );
    assert_eq!(n2, n);
    assert!(ids.iter().all(|&t| t == u32::MAX), "ids untouched");
    ok(tokenize(ids.as_mut_ptr(), n, &mut n2));
    assert_eq!((ids.as_slice(), n2), (want.as_slice(), n));
    assert_eq!(ids[0], 1, "BOS");
    assert!(
        ids.contains(&1) && ids[1..].contains(&1),
        "<s> parsed as the control token"
    );

    let mut n3 = 0;
    // SAFETY: two bytes that are not UTF-8.
    let bad = unsafe {
        llamette_tokenize(
            m,
            b"\xff\xfe".as_ptr().cast(),
            2,
            false,
            false,
            ids.as_mut_ptr(),
            n,
            &mut n3,
        )
    };
    assert_eq!(bad, LLAMETTE_ERR_INVALID_ARGUMENT);
    // SAFETY: NULL text with length 0 is empty text.
    ok(unsafe { llamette_tokenize(m, null(), 0, false, false, null_mut(), 0, &mut n3) });
    assert_eq!(n3, 0);

    // token_to_piece: '▁' becomes a space; control tokens are empty unless `special`.
    let piece = |id: u32, special: bool, cap: usize| {
        let mut buf = [b'#' as c_char; 16];
        let mut n = 0;
        // SAFETY: a 16-byte buffer.
        let s = unsafe { llamette_token_to_piece(m, id, special, buf.as_mut_ptr(), cap, &mut n) };
        (
            s,
            n,
            buf[..n.min(16)]
                .iter()
                .map(|&b| b as u8)
                .collect::<Vec<u8>>(),
        )
    };
    let hello = want[1];
    let (s, n, _) = piece(hello, false, 1);
    assert_eq!(s, LLAMETTE_ERR_BUFFER_TOO_SMALL);
    let (s, n2, b) = piece(hello, false, 16);
    assert_eq!((s, n2), (LLAMETTE_OK, n));
    assert_eq!(b, vocab.token_to_piece(hello, false).unwrap());
    assert_eq!(b[0], b' ');
    assert_eq!(piece(1, false, 16).1, 0);
    assert_eq!(piece(1, true, 16).2, b"<s>");
    assert_eq!(piece(5000, false, 16).0, LLAMETTE_ERR_BAD_TOKEN);
    // SAFETY: a live handle.
    unsafe { llamette_model_free(m) };
}

#[test]
fn the_detokenizer_streams_whole_characters() {
    let m = load(fixture(Q8_0));
    let text = " naïve 🦀 code";
    let mut n = 0;
    let mut ids = vec![0u32; 64];
    // SAFETY: a live model, 64 ids.
    ok(unsafe {
        llamette_tokenize(
            m,
            text.as_ptr().cast(),
            text.len(),
            false,
            false,
            ids.as_mut_ptr(),
            64,
            &mut n,
        )
    });
    ids.truncate(n);
    // The pieces through a UTF-8 decoder. (With this 1024-token vocabulary a lone '▁' has no
    // token of its own: SentencePiece spells it with its three byte tokens, so it shows.)
    let want = text_of(m, &ids);
    assert!(want.contains("naïve") && want.contains("🦀 code"), "{want}");
    let mut d = null_mut();
    // SAFETY: a live model.
    ok(unsafe { llamette_detokenizer_new(m, &mut d) });
    // SAFETY: the detokenizer outlives the model handle.
    unsafe { llamette_model_free(m) };
    let mut out = String::new();
    let mut pushes = Vec::new();
    for &id in &ids {
        let (mut p, mut len) = (null(), 0);
        // SAFETY: a live detokenizer; the text is copied before the next call.
        unsafe {
            ok(llamette_detokenizer_push(d, id, &mut p, &mut len));
            let bytes = core::slice::from_raw_parts(p.cast::<u8>(), len + 1);
            assert_eq!(bytes[len], 0);
            let s = core::str::from_utf8(&bytes[..len]).expect("whole characters only");
            out.push_str(s);
            pushes.push(len);
        }
    }
    assert!(
        pushes.contains(&0),
        "the crab's byte tokens are held back until complete"
    );
    let (mut p, mut len) = (null(), 0);
    // SAFETY: a live detokenizer.
    unsafe {
        assert_eq!(
            llamette_detokenizer_push(d, 4096, &mut p, &mut len),
            LLAMETTE_ERR_BAD_TOKEN
        );
        ok(llamette_detokenizer_finish(d, &mut p, &mut len));
    }
    assert_eq!(len, 0);
    assert_eq!(out, want);
    // A lone byte of a character, then the end: U+FFFD.
    // SAFETY: a live detokenizer; <0xC3> is id 3 + 0xC3.
    unsafe {
        ok(llamette_detokenizer_push(d, 3 + 0xC3, &mut p, &mut len));
        assert_eq!(len, 0);
        ok(llamette_detokenizer_finish(d, &mut p, &mut len));
        assert_eq!(
            core::slice::from_raw_parts(p.cast::<u8>(), len),
            "\u{FFFD}".as_bytes()
        );
        llamette_detokenizer_free(d);
    }
}

// ---- chat ----

#[test]
fn chat_renders_the_codellama_70b_dialog_to_metas_ids() {
    let chat = json("chat/codellama-70b-instruct.json");
    // The vocabulary-only file itself: a handle that renders chats but has no weights.
    let m = load(fixture("vocab/codellama-70b-instruct-vocab.gguf"));
    assert_eq!(
        llamette_model_info_of(m).chat_format,
        LlametteChatFormat::LLAMETTE_CHAT_CODELLAMA_70B
    );
    let owned = conversation(&chat["messages"]);
    let msgs = c_messages(&owned);
    let expected = chat["expected_tokens"].u32_vec();
    for format in [
        LlametteChatFormat::LLAMETTE_CHAT_NONE,
        LlametteChatFormat::LLAMETTE_CHAT_CODELLAMA_70B,
    ] {
        let f = ChatFormatArg(format as u32);
        let mut n = 0;
        // SAFETY: a live model, valid messages; size query.
        let s = unsafe {
            llamette_chat_render_ids(m, f, msgs.as_ptr(), msgs.len(), true, null_mut(), 0, &mut n)
        };
        assert_eq!((s, n), (LLAMETTE_ERR_BUFFER_TOO_SMALL, expected.len()));
        let mut ids = vec![0u32; n];
        // SAFETY: as above, with room for `n` ids.
        ok(unsafe {
            llamette_chat_render_ids(
                m,
                f,
                msgs.as_ptr(),
                msgs.len(),
                true,
                ids.as_mut_ptr(),
                n,
                &mut n,
            )
        });
        assert_eq!(ids, expected, "Meta's reference ids");
    }
    let f = ChatFormatArg(LlametteChatFormat::LLAMETTE_CHAT_NONE as u32);
    let mut buf = vec![0 as c_char; 1024];
    let mut n = 0;
    // SAFETY: a 1024-byte buffer.
    ok(unsafe {
        llamette_chat_render(
            m,
            f,
            msgs.as_ptr(),
            msgs.len(),
            true,
            buf.as_mut_ptr(),
            1024,
            &mut n,
        )
    });
    // SAFETY: NUL-terminated by the call.
    let prompt = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
    assert_eq!(prompt, chat["expected_prompt"].as_str().unwrap());
    assert_eq!(n, prompt.len());
    let mut stops = [0u32; 4];
    // SAFETY: room for 4 ids.
    ok(unsafe { llamette_chat_stop_tokens(m, f, stops.as_mut_ptr(), 4, &mut n) });
    assert_eq!(&stops[..n], [2, 32015]);

    // Rules broken, unknown formats.
    // SAFETY: valid messages (two users in a row), a buffer of 1024.
    let s = unsafe {
        llamette_chat_render_ids(m, f, msgs[1..].as_ptr(), 1, true, null_mut(), 0, &mut n)
    };
    assert_eq!(s, LLAMETTE_ERR_BUFFER_TOO_SMALL, "one user message is fine");
    let two_users = [msgs[1], msgs[3]];
    // SAFETY: as above.
    let s = unsafe {
        llamette_chat_render_ids(m, f, two_users.as_ptr(), 2, true, null_mut(), 0, &mut n)
    };
    assert_eq!(s, LLAMETTE_ERR_BAD_CHAT);
    assert!(last_error().contains("chat message 1"), "{}", last_error());
    // SAFETY: as above.
    let s = unsafe {
        llamette_chat_render(
            m,
            ChatFormatArg(99),
            msgs.as_ptr(),
            4,
            true,
            buf.as_mut_ptr(),
            1024,
            &mut n,
        )
    };
    assert_eq!(s, LLAMETTE_ERR_INVALID_ARGUMENT);
    assert!(
        last_error().contains("unknown chat format 99"),
        "{}",
        last_error()
    );
    // SAFETY: a live handle.
    unsafe { llamette_model_free(m) };
}

// ---- contexts, evaluation, generation ----

#[test]
fn eval_gives_llama_cpps_logits_and_greedy_tokens() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let c = new_context(m, &params(256, true));
    // SAFETY: a live context.
    unsafe {
        assert_eq!(llamette_context_n_past(c), 0);
        let (mut p, mut n) = (null(), 0);
        assert_eq!(
            llamette_logits(c, &mut p, &mut n),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
    }
    ok(eval(c, &g.prompt));
    // SAFETY: a live context.
    assert_eq!(unsafe { llamette_context_n_past(c) }, 8);
    assert_logits(&logits(c), &g.last_logits);
    for (i, row) in g.all_logits.iter().enumerate() {
        let (mut p, mut n) = (null(), 0);
        // SAFETY: a live context; the row is read before the next call.
        unsafe {
            ok(llamette_logits_at(c, i, &mut p, &mut n));
            assert_logits(core::slice::from_raw_parts(p, n), row);
        }
    }
    let (mut p, mut n) = (null(), 0);
    // SAFETY: a live context.
    assert_eq!(
        unsafe { llamette_logits_at(c, 8, &mut p, &mut n) },
        LLAMETTE_ERR_INVALID_ARGUMENT
    );

    // Truncating rewinds: evaluating the rest again gives the same logits.
    // SAFETY: a live context.
    unsafe {
        ok(llamette_context_truncate(c, 4));
        assert_eq!(llamette_context_n_past(c), 4);
        assert_eq!(
            llamette_logits(c, &mut p, &mut n),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
    }
    ok(eval(c, &g.prompt[4..]));
    assert_logits(&logits(c), &g.last_logits);
    assert_eq!(eval(c, &[1024]), LLAMETTE_ERR_BAD_TOKEN);
    assert_eq!(eval(c, &[]), LLAMETTE_ERR_INVALID_ARGUMENT);
    // SAFETY: a live handle.
    unsafe { llamette_context_free(c) };

    // Greedy through the sampler functions: llama.cpp's 32 tokens.
    let c = new_context(m, &params(256, false));
    let s = greedy_sampler(m);
    assert_eq!(greedy_ids(c, s, &g.prompt, 32), g.greedy);
    let full = new_context(m, &params(8, false));
    assert_eq!(eval(full, &g.prompt), LLAMETTE_OK);
    assert_eq!(eval(full, &[5]), LLAMETTE_ERR_CONTEXT_FULL);
    // SAFETY: live handles, each freed once.
    unsafe {
        llamette_context_free(full);
        llamette_context_free(c);
        llamette_sampler_free(s);
        llamette_model_free(m);
    }
}

#[test]
fn generate_hands_out_the_greedy_text_and_stops_by_every_rule() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let want = text_of(m, &g.greedy);
    let run = |n_ctx: u32, p: Option<&LlametteGenerateParams>, pieces: &mut Pieces| {
        let c = new_context(m, &params(n_ctx, false));
        let s = greedy_sampler(m);
        let r = generate(c, s, &g.prompt, p, pieces);
        // SAFETY: live handles, freed once.
        unsafe {
            llamette_context_free(c);
            llamette_sampler_free(s);
        }
        r
    };

    let mut pieces = Pieces::default();
    let r = run(256, Some(&gen_params(32)), &mut pieces);
    assert_eq!(r, (LLAMETTE_OK, LLAMETTE_STOP_LENGTH, 32));
    assert_eq!(pieces.text, want);

    // An extra stop token: the 6th greedy token ends it, uncounted, unprinted.
    let stop = [g.greedy[5]];
    let p = LlametteGenerateParams {
        stop_tokens: stop.as_ptr(),
        n_stop_tokens: 1,
        ..gen_params(-1)
    };
    let mut pieces = Pieces::default();
    assert_eq!(
        run(256, Some(&p), &mut pieces),
        (LLAMETTE_OK, LLAMETTE_STOP_EOG, 5)
    );
    assert_eq!(pieces.text, text_of(m, &g.greedy[..5]));

    // A stop string taken from the middle of the text: the output ends right before it.
    let chars: Vec<(usize, char)> = want.char_indices().collect();
    let (at, _) = chars[chars.len() / 2];
    let end = chars.get(chars.len() / 2 + 3).map_or(want.len(), |c| c.0);
    let stop_string = &want[at..end];
    let cut = want.find(stop_string).unwrap();
    for with_lens in [true, false] {
        let nul_terminated = std::ffi::CString::new(stop_string).unwrap();
        let strings = [nul_terminated.as_ptr()];
        let lens = [stop_string.len()];
        let p = LlametteGenerateParams {
            stop_strings: strings.as_ptr(),
            stop_string_lens: if with_lens { lens.as_ptr() } else { null() },
            n_stop_strings: 1,
            ..gen_params(32)
        };
        let mut pieces = Pieces::default();
        let (status, reason, _) = run(256, Some(&p), &mut pieces);
        assert_eq!((status, reason), (LLAMETTE_OK, LLAMETTE_STOP_STRING));
        assert_eq!(pieces.text, want[..cut]);
    }

    // The context fills up 4 tokens after the prompt.
    let mut pieces = Pieces::default();
    assert_eq!(
        run(12, None, &mut pieces),
        (LLAMETTE_OK, LLAMETTE_STOP_CONTEXT_FULL, 4)
    );
    let mut pieces = Pieces::default();
    assert_eq!(run(4, None, &mut pieces).0, LLAMETTE_ERR_CONTEXT_FULL);

    // The callback stops it.
    let mut pieces = Pieces {
        stop_after: Some(3),
        ..Pieces::default()
    };
    let (status, reason, n) = run(256, Some(&gen_params(32)), &mut pieces);
    assert_eq!(
        (status, reason, pieces.count),
        (LLAMETTE_OK, LLAMETTE_STOP_CALLBACK, 3)
    );
    assert!(n >= 3 && want.starts_with(&pieces.text));

    // The abort flag: raised before the call, and raised during it.
    let flag = VolatileU32(1);
    let p = LlametteGenerateParams {
        abort_flag: &flag,
        ..gen_params(32)
    };
    let mut pieces = Pieces::default();
    assert_eq!(
        run(256, Some(&p), &mut pieces),
        (LLAMETTE_OK, LLAMETTE_STOP_ABORTED, 0)
    );
    assert_eq!(pieces.count, 0);
    let flag = VolatileU32(0);
    let p = LlametteGenerateParams {
        abort_flag: &flag,
        ..gen_params(32)
    };
    let mut pieces = Pieces {
        abort: Some((2, &flag)),
        ..Pieces::default()
    };
    let (status, reason, n) = run(256, Some(&p), &mut pieces);
    assert_eq!(
        (status, reason, pieces.count),
        (LLAMETTE_OK, LLAMETTE_STOP_ABORTED, 2)
    );
    assert!(n >= 2 && want.starts_with(&pieces.text));

    // Continuing a generation: n_prompt 0 samples from the logits the context holds.
    let c = new_context(m, &params(256, false));
    let s = greedy_sampler(m);
    let mut first = Pieces::default();
    let mut second = Pieces::default();
    assert_eq!(
        generate(c, s, &g.prompt, Some(&gen_params(10)), &mut first).2,
        10
    );
    assert_eq!(
        generate(c, s, &[], Some(&gen_params(22)), &mut second).2,
        22
    );
    assert_eq!(first.text + &second.text, want);
    // SAFETY: live handles, freed once.
    unsafe {
        llamette_context_free(c);
        llamette_sampler_free(s);
        llamette_model_free(m);
    }
}

#[test]
fn logit_biases_steer_the_sampler() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let c = new_context(m, &params(64, false));
    let s = greedy_sampler(m);
    ok(eval(c, &g.prompt));
    let sample = || {
        let mut t = 0;
        // SAFETY: live handles.
        ok(unsafe { llamette_sampler_sample(s, c, &mut t) });
        t
    };
    assert_eq!(sample(), g.greedy[0]);
    let (tokens, biases) = ([g.greedy[0], 7], [f32::NEG_INFINITY, 100.0]);
    // SAFETY: arrays of two.
    ok(unsafe { llamette_sampler_set_logit_bias(s, tokens.as_ptr(), biases.as_ptr(), 2) });
    assert_eq!(sample(), 7);
    // SAFETY: arrays of one; then none.
    unsafe {
        ok(llamette_sampler_set_logit_bias(
            s,
            tokens.as_ptr(),
            biases.as_ptr(),
            1,
        ));
        assert_ne!(sample(), g.greedy[0]);
        let bad = [1024u32];
        assert_eq!(
            llamette_sampler_set_logit_bias(s, bad.as_ptr(), biases.as_ptr(), 1),
            LLAMETTE_ERR_BAD_TOKEN
        );
        ok(llamette_sampler_set_logit_bias(s, null(), null(), 0));
    }
    assert_eq!(sample(), g.greedy[0]);
    // Bad penalties are refused.
    let p = LlametteSamplerParams {
        penalty_repeat: 0.0,
        ..llamette_sampler_default_params()
    };
    let mut s2 = null_mut();
    // SAFETY: a live model.
    assert_eq!(
        unsafe { llamette_sampler_new(m, &p, &mut s2) },
        LLAMETTE_ERR_INVALID_ARGUMENT
    );
    assert!(s2.is_null());
    // SAFETY: live handles, freed once.
    unsafe {
        llamette_sampler_reset(s);
        llamette_context_free(c);
        llamette_sampler_free(s);
        llamette_model_free(m);
    }
}

#[test]
fn a_context_outlives_its_freed_model() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let c = new_context(m, &params(128, false));
    let s = greedy_sampler(m);
    // SAFETY: contexts and samplers keep the model alive.
    unsafe { llamette_model_free(m) };
    assert_eq!(greedy_ids(c, s, &g.prompt, 32), g.greedy);
    // SAFETY: live handles, freed once (the model goes with the last of them).
    unsafe {
        llamette_context_free(c);
        llamette_sampler_free(s);
    }
}

/// Runs tasks in reverse order on the calling thread, counting calls in `user`.
unsafe extern "C" fn reverse_parallel(
    user: *mut c_void,
    n: u32,
    task: LlametteTaskFn,
    ctx: *mut c_void,
) {
    // SAFETY: `user` is the test's counter; `task` is llamette's, called as documented.
    unsafe {
        (*user.cast::<AtomicUsize>()).fetch_add(1, Ordering::Relaxed);
        let task = task.unwrap();
        for i in (0..n).rev() {
            task(ctx, i);
        }
    }
}

/// Runs tasks on three scoped threads, interleaved.
unsafe extern "C" fn threaded_parallel(
    user: *mut c_void,
    n: u32,
    task: LlametteTaskFn,
    ctx: *mut c_void,
) {
    // SAFETY: as in `reverse_parallel`; the threads end before this function returns.
    unsafe { (*user.cast::<AtomicUsize>()).fetch_add(1, Ordering::Relaxed) };
    let task = task.unwrap();
    let ctx = ctx as usize;
    std::thread::scope(|scope| {
        for t in 0..3 {
            scope.spawn(move || {
                let mut i = t;
                while i < n {
                    // SAFETY: each index once, before the host function returns.
                    unsafe { task(ctx as *mut c_void, i) };
                    i += 3;
                }
            });
        }
    });
}

/// Breaks the contract: runs no task.
unsafe extern "C" fn lazy_parallel(_: *mut c_void, _: u32, _: LlametteTaskFn, _: *mut c_void) {}

/// Breaks the contract: calls an index past the end.
unsafe extern "C" fn overrun_parallel(
    _: *mut c_void,
    n: u32,
    task: LlametteTaskFn,
    ctx: *mut c_void,
) {
    // SAFETY: llamette's task, which must reject the bad index.
    unsafe {
        let task = task.unwrap();
        for i in 0..=n {
            task(ctx, i);
        }
    }
}

#[test]
fn host_parallel_functions_give_identical_results() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let (serial_logits, serial) = {
        let c = new_context(m, &params(128, false));
        let s = greedy_sampler(m);
        ok(eval(c, &g.prompt));
        let l = logits(c);
        assert_logits(&l, &g.last_logits);
        // SAFETY: a live context.
        ok(unsafe { llamette_context_truncate(c, 0) });
        let ids = greedy_ids(c, s, &g.prompt, 8);
        // SAFETY: live handles.
        unsafe {
            llamette_context_free(c);
            llamette_sampler_free(s);
        }
        (l, ids)
    };
    let runs: [(unsafe extern "C" fn(_, _, _, _), u32); 3] = [
        (reverse_parallel, 3),
        (threaded_parallel, 3),
        (threaded_parallel, 16),
    ];
    for (f, width) in runs {
        let calls = AtomicUsize::new(0);
        let c = new_context(m, &params(128, false));
        let s = greedy_sampler(m);
        // SAFETY: a live context; `calls` outlives it.
        ok(unsafe {
            llamette_context_set_parallel(
                c,
                Some(f),
                (&calls as *const AtomicUsize).cast_mut().cast(),
                width,
            )
        });
        ok(eval(c, &g.prompt));
        assert!(logits(c) == serial_logits, "bit for bit, width {width}");
        // SAFETY: a live context.
        ok(unsafe { llamette_context_truncate(c, 0) });
        assert_eq!(greedy_ids(c, s, &g.prompt, 8), serial);
        assert!(calls.load(Ordering::Relaxed) > 10, "the host ran the tasks");
        // Back to serial.
        let before = calls.load(Ordering::Relaxed);
        // SAFETY: a live context.
        ok(unsafe { llamette_context_set_parallel(c, None, null_mut(), 0) });
        ok(eval(c, &[5]));
        assert_eq!(calls.load(Ordering::Relaxed), before);
        // SAFETY: live handles.
        unsafe {
            llamette_context_free(c);
            llamette_sampler_free(s);
        }
    }
    // SAFETY: a live handle.
    unsafe { llamette_model_free(m) };
}

#[test]
fn a_broken_host_contract_is_a_caught_panic() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let c = new_context(m, &params(64, false));
    for (f, what) in [
        (
            lazy_parallel as unsafe extern "C" fn(_, _, _, _),
            "returned after 0 task calls",
        ),
        (overrun_parallel, "index >= n_tasks"),
    ] {
        // SAFETY: a live context.
        ok(unsafe { llamette_context_set_parallel(c, Some(f), null_mut(), 2) });
        assert_eq!(eval(c, &g.prompt), LLAMETTE_ERR_PANIC);
        let e = last_error();
        assert!(
            e.starts_with("llamette_eval: panic: ") && e.contains(what),
            "{e}"
        );
        // SAFETY: a live context.
        assert_eq!(
            unsafe { llamette_context_n_past(c) },
            0,
            "nothing was evaluated"
        );
    }
    // The context still works once the host behaves.
    // SAFETY: a live context.
    ok(unsafe { llamette_context_set_parallel(c, None, null_mut(), 1) });
    ok(eval(c, &g.prompt));
    assert_logits(&logits(c), &g.last_logits);
    // SAFETY: live handles.
    unsafe {
        llamette_context_free(c);
        llamette_model_free(m);
    }
}

/// Counts the host allocator's calls (the `user` of `counting_alloc`/`counting_free`).
#[derive(Default)]
struct Counter {
    allocs: AtomicUsize,
    frees: AtomicUsize,
    bytes: AtomicUsize,
    refuse: bool,
}

unsafe extern "C" fn counting_alloc(user: *mut c_void, size: usize, align: usize) -> *mut c_void {
    // SAFETY: `user` is the test's counter.
    let counter = unsafe { &*user.cast::<Counter>() };
    counter.allocs.fetch_add(1, Ordering::Relaxed);
    counter.bytes.fetch_add(size, Ordering::Relaxed);
    if counter.refuse {
        return null_mut();
    }
    assert_eq!(align, 64);
    // SAFETY: a non-zero size and a power-of-two alignment.
    unsafe { std::alloc::alloc(std::alloc::Layout::from_size_align(size, align).unwrap()).cast() }
}

unsafe extern "C" fn counting_free(user: *mut c_void, ptr: *mut c_void, size: usize, align: usize) {
    // SAFETY: `user` is the test's counter; `ptr` came from `counting_alloc` with this layout.
    unsafe {
        (*user.cast::<Counter>())
            .frees
            .fetch_add(1, Ordering::Relaxed);
        std::alloc::dealloc(
            ptr.cast(),
            std::alloc::Layout::from_size_align(size, align).unwrap(),
        );
    }
}

#[test]
fn contexts_live_in_host_memory() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let p = params(64, false);
    let mut need = 0;
    // SAFETY: a live model.
    ok(unsafe { llamette_context_required_bytes(m, &p, &mut need) });
    assert!(need > 0);

    // The host's allocator: one allocation of exactly `need`, given back at free.
    let counter = Counter::default();
    let a = LlametteAllocator {
        user: (&counter as *const Counter).cast_mut().cast(),
        alloc: Some(counting_alloc),
        free: Some(counting_free),
    };
    let mut c = null_mut();
    // SAFETY: a live model; the allocator's user outlives the context.
    ok(unsafe { llamette_context_new_with_allocator(m, &p, &a, &mut c) });
    assert_eq!(counter.allocs.load(Ordering::Relaxed), 1);
    assert_eq!(counter.bytes.load(Ordering::Relaxed), need);
    let s = greedy_sampler(m);
    assert_eq!(greedy_ids(c, s, &g.prompt, 32), g.greedy);
    assert_eq!(
        counter.allocs.load(Ordering::Relaxed),
        1,
        "evaluation allocates nothing"
    );
    assert_eq!(counter.frees.load(Ordering::Relaxed), 0);
    // SAFETY: a live handle, freed once.
    unsafe { llamette_context_free(c) };
    assert_eq!(counter.frees.load(Ordering::Relaxed), 1);

    // A refusing allocator.
    let refusing = Counter {
        refuse: true,
        ..Counter::default()
    };
    let a2 = LlametteAllocator {
        user: (&refusing as *const Counter).cast_mut().cast(),
        ..a
    };
    let sentinel = 0x40 as *mut LlametteContext;
    let mut c = sentinel;
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            llamette_context_new_with_allocator(m, &p, &a2, &mut c),
            LLAMETTE_ERR_ALLOCATION
        );
        assert_eq!(c, sentinel);
        assert_eq!(refusing.frees.load(Ordering::Relaxed), 0);
        let no_free = LlametteAllocator { free: None, ..a };
        assert_eq!(
            llamette_context_new_with_allocator(m, &p, &no_free, &mut c),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        let zero = LlametteContextParams { n_ctx: 0, ..p };
        assert_eq!(
            llamette_context_new_with_allocator(m, &zero, &a, &mut c),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        let bad_kv = LlametteContextParams {
            kv_type: KvTypeArg(7),
            ..p
        };
        assert_eq!(
            llamette_context_new(m, &bad_kv, &mut c),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        assert_eq!(c, sentinel);
    }
    assert_eq!(
        counter.allocs.load(Ordering::Relaxed),
        1,
        "nothing allocated for bad params"
    );

    // The host's buffer, at an odd address: too small, then enough.
    let mut buf = vec![0u8; need + 1];
    let odd = buf[1..].as_mut_ptr().cast::<c_void>();
    // SAFETY: `buf` outlives the context.
    unsafe {
        assert_eq!(
            llamette_context_new_in(m, &p, odd, need - 1, &mut c),
            LLAMETTE_ERR_BUFFER_TOO_SMALL
        );
        assert!(
            last_error().contains(&format!("{need} bytes needed")),
            "{}",
            last_error()
        );
        ok(llamette_context_new_in(m, &p, odd, need, &mut c));
    }
    llamette_sampler_reset_and(s);
    assert_eq!(greedy_ids(c, s, &g.prompt, 32), g.greedy);
    // SAFETY: live handles, freed once; `buf` is the host's again afterwards.
    unsafe {
        llamette_context_free(c);
        llamette_sampler_free(s);
        llamette_model_free(m);
    }
    drop(buf);
}

fn llamette_sampler_reset_and(s: *mut LlametteSampler) {
    // SAFETY: a live sampler.
    unsafe { llamette_sampler_reset(s) };
}

#[test]
fn null_handles_and_arguments_are_refused() {
    let m = load(fixture(Q8_0));
    let mut n = 0usize;
    let mut b = false;
    let mut p: *const c_char = null();
    let mut fp: *const f32 = null();
    let mut t = 0u32;
    let null_arg = LLAMETTE_ERR_NULL_ARGUMENT;
    // SAFETY: every call passes NULL where a pointer is required; nothing is dereferenced.
    unsafe {
        let mut mo = null_mut();
        assert_eq!(llamette_model_from_memory(null(), 10, &mut mo), null_arg);
        let bytes = fixture(Q8_0);
        assert_eq!(
            llamette_model_from_memory(bytes.as_ptr(), bytes.len(), null_mut()),
            null_arg
        );
        let parts = [bytes.as_ptr(), null()];
        let lens = [bytes.len(), 4];
        assert_eq!(
            llamette_model_from_parts(parts.as_ptr(), lens.as_ptr(), 2, &mut mo),
            null_arg
        );
        assert!(last_error().contains("parts[1]"), "{}", last_error());
        assert_eq!(
            llamette_model_from_parts(null(), lens.as_ptr(), 1, &mut mo),
            null_arg
        );
        assert_eq!(llamette_model_load(null(), &mut mo), null_arg);
        assert!(mo.is_null());
        assert_eq!(llamette_model_info(null(), null_mut()), null_arg);
        assert_eq!(
            llamette_model_architecture(null(), null_mut(), 0, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_model_architecture(m, null_mut(), 8, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_model_architecture(m, null_mut(), 0, null_mut()),
            null_arg
        );
        assert_eq!(
            llamette_model_meta_string(m, null(), null_mut(), 0, &mut n),
            null_arg
        );
        assert_eq!(llamette_model_is_eog(null(), 2, &mut b), null_arg);
        assert_eq!(llamette_model_is_eog(m, 2, null_mut()), null_arg);
        assert_eq!(
            llamette_tokenize(null(), null(), 0, true, true, null_mut(), 0, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_tokenize(m, null(), 3, true, true, null_mut(), 0, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_token_to_piece(null(), 1, false, null_mut(), 0, &mut n),
            null_arg
        );
        let mut d = null_mut();
        assert_eq!(llamette_detokenizer_new(null(), &mut d), null_arg);
        assert_eq!(
            llamette_detokenizer_push(null_mut(), 1, &mut p, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_detokenizer_finish(null_mut(), &mut p, &mut n),
            null_arg
        );
        let f = ChatFormatArg(0);
        assert_eq!(
            llamette_chat_render_ids(null(), f, null(), 0, true, null_mut(), 0, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_chat_render(null(), f, null(), 0, true, null_mut(), 0, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_chat_stop_tokens(null(), f, null_mut(), 0, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_context_required_bytes(null(), null(), &mut n),
            null_arg
        );
        let mut c = null_mut();
        assert_eq!(llamette_context_new(null_mut(), null(), &mut c), null_arg);
        assert_eq!(llamette_context_new(m, null(), null_mut()), null_arg);
        assert_eq!(
            llamette_context_new_in(m, null(), null_mut(), 100, &mut c),
            null_arg
        );
        assert_eq!(
            llamette_context_new_with_allocator(m, null(), null(), &mut c),
            null_arg
        );
        assert!(c.is_null());
        assert_eq!(
            llamette_context_set_parallel(null_mut(), None, null_mut(), 1),
            null_arg
        );
        assert_eq!(llamette_eval(null_mut(), null(), 0), null_arg);
        assert_eq!(llamette_logits(null(), &mut fp, &mut n), null_arg);
        assert_eq!(llamette_logits_at(null(), 0, &mut fp, &mut n), null_arg);
        assert_eq!(llamette_context_n_past(null()), 0);
        assert_eq!(llamette_context_truncate(null_mut(), 0), null_arg);
        let mut s = null_mut();
        assert_eq!(llamette_sampler_new(null(), null(), &mut s), null_arg);
        assert_eq!(
            llamette_sampler_set_logit_bias(null_mut(), null(), null(), 0),
            null_arg
        );
        assert_eq!(
            llamette_sampler_sample(null_mut(), null(), &mut t),
            null_arg
        );
        assert_eq!(llamette_sampler_accept(null_mut(), 1), null_arg);
        let mut reason = LLAMETTE_STOP_LENGTH;
        assert_eq!(
            llamette_generate(
                null_mut(),
                null_mut(),
                null(),
                0,
                null(),
                None,
                null_mut(),
                &mut reason,
                &mut t
            ),
            null_arg
        );
        // Frees and resets of NULL are no-ops.
        llamette_model_free(null_mut());
        llamette_context_free(null_mut());
        llamette_sampler_free(null_mut());
        llamette_sampler_reset(null_mut());
        llamette_detokenizer_free(null_mut());

        // NULL defaults: context parameters, sampler parameters, generation rules; a NULL
        // piece callback; NULL reason and count.
        ok(llamette_context_new(m, null(), &mut c));
        assert_eq!(llamette_context_n_past(c), 0);
        ok(llamette_sampler_new(m, null(), &mut s));
        assert_eq!(
            llamette_sampler_sample(s, c, &mut t),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        let g = golden();
        let p = gen_params(3);
        ok(llamette_generate(
            c,
            s,
            g.prompt.as_ptr(),
            g.prompt.len(),
            &p,
            None,
            null_mut(),
            null_mut(),
            null_mut(),
        ));
        assert_eq!(llamette_context_n_past(c), 8 + 3);
        llamette_context_free(c);
        llamette_sampler_free(s);
        llamette_model_free(m);
    }
}

#[test]
fn a_vocabulary_only_file_gives_a_handle_without_weights() {
    let m = load(fixture("vocab/codellama-70b-instruct-vocab.gguf"));
    let info = llamette_model_info_of(m);
    assert_eq!(
        (info.n_vocab, info.n_layer, info.n_embd, info.eot),
        (32016, 80, 8192, 32015)
    );
    assert_eq!(info.copied_bytes, 0);
    let mut c = null_mut();
    // SAFETY: a live handle; NULL params mean the defaults.
    let st = unsafe { llamette_context_new(m, null(), &mut c) };
    assert_eq!(st, LLAMETTE_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("vocabulary-only"), "{}", last_error());
    assert!(c.is_null());
    // SAFETY: the handle is live and freed once.
    unsafe { llamette_model_free(m) };
}

// ---- sequences, batches, saved state ----

/// Golden case 1 of the q8_0 model (a 34-token prompt): the prompt, llama.cpp's greedy tokens
/// and the logits after the prompt.
fn golden1() -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let g = json("golden/tiny-codellama.q8_0.json");
    let case = &g["cases"][1];
    (
        case["prompt"].u32_vec(),
        case["greedy"].u32_vec(),
        case["last_logits"].f32_vec(),
    )
}

fn params_ex(n_ctx: u32, n_seq_max: u32) -> LlametteContextParamsEx {
    LlametteContextParamsEx {
        n_ctx,
        n_batch: 64,
        n_seq_max,
        ..llamette_context_default_params_ex()
    }
}

fn new_context_ex(m: *mut LlametteModel, p: &LlametteContextParamsEx) -> *mut LlametteContext {
    let mut c = null_mut();
    // SAFETY: a live model, a valid params struct.
    ok(unsafe { llamette_context_new_ex(m, p, &mut c) });
    assert!(!c.is_null());
    c
}

fn bt(token: u32, pos: u32, seq: u32, logits: bool) -> LlametteBatchToken {
    LlametteBatchToken {
        token,
        pos,
        seqs: 1 << seq,
        logits,
    }
}

/// A prompt as batch tokens of one sequence, logits for the last.
fn prompt_batch(tokens: &[u32], seq: u32) -> Vec<LlametteBatchToken> {
    let n = tokens.len();
    let at = |(i, &t): (usize, &u32)| bt(t, i as u32, seq, i + 1 == n);
    tokens.iter().enumerate().map(at).collect()
}

fn decode(c: *mut LlametteContext, batch: &[LlametteBatchToken]) -> LlametteStatus {
    // SAFETY: a live context and a valid slice.
    unsafe { llamette_decode(c, batch.as_ptr(), batch.len()) }
}

fn logits_ith(c: *const LlametteContext, i: usize) -> Result<Vec<f32>, LlametteStatus> {
    let (mut p, mut n) = (null(), 0);
    // SAFETY: a live context; the row is copied before the next call.
    unsafe {
        match llamette_logits_ith(c, i, &mut p, &mut n) {
            LLAMETTE_OK => Ok(core::slice::from_raw_parts(p, n).to_vec()),
            s => Err(s),
        }
    }
}

fn pos_max(c: *const LlametteContext, seq: i32) -> i64 {
    let mut p = i64::MIN;
    // SAFETY: a live context.
    ok(unsafe { llamette_seq_pos_max(c, seq, &mut p) });
    p
}

fn pos_min(c: *const LlametteContext, seq: i32) -> i64 {
    let mut p = i64::MIN;
    // SAFETY: a live context.
    ok(unsafe { llamette_seq_pos_min(c, seq, &mut p) });
    p
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

/// The whole state of a context, through the C calls.
fn state_of(c: *const LlametteContext) -> Vec<u8> {
    let mut n = 0;
    // SAFETY: a live context; the buffer holds `n` bytes.
    unsafe {
        ok(llamette_state_size(c, &mut n));
        let mut buf = vec![0u8; n];
        let mut written = 0;
        ok(llamette_state_write(c, buf.as_mut_ptr(), n, &mut written));
        assert_eq!(written, n);
        buf
    }
}

/// The Rust API's context for the same model bytes.
fn rust_params(n_ctx: usize, n_seq_max: usize) -> crate::ContextParams {
    crate::ContextParams {
        n_ctx,
        n_batch: 64,
        n_seq_max,
        ..crate::ContextParams::default()
    }
}

fn rust_batch(batch: &[LlametteBatchToken]) -> Vec<crate::BatchToken> {
    batch
        .iter()
        .map(|b| crate::BatchToken {
            token: b.token,
            pos: b.pos as usize,
            seqs: crate::SeqSet(b.seqs),
            logits: b.logits,
        })
        .collect()
}

#[test]
fn extensible_params_make_contexts_of_several_sequences() {
    let m = load(fixture(Q8_0));
    let d = llamette_context_default_params_ex();
    let old = llamette_context_default_params();
    assert_eq!(d.size, core::mem::size_of::<LlametteContextParamsEx>());
    assert_eq!(
        (d.n_ctx, d.n_batch, d.kv_type, d.logits_all),
        (old.n_ctx, old.n_batch, old.kv_type, old.logits_all)
    );
    assert_eq!((d.n_seq_max, d.n_outputs_max), (1, 0));
    let required = |p: *const LlametteContextParamsEx| {
        let mut n = usize::MAX;
        // SAFETY: a live model; `p` valid or NULL.
        let s = unsafe { llamette_context_required_bytes_ex(m, p, &mut n) };
        (s, n)
    };
    // One sequence: the same size as the old struct's context; NULL: the defaults.
    let p1 = params_ex(64, 1);
    let mut old_n = 0;
    // SAFETY: a live model.
    unsafe {
        ok(llamette_context_required_bytes(
            m,
            &params(64, false),
            &mut old_n,
        ));
        let mut n = 0;
        ok(llamette_context_required_bytes(m, null(), &mut n));
        assert_eq!(required(null()), (LLAMETTE_OK, n));
    }
    assert_eq!(required(&p1), (LLAMETTE_OK, old_n));
    // More sequences keep more logits rows; so does n_outputs_max.
    let p4 = params_ex(64, 4);
    let (s, n4) = required(&p4);
    assert_eq!(s, LLAMETTE_OK);
    assert_eq!(n4 - old_n, 3 * 4 * 1024, "three more rows of 1024 logits");
    let p4o = LlametteContextParamsEx {
        n_outputs_max: 8,
        ..p4
    };
    assert_eq!(required(&p4o), (LLAMETTE_OK, n4 + 4 * 4 * 1024));
    // Embeddings: a row of n_embd (256) floats per output row (4); a caller compiled before the
    // field existed passes the older size, and its struct ends before it.
    let emb = LlametteContextParamsEx {
        embeddings: true,
        ..p4
    };
    assert_eq!(required(&emb), (LLAMETTE_OK, n4 + 4 * 256 * 4));
    assert_eq!(
        required(&LlametteContextParamsEx { size: 32, ..emb }),
        (LLAMETTE_OK, n4)
    );
    // A size this library does not know, or n_seq_max out of 1..=64: refused, out untouched.
    for bad in [
        LlametteContextParamsEx { size: 0, ..p4 },
        LlametteContextParamsEx { size: 16, ..p4 },
        LlametteContextParamsEx { size: 48, ..p4 },
        LlametteContextParamsEx { n_seq_max: 0, ..p4 },
        LlametteContextParamsEx {
            n_seq_max: 65,
            ..p4
        },
        LlametteContextParamsEx { n_ctx: 0, ..p4 },
        LlametteContextParamsEx {
            kv_type: KvTypeArg(9),
            ..p4
        },
    ] {
        assert_eq!(
            required(&bad),
            (LLAMETTE_ERR_INVALID_ARGUMENT, usize::MAX),
            "{bad:?}"
        );
        let sentinel = 0x40 as *mut LlametteContext;
        let mut c = sentinel;
        // SAFETY: a live model.
        unsafe {
            assert_eq!(
                llamette_context_new_ex(m, &bad, &mut c),
                LLAMETTE_ERR_INVALID_ARGUMENT
            );
        }
        assert_eq!(c, sentinel);
    }
    assert_eq!(last_error(), "llamette_context_new_ex: unknown KV type 9");
    let _ = required(&LlametteContextParamsEx { size: 16, ..p4 });
    assert!(last_error().contains("`p->size` is 16"), "{}", last_error());

    // The three ways to make a context, each with 4 sequences: sequence 3 exists, 4 does not.
    let check_seqs = |c: *mut LlametteContext| {
        // SAFETY: a live context.
        unsafe {
            ok(llamette_seq_keep(c, 3));
            assert_eq!(llamette_seq_keep(c, 4), LLAMETTE_ERR_INVALID_ARGUMENT);
            assert!(last_error().contains("n_seq_max (4)"), "{}", last_error());
        }
        let p = [bt(1, 0, 3, true)];
        ok(decode(c, &p));
        assert_eq!(pos_max(c, 3), 0);
    };
    let c = new_context_ex(m, &p4);
    check_seqs(c);
    let counter = Counter::default();
    let a = LlametteAllocator {
        user: (&counter as *const Counter).cast_mut().cast(),
        alloc: Some(counting_alloc),
        free: Some(counting_free),
    };
    let mut ca = null_mut();
    // SAFETY: a live model; the counter outlives the context.
    ok(unsafe { llamette_context_new_with_allocator_ex(m, &p4, &a, &mut ca) });
    assert_eq!(counter.bytes.load(Ordering::Relaxed), n4);
    check_seqs(ca);
    let mut buf = vec![0u8; n4 + 1];
    let odd = buf[1..].as_mut_ptr().cast::<c_void>();
    let mut cb = null_mut();
    // SAFETY: `buf` outlives the context.
    unsafe {
        assert_eq!(
            llamette_context_new_in_ex(m, &p4, odd, n4 - 1, &mut cb),
            LLAMETTE_ERR_BUFFER_TOO_SMALL
        );
        assert!(cb.is_null());
        ok(llamette_context_new_in_ex(m, &p4, odd, n4, &mut cb));
    }
    check_seqs(cb);
    // The old constructors keep one sequence.
    let old_c = new_context(m, &params(64, false));
    // SAFETY: live handles, each freed once.
    unsafe {
        assert_eq!(llamette_seq_keep(old_c, 1), LLAMETTE_ERR_INVALID_ARGUMENT);
        ok(llamette_seq_keep(old_c, 0));
        llamette_context_free(old_c);
        llamette_context_free(c);
        llamette_context_free(ca);
        llamette_context_free(cb);
        assert_eq!(counter.frees.load(Ordering::Relaxed), 1);
        llamette_model_free(m);
    }
    drop(buf);
}

#[test]
fn decoding_two_sequences_gives_the_rust_apis_logits() {
    let g = golden();
    let (prompt1, greedy1, last1) = golden1();
    let m = load(fixture(Q8_0));
    let c = new_context_ex(m, &params_ex(128, 2));
    // One batch: both prompts, each asking for the logits of its last token.
    let mut batch = prompt_batch(&g.prompt, 0);
    batch.extend(prompt_batch(&prompt1, 1));
    let (i0, i1) = (g.prompt.len() - 1, batch.len() - 1);
    ok(decode(c, &batch));

    // The Rust API on the same batch: the same bits.
    let model = crate::Model::from_bytes(fixture(Q8_0)).unwrap();
    let mut rc = crate::Context::new(&model, rust_params(128, 2)).unwrap();
    rc.decode(&rust_batch(&batch), &crate::Serial).unwrap();
    assert_eq!(logits_ith(c, i0).unwrap(), rc.logits_ith(i0).unwrap());
    assert_eq!(logits_ith(c, i1).unwrap(), rc.logits_ith(i1).unwrap());
    // And llama.cpp's logits of each prompt alone.
    assert_logits(&logits_ith(c, i0).unwrap(), &g.last_logits);
    assert_logits(&logits_ith(c, i1).unwrap(), &last1);
    // `llamette_logits` is the last row; tokens that did not ask have none.
    assert_eq!(logits(c), logits_ith(c, i1).unwrap());
    assert_eq!(logits_ith(c, 0), Err(LLAMETTE_ERR_INVALID_ARGUMENT));
    assert_eq!(
        logits_ith(c, batch.len()),
        Err(LLAMETTE_ERR_INVALID_ARGUMENT)
    );
    assert_eq!((pos_min(c, 0), pos_max(c, 0)), (0, 7));
    assert_eq!((pos_min(c, 1), pos_max(c, 1)), (0, 33));

    // Greedy steps of both sequences in one batch each: llama.cpp's tokens for each prompt.
    let (mut t0, mut t1) = (
        argmax(&logits_ith(c, i0).unwrap()),
        argmax(&logits_ith(c, i1).unwrap()),
    );
    for step in 0..6u32 {
        assert_eq!(t0, g.greedy[step as usize], "sequence 0, step {step}");
        assert_eq!(t1, greedy1[step as usize], "sequence 1, step {step}");
        let next = [bt(t0, 8 + step, 0, true), bt(t1, 34 + step, 1, true)];
        ok(decode(c, &next));
        rc.decode(&rust_batch(&next), &crate::Serial).unwrap();
        assert_eq!(logits_ith(c, 0).unwrap(), rc.logits_ith(0).unwrap());
        assert_eq!(logits_ith(c, 1).unwrap(), rc.logits_ith(1).unwrap());
        t0 = argmax(&logits_ith(c, 0).unwrap());
        t1 = argmax(&logits_ith(c, 1).unwrap());
    }

    // Refused batches change nothing (not the cache, not the logits).
    let before = state_of(c);
    let (p0, p1) = (pos_max(c, 0) as u32, pos_max(c, 1) as u32);
    let bad: [(&[LlametteBatchToken], LlametteStatus); 8] = [
        (&[], LLAMETTE_ERR_INVALID_ARGUMENT),
        (&[bt(1024, p0 + 1, 0, true)], LLAMETTE_ERR_BAD_TOKEN),
        (
            &[LlametteBatchToken {
                seqs: 0,
                ..bt(5, p0 + 1, 0, true)
            }],
            LLAMETTE_ERR_INVALID_ARGUMENT,
        ),
        (&[bt(5, 0, 2, true)], LLAMETTE_ERR_INVALID_ARGUMENT),
        (&[bt(5, p0 + 2, 0, true)], LLAMETTE_ERR_INVALID_ARGUMENT),
        (&[bt(5, u32::MAX, 0, true)], LLAMETTE_ERR_INVALID_ARGUMENT),
        // Three rows of logits in a context that keeps two.
        (
            &[
                bt(5, p0 + 1, 0, true),
                bt(6, p0 + 2, 0, true),
                bt(7, p1 + 1, 1, true),
            ],
            LLAMETTE_ERR_INVALID_ARGUMENT,
        ),
        (
            &[bt(5, p1 + 1, 1, true), bt(1024, p0 + 1, 0, true)],
            LLAMETTE_ERR_BAD_TOKEN,
        ),
    ];
    for (b, want) in bad {
        assert_eq!(decode(c, b), want, "{b:?}: {}", last_error());
        assert_eq!(state_of(c), before, "{b:?}");
    }
    // More tokens than free cells: 128 - 14 - 40 = 74 free.
    let long: Vec<_> = (0..75).map(|i| bt(5, p0 + 1 + i, 0, false)).collect();
    assert_eq!(decode(c, &long), LLAMETTE_ERR_CONTEXT_FULL);
    assert_eq!(state_of(c), before);
    // A long batch (converted on the heap) works like a short one.
    let long: Vec<_> = (0..74).map(|i| bt(5, p0 + 1 + i, 0, i == 73)).collect();
    ok(decode(c, &long));
    assert_eq!(pos_max(c, 0), (p0 + 74) as i64);
    // SAFETY: NULL arguments are refused; live handles are freed once.
    unsafe {
        assert_eq!(llamette_decode(c, null(), 1), LLAMETTE_ERR_NULL_ARGUMENT);
        assert_eq!(
            llamette_decode(null_mut(), batch.as_ptr(), 1),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        llamette_context_free(c);
        llamette_model_free(m);
    }
}

#[test]
fn sequence_operations_edit_the_cache_as_the_rust_api_does() {
    let g = golden();
    let (prompt1, _, _) = golden1();
    let m = load(fixture(Q8_0));
    let model = crate::Model::from_bytes(fixture(Q8_0)).unwrap();
    let c = new_context_ex(m, &params_ex(128, 3));
    ok(decode(c, &prompt_batch(&g.prompt, 0)));

    // A copy of sequence 0 continues as sequence 0 would.
    // SAFETY: a live context.
    unsafe {
        ok(llamette_seq_cp(c, 0, 1, -1, -1));
        assert_eq!(
            llamette_seq_cp(c, 0, 3, -1, -1),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            llamette_seq_cp(c, -1, 1, -1, -1),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
    }
    assert_eq!((pos_min(c, 1), pos_max(c, 1)), (0, 7));
    ok(decode(c, &[bt(g.greedy[0], 8, 1, true)]));
    assert_eq!(argmax(&logits(c)), g.greedy[1]);
    // A part of it: positions 2..5.
    // SAFETY: a live context.
    unsafe { ok(llamette_seq_cp(c, 0, 2, 2, 5)) };
    assert_eq!((pos_min(c, 2), pos_max(c, 2)), (2, 4));

    // Removal: one sequence, a range, every sequence.
    // SAFETY: a live context.
    unsafe {
        ok(llamette_seq_rm(c, 1, -1, -1));
        assert_eq!(pos_max(c, 1), -1);
        assert_eq!(pos_min(c, 1), -1);
        assert_eq!(pos_max(c, 0), 7, "the shared cells stay sequence 0's");
        ok(llamette_seq_rm(c, -1, 4, -1));
        assert_eq!((pos_max(c, 0), pos_max(c, 2)), (3, 3));
        assert_eq!(llamette_seq_rm(c, -2, 0, -1), LLAMETTE_ERR_INVALID_ARGUMENT);
        assert_eq!(llamette_seq_rm(c, 3, 0, -1), LLAMETTE_ERR_INVALID_ARGUMENT);
        ok(llamette_seq_keep(c, 2));
        assert_eq!((pos_max(c, 0), pos_min(c, 2)), (-1, 2));
        assert_eq!(llamette_seq_keep(c, -1), LLAMETTE_ERR_INVALID_ARGUMENT);
        ok(llamette_seq_rm(c, -1, -1, -1));
        assert_eq!(pos_max(c, 2), -1);
    }

    // Context shift and self-extend: the same edits through C and Rust, then the same logits.
    let mut rc = crate::Context::new(&model, rust_params(128, 3)).unwrap();
    let batch = prompt_batch(&prompt1, 0);
    ok(decode(c, &batch));
    rc.decode(&rust_batch(&batch), &crate::Serial).unwrap();
    // SAFETY: a live context.
    unsafe {
        ok(llamette_seq_rm(c, 0, 1, 9));
        ok(llamette_seq_add(c, 0, 9, -1, -8));
        assert_eq!(
            llamette_seq_add(c, 0, 0, -1, i64::MAX),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            llamette_seq_add(c, 5, 0, -1, 1),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
    }
    rc.seq_rm(Some(0), 1..9).unwrap();
    rc.seq_add(0, 9.., -8).unwrap();
    assert_eq!(pos_max(c, 0), 25);
    let step = [bt(7, 26, 0, true)];
    ok(decode(c, &step));
    rc.decode(&rust_batch(&step), &crate::Serial).unwrap();
    assert_eq!(logits(c), rc.logits());
    // SAFETY: a live context.
    unsafe {
        ok(llamette_seq_div(c, 0, 10, -1, 2));
        assert_eq!(
            llamette_seq_div(c, 0, 0, -1, 0),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            llamette_seq_div(c, 0, 0, -1, -2),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
    }
    rc.seq_div(0, 10.., 2).unwrap();
    assert_eq!(pos_max(c, 0), 13);
    let step = [bt(9, 14, 0, true)];
    ok(decode(c, &step));
    rc.decode(&rust_batch(&step), &crate::Serial).unwrap();
    assert_eq!(logits(c), rc.logits());

    // Prefix reuse (sequence 0): keeps the cached start of a new prompt, short of its last token.
    let c2 = new_context(m, &params(64, false));
    ok(eval(c2, &g.prompt));
    let mut next: Vec<u32> = g.prompt[..6].to_vec();
    next.extend([100, 200]);
    let mut kept = usize::MAX;
    // SAFETY: live contexts.
    unsafe {
        ok(llamette_context_reuse_prefix(
            c2,
            next.as_ptr(),
            next.len(),
            &mut kept,
        ));
        assert_eq!(kept, 6);
        assert_eq!(llamette_context_n_past(c2), 6);
        ok(llamette_context_reuse_prefix(
            c2,
            next.as_ptr(),
            6,
            &mut kept,
        ));
        assert_eq!(kept, 5, "the last token is evaluated again");
        ok(llamette_context_reuse_prefix(c2, null(), 0, &mut kept));
        assert_eq!((kept, llamette_context_n_past(c2)), (0, 0));
        let mut k = 77;
        assert_eq!(
            llamette_context_reuse_prefix(c2, null(), 2, &mut k),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            llamette_context_reuse_prefix(c2, next.as_ptr(), 2, null_mut()),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        assert_eq!(k, 77);
        llamette_context_free(c2);
        llamette_context_free(c);
        llamette_model_free(m);
    }
}

#[test]
fn a_restored_state_continues_with_the_uninterrupted_logits() {
    let g = golden();
    let (prompt1, _, _) = golden1();
    let m = load(fixture(Q8_0));
    let p = params_ex(128, 2);
    let c = new_context_ex(m, &p);
    let mut batch = prompt_batch(&g.prompt, 0);
    batch.extend(prompt_batch(&prompt1, 1));
    ok(decode(c, &batch));

    // Asking for the size, a buffer too small, then enough.
    let mut need = 0;
    // SAFETY: a live context; every buffer is as long as said.
    let saved = unsafe {
        ok(llamette_state_size(c, &mut need));
        let mut written = 0;
        assert_eq!(
            llamette_state_write(c, null_mut(), 0, &mut written),
            LLAMETTE_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(written, need);
        let mut buf = vec![0u8; need];
        written = 0;
        assert_eq!(
            llamette_state_write(c, buf.as_mut_ptr(), need - 1, &mut written),
            LLAMETTE_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(written, need);
        assert!(buf.iter().all(|&b| b == 0), "nothing written");
        written = 0;
        ok(llamette_state_write(
            c,
            buf.as_mut_ptr(),
            need,
            &mut written,
        ));
        assert_eq!(written, need);
        buf
    };
    let logits_saved = logits(c);

    // Continue without interruption.
    let step = [
        bt(g.greedy[0], 8, 0, true),
        bt(3, 34, 1, true),
        bt(4, 35, 1, true),
    ];
    let p3 = LlametteContextParamsEx {
        n_outputs_max: 3,
        ..p
    };
    let c = {
        // SAFETY: a live handle, freed once.
        unsafe { llamette_context_free(c) };
        new_context_ex(m, &p3)
    };
    // The state restores into a context of other n_outputs_max and more cells, too.
    let restore = |c: *mut LlametteContext| {
        // SAFETY: a live context; `saved` holds its length.
        ok(unsafe { llamette_state_read(c, saved.as_ptr(), saved.len()) });
        assert_eq!(logits(c), logits_saved, "the last logits come back");
    };
    restore(c);
    ok(decode(c, &step));
    let uninterrupted: Vec<Vec<f32>> = (0..3).map(|i| logits_ith(c, i).unwrap()).collect();
    let bigger = new_context_ex(m, &LlametteContextParamsEx { n_ctx: 256, ..p3 });
    restore(bigger);
    ok(decode(bigger, &step));
    for (i, row) in uninterrupted.iter().enumerate() {
        assert_eq!(&logits_ith(bigger, i).unwrap(), row, "row {i}");
    }

    // States that do not fit: refused with LLAMETTE_ERR_BAD_STATE, the context unchanged.
    let before = state_of(bigger);
    let mut corrupt = saved.clone();
    corrupt[saved.len() / 2] ^= 1;
    let small = new_context_ex(m, &params_ex(32, 2));
    let one_seq = new_context_ex(m, &params_ex(128, 1));
    let f32_kv = new_context_ex(
        m,
        &LlametteContextParamsEx {
            kv_type: KvTypeArg(LlametteKvType::LLAMETTE_KV_F32 as u32),
            ..p
        },
    );
    // SAFETY: live contexts; the buffers hold their lengths.
    unsafe {
        for (what, bytes) in [
            ("truncated", &saved[..saved.len() - 1]),
            ("corrupt", &corrupt[..]),
            ("empty", &saved[..0]),
        ] {
            assert_eq!(
                llamette_state_read(bigger, bytes.as_ptr(), bytes.len()),
                LLAMETTE_ERR_BAD_STATE,
                "{what}"
            );
            assert!(
                last_error().starts_with("llamette_state_read: "),
                "{}",
                last_error()
            );
        }
        assert_eq!(state_of(bigger), before);
        for other in [small, one_seq, f32_kv] {
            let before = state_of(other);
            assert_eq!(
                llamette_state_read(other, saved.as_ptr(), saved.len()),
                LLAMETTE_ERR_BAD_STATE
            );
            assert_eq!(state_of(other), before);
        }
        assert_eq!(
            llamette_state_read(bigger, null(), 0),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
    }

    // One sequence: saved from the two-sequence context, restored as sequence 0 of another.
    let c1 = new_context_ex(m, &p);
    ok(decode(c1, &batch));
    // SAFETY: live contexts; every buffer is as long as said.
    unsafe {
        let mut n = 0;
        ok(llamette_state_seq_size(c1, 1, &mut n));
        assert!(n < need);
        let mut written = 0;
        assert_eq!(
            llamette_state_seq_write(c1, 1, null_mut(), 0, &mut written),
            LLAMETTE_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(written, n);
        let mut seq = vec![0u8; n];
        ok(llamette_state_seq_write(
            c1,
            1,
            seq.as_mut_ptr(),
            n,
            &mut written,
        ));
        assert_eq!(written, n);
        assert_eq!(
            llamette_state_seq_size(c1, 2, &mut n),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            llamette_state_seq_write(c1, -1, seq.as_mut_ptr(), seq.len(), &mut written),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        let fresh = new_context(m, &params(64, false));
        ok(llamette_state_seq_read(fresh, 0, seq.as_ptr(), seq.len()));
        assert_eq!(llamette_context_n_past(fresh), 34);
        ok(eval(fresh, &[3, 4]));
        // As the uninterrupted sequence 1 (its cells sit elsewhere in that context).
        assert_logits(&logits(fresh), &uninterrupted[2]);
        assert_eq!(
            llamette_state_seq_read(fresh, 1, seq.as_ptr(), seq.len()),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            llamette_state_seq_read(fresh, -1, seq.as_ptr(), seq.len()),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        // A whole-context state is not a sequence's, and the other way round.
        assert_eq!(
            llamette_state_seq_read(fresh, 0, saved.as_ptr(), saved.len()),
            LLAMETTE_ERR_BAD_STATE
        );
        assert_eq!(
            llamette_state_read(fresh, seq.as_ptr(), seq.len()),
            LLAMETTE_ERR_BAD_STATE
        );
        // No run of 34 free cells: 40 cells, 10 in use.
        let tight = new_context_ex(m, &params_ex(40, 2));
        ok(decode(tight, &prompt_batch(&prompt1[..10], 0)));
        let before = state_of(tight);
        assert_eq!(
            llamette_state_seq_read(tight, 1, seq.as_ptr(), seq.len()),
            LLAMETTE_ERR_CONTEXT_FULL
        );
        assert_eq!(state_of(tight), before);
        llamette_context_free(tight);
        llamette_context_free(fresh);
    }

    // Files: save, load into a fresh context, continue.
    let dir = std::env::temp_dir().join(format!("llamette-ffi-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = std::ffi::CString::new(dir.join("state.bin").to_str().unwrap()).unwrap();
    let missing = std::ffi::CString::new(dir.join("missing.bin").to_str().unwrap()).unwrap();
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"not a state").unwrap();
    let junk = std::ffi::CString::new(junk.to_str().unwrap()).unwrap();
    // SAFETY: live contexts; NUL-terminated paths.
    unsafe {
        ok(llamette_state_save_file(c1, path.as_ptr()));
        assert_eq!(
            std::fs::read(dir.join("state.bin")).unwrap(),
            saved,
            "the same bytes as llamette_state_write"
        );
        let from_file = new_context_ex(m, &p3);
        ok(llamette_state_load_file(from_file, path.as_ptr()));
        ok(decode(from_file, &step));
        for (i, row) in uninterrupted.iter().enumerate() {
            assert_eq!(&logits_ith(from_file, i).unwrap(), row, "row {i}");
        }
        let before = state_of(from_file);
        assert_eq!(
            llamette_state_load_file(from_file, missing.as_ptr()),
            LLAMETTE_ERR_IO
        );
        assert_eq!(
            llamette_state_load_file(from_file, junk.as_ptr()),
            LLAMETTE_ERR_BAD_STATE
        );
        assert_eq!(
            llamette_state_load_file(from_file, null()),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            llamette_state_save_file(from_file, null()),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        let nowhere = std::ffi::CString::new(dir.join("no/such/dir").to_str().unwrap()).unwrap();
        assert_eq!(
            llamette_state_save_file(from_file, nowhere.as_ptr()),
            LLAMETTE_ERR_IO
        );
        assert_eq!(state_of(from_file), before);
        for h in [from_file, c1, small, one_seq, f32_kv, bigger, c] {
            llamette_context_free(h);
        }
        llamette_model_free(m);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn null_arguments_of_the_sequence_and_state_calls_are_refused() {
    let m = load(fixture(Q8_0));
    let c = new_context_ex(m, &params_ex(32, 2));
    let null_arg = LLAMETTE_ERR_NULL_ARGUMENT;
    let nc = null_mut::<LlametteContext>();
    let mut n = 5usize;
    let mut pos = 5i64;
    let mut fp: *const f32 = null();
    let mut out_c = null_mut();
    let mut buf = [0u8; 8];
    let d = llamette_context_default_params_ex();
    // SAFETY: NULL where a pointer is required; nothing is dereferenced.
    unsafe {
        assert_eq!(
            llamette_context_required_bytes_ex(null(), &d, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_context_required_bytes_ex(m, &d, null_mut()),
            null_arg
        );
        assert_eq!(
            llamette_context_new_ex(null_mut(), &d, &mut out_c),
            null_arg
        );
        assert_eq!(llamette_context_new_ex(m, &d, null_mut()), null_arg);
        assert_eq!(
            llamette_context_new_in_ex(m, &d, null_mut(), 100, &mut out_c),
            null_arg
        );
        assert_eq!(
            llamette_context_new_with_allocator_ex(m, &d, null(), &mut out_c),
            null_arg
        );
        assert!(out_c.is_null());
        assert_eq!(llamette_decode(nc, null(), 0), null_arg);
        assert_eq!(llamette_logits_ith(nc, 0, &mut fp, &mut n), null_arg);
        assert_eq!(llamette_logits_ith(c, 0, null_mut(), &mut n), null_arg);
        assert_eq!(llamette_logits_ith(c, 0, &mut fp, null_mut()), null_arg);
        assert_eq!(llamette_seq_rm(nc, -1, -1, -1), null_arg);
        assert_eq!(llamette_seq_cp(nc, 0, 1, -1, -1), null_arg);
        assert_eq!(llamette_seq_keep(nc, 0), null_arg);
        assert_eq!(llamette_seq_add(nc, 0, -1, -1, 1), null_arg);
        assert_eq!(llamette_seq_div(nc, 0, -1, -1, 2), null_arg);
        assert_eq!(llamette_seq_pos_min(nc, 0, &mut pos), null_arg);
        assert_eq!(llamette_seq_pos_max(nc, 0, &mut pos), null_arg);
        assert_eq!(llamette_seq_pos_min(c, 0, null_mut()), null_arg);
        assert_eq!(llamette_seq_pos_max(c, 0, null_mut()), null_arg);
        assert_eq!(
            llamette_seq_pos_max(c, 2, &mut pos),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            llamette_seq_pos_min(c, -1, &mut pos),
            LLAMETTE_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            llamette_context_reuse_prefix(nc, null(), 0, &mut n),
            null_arg
        );
        assert_eq!(llamette_state_size(nc, &mut n), null_arg);
        assert_eq!(llamette_state_size(c, null_mut()), null_arg);
        assert_eq!(
            llamette_state_write(nc, buf.as_mut_ptr(), 8, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_state_write(c, buf.as_mut_ptr(), 8, null_mut()),
            null_arg
        );
        assert_eq!(
            llamette_state_write(c, null_mut(), 1 << 30, &mut n),
            null_arg
        );
        assert_eq!(llamette_state_read(nc, buf.as_ptr(), 8), null_arg);
        assert_eq!(llamette_state_seq_size(nc, 0, &mut n), null_arg);
        assert_eq!(llamette_state_seq_size(c, 0, null_mut()), null_arg);
        assert_eq!(
            llamette_state_seq_write(nc, 0, buf.as_mut_ptr(), 8, &mut n),
            null_arg
        );
        assert_eq!(
            llamette_state_seq_write(c, 0, buf.as_mut_ptr(), 8, null_mut()),
            null_arg
        );
        assert_eq!(llamette_state_seq_read(nc, 0, buf.as_ptr(), 8), null_arg);
        assert_eq!(llamette_state_seq_read(c, 0, null(), 8), null_arg);
        assert_eq!(llamette_state_save_file(nc, c"x".as_ptr()), null_arg);
        assert_eq!(llamette_state_load_file(nc, c"x".as_ptr()), null_arg);
        // Out-params are untouched by every failure above.
        assert_eq!((n, pos), (5, 5));
        assert!(fp.is_null());
        assert_eq!(buf, [0; 8]);
        // An empty context: no logits yet, every sequence empty, a small state.
        assert_eq!(logits_ith(c, 0), Err(LLAMETTE_ERR_INVALID_ARGUMENT));
        assert_eq!((pos_min(c, 0), pos_max(c, 1)), (-1, -1));
        ok(llamette_state_size(c, &mut n));
        assert_eq!(n, 84, "the header alone");
        llamette_context_free(c);
        llamette_model_free(m);
    }
}

#[test]
fn generate_reusing_keeps_the_cached_start_and_gives_the_same_text() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let c = new_context(m, &params(256, false));
    let reusing = |c: *mut LlametteContext, prompt: &[u32], pieces: &mut Pieces| {
        let s = greedy_sampler(m);
        let mut reason = LLAMETTE_STOP_LENGTH;
        let (mut n, mut kept) = (u32::MAX, usize::MAX);
        let p = gen_params(8);
        // SAFETY: live handles, valid arrays, the callback's `user` is `pieces`.
        let status = unsafe {
            llamette_generate_reusing(
                c,
                s,
                prompt.as_ptr(),
                prompt.len(),
                &p,
                Some(collect_pieces),
                (pieces as *mut Pieces).cast(),
                &mut reason,
                &mut n,
                &mut kept,
            )
        };
        // SAFETY: a live handle, freed once.
        unsafe { llamette_sampler_free(s) };
        (status, n, kept)
    };
    // First request: nothing cached; the greedy text equals llamette_generate's.
    let mut first = Pieces::default();
    assert_eq!(reusing(c, &g.prompt, &mut first), (LLAMETTE_OK, 8, 0));
    assert_eq!(first.text, text_of(m, &g.greedy[..8]));
    // The same prompt again: all but its last token kept, the same text.
    let mut again = Pieces::default();
    let n = g.prompt.len();
    assert_eq!(reusing(c, &g.prompt, &mut again), (LLAMETTE_OK, 8, n - 1));
    assert_eq!(again.text, first.text);
    // An empty prompt is refused before anything changes.
    let s = greedy_sampler(m);
    let mut kept = 7usize;
    // SAFETY: live handles; an empty prompt may be NULL.
    let st = unsafe {
        llamette_generate_reusing(
            c,
            s,
            null(),
            0,
            null(),
            None,
            null_mut(),
            null_mut(),
            null_mut(),
            &mut kept,
        )
    };
    assert_eq!((st, kept), (LLAMETTE_ERR_INVALID_ARGUMENT, 7));
    // SAFETY: live handles, freed once.
    unsafe {
        assert_eq!(llamette_context_n_past(c) as usize, n + 8);
        llamette_sampler_free(s);
        llamette_context_free(c);
    }
}

// ---- performance counters ----

use super::perf::*;

fn perf_of(c: *const LlametteContext) -> LlamettePerfContextData {
    let mut d = LlamettePerfContextData {
        t_start_ms: -1.0,
        t_load_ms: -1.0,
        t_p_eval_ms: -1.0,
        t_eval_ms: -1.0,
        n_p_eval: -1,
        n_eval: -1,
        n_reused: -1,
    };
    // SAFETY: a live context, a writable struct.
    ok(unsafe { llamette_perf_context(c, &mut d) });
    d
}

/// The counts of `llamette_perf_context`: prompt tokens, single-token evaluations, reused tokens.
fn perf_counts(c: *const LlametteContext) -> (i32, i32, i32) {
    let d = perf_of(c);
    (d.n_p_eval, d.n_eval, d.n_reused)
}

#[test]
fn perf_context_counts_prompt_and_single_token_evaluations() {
    let m = load(fixture(Q8_0));
    let g = golden();
    let n = g.prompt.len() as i32;
    let c = new_context_ex(m, &params_ex(128, 2));
    let fresh = perf_of(c);
    assert_eq!((fresh.n_p_eval, fresh.n_eval, fresh.n_reused), (0, 0, 0));
    assert_eq!(
        (fresh.t_load_ms, fresh.t_p_eval_ms, fresh.t_eval_ms),
        (0.0, 0.0, 0.0)
    );
    // Milliseconds of wall-clock time since 1970: after 2020-01-01.
    assert!(fresh.t_start_ms > 1_577_836_800_000.0, "{fresh:?}");

    // The prompt, then three single tokens.
    ok(eval(c, &g.prompt));
    assert_eq!(perf_counts(c), (n, 0, 0));
    for &t in &g.greedy[..3] {
        ok(eval(c, &[t]));
    }
    let d = perf_of(c);
    assert_eq!((d.n_p_eval, d.n_eval, d.n_reused), (n, 3, 0));
    assert!(d.t_p_eval_ms > 0.0 && d.t_eval_ms > 0.0, "{d:?}");
    assert_eq!((d.t_start_ms, d.t_load_ms), (fresh.t_start_ms, 0.0));

    // llamette_decode: a batch of two tokens (one per sequence) is prompt evaluation, one
    // token an evaluation. A failed call counts nothing.
    let p0 = g.prompt.len() as u32 + 3;
    ok(decode(c, &[bt(7, p0, 0, true), bt(8, 0, 1, true)]));
    assert_eq!(perf_counts(c), (n + 2, 3, 0));
    ok(decode(c, &[bt(9, 1, 1, true)]));
    assert_eq!(perf_counts(c), (n + 2, 4, 0));
    assert_eq!(
        decode(c, &[bt(9, 7, 1, true)]),
        LLAMETTE_ERR_INVALID_ARGUMENT
    );
    assert_eq!(eval(c, &[u32::MAX]), LLAMETTE_ERR_BAD_TOKEN);
    assert_eq!(perf_counts(c), (n + 2, 4, 0));

    // Prefix reuse adds the kept tokens; restoring a state changes nothing.
    let saved = state_of(c);
    let mut kept = usize::MAX;
    // SAFETY: a live context, a valid array, a writable count.
    ok(unsafe { llamette_context_reuse_prefix(c, g.prompt.as_ptr(), g.prompt.len(), &mut kept) });
    assert_eq!(kept, g.prompt.len() - 1);
    assert_eq!(perf_counts(c), (n + 2, 4, n - 1));
    let before = perf_of(c);
    // SAFETY: a live context, the bytes of a state.
    ok(unsafe { llamette_state_read(c, saved.as_ptr(), saved.len()) });
    assert_eq!(perf_of(c), before);

    // Reset: zeros, counting from now; the cache stays.
    let n_past = llamette_context_n_past_of(c);
    // SAFETY: a live context.
    ok(unsafe { llamette_perf_context_reset(c) });
    let r = perf_of(c);
    assert_eq!((r.n_p_eval, r.n_eval, r.n_reused), (0, 0, 0));
    assert_eq!((r.t_load_ms, r.t_p_eval_ms, r.t_eval_ms), (0.0, 0.0, 0.0));
    assert!(r.t_start_ms >= before.t_start_ms - 1000.0, "{r:?}");
    assert_eq!(llamette_context_n_past_of(c), n_past);
    ok(eval(c, &[g.greedy[3]]));
    assert_eq!(perf_counts(c), (0, 1, 0));

    // SAFETY: live handles, freed once.
    unsafe {
        llamette_context_free(c);
        llamette_model_free(m);
    }
}

fn llamette_context_n_past_of(c: *const LlametteContext) -> u32 {
    // SAFETY: a live context.
    unsafe { llamette_context_n_past(c) }
}

#[test]
fn perf_context_refuses_null_and_leaves_out_untouched() {
    let m = load(fixture(Q8_0));
    let c = new_context(m, &params(32, false));
    let sentinel = LlamettePerfContextData {
        t_start_ms: 7.0,
        t_load_ms: 7.0,
        t_p_eval_ms: 7.0,
        t_eval_ms: 7.0,
        n_p_eval: 7,
        n_eval: 7,
        n_reused: 7,
    };
    let mut out = sentinel;
    // SAFETY: NULL handles and outputs are refused before anything is read or written.
    unsafe {
        assert_eq!(
            llamette_perf_context(null(), &mut out),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        assert!(
            last_error().contains("llamette_perf_context"),
            "{}",
            last_error()
        );
        assert_eq!(out, sentinel);
        assert_eq!(
            llamette_perf_context(c, null_mut()),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        assert!(last_error().contains("`out`"), "{}", last_error());
        assert_eq!(
            llamette_perf_context_reset(null_mut()),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        assert!(
            last_error().contains("llamette_perf_context_reset"),
            "{}",
            last_error()
        );
        llamette_context_free(c);
        llamette_model_free(m);
    }
}

use super::logprobs::*;

#[test]
fn token_logprobs_come_from_the_last_logits_with_the_bias() {
    let m = load(fixture("models/tiny-codellama.q8_0.gguf"));
    let c = new_context(m, &params(64, false));
    let mut out = core::mem::MaybeUninit::<LlametteTokenLogprob>::uninit();
    // No logits yet.
    // SAFETY: a live context, no bias arrays, a writable out.
    let s = unsafe { llamette_token_logprobs(c, 1, 3, null(), null(), 0, out.as_mut_ptr()) };
    assert_eq!(s, LLAMETTE_ERR_INVALID_ARGUMENT);
    ok(eval(c, &[1, 15, 27]));
    let lg = logits(c);
    let best = (0..lg.len())
        .max_by(|&a, &b| lg[a].total_cmp(&lg[b]).then(b.cmp(&a)))
        .unwrap() as u32;
    // SAFETY: as above.
    ok(unsafe { llamette_token_logprobs(c, best, 25, null(), null(), 0, out.as_mut_ptr()) });
    // SAFETY: written on success.
    let r = unsafe { out.assume_init() };
    let want = crate::sampling::logprobs(&lg, &[], best, 20).unwrap();
    assert_eq!((r.token, r.logprob, r.n_top), (best, want.logprob, 20));
    assert_eq!(r.top_tokens[0], best);
    for (i, &(t, l)) in want.top().iter().enumerate() {
        assert_eq!((r.top_tokens[i], r.top_logprobs[i]), (t, l));
    }
    // A bias of -inf bans the best token.
    let (bt, bv) = ([best], [f32::NEG_INFINITY]);
    // SAFETY: arrays of one element.
    ok(unsafe {
        llamette_token_logprobs(c, best, 1, bt.as_ptr(), bv.as_ptr(), 1, out.as_mut_ptr())
    });
    // SAFETY: written on success.
    let r = unsafe { out.assume_init() };
    assert_eq!(r.logprob, f32::NEG_INFINITY);
    assert_ne!(r.top_tokens[0], best);
    // A token outside the vocabulary, NULL arguments.
    // SAFETY: as above.
    unsafe {
        let bad =
            llamette_token_logprobs(c, lg.len() as u32, 1, null(), null(), 0, out.as_mut_ptr());
        assert_eq!(bad, LLAMETTE_ERR_BAD_TOKEN);
        let s = llamette_token_logprobs(null(), 0, 1, null(), null(), 0, out.as_mut_ptr());
        assert_eq!(s, LLAMETTE_ERR_NULL_ARGUMENT);
        let s = llamette_token_logprobs(c, 0, 1, null(), null(), 2, out.as_mut_ptr());
        assert_eq!(s, LLAMETTE_ERR_NULL_ARGUMENT);
        llamette_context_free(c);
        llamette_model_free(m);
    }
}

// ---- grammars ----

use super::grammar::*;
use crate::grammar::Grammar;

/// A handle from a grammar constructor, or its failing status; on failure `out` must be left
/// as it was.
fn make_grammar(
    make: impl FnOnce(*mut *mut LlametteGrammar) -> LlametteStatus,
) -> Result<*mut LlametteGrammar, LlametteStatus> {
    let sentinel = core::ptr::NonNull::<LlametteGrammar>::dangling().as_ptr();
    let mut g = sentinel;
    match make(&mut g) {
        LLAMETTE_OK => {
            assert!(!g.is_null() && g != sentinel);
            Ok(g)
        }
        status => {
            assert_eq!(g, sentinel, "out is untouched on failure");
            Err(status)
        }
    }
}

fn gbnf(
    m: *const LlametteModel,
    text: &str,
    root: Option<&CStr>,
) -> Result<*mut LlametteGrammar, LlametteStatus> {
    let root = root.map_or(null(), CStr::as_ptr);
    // SAFETY: a live model or NULL, a valid string, NULL or a C string, a writable out.
    make_grammar(|out| unsafe {
        llamette_grammar_from_gbnf(m, text.as_ptr().cast(), text.len(), root, out)
    })
}

fn json_schema(text: &str) -> Result<*mut LlametteGrammar, LlametteStatus> {
    // SAFETY: a valid string, a writable out.
    make_grammar(|out| unsafe {
        llamette_grammar_from_json_schema(text.as_ptr().cast(), text.len(), out)
    })
}

fn regex(text: &str) -> Result<*mut LlametteGrammar, LlametteStatus> {
    // SAFETY: a valid string, a writable out.
    make_grammar(|out| unsafe {
        llamette_grammar_from_regex(text.as_ptr().cast(), text.len(), out)
    })
}

fn set_grammar(s: *mut LlametteSampler, g: *const LlametteGrammar) -> LlametteStatus {
    // SAFETY: a live sampler, a live grammar or NULL.
    unsafe { llamette_sampler_set_grammar(s, g) }
}

fn free_grammar(g: *mut LlametteGrammar) {
    // SAFETY: a live grammar, freed once.
    unsafe { llamette_grammar_free(g) }
}

/// `llamette_generate` from golden case 0's prompt on a fresh context with a sampler (greedy,
/// or seeded with the default chain) constrained by `g`, which is freed before generating.
fn generate_constrained(
    m: *mut LlametteModel,
    g: *mut LlametteGrammar,
    seed: Option<u64>,
    n_predict: i32,
) -> (LlametteStatus, LlametteStopReason, u32, String) {
    let c = new_context(m, &params(256, false));
    let s = match seed {
        None => greedy_sampler(m),
        Some(seed) => {
            let p = LlametteSamplerParams {
                seed,
                ..llamette_sampler_default_params()
            };
            let mut s = null_mut();
            // SAFETY: a live model.
            ok(unsafe { llamette_sampler_new(m, &p, &mut s) });
            s
        }
    };
    ok(set_grammar(s, g));
    free_grammar(g);
    let mut pieces = Pieces::default();
    let (status, reason, n) = generate(
        c,
        s,
        &golden().prompt,
        Some(&gen_params(n_predict)),
        &mut pieces,
    );
    // SAFETY: live handles, freed once.
    unsafe {
        llamette_context_free(c);
        llamette_sampler_free(s);
    }
    (status, reason, n, pieces.text)
}

#[test]
fn grammars_constrain_generation_to_their_language() {
    let m = load(fixture(Q8_0));
    let unconstrained = text_of(m, &golden().greedy);

    // GBNF: three short words and a full stop, a finite language, so generation ends by the
    // end-of-generation token once the grammar is complete.
    let words = "root ::= word (\" \" word){2} \".\"\nword ::= [a-z]{1,6}\n";
    let check = Grammar::gbnf(words).unwrap();
    // Greedy: the tiny model's most likely text of the language (pinned); sampled: some text
    // of the language.
    let greedy = "orsw obli byoukb.";
    for seed in [None, Some(1), Some(2)] {
        let (status, reason, n, text) =
            generate_constrained(m, gbnf(null(), words, None).unwrap(), seed, 64);
        assert_eq!(
            (status, reason),
            (LLAMETTE_OK, LLAMETTE_STOP_EOG),
            "{text:?}"
        );
        assert!(check.accepts(&text).unwrap(), "{seed:?}: {text:?}");
        assert!(n >= 4 && text != unconstrained, "{n} {text:?}");
        if seed.is_none() {
            assert_eq!(text, greedy);
        }
    }
    assert!(!check.accepts(&unconstrained).unwrap());

    // A JSON schema: an object with both keys, of their types.
    let schema = r#"{"type": "object",
        "properties": {"ok": {"type": "boolean"}, "size": {"enum": ["small", "large"]}},
        "required": ["ok", "size"]}"#;
    let check = Grammar::json_schema(schema).unwrap();
    for seed in [None, Some(3)] {
        let (status, reason, _, text) =
            generate_constrained(m, json_schema(schema).unwrap(), seed, 96);
        assert_eq!(
            (status, reason),
            (LLAMETTE_OK, LLAMETTE_STOP_EOG),
            "{text:?}"
        );
        assert!(check.accepts(&text).unwrap(), "{text:?}");
        let v = json::parse(&text).unwrap();
        assert!(v["ok"].as_bool().is_some(), "{text}");
        assert!(
            matches!(v["size"].as_str(), Some("small" | "large")),
            "{text}"
        );
        assert_eq!(v.as_object().unwrap().len(), 2, "{text}");
        if seed.is_none() {
            // llama.cpp's whitespace rule between items.
            let greedy =
                "{\"ok\" :true ,\n               \"size\"\n                 \t  : \"large\" }";
            assert_eq!(text, greedy);
        }
    }

    // A regular expression.
    let rx = "[0-9]{3}-[A-Z]{2}";
    let (status, reason, _, text) = generate_constrained(m, regex(rx).unwrap(), None, 32);
    assert_eq!(
        (status, reason),
        (LLAMETTE_OK, LLAMETTE_STOP_EOG),
        "{text:?}"
    );
    assert!(
        Grammar::regex(rx).unwrap().accepts(&text).unwrap(),
        "{text:?}"
    );
    assert_eq!(text, "290-ER");

    // Any JSON object.
    // SAFETY: a writable out.
    let any = make_grammar(|out| unsafe { llamette_grammar_json_object(out) }).unwrap();
    let (status, reason, n, text) = generate_constrained(m, any, None, 8);
    assert_eq!(
        (status, reason, n),
        (LLAMETTE_OK, LLAMETTE_STOP_EOG, 2),
        "{text:?}"
    );
    assert!(Grammar::json_object().accepts(&text).unwrap(), "{text:?}");
    assert_eq!(text, "{}");

    // SAFETY: a live model, freed once.
    unsafe { llamette_model_free(m) };
}

#[test]
fn bad_grammars_fail_with_where_they_are_wrong() {
    let m = load(fixture(Q8_0));
    let bad = LLAMETTE_ERR_BAD_GRAMMAR;
    assert_eq!(gbnf(null(), "root ::= \"a\" b", None), Err(bad));
    assert_eq!(
        last_error(),
        "llamette_grammar_from_gbnf: bad grammar: GBNF line 1, column 14: undefined rule 'b'"
    );
    assert_eq!(gbnf(m, "root ::= \"a\"\nx ::= [a-", None), Err(bad));
    assert!(
        last_error().contains("GBNF line 2, column "),
        "{}",
        last_error()
    );
    assert_eq!(
        json_schema("{\"type\": \"object\",\n \"properties\": }"),
        Err(bad)
    );
    assert!(
        last_error().starts_with(
            "llamette_grammar_from_json_schema: bad grammar: JSON schema line 2, column "
        ),
        "{}",
        last_error()
    );
    assert_eq!(json_schema("[1, 2]"), Err(bad));
    assert_eq!(regex("a(b"), Err(bad));
    assert!(
        last_error().starts_with("llamette_grammar_from_regex: bad grammar: regular expression"),
        "{}",
        last_error()
    );
    // Not UTF-8.
    // SAFETY: two readable bytes, a writable out.
    let r = make_grammar(|out| unsafe {
        llamette_grammar_from_regex(b"\xFFa".as_ptr().cast(), 2, out)
    });
    assert_eq!(r, Err(LLAMETTE_ERR_INVALID_ARGUMENT));

    // The start rule: "root" unless named.
    assert_eq!(gbnf(null(), "start ::= \"a\"", None), Err(bad));
    assert!(last_error().contains("no 'root' rule"), "{}", last_error());
    let g = gbnf(null(), "start ::= \"a\"", Some(c"start")).unwrap();
    free_grammar(g);
    assert_eq!(gbnf(null(), "root ::= \"a\"", Some(c"start")), Err(bad));

    // A token written by text needs the model; a token id the vocabulary lacks is refused when
    // the grammar is set, and the sampler is left as it was.
    let step = "root ::= \"x\" <step>";
    assert_eq!(gbnf(null(), step, None), Err(bad));
    assert!(last_error().contains("vocabulary"), "{}", last_error());
    free_grammar(gbnf(m, step, None).unwrap());
    let too_far = gbnf(null(), "root ::= <[5000]>", None).unwrap();
    let s = greedy_sampler(m);
    assert_eq!(set_grammar(s, too_far), bad);
    assert!(
        last_error().starts_with("llamette_sampler_set_grammar: bad grammar: "),
        "{}",
        last_error()
    );
    let c = new_context(m, &params(64, false));
    let g = golden();
    assert_eq!(greedy_ids(c, s, &g.prompt, 3), g.greedy[..3]);
    free_grammar(too_far);
    // SAFETY: live handles, freed once.
    unsafe {
        llamette_context_free(c);
        llamette_sampler_free(s);
        llamette_model_free(m);
    }
}

#[test]
fn a_grammar_that_allows_nothing_stops_generation() {
    let m = load(fixture(Q8_0));
    // The empty language: no token can start it.
    let nothing = "[^\\s\\S]";
    let (status, reason, n, text) = generate_constrained(m, regex(nothing).unwrap(), None, 16);
    assert_eq!(
        (status, reason, n, text.as_str()),
        (LLAMETTE_OK, LLAMETTE_STOP_GRAMMAR, 0, "")
    );
    assert!(
        last_error().contains("regular expression"),
        "{}",
        last_error()
    );

    // Sampling alone fails with LLAMETTE_ERR_CONSTRAINT and leaves `token` as it was.
    let c = new_context(m, &params(64, false));
    let s = greedy_sampler(m);
    let g = regex(nothing).unwrap();
    ok(set_grammar(s, g));
    free_grammar(g);
    ok(eval(c, &golden().prompt));
    let mut t = 77;
    // SAFETY: live handles, a writable token.
    let status = unsafe { llamette_sampler_sample(s, c, &mut t) };
    assert_eq!((status, t), (LLAMETTE_ERR_CONSTRAINT, 77));
    assert!(
        last_error().starts_with("llamette_sampler_sample: the constraint allows no token: "),
        "{}",
        last_error()
    );
    // Without the grammar it samples again.
    ok(set_grammar(s, null()));
    // SAFETY: as above.
    ok(unsafe { llamette_sampler_sample(s, c, &mut t) });
    assert_eq!(t, golden().greedy[0]);
    // SAFETY: live handles, freed once.
    unsafe {
        llamette_context_free(c);
        llamette_sampler_free(s);
        llamette_model_free(m);
    }
}

#[test]
fn a_host_sampling_loop_advances_the_grammar_with_accept_sampled() {
    let m = load(fixture(Q8_0));
    let c = new_context(m, &params(64, false));
    let s = greedy_sampler(m);
    let step_token = 1023; // "<step>", a control token of the tiny vocabulary
    let digits = "root ::= [0-9] [0-9] \" \" <step>";
    let g = gbnf(m, digits, None).unwrap();
    ok(set_grammar(s, g));
    free_grammar(g);
    let g = golden();
    ok(eval(c, &g.prompt));
    let sample = || {
        let mut t = u32::MAX;
        // SAFETY: live handles, a writable token.
        ok(unsafe { llamette_sampler_sample(s, c, &mut t) });
        t
    };
    let accept = |t: u32| {
        // SAFETY: a live sampler.
        unsafe { llamette_sampler_accept_sampled(s, t) }
    };
    let piece = |t: u32| text_of(m, &[t]);
    let digit_ids: Vec<u32> = (0..10).map(|d| 51 + d).collect(); // "0".."9"

    // The first digit; refused tokens change nothing.
    let first = sample();
    assert!(digit_ids.contains(&first), "{first}: {:?}", piece(first));
    let letter = 100;
    assert!(!piece(letter).bytes().any(|b| b.is_ascii_digit()));
    assert_eq!(accept(letter), LLAMETTE_ERR_CONSTRAINT);
    assert!(
        last_error().starts_with(
            "llamette_sampler_accept_sampled: the constraint allows no token: GBNF grammar: "
        ),
        "{}",
        last_error()
    );
    assert_eq!(accept(1024), LLAMETTE_ERR_BAD_TOKEN);
    ok(accept(first));
    ok(eval(c, &[first]));

    // A bias rebuilds the sampler: the grammar stays where it is, and is applied before the
    // bias, which cannot bring a refused token back.
    let (bt, bv) = ([letter, 53], [100.0f32, 50.0]);
    // SAFETY: arrays of two.
    ok(unsafe { llamette_sampler_set_logit_bias(s, bt.as_ptr(), bv.as_ptr(), 2) });
    let second = sample();
    assert_eq!(second, 53, "{:?}", piece(second));
    ok(accept(second));
    ok(eval(c, &[second]));
    let space = sample();
    assert_eq!(piece(space), " ");
    ok(accept(space));
    ok(eval(c, &[space]));
    // The token written by text, then only the end.
    assert_eq!(sample(), step_token);
    ok(accept(step_token));
    ok(eval(c, &[step_token]));
    assert_eq!(sample(), 2);
    assert_eq!(accept(letter), LLAMETTE_ERR_CONSTRAINT);
    ok(accept(2));

    // Reset: the grammar starts again (a digit first), the history is gone.
    llamette_sampler_reset_and(s);
    ok(eval(c, &[13]));
    assert!(digit_ids.contains(&sample()));
    // Prompt tokens go to the history only: the grammar does not see them.
    // SAFETY: a live sampler.
    ok(unsafe { llamette_sampler_accept(s, letter) });
    assert!(digit_ids.contains(&sample()));
    // SAFETY: live handles, freed once.
    unsafe {
        llamette_context_free(c);
        llamette_sampler_free(s);
        llamette_model_free(m);
    }
}

#[test]
fn null_arguments_of_the_grammar_calls_are_refused() {
    let m = load(fixture(Q8_0));
    let null_arg = Err(LLAMETTE_ERR_NULL_ARGUMENT);
    let src = "root ::= \"a\"";
    // SAFETY: every call passes NULL where a pointer is required (or a valid string with a
    // zero length); nothing is dereferenced.
    unsafe {
        let g = make_grammar(|out| llamette_grammar_from_gbnf(m, null(), 4, null(), out));
        assert_eq!(g, null_arg);
        assert!(last_error().contains("`text` is NULL"), "{}", last_error());
        let s = llamette_grammar_from_gbnf(m, src.as_ptr().cast(), src.len(), null(), null_mut());
        assert_eq!(s, LLAMETTE_ERR_NULL_ARGUMENT);
        assert!(last_error().contains("`out` is NULL"), "{}", last_error());
        // An empty text may be NULL: it is a grammar without a root rule.
        let g = make_grammar(|out| llamette_grammar_from_gbnf(null(), null(), 0, null(), out));
        assert_eq!(g, Err(LLAMETTE_ERR_BAD_GRAMMAR));
        let g = make_grammar(|out| llamette_grammar_from_json_schema(null(), 2, out));
        assert_eq!(g, null_arg);
        let s = llamette_grammar_from_json_schema(c"{}".as_ptr(), 2, null_mut());
        assert_eq!(s, LLAMETTE_ERR_NULL_ARGUMENT);
        let g = make_grammar(|out| llamette_grammar_from_regex(null(), 1, out));
        assert_eq!(g, null_arg);
        let s = llamette_grammar_from_regex(c"a".as_ptr(), 1, null_mut());
        assert_eq!(s, LLAMETTE_ERR_NULL_ARGUMENT);
        assert_eq!(
            llamette_grammar_json_object(null_mut()),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        let g = gbnf(null(), src, None).unwrap();
        assert_eq!(
            llamette_sampler_set_grammar(null_mut(), g),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        assert!(
            last_error().starts_with("llamette_sampler_set_grammar: `s` is NULL"),
            "{}",
            last_error()
        );
        assert_eq!(
            llamette_sampler_accept_sampled(null_mut(), 0),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        llamette_grammar_free(null_mut());
        llamette_grammar_free(g);
        llamette_model_free(m);
    }
}

#[test]
fn a_models_grammar_vocabulary_is_built_once_and_goes_with_the_model() {
    let m = load(fixture(Q8_0));
    let inner = m.cast::<model::ModelInner>().cast_const();
    // SAFETY: a live model handle; the weak reference keeps its address from being reused.
    let weak = alloc::sync::Arc::downgrade(&unsafe { model::model_arc(m) }.unwrap());
    assert!(!has_grammar_vocab(inner));
    let g = gbnf(null(), "root ::= [a-z]+", None).unwrap();
    let (s1, s2) = (greedy_sampler(m), greedy_sampler(m));
    ok(set_grammar(s1, g));
    assert!(has_grammar_vocab(inner));
    ok(set_grammar(s2, g));
    // SAFETY: live handles, freed once: the samplers hold the last references to the model.
    unsafe {
        llamette_model_free(m);
        llamette_sampler_free(s1);
        assert_eq!(weak.strong_count(), 1);
        llamette_sampler_free(s2);
    }
    assert_eq!(weak.strong_count(), 0);
    // The next lookup (for another model) drops the freed model's entry.
    let other = load(fixture(Q8_0));
    let s = greedy_sampler(other);
    ok(set_grammar(s, g));
    assert!(!has_grammar_vocab(inner));
    assert!(has_grammar_vocab(other.cast::<model::ModelInner>()));
    free_grammar(g);
    // SAFETY: live handles, freed once.
    unsafe {
        llamette_sampler_free(s);
        llamette_model_free(other);
    }
}

// ---- generation with token callbacks and log-probabilities; prompt log-probabilities ----

/// What the token callback saw (the `token_user` of `collect_tokens`).
#[derive(Default)]
struct Tokens {
    seen: Vec<(u32, Option<LlametteTokenLogprob>)>,
    /// Return false after this many tokens.
    stop_after: Option<usize>,
}

unsafe extern "C" fn collect_tokens(
    user: *mut c_void,
    token: u32,
    lp: *const LlametteTokenLogprob,
) -> bool {
    // SAFETY: `user` is the test's `Tokens`; `lp` is NULL or valid during the call.
    let t = unsafe { &mut *user.cast::<Tokens>() };
    t.seen.push((token, unsafe { lp.as_ref() }.copied()));
    t.stop_after != Some(t.seen.len())
}

fn generate_ex(
    c: *mut LlametteContext,
    s: *mut LlametteSampler,
    prompt: &[u32],
    p: &mut LlametteGenerateParamsEx,
    tokens: &mut Tokens,
    pieces: &mut Pieces,
) -> (LlametteStatus, LlametteStopReason, u32, usize) {
    p.on_token = Some(collect_tokens);
    p.token_user = (tokens as *mut Tokens).cast();
    let (mut reason, mut n, mut reused) = (LLAMETTE_STOP_LENGTH, u32::MAX, usize::MAX);
    // SAFETY: live handles, valid arrays, the callbacks' users are the test's.
    let status = unsafe {
        llamette_generate_ex(
            c,
            s,
            prompt.as_ptr(),
            prompt.len(),
            p,
            Some(collect_pieces),
            (pieces as *mut Pieces).cast(),
            &mut reason,
            &mut n,
            &mut reused,
        )
    };
    (status, reason, n, reused)
}

#[test]
fn generate_ex_hands_each_token_its_logprobs() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let c = new_context(m, &params(128, false));
    let s = greedy_sampler(m);
    let mut p = llamette_generate_default_params_ex();
    assert_eq!(p.size, core::mem::size_of::<LlametteGenerateParamsEx>());
    assert_eq!(
        (p.n_logprobs, p.reuse_prefix, p.base.n_predict),
        (-1, false, -1)
    );
    p.base.n_predict = 8;
    p.n_logprobs = 5;
    let (mut toks, mut pieces) = (Tokens::default(), Pieces::default());
    let (st, reason, n, reused) = generate_ex(c, s, &g.prompt, &mut p, &mut toks, &mut pieces);
    ok(st);
    assert_eq!((reason, n, reused), (LLAMETTE_STOP_LENGTH, 8, 0));
    let ids: Vec<u32> = toks.seen.iter().map(|t| t.0).collect();
    assert_eq!(ids, g.greedy[..8]);
    assert_eq!(pieces.text, text_of(m, &g.greedy[..8]));
    // The same log-probabilities as asking llamette_token_logprobs before each evaluation.
    let c2 = new_context(m, &params(128, false));
    ok(eval(c2, &g.prompt));
    for (i, (id, lp)) in toks.seen.iter().enumerate() {
        let lp = lp.expect("n_logprobs 5 gives every token its log-probability");
        let mut want = core::mem::MaybeUninit::<LlametteTokenLogprob>::uninit();
        // SAFETY: a live context, no biases, a writable out.
        ok(unsafe { llamette_token_logprobs(c2, *id, 5, null(), null(), 0, want.as_mut_ptr()) });
        // SAFETY: written on success.
        assert_eq!(lp, unsafe { want.assume_init() }, "token {i}");
        assert_eq!(
            (lp.n_top, lp.top_tokens[0]),
            (5, *id),
            "greedy: the best is the token"
        );
        assert!(lp.logprob < 0.0 && lp.logprob > -20.0);
        ok(eval(c2, &[*id]));
    }

    // A stop string made of the first five tokens' text ends at the fifth: it is reported
    // (and counted), none of the text is handed out.
    let stop = text_of(m, &g.greedy[..5]);
    let stops = [stop.as_ptr().cast::<c_char>()];
    let lens = [stop.len()];
    let mut p = llamette_generate_default_params_ex();
    p.base.n_predict = 16;
    p.base.stop_strings = stops.as_ptr();
    p.base.stop_string_lens = lens.as_ptr();
    p.base.n_stop_strings = 1;
    // SAFETY: a live context.
    ok(unsafe { llamette_context_truncate(c, 0) });
    // SAFETY: a live sampler.
    unsafe { llamette_sampler_reset(s) };
    let (mut toks, mut pieces) = (Tokens::default(), Pieces::default());
    let (st, reason, n, _) = generate_ex(c, s, &g.prompt, &mut p, &mut toks, &mut pieces);
    ok(st);
    assert_eq!((reason, n), (LLAMETTE_STOP_STRING, 5));
    let ids: Vec<(u32, bool)> = toks.seen.iter().map(|t| (t.0, t.1.is_some())).collect();
    let want: Vec<(u32, bool)> = g.greedy[..5].iter().map(|&t| (t, false)).collect();
    assert_eq!(ids, want, "no log-probabilities without n_logprobs");
    assert_eq!(pieces.text, "");

    // The token callback stops after three tokens; with reuse the whole prompt but its last
    // token is kept from the run above.
    let mut p = llamette_generate_default_params_ex();
    p.reuse_prefix = true;
    // SAFETY: a live sampler.
    unsafe { llamette_sampler_reset(s) };
    let (mut toks, mut pieces) = (
        Tokens {
            stop_after: Some(3),
            ..Tokens::default()
        },
        Pieces::default(),
    );
    let (st, reason, n, reused) = generate_ex(c, s, &g.prompt, &mut p, &mut toks, &mut pieces);
    ok(st);
    assert_eq!(
        (reason, n, reused),
        (LLAMETTE_STOP_CALLBACK, 3, g.prompt.len() - 1)
    );
    assert_eq!(
        toks.seen.iter().map(|t| t.0).collect::<Vec<_>>(),
        g.greedy[..3]
    );

    // A size this library does not know; reuse with an empty prompt.
    let mut p = llamette_generate_default_params_ex();
    p.size += 8;
    let (mut toks, mut pieces) = (Tokens::default(), Pieces::default());
    let (st, ..) = generate_ex(c, s, &g.prompt, &mut p, &mut toks, &mut pieces);
    assert_eq!(st, LLAMETTE_ERR_INVALID_ARGUMENT);
    assert!(
        last_error().contains("sizeof(LlametteGenerateParamsEx)"),
        "{}",
        last_error()
    );
    let mut p = llamette_generate_default_params_ex();
    p.reuse_prefix = true;
    let (st, ..) = generate_ex(c, s, &[], &mut p, &mut toks, &mut pieces);
    assert_eq!(st, LLAMETTE_ERR_INVALID_ARGUMENT);
    assert!(toks.seen.is_empty());
    // SAFETY: live handles, freed once.
    unsafe {
        llamette_sampler_free(s);
        llamette_context_free(c);
        llamette_context_free(c2);
        llamette_model_free(m);
    }
}

#[test]
fn prompt_logprobs_come_from_every_positions_logits() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let mut pp = params(128, true);
    pp.n_batch = 4; // several steps: the first token of each is predicted by the step before
    let c = new_context(m, &pp);
    let n = g.prompt.len();
    assert!(n > 4);
    let mut out = vec![
        LlametteTokenLogprob {
            token: 0,
            logprob: 0.0,
            n_top: 0,
            top_tokens: [0; 20],
            top_logprobs: [0.0; 20],
        };
        n
    ];
    // SAFETY: a live context, the prompt, `n` entries to write.
    ok(unsafe {
        llamette_prompt_logprobs(
            c,
            g.prompt.as_ptr(),
            n,
            3,
            null(),
            null(),
            0,
            out.as_mut_ptr(),
        )
    });
    // SAFETY: a live context.
    assert_eq!(unsafe { llamette_context_n_past(c) } as usize, n);
    assert_eq!((out[0].token, out[0].n_top), (g.prompt[0], 0));
    assert!(out[0].logprob.is_nan(), "nothing predicts the first token");
    for (i, r) in out.iter().enumerate().take(n).skip(1) {
        let want = crate::sampling::logprobs(&g.all_logits[i - 1], &[], g.prompt[i], 3).unwrap();
        assert_eq!((r.token, r.n_top), (g.prompt[i], 3), "position {i}");
        // llama.cpp's logits (bit for bit on x86-64; the margin allows another libm).
        assert!((r.logprob - want.logprob).abs() < 1e-3, "position {i}");
        assert_eq!(
            r.top_tokens[..3],
            want.top().iter().map(|t| t.0).collect::<Vec<_>>()[..],
            "position {i}"
        );
    }
    // The context's logits are the last token's: generation continues from them.
    assert_logits(&logits(c), &g.last_logits);
    // Once the context holds tokens, the first is predicted by its last logits.
    let want = crate::sampling::logprobs(&logits(c), &[], g.greedy[0], 2).unwrap();
    // SAFETY: as above, one entry.
    ok(unsafe {
        llamette_prompt_logprobs(
            c,
            g.greedy.as_ptr(),
            1,
            2,
            null(),
            null(),
            0,
            out.as_mut_ptr(),
        )
    });
    assert_eq!((out[0].logprob, out[0].n_top), (want.logprob, 2));
    assert_eq!(out[0].top_tokens[0], g.greedy[0]);

    // Errors: no logits_all, no tokens, NULL out.
    let c2 = new_context(m, &params(64, false));
    // SAFETY: live contexts; the calls fail before writing.
    unsafe {
        let s = llamette_prompt_logprobs(
            c2,
            g.prompt.as_ptr(),
            n,
            3,
            null(),
            null(),
            0,
            out.as_mut_ptr(),
        );
        assert_eq!(s, LLAMETTE_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("logits_all"), "{}", last_error());
        let s = llamette_prompt_logprobs(
            c,
            g.prompt.as_ptr(),
            0,
            3,
            null(),
            null(),
            0,
            out.as_mut_ptr(),
        );
        assert_eq!(s, LLAMETTE_ERR_INVALID_ARGUMENT);
        let s = llamette_prompt_logprobs(c, g.prompt.as_ptr(), n, 3, null(), null(), 0, null_mut());
        assert_eq!(s, LLAMETTE_ERR_NULL_ARGUMENT);
        llamette_context_free(c);
        llamette_context_free(c2);
        llamette_model_free(m);
    }
}

// ---- the rest of the samplers; host logits processors ----

use super::sampler_ex::*;

/// `n` tokens drawn from the same logits (none accepted).
fn draws(s: *mut LlametteSampler, c: *const LlametteContext, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let mut t = u32::MAX;
            // SAFETY: live handles.
            ok(unsafe { llamette_sampler_sample(s, c, &mut t) });
            t
        })
        .collect()
}

fn sampler_ex(
    m: *const LlametteModel,
    p: &LlametteSamplerParamsEx,
) -> Result<*mut LlametteSampler, LlametteStatus> {
    let mut s = null_mut();
    // SAFETY: a live model, a valid params struct.
    match unsafe { llamette_sampler_new_ex(m, p, &mut s) } {
        LLAMETTE_OK => Ok(s),
        e => {
            assert!(s.is_null(), "out untouched on failure");
            Err(e)
        }
    }
}

#[test]
fn extensible_sampler_params_reach_every_stage() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let c = new_context(m, &params(64, false));
    ok(eval(c, &g.prompt));
    let d = llamette_sampler_default_params_ex();
    let r = crate::sampling::SamplerParams::default();
    assert_eq!(d.size, core::mem::size_of::<LlametteSamplerParamsEx>());
    assert_eq!(d.base, llamette_sampler_default_params());
    assert_eq!(
        (
            d.typ_p,
            d.top_n_sigma,
            d.xtc_probability,
            d.xtc_threshold,
            d.dynatemp_range
        ),
        (
            r.typ_p,
            r.top_n_sigma,
            r.xtc_probability,
            r.xtc_threshold,
            r.dynatemp_range
        )
    );
    assert_eq!(
        (
            d.mirostat,
            d.mirostat_tau,
            d.mirostat_eta,
            d.dry_multiplier,
            d.dry_base
        ),
        (
            r.mirostat,
            r.mirostat_tau,
            r.mirostat_eta,
            r.dry_multiplier,
            r.dry_base
        )
    );
    assert_eq!((d.dry_allowed_length, d.dry_penalty_last_n), (2, 64));
    assert!(d.dry_sequence_breakers.is_null());

    // The defaults draw what llamette_sampler_new's do.
    let mut base = llamette_sampler_default_params();
    base.seed = 7;
    base.temp = 1.5;
    let mut s1 = null_mut();
    // SAFETY: a live model.
    ok(unsafe { llamette_sampler_new(m, &base, &mut s1) });
    let s2 = sampler_ex(m, &LlametteSamplerParamsEx { base, ..d }).unwrap();
    let a = draws(s1, c, 12);
    assert_eq!(a, draws(s2, c, 12));

    // Each extra stage: the C sampler draws exactly what the Rust one with the same
    // parameters draws.
    let lg = logits(c);
    let cases: [(&str, LlametteSamplerParamsEx); 5] = [
        (
            "mirostat 2",
            LlametteSamplerParamsEx {
                base,
                mirostat: 2,
                mirostat_tau: 3.0,
                ..d
            },
        ),
        (
            "mirostat 1",
            LlametteSamplerParamsEx {
                base,
                mirostat: 1,
                mirostat_eta: 0.3,
                ..d
            },
        ),
        (
            "typical",
            LlametteSamplerParamsEx {
                base,
                typ_p: 0.5,
                ..d
            },
        ),
        (
            "xtc",
            LlametteSamplerParamsEx {
                base,
                xtc_probability: 0.5,
                xtc_threshold: 0.05,
                ..d
            },
        ),
        (
            "top-n-sigma, dynatemp",
            LlametteSamplerParamsEx {
                base,
                top_n_sigma: 1.0,
                dynatemp_range: 0.5,
                ..d
            },
        ),
    ];
    for (what, p) in cases {
        let s = sampler_ex(m, &p).unwrap();
        // SAFETY: a live handle made here.
        let params = unsafe { super::generate::sampler_mut(s) }
            .unwrap()
            .sampler
            .params()
            .clone();
        let mut rust = crate::sampling::Sampler::new(lg.len(), params).unwrap();
        let want: Vec<u32> = (0..12).map(|_| rust.sample(&lg).unwrap()).collect();
        let got = draws(s, c, 12);
        assert_eq!(got, want, "{what}");
        assert_ne!(got, a, "{what} changes the draws");
        // SAFETY: made here, freed once.
        unsafe { llamette_sampler_free(s) };
    }

    // DRY with its breakers: the defaults, given ones, none.
    let dry = LlametteSamplerParamsEx {
        base,
        dry_multiplier: 0.8,
        ..d
    };
    let breakers = |s: *mut LlametteSampler| {
        // SAFETY: a live handle made here.
        unsafe { super::generate::sampler_mut(s) }
            .unwrap()
            .sampler
            .params()
            .dry_sequence_breakers
            .clone()
    };
    let s = sampler_ex(m, &dry).unwrap();
    assert_eq!(breakers(s), ["\n", ":", "\"", "*"]);
    // SAFETY: made here, freed once.
    unsafe { llamette_sampler_free(s) };
    let given = [c"ab".as_ptr(), c"\xc3\xa9".as_ptr()];
    let s = sampler_ex(
        m,
        &LlametteSamplerParamsEx {
            dry_sequence_breakers: given.as_ptr(),
            n_dry_sequence_breakers: 2,
            ..dry
        },
    )
    .unwrap();
    assert_eq!(breakers(s), ["ab", "é"]);
    // The breakers survive new logit biases.
    let (bt, bv) = ([1u32], [1.0f32]);
    // SAFETY: a live sampler, arrays of one.
    ok(unsafe { llamette_sampler_set_logit_bias(s, bt.as_ptr(), bv.as_ptr(), 1) });
    assert_eq!(breakers(s), ["ab", "é"]);
    // SAFETY: made here, freed once.
    unsafe { llamette_sampler_free(s) };
    let s = sampler_ex(
        m,
        &LlametteSamplerParamsEx {
            dry_sequence_breakers: given.as_ptr(),
            n_dry_sequence_breakers: 0,
            ..dry
        },
    )
    .unwrap();
    assert!(breakers(s).is_empty());
    // SAFETY: made here, freed once.
    unsafe { llamette_sampler_free(s) };

    // Refused: another size, mirostat 3, a NaN DRY base, a breaker that is not UTF-8, NULL.
    let bad_utf8 = [c"\xff".as_ptr()];
    let refused: [(&str, LlametteSamplerParamsEx); 4] = [
        (
            "sizeof(LlametteSamplerParamsEx)",
            LlametteSamplerParamsEx {
                size: d.size - 4,
                ..d
            },
        ),
        ("mirostat", LlametteSamplerParamsEx { mirostat: 3, ..d }),
        (
            "dry_base",
            LlametteSamplerParamsEx {
                dry_base: f32::NAN,
                ..dry
            },
        ),
        (
            "dry_sequence_breakers[0]",
            LlametteSamplerParamsEx {
                dry_sequence_breakers: bad_utf8.as_ptr(),
                n_dry_sequence_breakers: 1,
                ..dry
            },
        ),
    ];
    for (what, p) in refused {
        assert_eq!(
            sampler_ex(m, &p),
            Err(LLAMETTE_ERR_INVALID_ARGUMENT),
            "{what}"
        );
        assert!(last_error().contains(what), "{what}: {}", last_error());
    }
    let mut s = null_mut();
    // SAFETY: NULL arguments are refused.
    unsafe {
        assert_eq!(
            llamette_sampler_new_ex(null(), &d, &mut s),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            llamette_sampler_new_ex(m, &d, null_mut()),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        // NULL parameters: the defaults.
        ok(llamette_sampler_new_ex(m, null(), &mut s));
        llamette_sampler_free(s);
        llamette_sampler_free(s1);
        llamette_sampler_free(s2);
        llamette_context_free(c);
        llamette_model_free(m);
    }
}

/// The `user` of `ban_processor`: the token to ban, and what the processor saw.
struct Ban {
    token: u32,
    calls: usize,
    n_vocab: usize,
    first_logits: Vec<f32>,
}

unsafe extern "C" fn ban_processor(user: *mut c_void, logits: *mut f32, n: usize) {
    // SAFETY: `user` is the test's `Ban`; `logits` holds `n` floats during the call.
    let b = unsafe { &mut *user.cast::<Ban>() };
    let logits = unsafe { core::slice::from_raw_parts_mut(logits, n) };
    b.calls += 1;
    b.n_vocab = n;
    if b.first_logits.is_empty() {
        b.first_logits = logits.to_vec();
    }
    logits[b.token as usize] = f32::NEG_INFINITY;
}

#[test]
fn a_host_logits_processor_sees_the_raw_logits_and_can_ban_tokens() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let c = new_context(m, &params(64, false));
    ok(eval(c, &g.prompt));
    let lg = logits(c);
    let s = greedy_sampler(m);
    let best = g.greedy[0];
    assert_eq!(draws(s, c, 1), [best]);
    let mut rest = lg.clone();
    rest[best as usize] = f32::NEG_INFINITY;
    let second = argmax(&rest);
    let mut ban = Ban {
        token: best,
        calls: 0,
        n_vocab: 0,
        first_logits: Vec::new(),
    };
    // SAFETY: a live sampler; `ban` outlives its use below.
    ok(unsafe {
        llamette_sampler_set_logits_processor(s, Some(ban_processor), (&mut ban as *mut Ban).cast())
    });
    assert_eq!(draws(s, c, 2), [second, second]);
    assert_eq!((ban.calls, ban.n_vocab), (2, lg.len()));
    assert_eq!(ban.first_logits, lg, "the raw logits, before the bias");
    // It stays through new biases (which run after it) and a reset.
    let (bt, bv) = ([second], [-100.0f32]);
    // SAFETY: a live sampler, arrays of one.
    ok(unsafe { llamette_sampler_set_logit_bias(s, bt.as_ptr(), bv.as_ptr(), 1) });
    // SAFETY: a live sampler.
    unsafe { llamette_sampler_reset(s) };
    rest[second as usize] = f32::NEG_INFINITY;
    assert_eq!(draws(s, c, 1), [argmax(&rest)]);
    assert_eq!(ban.calls, 3);
    assert_eq!(ban.first_logits, lg);
    // Removed: the bias alone.
    // SAFETY: a live sampler.
    ok(unsafe { llamette_sampler_set_logits_processor(s, None, null_mut()) });
    assert_eq!(draws(s, c, 1), [best]);
    assert_eq!(ban.calls, 3);
    // SAFETY: NULL is refused; live handles freed once.
    unsafe {
        assert_eq!(
            llamette_sampler_set_logits_processor(null_mut(), None, null_mut()),
            LLAMETTE_ERR_NULL_ARGUMENT
        );
        llamette_sampler_free(s);
        llamette_context_free(c);
        llamette_model_free(m);
    }
}

// ---- Jinja chat templates ----

/// A rendered conversation, or the status and last error.
fn render_template<S: AsRef<str>>(
    m: *const LlametteModel,
    spec: Option<&str>,
    msgs: &[(S, S)],
    add: bool,
) -> Result<String, (LlametteStatus, String)> {
    let list = c_messages(msgs);
    let (p, len) = spec.map_or((null(), 0), |s| (s.as_ptr().cast(), s.len()));
    let mut n = 0;
    // SAFETY: a live model, valid messages; a size query.
    let s = unsafe {
        super::template::llamette_chat_render_template(
            m,
            p,
            len,
            list.as_ptr(),
            list.len(),
            add,
            null_mut(),
            0,
            &mut n,
        )
    };
    if s != LLAMETTE_ERR_BUFFER_TOO_SMALL {
        return Err((s, last_error()));
    }
    let mut buf = vec![0u8; n + 1];
    // SAFETY: room for the text and its NUL.
    ok(unsafe {
        super::template::llamette_chat_render_template(
            m,
            p,
            len,
            list.as_ptr(),
            list.len(),
            add,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut n,
        )
    });
    assert_eq!(buf[n], 0);
    buf.truncate(n);
    Ok(String::from_utf8(buf).unwrap())
}

#[test]
fn a_models_own_template_renders_as_jinja2_does() {
    let expected = json("templates/expected.json");
    let convs = &expected["conversations"];
    for (file, name) in [
        ("vocab/ggml-vocab-phi-3.gguf", "ggml-vocab-phi-3"),
        ("vocab/ggml-vocab-qwen2.gguf", "ggml-vocab-qwen2"),
    ] {
        let m = load(fixture(file));
        for i in [0usize, 2, 3, 6] {
            let c = &convs[i];
            let msgs = conversation(&c["messages"]);
            let add = c["add_generation_prompt"].as_bool().unwrap();
            let want = expected["templates"][name]["results"][i]["output"]
                .as_str()
                .unwrap();
            assert_eq!(
                render_template(m, None, &msgs, add).unwrap(),
                want,
                "{name} #{i}"
            );
        }
        // SAFETY: a live model.
        unsafe { llamette_model_free(m) };
    }
}

#[test]
fn a_template_given_as_text_or_name_and_its_errors() {
    let m = load(fixture("vocab/ggml-vocab-phi-3.gguf"));
    let msgs = [("user", "hi"), ("assistant", "yo")];
    // Text: the vocabulary's BOS and EOS texts are the template's.
    let t = "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content | upper }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}{{ eos_token }}";
    assert_eq!(
        render_template(m, Some(t), &msgs, true).unwrap(),
        "<s>[user:HI][assistant:YO]><|endoftext|>"
    );
    // A name the file does not have is text too (and renders as itself).
    assert_eq!(
        render_template(m, Some("tool_use"), &msgs, false).unwrap(),
        "tool_use"
    );
    // A template that raises, one that does not parse, one that calls the unknown.
    let (s, e) = render_template(
        m,
        Some("{% if messages[0].role != 'system' %}{{ raise_exception('System first!') }}{% endif %}"),
        &msgs,
        true,
    )
    .unwrap_err();
    assert_eq!(s, LLAMETTE_ERR_BAD_CHAT);
    assert!(e.contains("System first!") && e.contains("line 1"), "{e}");
    let (s, e) = render_template(m, Some("ok\n{% if %}"), &msgs, true).unwrap_err();
    assert_eq!(s, LLAMETTE_ERR_BAD_CHAT);
    assert!(e.contains("line 2") && e.contains("syntax error"), "{e}");
    let (s, e) = render_template(m, Some("{{ messages | frobnicate }}"), &msgs, true).unwrap_err();
    assert_eq!(s, LLAMETTE_ERR_BAD_CHAT);
    assert!(e.contains("frobnicate"), "{e}");
    // SAFETY: a live model.
    unsafe { llamette_model_free(m) };
    // A file without a template.
    let m = load(fixture("models/tiny-codellama.q8_0.gguf"));
    let (s, e) = render_template(m, None, &msgs, true).unwrap_err();
    assert_eq!(s, LLAMETTE_ERR_INVALID_ARGUMENT);
    assert!(e.contains("no tokenizer.chat_template"), "{e}");
    // SAFETY: a live model.
    unsafe { llamette_model_free(m) };
}

#[test]
fn a_template_renders_json_messages_with_tools() {
    let expected = json("templates/expected.json");
    let m = load(fixture("vocab/ggml-vocab-qwen2.gguf"));
    // The script's conversation 8 (a system turn, a question, a weather tool), as JSON.
    let messages = r#"[{"role": "system", "content": "You can call tools."}, {"role": "user", "content": "What's the weather in Paris?"}]"#;
    let tools = r#"[{"type": "function", "function": {"name": "get_weather", "description": "The current weather in a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city's name."}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}]"#;
    let call = |tools: *const c_char, tools_len: usize, messages: &str, buf: &mut Vec<u8>| {
        let mut n = 0;
        // SAFETY: a live model, readable JSON, a writable buffer.
        let s = unsafe {
            super::template::llamette_chat_render_template_json(
                m,
                null(),
                0,
                messages.as_ptr().cast(),
                messages.len(),
                tools,
                tools_len,
                null(),
                0,
                true,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut n,
            )
        };
        (s, n)
    };
    let mut buf = vec![0u8; 8192];
    let (s, n) = call(tools.as_ptr().cast(), tools.len(), messages, &mut buf);
    ok(s);
    let want = expected["templates"]["ggml-vocab-qwen2"]["results"][8]["output"]
        .as_str()
        .unwrap();
    assert_eq!(core::str::from_utf8(&buf[..n]).unwrap(), want);
    // Without tools the template takes its other branch (conversation 1 has the same shape).
    let (s, n) = call(null(), 0, messages, &mut buf);
    ok(s);
    assert!(!core::str::from_utf8(&buf[..n])
        .unwrap()
        .contains("get_weather"));
    // JSON that does not parse says where.
    let (s, _) = call(null(), 0, "[{\"role\": }]", &mut buf);
    assert_eq!(s, LLAMETTE_ERR_INVALID_ARGUMENT);
    assert!(
        last_error().contains("line 1, column 11"),
        "{}",
        last_error()
    );
    let (s, _) = call(null(), 0, "{}", &mut buf);
    assert_eq!(s, LLAMETTE_ERR_INVALID_ARGUMENT);
    // Documents, for templates that cite them (none when NULL).
    let rag = "{% for d in documents %}[{{ d.title }}]{% endfor %}{{ documents is none }}";
    let docs = r#"[{"title": "Paris", "text": "..."}, {"title": "Köln", "text": "..."}]"#;
    for (d, want) in [(Some(docs), "[Paris][Köln]False"), (None, "True")] {
        let mut n = 0;
        let (dp, dl) = d.map_or((null(), 0), |d| (d.as_ptr().cast(), d.len()));
        // SAFETY: a live model, readable texts, a writable buffer.
        ok(unsafe {
            super::template::llamette_chat_render_template_json(
                m,
                rag.as_ptr().cast(),
                rag.len(),
                messages.as_ptr().cast(),
                messages.len(),
                null(),
                0,
                dp,
                dl,
                false,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut n,
            )
        });
        assert_eq!(core::str::from_utf8(&buf[..n]).unwrap(), want);
    }
    // SAFETY: a live model.
    unsafe { llamette_model_free(m) };
}

#[test]
fn a_samplers_state_round_trips_through_the_c_abi() {
    let g = golden();
    let m = load(fixture(Q8_0));
    let mut p = llamette_sampler_default_params_ex();
    p.base.temp = 0.9;
    p.base.seed = 77;
    p.base.penalty_last_n = 8;
    p.base.penalty_repeat = 1.3;
    p.mirostat = 2;
    let new = |p: &LlametteSamplerParamsEx| {
        let mut s = null_mut();
        // SAFETY: a live model, valid parameters.
        ok(unsafe { llamette_sampler_new_ex(m, p, &mut s) });
        s
    };
    let (a, b) = (new(&p), new(&p));
    let c = new_context(m, &params(64, false));
    ok(eval(c, &g.prompt));
    let draw = |s| {
        let mut t = 0;
        // SAFETY: live handles.
        ok(unsafe { llamette_sampler_sample(s, c, &mut t) });
        // SAFETY: a live sampler.
        ok(unsafe { llamette_sampler_accept(s, t) });
        t
    };
    for _ in 0..5 {
        draw(a);
    }
    // Save a's state, restore it into b: both then draw the same tokens.
    let mut n = 0;
    // SAFETY: a size query.
    let st = unsafe { llamette_sampler_state_write(a, null_mut(), 0, &mut n) };
    assert_eq!(st, LLAMETTE_ERR_BUFFER_TOO_SMALL);
    let mut buf = vec![0u8; n];
    // SAFETY: room for the state.
    ok(unsafe { llamette_sampler_state_write(a, buf.as_mut_ptr(), n, &mut n) });
    // SAFETY: the bytes just written.
    ok(unsafe { llamette_sampler_state_read(b, buf.as_ptr(), n) });
    let from_a: Vec<u32> = (0..8).map(|_| draw(a)).collect();
    let from_b: Vec<u32> = (0..8).map(|_| draw(b)).collect();
    assert_eq!(from_a, from_b);
    // Truncated or foreign bytes: refused, the sampler unchanged.
    // SAFETY: readable bytes.
    let st = unsafe { llamette_sampler_state_read(b, buf.as_ptr(), n - 1) };
    assert_eq!(st, LLAMETTE_ERR_BAD_STATE);
    // SAFETY: as above.
    let st = unsafe { llamette_sampler_state_read(b, b"not a state".as_ptr(), 11) };
    assert_eq!(st, LLAMETTE_ERR_BAD_STATE);
    // SAFETY: NULL handle.
    let st = unsafe { llamette_sampler_state_read(null_mut(), buf.as_ptr(), n) };
    assert_eq!(st, LLAMETTE_ERR_NULL_ARGUMENT);
    // SAFETY: live handles, freed once.
    unsafe {
        llamette_sampler_free(a);
        llamette_sampler_free(b);
        llamette_context_free(c);
        llamette_model_free(m);
    }
}

#[test]
fn the_models_own_format_is_its_jinja_template_when_no_built_in_one_renders_it() {
    // Phi-3's template is none of the built-in formats: LLAMETTE_CHAT_NONE renders it.
    let expected = json("templates/expected.json");
    let want = expected["templates"]["ggml-vocab-phi-3"]["results"][2]["output"]
        .as_str()
        .unwrap()
        .to_string();
    let m = load(fixture("vocab/ggml-vocab-phi-3.gguf"));
    let conv = &expected["conversations"][2];
    let owned = conversation(&conv["messages"]);
    let msgs = c_messages(&owned);
    let none = ChatFormatArg(LlametteChatFormat::LLAMETTE_CHAT_NONE as u32);
    let mut buf = vec![0 as c_char; 4096];
    let mut n = 0;
    // SAFETY: a live model, valid messages, a 4096-byte buffer.
    ok(unsafe {
        llamette_chat_render(
            m,
            none,
            msgs.as_ptr(),
            msgs.len(),
            true,
            buf.as_mut_ptr(),
            4096,
            &mut n,
        )
    });
    // SAFETY: NUL-terminated by the call.
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(text, want);
    let mut ids = vec![0u32; 512];
    // SAFETY: as above, room for 512 ids.
    ok(unsafe {
        llamette_chat_render_ids(
            m,
            none,
            msgs.as_ptr(),
            msgs.len(),
            true,
            ids.as_mut_ptr(),
            512,
            &mut n,
        )
    });
    ids.truncate(n);
    let mut want_ids = vec![0u32; 512];
    let mut k = 0;
    // SAFETY: the text and room for 512 ids.
    ok(unsafe {
        llamette_tokenize(
            m,
            text.as_ptr().cast(),
            text.len(),
            false,
            true,
            want_ids.as_mut_ptr(),
            512,
            &mut k,
        )
    });
    want_ids.truncate(k);
    assert_eq!(
        ids, want_ids,
        "the text tokenized with special tokens, no added BOS"
    );
    let mut stops = vec![0u32; 16];
    // SAFETY: room for 16 ids.
    ok(unsafe { llamette_chat_stop_tokens(m, none, stops.as_mut_ptr(), 16, &mut n) });
    stops.truncate(n);
    let eog = expected_eog("ggml-vocab-phi-3.gguf");
    assert_eq!(stops, eog);
    // SAFETY: a live model.
    unsafe { llamette_model_free(m) };
}

/// llama.cpp's end-of-generation set for a vocabulary fixture.
fn expected_eog(name: &str) -> Vec<u32> {
    json("golden/vocab-special.json")["vocabs"][name]["eog"].u32_vec()
}
