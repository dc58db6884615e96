package llamette

/*
#include <stdlib.h>
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// Live handle counters: incremented when the binding makes a C object, decremented when it
// frees one (by Close or by a finalizer). The leak tests drive them back to zero.
var (
	liveModels       atomic.Int64
	liveContexts     atomic.Int64
	liveSamplers     atomic.Int64
	liveDetokenizers atomic.Int64
	liveBuffers      atomic.Int64 // C copies of FromBytes data
	livePools        atomic.Int64 // pinned pthread pools and goroutine runners
	liveProcessors   atomic.Int64 // cgo handles of samplers' logits processors
)

// liveHandles returns the number of live C objects of each kind.
func liveHandles() map[string]int64 {
	return map[string]int64{
		"models":       liveModels.Load(),
		"contexts":     liveContexts.Load(),
		"samplers":     liveSamplers.Load(),
		"detokenizers": liveDetokenizers.Load(),
		"buffers":      liveBuffers.Load(),
		"pools":        livePools.Load(),
		"grammars":     liveGrammars.Load(),
		"processors":   liveProcessors.Load(),
	}
}

// cBuffer is a copy of a model file in C memory (malloc): the library borrows the bytes, so
// they live as long as the model core that owns them.
type cBuffer struct {
	p unsafe.Pointer
	n int
}

func newCBuffer(data []byte) *cBuffer {
	n := len(data)
	if n == 0 {
		n = 1
	}
	p := C.malloc(C.size_t(n))
	if p == nil {
		return nil
	}
	if len(data) > 0 {
		copy(unsafe.Slice((*byte)(p), len(data)), data)
	}
	liveBuffers.Add(1)
	return &cBuffer{p: p, n: len(data)}
}

// free releases the memory (b may be nil: a model mapped from a file).
func (b *cBuffer) free() {
	if b == nil || b.p == nil {
		return
	}
	C.free(b.p)
	b.p = nil
	liveBuffers.Add(-1)
}
