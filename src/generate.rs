//! Generation: evaluate a prompt, then sample, evaluate and detokenize one token at a time until
//! a stop rule fires, handing out text only in complete UTF-8 characters.
//!
//! [`Generation`] is the step-by-step core (no clock, no I/O, `no_std`): feed a prompt, then call
//! [`Generation::next`] until it returns [`Step::Done`]; the caller may stop between any two
//! steps. Under `std`, [`generate`] runs the whole loop with a callback for the text pieces and
//! reports [`Timings`].
//!
//! Stop rules, as llama.cpp's programs apply them: `n_predict` tokens, an end-of-generation
//! token (the vocabulary's EOS/EOT set plus any extra stop tokens, e.g. a chat format's
//! `<step>`), a stop string (text that might be the start of one is held back until it is
//! certain not to be), or a full context.

use alloc::string::String;
use alloc::vec::Vec;

use crate::chat::{ChatFormat, Message};
use crate::error::{Error, Result};
use crate::model::Context;
use crate::parallel::Parallel;
use crate::sampling::{logprobs, Sampler, TokenLogprob};
use crate::tokenizer::{Utf8Decoder, Vocab};

/// What to generate from.
#[derive(Debug, Clone, Copy)]
pub enum Prompt<'a> {
    /// Text, tokenized with the model's BOS rule and special tokens parsed (as llama.cpp's
    /// programs do with a prompt).
    Text(&'a str),
    /// Token ids, used as they are.
    Tokens(&'a [u32]),
    /// A conversation, rendered by a chat format with the assistant's turn opened.
    Chat {
        /// The format (for a model's own: [`ChatFormat::from_header`]).
        format: ChatFormat,
        /// The messages.
        messages: &'a [Message<'a>],
    },
}

impl Prompt<'_> {
    /// The prompt's token ids.
    pub fn tokens(&self, vocab: &Vocab) -> Result<Vec<u32>> {
        match *self {
            Prompt::Text(text) => vocab.tokenize(text, true, true),
            Prompt::Tokens(ids) => Ok(ids.to_vec()),
            Prompt::Chat { format, messages } => format.render_ids(vocab, messages, true),
        }
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// `n_predict` tokens were generated.
    Length,
    /// An end-of-generation token was sampled (it is not evaluated and not printed).
    EndOfGeneration(u32),
    /// A stop string appeared in the text (it is not handed out).
    StopString(String),
    /// The context has no room for another token.
    ContextFull,
    /// The sampler's constraint (a grammar) allows no token: the text so far cannot be
    /// completed under it, or the grammar engine gave up. Says why.
    Constraint(String),
}

/// One step of [`Generation::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A token was generated; `text` is the text that became certain (possibly empty).
    Token {
        /// The token.
        id: u32,
        /// Text ready to show.
        text: String,
    },
    /// Generation is over; `text` is the text still held back that belongs to the output.
    Done {
        /// Why.
        reason: StopReason,
        /// The last text to show.
        text: String,
    },
}

/// When to stop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopRules {
    /// Tokens to generate at most; `None` generates until another rule stops it.
    pub n_predict: Option<usize>,
    /// Tokens that end generation besides the vocabulary's end-of-generation set.
    pub stop_tokens: Vec<u32>,
    /// Strings that end generation when they appear in the output.
    pub stop_strings: Vec<String>,
}

/// A generation in progress over a context.
pub struct Generation<'c, 'm> {
    ctx: &'c mut Context<'m>,
    vocab: &'c Vocab,
    sampler: &'c mut Sampler,
    rules: StopRules,
    text: StopText,
    n_generated: usize,
    done: bool,
    /// Alternatives to report with each token's log-probability (`None`: no log-probabilities).
    logprobs: Option<usize>,
    last_logprob: Option<TokenLogprob>,
    /// The token the last step sampled.
    last_token: Option<u32>,
}

impl<'c, 'm> Generation<'c, 'm> {
    /// A generation that continues the context's sequence.
    pub fn new(
        ctx: &'c mut Context<'m>,
        vocab: &'c Vocab,
        sampler: &'c mut Sampler,
        rules: StopRules,
    ) -> Self {
        Generation {
            ctx,
            vocab,
            sampler,
            text: StopText::new(rules.stop_strings.clone()),
            rules,
            n_generated: 0,
            done: false,
            logprobs: None,
            last_logprob: None,
            last_token: None,
        }
    }

