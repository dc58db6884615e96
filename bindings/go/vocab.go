package llamette

/*
#include <stdlib.h>
#include "llamette.h"
*/
import "C"

import (
	"math"
	"runtime"
	"strings"
	"unsafe"
)

// VocabInfo is a vocabulary's special tokens and flags, as llama.cpp's llama_vocab_bos,
// _eos, ... resolve them (llamette_vocab_info). A token the vocabulary lacks is -1, as in
// ModelInfo (convert a present one with Token(v.EOT)).
type VocabInfo struct {
	NTokens int // tokens in the vocabulary

	BOS  int32 // beginning of sequence
	EOS  int32 // end of sequence
	EOT  int32 // end of turn (<|eot_id|>, <|im_end|>, CodeLlama's <EOT>, ...)
	EOM  int32 // end of message (<|eom_id|>)
	Unk  int32 // unknown
	Sep  int32 // separator
	Pad  int32 // padding
	Mask int32 // mask
	NL   int32 // the token of a lone newline

	FIMPre int32 // fill-in-the-middle prefix (<PRE>, <|fim_prefix|>, ...)
	FIMSuf int32 // fill-in-the-middle suffix
	FIMMid int32 // fill-in-the-middle middle
	FIMPad int32 // fill-in-the-middle padding
	FIMRep int32 // fill-in-the-middle repository name
	FIMSep int32 // fill-in-the-middle file separator

	AddBOS         bool // Tokenize with addSpecial puts BOS in front (llama_vocab_get_add_bos)
	AddEOS         bool // Tokenize with addSpecial appends EOS (llama_vocab_get_add_eos)
	AddSpacePrefix bool // SentencePiece text gets a space in front
}

// VocabInfo returns the vocabulary's special tokens and flags.
func (m *Model) VocabInfo() (VocabInfo, error) {
	h, err := m.handle("VocabInfo")
	if err != nil {
		return VocabInfo{}, err
	}
	defer runtime.KeepAlive(m)
	var v C.LlametteVocabInfo
	v.size = C.size_t(unsafe.Sizeof(v))
	if err := call("VocabInfo", func() uint32 { return C.llamette_vocab_info(h, &v) }); err != nil {
		return VocabInfo{}, err
	}
	return VocabInfo{
		NTokens: int(v.n_tokens),
		BOS:     int32(v.bos), EOS: int32(v.eos), EOT: int32(v.eot), EOM: int32(v.eom),
		Unk: int32(v.unk), Sep: int32(v.sep), Pad: int32(v.pad), Mask: int32(v.mask), NL: int32(v.nl),
		FIMPre: int32(v.fim_pre), FIMSuf: int32(v.fim_suf), FIMMid: int32(v.fim_mid),
		FIMPad: int32(v.fim_pad), FIMRep: int32(v.fim_rep), FIMSep: int32(v.fim_sep),
		AddBOS: bool(v.add_bos), AddEOS: bool(v.add_eos), AddSpacePrefix: bool(v.add_space_prefix),
	}, nil
}

// TokenAttr is a set of token attributes (LLAMETTE_TOKEN_ATTR_* bits, llama.cpp's
// llama_token_attr values).
type TokenAttr uint32

// Token attributes. TokenAttrUndefined (no bit) is a token without attributes.
const (
	TokenAttrUndefined   TokenAttr = C.LLAMETTE_TOKEN_ATTR_UNDEFINED
	TokenAttrUnknown     TokenAttr = C.LLAMETTE_TOKEN_ATTR_UNKNOWN      // the unknown token
	TokenAttrUnused      TokenAttr = C.LLAMETTE_TOKEN_ATTR_UNUSED       // an unused (reserved) token
	TokenAttrNormal      TokenAttr = C.LLAMETTE_TOKEN_ATTR_NORMAL       // an ordinary token
	TokenAttrControl     TokenAttr = C.LLAMETTE_TOKEN_ATTR_CONTROL      // a control token (BOS, EOS, chat markers)
	TokenAttrUserDefined TokenAttr = C.LLAMETTE_TOKEN_ATTR_USER_DEFINED // always matched in raw text
	TokenAttrByte        TokenAttr = C.LLAMETTE_TOKEN_ATTR_BYTE         // a byte-fallback token (<0xAB>)
	TokenAttrNormalized  TokenAttr = C.LLAMETTE_TOKEN_ATTR_NORMALIZED
	TokenAttrLStrip      TokenAttr = C.LLAMETTE_TOKEN_ATTR_LSTRIP // whitespace on its left dropped when matched as special
	TokenAttrRStrip      TokenAttr = C.LLAMETTE_TOKEN_ATTR_RSTRIP // whitespace on its right dropped when matched as special
	TokenAttrSingleWord  TokenAttr = C.LLAMETTE_TOKEN_ATTR_SINGLE_WORD
)

