package llamette

// The exported Go functions the C shims (shim.c) call. A file with //export may only declare
// C things in its preamble, so the definitions live in shim.c.

/*
#include "shim.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export llametteGoParallel
func llametteGoParallel(user C.uintptr_t, n C.uint32_t, task C.LlametteTaskFn, taskCtx unsafe.Pointer) {
	cgo.Handle(user).Value().(*goRunner).run(uint32(n), task, taskCtx)
}

//export llametteGoPiece
func llametteGoPiece(user C.uintptr_t, text *C.char, n C.size_t) C.bool {
	return C.bool(cgo.Handle(user).Value().(*genState).piece(C.GoStringN(text, C.int(n))))
}

//export llametteGoToken
func llametteGoToken(user C.uintptr_t, token C.uint32_t, logprob *C.LlametteTokenLogprob) C.bool {
	return C.bool(cgo.Handle(user).Value().(*genState).token(Token(token), logprob))
}

//export llametteGoLogits
func llametteGoLogits(user C.uintptr_t, logits *C.float, n C.size_t) {
	cgo.Handle(user).Value().(*logitsProc).run(unsafe.Slice((*float32)(unsafe.Pointer(logits)), int(n)))
}
