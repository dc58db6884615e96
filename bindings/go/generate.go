package llamette

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync/atomic"
	"unsafe"
)

// Prompt is what Generate evaluates first: Text, Tokens, Chat or ChatAs.
type Prompt interface {
	// tokens returns the prompt's ids and the extra stop tokens it implies.
	tokens(m *Model) (ids, stops []Token, err error)
}

// Text is a prompt given as text, tokenized as llama.cpp does for a completion (with BOS
// where the vocabulary wants it, control tokens written in the text parsed).
type Text string

// Tokens is a prompt given as token ids, used as they are. Empty continues from the
// context's last logits.
type Tokens []Token

// Chat is a conversation rendered with the model's chat template, ending with the assistant's
// header; generation also stops at the format's end-of-turn tokens (ChatStopTokens).
type Chat []Message

// ChatAs is a conversation rendered in an explicit chat format (for models without a known
// template), with that format's end-of-turn tokens.
type ChatAs struct {
	Format   ChatFormat
	Messages []Message
}

func (t Text) tokens(m *Model) ([]Token, []Token, error) {
	ids, err := m.Tokenize(string(t), true, true)
	return ids, nil, err
}

func (t Tokens) tokens(*Model) ([]Token, []Token, error) { return t, nil, nil }

func (c Chat) tokens(m *Model) ([]Token, []Token, error) {
	return ChatAs{ChatNone, c}.tokens(m)
}

func (c ChatAs) tokens(m *Model) ([]Token, []Token, error) {
	ids, err := m.ChatTokensFormat(c.Format, c.Messages, true)
	if err != nil {
		return nil, nil, err
	}
	stops, err := m.ChatStopTokensFormat(c.Format)
	return ids, stops, err
}

// StopReason says why generation stopped.
type StopReason int

// Stop reasons (LlametteStopReason).
const (
	StopLength      StopReason = C.LLAMETTE_STOP_LENGTH       // MaxTokens were generated
	StopEOG         StopReason = C.LLAMETTE_STOP_EOG          // an end-of-generation or stop token was sampled
	StopString      StopReason = C.LLAMETTE_STOP_STRING       // a stop string appeared
	StopContextFull StopReason = C.LLAMETTE_STOP_CONTEXT_FULL // no room for another token
	StopCallback    StopReason = C.LLAMETTE_STOP_CALLBACK     // onPiece returned false
	StopAborted     StopReason = C.LLAMETTE_STOP_ABORTED      // the context.Context was cancelled
	StopGrammar     StopReason = C.LLAMETTE_STOP_GRAMMAR      // the sampler's grammar allows no token
)

