//! After a context is created, evaluating tokens performs no heap allocation: proven with a
//! counting global allocator around prompt and single-token evaluations, serial and threaded,
//! and around multi-sequence batches and sequence operations.
//! (One test in this binary, so nothing else allocates while it counts.)

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::fixture;
use llamette::{Context, ContextParams, Model, Serial, ThreadPool};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
/// Set from the environment (`NOALLOC_TRACE=1`): print where an unexpected allocation came from.
static TRACE: AtomicBool = AtomicBool::new(false);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::SeqCst) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
            if TRACE.load(Ordering::SeqCst) {
                COUNTING.store(false, Ordering::SeqCst);
                eprintln!("{}", std::backtrace::Backtrace::force_capture());
                COUNTING.store(true, Ordering::SeqCst);
            }
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::SeqCst) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The count is process-wide: the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn eval_allocates_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    TRACE.store(
        std::env::var_os("NOALLOC_TRACE").is_some(),
        Ordering::SeqCst,
    );
    for name in [
        "tiny-codellama.q4_k_m.gguf",
        "tiny-codellama.f16.gguf",
        "tiny-codellama-tied.q8_0.gguf",
    ] {
        let bytes = fixture(&format!("models/{name}"));
        let model = Model::from_bytes(&bytes).unwrap();
        let pool = ThreadPool::new(3);
        for logits_all in [false, true] {
            let params = ContextParams {
                n_ctx: 128,
                n_batch: 16,
                logits_all,
                ..Default::default()
            };
            let mut ctx = Context::new(&model, params).unwrap();
            let prompt: Vec<u32> = (1..12).collect();
            let long: Vec<u32> = (0..40).map(|i| (i * 7 % 1000) as u32).collect();
            // Warm the pool's threads up outside the window (thread start-up allocates).
            ctx.eval(&[1], &pool).unwrap();
            ctx.clear();

            ALLOCATIONS.store(0, Ordering::SeqCst);
            COUNTING.store(true, Ordering::SeqCst);
            ctx.eval(&prompt, &Serial).unwrap();
            for t in 0..5 {
                ctx.eval(&[100 + t], &Serial).unwrap();
            }
            ctx.eval(&prompt, &pool).unwrap();
            for t in 0..5 {
                ctx.eval(&[200 + t], &pool).unwrap();
            }
            // A long input evaluated in several steps of n_batch.
            if !logits_all {
                ctx.eval(&long, &pool).unwrap();
            }
            let _ = ctx.logits()[0];
            COUNTING.store(false, Ordering::SeqCst);
            assert_eq!(
                ALLOCATIONS.load(Ordering::SeqCst),
                0,
                "{name}, logits_all {logits_all}"
            );
        }
    }
}

#[test]
fn multi_sequence_decode_and_sequence_operations_allocate_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    use llamette::model::{BatchToken, SeqSet};
    let bytes = fixture("models/tiny-codellama.q4_k_m.gguf");
    let model = Model::from_bytes(&bytes).unwrap();
    let pool = ThreadPool::new(3);
    let params = ContextParams {
        n_ctx: 128,
        n_batch: 16,
        n_seq_max: 4,
        ..Default::default()
    };
    let mut ctx = Context::new(&model, params).unwrap();
    // Batches built before the window: the host owns them.
    let shared: Vec<BatchToken> = (0..10)
        .map(|i| BatchToken {
            token: 1 + i as u32,
            pos: i,
            seqs: SeqSet::one(0).with(1).with(2).with(3),
            logits: i == 9,
        })
        .collect();
    let mixed: Vec<BatchToken> = (0..24)
        .map(|i| BatchToken::new(50 + i as u32, 10 + i / 4, i % 4, i >= 20))
        .collect();
    let step: Vec<BatchToken> = (0..4).map(|s| BatchToken::new(7, 16, s, true)).collect();
    ctx.eval(&[1], &pool).unwrap();
    ctx.clear();

    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    ctx.decode(&shared, &pool).unwrap();
    ctx.decode(&mixed, &pool).unwrap();
    ctx.decode(&step, &Serial).unwrap();
    let _ = ctx.logits_ith(3).unwrap()[0];
    ctx.seq_rm(Some(1), 12..).unwrap();
    ctx.seq_cp(0, 1, ..).unwrap();
    ctx.seq_keep(0).unwrap();
    let _ = (ctx.seq_pos_min(0), ctx.seq_pos_max(0));
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0);
    assert_eq!(ctx.seq_pos_max(0), Some(16));
}
