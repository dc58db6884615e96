//! The engine without HTTP, on SmolLM2: slots in one batch, the prompt cache, a client that
//! goes away, the context's end with and without the shift.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use llamette::embed::Pooling;
use llamette::sampling::SamplerParams;
use llamette::tokenizer::Vocab;
use llamette::Model;
use llamette_server::api::Finish;
use llamette_server::engine::{
    far_deadline, Done, Engine, EngineParams, Event, Job, Request, Shared,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

fn model() -> &'static (Model<'static>, Arc<Vocab>) {
    static M: OnceLock<(Model<'static>, Arc<Vocab>)> = OnceLock::new();
    M.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/smollm2-135m-instruct.q4_1.gguf"
        );
        let model = Model::load(path).unwrap_or_else(|e| {
            panic!("{path}: {e}: run scripts/fetch-smollm2.sh (from the repository root) first")
        });
        let vocab = Arc::new(Vocab::from_gguf(model.header()).unwrap());
        (model, vocab)
    })
}

struct Running {
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.tx.send(Request::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(n_ctx: usize, n_slots: usize, context_shift: bool) -> Running {
    let (model, vocab) = model();
    let shared = Arc::new(Shared::default());
    let params = EngineParams {
        n_ctx,
        n_slots,
        n_batch: 64,
        threads: 2,
        context_shift,
        pooling: Pooling::Mean,
    };
    let engine = Engine::new(model, vocab.clone(), params, shared.clone()).unwrap();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || engine.run(rx));
    Running {
        tx,
        shared,
        thread: Some(thread),
    }
}

fn chat_prompt(question: &str) -> Vec<u32> {
    let (_, vocab) = model();
    let text = format!("<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n");
    vocab.tokenize(&text, false, true).unwrap()
}

fn job(
    prompt: Vec<u32>,
    n_predict: Option<usize>,
    ignore_eos: bool,
) -> (Box<Job>, UnboundedReceiver<Event>) {
    let (events, rx) = unbounded_channel();
    let sampling = SamplerParams {
        temp: 0.0,
        ..SamplerParams::default()
    };
    let job = Job {
        prompt,
        sampling,
        grammar: None,
        n_predict,
        stop: Vec::new(),
        stop_tokens: Vec::new(),
        ignore_eos,
        logprobs: None,
        cache_prompt: true,
        n_keep: 0,
        events,
        deadline: far_deadline(),
    };
    (Box::new(job), rx)
}

/// All of a generation: its text and its end.
fn collect(mut rx: UnboundedReceiver<Event>) -> (String, Done) {
    let mut text = String::new();
    loop {
        match rx
            .blocking_recv()
            .expect("the engine ended the request without a result")
        {
            Event::Token { text: t, .. } => text.push_str(&t),
            Event::Done(d) => {
                text.push_str(&d.text);
                return (text, d);
            }
            Event::Error(e) => panic!("error: {}", e.message),
        }
    }
}

fn submit(r: &Running, job: Box<Job>) {
    r.shared.queued.fetch_add(1, Ordering::Relaxed);
    r.tx.send(Request::Generate(job)).unwrap();
}

#[test]
fn slots_in_one_batch_answer_as_a_lone_request_and_reuse_their_prompts() {
    let r = start(4096, 4, false);
    let q = chat_prompt("What is the capital of France?");
    let (j, rx) = job(q.clone(), Some(32), false);
    submit(&r, j);
    let (lone, d) = collect(rx);
    assert_eq!(lone, "The capital of France is Paris.");
    assert_eq!(d.finish, Finish::Eos);
    // 7 tokens of text and the end-of-turn token.
    assert_eq!(d.timings.predicted_n, 8);
    assert_eq!((d.timings.cache_n, d.timings.prompt_n), (0, q.len()));
    // Eight at once on four slots: four wait, all answer alike.
    let rxs: Vec<_> = (0..8)
        .map(|_| {
            let (j, rx) = job(q.clone(), Some(32), false);
            submit(&r, j);
            rx
        })
        .collect();
    let mut reused = 0;
    for rx in rxs {
        let (text, d) = collect(rx);
        assert_eq!(text, lone);
        // A slot that ran the question before keeps all of it but the last token.
        assert!(
            d.timings.cache_n == 0 || d.timings.cache_n == q.len() - 1,
            "{:?}",
            d.timings
        );
        reused += usize::from(d.timings.cache_n > 0);
    }
    // The first slot held the lone request's prompt; the four later requests find theirs.
    assert!(reused >= 5, "{reused} of 8 reused a prompt");
    assert_eq!(r.shared.busy.load(Ordering::Relaxed), 0);
    assert_eq!(r.shared.queued.load(Ordering::Relaxed), 0);
    let m = *r.shared.metrics.lock().unwrap();
    assert_eq!(m.requests, 9);
    assert_eq!(m.predicted_tokens, 9 * 8);
    // Batches held several slots at once.
    assert!(m.n_busy_slots > m.n_decode, "{m:?}");
}

#[test]
fn a_client_that_goes_away_frees_its_slot() {
    let r = start(4096, 1, false);
    let (j, mut rx) = job(
        chat_prompt("Count from 1 to 500, one number per line."),
        Some(2000),
        true,
    );
    submit(&r, j);
    // Some tokens, then the client is gone.
    for _ in 0..3 {
        assert!(matches!(rx.blocking_recv(), Some(Event::Token { .. })));
    }
    drop(rx);
    let t = Instant::now();
    while r.shared.busy.load(Ordering::Relaxed) != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the slot is still busy"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(r.shared.metrics.lock().unwrap().cancelled, 1);
    // The one slot serves the next request.
    let (j, rx) = job(
        chat_prompt("What is the capital of France?"),
        Some(32),
        false,
    );
    submit(&r, j);
    assert_eq!(collect(rx).0, "The capital of France is Paris.");
}

#[test]
fn a_full_slot_ends_with_length_or_shifts_its_context() {
    let q = chat_prompt("Count from 1 to 500, one number per line.");
    // 2 slots of 64 positions.
    let r = start(128, 2, false);
    let (j, rx) = job(q.clone(), Some(500), true);
    submit(&r, j);
    let (_, d) = collect(rx);
    assert_eq!(d.finish, Finish::Limit);
    assert!(!d.truncated);
    // The prompt and what was generated fill the slot (the last token is not evaluated).
    assert_eq!(q.len() + d.timings.predicted_n, 64 + 1);
    drop(r);

    let r = start(128, 2, true);
    let (j, rx) = job(q.clone(), Some(200), true);
    submit(&r, j);
    let (text, d) = collect(rx);
    assert_eq!(d.finish, Finish::Limit);
    assert!(d.truncated);
    assert_eq!(d.timings.predicted_n, 200);
    assert!(!text.is_empty());
}
