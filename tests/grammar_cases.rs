//! llama.cpp's own grammar test cases, as data (`tests/fixtures/grammar/`, made from llama.cpp
//! 0c1e570's `tests/test-grammar-parser.cpp`, `test-grammar-integration.cpp` and
//! `test-json-schema-to-grammar.cpp` by `scripts/extract_grammar_cases.py`; see the README
//! there): which grammars build, and which strings each accepts and rejects.
//!
//! Every case must give llama.cpp's answer, except the deviations listed in `DEVIATIONS`
//! (JSON schemas, where llguidance's compiler and llama.cpp's converter differ on purpose);
//! the list is exact, so a case that starts to agree fails too and the list shrinks.

use std::collections::BTreeSet;
use std::path::PathBuf;

use llamette::grammar::{Grammar, GrammarVocab};
use llamette::sampling::Constraint;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/grammar")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; regenerate with scripts/extract_grammar_cases.py (tests/fixtures/grammar/README.md)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The JSON-schema cases where llamette deliberately answers otherwise than llama.cpp:
/// `(case name, test string, why)`. A test string of `"<build>"` means the schema itself.
const DEVIATIONS: &[(&str, &str, &str)] = &[
    (
        "min 0",
        "100000000000000000000000000000000",
        "an integer of any length: llama.cpp's converter caps bounded integers at 16 digits",
    ),
    (
        "min 2",
        "12345678900000000",
        "an integer of any length: llama.cpp's converter caps bounded integers at 16 digits",
    ),
];

/// A string of a test: text, or text and special tokens.
enum Input {
    Text(String),
    Seq(Vec<Item>),
}

enum Item {
    Text(String),
    Token(u32),
}

fn input(v: &Value) -> Input {
    match v {
        Value::String(s) => Input::Text(s.clone()),
        Value::Object(o) if o.contains_key("seq") => Input::Seq(
            o["seq"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| match i {
                    Value::String(s) => Item::Text(s.clone()),
                    Value::Object(t) => Item::Token(t["token"].as_u64().unwrap() as u32),
                    _ => panic!("bad item {i}"),
                })
                .collect(),
        ),
        _ => panic!("unsupported test string {v}"),
    }
}

fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A vocabulary for token tests: ids 0..=255 special (llama.cpp's test names tokens by small
/// ids), then one token per byte at 256 + b.
fn token_vocab() -> GrammarVocab {
    let mut tokens: Vec<Vec<u8>> = (0..256).map(|_| Vec::new()).collect();
    tokens.extend((0..=255u8).map(|b| vec![b]));
    let refs: Vec<&[u8]> = tokens.iter().map(|t| t.as_slice()).collect();
    let special: Vec<u32> = (0..256).collect();
    GrammarVocab::from_token_bytes(&refs, &special, &[]).unwrap()
}

fn accepts_seq(g: &Grammar, vocab: &GrammarVocab, items: &[Item]) -> bool {
    let mut c = vocab.constraint(g).unwrap();
    for item in items {
        let ids: Vec<u32> = match item {
            Item::Text(s) => s.bytes().map(|b| 256 + b as u32).collect(),
            Item::Token(t) => vec![*t],
        };
        for id in ids {
            if c.accept(id).is_err() {
                return false;
            }
        }
    }
    c.is_accepting()
}

fn build(case: &Value) -> Result<Grammar, llamette::Error> {
    match case["kind"].as_str().unwrap() {
        "gbnf" => Grammar::gbnf_rooted(
            case["grammar"].as_str().unwrap(),
            case.get("root").and_then(|r| r.as_str()).unwrap_or("root"),
            None,
        ),
        "schema" => Grammar::json_schema(case["schema"].as_str().unwrap()),
        k => panic!("unknown kind {k}"),
    }
}

#[test]
fn llama_cpp_integration_cases() {
    let cases = fixture("integration.json");
    let cases = cases.as_array().unwrap();
    let vocab = token_vocab();
    let mut wrong = BTreeSet::new();
    let (mut checked, mut strings) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let built = build(case);
        checked += 1;
        if case["expect_parse_error"].as_bool().unwrap() {
            if built.is_ok() {
                wrong.insert((name.to_string(), "<build>".to_string()));
            }
            continue;
        }
        let g = match built {
            Ok(g) => g,
            Err(e) => {
                eprintln!("{name}: {e}");
                wrong.insert((name.to_string(), "<build>".to_string()));
                continue;
            }
        };
        for (list, want) in [("passing", true), ("failing", false)] {
            for s in case[list].as_array().unwrap() {
                strings += 1;
                let got = match input(s) {
                    Input::Text(t) => g.accepts(&t).unwrap(),
                    Input::Seq(items) => accepts_seq(&g, &vocab, &items),
                };
                if got != want {
                    wrong.insert((name.to_string(), label(s)));
                }
            }
        }
    }
    let expected: BTreeSet<(String, String)> = DEVIATIONS
        .iter()
        .map(|(n, s, _)| (n.to_string(), s.to_string()))
        .collect();
    let unexpected: Vec<_> = wrong.difference(&expected).collect();
    let fixed: Vec<_> = expected.difference(&wrong).collect();
    eprintln!(
        "{checked} cases, {strings} strings, {} deviations as listed",
        wrong.intersection(&expected).count()
    );
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "answers unlike llama.cpp's: {unexpected:#?}\nlisted deviations that now agree: {fixed:#?}"
    );
    assert_eq!(checked, 56);
    assert_eq!(strings, 387);
}

