package llamette

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"math"
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// SamplerOptions are the sampling parameters: llama.cpp's chain (common_sampler): logit
// bias, penalties, DRY, top-n-sigma, top-k, typical-p, top-p, min-p, XTC, temperature (dynamic
// with DynatempRange), the seeded draw; with Mirostat 1 or 2: logit bias, temperature,
// mirostat (which draws). The zero value is greedy decoding with no penalties and every extra
// stage off: Temperature <= 0 picks the most likely token. DefaultSamplerOptions gives
// llama.cpp's defaults.
//
// A zero that would be meaningless stands for llama.cpp's default (TopP, RepeatPenalty,
// PenaltyLastN, XTCThreshold, DynatempExponent, DRYBase, DRYPenaltyLastN, as each field
// says); MirostatTau, MirostatEta and DRYAllowedLength are used as they are, so start from
// DefaultSamplerOptions to turn mirostat or DRY on with the usual values.
type SamplerOptions struct {
	Temperature float32 // <= 0: greedy
	TopK        int     // keep the TopK most likely tokens; 0 keeps all
	TopP        float32 // nucleus threshold; 0 or >= 1 disables it
	MinP        float32 // drop tokens below MinP times the most likely; 0 disables it
	// RepeatPenalty divides the logits of recent tokens (llama.cpp's repeat penalty);
	// 0 or 1 disables it.
	RepeatPenalty    float32
	FrequencyPenalty float32 // per occurrence; 0 disables it
	PresencePenalty  float32 // 0 disables it
	PenaltyLastN     int     // recent tokens the penalties look at; 0: 64; < 0: none
	MinKeep          int     // top-p, min-p, typical-p and XTC keep at least this many candidates
	Seed             uint64  // the random number generator's seed (a fixed seed: the host owns entropy)

	// TypicalP is locally typical sampling's cumulative probability; 0 or >= 1 disables it.
	TypicalP float32
	// TopNSigma keeps the logits within TopNSigma standard deviations of the largest;
	// <= 0 disables it.
	TopNSigma float32
	// XTCProbability is XTC's chance per step of removing the most likely tokens (all but the
	// least likely of those at or above XTCThreshold); 0 disables it.
	XTCProbability float32
	XTCThreshold   float32 // 0: 0.1; above 0.5 disables XTC
	// DynatempRange makes the temperature range over Temperature ± DynatempRange by the
	// normalised entropy; 0 disables it.
	DynatempRange    float32
	DynatempExponent float32 // 0: 1
	// Mirostat is 0 (the chain above), 1 (mirostat) or 2 (mirostat 2.0), aiming at a
	// surprise of MirostatTau with learning rate MirostatEta (DefaultSamplerOptions: 5 and
	// 0.1; both used as they are, so tau 0 keeps only the most likely token).
	Mirostat    int
	MirostatTau float32
	MirostatEta float32
	// DRYMultiplier turns on DRY ("don't repeat yourself"); 0 disables it.
	DRYMultiplier float32
	DRYBase       float32 // 0: 1.75; below 1 disables DRY
	// DRYAllowedLength: DRY penalises a token that would make a repetition longer than this
	// (used as it is; DefaultSamplerOptions: 2).
	DRYAllowedLength int
	DRYPenaltyLastN  int // recent tokens DRY searches; 0: 64; < 0: none (DRY off)
	// DRYSequenceBreakers: a token containing one is never penalised and no repetition spans
	// it. nil: llama.cpp's defaults "\n", ":", "\"", "*"; an empty non-nil slice: none.
	DRYSequenceBreakers []string
}

