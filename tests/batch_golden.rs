//! Many sequences in one context against llama.cpp: the plans of `scripts/batch_goldens.py`
//! (batches mixing two to four sequences of different lengths, a prompt shared by four
//! sequences, interleaved tokens, sequences removed, copied and kept, batches longer than a
//! step, context shifts that move positions and re-rotate cached keys, greedy generation of
//! one token per sequence per batch) run through
//! `Context::decode` and the sequence operations must give every logits row llama.cpp gave,
//! bit for bit (SHA-256 of the f32 row), and the same greedy tokens.

mod common;

use common::{fixture, fixture_path, hex, parse_json, sha256, Json};
use llamette::model::{BatchToken, Context, ContextParams, Model, SeqSet};
use llamette::ThreadPool;

/// The models with batch goldens (tests/fixtures/golden/batch/MODEL.json).
const MODELS: &[&str] = &[
    "tiny-codellama.f32",
    "tiny-codellama.f16",
    "tiny-codellama.q4_0",
    "tiny-codellama.q8_0",
    "tiny-codellama.q4_k_m",
    "tiny-codellama.q6_k",
    "tiny-codellama-tied.q8_0",
];

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best as u32
}

fn row_digest(row: &[f32]) -> String {
    let bytes: Vec<u8> = row.iter().flat_map(|x| x.to_le_bytes()).collect();
    hex(&sha256(&bytes))
}

fn span(p0: i64, p1: i64) -> (std::ops::Bound<usize>, std::ops::Bound<usize>) {
    use std::ops::Bound;
    let end = if p1 < 0 {
        Bound::Unbounded
    } else {
        Bound::Excluded(p1 as usize)
    };
    (Bound::Included(p0.max(0) as usize), end)
}

/// Decodes `batch` and compares each output row with llama.cpp's (`want`); records the rows
/// as the last logits of their sequences.
#[allow(clippy::too_many_arguments)]
fn decode(
    ctx: &mut Context,
    pool: &ThreadPool,
    last: &mut [Option<Vec<f32>>],
    checked: &mut usize,
    name: &str,
    batch: &[BatchToken],
    want: &Json,
    what: &str,
) -> Result<(), String> {
    ctx.decode(batch, pool)
        .map_err(|e| format!("{name}: {what}: decode failed: {e}"))?;
    let want = want.as_array().unwrap();
    let asked: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].logits).collect();
    if asked.len() != want.len() {
        return Err(format!(
            "{name}: {what}: {} outputs, llama.cpp {}",
            asked.len(),
            want.len()
        ));
    }
    for (&i, w) in asked.iter().zip(want) {
        assert_eq!(w["i"].as_usize(), Some(i));
        let row = ctx
            .logits_ith(i)
            .ok_or_else(|| format!("{name}: {what}: no logits for batch token {i}"))?;
        if row_digest(row) != w["sha256"].as_str().unwrap() {
            let mut idx: Vec<usize> = (0..row.len()).collect();
            idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            let top: Vec<(usize, f32)> = idx[..4].iter().map(|&j| (j, row[j])).collect();
            return Err(format!(
                "{name}: {what}: batch token {i}: logits differ from llama.cpp's (top: ours {top:?}, llama.cpp {:?})",
                w["top"]
            ));
        }
        for s in batch[i].seqs.iter() {
            last[s] = Some(row.to_vec());
        }
        *checked += 1;
    }
    Ok(())
}

