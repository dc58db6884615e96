//! Embeddings: each token's hidden state after the final norm, pooled per sequence as
//! llama.cpp pools them (`llama_get_embeddings_seq` / `_ith`), optionally normalized as its
//! `common_embd_normalize` does.
//!
//! [`embed`] evaluates sequences in multi-sequence batches (each sequence its own sequence id
//! of the context, every token an output) and writes the results into the caller's buffer; the
//! context needs [`ContextParams::embeddings`](crate::ContextParams::embeddings) and enough
//! output rows for the tokens of a step (`n_outputs_max`, or `logits_all`). Nothing is
//! allocated while embedding.
//!
//! Pooling follows llama.cpp: `none` gives every token's row; `mean` the average of a
//! sequence's rows; `cls` its first token's row; `last` its last token's. Rows are the final
//! norm's output bit for bit (the logits equal llama.cpp's, and so do they); the mean sums
//! rows in token order scaled by `1/n` first, as llama.cpp's pooling matrix does, though its
//! matrix product may group the sum differently (within float rounding: SmolLM2's mean
//! vectors are within 1.1e-7 of llama.cpp's, relative to their largest element). As in
//! llama.cpp, the rows depend on how the sequences are batched: the kernels change with the
//! number of tokens in a step, so a text embedded alone and in a batch with others can differ
//! in the last digits.

use crate::error::{Error, Result};
use crate::model::{BatchToken, Context, SeqSet};
use crate::parallel::Parallel;

/// How a sequence's token rows become its embedding (llama.cpp's `llama_pooling_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Every token's own row.
    None,
    /// The average of the rows.
    Mean,
    /// The first token's row.
    Cls,
    /// The last token's row.
    Last,
}

impl Pooling {
    /// llama.cpp's value of `<arch>.pooling_type` (0 none, 1 mean, 2 cls, 3 last); `None` for
    /// others (4 is reranking, which needs a classifier head).
    pub fn from_gguf(v: u32) -> Option<Pooling> {
        Some(match v {
            0 => Pooling::None,
            1 => Pooling::Mean,
            2 => Pooling::Cls,
            3 => Pooling::Last,
            _ => return None,
        })
    }

    /// The pooling the model's file asks for (`<arch>.pooling_type`; `None` when the key is
    /// absent, as llama.cpp defaults for llama models), or an error for a value llamette
    /// cannot pool with.
    pub fn of_model(model: &crate::Model<'_>) -> Result<Pooling> {
        let key = alloc::format!("{}.pooling_type", model.config().arch);
        match model.header().get_u32_opt(&key)? {
            None => Ok(Pooling::None),
            Some(v) => Pooling::from_gguf(v).ok_or_else(|| Error::BadModel {
                reason: alloc::format!("{key} is {v}, a pooling llamette does not have"),
            }),
        }
    }

    /// A name: "none", "mean", "cls", "last" (llama.cpp's `--pooling`).
    pub fn from_name(name: &str) -> Option<Pooling> {
        Some(match name {
            "none" => Pooling::None,
            "mean" => Pooling::Mean,
            "cls" => Pooling::Cls,
            "last" => Pooling::Last,
            _ => return None,
        })
    }
}

/// How each embedding is normalized (llama.cpp's `embd_normalize`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalize {
    /// As computed (-1).
    None,
    /// Scaled so the largest magnitude is 32760, llama.cpp's int16 range (0).
    MaxAbs,
    /// Divided by the sum of magnitudes (1).
    Taxicab,
    /// Divided by the Euclidean length (2, llama.cpp's default).
    Euclidean,
    /// Divided by the p-norm (p > 2).
    PNorm(u32),
}

impl Normalize {
    /// llama.cpp's integer (`-1`, `0`, `1`, `2`, `p > 2`).
    pub fn from_llama(v: i32) -> Normalize {
        match v {
            i32::MIN..=-1 => Normalize::None,
            0 => Normalize::MaxAbs,
            1 => Normalize::Taxicab,
            2 => Normalize::Euclidean,
            p => Normalize::PNorm(p as u32),
        }
    }

