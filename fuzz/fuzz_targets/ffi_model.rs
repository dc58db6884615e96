//! The C ABI over arbitrary bytes: `llamette_model_from_memory` (and `_from_parts` with the
//! bytes cut in two), then info, metadata, tokenize, a context and one eval of a small model,
//! and the frees. A panic inside the boundary is a crash (libFuzzer's panic hook aborts before
//! the boundary can turn it into LLAMETTE_ERR_PANIC), and so is LLAMETTE_ERR_PANIC itself.
//! Input: [cut selector][file bytes...].
#![no_main]
use std::mem::MaybeUninit;
use std::ptr;

use libfuzzer_sys::fuzz_target;
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

unsafe fn exercise(m: *mut LlametteModel, file_len: usize) {
    let mut info = MaybeUninit::<LlametteModelInfo>::zeroed();
    if !ok(
        unsafe { llamette_model_info(m, info.as_mut_ptr()) },
        "model_info",
    ) {
        return;
    }
    let info = unsafe { info.assume_init() };
    let mut buf = [0u8; 16];
    let mut n = 0usize;
    ok(
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
    if file_len > llamette_fuzz::SMALL_FILE || info.n_vocab == 0 || info.n_vocab > 50_000 {
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
        unsafe { llamette_context_new(m, &p, &mut c) },
        "context_new",
    ) {
        let bad = [info.n_vocab];
        assert!(
            !ok(unsafe { llamette_eval(c, bad.as_ptr(), 1) }, "eval"),
            "eval of an out-of-range token succeeded"
        );
        let toks = [1u32 % info.n_vocab, 2 % info.n_vocab];
        ok(
            unsafe { llamette_eval(c, toks.as_ptr(), toks.len()) },
            "eval",
        );
        unsafe { llamette_context_free(c) };
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, file)) = data.split_first() else {
        return;
    };
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
});
