//! Chat templates rendered by llamette (minijinja, `chat::template`) against the same templates
//! rendered by Python's jinja2 as Hugging Face's `apply_chat_template` renders them
//! (`scripts/render_templates.py` wrote tests/fixtures/templates/expected.json): llama.cpp's
//! `models/templates/` and the `tokenizer.chat_template` of every vocabulary file in
//! tests/fixtures/vocab, over conversations with system, user and assistant turns, several
//! turns, empty contents, non-ASCII text and tools. Every render gives the identical string,
//! and where jinja2 fails (the template raises, or uses what the input lacks) llamette fails
//! too.

use std::path::{Path, PathBuf};

use llamette::chat::template::{ChatTemplate, TemplateExtra};
use llamette::gguf::GgufFile;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn expected() -> Value {
    let path = fixtures().join("templates/expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the fixture is committed (git checkout -- tests/fixtures); \
             scripts/render_templates.py regenerates it",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("expected.json is JSON")
}

fn template_of(entry: &Value) -> Result<ChatTemplate, llamette::Error> {
    let path = fixtures().join(entry["path"].as_str().unwrap());
    let bos = entry["bos_token"].as_str().unwrap();
    let eos = entry["eos_token"].as_str().unwrap();
    match entry["source"].as_str().unwrap() {
        "file" => {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            ChatTemplate::new(&text, bos, eos)
        }
        "gguf" => {
            let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let key = entry["key"].as_str().unwrap();
            let t = match key.strip_prefix("tokenizer.chat_template.") {
                Some(name) => ChatTemplate::named(file.header(), name),
                None => ChatTemplate::from_gguf(file.header()),
            }?;
            let t = t.unwrap_or_else(|| panic!("{} has no {key}", path.display()));
            // The file's own BOS and EOS texts are what the script passed.
            assert_eq!(
                (t.bos_token(), t.eos_token()),
                (bos, eos),
                "{}",
                path.display()
            );
            Ok(t)
        }
        other => panic!("unknown source {other}"),
    }
}

/// Where llamette knowingly renders what jinja2 refuses or prints differently: (template,
/// conversations, why). Every other render is identical, or fails in both.
const KNOWN: &[(&str, &[usize], &str)] = &[
    // transformers passes `tools=None` when there are none; these loop over it, which
    // Python cannot (TypeError: 'NoneType' object is not iterable). minijinja loops over none
    // as over nothing, so the prompt without tools comes out.
    (
        "CohereForAI-c4ai-command-r-plus-tool_use",
        &[0, 1, 2, 3, 4, 5, 6, 7],
        "loops over tools=None",
    ),
    (
        "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use",
        &[0, 1, 2, 3, 4, 5, 6, 7],
        "loops over tools=None",
    ),
    (
        "NousResearch-Hermes-3-Llama-3.1-8B-tool_use",
        &[0, 1, 2, 3, 4, 5, 6, 7],
        "loops over tools=None",
    ),
    // `tools | map(attribute='function') | tojson`: jinja2's map() is a generator, which
    // json.dumps refuses; minijinja's is a list, printed as JSON.
    ("llama-cpp-deepseek-r1", &[8], "tojson of map()"),
    // `"..."|safe + t | tojson()`: adding a str to jinja2's Markup HTML-escapes the str
    // (`&#34;`); minijinja adds plain strings.
    (
        "meetkai-functionary-medium-v3.1",
        &[8],
        "Markup concatenation escapes",
    ),
];

#[test]
fn every_template_renders_as_jinja2_does() {
    let doc = expected();
    let now = doc["now"].as_i64().unwrap();
    let conversations = doc["conversations"].as_array().unwrap();
    let mut same = 0;
    let mut both_fail = 0;
    let mut known = 0;
    let mut differ = Vec::new();
    for (name, entry) in doc["templates"].as_object().unwrap() {
        let results = entry["results"].as_array().unwrap();
        assert_eq!(results.len(), conversations.len(), "{name}");
        let template = template_of(entry).map(|t| t.with_now(now));
        for (i, (conv, want)) in conversations.iter().zip(results).enumerate() {
            let got = template.as_ref().map_err(Clone::clone).and_then(|t| {
                let tools = conv.get("tools").filter(|v| !v.is_null());
                let extra = TemplateExtra {
                    tools,
                    documents: None,
                };
                t.render_json(
                    &conv["messages"],
                    conv["add_generation_prompt"].as_bool().unwrap(),
                    extra,
                )
            });
            match (want.get("output").and_then(Value::as_str), got) {
                (Some(w), Ok(g)) if w == g => same += 1,
                (None, Err(_)) => both_fail += 1,
                (w, g) if KNOWN.iter().any(|(n, c, _)| n == name && c.contains(&i)) => {
                    known += 1;
                    if let (None, Err(e)) | (Some(_), Err(e)) = (w, &g) {
                        panic!("{name} #{i} is a known difference but fails now: {e}");
                    }
                }
                (w, g) => {
                    let w = w.map_or_else(|| want["error"].to_string(), str::to_string);
                    let g = g.unwrap_or_else(|e| format!("error: {e}"));
                    // Where they part, with some context.
                    let at = w
                        .char_indices()
                        .zip(g.chars())
                        .find(|((_, a), b)| a != b)
                        .map_or(w.len().min(g.len()), |((i, _), _)| i);
                    let from = w[..at].char_indices().rev().nth(60).map_or(0, |(i, _)| i);
                    let clip = |s: &str| {
                        s.get(from..)
                            .unwrap_or(s)
                            .chars()
                            .take(160)
                            .collect::<String>()
                    };
                    differ.push(format!(
                        "{name} #{i} (from byte {from}):\n  jinja2:   {:?}\n  llamette: {:?}",
                        clip(&w),
                        clip(&g)
                    ));
                }
            }
        }
    }
    println!(
        "{} renders: {same} identical to jinja2's, {both_fail} fail in both, {known} known \
         differences, {} other differences",
        same + both_fail + known + differ.len(),
        differ.len()
    );
    let n_known: usize = KNOWN.iter().map(|(_, c, _)| c.len()).sum();
    assert_eq!(known, n_known, "every known difference still differs");
    assert!(
        differ.is_empty(),
        "{} of {} renders differ from jinja2's:\n{}",
        differ.len(),
        same + both_fail + differ.len(),
        differ.join("\n")
    );
}