    /// Applies the normalization in place (`common_embd_normalize`: sums in f64, a zero
    /// vector stays zero).
    pub fn apply(self, v: &mut [f32]) {
        let sum: f64 = match self {
            Normalize::None => return,
            Normalize::MaxAbs => {
                let m = v.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs()));
                m / 32760.0
            }
            Normalize::Taxicab => v.iter().map(|&x| f64::from(x).abs()).sum(),
            Normalize::Euclidean => {
                libm::sqrt(v.iter().map(|&x| f64::from(x) * f64::from(x)).sum())
            }
            Normalize::PNorm(p) => {
                let s: f64 = v
                    .iter()
                    .map(|&x| libm::pow(f64::from(x).abs(), f64::from(p)))
                    .sum();
                libm::pow(s, 1.0 / f64::from(p))
            }
        };
        let norm = if sum > 0.0 { (1.0 / sum) as f32 } else { 0.0 };
        for x in v {
            *x *= norm;
        }
    }
}

/// The floats [`embed`] writes for `sequences` (`n_embd` per token with [`Pooling::None`],
/// per sequence otherwise).
pub fn output_len(n_embd: usize, sequences: &[&[u32]], pooling: Pooling) -> usize {
    match pooling {
        Pooling::None => sequences.iter().map(|s| s.len()).sum::<usize>() * n_embd,
        _ => sequences.len() * n_embd,
    }
}

