package llamette

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"
)

// tests/fixtures/golden/smollm2-embeddings.json (scripts/embed_goldens.py): what
// llama-cpp-python's Llama(embedding=True, pooling_type=...).embed gives for SmolLM2: one
// vector of 576 per text for mean, last and cls pooling (and L2-normalized), every token's
// row (pooling none) of texts 0 and 1.
type embedGolden struct {
	Texts  []string      `json:"texts"`
	Tokens [][]Token     `json:"tokens"`
	Mean   [][]float64   `json:"mean"`
	MeanL2 [][]float64   `json:"mean_l2"`
	Last   [][]float64   `json:"last"`
	LastL2 [][]float64   `json:"last_l2"`
	CLS    [][]float64   `json:"cls"`
	CLSL2  [][]float64   `json:"cls_l2"`
	None   [][][]float64 `json:"none"`
	NoneL2 [][][]float64 `json:"none_l2"`
}

func loadEmbedGolden(t *testing.T) embedGolden {
	t.Helper()
	raw, err := os.ReadFile(fixturePath(t, "tests/fixtures/golden/smollm2-embeddings.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g embedGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("smollm2-embeddings.json: %v", err)
	}
	if len(g.Texts) != 3 || len(g.Tokens) != 3 || len(g.None) != 2 {
		t.Fatalf("smollm2-embeddings.json: %d texts, %d token lists, %d per-token texts", len(g.Texts), len(g.Tokens), len(g.None))
	}
	return g
}

// relDiff is the largest |got - want| over the largest |want| (the Python and Rust tests'
// measure).
func relDiff(got []float32, want []float64) float64 {
	scale, diff := 0.0, 0.0
	for i, w := range want {
		scale = math.Max(scale, math.Abs(w))
		diff = math.Max(diff, math.Abs(float64(got[i])-w))
	}
	return diff / scale
}

// checkRows compares rows with want: the same shape, each within tol relative (tol 0: the
// same bits).
func checkRows(t *testing.T, what string, rows [][]float32, want [][]float64, tol float64) {
	t.Helper()
	if len(rows) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(rows), len(want))
	}
	for i, w := range want {
		if len(rows[i]) != len(w) || len(w) != 576 {
			t.Fatalf("%s row %d: %d floats, want %d (576)", what, i, len(rows[i]), len(w))
		}
		if tol == 0 {
			for j, x := range w {
				if float64(rows[i][j]) != x {
					t.Fatalf("%s row %d [%d]: %v, llama.cpp's %v (want the same bits)", what, i, j, rows[i][j], x)
				}
			}
		} else if r := relDiff(rows[i], w); !(r < tol) {
			t.Fatalf("%s row %d: relative difference %g, want < %g", what, i, r, tol)
		}
	}
}

func concatRows(v [][][]float64) [][]float64 {
	var out [][]float64
	for _, rows := range v {
		out = append(out, rows...)
	}
	return out
}

