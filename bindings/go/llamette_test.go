package llamette

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var question = []Message{{Role: "user", Content: "What is the capital of France?"}}

// Greedy SmolLM2 answers the chat golden exactly, and the rendered chat is llama.cpp's prompt.
func TestSmolLM2ChatAnswer(t *testing.T) {
	m := mustLoad(t, smolLM2Path(t))
	if arch, err := m.Architecture(); err != nil || arch != "llama" {
		t.Fatalf("Architecture() = %q, %v", arch, err)
	}
	if m.Info().ChatFormat != ChatChatML {
		t.Fatalf("chat format %v, want ChatML", m.Info().ChatFormat)
	}
	text, err := m.RenderChat(question, true)
	if err != nil {
		t.Fatal(err)
	}
	const want = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
	if text != want {
		t.Fatalf("RenderChat = %q, want %q", text, want)
	}
	// Golden case 1's prompt is this chat as llama.cpp tokenized it.
	g := loadGolden(t, "tests/fixtures/golden/smollm2-135m-instruct.q4_1.json")
	ids, err := m.ChatTokens(question, true)
	if err != nil {
		t.Fatal(err)
	}
	if !equalIDs(ids, g.Cases[1].Prompt) {
		t.Fatalf("ChatTokens = %v, want %v", ids, g.Cases[1].Prompt)
	}

	for _, par := range []Parallel{Serial(), Goroutines(2), PinnedThreads(2)} {
		c := mustContext(t, m, ContextOptions{NCtx: 256, Parallel: par})
		var pieces []string
		res, err := c.Generate(context.Background(), Chat(question), GenerateOptions{}, func(p string) bool {
			pieces = append(pieces, p)
			return true
		})
		if err != nil {
			t.Fatalf("%v: Generate: %v", par, err)
		}
		if got := strings.Join(pieces, ""); got != "The capital of France is Paris." || res.Text != got {
			t.Fatalf("%v: answer %q (result text %q), want %q", par, got, res.Text, "The capital of France is Paris.")
		}
		if res.Reason != StopEOG || res.Generated != 7 || res.PromptTokens != len(ids) {
			t.Fatalf("%v: result %+v, want end of generation after 7 tokens, %d prompt tokens", par, res, len(ids))
		}
		if c.NPast() != len(ids)+7 {
			t.Fatalf("%v: NPast %d, want %d", par, c.NPast(), len(ids)+7)
		}
	}
}

