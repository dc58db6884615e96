//! Unit tests of the GBNF parser's errors and translation, and of the constraint on a
//! hand-made vocabulary.

use super::*;
use crate::sampling::{Sampler, SamplerParams, TokenData};

fn err(g: &str) -> String {
    Grammar::gbnf(g).unwrap_err().to_string()
}

#[test]
fn errors_say_line_and_column() {
    assert_eq!(
        err("root ::= \"a\"\nfoo ::= [a-z\n"),
        "bad grammar: GBNF line 3, column 1: unexpected end of input in a character class"
    );
    assert_eq!(
        err("root ::= x\n"),
        "bad grammar: GBNF line 1, column 10: undefined rule 'x'"
    );
    assert_eq!(
        err("root = \"a\""),
        "bad grammar: GBNF line 1, column 6: expecting '::=' after the rule name 'root'"
    );
    assert_eq!(
        err("root ::= \"\\q\""),
        "bad grammar: GBNF line 1, column 11: unknown escape"
    );
    assert_eq!(
        err("root ::= * \"a\""),
        "bad grammar: GBNF line 1, column 10: expecting an item before the repetition operator"
    );
    assert_eq!(
        err("root ::= (\"a\"\n"),
        "bad grammar: GBNF line 2, column 1: expecting ')' (for the '(' at line 1, column 10)"
    );
    assert_eq!(
        err("foo ::= \"a\""),
        "bad grammar: GBNF: the grammar has no 'root' rule to start from"
    );
    assert_eq!(
        err("root ::= a\na ::= b \"x\"\nb ::= \"\" | a"),
        "bad grammar: GBNF: rule 'a' is left-recursive (it can start with itself), which llama.cpp's grammars do not support"
    );
    assert!(err("root ::= \"a\"{2001}").contains("exceeds the limit of 2000"));
    assert!(err("root ::= \"a\"{3,2}").contains("maximum is below its minimum"));
    assert!(err("root ::= <think>").contains("needs the model's vocabulary"));
}

#[test]
fn translation_keeps_one_character_terminals() {
    let g = Grammar::gbnf("root ::= \"hé\" [^a-c] . x{2,3} x? (x | \"\")*\nx ::= [0-9]").unwrap();
    assert_eq!(
        g.lark_text().unwrap(),
        "start: r0\n\
         r0: /\\x{68}/ /\\x{E9}/ /[\\x{0}-\\x{60}\\x{64}-\\x{D7FF}\\x{E000}-\\x{10FFFF}]/ /(?s:.)/ (r1){2,3} (r1)? ((r1 | \"\"))*\n\
         r1: /[\\x{30}-\\x{39}]/\n"
    );
    assert!(g.accepts("hézy12").unwrap());
    assert!(g.accepts("héz\n123").unwrap());
    assert!(!g.accepts("héay12").unwrap());
    assert!(!g.accepts("hézy1").unwrap());
    // Negated classes across the surrogate gap: U+D7FF and U+E000 stay outside.
    let g = Grammar::gbnf("root ::= [^\\x00-\\uFFFF]").unwrap();
    assert!(!g.accepts("\u{D7FF}").unwrap() && !g.accepts("\u{E000}").unwrap());
    assert!(g.accepts("😀").unwrap());
    let g = Grammar::gbnf("root ::= [^\\uD000-\\uEFFF]").unwrap();
    assert!(!g.accepts("\u{D7FF}").unwrap() && !g.accepts("\u{E000}").unwrap());
    assert!(g.accepts("\u{CFFF}").unwrap() && g.accepts("\u{F000}").unwrap());
    let g = Grammar::gbnf("root ::= [^\\x00-\\U0010FFFF] | \"x\"").unwrap();
    assert!(!g.accepts("\u{D7FF}").unwrap() && g.accepts("x").unwrap());
    let g = Grammar::gbnf("root ::= [^a-cx]+").unwrap();
    assert!(g.accepts("dé\u{10FFFF}").unwrap() && !g.accepts("dx").unwrap());
    // A later definition replaces an earlier one, as in llama.cpp.
    let g = Grammar::gbnf("root ::= \"a\"\nroot ::= \"b\"").unwrap();
    assert!(g.accepts("b").unwrap() && !g.accepts("a").unwrap());
    // {0} removes the item.
    let g = Grammar::gbnf("root ::= \"a\"{0} \"b\"").unwrap();
    assert!(g.accepts("b").unwrap() && !g.accepts("ab").unwrap());
}

