//! The slots and the batching loop.
//!
//! One thread owns the model's [`Context`]: `n` slots, each a sequence of it with `n_ctx / n`
//! positions of its own (llama-server's slots without a unified cache). Every step builds one
//! batch: each generating slot's next token first, then chunks of the prompts being read, up to
//! `n_batch` tokens; evaluates it in one pass over the weights; then samples each slot whose
//! token asked for logits and sends the text to its request (continuous batching: a request
//! joins or leaves between any two steps). Requests beyond the slots wait in a queue.
//!
//! A slot keeps the tokens it last held: a request that starts with them reuses them
//! (`cache_prompt`), and the slot whose tokens share the longest prefix with the prompt is
//! chosen. A request whose client has gone (its event channel closed) is dropped at the next
//! step.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use llamette::embed::{self, Normalize, Pooling};
use llamette::generate::{StopText, TextStep};
use llamette::grammar::{Grammar, GrammarVocab};
use llamette::sampling::{logprobs, Sampler, SamplerParams, TokenLogprob};
use llamette::tokenizer::Vocab;
use llamette::{BatchToken, Context, ContextParams, Error, Model, ThreadPool};
use tokio::sync::{mpsc::UnboundedSender, oneshot};

use crate::api::{ApiError, ErrorKind, Finish, Timings};

/// A generation request, ready for a slot.
pub struct Job {
    /// The prompt's tokens (not empty, shorter than a slot's context).
    pub prompt: Vec<u32>,
    /// The sampler's settings, seed and logit bias resolved.
    pub sampling: SamplerParams,
    /// The output's grammar.
    pub grammar: Option<Grammar>,
    /// Tokens to generate at most.
    pub n_predict: Option<usize>,
    /// Stop strings.
    pub stop: Vec<String>,
    /// Tokens that end generation besides the vocabulary's end-of-generation ones.
    pub stop_tokens: Vec<u32>,
    /// Never stop at end-of-generation tokens (they are banned instead).
    pub ignore_eos: bool,
    /// Report log-probabilities with this many alternatives.
    pub logprobs: Option<usize>,
    /// Reuse what a slot holds.
    pub cache_prompt: bool,
    /// Prompt tokens kept when the context shifts (-1: the whole prompt).
    pub n_keep: i64,
    /// Where the tokens go; closed when the client has gone.
    pub events: UnboundedSender<Event>,
    /// When to stop generating regardless.
    pub deadline: Instant,
}

/// What a request hears from its slot.
#[derive(Debug)]
pub enum Event {
    /// A token was generated; `text` is what became certain (possibly empty).
    Token {
        /// The token.
        id: u32,
        /// Its text.
        text: String,
        /// Its log-probability, when asked for.
        logprob: Option<TokenLogprob>,
    },
    /// The generation ended.
    Done(Done),
    /// It failed.
    Error(ApiError),
}

/// The end of a generation.
#[derive(Debug, Clone)]
pub struct Done {
    /// Why.
    pub finish: Finish,
    /// The text still held back that belongs to the output.
    pub text: String,
    /// Counts and times.
    pub timings: Timings,
    /// The slot that ran it.
    pub slot: usize,
    /// The context was shifted (older tokens dropped) on the way.
    pub truncated: bool,
}

/// An embedding request: token sequences, one vector each (or one per token with pooling
/// none).
pub struct EmbedJob {
    /// The inputs' tokens.
    pub inputs: Vec<Vec<u32>>,
    /// L2-normalize (OpenAI's embeddings are unit vectors).
    pub normalize: bool,
    /// The vectors, or why not.
    pub reply: oneshot::Sender<Result<Vec<Vec<f32>>, ApiError>>,
}

/// What the engine thread is asked.
pub enum Request {
    /// Generate.
    Generate(Box<Job>),
    /// Embed.
    Embed(EmbedJob),
    /// The slots' state (`GET /slots`).
    Slots(oneshot::Sender<serde_json::Value>),
    /// Finish every request with what it has and stop.
    Shutdown,
}