// SmolLM2's mean (within 5e-7 relative), last and cls (bit for bit) embeddings and per-token
// rows equal llama.cpp's, in one batch of the three texts.
func TestSmolLM2EmbeddingsEqualLlamaCpps(t *testing.T) {
	g := loadEmbedGolden(t)
	m := mustLoad(t, smolLM2Path(t))
	for i, text := range g.Texts {
		ids, err := m.Tokenize(text, true, false)
		if err != nil {
			t.Fatal(err)
		}
		if !equalIDs(ids, g.Tokens[i]) {
			t.Fatalf("Tokenize(%q) = %v, want %v", text, ids, g.Tokens[i])
		}
	}
	// SmolLM2's file names no pooling: none.
	if p, err := m.Pooling(); err != nil || p != PoolingNone {
		t.Fatalf("Pooling() = %v, %v; want none", p, err)
	}
	c := mustContext(t, m, ContextOptions{NCtx: 512, NSeqMax: 4, Embeddings: true})
	const tol = 5e-7
	for _, tc := range []struct {
		pooling   Pooling
		normalize int
		want      [][]float64
		tol       float64
	}{
		{PoolingMean, NormalizeNone, g.Mean, tol},
		{PoolingMean, NormalizeL2, g.MeanL2, tol},
		{PoolingLast, NormalizeNone, g.Last, 0},
		{PoolingLast, NormalizeL2, g.LastL2, tol},
		{PoolingCLS, NormalizeNone, g.CLS, 0},
		{PoolingCLS, NormalizeL2, g.CLSL2, tol},
	} {
		rows, err := c.Embed(g.Tokens, tc.pooling, tc.normalize)
		if err != nil {
			t.Fatalf("Embed(%v, %d): %v", tc.pooling, tc.normalize, err)
		}
		checkRows(t, tc.pooling.String(), rows, tc.want, tc.tol)
		if tc.normalize == NormalizeL2 {
			for i, r := range rows {
				s := 0.0
				for _, x := range r {
					s += float64(x) * float64(x)
				}
				if math.Abs(math.Sqrt(s)-1) > 1e-6 {
					t.Fatalf("%v L2 row %d: length %v", tc.pooling, i, math.Sqrt(s))
				}
			}
		}
		if c.NPast() != 0 {
			t.Fatalf("NPast() = %d after Embed, want 0 (cleared)", c.NPast())
		}
	}
	// Pooling none (the model's): every token's row, sequence after sequence, llama.cpp's bits.
	rows, err := c.Embed(g.Tokens[:2], PoolingModel, NormalizeNone)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "none", rows, concatRows(g.None), 0)
	rows, err = c.Embed(g.Tokens[:2], PoolingNone, NormalizeL2)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "none L2", rows, concatRows(g.NoneL2), tol)
}

// The same embeddings one sequence per step and in steps of 4 tokens (a context with one
// sequence and 4 output rows), and from EmbeddingsIth after a Decode. Texts 0 and 1 only: the
// golden rows are of one batch of all three texts, and text 2's rows at positions 17 to 19
// differ (by up to 8e-3 relative) when it is evaluated without texts 0 and 1 (alone, with
// either one, or in steps: those agree with each other bit for bit).
func TestSmolLM2EmbeddingsInStepsAndByToken(t *testing.T) {
	g := loadEmbedGolden(t)
	m := mustLoad(t, smolLM2Path(t))
	c := mustContext(t, m, ContextOptions{NCtx: 512, NOutputsMax: 4, Embeddings: true})
	two := g.Tokens[:2]
	rows, err := c.Embed(two, PoolingLast, NormalizeNone)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "last in steps of 4", rows, g.Last[:2], 0)
	rows, err = c.Embed(two, PoolingCLS, NormalizeNone)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "cls in steps of 4", rows, g.CLS[:2], 0)
	rows, err = c.Embed(two, PoolingMean, NormalizeL2)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "mean L2 in steps of 4", rows, g.MeanL2[:2], 1e-6)
	rows, err = c.Embed(two, PoolingNone, NormalizeNone)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "none in steps of 4", rows, concatRows(g.None), 0)

	// Decode text 1 with every token an output: EmbeddingsIth gives its rows.
	d := mustContext(t, m, ContextOptions{NCtx: 512, Embeddings: true})
	ids := g.Tokens[1]
	batch := make([]BatchToken, len(ids))
	for i, id := range ids {
		batch[i] = BatchToken{Token: id, Pos: i, Seqs: 1, Logits: true}
	}
	if err := d.Decode(batch); err != nil {
		t.Fatal(err)
	}
	byToken := make([][]float32, len(ids))
	for i := range ids {
		if byToken[i], err = d.EmbeddingsIth(i); err != nil {
			t.Fatalf("EmbeddingsIth(%d): %v", i, err)
		}
	}
	checkRows(t, "EmbeddingsIth", byToken, g.None[1], 0)
	if _, err := d.EmbeddingsIth(len(ids)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("EmbeddingsIth past the batch: %v, want ErrInvalid", err)
	}
	// Eval with LogitsAll: every token an output too.
	e := mustContext(t, m, ContextOptions{NCtx: 512, LogitsAll: true, Embeddings: true})
	if err := e.Eval(ids); err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		if byToken[i], err = e.EmbeddingsIth(i); err != nil {
			t.Fatalf("EmbeddingsIth(%d) after Eval: %v", i, err)
		}
	}
	checkRows(t, "EmbeddingsIth after Eval", byToken, g.None[1], 0)
	// Without LogitsAll, Eval keeps the last token's only.
	if err := d.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if err := d.Eval(ids); err != nil {
		t.Fatal(err)
	}
	last, err := d.EmbeddingsIth(len(ids) - 1)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "EmbeddingsIth of Eval's last token", [][]float32{last}, g.None[1][len(ids)-1:], 0)
}

