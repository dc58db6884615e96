//! Host logits processors: a callback over the candidate list, run by
//! [`Sampler`](super::Sampler) on the raw logits before its chain (where llama-cpp-python runs
//! its `logits_processor` list: a custom sampler added first to the chain, ahead of the
//! penalties).

use alloc::boxed::Box;
use core::fmt;

use super::candidates::Candidates;

/// Changes the logits (or removes candidates) before the sampler's chain, once per
/// [`Sampler::sample`](super::Sampler::sample).
///
/// [`Sampler`](super::Sampler) calls [`process`](Self::process) once the candidates are filled
/// from the logits (one per token, in vocabulary order, unsorted), before the logit bias and
/// the rest of the chain. Use [`Candidates::as_mut_slice`] to change logits (a logit of
/// `f32::NEG_INFINITY` bans a token); a processor that leaves no candidate makes the step
/// sample nothing.
///
/// Any `FnMut(&mut Candidates) + Clone + Send + 'static` closure is one, so a sampler holding it
/// can still be cloned (the clone gets a copy of the closure and what it captured). The sampler
/// does not allocate around the call; whether the processor does is up to it.
pub trait LogitsProcessor: Send {
    /// Changes `cands` in place.
    fn process(&mut self, cands: &mut Candidates);

    /// A copy in the same state (so a [`Sampler`](super::Sampler) can be cloned).
    fn box_clone(&self) -> Box<dyn LogitsProcessor>;
}

impl<F> LogitsProcessor for F
where
    F: FnMut(&mut Candidates) + Clone + Send + 'static,
{
    fn process(&mut self, cands: &mut Candidates) {
        self(cands)
    }

    fn box_clone(&self) -> Box<dyn LogitsProcessor> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn LogitsProcessor> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

impl fmt::Debug for dyn LogitsProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogitsProcessor")
    }
}