var tokenAttrNames = []struct {
	bit  TokenAttr
	name string
}{
	{TokenAttrUnknown, "unknown"}, {TokenAttrUnused, "unused"}, {TokenAttrNormal, "normal"},
	{TokenAttrControl, "control"}, {TokenAttrUserDefined, "user_defined"}, {TokenAttrByte, "byte"},
	{TokenAttrNormalized, "normalized"}, {TokenAttrLStrip, "lstrip"}, {TokenAttrRStrip, "rstrip"},
	{TokenAttrSingleWord, "single_word"},
}

// Names returns the names of the set bits in bit order ("unknown", "unused", "normal",
// "control", "user_defined", "byte", "normalized", "lstrip", "rstrip", "single_word"); none
// for TokenAttrUndefined.
func (a TokenAttr) Names() []string {
	var names []string
	for _, n := range tokenAttrNames {
		if a&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return names
}

// String returns the names joined by "|", or "undefined".
func (a TokenAttr) String() string {
	if a == TokenAttrUndefined {
		return "undefined"
	}
	return strings.Join(a.Names(), "|")
}

// TokenAttr returns token's attributes (llama_vocab_get_attr); a token outside the
// vocabulary is an error matching ErrBadToken.
func (m *Model) TokenAttr(token Token) (TokenAttr, error) {
	h, err := m.handle("TokenAttr")
	if err != nil {
		return 0, err
	}
	defer runtime.KeepAlive(m)
	var out C.uint32_t
	err = call("TokenAttr", func() uint32 { return C.llamette_token_attr(h, C.uint32_t(token), &out) })
	return TokenAttr(out), err
}

// EOGTokens returns the vocabulary's end-of-generation tokens, ascending (llama.cpp's
// llama_vocab_is_eog set: EOS, EOT, EOM, the FIM padding, repository and separator tokens,
// <|im_end|>-like tokens).
func (m *Model) EOGTokens() ([]Token, error) {
	return m.tokenList("EOGTokens", func(h *C.LlametteModel, ids *C.uint32_t, capacity C.size_t, n *C.size_t) uint32 {
		return C.llamette_vocab_eog_tokens(h, ids, capacity, n)
	})
}

// InfillStopTokens returns the tokens that end a filled-in middle, ascending (the
// end-of-generation tokens, CodeLlama's <EOT>, the FIM padding, repository and file-separator
// tokens): stop generating from InfillTokens' prompt at these.
func (m *Model) InfillStopTokens() ([]Token, error) {
	return m.tokenList("InfillStopTokens", func(h *C.LlametteModel, ids *C.uint32_t, capacity C.size_t, n *C.size_t) uint32 {
		return C.llamette_infill_stop_tokens(h, ids, capacity, n)
	})
}

func (m *Model) tokenList(op string, fill func(*C.LlametteModel, *C.uint32_t, C.size_t, *C.size_t) uint32) ([]Token, error) {
	h, err := m.handle(op)
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m)
	var ids []Token
	n, err := callSized(op, 8, func(capacity int) (uint32, int) {
		ids = make([]Token, capacity)
		var n C.size_t
		st := fill(h, tokensPtr(ids), C.size_t(capacity), &n)
		return st, int(n)
	})
	if err != nil {
		return nil, err
	}
	return ids[:n], nil
}

// InfillChunk is one extra file of a fill-in-the-middle prompt's repository context.
type InfillChunk struct {
	Filename string // "": llama.cpp's "tmp"
	Text     string
}

// InfillOptions are how InfillTokens trims, as llama.cpp's server does for /infill (its
// n_batch, n_predict and n_ctx), and whether the suffix comes first. The zero value is the
// server's defaults (DefaultInfillOptions).
type InfillOptions struct {
	NBatch    int  // the batch the prefix and suffix must fit in; 0: 2048
	NPredict  int  // tokens to be generated; 0 or negative: no limit (llama.cpp's -1)
	NCtx      int  // the context's positions; 0: 4096
	SPMInfill bool // suffix before prefix (llama.cpp's --spm-infill)
}

