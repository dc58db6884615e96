package llamette

import (
	"context"
	"errors"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The reference numbers are llama.cpp's own logits from the tiny model's golden file
// (log-softmax here, in float64), so these tests check the library against the peer.

func logSoftmax(logits []float32) []float64 {
	m := math.Inf(-1)
	for _, x := range logits {
		m = math.Max(m, float64(x))
	}
	sum := 0.0
	for _, x := range logits {
		sum += math.Exp(float64(x) - m)
	}
	lse := m + math.Log(sum)
	out := make([]float64, len(logits))
	for i, x := range logits {
		out[i] = float64(x) - lse
	}
	return out
}

// topIDs returns the ids of the n largest values, largest first (ties: lower id first).
func topIDs(v []float64, n int) []Token {
	ids := make([]Token, len(v))
	for i := range ids {
		ids[i] = Token(i)
	}
	sort.SliceStable(ids, func(a, b int) bool { return v[ids[a]] > v[ids[b]] })
	return ids[:n]
}

// checkEntry compares a TokenLogprob with the reference distribution: the token's logprob
// and its nTop alternatives, within tol.
func checkEntry(t *testing.T, what string, e TokenLogprob, want Token, ref []float64, nTop int, tol float64) {
	t.Helper()
	if e.Token != want {
		t.Fatalf("%s: token %d, want %d", what, e.Token, want)
	}
	if d := math.Abs(float64(e.Logprob) - ref[want]); !(d < tol) {
		t.Fatalf("%s: logprob %v, llama.cpp's %v (off by %g)", what, e.Logprob, ref[want], d)
	}
	wantTop := topIDs(ref, nTop)
	if len(e.Top) != nTop {
		t.Fatalf("%s: %d alternatives, want %d", what, len(e.Top), nTop)
	}
	for i, a := range e.Top {
		if a.Token != wantTop[i] {
			t.Fatalf("%s: alternatives %v, want the ids %v", what, e.Top, wantTop)
		}
		if d := math.Abs(float64(a.Logprob) - ref[a.Token]); !(d < tol) {
			t.Fatalf("%s: alternative %d: logprob %v, llama.cpp's %v", what, a.Token, a.Logprob, ref[a.Token])
		}
	}
}

// Greedy generation with Logprobs: the greedy ids, and for the first token llama.cpp's
// log-softmax of the logits after the prompt with its 3 largest as the alternatives; every
// later token's numbers are PromptLogprobs' at its position.
func TestGenerateLogprobs(t *testing.T) {
	gc := loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json").Cases[0]
	m := mustLoad(t, fixturePath(t, tinyQ8))
	ref := logSoftmax(gc.LastLogits)

	c := mustContext(t, m, ContextOptions{NCtx: 128})
	var seen []TokenLogprob
	var pieces []string
	res, err := c.Generate(context.Background(), Tokens(gc.Prompt), GenerateOptions{
		MaxTokens: 4, Logprobs: true, TopLogprobs: 3,
		OnToken: func(e TokenLogprob) bool {
			if len(seen) != len(pieces) {
				t.Errorf("token %d before the text of the one before", len(seen))
			}
			seen = append(seen, e)
			return true
		},
	}, func(p string) bool { pieces = append(pieces, p); return true })
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != StopLength || res.Generated != 4 || len(seen) != 4 {
		t.Fatalf("result %+v, %d tokens seen", res, len(seen))
	}
	if !reflect.DeepEqual(res.Logprobs, seen) {
		t.Fatalf("GenerateResult.Logprobs %v, OnToken saw %v", res.Logprobs, seen)
	}
	checkEntry(t, "first token", seen[0], gc.Greedy[0], ref, 3, 1e-4)
	for i, e := range seen {
		if e.Token != gc.Greedy[i] {
			t.Fatalf("token %d: %d, want greedy %d", i, e.Token, gc.Greedy[i])
		}
		// Greedy without penalties: the token is its own most likely alternative.
		if len(e.Top) != 3 || e.Top[0].Token != e.Token || math.Abs(float64(e.Top[0].Logprob-e.Logprob)) > 1e-6 {
			t.Fatalf("token %d: %+v is not its own first alternative", i, e)
		}
		if !(e.Top[0].Logprob >= e.Top[1].Logprob && e.Top[1].Logprob >= e.Top[2].Logprob) {
			t.Fatalf("token %d: alternatives not most likely first: %v", i, e.Top)
		}
	}

	// The same numbers from every position's logits of the prompt extended by the tokens.
	all := mustContext(t, m, ContextOptions{NCtx: 128, LogitsAll: true})
	seq := append(append([]Token(nil), gc.Prompt...), gc.Greedy[:4]...)
	pl, err := all.PromptLogprobs(seq, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range seen {
		p := pl[len(gc.Prompt)+i]
		if p.Token != e.Token || math.Abs(float64(p.Logprob-e.Logprob)) > 1e-4 || len(p.Top) != 3 {
			t.Fatalf("token %d: Generate %+v, PromptLogprobs %+v", i, e, p)
		}
		for k := range p.Top {
			if p.Top[k].Token != e.Top[k].Token || math.Abs(float64(p.Top[k].Logprob-e.Top[k].Logprob)) > 1e-4 {
				t.Fatalf("token %d: alternatives %v, PromptLogprobs' %v", i, e.Top, p.Top)
			}
		}
	}

	// TopLogprobs 0: the token's logprob alone; more than MaxTopLogprobs is clamped.
	for _, tc := range []struct{ ask, got int }{{0, 0}, {-5, 0}, {50, MaxTopLogprobs}} {
		c := mustContext(t, m, ContextOptions{NCtx: 128})
		res, err := c.Generate(context.Background(), Tokens(gc.Prompt),
			GenerateOptions{MaxTokens: 1, Logprobs: true, TopLogprobs: tc.ask}, nil)
		if err != nil || len(res.Logprobs) != 1 {
			t.Fatalf("TopLogprobs %d: %+v, %v", tc.ask, res, err)
		}
		checkEntry(t, "TopLogprobs", res.Logprobs[0], gc.Greedy[0], ref, tc.got, 1e-4)
	}

	// Without Logprobs OnToken gets the ids alone; returning false stops after that token,
	// whose text is still handed out.
	c = mustContext(t, m, ContextOptions{NCtx: 128})
	var ids []Token
	res, err = c.Generate(context.Background(), Tokens(gc.Prompt), GenerateOptions{
		MaxTokens: 10,
		OnToken: func(e TokenLogprob) bool {
			if !math.IsNaN(float64(e.Logprob)) || e.Top != nil {
				t.Errorf("without Logprobs: %+v, want a NaN logprob and no alternatives", e)
			}
			ids = append(ids, e.Token)
			return len(ids) < 2
		},
	}, nil)
	want, _ := m.Detokenize(gc.Greedy[:2])
	if err != nil || res.Reason != StopCallback || res.Generated != 2 || res.Text != want || res.Logprobs != nil ||
		!equalIDs(ids, gc.Greedy[:2]) {
		t.Fatalf("OnToken stop: %+v, %v, ids %v", res, err, ids)
	}

	// A panic in OnToken stops generation and is re-raised after the C call.
	func() {
		defer func() {
			if r := recover(); r != "token boom" {
				t.Fatalf("recovered %v, want token boom", r)
			}
		}()
		c.Generate(context.Background(), Tokens(gc.Prompt), GenerateOptions{MaxTokens: 8,
			OnToken: func(TokenLogprob) bool { panic("token boom") }}, nil)
		t.Fatal("no panic")
	}()
}

// PromptLogprobs: token i's log-probability is llama.cpp's log-softmax of the logits at
// position i-1; the first token of an empty context has none; afterwards generation
// continues from the last position.
func TestPromptLogprobs(t *testing.T) {
	gc := loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json").Cases[0]
	m := mustLoad(t, fixturePath(t, tinyQ8))
	if len(gc.AllLogits) != len(gc.Prompt) {
		t.Fatalf("golden: %d rows of all_logits for %d prompt tokens", len(gc.AllLogits), len(gc.Prompt))
	}
	c := mustContext(t, m, ContextOptions{NCtx: 128, LogitsAll: true})
	out, err := c.PromptLogprobs(gc.Prompt, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(gc.Prompt) || out[0].Token != gc.Prompt[0] || !math.IsNaN(float64(out[0].Logprob)) || len(out[0].Top) != 0 {
		t.Fatalf("%d entries, the first %+v: want one per token, the first NaN without alternatives", len(out), out[0])
	}
	for i := 1; i < len(gc.Prompt); i++ {
		checkEntry(t, "prompt token", out[i], gc.Prompt[i], logSoftmax(gc.AllLogits[i-1]), 2, 1e-4)
	}
	if c.NPast() != len(gc.Prompt) {
		t.Fatalf("NPast %d, want %d", c.NPast(), len(gc.Prompt))
	}
	// The last logits are the prompt's: TokenLogprob of the greedy token, then generation.
	ref := logSoftmax(gc.LastLogits)
	e, err := c.TokenLogprob(gc.Greedy[0], 5)
	if err != nil {
		t.Fatal(err)
	}
	checkEntry(t, "TokenLogprob", e, gc.Greedy[0], ref, 5, 1e-4)
	res, err := c.Generate(context.Background(), nil, GenerateOptions{MaxTokens: 3}, nil)
	want, _ := m.Detokenize(gc.Greedy[:3])
	if err != nil || res.Text != want {
		t.Fatalf("continuing after PromptLogprobs: %+v, %v; want %q", res, err, want)
	}

	// After what the context holds: the first token is predicted by the last logits.
	c2 := mustContext(t, m, ContextOptions{NCtx: 128, LogitsAll: true})
	if err := c2.Eval(gc.Prompt[:4]); err != nil {
		t.Fatal(err)
	}
	rest, err := c2.PromptLogprobs(gc.Prompt[4:], 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range rest {
		checkEntry(t, "after a prefix", e, gc.Prompt[4+i], logSoftmax(gc.AllLogits[3+i]), 0, 1e-4)
	}

	// Errors: no LogitsAll, no tokens, a token outside the vocabulary, no logits yet.
	plain := mustContext(t, m, ContextOptions{NCtx: 64})
	if _, err := plain.PromptLogprobs(gc.Prompt, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("without LogitsAll: %v, want ErrInvalid", err)
	}
	if _, err := c2.PromptLogprobs(nil, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no tokens: %v, want ErrInvalid", err)
	}
	if _, err := c2.PromptLogprobs([]Token{1, 5000}, 1); !errors.Is(err, ErrBadToken) {
		t.Fatalf("a bad token: %v, want ErrBadToken", err)
	}
	if _, err := plain.TokenLogprob(1, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("TokenLogprob without logits: %v, want ErrInvalid", err)
	}
	plain.Close()
	if _, err := plain.PromptLogprobs(gc.Prompt, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
}

// A logits processor sees the model's raw logits and changes them: banning the greedy token
// makes the second most likely one the choice, in Generate and in Sample; the logprobs stay
// those of the model's distribution.
func TestLogitsProcessor(t *testing.T) {
	gc := loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json").Cases[0]
	m := mustLoad(t, fixturePath(t, tinyQ8))
	ref := logSoftmax(gc.LastLogits)
	second := topIDs(ref, 2)[1]

	s, err := m.NewSampler(SamplerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	calls := 0
	var first []float32
	if err := s.SetLogitsProcessor(func(logits []float32) {
		if calls == 0 {
			first = append([]float32(nil), logits...)
		}
		calls++
		logits[gc.Greedy[0]] = float32(math.Inf(-1))
	}); err != nil {
		t.Fatal(err)
	}
	if live := liveHandles()["processors"]; live != 1 {
		t.Fatalf("%d live processors, want 1", live)
	}
	c := mustContext(t, m, ContextOptions{NCtx: 128})
	res, err := c.Generate(context.Background(), Tokens(gc.Prompt),
		GenerateOptions{MaxTokens: 3, Sampler: s, Logprobs: true, TopLogprobs: 1}, nil)
	if err != nil || len(res.Logprobs) != 3 {
		t.Fatalf("%+v, %v", res, err)
	}
	if calls != 3 {
		t.Fatalf("the processor ran %d times for 3 tokens", calls)
	}
	e := res.Logprobs[0]
	if e.Token != second || math.Abs(float64(e.Logprob)-ref[second]) > 1e-4 || e.Top[0].Token != gc.Greedy[0] {
		t.Fatalf("first token %+v: want %d (the second most likely) with llama.cpp's logprob %v, the banned %d still listed first",
			e, second, ref[second], gc.Greedy[0])
	}
	// GenerateOptions.LogitsProcessor sets it on the call's own sampler.
	var banned []Token
	res, err = mustContext(t, m, ContextOptions{NCtx: 128}).Generate(context.Background(), Tokens(gc.Prompt),
		GenerateOptions{MaxTokens: 2, LogitsProcessor: func(l []float32) { l[gc.Greedy[0]] = float32(math.Inf(-1)) },
			OnToken: func(e TokenLogprob) bool { banned = append(banned, e.Token); return true }}, nil)
	if err != nil || len(banned) != 2 || banned[0] != second {
		t.Fatalf("GenerateOptions.LogitsProcessor: %v, %v; want %d first", banned, err, second)
	}
	// It saw the logits the context had after the prompt (the raw ones: the same bits).
	c2 := mustContext(t, m, ContextOptions{NCtx: 128})
	if err := c2.Eval(gc.Prompt); err != nil {
		t.Fatal(err)
	}
	raw, err := c2.Logits()
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != int(m.Info().NVocab) || !reflect.DeepEqual(first, raw) {
		t.Fatalf("the processor saw %d logits, not the context's %d", len(first), len(raw))
	}
	// Sample runs it too, and Reset keeps it.
	s.Reset()
	if tok, err := s.Sample(c2); err != nil || tok != second {
		t.Fatalf("Sample with the processor: %d, %v; want %d", tok, err, second)
	}
	// nil removes it.
	if err := s.SetLogitsProcessor(nil); err != nil {
		t.Fatal(err)
	}
	if tok, err := s.Sample(c2); err != nil || tok != gc.Greedy[0] {
		t.Fatalf("Sample without the processor: %d, %v; want %d", tok, err, gc.Greedy[0])
	}
	if live := liveHandles()["processors"]; live != 0 {
		t.Fatalf("%d live processors after removing it", live)
	}

	// A panic in the processor is re-raised by Generate and by Sample; the sampler and the
	// context stay usable.
	if err := s.SetLogitsProcessor(func([]float32) { panic("processor boom") }); err != nil {
		t.Fatal(err)
	}
	expectPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if r := recover(); r != "processor boom" {
				t.Fatalf("%s: recovered %v, want processor boom", what, r)
			}
		}()
		f()
		t.Fatalf("%s: no panic", what)
	}
	c3 := mustContext(t, m, ContextOptions{NCtx: 128})
	var n int
	expectPanic("Generate", func() {
		c3.Generate(context.Background(), Tokens(gc.Prompt), GenerateOptions{MaxTokens: 8, Sampler: s},
			func(string) bool { n++; return true })
	})
	if n > 1 || c3.NPast() > len(gc.Prompt)+1 {
		t.Fatalf("generation went on after the processor panicked: %d pieces, %d positions", n, c3.NPast())
	}
	expectPanic("Sample", func() { s.Sample(c2) })
	if err := s.SetLogitsProcessor(nil); err != nil {
		t.Fatal(err)
	}
	if tok, err := s.Sample(c2); err != nil || tok != gc.Greedy[0] {
		t.Fatalf("after the panics: %d, %v", tok, err)
	}

	// Close lets go of it.
	if err := s.SetLogitsProcessor(func([]float32) {}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if live := liveHandles()["processors"]; live != 0 {
		t.Fatalf("%d live processors after Close", live)
	}
	if err := s.SetLogitsProcessor(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed sampler: %v", err)
	}
}

// firstTokens generates n tokens from the prompt with opts and returns their ids.
func firstTokens(t *testing.T, m *Model, prompt []Token, n int, opts SamplerOptions) []Token {
	t.Helper()
	c := mustContext(t, m, ContextOptions{NCtx: 128})
	var ids []Token
	_, err := c.Generate(context.Background(), Tokens(prompt), GenerateOptions{MaxTokens: n, Sampling: opts,
		OnToken: func(e TokenLogprob) bool { ids = append(ids, e.Token); return true }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// The extra samplers reach the library: each one's defining effect on llama.cpp's logits.
func TestSamplerStages(t *testing.T) {
	gc := loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json").Cases[0]
	m := mustLoad(t, fixturePath(t, tinyQ8))
	ref := logSoftmax(gc.LastLogits)

	d := DefaultSamplerOptions()
	want := SamplerOptions{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1, PenaltyLastN: 64,
		MinKeep: 0, Seed: 0xFFFFFFFF, TypicalP: 1, TopNSigma: -1, XTCThreshold: 0.1, DynatempExponent: 1,
		MirostatTau: 5, MirostatEta: 0.1, DRYBase: 1.75, DRYAllowedLength: 2, DRYPenaltyLastN: 64}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("DefaultSamplerOptions() = %+v, want %+v", d, want)
	}

	// Mirostat 2.0 with tau 0 keeps only the most likely token: greedy at temperature 1.5; the
	// same draws without mirostat are not.
	hot := SamplerOptions{Temperature: 1.5, Seed: 7}
	miro := hot
	miro.Mirostat, miro.MirostatTau, miro.MirostatEta = 2, 0, 0.1
	if got := firstTokens(t, m, gc.Prompt, 6, miro); !equalIDs(got, gc.Greedy[:6]) {
		t.Fatalf("mirostat 2, tau 0: %v, want greedy %v", got, gc.Greedy[:6])
	}
	if got := firstTokens(t, m, gc.Prompt, 6, hot); equalIDs(got, gc.Greedy[:6]) {
		t.Fatalf("temperature 1.5 without mirostat drew the greedy tokens %v", got)
	}
	// Top-n-sigma with a tiny n keeps only the largest logit: greedy too.
	sigma := hot
	sigma.TopNSigma = 1e-6
	if got := firstTokens(t, m, gc.Prompt, 6, sigma); !equalIDs(got, gc.Greedy[:6]) {
		t.Fatalf("top-n-sigma 1e-6: %v, want greedy %v", got, gc.Greedy[:6])
	}

	// Locally typical sampling with a tiny mass keeps one token: the one whose surprisal is
	// closest to the entropy (llama_sampler_typical), whatever the draw.
	h := 0.0
	for _, v := range ref {
		h -= math.Exp(v) * v
	}
	typical := Token(0)
	for i, v := range ref {
		if math.Abs(-v-h) < math.Abs(-ref[typical]-h) {
			typical = Token(i)
		}
	}
	if typical == gc.Greedy[0] {
		t.Fatalf("the typical token is the greedy one: the check below would prove nothing")
	}
	// XTC with probability 1 and a threshold below every token's probability removes all
	// but the least likely.
	least := Token(0)
	for i, v := range ref {
		if v < ref[least] {
			least = Token(i)
		}
	}
	for _, seed := range []uint64{1, 2, 3} {
		typ := SamplerOptions{Temperature: 0.8, TypicalP: 1e-6, Seed: seed}
		if got := firstTokens(t, m, gc.Prompt, 1, typ); len(got) != 1 || got[0] != typical {
			t.Fatalf("seed %d: typical-p 1e-6 drew %v, want %d", seed, got, typical)
		}
		xtc := SamplerOptions{Temperature: 1, XTCProbability: 1, XTCThreshold: 1e-20, Seed: seed}
		if got := firstTokens(t, m, gc.Prompt, 1, xtc); len(got) != 1 || got[0] != least {
			t.Fatalf("seed %d: XTC drew %v, want the least likely %d", seed, got, least)
		}
	}

	// Dynamic temperature (its candidates sorted, so compared with itself): an exponent near
	// 0 gives the top of the range, 0.5 ± 0.7 drawing what 1.2 ± 1e-6 draws; a huge one the
	// bottom, 0.5 ± 0.3 drawing what 0.2 ± 1e-6 draws; and the two differ.
	draws := func(temp, rng, exp float32) []Token {
		return firstTokens(t, m, gc.Prompt, 12, SamplerOptions{Temperature: temp, DynatempRange: rng, DynatempExponent: exp, Seed: 11})
	}
	top, bottom := draws(0.5, 0.7, 1e-9), draws(0.5, 0.3, 1e9)
	if want := draws(1.2, 1e-6, 1); !equalIDs(top, want) {
		t.Fatalf("dynamic temperature at the top of its range: %v, want %v", top, want)
	}
	if want := draws(0.2, 1e-6, 1); !equalIDs(bottom, want) {
		t.Fatalf("dynamic temperature at the bottom of its range: %v, want %v", bottom, want)
	}
	if equalIDs(top, bottom) {
		t.Fatalf("temperatures 1.2 and 0.2 drew the same tokens %v", top)
	}

	// DRY: after x y x, the token y0 that would extend the repetition of x is penalised;
	// a logit bias makes it the greedy choice without DRY. A breaker inside x cuts the
	// repetition short of the allowed length.
	x, y0 := []Token{978, 975, 986, 381}, Token(173)
	prompt := append(append(append([]Token{1}, x...), y0, 922), x...)
	ctx := mustContext(t, m, ContextOptions{NCtx: 64})
	if err := ctx.Eval(prompt); err != nil {
		t.Fatal(err)
	}
	logits, err := ctx.Logits()
	if err != nil {
		t.Fatal(err)
	}
	runnerUp := Token(0)
	if runnerUp == y0 {
		runnerUp = 1
	}
	for i, v := range logits {
		if Token(i) != y0 && v > logits[runnerUp] {
			runnerUp = Token(i)
		}
	}
	breaker, err := m.TokenPiece(x[2], false)
	if err != nil || len(breaker) == 0 {
		t.Fatalf("token %d's piece %q, %v", x[2], breaker, err)
	}
	for _, tc := range []struct {
		what     string
		mult     float32
		breakers []string
		want     Token
	}{
		{"no DRY", 0, nil, y0},
		{"DRY, no breakers", 1000, []string{}, runnerUp},
		{"DRY, the default breakers", 1000, nil, runnerUp},
		{"DRY, a breaker in x", 1000, []string{"\n", string(breaker)}, y0},
	} {
		opts := DefaultSamplerOptions()
		opts.Temperature, opts.DRYMultiplier, opts.DRYSequenceBreakers = 0, tc.mult, tc.breakers
		s, err := m.NewSampler(opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetLogitBias(map[Token]float32{y0: 100}); err != nil {
			t.Fatal(err)
		}
		if err := s.Accept(prompt...); err != nil {
			t.Fatal(err)
		}
		tok, err := s.Sample(ctx)
		s.Close()
		if err != nil || tok != tc.want {
			t.Fatalf("%s: sampled %d, %v; want %d", tc.what, tok, err, tc.want)
		}
	}

	// Refused: mirostat 3, a breaker that is not UTF-8, a NaN DRY base.
	for what, opts := range map[string]SamplerOptions{
		"mirostat":                 {Mirostat: 3},
		"dry_sequence_breakers[0]": {DRYMultiplier: 0.8, DRYSequenceBreakers: []string{"\xff"}},
		"dry_base":                 {DRYMultiplier: 0.8, DRYBase: float32(math.NaN())},
	} {
		_, err := m.NewSampler(opts)
		var e *Error
		if !errors.As(err, &e) || e.Status != StatusInvalid || !strings.Contains(e.Message, what) {
			t.Fatalf("%s: %v, want ErrInvalid naming it", what, err)
		}
	}
}

// Perf counts prompt tokens and generated ones, as llama.cpp's llama_perf_context; ReusePrefix
// keeps the prompt's start and counts it in NReused.
func TestPerfAndReusePrefix(t *testing.T) {
	gc := loadGolden(t, "tests/fixtures/golden/tiny-codellama.q8_0.json").Cases[0]
	m := mustLoad(t, fixturePath(t, tinyQ8))
	c := mustContext(t, m, ContextOptions{NCtx: 128})
	p, err := c.Perf()
	if err != nil || p.NPromptEval != 0 || p.NEval != 0 || p.Start.IsZero() {
		t.Fatalf("a new context: %+v, %v", p, err)
	}
	res, err := c.Generate(context.Background(), Tokens(gc.Prompt), GenerateOptions{MaxTokens: 4}, nil)
	if err != nil || res.Reused != 0 || res.PromptTokens != len(gc.Prompt) {
		t.Fatal(res, err)
	}
	p, err = c.Perf()
	if err != nil || p.NPromptEval != len(gc.Prompt) || p.NEval != 4 || p.NReused != 0 || p.PromptEval <= 0 || p.Eval <= 0 || p.Load != 0 {
		t.Fatalf("after a prompt of %d and 4 tokens: %+v, %v", len(gc.Prompt), p, err)
	}
	// The same prompt again with ReusePrefix: all but its last token are kept; the last one
	// and one generated token are one-token evaluations.
	if err := c.ResetPerf(); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Perf(); p.NPromptEval != 0 || p.NEval != 0 {
		t.Fatalf("after ResetPerf: %+v", p)
	}
	res, err = c.Generate(context.Background(), Tokens(gc.Prompt), GenerateOptions{MaxTokens: 1, ReusePrefix: true, Logprobs: true}, nil)
	if err != nil || res.Reused != len(gc.Prompt)-1 || res.PromptTokens != 1 || len(res.Logprobs) != 1 || res.Logprobs[0].Token != gc.Greedy[0] {
		t.Fatalf("ReusePrefix: %+v, %v", res, err)
	}
	p, _ = c.Perf()
	if p.NPromptEval != 0 || p.NEval != 2 || p.NReused != len(gc.Prompt)-1 {
		t.Fatalf("after reusing: %+v", p)
	}
	if _, err := c.Generate(context.Background(), nil, GenerateOptions{MaxTokens: 1, ReusePrefix: true}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ReusePrefix with no prompt: %v, want ErrInvalid", err)
	}
	c.Close()
	if _, err := c.Perf(); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if err := c.ResetPerf(); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}