// DefaultSamplerOptions returns llama.cpp's defaults (read from the library): temperature
// 0.8, top-k 40, top-p 0.95, min-p 0.05, penalties off, seed 0xFFFFFFFF; typical-p,
// top-n-sigma, XTC (threshold 0.1), dynamic temperature (exponent 1), mirostat (tau 5, eta
// 0.1) and DRY (base 1.75, allowed length 2, last 64 tokens, the default breakers) off.
func DefaultSamplerOptions() SamplerOptions {
	p := C.llamette_sampler_default_params()
	x := C.llamette_sampler_default_params_ex()
	return SamplerOptions{
		Temperature: float32(p.temp), TopK: int(p.top_k), TopP: float32(p.top_p), MinP: float32(p.min_p),
		RepeatPenalty: float32(p.penalty_repeat), FrequencyPenalty: float32(p.penalty_freq),
		PresencePenalty: float32(p.penalty_present), PenaltyLastN: int(p.penalty_last_n),
		MinKeep: int(p.min_keep), Seed: uint64(p.seed),
		TypicalP: float32(x.typ_p), TopNSigma: float32(x.top_n_sigma),
		XTCProbability: float32(x.xtc_probability), XTCThreshold: float32(x.xtc_threshold),
		DynatempRange: float32(x.dynatemp_range), DynatempExponent: float32(x.dynatemp_exponent),
		Mirostat: int(x.mirostat), MirostatTau: float32(x.mirostat_tau), MirostatEta: float32(x.mirostat_eta),
		DRYMultiplier: float32(x.dry_multiplier), DRYBase: float32(x.dry_base),
		DRYAllowedLength: int(x.dry_allowed_length), DRYPenaltyLastN: int(x.dry_penalty_last_n),
		// x.dry_sequence_breakers is NULL: the defaults, which nil means here too.
	}
}

func (o SamplerOptions) cParams() C.LlametteSamplerParams {
	p := C.llamette_sampler_default_params()
	p.temp = C.float(o.Temperature)
	if o.TopK < 0 {
		o.TopK = 0
	}
	p.top_k = C.uint32_t(o.TopK)
	p.top_p = C.float(o.TopP)
	if o.TopP <= 0 {
		p.top_p = 1
	}
	p.min_p = C.float(o.MinP)
	p.penalty_repeat = C.float(o.RepeatPenalty)
	if o.RepeatPenalty == 0 {
		p.penalty_repeat = 1
	}
	p.penalty_freq = C.float(o.FrequencyPenalty)
	p.penalty_present = C.float(o.PresencePenalty)
	switch {
	case o.PenaltyLastN < 0:
		p.penalty_last_n = 0
	case o.PenaltyLastN > 0:
		p.penalty_last_n = C.uint32_t(o.PenaltyLastN)
	}
	if o.MinKeep > 0 {
		p.min_keep = C.uint32_t(o.MinKeep)
	} else {
		p.min_keep = 0
	}
	p.seed = C.uint64_t(o.Seed)
	return p
}

// clampU32 converts n >= 0 to a uint32_t, saturating (the library refuses what is over
// INT32_MAX with a message naming the field).
func clampU32(n int) C.uint32_t {
	if n < 0 {
		return 0
	}
	if uint64(n) > math.MaxUint32 {
		return math.MaxUint32
	}
	return C.uint32_t(n)
}

// cParamsEx returns the extensible parameters. With DRYSequenceBreakers non-nil, the
// breakers are copied into one block of C memory (the struct points at them while C reads
// it); free (never nil) releases it after the call, which copies them.
func (o SamplerOptions) cParamsEx() (p C.LlametteSamplerParamsEx, free func()) {
	p = C.llamette_sampler_default_params_ex()
	p.base = o.cParams()
	p.typ_p = C.float(o.TypicalP)
	if o.TypicalP <= 0 {
		p.typ_p = 1
	}
	p.top_n_sigma = C.float(o.TopNSigma)
	if o.TopNSigma <= 0 {
		p.top_n_sigma = -1
	}
	p.xtc_probability = C.float(o.XTCProbability)
	if o.XTCThreshold != 0 {
		p.xtc_threshold = C.float(o.XTCThreshold)
	}
	p.dynatemp_range = C.float(o.DynatempRange)
	if o.DynatempExponent != 0 {
		p.dynatemp_exponent = C.float(o.DynatempExponent)
	}
	p.mirostat = clampU32(o.Mirostat)
	if o.Mirostat < 0 {
		p.mirostat = math.MaxUint32 // refused by the library, as 3 is
	}
	p.mirostat_tau = C.float(o.MirostatTau)
	p.mirostat_eta = C.float(o.MirostatEta)
	p.dry_multiplier = C.float(o.DRYMultiplier)
	if o.DRYBase != 0 {
		p.dry_base = C.float(o.DRYBase)
	}
	p.dry_allowed_length = clampU32(o.DRYAllowedLength)
	switch {
	case o.DRYPenaltyLastN < 0:
		p.dry_penalty_last_n = 0
	case o.DRYPenaltyLastN > 0:
		p.dry_penalty_last_n = clampU32(o.DRYPenaltyLastN)
	}
	free = func() {}
	if o.DRYSequenceBreakers != nil {
		block, ptrs := cStringArray(o.DRYSequenceBreakers)
		p.dry_sequence_breakers = ptrs
		p.n_dry_sequence_breakers = C.size_t(len(o.DRYSequenceBreakers))
		free = func() { C.free(block) }
	}
	return p, free
}

