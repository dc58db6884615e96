package llamette

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// tests/fixtures/templates/expected.json (scripts/render_templates.py): conversations, and
// what Python's jinja2 renders for each template as Hugging Face's apply_chat_template does.
type templateConversation struct {
	Messages            json.RawMessage `json:"messages"`
	AddGenerationPrompt bool            `json:"add_generation_prompt"`
	Tools               json.RawMessage `json:"tools"` // null when none
}

type templateExpected struct {
	Conversations []templateConversation `json:"conversations"`
	Templates     map[string]struct {
		Source  string `json:"source"`
		Path    string `json:"path"`
		Results []struct {
			Output *string `json:"output"` // nil where jinja2 failed
		} `json:"results"`
	} `json:"templates"`
}

func loadTemplateExpected(t *testing.T) templateExpected {
	t.Helper()
	raw, err := os.ReadFile(fixturePath(t, "tests/fixtures/templates/expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e templateExpected
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if len(e.Conversations) != 9 {
		t.Fatalf("expected.json: %d conversations, want 9", len(e.Conversations))
	}
	return e
}

// tools returns the conversation's tools as JSON, nil for none.
func (c templateConversation) tools() []byte {
	if len(c.Tools) == 0 || string(c.Tools) == "null" {
		return nil
	}
	return c.Tools
}

func (c templateConversation) messages(t *testing.T) []Message {
	t.Helper()
	var msgs []Message
	if err := json.Unmarshal(c.Messages, &msgs); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// checkTemplateRenders renders every conversation with template on m and compares with the
// results of expected.json's entry name: through RenderTemplate where there are no tools,
// and always through RenderTemplateJSON (with the tools).
func checkTemplateRenders(t *testing.T, e templateExpected, m *Model, template, name string) {
	t.Helper()
	entry, ok := e.Templates[name]
	if !ok || len(entry.Results) != len(e.Conversations) {
		t.Fatalf("expected.json has no results for %s", name)
	}
	withTools := 0
	for i, conv := range e.Conversations {
		want := entry.Results[i].Output
		if want == nil {
			t.Fatalf("%s #%d: jinja2 failed", name, i)
		}
		got, err := m.RenderTemplateJSON(template, conv.Messages, conv.tools(), conv.AddGenerationPrompt)
		if err != nil {
			t.Fatalf("%s #%d: RenderTemplateJSON: %v", name, i, err)
		}
		if got != *want {
			t.Fatalf("%s #%d: RenderTemplateJSON = %q, jinja2 renders %q", name, i, got, *want)
		}
		if conv.tools() != nil {
			withTools++
			continue
		}
		got, err = m.RenderTemplate(template, conv.messages(t), conv.AddGenerationPrompt)
		if err != nil {
			t.Fatalf("%s #%d: RenderTemplate: %v", name, i, err)
		}
		if got != *want {
			t.Fatalf("%s #%d: RenderTemplate = %q, jinja2 renders %q", name, i, got, *want)
		}
	}
	if withTools != 1 {
		t.Fatalf("%d conversations with tools, want 1 (#8)", withTools)
	}
}

// The files' own templates (Phi-3's, which is none of the built-in formats, and Qwen2's,
// which llamette also knows as ChatML) render as jinja2 renders them, conversation 8 with its
// tools through the JSON variant.
func TestTemplateOfTheFileRendersAsJinja2(t *testing.T) {
	e := loadTemplateExpected(t)
	for _, name := range []string{"ggml-vocab-phi-3", "ggml-vocab-qwen2"} {
		m := mustLoad(t, fixturePath(t, "tests/fixtures/vocab/"+name+".gguf"))
		checkTemplateRenders(t, e, m, "", name)
	}
	phi3 := mustLoad(t, fixturePath(t, "tests/fixtures/vocab/ggml-vocab-phi-3.gguf"))
	if phi3.Info().ChatFormat != ChatNone {
		t.Fatalf("Phi-3's chat format %v, want none built in", phi3.Info().ChatFormat)
	}
	// The rendered text tokenizes with its control tokens (no BOS added: the text has it).
	out := *e.Templates["ggml-vocab-phi-3"].Results[2].Output
	ids, err := phi3.Tokenize(out, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != 1 || !strings.HasPrefix(out, "<s><|user|>") {
		t.Fatalf("Tokenize(%q) starts %v, want BOS (1)", out, ids[:2])
	}
}

// A template given as Jinja text: Qwen2.5-Instruct's (it reads no bos_token, so the Qwen2
// vocabulary's renders what jinja2 did), tools listed in the system turn, keys in their order.
func TestTemplateGivenAsTextRendersAsJinja2(t *testing.T) {
	e := loadTemplateExpected(t)
	text, err := os.ReadFile(fixturePath(t, "tests/fixtures/templates/Qwen-Qwen2.5-7B-Instruct.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	m := mustLoad(t, fixturePath(t, "tests/fixtures/vocab/ggml-vocab-qwen2.gguf"))
	checkTemplateRenders(t, e, m, string(text), "Qwen-Qwen2.5-7B-Instruct")
	out := *e.Templates["Qwen-Qwen2.5-7B-Instruct"].Results[8].Output
	if !strings.Contains(out, `{"type": "function", "function": {"name": "get_weather"`) {
		t.Fatalf("conversation 8 renders without its tools: %q", out)
	}
}

func TestTemplateTextAndErrors(t *testing.T) {
	m := mustLoad(t, fixturePath(t, "tests/fixtures/vocab/ggml-vocab-phi-3.gguf"))
	const tmpl = "{{ bos_token }}{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}"
	got, err := m.RenderTemplate(tmpl, []Message{{Role: "user", Content: "hé"}}, true)
	if err != nil || got != "<s>user=hé;" {
		t.Fatalf("RenderTemplate = %q, %v; want %q", got, err, "<s>user=hé;")
	}
	got, err = m.RenderTemplateJSON(tmpl, []byte(`[{"role": "tool", "content": "42"}]`), nil, false)
	if err != nil || got != "<s>tool=42;" {
		t.Fatalf("RenderTemplateJSON = %q, %v", got, err)
	}
	// Documents for retrieval-augmented templates; without them the template sees none.
	const rag = "{% for d in documents %}[{{ d.title }}]{% endfor %}{{ documents is none }}"
	msgs := []byte(`[{"role": "user", "content": "x"}]`)
	docs := []byte(`[{"title": "Paris", "text": "..."}, {"title": "Köln", "text": "..."}]`)
	if got, err := m.RenderTemplateJSONDocuments(rag, msgs, nil, docs, true); err != nil || got != "[Paris][Köln]False" {
		t.Fatalf("RenderTemplateJSONDocuments = %q, %v", got, err)
	}
	if got, err := m.RenderTemplateJSON(rag, msgs, nil, true); err != nil || got != "True" {
		t.Fatalf("RenderTemplateJSON without documents = %q, %v", got, err)
	}
	// A name that is none of the file's alternatives is Jinja text (which prints itself).
	if got, err := m.RenderTemplate("tool_use", nil, true); err != nil || got != "tool_use" {
		t.Fatalf("RenderTemplate(\"tool_use\") = %q, %v", got, err)
	}

	_, err = m.RenderTemplate("{{ raise_exception('no users here') }}", []Message{{Role: "user", Content: "x"}}, true)
	var le *Error
	if !errors.Is(err, ErrBadChat) || !errors.As(err, &le) || !strings.Contains(le.Message, "no users here") {
		t.Fatalf("raise_exception: %v, want ErrBadChat with the template's message", err)
	}
	if _, err := m.RenderTemplate("{% for %}", nil, true); !errors.Is(err, ErrBadChat) {
		t.Fatalf("a template that does not parse: %v, want ErrBadChat", err)
	}
	for _, bad := range []string{`[{"role": "user"`, `{"role": "user"}`, ``} {
		if _, err := m.RenderTemplateJSON("", []byte(bad), nil, true); !errors.Is(err, ErrInvalid) {
			t.Fatalf("messages %q: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := m.RenderTemplateJSON("", []byte(`[]`), []byte(`[{`), true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tools that do not parse: %v, want ErrInvalid", err)
	}
	// A file without a template.
	gpt2 := mustLoad(t, fixturePath(t, "tests/fixtures/vocab/ggml-vocab-gpt-2.gguf"))
	if _, err := gpt2.RenderTemplate("", question, true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no template in the file: %v, want ErrInvalid", err)
	}
	m.Close()
	if _, err := m.RenderTemplate("", question, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
