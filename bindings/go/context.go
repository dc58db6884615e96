package llamette

/*
#include "llamette.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// KVType is the element type of a context's KV cache.
type KVType int

// KV cache element types.
const (
	KVF16 KVType = C.LLAMETTE_KV_F16 // half precision, llama.cpp's default
	KVF32 KVType = C.LLAMETTE_KV_F32 // single precision: twice the memory
)

// ContextOptions are the parameters of a context. The zero value gives llamette's defaults
// (4096 positions, batches of 512, an f16 KV cache) evaluated serially.
type ContextOptions struct {
	NCtx      int    // positions the KV cache holds (prompt plus generated tokens); 0: 4096
	NBatch    int    // most tokens evaluated in one step; 0: 512
	KVType    KVType // KVF16 (default) or KVF32
	LogitsAll bool   // keep the logits of every position of a batch (LogitsAt)
	// NSeqMax is how many sequences the context holds at once (Decode, the Seq* methods);
	// 0 or 1: one. NOutputsMax: tokens of one Decode that may ask for logits; 0: NSeqMax.
	NSeqMax     int
	NOutputsMax int
	// Embeddings keeps each output token's hidden state after the final norm too (llama.cpp's
	// embeddings): EmbeddingsIth and Embed read them. Each output row costs 4*NEmbd more
	// bytes. With Embeddings, NOutputsMax 0 means NBatch (every token of a step an output,
	// as Embed wants); Embed puts up to NSeqMax sequences in one step.
	Embeddings bool

	// Threads is how many threads evaluate: 0 or 1 runs serially, n > 1 runs
	// DefaultParallel(n) (a pinned pool of n threads). Ignored when Parallel is set.
	Threads int
	// Parallel chooses the executor explicitly (Serial(), Goroutines(n), PinnedThreads(n)).
	Parallel Parallel
}

// Context is an evaluation state (a KV cache) over a model. It is used by one goroutine at a
// time (any goroutine, not at once); many contexts may share one model. Close frees it; a
// finalizer frees a context that becomes unreachable without Close.
type Context struct {
	h     *C.LlametteContext
	core  *modelCore
	model *Model // a view of core for tokenizing, chat rendering and samplers
	exec  executor
	par   Parallel
}

// NewContext makes a context over the model.
func (m *Model) NewContext(opts ContextOptions) (*Context, error) {
	mh, err := m.handle("NewContext")
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m)
	p := C.llamette_context_default_params_ex()
	if opts.NCtx > 0 {
		p.n_ctx = C.uint32_t(opts.NCtx)
	}
	if opts.NBatch > 0 {
		p.n_batch = C.uint32_t(opts.NBatch)
	}
	p.kv_type = C.LlametteKvType(opts.KVType)
	p.logits_all = C.bool(opts.LogitsAll)
	if opts.NSeqMax > 1 {
		p.n_seq_max = C.uint32_t(opts.NSeqMax)
	}
	if opts.NOutputsMax > 0 {
		p.n_outputs_max = C.uint32_t(opts.NOutputsMax)
	} else if opts.Embeddings {
		p.n_outputs_max = p.n_batch
	}
	p.embeddings = C.bool(opts.Embeddings)
	var h *C.LlametteContext
	if err := call("NewContext", func() uint32 { return C.llamette_context_new_ex(mh, &p, &h) }); err != nil {
		return nil, err
	}
	liveContexts.Add(1)
	c := &Context{h: h, core: m.core.retain(), par: Serial()}
	c.model = c.core.view()
	runtime.SetFinalizer(c, (*Context).release)
	par := opts.Parallel
	if par == nil {
		par = DefaultParallel(opts.Threads)
	}
	if err := c.SetParallel(par); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Context) release() {
	if c.h == nil {
		return
	}
	C.llamette_context_free(c.h)
	c.h = nil
	liveContexts.Add(-1)
	if c.exec != nil {
		c.exec.free()
		c.exec = nil
	}
	c.core.release()
}

// Close frees the context and its executor (a pinned pool's threads); idempotent.
func (c *Context) Close() error {
	runtime.SetFinalizer(c, nil)
	c.release()
	return nil
}

// SetParallel replaces how the context runs its tasks (results stay bit-identical).
func (c *Context) SetParallel(p Parallel) error {
	if c.h == nil {
		return closedError("SetParallel")
	}
	defer runtime.KeepAlive(c)
	if p == nil {
		p = Serial()
	}
	exec, err := p.install(c.h)
	if err != nil {
		return err
	}
	if c.exec != nil {
		c.exec.free()
	}
	c.exec, c.par = exec, p
	return nil
}

// Parallel returns the context's executor choice.
func (c *Context) Parallel() Parallel { return c.par }

// ParallelStats returns the parallel calls (and tasks) made through the context's current
// executor since it was set; zero for Serial.
func (c *Context) ParallelStats() ParallelStats {
	if c.exec == nil {
		return ParallelStats{}
	}
	defer runtime.KeepAlive(c)
	return c.exec.stats()
}

// Eval evaluates tokens at the next positions (in steps of NBatch) and keeps the logits of the
// last one (of every one with LogitsAll). On failure the context is as it was.
func (c *Context) Eval(tokens []Token) error {
	if c.h == nil {
		return closedError("Eval")
	}
	defer runtime.KeepAlive(c)
	return call("Eval", func() uint32 {
		return C.llamette_eval(c.h, tokensPtr(tokens), C.size_t(len(tokens)))
	})
}

// Logits returns a copy of the logits after the last evaluated token.
func (c *Context) Logits() ([]float32, error) {
	if c.h == nil {
		return nil, closedError("Logits")
	}
	defer runtime.KeepAlive(c)
	var p *C.float
	var n C.size_t
	var out []float32
	err := call("Logits", func() uint32 {
		st := C.llamette_logits(c.h, &p, &n)
		if st == C.LLAMETTE_OK {
			out = append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(p)), int(n))...)
		}
		return st
	})
	return out, err
}

// LogitsAt returns a copy of the logits for token i of the last evaluated batch (needs
// LogitsAll).
func (c *Context) LogitsAt(i int) ([]float32, error) {
	if c.h == nil {
		return nil, closedError("LogitsAt")
	}
	defer runtime.KeepAlive(c)
	var p *C.float
	var n C.size_t
	var out []float32
	err := call("LogitsAt", func() uint32 {
		st := C.llamette_logits_at(c.h, C.size_t(i), &p, &n)
		if st == C.LLAMETTE_OK {
			out = append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(p)), int(n))...)
		}
		return st
	})
	return out, err
}

// NPast returns the number of positions the KV cache holds.
func (c *Context) NPast() int {
	if c.h == nil {
		return 0
	}
	defer runtime.KeepAlive(c)
	return int(C.llamette_context_n_past(c.h))
}

// Truncate forgets the positions from nKeep on (0 clears the context); nothing happens when
// nKeep is not below NPast. The logits are gone until the next evaluation.
func (c *Context) Truncate(nKeep int) error {
	if c.h == nil {
		return closedError("Truncate")
	}
	defer runtime.KeepAlive(c)
	return call("Truncate", func() uint32 { return C.llamette_context_truncate(c.h, C.uint32_t(nKeep)) })
}

// SaveState returns the context's whole state (every cell's keys and values and the last
// logits, llamette_state_write): LoadState restores it into this context or another of the
// same model, and evaluation then continues with the bits of never having saved.
func (c *Context) SaveState() ([]byte, error) {
	if c.h == nil {
		return nil, closedError("SaveState")
	}
	defer runtime.KeepAlive(c)
	var out []byte
	err := call("SaveState", func() uint32 {
		var n C.size_t
		if st := C.llamette_state_size(c.h, &n); st != C.LLAMETTE_OK {
			return st
		}
		buf := make([]byte, int(n))
		var written C.size_t
		var p *C.uint8_t
		if len(buf) > 0 {
			p = (*C.uint8_t)(unsafe.Pointer(&buf[0]))
		}
		st := C.llamette_state_write(c.h, p, n, &written)
		if st == C.LLAMETTE_OK {
			out = buf[:int(written)]
		}
		return st
	})
	return out, err
}

// LoadState restores a state from SaveState (llamette_state_read). A state of another model
// or KV type, truncated or corrupted, or too large for the context is an error matching
// ErrBadState, and the context is left as it was.
func (c *Context) LoadState(state []byte) error {
	if c.h == nil {
		return closedError("LoadState")
	}
	defer runtime.KeepAlive(c)
	var p *C.uint8_t
	if len(state) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&state[0]))
	}
	return call("LoadState", func() uint32 {
		return C.llamette_state_read(c.h, p, C.size_t(len(state)))
	})
}

// BatchToken is one token of a Decode batch (llama.cpp's llama_batch entry): the token, its
// position in its sequences, the sequences it belongs to (a bit per sequence id: 1<<s), and
// whether its logits are wanted.
type BatchToken struct {
	Token  Token
	Pos    int
	Seqs   uint64
	Logits bool
}

// Decode evaluates a batch of tokens of any of the context's sequences, each at its own
// position, in one pass over the weights per step (llama_decode); LogitsIth then reads the
// logits of the tokens that asked. A bad batch is an error that changes nothing.
func (c *Context) Decode(batch []BatchToken) error {
	if c.h == nil {
		return closedError("Decode")
	}
	defer runtime.KeepAlive(c)
	if len(batch) == 0 {
		return &Error{Op: "Decode", Status: StatusInvalid, Message: "an empty batch"}
	}
	cb := make([]C.LlametteBatchToken, len(batch))
	for i, b := range batch {
		cb[i] = C.LlametteBatchToken{token: C.uint32_t(b.Token), pos: C.uint32_t(b.Pos), seqs: C.uint64_t(b.Seqs), logits: C.bool(b.Logits)}
	}
	return call("Decode", func() uint32 { return C.llamette_decode(c.h, &cb[0], C.size_t(len(cb))) })
}

// LogitsIth returns a copy of the logits after token i of the last Decode's batch.
func (c *Context) LogitsIth(i int) ([]float32, error) {
	if c.h == nil {
		return nil, closedError("LogitsIth")
	}
	defer runtime.KeepAlive(c)
	var p *C.float
	var n C.size_t
	var out []float32
	err := call("LogitsIth", func() uint32 {
		st := C.llamette_logits_ith(c.h, C.size_t(i), &p, &n)
		if st == C.LLAMETTE_OK {
			out = append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(p)), int(n))...)
		}
		return st
	})
	return out, err
}

// SeqRm removes the positions [p0, p1) of sequence seq (-1: every sequence; p1 < 0: to the
// end), as llama_memory_seq_rm.
func (c *Context) SeqRm(seq, p0, p1 int) error {
	if c.h == nil {
		return closedError("SeqRm")
	}
	defer runtime.KeepAlive(c)
	return call("SeqRm", func() uint32 { return C.llamette_seq_rm(c.h, C.int32_t(seq), C.int64_t(p0), C.int64_t(p1)) })
}

// SeqCp adds sequence dst to the cells of src in [p0, p1) (shared, not copied).
func (c *Context) SeqCp(src, dst, p0, p1 int) error {
	if c.h == nil {
		return closedError("SeqCp")
	}
	defer runtime.KeepAlive(c)
	return call("SeqCp", func() uint32 {
		return C.llamette_seq_cp(c.h, C.int32_t(src), C.int32_t(dst), C.int64_t(p0), C.int64_t(p1))
	})
}

// SeqKeep keeps sequence seq only.
func (c *Context) SeqKeep(seq int) error {
	if c.h == nil {
		return closedError("SeqKeep")
	}
	defer runtime.KeepAlive(c)
	return call("SeqKeep", func() uint32 { return C.llamette_seq_keep(c.h, C.int32_t(seq)) })
}

// SeqAdd adds delta to the positions [p0, p1) of sequence seq; their keys are re-rotated
// before the next evaluation (a context shift).
func (c *Context) SeqAdd(seq, p0, p1, delta int) error {
	if c.h == nil {
		return closedError("SeqAdd")
	}
	defer runtime.KeepAlive(c)
	return call("SeqAdd", func() uint32 {
		return C.llamette_seq_add(c.h, C.int32_t(seq), C.int64_t(p0), C.int64_t(p1), C.int64_t(delta))
	})
}

// SeqPosMax returns the largest position sequence seq holds, -1 when it holds none.
func (c *Context) SeqPosMax(seq int) (int, error) {
	if c.h == nil {
		return 0, closedError("SeqPosMax")
	}
	defer runtime.KeepAlive(c)
	var out C.int64_t
	err := call("SeqPosMax", func() uint32 { return C.llamette_seq_pos_max(c.h, C.int32_t(seq), &out) })
	return int(out), err
}