// cStringArray copies strs into one block of C memory: an array of pointers to
// NUL-terminated copies (a string with a NUL in it ends there for C). Never NULL.
func cStringArray(strs []string) (block unsafe.Pointer, ptrs **C.char) {
	ptrBytes := unsafe.Sizeof(uintptr(0)) * uintptr(len(strs))
	total := ptrBytes
	for _, s := range strs {
		total += uintptr(len(s)) + 1
	}
	block = C.calloc(1, C.size_t(total+1))
	if block == nil {
		panic("llamette: out of C memory")
	}
	all := unsafe.Slice((*byte)(block), total+1)
	arr := unsafe.Slice((**C.char)(block), len(strs))
	off := ptrBytes
	for i, s := range strs {
		arr[i] = (*C.char)(unsafe.Pointer(&all[off]))
		off += uintptr(copy(all[off:], s)) + 1 // calloc: the NUL is there
	}
	return block, (**C.char)(block)
}

// Sampler chooses tokens from a context's logits; it keeps the recent tokens for the
// penalties and the random number generator. One goroutine at a time.
type Sampler struct {
	h    *C.LlametteSampler
	core *modelCore
	// The logits processor the C sampler calls (through the handle), if any.
	proc       *logitsProc
	procHandle cgo.Handle
}

// NewSampler makes a sampler for the model's vocabulary.
func (m *Model) NewSampler(opts SamplerOptions) (*Sampler, error) {
	mh, err := m.handle("NewSampler")
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m)
	p, free := opts.cParamsEx()
	defer free()
	var h *C.LlametteSampler
	if err := call("NewSampler", func() uint32 { return C.llamette_sampler_new_ex(mh, &p, &h) }); err != nil {
		return nil, err
	}
	liveSamplers.Add(1)
	s := &Sampler{h: h, core: m.core.retain()}
	runtime.SetFinalizer(s, (*Sampler).release)
	return s, nil
}

func (s *Sampler) release() {
	if s.h == nil {
		return
	}
	C.llamette_sampler_free(s.h)
	s.h = nil
	liveSamplers.Add(-1)
	s.dropProcessor()
	s.core.release()
}

// Close frees the sampler; idempotent.
func (s *Sampler) Close() error {
	runtime.SetFinalizer(s, nil)
	s.release()
	return nil
}

// Sample chooses a token from the context's last logits. It does not record it: call Accept
// with the token actually used.
func (s *Sampler) Sample(c *Context) (Token, error) {
	if s.h == nil {
		return 0, closedError("Sampler.Sample")
	}
	if c == nil || c.h == nil {
		return 0, closedError("Sampler.Sample")
	}
	defer runtime.KeepAlive(s)
	defer runtime.KeepAlive(c)
	var t C.uint32_t
	err := call("Sampler.Sample", func() uint32 { return C.llamette_sampler_sample(s.h, c.h, &t) })
	s.repanic()
	return Token(t), err
}

// Accept records a token in the history the penalties look at (every prompt token and every
// generated one, in order).
func (s *Sampler) Accept(tokens ...Token) error {
	if s.h == nil {
		return closedError("Sampler.Accept")
	}
	defer runtime.KeepAlive(s)
	for _, t := range tokens {
		if err := call("Sampler.Accept", func() uint32 { return C.llamette_sampler_accept(s.h, C.uint32_t(t)) }); err != nil {
			return err
		}
	}
	return nil
}

// Reset forgets the history and restarts the random number generator from the seed.
func (s *Sampler) Reset() {
	if s.h == nil {
		return
	}
	C.llamette_sampler_reset(s.h)
	runtime.KeepAlive(s)
}