#[test]
fn llama_cpp_parser_cases() {
    let cases = fixture("parser.json");
    let cases = cases.as_array().unwrap();
    let mut wrong = Vec::new();
    for case in cases {
        let g = case["grammar"].as_str().unwrap();
        let ok = case["ok"].as_bool().unwrap();
        let got = Grammar::gbnf(g);
        if got.is_ok() != ok {
            wrong.push(format!("line {}: {g:?}: {:?}", case["line"], got.err()));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(cases.len(), 23);
}

/// Every schema llama.cpp converts, llamette compiles (and the three it refuses, it refuses),
/// and every grammar llama.cpp's converter produces is a GBNF grammar llamette parses.
#[test]
fn llama_cpp_json_schema_cases() {
    let cases = fixture("json_schema.json");
    let cases = cases.as_array().unwrap();
    let mut wrong = BTreeSet::new();
    let mut gbnf_wrong = Vec::new();
    for case in cases {
        let desc = case["desc"].as_str().unwrap();
        let ok = case["expect"].as_str().unwrap() == "SUCCESS";
        let got = Grammar::json_schema(case["schema"].as_str().unwrap());
        if got.is_ok() != ok {
            if let Err(e) = &got {
                eprintln!("{desc}: {e}");
            }
            wrong.insert((desc.to_string(), "<build>".to_string()));
        }
        if ok {
            if let Err(e) = Grammar::gbnf(case["grammar"].as_str().unwrap()) {
                gbnf_wrong.push(format!("{desc}: {e}"));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = DEVIATIONS
        .iter()
        .map(|(n, s, _)| (n.to_string(), s.to_string()))
        .filter(|(_, s)| s == "<build>")
        .collect();
    assert!(gbnf_wrong.is_empty(), "{gbnf_wrong:#?}");
    assert_eq!(
        wrong.difference(&expected).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new()
    );
    assert_eq!(cases.len(), 81);
}

/// llama.cpp's example grammars (`grammars/*.gbnf`) build, and accept and reject what they
/// describe.
#[test]
fn llama_cpp_example_grammars() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grammar/gbnf");
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "arithmetic",
            &["1+2=3\n", "(x*2)=y\nb=4\n"],
            &["1+2", "=3\n"],
        ),
        ("c", &["int main(){}", "int f(int a){return a;}"], &["main"]),
        (
            "chess",
            &["1. e4 e5\n2. Nf3 Nc6\n"],
            &["1. e4\n", "e4 e5\n"],
        ),
        ("english", &["Hello there", "a b\tc"], &["", " lead"]),
        ("japanese", &["こんにちは 世界"], &["hello"]),
        (
            "json",
            &[r#"{"a": [1, 2.5e3, "x\n", true, null], "b": {}}"#, "{}"],
            &[r#"{"a": }"#, "[1]", r#"{"a" 1}"#],
        ),
        (
            "json_arr",
            &["[\n{\"a\": 1},\n\"x\"]", "[\n]"],
            &["[{\"a\": 1}]", "{}", "[\n1,\n]"],
        ),
        ("list", &["- one\n- two\n"], &["- \n", "one\n"]),
    ];
    let mut n = 0;
    for (name, pass, fail) in cases {
        let path = dir.join(format!("{name}.gbnf"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (tests/fixtures/grammar/README.md)", path.display())
        });
        let g = Grammar::gbnf(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for s in *pass {
            assert!(g.accepts(s).unwrap(), "{name} should accept {s:?}");
        }
        for s in *fail {
            assert!(!g.accepts(s).unwrap(), "{name} should reject {s:?}");
        }
        n += 1;
    }
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "gbnf")
        })
        .count();
    assert_eq!(n, files, "every grammar in {} is tested", dir.display());
}
