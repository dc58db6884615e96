//! Checks the test-only JSON reader in `tests/common/json.rs`, and that every golden JSON fixture
//! parses and holds what the inference and tokenizer tests expect.
// The float literals are the exact decimal text of the JSON files, kept as written on purpose.
#![allow(clippy::excessive_precision)]

mod common;

use common::{fixture, fixture_path, parse_json, Json};

fn ok(text: &str) -> Json {
    parse_json(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

/// Parses `text`, expects an error that starts with `byte {offset}:` and mentions `what`.
fn fails_at(text: &str, offset: usize, what: &str) {
    let e = match parse_json(text) {
        Ok(v) => panic!("{text:?} should not parse, got {v:?}"),
        Err(e) => e,
    };
    assert!(
        e.starts_with(&format!("byte {offset}: ")),
        "{text:?}: error {e:?} should be at byte {offset}"
    );
    assert!(
        e.contains(what),
        "{text:?}: error {e:?} should mention {what:?}"
    );
}

#[test]
fn literals_and_whitespace() {
    assert_eq!(ok("null"), Json::Null);
    assert_eq!(ok(" \t\r\n true \n"), Json::Bool(true));
    assert_eq!(ok("false").as_bool(), Some(false));
    assert!(ok("null").is_null());
    assert_eq!(ok("[]"), Json::Array(vec![]));
    assert_eq!(ok("{ }"), Json::Object(vec![]));
    assert_eq!(ok(r#""""#).as_str(), Some(""));
}

#[test]
fn escapes() {
    let v = ok(r#""a\"b\\c\/d\be\ff\ng\rh\ti""#);
    assert_eq!(v.as_str(), Some("a\"b\\c/d\u{8}e\u{c}f\ng\rh\ti"));
    // BMP escapes, upper and lower case hex; \u0000 is a valid character.
    assert_eq!(
        ok(r#""\u00e9\u00C4\u20AC\u0000x""#).as_str(),
        Some("éÄ€\0x")
    );
    // Surrogate pairs, as Python's json.dump(ensure_ascii=True) writes astral characters.
    assert_eq!(ok(r#""\ud83e\udd99.cpp""#).as_str(), Some("🦙.cpp"));
    assert_eq!(
        ok(r#""\uD83D\uDE80 \ud83d\ude36\u200d\ud83c\udf2b\ufe0f""#).as_str(),
        Some("🚀 😶\u{200d}🌫\u{fe0f}")
    );
    assert_eq!(ok(r#""\udbff\udfff""#).as_str(), Some("\u{10ffff}"));
    // Raw UTF-8, as json.dump(ensure_ascii=False) writes it, mixed with escapes.
    assert_eq!(
        ok("\"нещо \\\"на\\\" 🦙 ½\"").as_str(),
        Some("нещо \"на\" 🦙 ½")
    );
    assert_eq!(ok("\"កាន់តែពិសេស\"").as_str(), Some("កាន់តែពិសេស"));
    // Both spellings give the same string.
    assert_eq!(
        ok(r#""Cửa Việt 我想""#),
        ok(r#""C\u1eeda Vi\u1ec7t \u6211\u60f3""#)
    );
}

#[test]
fn nested() {
    let v = ok(r#" {"a": [1, {"b": [true, null, "x"]}, []], "c": {"d": {"e": -2}}, "a2": {}} "#);
    assert_eq!(v.len(), 3);
    assert_eq!(
        v.get("a").and_then(|a| a.at(0)).and_then(Json::as_i64),
        Some(1)
    );
    assert_eq!(v["a"][1]["b"][0].as_bool(), Some(true));
    assert!(v["a"][1]["b"][1].is_null());
    assert_eq!(v["a"][1]["b"][2].as_str(), Some("x"));
    assert_eq!(v["a"][2].as_array().map(<[Json]>::len), Some(0));
    assert_eq!(v["c"]["d"]["e"].as_i64(), Some(-2));
    assert_eq!(v["a2"].as_object().map(<[(String, Json)]>::len), Some(0));
    assert!(v.get("missing").is_none());
    assert!(v["a"].get("x").is_none(), "get on an array");
    assert!(v["a"].at(3).is_none());
    assert!(v.at(0).is_none(), "at on an object");
    // Members keep file order; a repeated key reads as the last one (as Python's json does).
    let o = ok(r#"{"z": 1, "a": 2, "z": 3}"#);
    let keys: Vec<&str> = o
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["z", "a", "z"]);
    assert_eq!(o["z"].as_i64(), Some(3));
    // Deep but bounded nesting parses; absurd nesting is an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
    assert!(parse_json(&deep).is_ok());
    let too_deep = "[".repeat(100_000);
    assert!(parse_json(&too_deep).unwrap_err().contains("nesting"));
}

#[test]
fn numbers() {
    assert_eq!(ok("-1.5e-3").as_f64(), Some(-1.5e-3));
    assert_eq!(ok("0").as_f64(), Some(0.0));
    assert_eq!(ok("0").as_i64(), Some(0));
    assert_eq!(ok("-0").as_f64().map(f64::is_sign_negative), Some(true));
    assert_eq!(ok("12345678901").as_i64(), Some(12345678901));
    assert_eq!(ok("12345678901").as_u32(), None);
    assert_eq!(ok("4294967295").as_u32(), Some(u32::MAX));
    assert_eq!(ok("-1").as_u32(), None);
    assert_eq!(ok("-1").as_i64(), Some(-1));
    assert_eq!(ok("0.1").as_f64(), Some(0.1f64));
    assert_eq!(ok("0.1").as_f64().map(f64::to_bits), Some(0.1f64.to_bits()));
    assert_eq!(ok("1E+2").as_f64(), Some(100.0));
    assert_eq!(
        ok("2e308").as_f64(),
        Some(f64::INFINITY),
        "overflow rounds like str::parse"
    );
    assert_eq!(ok("5e-324").as_f64(), Some(f64::from_bits(1)));
    // Python repr of f32 values widened to f64 round-trips exactly and narrows exactly.
    for &x in &[
        0.1f32,
        -5.280177593231201e-4,
        18.962677,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-45,
    ] {
        let text = format!("{:?}", x as f64);
        assert_eq!(ok(&text).as_f64(), Some(x as f64), "{text}");
        assert_eq!(
            ok(&text).as_f32().map(f32::to_bits),
            Some(x.to_bits()),
            "{text}"
        );
    }
    assert_eq!(
        ok("-0.22736740112304688").as_f32(),
        Some(-0.22736740112304688f64 as f32)
    );
    // as_i64 only for integers the f64 holds exactly.
    assert_eq!(ok("1.5").as_i64(), None);
    assert_eq!(ok("1e3").as_i64(), Some(1000));
    assert_eq!(ok("9007199254740991").as_i64(), Some(9007199254740991));
    assert_eq!(ok("9007199254740992").as_i64(), None);
    assert_eq!(ok("\"1\"").as_i64(), None);
    // Vectors.
    let a = ok("[1, 2.5, -3e2, 0.1]");
    assert_eq!(a.f32_vec(), vec![1.0f32, 2.5, -300.0, 0.1f64 as f32]);
    assert_eq!(a.f64_vec(), vec![1.0f64, 2.5, -300.0, 0.1]);
    assert_eq!(
        ok("[0, -7, 12345678901]").i64_vec(),
        vec![0i64, -7, 12345678901]
    );
    assert_eq!(ok("[0, 7, 4294967295]").u32_vec(), vec![0u32, 7, u32::MAX]);
    assert_eq!(ok("[]").u32_vec(), Vec::<u32>::new());
}

#[test]
#[should_panic(expected = "not a u32")]
fn u32_vec_rejects_negative() {
    ok("[1, -1]").u32_vec();
}

#[test]
#[should_panic(expected = "not an exact integer")]
fn i64_vec_rejects_fraction() {
    ok("[1, 1.5]").i64_vec();
}

#[test]
#[should_panic(expected = "expected an array")]
fn f32_vec_rejects_object() {
    ok("{}").f32_vec();
}

#[test]
#[should_panic(expected = "no member \"nope\"")]
fn index_missing_key_panics() {
    let _ = &ok("{}")["nope"];
}

#[test]
fn errors_carry_offsets() {
    fails_at("", 0, "expected a JSON value");
    fails_at("[1,2,]", 4, "trailing comma in array");
    fails_at("{\"a\": 1 ,\n }", 8, "trailing comma in object");
    fails_at(r#"{"a": "abc"#, 6, "unterminated string");
    fails_at(r#""abc\"#, 0, "unterminated string");
    fails_at(r#"["a\qb"]"#, 3, "bad escape");
    fails_at(r#""\u12G4""#, 5, "hex digits");
    fails_at(r#""\ud83e""#, 1, "lone high surrogate");
    fails_at(r#""\ud83ex""#, 1, "lone high surrogate");
    fails_at(r#""\ud83e\u0041""#, 7, "low surrogate");
    fails_at(r#""\udd99""#, 1, "lone low surrogate");
    fails_at("\"a\nb\"", 2, "control character");
    fails_at("[1 2]", 3, "expected `,` or `]`");
    fails_at("{\"a\" 1}", 5, "expected `:`");
    fails_at("{1: 2}", 1, "string key");
    fails_at("{\"a\": 1 \"b\": 2}", 8, "expected `,` or `}`");
    fails_at("[1] x", 4, "trailing characters");
    fails_at("01", 1, "leading zero");
    fails_at("-", 1, "digit");
    fails_at("1.", 2, "after `.`");
    fails_at("1.e5", 2, "after `.`");
    fails_at("1e", 2, "exponent");
    fails_at("+1", 0, "expected a JSON value");
    fails_at(".5", 0, "expected a JSON value");
    fails_at("[NaN]", 1, "expected a JSON value");
    fails_at("Infinity", 0, "expected a JSON value");
    fails_at("-Infinity", 1, "digit");
    fails_at("nul", 0, "literal");
    fails_at("[tru]", 1, "literal");
    fails_at("[1, 2", 5, "expected `,` or `]`");
}

#[test]
fn display_round_trips() {
    let text = r#"{"s":"a\"\\\n\u0001é🦙","n":[0.1,-2.0,1e-7,12345678901.0],"b":[true,false,null],"o":{}}"#;
    let v = ok(text);
    assert_eq!(ok(&v.to_string()), v);
}

/// Reads `tests/fixtures/<rel>` as UTF-8 and parses it; prints the time taken.
fn load(rel: &str) -> Json {
    let bytes = fixture(rel);
    let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{rel}: not UTF-8: {e}"));
    let t = std::time::Instant::now();
    let v = parse_json(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    eprintln!(
        "{rel}: {} bytes parsed in {:.1} ms",
        text.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    v
}

/// The SHA-256 that `tests/fixtures/SHA256SUMS` lists for `rel` (e.g. `models/x.gguf`).
fn listed_sha256(rel: &str) -> Option<String> {
    let sums = String::from_utf8(fixture("SHA256SUMS")).unwrap();
    let want = format!("./{rel}");
    sums.lines().find_map(|l| {
        let (h, p) = l.split_once("  ")?;
        (p == want).then(|| h.to_string())
    })
}

/// Structural checks shared by every model golden file (`<model>.json`).
fn check_model_golden(name: &str, v: &Json) {
    let stem = name.strip_suffix(".json").unwrap();
    assert_eq!(
        v["model"].as_str(),
        Some(format!("{stem}.gguf").as_str()),
        "{name}"
    );
    let sha = v["sha256"].as_str().unwrap();
    assert!(
        sha.len() == 64 && sha.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
        "{name}"
    );
    if let Some(listed) = listed_sha256(&format!("models/{stem}.gguf")) {
        assert_eq!(sha, listed, "{name}: sha256 differs from SHA256SUMS");
    }
    assert!(
        v["reference"].as_str().unwrap().starts_with("llama.cpp "),
        "{name}"
    );
    let n_vocab = v["n_vocab"].as_usize().unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert!(!cases.is_empty(), "{name}");
    for (i, c) in cases.iter().enumerate() {
        let prompt = c["prompt"].u32_vec();
        assert!(!prompt.is_empty(), "{name} case {i}");
        assert!(
            prompt.iter().all(|&t| (t as usize) < n_vocab),
            "{name} case {i}"
        );
        let greedy = c["greedy"].u32_vec();
        assert!(
            greedy.iter().all(|&t| (t as usize) < n_vocab),
            "{name} case {i}"
        );
        let last = c["last_logits"].f32_vec();
        assert_eq!(last.len(), n_vocab, "{name} case {i}");
        assert!(last.iter().all(|x| x.is_finite()), "{name} case {i}");
        // The greedy first token is the argmax of the last prompt position's logits.
        let argmax = (0..n_vocab).fold(0, |b, j| if last[j] > last[b] { j } else { b });
        assert_eq!(
            greedy[0] as usize, argmax,
            "{name} case {i}: greedy[0] vs argmax"
        );
        let top = c["top_per_pos"].as_array().unwrap();
        assert_eq!(top.len(), prompt.len(), "{name} case {i}");
        for pos in top {
            for pair in pos.as_array().unwrap() {
                assert_eq!(pair.len(), 2);
                assert!(pair[0].as_u32().is_some_and(|t| (t as usize) < n_vocab));
                assert!(pair[1].as_f64().is_some());
            }
        }
        if let Some(all) = c.get("all_logits") {
            let rows = all.as_array().unwrap();
            assert_eq!(rows.len(), prompt.len(), "{name} case {i}");
            for r in rows {
                assert_eq!(r.f32_vec().len(), n_vocab, "{name} case {i}");
            }
            let last_row = rows.last().unwrap().f32_vec();
            assert_eq!(
                last_row, last,
                "{name} case {i}: all_logits[-1] vs last_logits"
            );
        }
    }
}

/// Every `tests/fixtures/golden/*.json` parses, and holds one known value.
#[test]
fn golden_files() {
    let dir = fixture_path("golden");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 25, "golden JSON files: {names:?}");
    for name in &names {
        let v = load(&format!("golden/{name}"));
        if name == "smollm2-embeddings.json" {
            // llama-cpp-python's embeddings (scripts/embed_goldens.py).
            assert_eq!(v["texts"].len(), 3);
            assert_eq!(
                v["tokens"][1].u32_vec(),
                [504, 3575, 282, 4649, 314, 7042, 30]
            );
            for k in ["mean", "mean_l2", "last", "last_l2", "cls", "cls_l2"] {
                let rows = v[k].as_array().unwrap();
                assert_eq!(rows.len(), 3, "{k}");
                assert!(rows.iter().all(|r| r.f32_vec().len() == 576), "{k}");
            }
            assert_eq!(v["none"][0].len(), v["tokens"][0].u32_vec().len());
            continue;
        }
        if name == "vocab-special.json" {
            // llama.cpp's vocabulary answers (scripts/vocab_goldens.py).
            let vocabs = v["vocabs"].as_object().unwrap();
            assert_eq!(vocabs.len(), 9);
            let cl = &v["vocabs"]["codellama-70b-instruct-vocab.gguf"];
            assert_eq!(cl["special"]["fim_pre"].as_u32(), Some(32007));
            assert_eq!(cl["eog"].u32_vec(), [2, 32015]);
            assert_eq!(cl["infill"].len(), 9);
            continue;
        }
        if name.starts_with("tok-") {
            let cases = v["cases"].as_array().unwrap();
            assert_eq!(cases.len(), 47, "{name}");
            assert_eq!(cases[0]["text"].as_str(), Some("ied 4 ½ months"), "{name}");
            assert_eq!(cases[1]["text"].as_str(), Some("Äpfel"), "{name}");
            assert_eq!(
                cases[18]["text"].as_str(),
                Some(" this is 🦙.cpp"),
                "{name}"
            );
            for c in cases {
                c["ids"].u32_vec();
                c["ids_special"].u32_vec();
            }
            for (id, bytes) in v["pieces"].as_object().unwrap() {
                id.parse::<u32>().unwrap();
                assert!(
                    bytes.u32_vec().iter().all(|&b| b < 256),
                    "{name} piece {id}"
                );
            }
            if name == "tok-codellama-70b-instruct.json" {
                assert_eq!(
                    v["vocab"].as_str(),
                    Some("codellama-70b-instruct-vocab.gguf")
                );
                assert_eq!(cases[1]["ids"].u32_vec(), [11585, 7810, 295]);
                assert_eq!(cases[1]["ids_special"].u32_vec(), [1, 11585, 7810, 295]);
                assert_eq!(v["pieces"]["1"].u32_vec(), b"<s>".map(u32::from));
            } else {
                assert_eq!(v["vocab"].as_str(), Some("smollm2-135m-instruct.q4_1.gguf"));
                assert_eq!(cases[0]["ids"].u32_vec(), [885, 216, 36, 216, 16738, 2704]);
            }
            continue;
        }
        check_model_golden(name, &v);
        let cases = v["cases"].as_array().unwrap();
        let prompt_lens: Vec<usize> = cases.iter().map(|c| c["prompt"].len()).collect();
        if name.starts_with("smollm2-") {
            assert_eq!(v["n_vocab"].as_i64(), Some(49152));
            assert_eq!(
                v["sha256"].as_str(),
                Some("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
            );
            assert_eq!(prompt_lens, [42, 16, 6]);
            assert_eq!(cases[0]["prompt"].u32_vec()[..5], [1, 9690, 198, 2683, 359]);
            assert_eq!(cases[0]["greedy"].u32_vec()[..3], [3725, 5367, 198]);
            assert_eq!(
                cases[0]["last_logits"].f32_vec()[..2],
                [18.962677001953125f32, 17.178668975830078]
            );
        } else {
            assert_eq!(v["n_vocab"].as_i64(), Some(1024), "{name}");
            assert_eq!(prompt_lens, [8, 34], "{name}");
            assert_eq!(
                cases[0]["prompt"].u32_vec(),
                [1, 978, 975, 986, 381, 173, 922, 107],
                "{name}"
            );
            assert_eq!(cases[0]["greedy"].len(), 32, "{name}");
        }
        if name == "tiny-codellama.q4_k_m.json" {
            let c = &cases[0];
            assert_eq!(c["greedy"].u32_vec()[..4], [628, 119, 747, 129]);
            assert_eq!(c["last_logits"][0].as_f64(), Some(2.8798489570617676));
            assert_eq!(c["top_per_pos"][0][0][0].as_u32(), Some(145));
            assert_eq!(c["top_per_pos"][0][0][1].as_f64(), Some(12.200264930725098));
            assert_eq!(c["all_logits"][0].f32_vec()[0], 6.98548698425293f32);
        }
    }
}

#[test]
fn chat_fixture() {
    let v = load("chat/codellama-70b-instruct.json");
    let msgs = v["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(msgs[0]["content"].as_str(), Some("System prompt    "));
    let prompt = v["expected_prompt"].as_str().unwrap();
    assert!(
        prompt.starts_with("<s>Source: system\n\n System prompt <step>"),
        "{prompt:?}"
    );
    assert_eq!(prompt.chars().count(), 215);
    assert_eq!(v["expected_tokens"].u32_vec().len(), 49);
    assert_eq!(
        v["expected_tokens"].u32_vec()[..6],
        [1, 7562, 29901, 1788, 13, 13]
    );
    assert_eq!(v["llama_cpp_tokens_of_expected_prompt"].u32_vec().len(), 57);
    assert_eq!(
        v["vocab"].as_str(),
        Some("../vocab/codellama-70b-instruct-vocab.gguf")
    );
}