/// Counters the HTTP side reads (`/metrics`, `/health`, the queue's bound).
#[derive(Debug, Default)]
pub struct Shared {
    /// Requests waiting for a slot (bounded by the HTTP side).
    pub queued: AtomicUsize,
    /// Slots generating or reading a prompt.
    pub busy: AtomicUsize,
    /// Totals.
    pub metrics: Mutex<Metrics>,
}

/// Totals since the start (llama-server's `/metrics`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Metrics {
    /// Prompt tokens evaluated (cached ones excluded).
    pub prompt_tokens: u64,
    /// Prompt tokens reused from a slot's cache.
    pub prompt_cached: u64,
    /// Seconds spent on prompts (per request, summed).
    pub prompt_seconds: f64,
    /// Tokens generated.
    pub predicted_tokens: u64,
    /// Seconds spent generating (per request, summed).
    pub predicted_seconds: f64,
    /// Batches evaluated.
    pub n_decode: u64,
    /// Busy slots summed over the batches.
    pub n_busy_slots: u64,
    /// Requests finished.
    pub requests: u64,
    /// Requests dropped because their client went away.
    pub cancelled: u64,
    /// The longest sequence a slot held.
    pub n_tokens_max: u64,
    /// Tokens evaluated in batches (prompt and generated).
    pub batch_tokens: u64,
    /// Seconds inside the batches' evaluations.
    pub decode_seconds: f64,
}

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineParams {
    /// Positions of the shared KV cache.
    pub n_ctx: usize,
    /// Slots.
    pub n_slots: usize,
    /// Tokens per step.
    pub n_batch: usize,
    /// Threads.
    pub threads: usize,
    /// Shift the context instead of stopping when a slot fills.
    pub context_shift: bool,
    /// The embeddings' pooling.
    pub pooling: Pooling,
}

impl EngineParams {
    /// Positions each slot has.
    pub fn n_ctx_slot(&self) -> usize {
        self.n_ctx / self.n_slots
    }
}

struct Active {
    job: Box<Job>,
    sampler: Sampler,
    text: StopText,
    /// Prompt tokens in the cache so far (the next one to evaluate).
    prompt_pos: usize,
    /// The token sampled last, to be evaluated in the next batch.
    pending: Option<u32>,
    n_generated: usize,
    n_cached: usize,
    started: Instant,
    first_token: Option<Instant>,
    truncated: bool,
}

struct Slot {
    /// The tokens the slot's sequence holds, positions 0..
    cache: Vec<u32>,
    active: Option<Active>,
    /// When the slot was last given a request (for least-recently-used choice).
    last_used: u64,
    /// The batch index of this slot's token that asked for logits in the current step.
    out: Option<usize>,
    /// Tokens this slot put in the current batch.
    in_batch: usize,
}

/// The engine: the context, the slots, the queue.
pub struct Engine {
    model: &'static Model<'static>,
    vocab: Arc<Vocab>,
    ctx: Context<'static>,
    embed_ctx: Option<Context<'static>>,
    grammar_vocab: Option<GrammarVocab>,
    pool: ThreadPool,
    params: EngineParams,
    slots: Vec<Slot>,
    waiting: VecDeque<Box<Job>>,
    shared: Arc<Shared>,
    batch: Vec<BatchToken>,
    tick: u64,
    eog: Vec<u32>,
}

impl Engine {
    /// An engine over `model` (its context allocated now).
    pub fn new(
        model: &'static Model<'static>,
        vocab: Arc<Vocab>,
        params: EngineParams,
        shared: Arc<Shared>,
    ) -> Result<Engine, Error> {
        let ctx = Context::new(
            model,
            ContextParams {
                n_ctx: params.n_ctx,
                n_batch: params.n_batch,
                n_seq_max: params.n_slots,
                // A slot's answer does not depend on the others' (what they hold, where its
                // cells fall, what shares its batches).
                isolate_seqs: true,
                ..ContextParams::default()
            },
        )?;
        let slots = (0..params.n_slots)
            .map(|_| Slot {
                cache: Vec::new(),
                active: None,
                last_used: 0,
                out: None,
                in_batch: 0,
            })
            .collect();
        let eog = vocab.eog_ids().collect();
        Ok(Engine {
            model,
            vocab,
            ctx,
            embed_ctx: None,
            grammar_vocab: None,
            pool: ThreadPool::new(params.threads),
            batch: Vec::with_capacity(params.n_batch),
            params,
            slots,
            waiting: VecDeque::new(),
            shared,
            tick: 0,
            eog,
        })
    }