    /// Reports the log-probability of every generated token with its `n_top` most likely
    /// alternatives (at most [`MAX_TOP_LOGPROBS`](crate::sampling::MAX_TOP_LOGPROBS)):
    /// [`last_logprob`](Self::last_logprob) after each step. The distribution is the logits'
    /// softmax with the sampler's logit bias added, before penalties, grammar, truncation and
    /// temperature (as llama.cpp's server and llama-cpp-python report it).
    pub fn with_logprobs(mut self, n_top: usize) -> Self {
        self.logprobs = Some(n_top);
        self
    }

    /// The log-probability of the token the last [`next`](Self::next) sampled (also the
    /// end-of-generation token that ended it), when [`with_logprobs`](Self::with_logprobs)
    /// asked for them.
    pub fn last_logprob(&self) -> Option<&TokenLogprob> {
        self.last_logprob.as_ref()
    }

    /// The token the last [`next`](Self::next) sampled: the one [`Step::Token`] carries, the
    /// one that completed a stop string (counted in [`n_generated`](Self::n_generated) but not
    /// handed out as a step), or the end-of-generation token that ended it (not counted).
    /// `None` before the first step and when the last step sampled nothing.
    pub fn last_token(&self) -> Option<u32> {
        self.last_token
    }

    /// Evaluates prompt tokens (after whatever the context already holds) and records them in
    /// the sampler's history for the repetition penalties.
    pub fn feed(&mut self, tokens: &[u32], par: &dyn Parallel) -> Result<()> {
        self.ctx.eval(tokens, par)?;
        for &t in tokens {
            self.sampler.accept(t);
        }
        Ok(())
    }

    /// Tokens generated so far.
    pub fn n_generated(&self) -> usize {
        self.n_generated
    }

    /// Samples the next token from the last logits, evaluates it, and returns its text, or
    /// ends the generation. After [`Step::Done`] every call returns `Done` again with no text.
    pub fn next(&mut self, par: &dyn Parallel) -> Result<Step> {
        self.last_token = None;
        self.last_logprob = None;
        if self.done {
            return Ok(self.finish(StopReason::Length));
        }
        if self.rules.n_predict.is_some_and(|n| self.n_generated >= n) {
            return Ok(self.finish(StopReason::Length));
        }
        // The next token needs a free cell (other sequences may hold some).
        if self.ctx.n_used() >= self.ctx.params().n_ctx {
            return Ok(self.finish(StopReason::ContextFull));
        }
        let sampled = self
            .sampler
            .try_sample(self.ctx.logits())
            .and_then(|id| self.sampler.accept_sampled(id).map(|()| id));
        let id = match sampled {
            Ok(id) => id,
            Err(Error::ConstraintFailed { reason }) => {
                return Ok(self.finish(StopReason::Constraint(reason)))
            }
            Err(e) => return Err(e),
        };
        self.last_token = Some(id);
        if let Some(n_top) = self.logprobs {
            self.last_logprob = logprobs(
                self.ctx.logits(),
                &self.sampler.params().logit_bias,
                id,
                n_top,
            );
        }
        if self.vocab.is_eog(id) || self.rules.stop_tokens.contains(&id) {
            return Ok(self.finish(StopReason::EndOfGeneration(id)));
        }
        self.n_generated += 1;
        let piece = self.vocab.token_to_piece(id, false)?;
        let text = match self.text.push(piece) {
            TextStep::Ready(text) => text,
            TextStep::Stopped { text, stop } => {
                self.done = true;
                return Ok(Step::Done {
                    reason: StopReason::StopString(stop),
                    text,
                });
            }
        };
        // Room for the token was checked before sampling; evaluating it makes its logits.
        self.ctx.eval(&[id], par)?;
        Ok(Step::Token { id, text })
    }

    /// Ends the generation where it is (the host stops it between tokens) and returns the text
    /// still held back: the start of what might have become a stop string, and the
    /// replacement character of an unfinished UTF-8 sequence. Later calls to
    /// [`Generation::next`] return [`Step::Done`] with no text.
    pub fn stop(&mut self) -> String {
        match self.finish(StopReason::Length) {
            Step::Done { text, .. } => text,
            Step::Token { .. } => String::new(),
        }
    }

    fn finish(&mut self, reason: StopReason) -> Step {
        let text = if self.done {
            String::new()
        } else {
            self.text.finish()
        };
        self.done = true;
        Step::Done { reason, text }
    }
}

