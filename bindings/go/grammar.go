package llamette

/*
#include <stdlib.h>
#include "llamette.h"
*/
import "C"

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

var liveGrammars atomic.Int64

// Grammar constrains what a sampler chooses: a GBNF grammar (llama.cpp's format), a JSON
// schema, a regular expression or any JSON object, checked when it is made. It is immutable
// and holds no model: one Grammar may be set on any number of samplers, from any goroutines at
// once (but not while it is being closed). Each sampler keeps its own compiled copy, so the
// Grammar may be closed right after SetGrammar.
type Grammar struct {
	h *C.LlametteGrammar
}

func newGrammar(op string, mk func(out **C.LlametteGrammar) uint32) (*Grammar, error) {
	var h *C.LlametteGrammar
	if err := call(op, func() uint32 { return mk(&h) }); err != nil {
		return nil, err
	}
	liveGrammars.Add(1)
	g := &Grammar{h: h}
	runtime.SetFinalizer(g, (*Grammar).release)
	return g, nil
}

// NewGrammarGBNF parses a GBNF grammar (llama.cpp's grammars/README.md) starting at the rule
// root ("" for "root"). m may be nil; tokens written by text in the grammar (<|im_end|>) need
// it, to be resolved in its vocabulary (set the grammar on samplers of that model then). A bad
// grammar is an *Error with StatusBadGrammar whose Message says the line and column
// (errors.Is(err, ErrBadGrammar)).
func NewGrammarGBNF(m *Model, text, root string) (*Grammar, error) {
	var mh *C.LlametteModel
	if m != nil {
		h, err := m.handle("NewGrammarGBNF")
		if err != nil {
			return nil, err
		}
		mh = h
		defer runtime.KeepAlive(m)
	}
	var croot *C.char
	if root != "" {
		croot = C.CString(root)
		defer C.free(unsafe.Pointer(croot))
	}
	tb := []byte(text)
	return newGrammar("NewGrammarGBNF", func(out **C.LlametteGrammar) uint32 {
		return C.llamette_grammar_from_gbnf(mh, bytesPtr(tb), C.size_t(len(tb)), croot, out)
	})
}

// NewGrammarJSONSchema compiles a JSON schema (its JSON text): the output is one JSON value
// that validates against it, with llama.cpp's whitespace between items. Text that is not JSON
// fails with the line and column; a schema that cannot be compiled with the keyword or $ref.
func NewGrammarJSONSchema(schema string) (*Grammar, error) {
	tb := []byte(schema)
	return newGrammar("NewGrammarJSONSchema", func(out **C.LlametteGrammar) uint32 {
		return C.llamette_grammar_from_json_schema(bytesPtr(tb), C.size_t(len(tb)), out)
	})
}

// NewGrammarRegex compiles a regular expression (Rust regex syntax) that the whole output must
// match.
func NewGrammarRegex(pattern string) (*Grammar, error) {
	tb := []byte(pattern)
	return newGrammar("NewGrammarRegex", func(out **C.LlametteGrammar) uint32 {
		return C.llamette_grammar_from_regex(bytesPtr(tb), C.size_t(len(tb)), out)
	})
}

// NewGrammarJSONObject returns the grammar of any JSON object.
func NewGrammarJSONObject() (*Grammar, error) {
	return newGrammar("NewGrammarJSONObject", func(out **C.LlametteGrammar) uint32 {
		return C.llamette_grammar_json_object(out)
	})
}

func (g *Grammar) release() {
	if g.h == nil {
		return
	}
	C.llamette_grammar_free(g.h)
	g.h = nil
	liveGrammars.Add(-1)
}

// Close frees the grammar; idempotent. Samplers it was set on keep their own copy.
func (g *Grammar) Close() error {
	runtime.SetFinalizer(g, nil)
	g.release()
	return nil
}

// SetGrammar constrains the sampler with g (nil removes its grammar): Sample and Generate then
// choose only tokens g allows, and the end-of-generation tokens exactly when the text so far
// is a complete match. The grammar starts at its beginning; Generate advances it, and a loop of
// its own advances it with AcceptSampled. Reset takes it back to the beginning; SetLogitBias
// keeps it where it is. When the grammar allows no token, Sample fails with ErrConstraint and
// Generate stops with StopGrammar.
func (s *Sampler) SetGrammar(g *Grammar) error {
	if s.h == nil {
		return closedError("Sampler.SetGrammar")
	}
	defer runtime.KeepAlive(s)
	var gh *C.LlametteGrammar
	if g != nil {
		if g.h == nil {
			return closedError("Sampler.SetGrammar")
		}
		gh = g.h
		defer runtime.KeepAlive(g)
	}
	return call("Sampler.SetGrammar", func() uint32 { return C.llamette_sampler_set_grammar(s.h, gh) })
}

// AcceptSampled records a token the caller generated (from Sample): in the penalties' history,
// as Accept does, and in the grammar, which advances past it. A token the grammar does not
// allow is ErrConstraint and changes nothing; one outside the vocabulary is ErrBadToken.
func (s *Sampler) AcceptSampled(t Token) error {
	if s.h == nil {
		return closedError("Sampler.AcceptSampled")
	}
	defer runtime.KeepAlive(s)
	return call("Sampler.AcceptSampled", func() uint32 {
		return C.llamette_sampler_accept_sampled(s.h, C.uint32_t(t))
	})
}
