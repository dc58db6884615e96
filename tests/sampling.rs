//! The sampler's public API end to end, and its promise that `sample`, `accept` and `reset`
//! perform no heap allocation once the sampler exists: a counting global allocator counts the
//! allocations made by the test's own thread (a thread-local switch, so other tests running in
//! parallel are not counted).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use llamette::sampling::{
    dist, min_p, softmax, temperature, top_k, top_p, Candidates, Sampler, SamplerParams,
    Xoshiro256StarStar,
};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the thread-locals may be gone while the thread shuts down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(|n| n.get())
}

/// Logits in [-8, 8), deterministic.
fn logits(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Xoshiro256StarStar::new(seed);
    (0..n).map(|_| (r.next_f64() * 16.0 - 8.0) as f32).collect()
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test below against a counter that cannot count.
    let n = allocations_in(|| {
        let v: Vec<u64> = Vec::with_capacity(10);
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}

#[test]
fn sample_accept_and_reset_do_not_allocate() {
    let n_vocab = 32_000; // CodeLlama's vocabulary
    let configs = [
        SamplerParams::default(),
        // Top-p over the whole unsorted vocabulary, penalties of every kind, logit bias.
        SamplerParams {
            seed: 5,
            top_k: 0,
            top_p: 0.9,
            min_p: 0.0,
            min_keep: 2,
            penalty_last_n: 256,
            penalty_repeat: 1.1,
            penalty_freq: 0.2,
            penalty_present: 0.1,
            logit_bias: vec![(2, f32::NEG_INFINITY), (17, 1.5)],
            ..SamplerParams::default()
        },
        // Min-p's unsorted path, dynamic temperature.
        SamplerParams {
            top_k: 0,
            top_p: 1.0,
            min_p: 0.3,
            dynatemp_range: 0.5,
            ..SamplerParams::default()
        },
        // Greedy.
        SamplerParams {
            temp: 0.0,
            penalty_repeat: 1.3,
            ..SamplerParams::default()
        },
    ];
    let lg = logits(n_vocab, 1);
    let nan = vec![f32::NAN; n_vocab];
    let long = vec![0.5f32; n_vocab + 10];
    for params in configs {
        let mut s = Sampler::new(n_vocab, params.clone()).unwrap();
        let n = allocations_in(|| {
            for t in 0..300u32 {
                s.accept(t * 7919 % 32_000); // a prompt
            }
            for _ in 0..100 {
                let t = s.sample(&lg).unwrap();
                s.accept(t);
            }
            s.sample(&nan).unwrap();
            s.sample(&long).unwrap();
            s.sample(&lg[..10]).unwrap();
            assert_eq!(s.sample(&[]), None);
            s.reset();
            s.sample(&lg).unwrap();
        });
        assert_eq!(n, 0, "allocations with {params:?}");
    }
}

#[test]
fn stages_compose_like_the_sampler() {
    // The default chain by hand, stage by stage, draws what the sampler draws.
    let lg = logits(1000, 2);
    let params = SamplerParams {
        seed: 77,
        ..SamplerParams::default()
    };
    let mut sampler = Sampler::new(lg.len(), params.clone()).unwrap();
    let mut rng = Xoshiro256StarStar::new(params.seed);
    for _ in 0..50 {
        let mut c = Candidates::from_logits(&lg);
        top_k(&mut c, params.top_k);
        top_p(&mut c, params.top_p, params.min_keep);
        min_p(&mut c, params.min_p, params.min_keep);
        temperature(&mut c, params.temp);
        let by_hand = dist(&mut c, &mut rng);
        assert_eq!(sampler.sample(&lg), by_hand);
        assert_eq!(sampler.candidates(), &c);
    }
    // And the candidates' probabilities sum to 1 after a draw.
    let sum: f32 = sampler.candidates().iter().map(|d| d.p).sum();
    assert!((sum - 1.0).abs() < 1e-5, "{sum}");
    let mut c = Candidates::from_logits(&lg);
    softmax(&mut c);
    let sum: f32 = c.iter().map(|d| d.p).sum();
    assert!((sum - 1.0).abs() < 1e-5, "{sum}");
}
