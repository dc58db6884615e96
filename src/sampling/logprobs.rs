//! Log-probabilities of tokens, as llama.cpp's server and llama-cpp-python report them: the
//! log-softmax of the logits with the logit bias added, before penalties, grammar, truncation
//! and temperature (the model's own distribution, as the host asked to shape it).
//!
//! `logprob(t) = (l_t - max) - ln(sum_i exp(l_i - max))`, summed in f64 over the whole
//! vocabulary; a NaN logit counts as `-inf` (probability 0).

use super::candidates::rank;

/// At most this many alternatives per token (llama-cpp-python's and OpenAI's limit).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// A token's log-probability and the most likely tokens at its step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenLogprob {
    /// The token.
    pub id: u32,
    /// Its log-probability (`-inf` for a token the bias banned).
    pub logprob: f32,
    /// The `n_top` most likely tokens with their log-probabilities, most likely first (ties:
    /// lower id first); only the first [`n_top`](Self::n_top) entries are meaningful.
    pub top: [(u32, f32); MAX_TOP_LOGPROBS],
    /// How many of `top` are filled.
    pub n_top: usize,
}

impl TokenLogprob {
    /// The filled part of [`top`](Self::top).
    pub fn top(&self) -> &[(u32, f32)] {
        &self.top[..self.n_top]
    }
}

fn exp64(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.exp()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::exp(x)
    }
}

fn ln64(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.ln()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::log(x)
    }
}

/// The log-probability of `token` and the `n_top` (at most [`MAX_TOP_LOGPROBS`]) most likely
/// tokens, from `logits` with `bias` added (`(token, bias)` pairs, every entry applied, as
/// [`logit_bias`](super::logit_bias)). Allocates nothing; `None` when there are no logits or
/// `token` is outside them.
pub fn logprobs(
    logits: &[f32],
    bias: &[(u32, f32)],
    token: u32,
    n_top: usize,
) -> Option<TokenLogprob> {
    if logits.is_empty() || token as usize >= logits.len() {
        return None;
    }
    let biased = |i: usize| {
        let mut l = rank(logits[i]);
        for &(t, b) in bias {
            if t as usize == i {
                l += b;
            }
        }
        rank(l)
    };
    let n_top = n_top.min(MAX_TOP_LOGPROBS).min(logits.len());
    let mut top = [(0u32, f32::NEG_INFINITY); MAX_TOP_LOGPROBS];
    let mut filled = 0;
    let mut max = f32::NEG_INFINITY;
    for i in 0..logits.len() {
        let l = biased(i);
        max = max.max(l);
        // Insertion into the sorted top list (descending logit, then ascending id).
        if n_top > 0 && (filled < n_top || l > top[filled - 1].1) {
            let mut at = filled.min(n_top - 1);
            if filled < n_top {
                filled += 1;
            }
            while at > 0 && top[at - 1].1 < l {
                top[at] = top[at - 1];
                at -= 1;
            }
            top[at] = (i as u32, l);
        }
    }
    let norm = if max == f32::NEG_INFINITY {
        // Every logit -inf: the uniform distribution.
        None
    } else {
        let sum: f64 = (0..logits.len())
            .map(|i| {
                let l = biased(i);
                if l == max {
                    1.0
                } else {
                    exp64(f64::from(l) - f64::from(max))
                }
            })
            .sum();
        Some(ln64(sum))
    };
    let lp = |l: f32| match norm {
        Some(ln_sum) if l == max => (-ln_sum) as f32,
        Some(ln_sum) => (f64::from(l) - f64::from(max) - ln_sum) as f32,
        None => -(ln64(logits.len() as f64) as f32),
    };
    for e in &mut top[..filled] {
        e.1 = lp(e.1);
    }
    Some(TokenLogprob {
        id: token,
        logprob: lp(biased(token as usize)),
        top,
        n_top: filled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_with_bias_and_top_n() {
        // softmax([1, 3, -1, 2, 0]): ln(sum exp(l - 3)) = ln(1 + e^-1 + e^-2 + e^-3 + e^-4)
        //   = 0.45191439593759336 (f64); logprob(l) = f32(l - 3 - that). Values from Python
        //   (math.log in f64, numpy.float32 for the rounding).
        let logits = [1.0, 3.0, -1.0, 2.0, 0.0];
        let r = logprobs(&logits, &[], 3, 3).unwrap();
        assert_eq!(r.id, 3);
        assert_eq!(r.logprob, -1.451_914_4);
        assert_eq!(
            r.top(),
            [(1, -0.451_914_4), (3, -1.451_914_4), (0, -2.451_914_3)]
        );
        // A bias of -inf bans token 1; +2 lifts token 4 to 2, tying token 3 (lower id first):
        // ln(2 + e^-1 + e^-3) = 0.8828028227218384.
        let r = logprobs(&logits, &[(1, f32::NEG_INFINITY), (4, 2.0)], 1, 2).unwrap();
        assert_eq!(r.logprob, f32::NEG_INFINITY);
        assert_eq!(r.top(), [(3, -0.882_802_84), (4, -0.882_802_84)]);
        // n_top is capped; NaN ranks as -inf; all -inf is uniform.
        let r = logprobs(&[f32::NAN, 0.0], &[], 0, 99).unwrap();
        assert_eq!(r.logprob, f32::NEG_INFINITY);
        assert_eq!(r.top(), [(1, 0.0), (0, f32::NEG_INFINITY)]);
        let r = logprobs(&[f32::NEG_INFINITY; 4], &[], 2, 0).unwrap();
        assert_eq!(r.logprob, -1.386_294_4);
        assert!(r.top().is_empty());
        assert!(logprobs(&[], &[], 0, 1).is_none());
        assert!(logprobs(&[0.0], &[], 1, 1).is_none());
        let many: [f32; 30] = core::array::from_fn(|i| i as f32);
        let r = logprobs(&many, &[], 0, 25).unwrap();
        assert_eq!(r.n_top, MAX_TOP_LOGPROBS);
        assert_eq!(r.top()[0].0, 29);
        assert_eq!(r.top()[19].0, 10);
    }
}
