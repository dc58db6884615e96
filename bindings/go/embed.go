package llamette

/*
#include <stdlib.h>
#include "llamette.h"
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"
)

// Pooling is how Embed makes a sequence's embedding from its tokens' rows (llama.cpp's
// llama_pooling_type; LLAMETTE_POOLING_*).
type Pooling int32

// Poolings. PoolingModel, as an argument, is the model's own (Model.Pooling).
const (
	PoolingModel Pooling = C.LLAMETTE_POOLING_MODEL // the file's <arch>.pooling_type (none when absent)
	PoolingNone  Pooling = C.LLAMETTE_POOLING_NONE  // every token's own row
	PoolingMean  Pooling = C.LLAMETTE_POOLING_MEAN  // the mean of a sequence's rows
	PoolingCLS   Pooling = C.LLAMETTE_POOLING_CLS   // a sequence's first token's row
	PoolingLast  Pooling = C.LLAMETTE_POOLING_LAST  // a sequence's last token's row
)

func (p Pooling) String() string {
	switch p {
	case PoolingModel:
		return "model"
	case PoolingNone:
		return "none"
	case PoolingMean:
		return "mean"
	case PoolingCLS:
		return "cls"
	case PoolingLast:
		return "last"
	}
	return fmt.Sprintf("Pooling(%d)", int32(p))
}

// Normalizations of Embed: llama.cpp's embd_normalize values. Any p > 2 is the p-norm.
const (
	NormalizeNone    = -1 // the vectors as they are
	NormalizeMaxAbs  = 0  // scaled so that the largest |x| is 32760 (int16 range)
	NormalizeTaxicab = 1  // unit sum of |x|
	NormalizeL2      = 2  // unit Euclidean length (llama.cpp's default)
)

// Pooling returns the model's pooling (<arch>.pooling_type; PoolingNone when the file names
// none, as llama.cpp). A pooling llamette does not have, such as reranking, is an error
// matching ErrBadFile; a vocabulary-only file ErrInvalid.
func (m *Model) Pooling() (Pooling, error) {
	h, err := m.handle("Pooling")
	if err != nil {
		return PoolingNone, err
	}
	defer runtime.KeepAlive(m)
	var out C.int32_t
	err = call("Pooling", func() uint32 { return C.llamette_model_pooling(h, &out) })
	return Pooling(out), err
}

// EmbeddingsIth returns a copy of the embedding (the hidden state after the final norm,
// NEmbd floats) of token i of the last Decode or Eval batch, if that token asked for outputs
// (llama.cpp's llama_get_embeddings_ith). The context must be made with
// ContextOptions.Embeddings; otherwise, or when token i has none, the error matches
// ErrInvalid.
func (c *Context) EmbeddingsIth(i int) ([]float32, error) {
	if c.h == nil {
		return nil, closedError("EmbeddingsIth")
	}
	defer runtime.KeepAlive(c)
	if i < 0 {
		return nil, &Error{Op: "EmbeddingsIth", Status: StatusInvalid, Message: fmt.Sprintf("token %d", i)}
	}
	var p *C.float
	var n C.size_t
	var out []float32
	err := call("EmbeddingsIth", func() uint32 {
		st := C.llamette_embeddings_ith(c.h, C.size_t(i), &p, &n)
		if st == C.LLAMETTE_OK {
			out = append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(p)), int(n))...)
		}
		return st
	})
	return out, err
}

// Embed embeds sequences of token ids (each from its own start) as llama.cpp's embeddings do
// (llamette_embed): pooled with pooling (PoolingModel: the model's) and normalized with
// normalize (NormalizeNone, NormalizeL2, ...: llama.cpp's embd_normalize).
//
// It returns one row of NEmbd floats per sequence, or with PoolingNone (also when
// PoolingModel resolves to it) one per token, sequence after sequence (len(seqs[0]) rows of
// sequence 0, then those of sequence 1, ...). The rows are windows of one backing array.
//
// The context must be made with ContextOptions.Embeddings; it is cleared before and after
// (NPast is 0 afterwards). Sequences go in steps of up to NSeqMax sequences and as many tokens
// as the context keeps outputs for (NOutputsMax, at most NBatch); a longer sequence takes
// several steps. A context without embeddings, an empty sequence or an unknown pooling is an
// error matching ErrInvalid; a sequence longer than the context ErrContextFull; an id outside
// the vocabulary ErrBadToken.
func (c *Context) Embed(seqs [][]Token, pooling Pooling, normalize int) ([][]float32, error) {
	if c.h == nil {
		return nil, closedError("Embed")
	}
	defer runtime.KeepAlive(c)
	if pooling == PoolingModel {
		p, err := c.model.Pooling()
		if err != nil {
			return nil, err
		}
		pooling = p
	}
	if len(seqs) == 0 {
		return [][]float32{}, nil
	}
	if normalize < math.MinInt32 || normalize > math.MaxInt32 {
		return nil, &Error{Op: "Embed", Status: StatusInvalid, Message: fmt.Sprintf("normalize %d", normalize)}
	}
	d := int(c.core.info.NEmbd)
	total := 0
	for _, s := range seqs {
		total += len(s)
	}
	nRows := len(seqs)
	if pooling == PoolingNone {
		nRows = total
	}
	// The sequences go to C as an array of pointers: pointers, lengths and ids all in one
	// block of C memory (C may not be handed Go memory holding Go pointers).
	ptrBytes := len(seqs) * int(unsafe.Sizeof(uintptr(0)))
	lenBytes := len(seqs) * int(unsafe.Sizeof(C.size_t(0)))
	block := C.malloc(C.size_t(ptrBytes + lenBytes + 4*total + 4))
	if block == nil {
		panic("llamette: out of C memory")
	}
	defer C.free(block)
	ptrs := unsafe.Slice((**C.uint32_t)(block), len(seqs))
	lens := unsafe.Slice((*C.size_t)(unsafe.Add(block, ptrBytes)), len(seqs))
	ids := unsafe.Slice((*Token)(unsafe.Add(block, ptrBytes+lenBytes)), total+1)
	off := 0
	for i, s := range seqs {
		ptrs[i] = (*C.uint32_t)(unsafe.Pointer(&ids[off]))
		lens[i] = C.size_t(len(s))
		off += copy(ids[off:], s)
	}
	flat := make([]float32, nRows*d+1)
	var n C.size_t
	err := call("Embed", func() uint32 {
		return C.llamette_embed(c.h, &ptrs[0], &lens[0], C.size_t(len(seqs)), C.int32_t(pooling), C.int32_t(normalize),
			(*C.float)(unsafe.Pointer(&flat[0])), C.size_t(nRows*d), &n)
	})
	if err != nil {
		return nil, err
	}
	if int(n) != nRows*d {
		return nil, &Error{Op: "Embed", Status: StatusPanic, Message: fmt.Sprintf("%d floats written, %d expected", int(n), nRows*d)}
	}
	rows := make([][]float32, nRows)
	for r := range rows {
		rows[r] = flat[r*d : (r+1)*d : (r+1)*d]
	}
	return rows, nil
}
