package llamette

/*
#include "llamette.h"
*/
import "C"

import (
	"runtime"
)

// SamplerOptions are the sampling parameters (llama.cpp's chain: penalties, top-k, top-p,
// min-p, temperature, seeded draw). The zero value is greedy decoding with no penalties:
// Temperature <= 0 picks the most likely token. DefaultSamplerOptions gives llama.cpp's
// defaults.
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
	MinKeep          int     // top-p and min-p keep at least this many candidates
	Seed             uint64  // the random number generator's seed (a fixed seed: the host owns entropy)
}

// DefaultSamplerOptions returns llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95,
// min-p 0.05, penalties off, seed 0xFFFFFFFF.
func DefaultSamplerOptions() SamplerOptions {
	p := C.llamette_sampler_default_params()
	return SamplerOptions{
		Temperature: float32(p.temp), TopK: int(p.top_k), TopP: float32(p.top_p), MinP: float32(p.min_p),
		RepeatPenalty: float32(p.penalty_repeat), FrequencyPenalty: float32(p.penalty_freq),
		PresencePenalty: float32(p.penalty_present), PenaltyLastN: int(p.penalty_last_n),
		MinKeep: int(p.min_keep), Seed: uint64(p.seed),
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

// Sampler chooses tokens from a context's logits; it keeps the recent tokens for the
// penalties and the random number generator. One goroutine at a time.
type Sampler struct {
	h    *C.LlametteSampler
	core *modelCore
}

// NewSampler makes a sampler for the model's vocabulary.
func (m *Model) NewSampler(opts SamplerOptions) (*Sampler, error) {
	mh, err := m.handle("NewSampler")
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m)
	p := opts.cParams()
	var h *C.LlametteSampler
	if err := call("NewSampler", func() uint32 { return C.llamette_sampler_new(mh, &p, &h) }); err != nil {
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
