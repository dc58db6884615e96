package llamette

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"sort"
	"strconv"
	"testing"
)

// tests/fixtures/golden/vocab-special.json (scripts/vocab_goldens.py, llama-cpp-python): per
// vocabulary file, llama.cpp's special tokens, flags, end-of-generation set, attributes and
// /infill prompts.
type vocabGolden struct {
	NTokens int               `json:"n_tokens"`
	Special map[string]*int32 `json:"special"` // nil: absent
	AddBOS  bool              `json:"add_bos"`
	AddEOS  bool              `json:"add_eos"`
	EOG     []Token           `json:"eog"`
	Control []Token           `json:"control"`
	// Every token whose attributes are not just "normal", by id, as names in bit order.
	Attrs  map[string][]string `json:"attrs_not_just_normal"`
	Infill []struct {
		Prefix string `json:"prefix"`
		Suffix string `json:"suffix"`
		Extra  []struct {
			Filename *string `json:"filename"`
			Text     string  `json:"text"`
		} `json:"extra"`
		PromptIDs []Token `json:"prompt_ids"`
		NBatch    int     `json:"n_batch"`
		NPredict  int     `json:"n_predict"`
		NCtx      int     `json:"n_ctx"`
		SPMInfill bool    `json:"spm_infill"`
		IDs       []Token `json:"ids"`
	} `json:"infill"`
}

