//! Constraints: a sampling stage that decides which tokens may come next (a grammar, a JSON
//! schema), applied before every other stage, and told about each token that is chosen.
//!
//! The crate's grammar engine ([`crate::grammar`], feature `grammar`) implements [`Constraint`];
//! a host can implement it too (a fixed set of answers, a trie of allowed completions).

use alloc::boxed::Box;
use core::fmt;

use super::candidates::Candidates;
use crate::error::Result;

/// Which tokens may come next, and what the chosen ones do to that.
///
/// [`Sampler`](super::Sampler) calls [`apply`](Self::apply) first in every step (before the
/// logit bias and every other stage: llama.cpp's grammar sampler with `grammar_first`) and
/// [`accept`](Self::accept) on each token of the generation
/// ([`Sampler::accept_sampled`](super::Sampler::accept_sampled)); prompt tokens are not
/// shown to it.
pub trait Constraint: Send {
    /// Removes from `cands` every token that may not come next. Fails with
    /// [`Error::ConstraintFailed`](crate::Error::ConstraintFailed) when none may (the text so
    /// far cannot be completed); `cands` may then be left in any state.
    fn apply(&mut self, cands: &mut Candidates) -> Result<()>;

    /// Advances past `token`, which the generation chose. Fails with
    /// [`Error::ConstraintFailed`](crate::Error::ConstraintFailed) when `token` was not
    /// allowed; the constraint is then left where it was.
    fn accept(&mut self, token: u32) -> Result<()>;

    /// Back to the start, as if no token had been accepted.
    fn reset(&mut self);

    /// A copy in the same state (so a [`Sampler`](super::Sampler) can be cloned).
    fn box_clone(&self) -> Box<dyn Constraint>;

    /// A short description for `Debug` output (the kind of constraint).
    fn describe(&self) -> &str {
        "constraint"
    }
}

impl Clone for Box<dyn Constraint> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

impl fmt::Debug for dyn Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Constraint").field(&self.describe()).finish()
    }
}