// DefaultInfillOptions returns llama.cpp's server defaults (llamette_infill_default_params):
// a batch of 2048, no token limit (NPredict -1), 4096 positions, prefix first.
func DefaultInfillOptions() InfillOptions {
	p := C.llamette_infill_default_params()
	return InfillOptions{NBatch: int(p.n_batch), NPredict: int(p.n_predict), NCtx: int(p.n_ctx), SPMInfill: bool(p.spm_infill)}
}

func (o InfillOptions) cParams() C.LlametteInfillParams {
	p := C.llamette_infill_default_params()
	if o.NBatch > 0 {
		p.n_batch = clampU32(o.NBatch)
	}
	if o.NPredict > 0 {
		p.n_predict = C.int32_t(o.NPredict)
		if o.NPredict > math.MaxInt32 {
			p.n_predict = math.MaxInt32
		}
	} else {
		p.n_predict = -1
	}
	if o.NCtx > 0 {
		p.n_ctx = clampU32(o.NCtx)
	}
	p.spm_infill = C.bool(o.SPMInfill)
	return p
}

// InfillTokens returns the prompt ids for completing the code between prefix and suffix, in
// the layout of llama.cpp's /infill (format_prompt_infill): [extra context] [BOS] PRE prefix
// prompt SUF suffix MID with the vocabulary's FIM tokens, trimmed as the server trims. extra
// holds repository files for context; prompt (usually none) is put after the prefix.
// Generate from the ids (Tokens) and stop at InfillStopTokens.
//
// A vocabulary without FIM prefix, suffix or middle tokens is an error matching ErrInvalid;
// a prompt id outside the vocabulary ErrBadToken.
func (m *Model) InfillTokens(prefix, suffix string, extra []InfillChunk, prompt []Token, opts InfillOptions) ([]Token, error) {
	h, err := m.handle("InfillTokens")
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m)
	chunks, nchunks, freeChunks := cInfillChunks(extra)
	defer freeChunks()
	pre, suf := []byte(prefix), []byte(suffix)
	p := opts.cParams()
	var ids []Token
	n, err := callSized("InfillTokens", len(pre)+len(suf)+len(prompt)+16, func(capacity int) (uint32, int) {
		ids = make([]Token, capacity)
		var n C.size_t
		st := C.llamette_infill_tokens(h, bytesPtr(pre), C.size_t(len(pre)), bytesPtr(suf), C.size_t(len(suf)),
			chunks, nchunks, tokensPtr(prompt), C.size_t(len(prompt)), &p, tokensPtr(ids), C.size_t(capacity), &n)
		return st, int(n)
	})
	if err != nil {
		return nil, err
	}
	return ids[:n], nil
}

// cInfillChunks copies chunks into one block of C memory (the structs hold pointers) and
// returns it with a function that frees it.
func cInfillChunks(chunks []InfillChunk) (*C.LlametteInfillChunk, C.size_t, func()) {
	if len(chunks) == 0 {
		return nil, 0, func() {}
	}
	structBytes := len(chunks) * int(unsafe.Sizeof(C.LlametteInfillChunk{}))
	total := structBytes
	for _, c := range chunks {
		total += len(c.Filename) + len(c.Text)
	}
	block := C.malloc(C.size_t(total + 1))
	if block == nil {
		panic("llamette: out of C memory")
	}
	all := unsafe.Slice((*byte)(block), total+1)
	structs := unsafe.Slice((*C.LlametteInfillChunk)(block), len(chunks))
	off := structBytes
	put := func(s string) (*C.char, C.size_t) {
		p := (*C.char)(unsafe.Pointer(&all[off]))
		off += copy(all[off:], s)
		return p, C.size_t(len(s))
	}
	for i, c := range chunks {
		if c.Filename == "" {
			structs[i].filename, structs[i].filename_len = nil, 0
		} else {
			structs[i].filename, structs[i].filename_len = put(c.Filename)
		}
		structs[i].text, structs[i].text_len = put(c.Text)
	}
	return (*C.LlametteInfillChunk)(block), C.size_t(len(chunks)), func() { C.free(block) }
}