/// What [`StopText::push`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextStep {
    /// Text that became certain (possibly empty): it cannot be part of a stop string.
    Ready(String),
    /// A stop string appeared: `text` is what came before it and was not handed out yet;
    /// the stop string and everything after it are dropped.
    Stopped {
        /// The last text to show.
        text: String,
        /// The stop string that appeared.
        stop: String,
    },
}

/// The text side of a generation: token pieces in, text out in whole UTF-8 characters, held
/// back while it may be the start of a stop string, cut where a stop string appears (what
/// [`Generation`] does with each token; a host that drives several sequences through
/// [`Context::decode`] keeps one per sequence).
#[derive(Debug, Clone, Default)]
pub struct StopText {
    stops: Vec<String>,
    utf8: Utf8Decoder,
    /// Decoded text not handed out yet because it may begin a stop string.
    pending: String,
}

impl StopText {
    /// Text that ends at any of `stops` (empty strings are ignored).
    pub fn new(stops: Vec<String>) -> StopText {
        StopText {
            stops,
            utf8: Utf8Decoder::new(),
            pending: String::new(),
        }
    }

    /// Adds a token's bytes ([`Vocab::token_to_piece`]).
    pub fn push(&mut self, piece: &[u8]) -> TextStep {
        self.utf8.push(piece, &mut self.pending);
        if let Some((at, stop)) = find_stop(&self.pending, &self.stops) {
            self.pending.truncate(at);
            return TextStep::Stopped {
                text: core::mem::take(&mut self.pending),
                stop,
            };
        }
        // Hand out everything that cannot be the start of a stop string.
        let keep = held_suffix(&self.pending, &self.stops);
        let ready = self.pending.len() - keep;
        TextStep::Ready(self.pending.drain(..ready).collect())
    }

    /// Ends the text where it is (no stop string came): returns what was held back, with a
    /// replacement character for an unfinished UTF-8 sequence.
    pub fn finish(&mut self) -> String {
        let mut text = core::mem::take(&mut self.pending);
        self.utf8.finish(&mut text);
        text
    }
}

/// The first stop string in `text`: its byte offset and itself.
fn find_stop(text: &str, stops: &[String]) -> Option<(usize, String)> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, s.clone())))
        .min_by_key(|(at, _)| *at)
}

/// Bytes at the end of `text` that are the beginning of some stop string (kept back until the
/// next token settles it), always ending on a character boundary.
fn held_suffix(text: &str, stops: &[String]) -> usize {
    let mut keep = 0;
    for s in stops {
        for n in (1..s.len().min(text.len() + 1)).rev() {
            if n > keep
                && text.is_char_boundary(text.len() - n)
                && s.as_bytes().starts_with(&text.as_bytes()[text.len() - n..])
            {
                keep = n;
                break;
            }
        }
    }
    keep
}

/// Evaluates `tokens` after what the context holds and returns each token's log-probability
/// given the tokens before it (llama-cpp-python's `echo=True, logprobs=N`), with its `n_top`
/// most likely alternatives, from the logits with `bias` added (see
/// [`logprobs`]). The first token's entry is `None` when the
/// context held nothing before it (no logits predict it), as llama-cpp-python reports it.
///
/// The context must keep every position's logits ([`crate::ContextParams::logits_all`]);
/// `tokens` are evaluated in steps of `n_batch`. Afterwards the context holds them and its
/// logits are the last token's, so generation can continue. Allocates the result.
pub fn prompt_logprobs(
    ctx: &mut Context<'_>,
    tokens: &[u32],
    bias: &[(u32, f32)],
    n_top: usize,
    par: &dyn Parallel,
) -> Result<Vec<Option<TokenLogprob>>> {
    if !ctx.params().logits_all {
        return Err(Error::BadParams {
            reason: "prompt log-probabilities need a context with logits_all".into(),
        });
    }
    let mut out = Vec::new();
    out.try_reserve_exact(tokens.len())
        .map_err(|_| Error::OutOfMemory {
            what: "prompt log-probabilities".into(),
            bytes: tokens.len() * core::mem::size_of::<Option<TokenLogprob>>(),
            limit: None,
        })?;
    let step = ctx.params().n_batch.max(1);
    for chunk in tokens.chunks(step) {
        // The first token of the chunk is predicted by the previous evaluation's last logits.
        let first = if ctx.n_past() == 0 {
            None
        } else {
            logprobs(ctx.logits(), bias, chunk[0], n_top)
        };
        out.push(first);
        ctx.eval(chunk, par)?;
        for j in 0..chunk.len() - 1 {
            let row = ctx.logits_at(j).unwrap_or(&[]);
            out.push(logprobs(row, bias, chunk[j + 1], n_top));
        }
    }
    Ok(out)
}