func loadVocabGolden(t *testing.T) map[string]vocabGolden {
	t.Helper()
	raw, err := os.ReadFile(fixturePath(t, "tests/fixtures/golden/vocab-special.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Vocabs map[string]vocabGolden `json:"vocabs"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("vocab-special.json: %v", err)
	}
	if len(g.Vocabs) != 9 {
		t.Fatalf("vocab-special.json: %d vocabularies, want 9", len(g.Vocabs))
	}
	return g.Vocabs
}

func sortedNames(g map[string]vocabGolden) []string {
	names := make([]string, 0, len(g))
	for n := range g {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// The special tokens, add_bos/add_eos, the end-of-generation set and every token's attributes
// of the 9 vocabulary fixtures are llama.cpp's.
func TestVocabSpecialTokensAreLlamaCpps(t *testing.T) {
	g := loadVocabGolden(t)
	for _, name := range sortedNames(g) {
		want := g[name]
		m := mustLoad(t, fixturePath(t, "tests/fixtures/vocab/"+name))
		v, err := m.VocabInfo()
		if err != nil {
			t.Fatal(err)
		}
		if v.NTokens != want.NTokens || v.NTokens != int(m.Info().NVocab) {
			t.Fatalf("%s: %d tokens, want %d", name, v.NTokens, want.NTokens)
		}
		fields := map[string]int32{
			"bos": v.BOS, "eos": v.EOS, "eot": v.EOT, "eom": v.EOM, "unk": v.Unk, "sep": v.Sep,
			"pad": v.Pad, "mask": v.Mask, "nl": v.NL, "fim_pre": v.FIMPre, "fim_suf": v.FIMSuf,
			"fim_mid": v.FIMMid, "fim_pad": v.FIMPad, "fim_rep": v.FIMRep, "fim_sep": v.FIMSep,
		}
		if len(want.Special) < 12 {
			t.Fatalf("%s: %d special tokens in the golden file", name, len(want.Special))
		}
		for k, w := range want.Special {
			got, ok := fields[k]
			if !ok {
				t.Fatalf("%s: VocabInfo has no %s", name, k)
			}
			wv := int32(-1) // null: absent
			if w != nil {
				wv = *w
			}
			if got != wv {
				t.Fatalf("%s: %s = %d, want %d", name, k, got, wv)
			}
		}
		if v.BOS != m.Info().BOS || v.EOS != m.Info().EOS {
			t.Fatalf("%s: VocabInfo BOS/EOS %d/%d, ModelInfo %d/%d", name, v.BOS, v.EOS, m.Info().BOS, m.Info().EOS)
		}
		if v.AddBOS != want.AddBOS || v.AddEOS != want.AddEOS {
			t.Fatalf("%s: add_bos/add_eos %v/%v, want %v/%v", name, v.AddBOS, v.AddEOS, want.AddBOS, want.AddEOS)
		}
		eog, err := m.EOGTokens()
		if err != nil {
			t.Fatal(err)
		}
		if !equalIDs(eog, want.EOG) {
			t.Fatalf("%s: EOGTokens = %v, want %v", name, eog, want.EOG)
		}
		for _, id := range eog {
			if is, err := m.IsEOG(id); err != nil || !is {
				t.Fatalf("%s: IsEOG(%d) = %v, %v", name, id, is, err)
			}
		}
		// Every token: the listed ones have their attributes, every other one is just normal;
		// the control set is llama.cpp's.
		var control []Token
		listed := 0
		for id := 0; id < v.NTokens; id++ {
			a, err := m.TokenAttr(Token(id))
			if err != nil {
				t.Fatalf("%s: TokenAttr(%d): %v", name, id, err)
			}
			if a&TokenAttrControl != 0 {
				control = append(control, Token(id))
			}
			names, ok := want.Attrs[strconv.Itoa(id)]
			if ok {
				listed++
			} else {
				names = []string{"normal"}
			}
			if got := a.Names(); !reflect.DeepEqual(got, names) {
				t.Fatalf("%s: TokenAttr(%d) = %v (%v), want %v", name, id, got, a, names)
			}
		}
		if listed != len(want.Attrs) {
			t.Fatalf("%s: %d listed tokens seen, the golden file has %d", name, listed, len(want.Attrs))
		}
		if !equalIDs(control, want.Control) {
			t.Fatalf("%s: control tokens %v, want %v", name, control, want.Control)
		}
		if _, err := m.TokenAttr(Token(v.NTokens)); !errors.Is(err, ErrBadToken) {
			t.Fatalf("%s: TokenAttr(n_tokens): %v, want ErrBadToken", name, err)
		}
	}
	if s := (TokenAttrControl | TokenAttrRStrip).String(); s != "control|rstrip" {
		t.Fatalf("String() = %q", s)
	}
	if s := TokenAttrUndefined.String(); s != "undefined" || TokenAttrUndefined.Names() != nil {
		t.Fatalf("undefined: %q, %v", s, TokenAttrUndefined.Names())
	}
}

// The fill-in-the-middle prompts of the CodeLlama-70B, DeepSeek-Coder and StarCoder
// vocabularies are those of llama.cpp's /infill, trimmed as its server trims.
func TestInfillPromptsAreLlamaCpps(t *testing.T) {
	if d := DefaultInfillOptions(); d != (InfillOptions{NBatch: 2048, NPredict: -1, NCtx: 4096}) {
		t.Fatalf("DefaultInfillOptions() = %+v", d)
	}
	g := loadVocabGolden(t)
	withFIM := 0
	for _, name := range sortedNames(g) {
		want := g[name]
		m := mustLoad(t, fixturePath(t, "tests/fixtures/vocab/"+name))
		if len(want.Infill) == 0 {
			// No FIM tokens: an error, not a prompt.
			if _, err := m.InfillTokens("a", "b", nil, nil, InfillOptions{}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s: InfillTokens without FIM tokens: %v, want ErrInvalid", name, err)
			}
			continue
		}
		withFIM++
		v, err := m.VocabInfo()
		if err != nil {
			t.Fatal(err)
		}
		if v.FIMPre != *want.Special["fim_pre"] || v.FIMMid != *want.Special["fim_mid"] {
			t.Fatalf("%s: FIM prefix/middle %d/%d", name, v.FIMPre, v.FIMMid)
		}
		for i, c := range want.Infill {
			var extra []InfillChunk
			for _, x := range c.Extra {
				ch := InfillChunk{Text: x.Text}
				if x.Filename != nil {
					ch.Filename = *x.Filename
				}
				extra = append(extra, ch)
			}
			opts := InfillOptions{NBatch: c.NBatch, NPredict: c.NPredict, NCtx: c.NCtx, SPMInfill: c.SPMInfill}
			ids, err := m.InfillTokens(c.Prefix, c.Suffix, extra, c.PromptIDs, opts)
			if err != nil {
				t.Fatalf("%s case %d: %v", name, i, err)
			}
			if !equalIDs(ids, c.IDs) {
				t.Fatalf("%s case %d (%+v): InfillTokens = %v, want %v", name, i, opts, ids, c.IDs)
			}
			if c.NBatch == 2048 && c.NPredict == -1 && c.NCtx == 4096 && !c.SPMInfill {
				// The zero options are the server's defaults.
				if ids, err := m.InfillTokens(c.Prefix, c.Suffix, extra, c.PromptIDs, InfillOptions{}); err != nil || !equalIDs(ids, c.IDs) {
					t.Fatalf("%s case %d with zero options: %v, %v", name, i, ids, err)
				}
			}
		}
		stops, err := m.InfillStopTokens()
		if err != nil {
			t.Fatal(err)
		}
		in := map[Token]bool{}
		for _, s := range stops {
			in[s] = true
		}
		for _, e := range want.EOG {
			if !in[e] {
				t.Fatalf("%s: InfillStopTokens %v lacks end-of-generation token %d", name, stops, e)
			}
		}
		if !sort.SliceIsSorted(stops, func(a, b int) bool { return stops[a] < stops[b] }) {
			t.Fatalf("%s: InfillStopTokens %v not ascending", name, stops)
		}
		if _, err := m.InfillTokens("a", "b", nil, []Token{Token(v.NTokens)}, InfillOptions{}); !errors.Is(err, ErrBadToken) {
			t.Fatalf("%s: a prompt id outside the vocabulary: %v, want ErrBadToken", name, err)
		}
	}
	if withFIM != 3 {
		t.Fatalf("%d vocabularies with infill cases, want 3", withFIM)
	}
}
