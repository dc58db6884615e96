package llamette

/*
#include "llamette.h"
*/
import "C"

import (
	"runtime"
)

// Detokenizer turns a stream of token ids into text in whole UTF-8 characters (the text that
// generation hands out). One goroutine at a time.
type Detokenizer struct {
	h    *C.LlametteDetokenizer
	core *modelCore
}

// NewDetokenizer makes a streaming detokenizer for the model's vocabulary.
func (m *Model) NewDetokenizer() (*Detokenizer, error) {
	mh, err := m.handle("NewDetokenizer")
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m)
	var h *C.LlametteDetokenizer
	if err := call("NewDetokenizer", func() uint32 { return C.llamette_detokenizer_new(mh, &h) }); err != nil {
		return nil, err
	}
	liveDetokenizers.Add(1)
	d := &Detokenizer{h: h, core: m.core.retain()}
	runtime.SetFinalizer(d, (*Detokenizer).release)
	return d, nil
}

func (d *Detokenizer) release() {
	if d.h == nil {
		return
	}
	C.llamette_detokenizer_free(d.h)
	d.h = nil
	liveDetokenizers.Add(-1)
	d.core.release()
}

// Close frees the detokenizer; idempotent.
func (d *Detokenizer) Close() error {
	runtime.SetFinalizer(d, nil)
	d.release()
	return nil
}

// Push adds a token and returns the text that became complete (possibly empty).
func (d *Detokenizer) Push(id Token) (string, error) {
	if d.h == nil {
		return "", closedError("Detokenizer.Push")
	}
	defer runtime.KeepAlive(d)
	var text *C.char
	var n C.size_t
	var out string
	err := call("Detokenizer.Push", func() uint32 {
		st := C.llamette_detokenizer_push(d.h, C.uint32_t(id), &text, &n)
		if st == C.LLAMETTE_OK {
			out = C.GoStringN(text, C.int(n))
		}
		return st
	})
	return out, err
}

// Finish ends the stream and returns what was held back (an incomplete character becomes
// U+FFFD; usually empty). The detokenizer can then start a new stream.
func (d *Detokenizer) Finish() (string, error) {
	if d.h == nil {
		return "", closedError("Detokenizer.Finish")
	}
	defer runtime.KeepAlive(d)
	var text *C.char
	var n C.size_t
	var out string
	err := call("Detokenizer.Finish", func() uint32 {
		st := C.llamette_detokenizer_finish(d.h, &text, &n)
		if st == C.LLAMETTE_OK {
			out = C.GoStringN(text, C.int(n))
		}
		return st
	})
	return out, err
}
