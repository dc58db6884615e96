//! Checking the real-shape models (issue 14) against their goldens: tests/shape_golden.rs runs
//! every model, tests/aarch64.rs some of them under qemu-user.

use std::path::{Path, PathBuf};

use super::{argmax, hex, parse_json, sha256, top_diff, Json};
use llamette::{Context, ContextParams, Model, Parallel};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The model files and their SHA-256, from scripts/shape/SHA256SUMS; with
/// `LLAMETTE_SHAPE_MODELS=q4_k_m,13b`, only the files whose names contain one of those parts.
pub fn expected_models() -> Vec<(String, String)> {
    let sums = std::fs::read_to_string(root().join("scripts/shape/SHA256SUMS"))
        .expect("scripts/shape/SHA256SUMS is committed with the repository");
    sums.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (sum, name) = l.split_once("  ").expect("sha256sum format");
            (name.trim().to_string(), sum.to_string())
        })
        .filter(|(name, _)| {
            std::env::var("LLAMETTE_SHAPE_MODELS")
                .ok()
                .is_none_or(|o| o.split(',').any(|part| name.contains(part.trim())))
        })
        .collect()
}

/// The verified model file, or a panic that says how to make it.
fn model_path(name: &str, sum: &str) -> PathBuf {
    let path = root().join("models/shape").join(name);
    let how = "run scripts/shape/make.sh (it builds the real-shape models from a seeded generator \
               and llama.cpp's quantizer, installing llama-cpp-python 0.3.36 when missing, and \
               verifies each file's SHA-256; about 25 minutes on 2 cores the first time)";
    let meta = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("missing {}: {e}; {how}", path.display()));
    let stamp = path.with_extension("gguf.verified");
    let text = std::fs::read_to_string(&stamp).unwrap_or_else(|_| {
        panic!(
            "{} has not been verified against SHA256SUMS: {how}",
            path.display()
        )
    });
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let want = format!("{sum} {} {mtime}", meta.len());
    assert_eq!(
        text.trim(),
        want,
        "{}: the stamp does not match the file (changed since it was verified?): {how}",
        path.display()
    );
    path
}

/// SHA-256 of f32 values as little-endian bytes, lowercase hex.
fn sha_f32(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    hex(&sha256(&bytes))
}

/// One case against its golden (`LLAMETTE_SHAPE_CASES` picks cases in [`check_file`]); returns the failures (empty when bit-identical) and the worst
/// relative difference seen on the golden's top logits.
fn check_case(model: &Model, case: &Json, par: &dyn Parallel) -> (Vec<String>, f32) {
    let name = case["name"].as_str().unwrap();
    let prompt = case["prompt"].u32_vec();
    let n_vocab = model.config().n_vocab;
    let mut fails = Vec::new();
    let mut worst = 0f32;
    let params = ContextParams {
        n_ctx: 512,
        n_batch: 512,
        logits_all: true,
        ..Default::default()
    };
    let mut ctx = Context::new(model, params).unwrap();
    ctx.eval(&prompt, par).unwrap();
    let mut all = Vec::with_capacity(prompt.len() * n_vocab);
    for (i, top) in case["top_per_pos"].as_array().unwrap().iter().enumerate() {
        let row = ctx.logits_at(i).unwrap();
        worst = worst.max(top_diff(row, top.as_array().unwrap()));
        if argmax(row) != top[0][0].as_usize().unwrap() {
            fails.push(format!("{name}: argmax differs at position {i}"));
        }
        all.extend_from_slice(row);
    }
    worst = worst.max(top_diff(ctx.logits(), case["last_top"].as_array().unwrap()));
    if sha_f32(ctx.logits()) != case["last_sha256"].as_str().unwrap() {
        fails.push(format!("{name}: last position's logits differ"));
    }
    if sha_f32(&all) != case["logits_sha256"].as_str().unwrap() {
        fails.push(format!("{name}: some prompt position's logits differ"));
    }

    let want = case["greedy"].u32_vec();
    let mut got = Vec::new();
    let mut gen_logits = Vec::new();
    let mut next = argmax(ctx.logits()) as u32;
    for (k, top1) in case["gen_top1"].as_array().unwrap().iter().enumerate() {
        got.push(next);
        if got[k] != want[k] {
            break;
        }
        ctx.eval(&[next], par).unwrap();
        let row = ctx.logits();
        worst = worst.max(
            (row[top1[0].as_usize().unwrap()] - top1[1].as_f32().unwrap()).abs()
                / top1[1].as_f32().unwrap().abs(),
        );
        gen_logits.extend_from_slice(row);
        next = argmax(row) as u32;
    }
    if got != want {
        fails.push(format!(
            "{name}: greedy continuation {got:?}, llama.cpp's {want:?}"
        ));
    } else if sha_f32(&gen_logits) != case["gen_sha256"].as_str().unwrap() {
        fails.push(format!("{name}: the logits after some greedy token differ"));
    }

    // Only the last position asks for logits (as a chat or completion does): the last layer's
    // feed-forward and the output then run on one row, with llama.cpp's one-row kernels.
    let params = ContextParams {
        n_ctx: 512,
        n_batch: 512,
        ..Default::default()
    };
    let mut ctx = Context::new(model, params).unwrap();
    ctx.eval(&prompt, par).unwrap();
    worst = worst.max(top_diff(
        ctx.logits(),
        case["last_only_top"].as_array().unwrap(),
    ));
    if sha_f32(ctx.logits()) != case["last_only_sha256"].as_str().unwrap() {
        fails.push(format!(
            "{name}: last logits differ when only the last position asks for them"
        ));
    }
    (fails, worst)
}

pub fn check_file(name: &str, sum: &str, par: &dyn Parallel) -> Result<String, String> {
    let path = model_path(name, sum);
    let golden_path = root()
        .join("tests/fixtures/golden/shape")
        .join(Path::new(name).with_extension("json"));
    let text = std::fs::read_to_string(&golden_path).unwrap_or_else(|e| {
        panic!(
            "missing golden {}: {e} (committed; scripts/shape/goldens.py remakes it)",
            golden_path.display()
        )
    });
    let golden = parse_json(&text).unwrap();
    assert_eq!(
        golden["sha256"].as_str(),
        Some(sum),
        "{name}: the golden was made from another file than SHA256SUMS names"
    );
    let model = Model::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(golden["n_vocab"].as_usize(), Some(model.config().n_vocab));
    let mut fails = Vec::new();
    let mut worst = 0f32;
    let only = std::env::var("LLAMETTE_SHAPE_CASES").ok();
    let cases: Vec<&Json> = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            only.as_deref().is_none_or(|o| {
                o.split(',')
                    .any(|n| n.trim() == c["name"].as_str().unwrap())
            })
        })
        .collect();
    assert!(
        !cases.is_empty(),
        "LLAMETTE_SHAPE_CASES={only:?} names no case of {name}"
    );
    let start = std::time::Instant::now();
    for case in &cases {
        let (f, w) = check_case(&model, case, par);
        fails.extend(f);
        worst = worst.max(w);
    }
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let line = format!(
        "{name} ({}; {:.1} s): max |diff| / max |logit| over the golden's top logits = {worst:.1e}",
        names.join(", "),
        start.elapsed().as_secs_f64()
    );
    if fails.is_empty() {
        Ok(line)
    } else {
        Err(format!("{line}\n  {}", fails.join("\n  ")))
    }
}