func TestEmbedErrors(t *testing.T) {
	m := mustLoad(t, fixturePath(t, tinyQ8))
	plain := mustContext(t, m, ContextOptions{NCtx: 64})
	if _, err := plain.Embed([][]Token{{1, 2}}, PoolingMean, NormalizeNone); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Embed without Embeddings: %v, want ErrInvalid", err)
	}
	if err := plain.Eval([]Token{1, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.EmbeddingsIth(1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("EmbeddingsIth without Embeddings: %v, want ErrInvalid", err)
	}
	c := mustContext(t, m, ContextOptions{NCtx: 64, NSeqMax: 2, Embeddings: true})
	if _, err := c.Embed([][]Token{{1, 2}, {}}, PoolingMean, NormalizeNone); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an empty sequence: %v, want ErrInvalid", err)
	}
	if _, err := c.Embed([][]Token{{1, 2}}, Pooling(7), NormalizeNone); !errors.Is(err, ErrInvalid) {
		t.Fatalf("pooling 7: %v, want ErrInvalid", err)
	}
	if _, err := c.Embed([][]Token{{1, 1 << 20}}, PoolingMean, NormalizeNone); !errors.Is(err, ErrBadToken) {
		t.Fatalf("an id outside the vocabulary: %v, want ErrBadToken", err)
	}
	if _, err := c.Embed([][]Token{make([]Token, 65)}, PoolingMean, NormalizeNone); !errors.Is(err, ErrContextFull) {
		t.Fatalf("a sequence longer than the context: %v, want ErrContextFull", err)
	}
	// Two sequences in one step equal each alone; rows are NEmbd long.
	both, err := c.Embed([][]Token{{1, 5, 9}, {1, 7}}, PoolingMean, NormalizeNone)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range [][]Token{{1, 5, 9}, {1, 7}} {
		alone, err := c.Embed([][]Token{s}, PoolingMean, NormalizeNone)
		if err != nil {
			t.Fatal(err)
		}
		if len(alone[0]) != int(m.Info().NEmbd) || len(both[i]) != len(alone[0]) {
			t.Fatalf("row lengths %d and %d, NEmbd %d", len(both[i]), len(alone[0]), m.Info().NEmbd)
		}
		for j := range alone[0] {
			if both[i][j] != alone[0][j] {
				t.Fatalf("sequence %d [%d]: %v in a batch, %v alone", i, j, both[i][j], alone[0][j])
			}
		}
	}
	if rows, err := c.Embed(nil, PoolingMean, NormalizeNone); err != nil || len(rows) != 0 {
		t.Fatalf("Embed(nil) = %v, %v", rows, err)
	}
	// A vocabulary-only model has no pooling.
	vocab := mustLoad(t, fixturePath(t, "tests/fixtures/vocab/ggml-vocab-llama-spm.gguf"))
	if _, err := vocab.Pooling(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Pooling of a vocabulary-only model: %v, want ErrInvalid", err)
	}
	c.Close()
	if _, err := c.Embed([][]Token{{1}}, PoolingMean, NormalizeNone); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