/// Runs one plan; returns the first difference from llama.cpp's results.
fn run_plan(model: &Model, plan: &Json, threads: usize) -> Result<usize, String> {
    let name = plan["name"].as_str().unwrap();
    let params = ContextParams {
        n_ctx: plan["n_ctx"].as_usize().unwrap(),
        n_batch: plan["n_ubatch"].as_usize().unwrap(),
        n_seq_max: plan["n_seq_max"].as_usize().unwrap(),
        n_outputs_max: 8,
        ..ContextParams::default()
    };
    let mut ctx = Context::new(model, params).unwrap();
    let pool = ThreadPool::new(threads);
    let mut last: Vec<Option<Vec<f32>>> = vec![None; params.n_seq_max];
    let mut checked = 0usize;
    let steps = plan["steps"].as_array().unwrap();
    let results = plan["results"].as_array().unwrap();
    for (k, (step, result)) in steps.iter().zip(results).enumerate() {
        let what = format!("step {k}");
        if let Some(entries) = step.get("decode") {
            let batch: Vec<BatchToken> = entries
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let seqs = e[2]
                        .as_array()
                        .unwrap()
                        .iter()
                        .fold(SeqSet::default(), |s, q| s.with(q.as_usize().unwrap()));
                    BatchToken {
                        token: e[0].as_u32().unwrap(),
                        pos: e[1].as_usize().unwrap(),
                        seqs,
                        logits: e[3].as_bool().unwrap(),
                    }
                })
                .collect();
            decode(
                &mut ctx,
                &pool,
                &mut last,
                &mut checked,
                name,
                &batch,
                &result["outputs"],
                &what,
            )?;
        } else if let Some(rm) = step.get("rm") {
            let (s, p0, p1) = (
                rm[0].as_i64().unwrap(),
                rm[1].as_i64().unwrap(),
                rm[2].as_i64().unwrap(),
            );
            let seq = usize::try_from(s).ok();
            ctx.seq_rm(seq, span(p0, p1))
                .map_err(|e| format!("{name}: {what}: {e}"))?;
        } else if let Some(cp) = step.get("cp") {
            let v = cp.i64_vec();
            ctx.seq_cp(v[0] as usize, v[1] as usize, span(v[2], v[3]))
                .map_err(|e| format!("{name}: {what}: {e}"))?;
        } else if let Some(add) = step.get("add") {
            let v = add.i64_vec();
            ctx.seq_add(v[0] as usize, span(v[1], v[2]), v[3] as isize)
                .map_err(|e| format!("{name}: {what}: {e}"))?;
        } else if let Some(keep) = step.get("keep") {
            ctx.seq_keep(keep.as_usize().unwrap())
                .map_err(|e| format!("{name}: {what}: {e}"))?;
        } else if let Some(g) = step.get("greedy") {
            let seqs: Vec<usize> = g["seqs"].u32_vec().iter().map(|&s| s as usize).collect();
            for n in 0..g["n"].as_usize().unwrap() {
                let batch: Vec<BatchToken> = seqs
                    .iter()
                    .map(|&s| {
                        let row = last[s].as_ref().expect("the sequence has logits");
                        let pos = ctx.seq_pos_max(s).map_or(0, |p| p + 1);
                        BatchToken::new(argmax(row), pos, s, true)
                    })
                    .collect();
                let tokens: Vec<u32> = batch.iter().map(|b| b.token).collect();
                let want = result["tokens"][n].u32_vec();
                if tokens != want {
                    return Err(format!(
                        "{name}: {what}: greedy step {n}: tokens {tokens:?}, llama.cpp {want:?}"
                    ));
                }
                decode(
                    &mut ctx,
                    &pool,
                    &mut last,
                    &mut checked,
                    name,
                    &batch,
                    &result["outputs"][n],
                    &format!("{what} greedy {n}"),
                )?;
            }
        } else {
            panic!("{name}: unknown step {k}");
        }
    }
    Ok(checked)
}

fn check_model(name: &str, threads: usize) -> usize {
    let golden_rel = format!("golden/batch/{name}.json");
    let golden = parse_json(std::str::from_utf8(&fixture(&golden_rel)).unwrap()).unwrap();
    let bytes = fixture(&format!("models/{name}.gguf"));
    assert_eq!(
        golden["sha256"].as_str().unwrap(),
        hex(&sha256(&bytes)),
        "{golden_rel} was made from another file than {}",
        fixture_path(&format!("models/{name}.gguf")).display()
    );
    let model = Model::from_bytes(&bytes).unwrap();
    let mut checked = 0;
    for plan in golden["plans"].as_array().unwrap() {
        checked += run_plan(&model, plan, threads).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    checked
}

#[test]
fn multi_sequence_batches_give_llama_cpps_logits_bit_for_bit() {
    let mut total = 0;
    for name in MODELS {
        total += check_model(name, 2);
    }
    // Every plan's outputs were compared (the smoke plans alone have dozens).
    assert!(total >= MODELS.len() * 60, "{total} rows checked");
}

#[test]
fn one_thread_gives_the_same_bits() {
    check_model("tiny-codellama.q4_k_m", 1);
}