    /// Serves requests until [`Request::Shutdown`] or until every sender is gone.
    pub fn run(mut self, rx: mpsc::Receiver<Request>) {
        loop {
            let idle = self.slots.iter().all(|s| s.active.is_none()) && self.waiting.is_empty();
            // Block while there is nothing to do; otherwise take what has arrived.
            let first = if idle {
                match rx.recv() {
                    Ok(r) => Some(r),
                    Err(_) => return,
                }
            } else {
                None
            };
            let mut stop = false;
            for r in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                match r {
                    Request::Generate(job) => self.waiting.push_back(job),
                    Request::Embed(job) => self.embed(job),
                    Request::Slots(reply) => {
                        let _ = reply.send(self.slots_json());
                    }
                    Request::Shutdown => stop = true,
                }
            }
            if stop {
                self.shutdown();
                return;
            }
            self.drop_gone();
            self.assign();
            self.step();
        }
    }

    fn shutdown(&mut self) {
        for s in 0..self.slots.len() {
            if self.slots[s].active.is_some() {
                self.finish(s, Finish::Limit);
            }
        }
        for job in self.waiting.drain(..) {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            let _ = job.events.send(Event::Error(ApiError::new(
                ErrorKind::Unavailable,
                "the server is shutting down",
            )));
        }
    }

    /// Drops requests whose clients have gone, and ends those past their deadline.
    fn drop_gone(&mut self) {
        let now = Instant::now();
        let before = self.waiting.len();
        self.waiting.retain(|j| !j.events.is_closed());
        let gone = before - self.waiting.len();
        if gone > 0 {
            self.shared.queued.fetch_sub(gone, Ordering::Relaxed);
            self.shared.metrics.lock().unwrap().cancelled += gone as u64;
        }
        for s in 0..self.slots.len() {
            let Some(a) = &self.slots[s].active else {
                continue;
            };
            if a.job.events.is_closed() {
                self.release(s);
                self.shared.metrics.lock().unwrap().cancelled += 1;
            } else if now >= a.job.deadline {
                self.finish(s, Finish::Limit);
            }
        }
    }

    /// Gives waiting requests to free slots.
    fn assign(&mut self) {
        while !self.waiting.is_empty() {
            let job = &self.waiting[0];
            // The free slot sharing the longest prefix with the prompt, else the least
            // recently used one.
            let best = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.active.is_none())
                .map(|(i, s)| {
                    let common = if job.cache_prompt {
                        common_prefix(&s.cache, &job.prompt)
                    } else {
                        0
                    };
                    (i, common, s.last_used)
                })
                .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)));
            let Some((s, common, _)) = best else {
                return;
            };
            let job = self.waiting.pop_front().unwrap_or_else(|| unreachable!());
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            self.start(s, job, common);
        }
    }

    fn start(&mut self, s: usize, job: Box<Job>, common: usize) {
        // Keep the common prefix, short of the prompt's last token (its logits are needed).
        let keep = common.min(job.prompt.len().saturating_sub(1));
        if self.ctx.seq_rm(Some(s), keep..).is_err() {
            // Cannot happen for a valid slot; start over empty.
            let _ = self.ctx.seq_rm(Some(s), ..);
            self.slots[s].cache.clear();
        }
        self.slots[s].cache.truncate(keep);
        let keep = self.slots[s].cache.len();
        let mut sampling = job.sampling.clone();
        if job.ignore_eos {
            sampling
                .logit_bias
                .extend(self.eog.iter().map(|&t| (t, f32::NEG_INFINITY)));
        }
        let sampler = match self.sampler(&job, sampling) {
            Ok(s) => s,
            Err(e) => {
                let _ = job.events.send(Event::Error(e));
                return;
            }
        };
        let mut sampler = sampler;
        for &t in &job.prompt {
            sampler.accept(t);
        }
        self.tick += 1;
        let slot = &mut self.slots[s];
        slot.last_used = self.tick;
        slot.active = Some(Active {
            text: StopText::new(job.stop.clone()),
            job,
            sampler,
            prompt_pos: keep,
            pending: None,
            n_generated: 0,
            n_cached: keep,
            started: Instant::now(),
            first_token: None,
            truncated: false,
        });
        self.shared.busy.fetch_add(1, Ordering::Relaxed);
    }

    fn sampler(&mut self, job: &Job, sampling: SamplerParams) -> Result<Sampler, ApiError> {
        let mut sampler = Sampler::with_vocab(&self.vocab, sampling)?;
        if let Some(g) = &job.grammar {
            if self.grammar_vocab.is_none() {
                self.grammar_vocab = Some(GrammarVocab::new(&self.vocab)?);
            }
            let gv = self
                .grammar_vocab
                .as_ref()
                .unwrap_or_else(|| unreachable!());
            sampler = sampler.with_constraint(Box::new(gv.constraint(g)?));
        }
        Ok(sampler)
    }

    /// One batch: every generating slot's token, then prompt chunks; evaluate; sample.
    fn step(&mut self) {
        self.batch.clear();
        let n_ctx_slot = self.params.n_ctx_slot();
        // Generating slots first: one token each.
        for s in 0..self.slots.len() {
            self.slots[s].out = None;
            self.slots[s].in_batch = 0;
            let Some(tok) = self.slots[s].active.as_ref().and_then(|a| a.pending) else {
                continue;
            };
            if self.slots[s].cache.len() + 1 > n_ctx_slot
                && (!self.params.context_shift || !self.shift(s))
            {
                self.finish(s, Finish::Limit);
                continue;
            }
            let pos = self.slots[s].cache.len();
            self.batch.push(BatchToken::new(tok, pos, s, true));
            self.slots[s].out = Some(self.batch.len() - 1);
            self.slots[s].in_batch = 1;
        }
        // Then prompts, in slot order, as much as the batch holds.
        for s in 0..self.slots.len() {
            let room = self.params.n_batch - self.batch.len();
            if room == 0 {
                break;
            }
            let slot = &mut self.slots[s];
            let Some(a) = slot.active.as_mut() else {
                continue;
            };
            if a.pending.is_some() || a.prompt_pos >= a.job.prompt.len() {
                continue;
            }
            let n = (a.job.prompt.len() - a.prompt_pos).min(room);
            for j in 0..n {
                let i = a.prompt_pos + j;
                let last = i + 1 == a.job.prompt.len();
                self.batch
                    .push(BatchToken::new(a.job.prompt[i], i, s, last));
                if last {
                    slot.out = Some(self.batch.len() - 1);
                }
            }
            slot.in_batch = n;
        }
        if self.batch.is_empty() {
            return;
        }
        let t0 = Instant::now();
        let result = self.ctx.decode(&self.batch, &self.pool);
        let dt = t0.elapsed().as_secs_f64();
        {
            let busy = self.slots.iter().filter(|s| s.in_batch > 0).count();
            let mut m = self.shared.metrics.lock().unwrap();
            m.n_decode += 1;
            m.n_busy_slots += busy as u64;
            m.batch_tokens += self.batch.len() as u64;
            m.decode_seconds += dt;
        }
        if let Err(e) = result {
            // Nothing was evaluated: fail every request in the batch.
            let err = ApiError::from(e);
            for s in 0..self.slots.len() {
                if self.slots[s].in_batch > 0 {
                    if let Some(a) = &self.slots[s].active {
                        let _ = a.job.events.send(Event::Error(err.clone()));
                    }
                    self.release(s);
                    let _ = self.ctx.seq_rm(Some(s), ..);
                    self.slots[s].cache.clear();
                }
            }
            return;
        }
        // The batch is in the cache now.
        let mut at = 0;
        for s in 0..self.slots.len() {
            let n = self.slots[s].in_batch;
            if n == 0 {
                continue;
            }
            // Generating slots came first, one token each, in slot order; prompt chunks after.
            let _ = at;
            at += n;
            let slot = &mut self.slots[s];
            let Some(a) = slot.active.as_mut() else {
                continue;
            };
            if let Some(tok) = a.pending.take() {
                slot.cache.push(tok);
            } else {
                slot.cache
                    .extend_from_slice(&a.job.prompt[a.prompt_pos..a.prompt_pos + n]);
                a.prompt_pos += n;
            }
        }
        for s in 0..self.slots.len() {
            if let Some(i) = self.slots[s].out {
                self.sample(s, i);
            }
        }
    }

    /// Samples slot `s`'s next token from batch row `i` and sends it.
    fn sample(&mut self, s: usize, i: usize) {
        let Some(logits) = self.ctx.logits_ith(i) else {
            self.fail(
                s,
                ApiError::new(ErrorKind::Server, "no logits for the slot's token"),
            );
            return;
        };
        let vocab = &self.vocab;
        let Some(a) = self.slots[s].active.as_mut() else {
            return;
        };
        if a.first_token.is_none() {
            a.first_token = Some(Instant::now());
        }
        let sampled = a
            .sampler
            .try_sample(logits)
            .and_then(|id| a.sampler.accept_sampled(id).map(|()| id));
        let id = match sampled {
            Ok(id) => id,
            // The grammar allows nothing more: the output is as complete as it can be.
            Err(Error::ConstraintFailed { .. }) => return self.finish(s, Finish::Eos),
            Err(e) => return self.fail(s, ApiError::from(e)),
        };
        let lp = a
            .job
            .logprobs
            .and_then(|n| logprobs(logits, &a.sampler.params().logit_bias, id, n));
        // Counted like any token (llama-server's n_decoded counts the end-of-generation one).
        a.n_generated += 1;
        if !a.job.ignore_eos && (vocab.is_eog(id) || a.job.stop_tokens.contains(&id)) {
            // No text, but its probability is reported as llama-server reports it.
            if lp.is_some() {
                let _ = a.job.events.send(Event::Token {
                    id,
                    text: String::new(),
                    logprob: lp,
                });
            }
            return self.finish(s, Finish::Eos);
        }
        let piece = vocab.token_to_piece(id, false).unwrap_or(b"");
        let (text, stopped) = match a.text.push(piece) {
            TextStep::Ready(t) => (t, None),
            TextStep::Stopped { text, stop } => (text, Some(stop)),
        };
        let _ = a.job.events.send(Event::Token {
            id,
            text,
            logprob: lp,
        });
        if let Some(stop) = stopped {
            return self.finish(s, Finish::Word(stop));
        }
        if a.job.n_predict.is_some_and(|n| a.n_generated >= n) {
            return self.finish(s, Finish::Limit);
        }
        a.pending = Some(id);
    }

    /// Drops the older half of slot `s`'s tokens after `n_keep` (llama-server's context
    /// shift); false when nothing can be dropped.
    fn shift(&mut self, s: usize) -> bool {
        let slot = &mut self.slots[s];
        let Some(a) = slot.active.as_mut() else {
            return false;
        };
        let len = slot.cache.len();
        let n_keep = match a.job.n_keep {
            -1 => a.job.prompt.len(),
            n => n as usize,
        }
        .min(len.saturating_sub(2));
        let n_discard = (len - n_keep) / 2;
        if n_discard == 0 {
            return false;
        }
        let end = n_keep + n_discard;
        if self.ctx.seq_rm(Some(s), n_keep..end).is_err()
            || self.ctx.seq_add(s, end.., -(n_discard as isize)).is_err()
        {
            return false;
        }
        slot.cache.drain(n_keep..end);
        a.truncated = true;
        true
    }

    fn timings(a: &Active) -> Timings {
        let now = Instant::now();
        let first = a.first_token.unwrap_or(now);
        Timings {
            cache_n: a.n_cached,
            prompt_n: a.job.prompt.len() - a.n_cached,
            prompt_ms: first.duration_since(a.started).as_secs_f64() * 1e3,
            predicted_n: a.n_generated,
            predicted_ms: now.duration_since(first).as_secs_f64() * 1e3,
        }
    }

    /// Ends slot `s`'s request with `finish`, sending the held-back text and the timings.
    fn finish(&mut self, s: usize, finish: Finish) {
        let Some(mut a) = self.slots[s].active.take() else {
            return;
        };
        self.shared.busy.fetch_sub(1, Ordering::Relaxed);
        let text = match finish {
            Finish::Word(_) => String::new(),
            _ => a.text.finish(),
        };
        let timings = Self::timings(&a);
        {
            let mut m = self.shared.metrics.lock().unwrap();
            m.requests += 1;
            m.prompt_tokens += timings.prompt_n as u64;
            m.prompt_cached += timings.cache_n as u64;
            m.prompt_seconds += timings.prompt_ms / 1e3;
            m.predicted_tokens += timings.predicted_n as u64;
            m.predicted_seconds += timings.predicted_ms / 1e3;
            m.n_tokens_max = m.n_tokens_max.max(self.slots[s].cache.len() as u64 + 1);
        }
        let _ = a.job.events.send(Event::Done(Done {
            finish,
            text,
            timings,
            slot: s,
            truncated: a.truncated,
        }));
    }

    fn fail(&mut self, s: usize, e: ApiError) {
        if let Some(a) = &self.slots[s].active {
            let _ = a.job.events.send(Event::Error(e));
        }
        self.release(s);
    }

    /// Frees slot `s` without a word (its client has gone); its cache stays for reuse.
    fn release(&mut self, s: usize) {
        if self.slots[s].active.take().is_some() {
            self.shared.busy.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn embed(&mut self, job: EmbedJob) {
        let result = self.embed_vectors(&job.inputs, job.normalize);
        let _ = job.reply.send(result);
    }

    fn embed_vectors(
        &mut self,
        inputs: &[Vec<u32>],
        normalize: bool,
    ) -> Result<Vec<Vec<f32>>, ApiError> {
        let n_ctx = self.params.n_ctx_slot().max(1);
        if let Some((i, t)) = inputs.iter().enumerate().find(|(_, t)| t.len() > n_ctx) {
            let mut e = ApiError::exceeds_context(t.len(), n_ctx);
            e.message = format!(
                "input {i} ({} tokens) is larger than the max context size ({n_ctx} tokens)",
                t.len()
            );
            return Err(e);
        }
        if self.embed_ctx.is_none() {
            let ctx = Context::new(
                self.model,
                ContextParams {
                    n_ctx,
                    // Outputs for a batch of tokens (each row also holds logits, so no
                    // more than a batch: a longer input is embedded in several steps).
                    n_batch: self.params.n_batch,
                    n_seq_max: self.params.n_slots,
                    n_outputs_max: self.params.n_batch,
                    embeddings: true,
                    ..ContextParams::default()
                },
            )?;
            self.embed_ctx = Some(ctx);
        }
        let ctx = self.embed_ctx.as_mut().unwrap_or_else(|| unreachable!());
        let d = self.model.config().n_embd;
        let seqs: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
        let pooling = self.params.pooling;
        let mut out = vec![0f32; embed::output_len(d, &seqs, pooling)];
        let norm = if normalize {
            Normalize::Euclidean
        } else {
            Normalize::None
        };
        embed::embed(ctx, &seqs, pooling, norm, &mut out, &self.pool)?;
        Ok(out.chunks(d).map(<[f32]>::to_vec).collect())
    }

    fn slots_json(&self) -> serde_json::Value {
        let v: Vec<serde_json::Value> = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                serde_json::json!({
                    "id": i,
                    "n_ctx": self.params.n_ctx_slot(),
                    "is_processing": s.active.is_some(),
                    "n_tokens": s.cache.len(),
                    "next_token": [{
                        "n_decoded": s.active.as_ref().map_or(0, |a| a.n_generated),
                    }],
                })
            })
            .collect();
        serde_json::Value::Array(v)
    }
}

/// The length of the common prefix of `a` and `b`.
pub fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A timeout that never fires in practice.
pub fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}
