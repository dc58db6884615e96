package llamette

/*
#include "llamette.h"
*/
import "C"

import (
	"math"
	"runtime"
	"time"
)

// TokenProb is a token with its log-probability.
type TokenProb struct {
	Token   Token
	Logprob float32
}

// TokenLogprob is a token's log-probability (natural log) and the most likely tokens at its
// step, most likely first (ties: lower id first). The distribution is the softmax of the
// model's logits (with the sampler's logit biases, in Generate), before penalties, grammar,
// truncation and temperature: what llama.cpp's server, llama-cpp-python and OpenAI report.
//
// Logprob is NaN where there is nothing to report: in Generate without Logprobs, and for the
// first token of PromptLogprobs on an empty context (no logits predict it). A token banned by
// a bias of -Inf has Logprob -Inf.
type TokenLogprob struct {
	Token   Token
	Logprob float32
	Top     []TokenProb // at most the number asked for (and MaxTopLogprobs)
}

// tokenLogprobFromC copies the library's entry (valid only during the call that gave it).
func tokenLogprobFromC(lp *C.LlametteTokenLogprob) TokenLogprob {
	e := TokenLogprob{Token: Token(lp.token), Logprob: float32(lp.logprob)}
	n := int(lp.n_top)
	if n > MaxTopLogprobs {
		n = MaxTopLogprobs
	}
	if n > 0 {
		e.Top = make([]TokenProb, n)
		for i := range e.Top {
			e.Top[i] = TokenProb{Token: Token(lp.top_tokens[i]), Logprob: float32(lp.top_logprobs[i])}
		}
	}
	return e
}

// clampTop clamps a number of alternatives to 0..MaxTopLogprobs.
func clampTop(n int) C.uint32_t {
	if n < 0 {
		return 0
	}
	if n > MaxTopLogprobs {
		return MaxTopLogprobs
	}
	return C.uint32_t(n)
}

// PromptLogprobs evaluates tokens after what the context holds (in steps of NBatch) and
// returns, for each token, its log-probability given everything before it with its nTop most
// likely alternatives (0 to MaxTopLogprobs; more is clamped): the prompt logprobs of
// llama-cpp-python's echo=True, from the same distribution as Generate's (without logit
// biases). On an empty context nothing predicts tokens[0]: its entry has Logprob NaN and no
// Top. Afterwards the context holds the tokens and its logits are the last one's, so
// Generate with an empty prompt continues from there (record the tokens in its sampler with
// Accept first, for the penalties).
//
// The context needs ContextOptions.LogitsAll (else ErrInvalid). On failure the context holds
// what it held plus the steps evaluated before the failure.
func (c *Context) PromptLogprobs(tokens []Token, nTop int) ([]TokenLogprob, error) {
	if c.h == nil {
		return nil, closedError("PromptLogprobs")
	}
	defer runtime.KeepAlive(c)
	if len(tokens) == 0 {
		return nil, &Error{Op: "PromptLogprobs", Status: StatusInvalid, Message: "no tokens"}
	}
	// No pointers in the struct: the library may write Go memory during the call.
	out := make([]C.LlametteTokenLogprob, len(tokens))
	if err := call("PromptLogprobs", func() uint32 {
		return C.llamette_prompt_logprobs(c.h, tokensPtr(tokens), C.size_t(len(tokens)), clampTop(nTop),
			nil, nil, 0, &out[0])
	}); err != nil {
		return nil, err
	}
	res := make([]TokenLogprob, len(out))
	for i := range out {
		res[i] = tokenLogprobFromC(&out[i])
	}
	return res, nil
}

// TokenLogprob returns the log-probability of token under the context's last logits (the
// distribution after the last evaluated token, without logit biases) with the nTop most
// likely tokens (0 to MaxTopLogprobs): call it after sampling a token and before evaluating
// it. A context without logits yet is ErrInvalid; a token outside the vocabulary ErrBadToken.
func (c *Context) TokenLogprob(token Token, nTop int) (TokenLogprob, error) {
	if c.h == nil {
		return TokenLogprob{}, closedError("TokenLogprob")
	}
	defer runtime.KeepAlive(c)
	var out C.LlametteTokenLogprob
	if err := call("TokenLogprob", func() uint32 {
		return C.llamette_token_logprobs(c.h, C.uint32_t(token), clampTop(nTop), nil, nil, 0, &out)
	}); err != nil {
		return TokenLogprob{}, err
	}
	return tokenLogprobFromC(&out), nil
}

// PerfData is what a context has evaluated since it was made or since ResetPerf
// (llama.cpp's llama_perf_context_data). An evaluation of one token (Eval, Decode, each
// generated token) counts in Eval and NEval; one of more tokens (a prompt) counts its tokens in
// NPromptEval and its time in PromptEval. Failed calls count nothing. Unlike llama.cpp, which
// reports at least 1, the counts are exact (0 before anything was evaluated).
type PerfData struct {
	Start       time.Time     // when counting started (wall clock)
	Load        time.Duration // always 0: llamette does not time loading
	PromptEval  time.Duration // in evaluations of more than one token
	Eval        time.Duration // in evaluations of one token
	NPromptEval int           // tokens evaluated by evaluations of more than one token
	NEval       int           // evaluations of one token
	NReused     int           // prompt tokens kept by ReusePrefix instead of evaluated again
}

func msDuration(ms C.double) time.Duration { return time.Duration(math.Round(float64(ms) * 1e6)) }

// Perf returns the context's counters (llama_perf_context).
func (c *Context) Perf() (PerfData, error) {
	if c.h == nil {
		return PerfData{}, closedError("Perf")
	}
	defer runtime.KeepAlive(c)
	var d C.LlamettePerfContextData
	if err := call("Perf", func() uint32 { return C.llamette_perf_context(c.h, &d) }); err != nil {
		return PerfData{}, err
	}
	startNs := int64(math.Round(float64(d.t_start_ms) * 1e6))
	return PerfData{
		Start: time.Unix(0, startNs), Load: msDuration(d.t_load_ms),
		PromptEval: msDuration(d.t_p_eval_ms), Eval: msDuration(d.t_eval_ms),
		NPromptEval: int(d.n_p_eval), NEval: int(d.n_eval), NReused: int(d.n_reused),
	}, nil
}

// ResetPerf zeroes the context's counters and starts counting again from now
// (llama_perf_context_reset); the cache and logits stay as they are.
func (c *Context) ResetPerf() error {
	if c.h == nil {
		return closedError("ResetPerf")
	}
	defer runtime.KeepAlive(c)
	return call("ResetPerf", func() uint32 { return C.llamette_perf_context_reset(c.h) })
}