/// Time spent, measured by [`generate`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Prompt tokens evaluated.
    pub prompt_tokens: usize,
    /// Seconds spent evaluating the prompt.
    pub prompt_seconds: f64,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Seconds spent generating (sampling, evaluating, detokenizing).
    pub generation_seconds: f64,
}

impl Timings {
    /// Prompt tokens per second.
    pub fn prompt_tokens_per_second(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_seconds.max(1e-9)
    }

    /// Generated tokens per second.
    pub fn generation_tokens_per_second(&self) -> f64 {
        self.generated_tokens as f64 / self.generation_seconds.max(1e-9)
    }
}

/// As [`generate`], with `tokens` the whole of sequence 0 rather than what follows it: the
/// longest prefix of `tokens` the context already holds is kept ([`Context::reuse_prefix`]),
/// the rest of the cache is dropped, and only the remaining tokens are evaluated, so a request
/// that repeats the start of the previous one (a chat's history, a file being edited) does not
/// evaluate it again. The kept tokens are accepted into the sampler's history (its penalties
/// see the whole sequence, as with [`generate`] on a fresh context). The timings count the
/// evaluated tokens; how many were reused is returned alongside.
#[cfg(feature = "std")]
pub fn generate_reusing(
    ctx: &mut Context<'_>,
    vocab: &Vocab,
    sampler: &mut Sampler,
    tokens: &[u32],
    rules: StopRules,
    par: &dyn Parallel,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<(Option<StopReason>, Timings, usize)> {
    let kept = ctx.reuse_prefix(tokens);
    // The sampler sees the whole sequence, as if every token had been evaluated now.
    for &t in &tokens[..kept] {
        sampler.accept(t);
    }
    let (reason, timings) = generate(ctx, vocab, sampler, &tokens[kept..], rules, par, on_text)?;
    Ok((reason, timings, kept))
}

/// Evaluates `prompt` after what the context holds, then generates, calling `on_text` with
/// every piece of text as it becomes certain; `on_text` returns `false` to stop early. Returns
/// why generation stopped (`None` when `on_text` stopped it) and the timings.
/// [`generate_reusing`] takes the whole sequence instead and keeps what is cached of it.
#[cfg(feature = "std")]
pub fn generate(
    ctx: &mut Context<'_>,
    vocab: &Vocab,
    sampler: &mut Sampler,
    prompt: &[u32],
    rules: StopRules,
    par: &dyn Parallel,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<(Option<StopReason>, Timings)> {
    let mut timings = Timings {
        prompt_tokens: prompt.len(),
        ..Timings::default()
    };
    let mut g = Generation::new(ctx, vocab, sampler, rules);
    let t0 = std::time::Instant::now();
    if !prompt.is_empty() {
        g.feed(prompt, par)?;
    }
    let t1 = std::time::Instant::now();
    timings.prompt_seconds = (t1 - t0).as_secs_f64();
    let reason = loop {
        match g.next(par)? {
            Step::Token { text, .. } => {
                if !text.is_empty() && !on_text(&text) {
                    break None;
                }
            }
            Step::Done { reason, text } => {
                if !text.is_empty() {
                    on_text(&text);
                }
                break Some(reason);
            }
        }
    };
    timings.generated_tokens = g.n_generated();
    timings.generation_seconds = t1.elapsed().as_secs_f64();
    Ok((reason, timings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn stop_strings_are_found_and_their_beginnings_held_back() {
        let stops = vec!["</answer>".to_string(), "STOP".to_string()];
        assert_eq!(
            find_stop("abc</answer>x", &stops),
            Some((3, "</answer>".to_string()))
        );
        assert_eq!(
            find_stop("xSTOP</answer>", &stops),
            Some((1, "STOP".to_string()))
        );
        assert_eq!(find_stop("abc", &stops), None);
        assert_eq!(held_suffix("hello </ans", &stops), 5);
        assert_eq!(held_suffix("hello ST", &stops), 2);
        assert_eq!(held_suffix("hello", &stops), 0);
        assert_eq!(held_suffix("é", &["é!".to_string()]), 2);
        assert_eq!(held_suffix("", &stops), 0);
    }
}
