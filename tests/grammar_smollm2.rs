//! Generation under JSON schemas with SmolLM2-135M-Instruct: for 10 schemas and 2 seeds each,
//! the output always parses as JSON and validates against its schema (checked by the small
//! validator below, independent of the grammar engine), and generation ends by the model's
//! end-of-generation token, not by the length limit. Also a GBNF grammar and a regex.
//!
//! Needs SmolLM2: `scripts/fetch-smollm2.sh` (the CI script does).

mod common;

use common::smollm2_path;
use llamette::chat::{ChatFormat, Message};
use llamette::generate::{generate, Prompt, StopReason, StopRules};
use llamette::grammar::{Grammar, GrammarVocab};
use llamette::sampling::{Sampler, SamplerParams};
use llamette::tokenizer::Vocab;
use llamette::{Context, ContextParams, Model, ThreadPool};
use serde_json::Value;

/// The schemas (every string and number bounded, so a complete value is always reachable
/// within the token limit) and what to ask for.
const SCHEMAS: [(&str, &str); 10] = [
    (
        r#"{"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer", "minimum": 0, "maximum": 120}}, "required": ["name", "age"]}"#,
        "Describe a person as JSON with a name and an age.",
    ),
    (
        r#"{"type": "array", "items": {"type": "integer", "minimum": -50, "maximum": 50}, "minItems": 2, "maxItems": 4}"#,
        "Give a JSON list of a few small numbers.",
    ),
    (
        r#"{"enum": ["red", "green", "blue"]}"#,
        "What colour is the sky? Answer in JSON.",
    ),
    (
        r#"{"type": "object", "properties": {"city": {"type": "string", "maxLength": 16}, "location": {"type": "object", "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90}, "north": {"type": "boolean"}}, "required": ["lat", "north"]}}, "required": ["city", "location"]}"#,
        "Describe Paris as JSON.",
    ),
    (
        r#"{"type": "string", "pattern": "^[A-Z][a-z]{1,10}$"}"#,
        "Name a fruit, as a JSON string.",
    ),
    (
        r#"{"type": "integer", "minimum": 1, "maximum": 100}"#,
        "Pick a number from 1 to 100, as JSON.",
    ),
    (
        r#"{"anyOf": [{"type": "boolean"}, {"type": "object", "properties": {"ok": {"type": "boolean"}, "code": {"type": "integer", "minimum": 0, "maximum": 999}}, "required": ["ok"]}]}"#,
        "Did it work? Reply in JSON.",
    ),
    (
        r##"{"$defs": {"pt": {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 9}, "y": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["x", "y"]}}, "type": "array", "items": {"$ref": "#/$defs/pt"}, "minItems": 1, "maxItems": 3}"##,
        "List two points as JSON.",
    ),
    (
        r#"{"type": "object", "properties": {"kind": {"const": "event"}, "date": {"type": "string", "format": "date"}}, "required": ["kind", "date"]}"#,
        "When is new year? JSON with kind and date.",
    ),
    (
        r#"{"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3}, "done": {"type": "boolean"}}, "required": ["tags", "done"], "additionalProperties": false}"#,
        "Describe a finished task as JSON with tags.",
    ),
];

/// Whether `v` validates against `schema` (the keywords the schemas above use), with `root`
/// for `$ref`.
fn valid(v: &Value, schema: &Value, root: &Value) -> Result<(), String> {
    let s = schema.as_object().ok_or("schema is not an object")?;
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").ok_or("only #/$defs refs")?;
        return valid(v, &root["$defs"][name], root);
    }
    if let Some(alts) = s.get("anyOf").and_then(Value::as_array) {
        return if alts.iter().any(|a| valid(v, a, root).is_ok()) {
            Ok(())
        } else {
            Err(format!("{v} matches no anyOf branch"))
        };
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return if e.contains(v) {
            Ok(())
        } else {
            Err(format!("{v} not in enum"))
        };
    }
    if let Some(c) = s.get("const") {
        return if c == v {
            Ok(())
        } else {
            Err(format!("{v} is not {c}"))
        };
    }
    let bound = |x: f64| -> Result<(), String> {
        if s.get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| x < m)
        {
            return Err(format!("{x} below minimum"));
        }
        if s.get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|m| x > m)
        {
            return Err(format!("{x} above maximum"));
        }
        Ok(())
    };
    let count = |k: &str| s.get(k).and_then(Value::as_u64).map(|n| n as usize);
    match s.get("type").and_then(Value::as_str) {
        Some("object") => {
            let o = v.as_object().ok_or(format!("{v} is not an object"))?;
            let props = s.get("properties").and_then(Value::as_object);
            for r in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !o.contains_key(r.as_str().unwrap()) {
                    return Err(format!("{v} lacks {r}"));
                }
            }
            for (k, x) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => valid(x, ps, root)?,
                    None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return Err(format!("{v} has extra {k}"))
                    }
                    None => {}
                }
            }
            Ok(())
        }
        Some("array") => {
            let a = v.as_array().ok_or(format!("{v} is not an array"))?;
            if count("minItems").is_some_and(|n| a.len() < n)
                || count("maxItems").is_some_and(|n| a.len() > n)
            {
                return Err(format!("{v}: wrong length"));
            }
            a.iter().try_for_each(|x| valid(x, &s["items"], root))
        }
        Some("string") => {
            let t = v.as_str().ok_or(format!("{v} is not a string"))?;
            if count("maxLength").is_some_and(|n| t.chars().count() > n) {
                return Err(format!("{v} too long"));
            }
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                // The one pattern above: ^[A-Z][a-z]{1,10}$
                assert_eq!(p, "^[A-Z][a-z]{1,10}$");
                let c: Vec<char> = t.chars().collect();
                let ok = (2..=11).contains(&c.len())
                    && c[0].is_ascii_uppercase()
                    && c[1..].iter().all(|x| x.is_ascii_lowercase());
                if !ok {
                    return Err(format!("{v} does not match {p}"));
                }
            }
            if s.get("format").and_then(Value::as_str) == Some("date") {
                let b = t.as_bytes();
                let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
                let ok = b.len() == 10
                    && digits(0..4)
                    && b[4] == b'-'
                    && digits(5..7)
                    && b[7] == b'-'
                    && digits(8..10);
                if !ok {
                    return Err(format!("{v} is not a date"));
                }
            }
            Ok(())
        }
        Some("integer") => {
            if !(v.is_i64() || v.is_u64()) {
                return Err(format!("{v} is not an integer"));
            }
            bound(v.as_f64().unwrap())
        }
        Some("number") => bound(v.as_f64().ok_or(format!("{v} is not a number"))?),
        Some("boolean") => v
            .is_boolean()
            .then_some(())
            .ok_or(format!("{v} is not a boolean")),
        t => Err(format!("type {t:?} not handled by the test's validator")),
    }
}

