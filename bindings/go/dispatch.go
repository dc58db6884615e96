package llamette

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"time"
	"unsafe"
)

// measureDispatch times iters parallel calls of nTasks no-op tasks through the executor p,
// called from C as the library calls it, and returns the time per call: the executor's own
// cost (hand-off and wait), with no work to hide it. Used by the overhead benchmark.
func measureDispatch(p Parallel, nTasks, iters int) (time.Duration, error) {
	var run func()
	switch p := p.(type) {
	case serial, countingSerial:
		run = func() { C.lmgo_dispatch_loop(nil, nil, C.uint32_t(nTasks), C.uint32_t(iters)) }
	case goroutines:
		r := &goRunner{width: uint32(p.width())}
		r.next = (*C.uint32_t)(C.calloc(1, 4))
		r.handle = cgo.NewHandle(r)
		defer func() {
			r.handle.Delete()
			C.free(unsafe.Pointer(r.next))
		}()
		run = func() { C.lmgo_dispatch_loop_goroutines(C.uintptr_t(r.handle), C.uint32_t(nTasks), C.uint32_t(iters)) }
	case PinnedPool:
		pool := C.lmgo_pool_new(C.uint32_t(p.width()), C.uint32_t(p.Spin))
		if pool == nil {
			return 0, fmt.Errorf("cannot start a pool")
		}
		defer C.lmgo_pool_free(pool)
		run = func() {
			C.lmgo_dispatch_loop(C.LlametteParallelFn(C.lmgo_pool_run), unsafe.Pointer(pool), C.uint32_t(nTasks), C.uint32_t(iters))
		}
	default:
		return 0, fmt.Errorf("unknown executor %v", p)
	}
	t0 := time.Now()
	run()
	return time.Since(t0) / time.Duration(iters), nil
}