#[test]
fn schemas_and_regexes() {
    let g = Grammar::json_schema(
        r#"{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}"#,
    )
    .unwrap();
    assert!(g.accepts(r#"{"n": 42}"#).unwrap());
    assert!(!g.accepts(r#"{"n": 4.5}"#).unwrap());
    assert!(!g.accepts(r#"{"n": 1, "m": 2}"#).unwrap());
    let e = Grammar::json_schema("{\"type\": \n  \"object\",}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad grammar: JSON schema line 2, column 12: trailing comma"
    );
    assert!(Grammar::json_schema("[1]").is_err());
    let g = Grammar::regex("[0-9]{3}-[a-z]+").unwrap();
    assert!(g.accepts("123-abc").unwrap() && !g.accepts("12-abc").unwrap());
    assert!(Grammar::regex("(").is_err());
    let any = Grammar::json_object();
    assert!(any.accepts(r#"{"a": [1, {"b": null}]}"#).unwrap());
    assert!(!any.accepts("[1]").unwrap());
}

/// Tokens: 0 "<eos>" (end), 1 "a", 2 "b", 3 "ab", 4 "c", 5 "<ctl>" (control).
fn toy() -> GrammarVocab {
    let t: [&[u8]; 6] = [b"", b"a", b"b", b"ab", b"c", b""];
    GrammarVocab::from_token_bytes(&t, &[5], &[0]).unwrap()
}

fn allowed(c: &mut GrammarConstraint) -> Vec<u32> {
    let mut cands = Candidates::from_logits(&[0.0; 6]);
    c.apply(&mut cands).unwrap();
    cands.iter().map(|d: &TokenData| d.id).collect()
}

#[test]
fn the_constraint_masks_and_advances() {
    let g = Grammar::gbnf("root ::= \"a\" \"b\"+").unwrap();
    let mut c = toy().constraint(&g).unwrap();
    assert_eq!(allowed(&mut c), [1, 3]);
    c.accept(3).unwrap();
    // Complete: the end token is allowed, and more "b".
    assert_eq!(allowed(&mut c), [0, 2]);
    assert!(c.is_accepting());
    assert!(c.accept(4).is_err(), "c is refused");
    assert_eq!(allowed(&mut c), [0, 2], "a refused token changes nothing");
    c.accept(0).unwrap();
    c.reset();
    assert_eq!(allowed(&mut c), [1, 3]);
    assert!(matches!(c.accept(0), Err(Error::ConstraintFailed { .. })));
}

#[test]
fn an_unsatisfiable_grammar_stops_sampling_with_a_reason() {
    // Only "d" continues, and no token holds it.
    let g = Grammar::gbnf("root ::= \"a\" \"d\"").unwrap();
    let c = toy().constraint(&g).unwrap();
    let params = SamplerParams {
        temp: 0.0,
        ..SamplerParams::default()
    };
    let mut s = Sampler::new(6, params)
        .unwrap()
        .with_constraint(Box::new(c));
    // Greedy would pick token 4 ("c") or 5; the grammar allows only 1 ("ab" is no prefix
    // of "ad").
    let logits = [0.0, 1.0, 0.0, 2.0, 9.0, 9.0];
    assert_eq!(s.try_sample(&logits).unwrap(), 1);
    assert!(s.accept_sampled(3).is_err());
    assert!(s.history().is_empty(), "a refused token is not recorded");
    s.accept_sampled(1).unwrap();
    match s.try_sample(&logits) {
        Err(Error::ConstraintFailed { reason }) => {
            assert!(reason.starts_with("GBNF grammar: "), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Clones carry the constraint's state.
    let mut t = s.clone();
    assert!(t.try_sample(&logits).is_err());
    t.reset();
    assert_eq!(t.try_sample(&logits).unwrap(), 1);
}