/// Embeds `sequences` (token ids; each from its own start, the context cleared first and
/// after) into `out` (`output_len` floats: sequence after sequence, each `n_embd` floats per
/// token with [`Pooling::None`], one `n_embd` row per sequence otherwise), normalized as
/// `normalize` says. Sequences go in batches of as many as fit in one step (at most
/// `n_seq_max` sequences and as many tokens as the context keeps outputs for); a sequence
/// longer than that is evaluated in several steps.
///
/// Errors: a context without [`ContextParams::embeddings`](crate::ContextParams::embeddings);
/// an empty sequence; `out` of the wrong length; a sequence longer than the context; and as
/// [`Context::decode`].
pub fn embed(
    ctx: &mut Context<'_>,
    sequences: &[&[u32]],
    pooling: Pooling,
    normalize: Normalize,
    out: &mut [f32],
    par: &dyn Parallel,
) -> Result<()> {
    let p = *ctx.params();
    if !p.embeddings {
        return Err(Error::BadParams {
            reason: "the context keeps no embeddings (ContextParams::embeddings)".into(),
        });
    }
    let d = ctx.model().config().n_embd;
    let want = output_len(d, sequences, pooling);
    if out.len() != want {
        return Err(Error::BadParams {
            reason: alloc::format!("the output holds {} floats, {want} needed", out.len()),
        });
    }
    if let Some(i) = sequences.iter().position(|s| s.is_empty()) {
        return Err(Error::BadParams {
            reason: alloc::format!("sequence {i} is empty"),
        });
    }
    if let Some(i) = sequences.iter().position(|s| s.len() > p.n_ctx) {
        return Err(Error::ContextFull {
            n_ctx: p.n_ctx,
            needed: sequences[i].len(),
        });
    }
    // Rows one step can keep: the context's output rows, at most a batch.
    let rows = ctx.output_rows().min(p.n_batch).max(1);
    let n_seq_max = p.n_seq_max;
    ctx.clear();
    let result = (|| {
        let mut s = 0;
        let mut row_out = 0; // with Pooling::None, the next token row of `out`
        while s < sequences.len() {
            // A group of whole sequences that fits one step, or one long sequence alone.
            let mut end = s;
            let mut tokens = 0;
            while end < sequences.len()
                && end - s < n_seq_max
                && tokens + sequences[end].len() <= rows
            {
                tokens += sequences[end].len();
                end += 1;
            }
            if end == s {
                // Longer than a step: in steps of `rows` tokens on sequence 0.
                let seq = sequences[s];
                let o = &mut out[if pooling == Pooling::None {
                    row_out * d
                } else {
                    s * d
                }..];
                for (k, chunk) in seq.chunks(rows).enumerate() {
                    let at = |i: usize| BatchToken {
                        token: chunk[i],
                        pos: k * rows + i,
                        seqs: SeqSet::one(0),
                        logits: true,
                    };
                    ctx.decode_fn(chunk.len(), &at, par)?;
                    for i in 0..chunk.len() {
                        pool_row(pooling, o, row_of(ctx, i)?, k * rows + i, seq.len());
                    }
                }
                if pooling == Pooling::None {
                    for t in row_out..row_out + seq.len() {
                        normalize.apply(&mut out[t * d..(t + 1) * d]);
                    }
                    row_out += seq.len();
                } else {
                    normalize.apply(&mut out[s * d..(s + 1) * d]);
                }
                ctx.clear();
                s += 1;
                continue;
            }
            let group = &sequences[s..end];
            let mut offsets = [0usize; crate::model::MAX_SEQ + 1];
            for (j, q) in group.iter().enumerate() {
                offsets[j + 1] = offsets[j] + q.len();
            }
            let at = |i: usize| {
                let j = offsets[1..=group.len()].partition_point(|&o| o <= i);
                BatchToken {
                    token: group[j][i - offsets[j]],
                    pos: i - offsets[j],
                    seqs: SeqSet::one(j),
                    logits: true,
                }
            };
            ctx.decode_fn(tokens, &at, par)?;
            for (j, q) in group.iter().enumerate() {
                let o = match pooling {
                    Pooling::None => &mut out[(row_out + offsets[j]) * d..],
                    _ => &mut out[(s + j) * d..],
                };
                for t in 0..q.len() {
                    pool_row(pooling, o, row_of(ctx, offsets[j] + t)?, t, q.len());
                }
            }
            for (j, q) in group.iter().enumerate() {
                match pooling {
                    Pooling::None => {
                        let base = row_out + offsets[j];
                        for t in 0..q.len() {
                            normalize.apply(&mut out[(base + t) * d..(base + t + 1) * d]);
                        }
                    }
                    _ => normalize.apply(&mut out[(s + j) * d..(s + j + 1) * d]),
                }
            }
            if pooling == Pooling::None {
                row_out += tokens;
            }
            ctx.clear();
            s = end;
        }
        Ok(())
    })();
    ctx.clear();
    result
}

/// Output row `i` of the last step (every token of a step asks for outputs).
fn row_of<'c>(ctx: &'c Context<'_>, i: usize) -> Result<&'c [f32]> {
    ctx.embeddings_at(i).ok_or_else(|| Error::BadParams {
        reason: alloc::format!("output row {i} of the step has no embedding"),
    })
}

/// Adds token `t`'s row `e` (of a sequence of `n`) into the sequence's output `o`.
fn pool_row(pooling: Pooling, o: &mut [f32], e: &[f32], t: usize, n: usize) {
    let d = e.len();
    match pooling {
        Pooling::None => o[t * d..(t + 1) * d].copy_from_slice(e),
        Pooling::Mean => {
            // llama.cpp's pooling matrix holds 1/n: each row is scaled, then summed.
            let w = 1.0 / n as f32;
            if t == 0 {
                o[..d].fill(0.0);
            }
            for (a, &x) in o[..d].iter_mut().zip(e) {
                *a += x * w;
            }
        }
        Pooling::Cls => {
            if t == 0 {
                o[..d].copy_from_slice(e);
            }
        }
        Pooling::Last => {
            if t + 1 == n {
                o[..d].copy_from_slice(e);
            }
        }
    }
}