// Stop rules on SmolLM2 (the Rust generation tests' values).
func TestSmolLM2StopRules(t *testing.T) {
	m := mustLoad(t, smolLM2Path(t))
	run := func(nCtx int, opts GenerateOptions) GenerateResult {
		t.Helper()
		c, err := m.NewContext(ContextOptions{NCtx: nCtx})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		res, err := c.Generate(context.Background(), Chat(question), opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := run(256, GenerateOptions{MaxTokens: 3}); res.Reason != StopLength || res.Text != "The capital of" {
		t.Fatalf("MaxTokens 3: %+v", res)
	}
	if res := run(256, GenerateOptions{StopStrings: []string{" Paris"}}); res.Reason != StopString || res.Text != "The capital of France is" {
		t.Fatalf("stop string: %+v", res)
	}
	ids, _ := m.ChatTokens(question, true)
	if res := run(len(ids)+2, GenerateOptions{}); res.Reason != StopContextFull || res.Text != "The capital" {
		t.Fatalf("context full: %+v", res)
	}
	c := mustContext(t, m, ContextOptions{NCtx: 256})
	n := 0
	res, err := c.Generate(context.Background(), Chat(question), GenerateOptions{}, func(string) bool { n++; return n < 2 })
	if err != nil || res.Reason != StopCallback || n != 2 {
		t.Fatalf("callback stop: %+v, %v, %d pieces", res, err, n)
	}
}

// A tiny random-weight model reproduces llama.cpp's greedy token ids, loaded from a path and
// from bytes, token by token and through Generate.
func TestTinyGoldenGreedy(t *testing.T) {
	g := loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json")
	path := fixturePath(t, tinyQ8)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fromBytes, err := FromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer fromBytes.Close()
	// FromBytes copied the data: scribbling over the caller's slice changes nothing.
	for i := range raw {
		raw[i] = 0xAA
	}
	for name, m := range map[string]*Model{"Load": mustLoad(t, path), "FromBytes": fromBytes} {
		if int(m.Info().NVocab) != g.NVocab {
			t.Fatalf("%s: n_vocab %d, want %d", name, m.Info().NVocab, g.NVocab)
		}
		for i, gc := range g.Cases {
			c := mustContext(t, m, ContextOptions{NCtx: 128})
			got, err := greedyIDs(c, m, gc.Prompt, len(gc.Greedy))
			if err != nil {
				t.Fatal(err)
			}
			if !equalIDs(got, gc.Greedy) {
				t.Fatalf("%s case %d: greedy %v, want %v", name, i, got, gc.Greedy)
			}
			want, err := m.Detokenize(gc.Greedy)
			if err != nil {
				t.Fatal(err)
			}
			c2 := mustContext(t, m, ContextOptions{NCtx: 128, Threads: 2})
			res, err := c2.Generate(context.Background(), Tokens(gc.Prompt), GenerateOptions{MaxTokens: len(gc.Greedy)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != want || res.Reason != StopLength || res.Generated != len(gc.Greedy) {
				t.Fatalf("%s case %d: Generate %+v, want text %q", name, i, res, want)
			}
		}
	}
}

// Tokenize and Detokenize against exact ids: SmolLM2's golden prompt, and llama.cpp's
// tokenizer suite for the Llama BPE vocabulary (a vocabulary-only GGUF).
func TestTokenizeRoundTrip(t *testing.T) {
	m := mustLoad(t, smolLM2Path(t))
	const text = "def fibonacci(n):"
	ids, err := m.Tokenize(text, true, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{1604, 3987, 46477, 24, 94, 727}
	if !equalIDs(ids, want) {
		t.Fatalf("Tokenize(%q) = %v, want %v", text, ids, want)
	}
	back, err := m.Detokenize(ids)
	if err != nil || back != text {
		t.Fatalf("Detokenize = %q, %v; want %q", back, err, text)
	}
	piece, err := m.TokenPiece(1, true)
	if err != nil || string(piece) != "<|im_start|>" {
		t.Fatalf("TokenPiece(1, special) = %q, %v", piece, err)
	}
	if eog, err := m.IsEOG(2); err != nil || !eog {
		t.Fatalf("IsEOG(<|im_end|>) = %v, %v", eog, err)
	}

	vocab := mustLoad(t, fixturePath(t, "tests/fixtures/vocab/ggml-vocab-llama-bpe.gguf"))
	inp, err := os.ReadFile(fixturePath(t, "tests/fixtures/vocab/ggml-vocab-llama-bpe.gguf.inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(fixturePath(t, "tests/fixtures/vocab/ggml-vocab-llama-bpe.gguf.out"))
	if err != nil {
		t.Fatal(err)
	}
	texts := splitVocabTests(string(inp))
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(texts) != len(lines) || len(texts) < 40 {
		t.Fatalf("%d texts, %d id lines", len(texts), len(lines))
	}
	for i, text := range texts {
		var want []Token
		for _, f := range strings.Fields(lines[i]) {
			n, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, Token(n))
		}
		got, err := vocab.Tokenize(text, false, false)
		if err != nil {
			t.Fatalf("Tokenize(%q): %v", text, err)
		}
		if !equalIDs(got, want) {
			t.Fatalf("Tokenize(%q) = %v, want %v", text, got, want)
		}
		if back, err := vocab.Detokenize(got); err != nil || back != text {
			t.Fatalf("Detokenize(Tokenize(%q)) = %q, %v", text, back, err)
		}
	}
}

// Several goroutines, each with its own context on one shared model, get the serial results.
func TestConcurrentContexts(t *testing.T) {
	g := loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json")
	m := mustLoad(t, fixturePath(t, tinyQ8))
	const n = 8
	pars := []Parallel{Serial(), Goroutines(2), PinnedThreads(2), Serial()}
	var wg sync.WaitGroup
	results := make([][]Token, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := m.NewContext(ContextOptions{NCtx: 128, Parallel: pars[i%len(pars)]})
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			<-start
			gc := g.Cases[i%len(g.Cases)]
			results[i], errs[i] = greedyIDs(c, m, gc.Prompt, len(gc.Greedy))
		}(i)
	}
	close(start)
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if want := g.Cases[i%len(g.Cases)].Greedy; !equalIDs(results[i], want) {
			t.Fatalf("goroutine %d: %v, want %v", i, results[i], want)
		}
	}
	// SmolLM2 too: concurrent chats give the golden answer.
	s := mustLoad(t, smolLM2Path(t))
	answers := make([]string, 3)
	for i := range answers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := s.NewContext(ContextOptions{NCtx: 256, Parallel: pars[i]})
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			res, err := c.Generate(context.Background(), Chat(question), GenerateOptions{}, nil)
			answers[i], errs[i] = res.Text, err
		}(i)
	}
	wg.Wait()
	for i, a := range answers {
		if errs[i] != nil || a != "The capital of France is Paris." {
			t.Fatalf("SmolLM2 goroutine %d: %q, %v", i, a, errs[i])
		}
	}
}

// Cancelling the context.Context stops generation with the aborted reason: from the piece
// callback, by a deadline, and before it starts.
func TestCancellation(t *testing.T) {
	m := mustLoad(t, fixturePath(t, tinyQ8))
	prompt := Tokens(loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json").Cases[0].Prompt)
	for _, par := range []Parallel{Serial(), Goroutines(2), PinnedThreads(2)} {
		c := mustContext(t, m, ContextOptions{NCtx: 4096, Parallel: par})

		ctx, cancel := context.WithCancel(context.Background())
		pieces := 0
		res, err := c.Generate(ctx, prompt, GenerateOptions{}, func(string) bool {
			pieces++
			if pieces == 3 {
				cancel()
			}
			return true
		})
		cancel()
		if !errors.Is(err, context.Canceled) || res.Reason != StopAborted || pieces != 3 {
			t.Fatalf("%v: cancel from the callback: %+v, %v, %d pieces", par, res, err, pieces)
		}

		c.Truncate(0)
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
		t0 := time.Now()
		res, err = c.Generate(ctx, prompt, GenerateOptions{}, func(string) bool {
			time.Sleep(2 * time.Millisecond)
			return true
		})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || res.Reason != StopAborted || res.Generated == 0 || res.Generated > 1000 {
			t.Fatalf("%v: deadline: %+v, %v", par, res, err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("%v: stopping took %v", par, d)
		}

		c.Truncate(0)
		ctx, cancel = context.WithCancel(context.Background())
		cancel()
		res, err = c.Generate(ctx, prompt, GenerateOptions{}, func(string) bool { t.Error("a piece after cancel"); return true })
		if !errors.Is(err, context.Canceled) || res.Reason != StopAborted || res.Generated != 0 {
			t.Fatalf("%v: cancelled before: %+v, %v", par, res, err)
		}
	}
}

// A panic in the piece callback does not cross C: it is re-raised after generation stops.
func TestCallbackPanic(t *testing.T) {
	m := mustLoad(t, fixturePath(t, tinyQ8))
	c := mustContext(t, m, ContextOptions{NCtx: 64})
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v, want boom", r)
		}
		// The context is still usable.
		if _, err := c.Generate(context.Background(), Tokens{1, 2, 3}, GenerateOptions{MaxTokens: 2}, nil); err != nil {
			t.Fatal(err)
		}
	}()
	c.Generate(context.Background(), Tokens{1, 978}, GenerateOptions{MaxTokens: 8}, func(string) bool { panic("boom") })
	t.Fatal("no panic")
}

// Errors carry the status, llamette_last_error's message and match the sentinels.
func TestErrors(t *testing.T) {
	_, err := Load("/nonexistent/model.gguf")
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusIO || !errors.Is(err, ErrIO) || e.Op != "Load" {
		t.Fatalf("Load(missing) = %#v", err)
	}
	if !strings.Contains(e.Message, "/nonexistent/model.gguf") || !strings.Contains(err.Error(), e.Message) {
		t.Fatalf("message %q / %q does not name the file", e.Message, err.Error())
	}
	_, err = FromBytes([]byte("this is not a GGUF file, just some text"))
	if !errors.As(err, &e) || e.Status != StatusBadFile || e.Message == "" || errors.Is(err, ErrIO) || !errors.Is(err, ErrBadFile) {
		t.Fatalf("FromBytes(garbage) = %#v", err)
	}
	t.Logf("not a GGUF: %v", err)
	if _, err := FromBytes(nil); !errors.Is(err, ErrBadFile) {
		t.Fatalf("FromBytes(nil) = %v", err)
	}

	m := mustLoad(t, fixturePath(t, tinyQ8))
	c := mustContext(t, m, ContextOptions{NCtx: 16})
	if err := c.Eval([]Token{1_000_000}); !errors.As(err, &e) || e.Status != StatusBadToken || e.Message == "" {
		t.Fatalf("Eval(bad token) = %v", err)
	}
	if err := c.Eval(make([]Token, 17)); !errors.Is(err, ErrContextFull) {
		t.Fatalf("Eval(17 tokens in 16) = %v", err)
	}
	if _, err := c.Logits(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Logits before eval = %v", err)
	}
	// The tiny model has no chat template.
	if _, err := m.RenderChat(question, true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("RenderChat without a template = %v", err)
	}
	if _, err := c.Generate(context.Background(), Chat(question), GenerateOptions{}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Generate(Chat) without a template = %v", err)
	}
	if _, err := m.Meta("no.such.key"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Meta(missing) = %v", err)
	}
	if _, err := m.NewSampler(SamplerOptions{RepeatPenalty: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("NewSampler(bad penalty) = %v", err)
	}
	// Use after Close.
	c.Close()
	c.Close()
	if err := c.Eval([]Token{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Eval after Close = %v", err)
	}
	if _, err := m.NewContext(ContextOptions{}); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := m.Tokenize("x", false, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("Tokenize after Close = %v", err)
	}
}

// Handles dropped without Close are freed by finalizers; a context outlives its closed model
// (FromBytes memory included).
func TestNoLeaks(t *testing.T) {
	waitNoLiveHandles(t)
	raw, err := os.ReadFile(fixturePath(t, tinyQ8))
	if err != nil {
		t.Fatal(err)
	}
	g := loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json")

	// A context keeps the model (and its C copy of the bytes) alive after Model.Close.
	m, err := FromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.NewContext(ContextOptions{NCtx: 64, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSampler(SamplerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	res, err := c.Generate(context.Background(), Tokens(g.Cases[0].Prompt), GenerateOptions{MaxTokens: 4, Sampler: s}, nil)
	if err != nil || res.Generated != 4 {
		t.Fatalf("after Model.Close: %+v, %v", res, err)
	}
	if live := liveHandles(); live["models"] != 1 || live["buffers"] != 1 {
		t.Fatalf("live %v: the context should hold the model", live)
	}
	c.Close()
	s.Close()
	if live := liveHandles(); live["models"] != 0 || live["buffers"] != 0 || live["pools"] != 0 {
		t.Fatalf("live %v after closing everything", live)
	}

	// Many handles dropped without Close.
	pars := []Parallel{Serial(), Goroutines(2), PinnedThreads(2), countingSerial{}}
	for i := 0; i < 40; i++ {
		m, err := FromBytes(raw)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 3; j++ {
			c, err := m.NewContext(ContextOptions{NCtx: 32, Parallel: pars[(i+j)%len(pars)]})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Eval([]Token{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
		}
		s, err := m.NewSampler(DefaultSamplerOptions())
		if err != nil {
			t.Fatal(err)
		}
		// A dropped sampler's logits processor goes with it.
		if err := s.SetLogitsProcessor(func([]float32) {}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.NewDetokenizer(); err != nil {
			t.Fatal(err)
		}
		m2, err := Load(fixturePath(t, tinyQ8))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m2.NewContext(ContextOptions{NCtx: 16}); err != nil {
			t.Fatal(err)
		}
	}
	if live := liveHandles(); live["models"] == 0 && live["contexts"] == 0 {
		t.Logf("note: the collector already freed everything: %v", live)
	}
	waitNoLiveHandles(t)
}

// Every executor gives bit-identical logits, and the callbacks do run.
func TestParallelBitIdentical(t *testing.T) {
	models := map[string]*Model{"tiny": mustLoad(t, fixturePath(t, tinyQ8)), "smollm2": mustLoad(t, smolLM2Path(t))}
	prompt := []Token{1, 978, 975, 986, 381, 173, 922, 107}
	for name, m := range models {
		run := func(par Parallel) ([][]float32, ParallelStats) {
			c := mustContext(t, m, ContextOptions{NCtx: 64, Parallel: par})
			var all [][]float32
			if err := c.Eval(prompt); err != nil {
				t.Fatal(err)
			}
			for _, tok := range []Token{5, 17, 300} {
				l, err := c.Logits()
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, l)
				if err := c.Eval([]Token{tok}); err != nil {
					t.Fatal(err)
				}
			}
			return all, c.ParallelStats()
		}
		want, _ := run(Serial())
		for _, par := range []Parallel{countingSerial{}, Goroutines(2), Goroutines(3), PinnedThreads(2), PinnedThreads(4)} {
			got, stats := run(par)
			if stats.Calls == 0 || stats.Tasks < stats.Calls {
				t.Fatalf("%s %v: stats %+v", name, par, stats)
			}
			for i := range want {
				if len(got[i]) != len(want[i]) {
					t.Fatalf("%s %v: %d logits, want %d", name, par, len(got[i]), len(want[i]))
				}
				for j := range want[i] {
					if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
						t.Fatalf("%s %v: step %d logit %d = %v, serial %v", name, par, i, j, got[i][j], want[i][j])
					}
				}
			}
		}
	}
}

// The Stringers.
func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{StatusIO.String(), Status(5).String()},
		{StopAborted.String(), "aborted"},
		{Goroutines(3).String(), "goroutines(3)"},
		{PinnedThreads(2).String(), "pinned(2)"},
		{fmt.Sprint(Serial()), "serial"},
	} {
		if c.got != c.want || c.got == "" {
			t.Fatalf("%q != %q", c.got, c.want)
		}
	}
}

// SaveState and LoadState: a restored context continues with the bits of the original, and a
// state of another model is ErrBadState with the context unchanged.
func TestSaveAndLoadState(t *testing.T) {
	m := mustLoad(t, fixturePath(t, tinyQ8))
	a := mustContext(t, m, ContextOptions{NCtx: 64})
	if err := a.Eval([]Token{1, 20, 30, 40, 50}); err != nil {
		t.Fatal(err)
	}
	state, err := a.SaveState()
	if err != nil || len(state) == 0 {
		t.Fatalf("SaveState: %d bytes, %v", len(state), err)
	}
	if err := a.Eval([]Token{60}); err != nil {
		t.Fatal(err)
	}
	want, _ := a.Logits()
	b := mustContext(t, m, ContextOptions{NCtx: 64})
	if err := b.LoadState(state); err != nil {
		t.Fatal(err)
	}
	if b.NPast() != 5 {
		t.Fatalf("NPast %d after LoadState, want 5", b.NPast())
	}
	if err := b.Eval([]Token{60}); err != nil {
		t.Fatal(err)
	}
	got, _ := b.Logits()
	if len(got) != len(want) {
		t.Fatalf("%d logits, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: %v after LoadState, %v without saving", i, got[i], want[i])
		}
	}
	state[len(state)/2] ^= 1
	if err := b.LoadState(state); !errors.Is(err, ErrBadState) {
		t.Fatalf("a corrupted state: %v, want ErrBadState", err)
	}
	if b.NPast() != 6 {
		t.Fatalf("NPast %d after a failed LoadState, want 6", b.NPast())
	}
}

// Decode of two sequences in one context: sequence 0 alone gives Eval's logits, the
// sequence operations move what the cache holds.
func TestDecodeSequences(t *testing.T) {
	m := mustLoad(t, fixturePath(t, tinyQ8))
	prompt := []Token{1, 20, 30, 40, 50}
	single := mustContext(t, m, ContextOptions{NCtx: 64})
	if err := single.Eval(prompt); err != nil {
		t.Fatal(err)
	}
	want, _ := single.Logits()
	c := mustContext(t, m, ContextOptions{NCtx: 64, NSeqMax: 2})
	batch := make([]BatchToken, 0, 8)
	for i, tok := range prompt {
		batch = append(batch, BatchToken{Token: tok, Pos: i, Seqs: 1, Logits: i == len(prompt)-1})
	}
	batch = append(batch, BatchToken{Token: 1, Pos: 0, Seqs: 2}, BatchToken{Token: 9, Pos: 1, Seqs: 2, Logits: true})
	if err := c.Decode(batch); err != nil {
		t.Fatal(err)
	}
	got, err := c.LogitsIth(len(prompt) - 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: %v in a two-sequence batch, %v alone", i, got[i], want[i])
		}
	}
	if _, err := c.LogitsIth(0); err == nil {
		t.Fatal("token 0 did not ask for logits")
	}
	if p, _ := c.SeqPosMax(1); p != 1 {
		t.Fatalf("SeqPosMax(1) = %d, want 1", p)
	}
	if err := c.SeqRm(1, 0, -1); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.SeqPosMax(1); p != -1 {
		t.Fatalf("SeqPosMax(1) = %d after SeqRm, want -1", p)
	}
	if err := c.SeqCp(0, 1, 0, 3); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.SeqPosMax(1); p != 2 {
		t.Fatalf("SeqPosMax(1) = %d after SeqCp, want 2", p)
	}
	if err := c.SeqAdd(0, 3, -1, 10); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.SeqPosMax(0); p != 14 {
		t.Fatalf("SeqPosMax(0) = %d after SeqAdd, want 14", p)
	}
	if err := c.SeqKeep(1); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.SeqPosMax(0); p != -1 {
		t.Fatalf("SeqPosMax(0) = %d after SeqKeep(1), want -1", p)
	}
	// A bad batch: positions of sequence 1 must continue at 3.
	if err := c.Decode([]BatchToken{{Token: 5, Pos: 7, Seqs: 2, Logits: true}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a batch that skips positions: %v, want ErrInvalid", err)
	}
	if err := c.Decode(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an empty batch: %v, want ErrInvalid", err)
	}
}