// SetLogitBias replaces the logit biases (added before every other stage; a bias of
// float32(math.Inf(-1)) bans a token). An empty map removes them. The random number generator
// restarts from the seed.
func (s *Sampler) SetLogitBias(bias map[Token]float32) error {
	if s.h == nil {
		return closedError("Sampler.SetLogitBias")
	}
	defer runtime.KeepAlive(s)
	ids := make([]Token, 0, len(bias))
	vals := make([]C.float, 0, len(bias))
	for t, b := range bias {
		ids = append(ids, t)
		vals = append(vals, C.float(b))
	}
	var vp *C.float
	if len(vals) > 0 {
		vp = &vals[0]
	}
	return call("Sampler.SetLogitBias", func() uint32 {
		return C.llamette_sampler_set_logit_bias(s.h, tokensPtr(ids), vp, C.size_t(len(ids)))
	})
}

// logitsProc is what the C logits processor reaches through a cgo.Handle: the Go function
// and a panic it raised (recovered there: a panic must not unwind through C).
type logitsProc struct {
	fn       func(logits []float32)
	panicVal interface{}
	panicked bool
}

func (p *logitsProc) run(logits []float32) {
	if p.panicked {
		return // the step that panicked ends the call; leave the rest alone
	}
	defer func() {
		if r := recover(); r != nil {
			p.panicVal, p.panicked = r, true
		}
	}()
	p.fn(logits)
}

// SetLogitsProcessor makes the sampler call fn once per sampling step (Sample and Generate)
// with the step's raw logits, indexed by token id, to change in place: after a grammar's mask
// (a token it forbids is -Inf, and raising it has no effect) and before the logit biases and
// every other stage, where llama-cpp-python runs its logits_processor. Setting
// float32(math.Inf(-1)) bans a token. The slice is the library's buffer, valid only during
// the call: copy what you keep. fn runs on the goroutine that samples and must not use this
// sampler (or, inside Generate, its context). A panic in fn ends the Sample or Generate call
// (Generate stops before the next token) and is re-raised once the C call has returned.
//
// nil removes the processor. It stays when biases are set and on Reset. The logprobs
// Generate and PromptLogprobs report are those of the model's logits, not the processor's.
//
// The sampler keeps fn reachable until Close (or until it is replaced): a sampler whose fn
// refers to the sampler itself is freed by Close only, never by the finalizer.
func (s *Sampler) SetLogitsProcessor(fn func(logits []float32)) error {
	if s.h == nil {
		return closedError("Sampler.SetLogitsProcessor")
	}
	defer runtime.KeepAlive(s)
	if fn == nil {
		if err := call("Sampler.SetLogitsProcessor", func() uint32 {
			return C.llamette_sampler_set_logits_processor(s.h, nil, nil)
		}); err != nil {
			return err
		}
		s.dropProcessor()
		return nil
	}
	p := &logitsProc{fn: fn}
	h := cgo.NewHandle(p)
	if err := call("Sampler.SetLogitsProcessor", func() uint32 {
		return uint32(C.lmgo_set_logits_processor(s.h, C.uintptr_t(h)))
	}); err != nil {
		h.Delete()
		return err
	}
	liveProcessors.Add(1)
	s.dropProcessor() // the library no longer calls the old one
	s.proc, s.procHandle = p, h
	return nil
}

// dropProcessor forgets the Go side of the processor (after the C sampler let go of it).
func (s *Sampler) dropProcessor() {
	if s.proc == nil {
		return
	}
	s.procHandle.Delete()
	s.proc, s.procHandle = nil, 0
	liveProcessors.Add(-1)
}

// processorPanicked reports whether the logits processor panicked in the current call.
func (s *Sampler) processorPanicked() bool { return s.proc != nil && s.proc.panicked }

// repanic re-raises a panic of the logits processor (after the C call returned), clearing it
// so that the sampler can be used again.
func (s *Sampler) repanic() {
	if s.proc == nil || !s.proc.panicked {
		return
	}
	v := s.proc.panicVal
	s.proc.panicVal, s.proc.panicked = nil, false
	panic(v)
}
