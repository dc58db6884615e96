package llamette

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Greedy generation on the tiny model under GBNF, a JSON schema, a regex and any object gives
// the C ABI tests' texts (src/ffi/tests.rs, tests/c/test_grammar.c); a grammar that allows
// nothing stops with StopGrammar and says why.
func TestGrammarGenerate(t *testing.T) {
	g := loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json")
	m := mustLoad(t, fixturePath(t, tinyQ8))
	words, err := NewGrammarGBNF(nil, "root ::= word (\" \" word){2} \".\"\nword ::= [a-z]{1,6}\n", "")
	if err != nil {
		t.Fatal(err)
	}
	defer words.Close()
	schema, err := NewGrammarJSONSchema(`{"type": "object",
		"properties": {"ok": {"type": "boolean"}, "size": {"enum": ["small", "large"]}},
		"required": ["ok", "size"]}`)
	if err != nil {
		t.Fatal(err)
	}
	defer schema.Close()
	rx, err := NewGrammarRegex("[0-9]{3}-[A-Z]{2}")
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	object, err := NewGrammarJSONObject()
	if err != nil {
		t.Fatal(err)
	}
	defer object.Close()
	for _, tc := range []struct {
		g         *Grammar
		want      string
		generated int
	}{
		{words, "orsw obli byoukb.", 9},
		{schema, "{\"ok\" :true ,\n               \"size\"\n                 \t  : \"large\" }", -1},
		{rx, "290-ER", -1},
		{object, "{}", 2},
	} {
		c := mustContext(t, m, ContextOptions{NCtx: 256})
		res, err := c.Generate(context.Background(), Tokens(g.Cases[0].Prompt),
			GenerateOptions{MaxTokens: 96, Grammar: tc.g}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != tc.want || res.Reason != StopEOG || (tc.generated >= 0 && res.Generated != tc.generated) {
			t.Fatalf("Generate under a grammar: %+v, want %q ending by end of generation", res, tc.want)
		}
	}

	nothing, err := NewGrammarRegex(`[^\s\S]`)
	if err != nil {
		t.Fatal(err)
	}
	c := mustContext(t, m, ContextOptions{NCtx: 256})
	res, err := c.Generate(context.Background(), Tokens(g.Cases[0].Prompt), GenerateOptions{MaxTokens: 8, Grammar: nothing}, nil)
	if err != nil || res.Reason != StopGrammar || res.Generated != 0 || res.Text != "" ||
		!strings.Contains(res.GrammarMessage, "regular expression") {
		t.Fatalf("an empty language: %+v, %v; want StopGrammar at once with a message", res, err)
	}
	if StopGrammar.String() != "grammar" {
		t.Fatalf("StopGrammar.String() = %q", StopGrammar.String())
	}
	// Sampling alone fails with ErrConstraint.
	s, err := m.NewSampler(SamplerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetGrammar(nothing); err != nil {
		t.Fatal(err)
	}
	nothing.Close()
	if _, err := s.Sample(c); !errors.Is(err, ErrConstraint) {
		t.Fatalf("Sample under an empty language: %v, want ErrConstraint", err)
	}
	if err := s.SetGrammar(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sample(c); err != nil {
		t.Fatalf("Sample without the grammar: %v", err)
	}
}

// A host's own loop: Sample, AcceptSampled, Eval, under a grammar with a token written by text
// (resolved in the model's vocabulary); refused tokens change nothing.
func TestGrammarSamplerLoop(t *testing.T) {
	g := loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json")
	m := mustLoad(t, fixturePath(t, tinyQ8))
	const step = `root ::= [0-9] [0-9] " " <step>`
	if _, err := NewGrammarGBNF(nil, step, ""); !errors.Is(err, ErrBadGrammar) {
		t.Fatalf("a token by text without the model: %v, want ErrBadGrammar", err)
	}
	gr, err := NewGrammarGBNF(m, step, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSampler(SamplerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetGrammar(gr); err != nil {
		t.Fatal(err)
	}
	gr.Close() // the sampler keeps its own copy
	c := mustContext(t, m, ContextOptions{NCtx: 64})
	if err := c.Eval(g.Cases[0].Prompt); err != nil {
		t.Fatal(err)
	}
	var ids []Token
	for len(ids) < 8 {
		tok, err := s.Sample(c)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tok)
		if eog, err := m.IsEOG(tok); err != nil || eog {
			break
		}
		if err := s.AcceptSampled(100); !errors.Is(err, ErrConstraint) {
			t.Fatalf("AcceptSampled of a letter: %v, want ErrConstraint", err)
		}
		if err := s.AcceptSampled(tok); err != nil {
			t.Fatal(err)
		}
		if err := c.Eval([]Token{tok}); err != nil {
			t.Fatal(err)
		}
	}
	text, err := m.Detokenize(ids[:3])
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 5 || ids[3] != 1023 || len(text) != 3 || text[2] != ' ' || !strings.ContainsAny(text[:1], "0123456789") {
		t.Fatalf("tokens %v (%q), want two digits, a space, <step> (1023) and the end", ids, text)
	}
	if err := s.AcceptSampled(1024); !errors.Is(err, ErrBadToken) {
		t.Fatalf("AcceptSampled(1024): %v, want ErrBadToken", err)
	}
	if err := s.SetGrammar(gr); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetGrammar of a closed grammar: %v, want ErrClosed", err)
	}
}

// Bad grammars are ErrBadGrammar with the line and column; the root rule can be named.
func TestGrammarErrors(t *testing.T) {
	_, err := NewGrammarGBNF(nil, `root ::= "a" b`, "")
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusBadGrammar || !errors.Is(err, ErrBadGrammar) ||
		e.Message != "llamette_grammar_from_gbnf: bad grammar: GBNF line 1, column 14: undefined rule 'b'" {
		t.Fatalf("a bad GBNF grammar: %v", err)
	}
	if _, err := NewGrammarGBNF(nil, `start ::= "a"`, ""); !errors.Is(err, ErrBadGrammar) {
		t.Fatalf("no root rule: %v", err)
	}
	g, err := NewGrammarGBNF(nil, `start ::= "a"`, "start")
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	g.Close() // idempotent
	_, err = NewGrammarJSONSchema("{\"type\": \"object\",\n \"properties\": }")
	if !errors.As(err, &e) || e.Status != StatusBadGrammar || !strings.Contains(e.Message, "JSON schema line 2, column ") {
		t.Fatalf("a schema that is not JSON: %v", err)
	}
	if _, err := NewGrammarRegex("a(b"); !errors.Is(err, ErrBadGrammar) {
		t.Fatalf("a bad regex: %v", err)
	}
	m := mustLoad(t, fixturePath(t, tinyQ8))
	m.Close()
	if _, err := NewGrammarGBNF(m, `root ::= "a"`, ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("a closed model: %v, want ErrClosed", err)
	}
}

// SmolLM2's answer under a JSON schema is JSON with the required keys and types.
func TestGrammarSmolLM2JSONSchema(t *testing.T) {
	m := mustLoad(t, smolLM2Path(t))
	schema, err := NewGrammarJSONSchema(`{"type": "object", "properties": {
		"name": {"type": "string", "maxLength": 40},
		"age": {"type": "integer", "minimum": 0, "maximum": 150}}, "required": ["name", "age"]}`)
	if err != nil {
		t.Fatal(err)
	}
	defer schema.Close()
	ask := []Message{{Role: "user", Content: "Give the name and age of a famous scientist as JSON."}}
	for _, seed := range []uint64{0, 1, 2} {
		opts := GenerateOptions{MaxTokens: 300, Grammar: schema}
		if seed > 0 {
			opts.Sampling = SamplerOptions{Temperature: 1, Seed: seed}
		}
		c := mustContext(t, m, ContextOptions{NCtx: 512})
		res, err := c.Generate(context.Background(), Chat(ask), opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]interface{}
		if err := json.Unmarshal([]byte(res.Text), &v); err != nil || res.Reason != StopEOG {
			t.Fatalf("seed %d: %q (%v): not JSON ending by end of generation: %v", seed, res.Text, res.Reason, err)
		}
		name, okName := v["name"].(string)
		age, okAge := v["age"].(float64)
		if len(v) != 2 || !okName || name == "" || len(name) > 40 || !okAge || age != float64(int(age)) || age < 0 || age > 150 {
			t.Fatalf("seed %d: %q does not match the schema", seed, res.Text)
		}
		if seed == 0 && res.Text != "{\n  \"name\": \"John Smith\",\n  \"age\": 45\n}" {
			t.Fatalf("greedy: %q", res.Text)
		}
	}
}