func (r StopReason) String() string {
	switch r {
	case StopLength:
		return "length"
	case StopEOG:
		return "end of generation"
	case StopString:
		return "stop string"
	case StopContextFull:
		return "context full"
	case StopCallback:
		return "callback"
	case StopAborted:
		return "aborted"
	case StopGrammar:
		return "grammar"
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// GenerateOptions are the stop rules and the sampling of Generate.
type GenerateOptions struct {
	MaxTokens   int      // tokens to generate at most; <= 0: no limit
	StopStrings []string // text that ends generation (not handed out)
	StopTokens  []Token  // extra tokens that end generation (added to a Chat prompt's own)

	// Sampling makes a fresh sampler for the call (the zero value is greedy). Ignored when
	// Sampler is set.
	Sampling SamplerOptions
	// Grammar, when set, constrains the fresh sampler (Sampler.SetGrammar). Ignored when
	// Sampler is set: set the grammar on that one.
	Grammar *Grammar
	// LogitsProcessor, when set, runs in the fresh sampler (Sampler.SetLogitsProcessor).
	// Ignored when Sampler is set: set it on that one.
	LogitsProcessor func(logits []float32)
	// Sampler, when set, is used (and keeps its penalty history and random state) instead.
	Sampler *Sampler

	// Logprobs asks for each generated token's log-probability with its TopLogprobs most
	// likely alternatives (0 to MaxTopLogprobs; more is clamped), as OpenAI's logprobs and
	// top_logprobs: from the model's logits with the sampler's logit biases, before penalties,
	// grammar, truncation and temperature (what llama.cpp's server and llama-cpp-python
	// report). They are handed to OnToken and collected in GenerateResult.Logprobs.
	Logprobs    bool
	TopLogprobs int
	// OnToken, when set, receives each generated token as it is chosen, before its text
	// (which may be held back while it could begin a stop string), also the token that
	// completes a stop string, never the end-of-generation token that stops. Without
	// Logprobs only its Token is set (Logprob NaN, Top nil). Returning false stops after this
	// token, whose text is still handed out (Reason StopCallback). It runs on the calling
	// goroutine and must not use this context or sampler.
	OnToken func(TokenLogprob) bool
	// ReusePrefix takes the prompt as the whole sequence rather than what follows the
	// context's contents: the longest start of it the context already holds (at most all but
	// its last token) is kept, the rest of the context dropped, and only the remainder
	// evaluated (GenerateResult.Reused says how many were kept). The prompt must not be empty.
	ReusePrefix bool
}

// MaxTopLogprobs is the most alternatives a TokenLogprob carries (LLAMETTE_MAX_TOP_LOGPROBS,
// OpenAI's and llama-cpp-python's limit).
const MaxTopLogprobs = C.LLAMETTE_MAX_TOP_LOGPROBS

// GenerateResult says how generation went.
type GenerateResult struct {
	Reason       StopReason
	Generated    int    // tokens generated and evaluated (an end-of-generation token is not counted)
	PromptTokens int    // tokens of the prompt evaluated first (with ReusePrefix: after the Reused ones)
	Reused       int    // with ReusePrefix: the prompt's first tokens the context already held
	Text         string // all the text handed to onPiece
	// Logprobs has, with GenerateOptions.Logprobs, each generated token's entry (those
	// OnToken received), in order.
	Logprobs []TokenLogprob
	// GrammarMessage says, with Reason StopGrammar, why the grammar allowed no token.
	GrammarMessage string
}

// genState is what the piece callback sees (through a cgo.Handle).
type genState struct {
	ctx      context.Context
	onPiece  func(string) bool
	onToken  func(TokenLogprob) bool
	collect  bool     // keep the tokens' entries (Logprobs)
	sampler  *Sampler // its logits processor may have panicked
	flag     *uint32  // the abort flag, in C memory
	text     strings.Builder
	tokens   []TokenLogprob
	panicVal interface{}
	panicked bool
}

// token receives a generated token (and its logprobs, or nil) from the C callback.
func (g *genState) token(t Token, lp *C.LlametteTokenLogprob) (cont bool) {
	if g.sampler.processorPanicked() {
		// Stop before the next token; the panic is re-raised after the call.
		atomic.StoreUint32(g.flag, 1)
		return false
	}
	e := TokenLogprob{Token: t, Logprob: float32(math.NaN())}
	if lp != nil {
		e = tokenLogprobFromC(lp)
	}
	if g.collect {
		g.tokens = append(g.tokens, e)
	}
	if g.onToken != nil && !g.panicked {
		defer func() {
			if r := recover(); r != nil {
				g.panicVal, g.panicked, cont = r, true, false
				atomic.StoreUint32(g.flag, 1)
			}
		}()
		if !g.onToken(e) {
			return false
		}
	}
	return true
}

func (g *genState) piece(s string) (cont bool) {
	g.text.WriteString(s)
	if g.panicked || g.sampler.processorPanicked() {
		return false
	}
	if g.onPiece != nil {
		defer func() {
			if r := recover(); r != nil {
				g.panicVal, g.panicked, cont = r, true, false
			}
		}()
		if !g.onPiece(s) {
			return false
		}
	}
	// A cancellation from inside onPiece stops before the next token, deterministically (the
	// watcher goroutine would set the flag a moment later).
	if g.ctx.Err() != nil {
		atomic.StoreUint32(g.flag, 1)
	}
	return true
}

// Generate evaluates the prompt after what the context holds (with opts.ReusePrefix: the
// prompt is the whole sequence), then samples, evaluates and streams text until a stop rule
// fires, onPiece or opts.OnToken returns false, or ctx is done. onPiece (may be nil) receives
// text in whole UTF-8 characters on the calling goroutine; it must not use this context or
// sampler. A panic in onPiece, opts.OnToken or the sampler's logits processor stops
// generation and is re-raised once the C call has returned.
//
// Cancellation: when ctx is cancelled or its deadline passes, a watcher goroutine raises the
// library's abort flag and generation stops before the next token; Generate then returns the
// result with Reason StopAborted together with ctx.Err(). Any other error is an *Error.
func (c *Context) Generate(ctx context.Context, prompt Prompt, opts GenerateOptions, onPiece func(piece string) bool) (GenerateResult, error) {
	if c.h == nil {
		return GenerateResult{}, closedError("Generate")
	}
	defer runtime.KeepAlive(c)
	if ctx == nil {
		ctx = context.Background()
	}
	if prompt == nil {
		prompt = Tokens(nil)
	}
	ids, stops, err := prompt.tokens(c.model)
	if err != nil {
		return GenerateResult{}, err
	}
	stops = append(stops, opts.StopTokens...)

	sampler := opts.Sampler
	if sampler == nil {
		if sampler, err = c.model.NewSampler(opts.Sampling); err != nil {
			return GenerateResult{}, err
		}
		defer sampler.Close()
		if opts.Grammar != nil {
			if err := sampler.SetGrammar(opts.Grammar); err != nil {
				return GenerateResult{}, err
			}
		}
		if opts.LogitsProcessor != nil {
			if err := sampler.SetLogitsProcessor(opts.LogitsProcessor); err != nil {
				return GenerateResult{}, err
			}
		}
	} else if sampler.h == nil {
		return GenerateResult{}, closedError("Generate")
	}
	defer runtime.KeepAlive(sampler)

	params := newGenParams(opts.MaxTokens, stops, opts.StopStrings)
	defer C.free(params.block)
	params.p.reuse_prefix = C.bool(opts.ReusePrefix)
	if opts.Logprobs {
		top := opts.TopLogprobs
		if top < 0 {
			top = 0
		}
		if top > MaxTopLogprobs {
			top = MaxTopLogprobs
		}
		params.p.n_logprobs = C.int32_t(top)
	}
	// The token callback runs when the caller wants tokens, and with a logits processor (to
	// stop at once after it panicked).
	wantTokens := opts.Logprobs || opts.OnToken != nil || sampler.proc != nil

	st := &genState{ctx: ctx, onPiece: onPiece, onToken: opts.OnToken, collect: opts.Logprobs,
		sampler: sampler, flag: params.flag}
	if ctx.Err() != nil {
		atomic.StoreUint32(st.flag, 1)
	}
	if done := ctx.Done(); done != nil {
		// The watcher raises the flag on cancellation; it has left (and will never touch the
		// flag again) before the deferred free of the block runs.
		finished, exited := make(chan struct{}), make(chan struct{})
		defer func() {
			close(finished)
			<-exited
		}()
		go func() {
			defer close(exited)
			select {
			case <-done:
				atomic.StoreUint32(st.flag, 1)
			case <-finished:
			}
		}()
	}
	handle := cgo.NewHandle(st)
	defer handle.Delete()

	var reason C.LlametteStopReason
	var nGen C.uint32_t
	var nReused C.size_t
	var grammarMessage string
	err = call("Generate", func() uint32 {
		st := uint32(C.lmgo_generate_ex(c.h, sampler.h, tokensPtr(ids), C.size_t(len(ids)), params.p,
			C.uintptr_t(handle), C.bool(wantTokens), &reason, &nGen, &nReused))
		if st == C.LLAMETTE_OK && reason == C.LLAMETTE_STOP_GRAMMAR {
			// Set by this call, on this (locked) thread.
			grammarMessage = C.GoString(C.llamette_last_error())
		}
		return st
	})
	if st.panicked {
		panic(st.panicVal)
	}
	sampler.repanic()
	if err != nil {
		return GenerateResult{PromptTokens: len(ids), Text: st.text.String(), Logprobs: st.tokens}, err
	}
	res := GenerateResult{Reason: StopReason(reason), Generated: int(nGen), PromptTokens: len(ids) - int(nReused),
		Reused: int(nReused), Text: st.text.String(), Logprobs: st.tokens, GrammarMessage: grammarMessage}
	if res.Reason == StopAborted && ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// genParams is a LlametteGenerateParamsEx with its arrays and the abort flag, all in one block
// of C memory (the struct holds pointers, so it may not live in Go memory while C reads it;
// the flag is written by another goroutine during the call).
type genParams struct {
	block unsafe.Pointer
	p     *C.LlametteGenerateParamsEx
	flag  *uint32
}

func newGenParams(maxTokens int, stops []Token, stopStrings []string) genParams {
	align := func(n uintptr) uintptr { return (n + 7) &^ 7 }
	offFlag := align(unsafe.Sizeof(C.LlametteGenerateParamsEx{}))
	offStops := align(offFlag + 4)
	offPtrs := align(offStops + 4*uintptr(len(stops)))
	offLens := offPtrs + unsafe.Sizeof(uintptr(0))*uintptr(len(stopStrings))
	offText := offLens + unsafe.Sizeof(C.size_t(0))*uintptr(len(stopStrings))
	total := offText
	for _, s := range stopStrings {
		total += uintptr(len(s)) + 1
	}
	block := C.calloc(1, C.size_t(total))
	if block == nil {
		panic("llamette: out of C memory")
	}
	at := func(off uintptr) unsafe.Pointer { return unsafe.Pointer(uintptr(block) + off) }
	g := genParams{block: block, p: (*C.LlametteGenerateParamsEx)(block), flag: (*uint32)(at(offFlag))}
	*g.p = C.llamette_generate_default_params_ex()
	b := &g.p.base
	b.n_predict = -1
	if maxTokens > 0 {
		b.n_predict = C.int32_t(maxTokens)
	}
	if len(stops) > 0 {
		copy(unsafe.Slice((*Token)(at(offStops)), len(stops)), stops)
		b.stop_tokens = (*C.uint32_t)(at(offStops))
		b.n_stop_tokens = C.size_t(len(stops))
	}
	if len(stopStrings) > 0 {
		ptrs := unsafe.Slice((**C.char)(at(offPtrs)), len(stopStrings))
		lens := unsafe.Slice((*C.size_t)(at(offLens)), len(stopStrings))
		off := offText
		for i, s := range stopStrings {
			copy(unsafe.Slice((*byte)(at(off)), len(s)), s)
			ptrs[i] = (*C.char)(at(off))
			lens[i] = C.size_t(len(s))
			off += uintptr(len(s)) + 1
		}
		b.stop_strings = (**C.char)(at(offPtrs))
		b.stop_string_lens = (*C.size_t)(at(offLens))
		b.n_stop_strings = C.size_t(len(stopStrings))
	}
	b.abort_flag = (*C.uint32_t)(at(offFlag))
	return g
}