struct Run {
    text: String,
    reason: Option<StopReason>,
}

fn run(model: &Model, vocab: &Vocab, gv: &GrammarVocab, g: &Grammar, ask: &str, seed: u64) -> Run {
    let format = ChatFormat::from_header(model.header()).unwrap();
    let messages = [Message {
        role: "user",
        content: ask,
    }];
    let prompt = Prompt::Chat {
        format,
        messages: &messages,
    }
    .tokens(vocab)
    .unwrap();
    let mut ctx = Context::new(
        model,
        ContextParams {
            n_ctx: 512,
            ..Default::default()
        },
    )
    .unwrap();
    let params = SamplerParams {
        seed,
        temp: 0.8,
        ..SamplerParams::default()
    };
    let mut sampler = Sampler::new(vocab.n_tokens(), params)
        .unwrap()
        .with_constraint(Box::new(gv.constraint(g).unwrap()));
    let rules = StopRules {
        n_predict: Some(160),
        ..Default::default()
    };
    let mut text = String::new();
    let pool = ThreadPool::new(2);
    let (reason, _) = generate(
        &mut ctx,
        vocab,
        &mut sampler,
        &prompt,
        rules,
        &pool,
        &mut |p| {
            text.push_str(p);
            true
        },
    )
    .unwrap();
    Run { text, reason }
}

#[test]
fn every_output_under_a_schema_parses_and_validates() {
    let model = Model::load(smollm2_path()).unwrap();
    let vocab = Vocab::from_gguf(model.header()).unwrap();
    let gv = GrammarVocab::new(&vocab).unwrap();
    let mut n = 0;
    for (schema_text, ask) in SCHEMAS {
        let schema: Value = serde_json::from_str(schema_text).unwrap();
        let g = Grammar::json_schema(schema_text).unwrap();
        for seed in [1, 2] {
            let r = run(&model, &vocab, &gv, &g, ask, seed);
            assert!(
                matches!(r.reason, Some(StopReason::EndOfGeneration(_))),
                "{schema_text} seed {seed}: stopped by {:?} after {:?}",
                r.reason,
                r.text
            );
            let v: Value = serde_json::from_str(&r.text)
                .unwrap_or_else(|e| panic!("{schema_text} seed {seed}: {:?}: {e}", r.text));
            if let Err(e) = valid(&v, &schema, &schema) {
                panic!("{schema_text} seed {seed}: {:?}: {e}", r.text);
            }
            eprintln!("{ask} -> {:?}", r.text);
            n += 1;
        }
    }
    assert_eq!(n, 20);
}

#[test]
fn gbnf_and_regex_outputs_match() {
    let model = Model::load(smollm2_path()).unwrap();
    let vocab = Vocab::from_gguf(model.header()).unwrap();
    let gv = GrammarVocab::new(&vocab).unwrap();
    let g =
        Grammar::gbnf("root ::= answer \".\"\nanswer ::= \"The capital is \" [A-Z] [a-z]{2,12}")
            .unwrap();
    let r = run(&model, &vocab, &gv, &g, "What is the capital of France?", 3);
    assert!(g.accepts(&r.text).unwrap(), "{:?}", r.text);
    assert!(matches!(r.reason, Some(StopReason::EndOfGeneration(_))));
    let g = Grammar::regex("[0-9]{3}-[0-9]{4}").unwrap();
    let r = run(&model, &vocab, &gv, &g, "Make up a phone number.", 4);
    assert!(g.accepts(&r.text).unwrap(), "{:?}", r.text);
    let b = r.text.as_bytes();
    assert_eq!(b.len(), 8);
    assert_eq!(b[3], b'-');
}
