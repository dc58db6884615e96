package llamette

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Parallel says how a context runs the tasks an evaluation splits into (llamette never starts
// a thread: the host runs them through a LlametteParallelFn). Results are bit-identical for
// every choice. Make one with Serial, Goroutines, PinnedThreads or DefaultParallel.
type Parallel interface {
	// String describes the choice, e.g. "pinned(4)".
	String() string
	install(h *C.LlametteContext) (executor, error)
}

// ParallelStats counts the parallel calls a context made through its executor (the
// LlametteParallelFn calls) and the tasks they ran. Serial contexts (no callback) count nothing.
type ParallelStats struct {
	Calls uint64
	Tasks uint64
}

type executor interface {
	free()
	stats() ParallelStats
}

// DefaultParallel is what ContextOptions.Threads selects: serial for n <= 1, otherwise a
// pinned pool of n threads that poll for DefaultSpin rounds before they sleep. (Measured on
// an idle 2-core machine: SmolLM2 generation 1.9x faster than serial with it, while a pool
// that sleeps at once or goroutines gain about 5%, their wake-ups costing tens of
// microseconds per call; see README.md.)
func DefaultParallel(n int) Parallel {
	if n <= 1 {
		return Serial()
	}
	return PinnedPool{Threads: n, Spin: DefaultSpin}
}

// DefaultSpin is the pool threads' polling rounds in DefaultParallel (a few tens of
// microseconds before they sleep).
const DefaultSpin = 1000

// ---- serial ---------------------------------------------------------------------------------

type serial struct{}

// Serial runs every task inline on the goroutine that evaluates (no callback: the C default).
func Serial() Parallel { return serial{} }

func (serial) String() string { return "serial" }

func (serial) install(h *C.LlametteContext) (executor, error) {
	if err := call("SetParallel", func() uint32 { return C.llamette_context_set_parallel(h, nil, nil, 1) }); err != nil {
		return nil, err
	}
	return nil, nil
}

// countingSerial runs tasks inline like Serial, through a callback that counts the calls (to
// measure how many parallel calls an evaluation makes).
type countingSerial struct{}

func (countingSerial) String() string { return "serial(counted)" }

type counterExec struct{ c *C.LmgoCounter }

func (countingSerial) install(h *C.LlametteContext) (executor, error) {
	c := (*C.LmgoCounter)(C.calloc(1, C.size_t(unsafe.Sizeof(C.LmgoCounter{}))))
	if c == nil {
		return nil, &Error{Op: "SetParallel", Status: StatusAllocation, Message: "cannot allocate a counter"}
	}
	err := call("SetParallel", func() uint32 {
		return C.llamette_context_set_parallel(h, C.LlametteParallelFn(C.lmgo_parallel_counting_serial), unsafe.Pointer(c), 1)
	})
	if err != nil {
		C.free(unsafe.Pointer(c))
		return nil, err
	}
	livePools.Add(1)
	return &counterExec{c}, nil
}

func (e *counterExec) free() {
	C.free(unsafe.Pointer(e.c))
	livePools.Add(-1)
}

func (e *counterExec) stats() ParallelStats {
	return ParallelStats{Calls: uint64(e.c.calls), Tasks: uint64(e.c.tasks)}
}

// ---- goroutines -----------------------------------------------------------------------------

type goroutines struct{ n int }

// Goroutines runs each parallel call's tasks on up to n goroutines (the evaluating goroutine
// and n-1 started for the call), through an exported Go function the C callback calls; each
// goroutine takes task indices from a shared counter in C and runs as many as it can grab in
// one cgo call. n <= 0 means runtime.GOMAXPROCS(0).
func Goroutines(n int) Parallel { return goroutines{n} }

func (g goroutines) String() string { return fmt.Sprintf("goroutines(%d)", g.width()) }

func (g goroutines) width() int {
	if g.n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return g.n
}

// goRunner is the state behind a context's goroutine callback.
type goRunner struct {
	width  uint32
	next   *C.uint32_t // task counter, in C memory (C takes indices from it atomically)
	handle cgo.Handle
	calls  uint64
	tasks  uint64
}

func (g goroutines) install(h *C.LlametteContext) (executor, error) {
	r := &goRunner{width: uint32(g.width())}
	r.next = (*C.uint32_t)(C.calloc(1, 4))
	if r.next == nil {
		return nil, &Error{Op: "SetParallel", Status: StatusAllocation, Message: "cannot allocate a counter"}
	}
	r.handle = cgo.NewHandle(r)
	err := call("SetParallel", func() uint32 {
		return uint32(C.lmgo_set_parallel_goroutines(h, C.uintptr_t(r.handle), C.uint32_t(r.width)))
	})
	if err != nil {
		r.handle.Delete()
		C.free(unsafe.Pointer(r.next))
		return nil, err
	}
	livePools.Add(1)
	return r, nil
}

func (r *goRunner) free() {
	r.handle.Delete()
	C.free(unsafe.Pointer(r.next))
	livePools.Add(-1)
}

func (r *goRunner) stats() ParallelStats { return ParallelStats{Calls: r.calls, Tasks: r.tasks} }

// run is the LlametteParallelFn: every task index exactly once, on up to r.width goroutines,
// returning when all have finished.
func (r *goRunner) run(n uint32, task C.LlametteTaskFn, taskCtx unsafe.Pointer) {
	r.calls++
	r.tasks += uint64(n)
	w := r.width
	if w > n {
		w = n
	}
	if w <= 1 {
		C.lmgo_run_range(task, taskCtx, 0, C.uint32_t(n))
		return
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(r.next)), 0)
	var wg sync.WaitGroup
	wg.Add(int(w - 1))
	for i := uint32(1); i < w; i++ {
		go func() {
			defer wg.Done()
			C.lmgo_drain(task, taskCtx, r.next, C.uint32_t(n))
		}()
	}
	C.lmgo_drain(task, taskCtx, r.next, C.uint32_t(n))
	wg.Wait()
}

// ---- pinned pthread pool --------------------------------------------------------------------

// PinnedPool runs each parallel call's tasks on a pool of OS threads made in C for the
// context (Threads-1 pthreads plus the evaluating thread), with no Go code in the loop. The
// threads are stopped when the context is closed (or its Parallel replaced).
type PinnedPool struct {
	Threads int // threads that run tasks, the evaluating one included; <= 0: runtime.NumCPU()
	// Spin is how many pause-loop rounds a pool thread polls for work before it sleeps on a
	// condition variable (and the evaluating thread polls for the workers before it sleeps).
	// 0 sleeps at once. Polling pays on idle, dedicated cores (DefaultParallel uses
	// DefaultSpin); on a machine whose cores other processes keep busy it steals the CPU the
	// other threads need, and 0 is better.
	Spin int
}

// PinnedThreads is PinnedPool{Threads: n}: a pool of n threads that sleep when idle.
func PinnedThreads(n int) Parallel { return PinnedPool{Threads: n} }

func (p PinnedPool) String() string {
	if p.Spin > 0 {
		return fmt.Sprintf("pinned(%d, spin %d)", p.width(), p.Spin)
	}
	return fmt.Sprintf("pinned(%d)", p.width())
}

func (p PinnedPool) width() int {
	if p.Threads <= 0 {
		return runtime.NumCPU()
	}
	return p.Threads
}

type poolExec struct{ p *C.LmgoPool }

func (p PinnedPool) install(h *C.LlametteContext) (executor, error) {
	spin := p.Spin
	if spin < 0 {
		spin = 0
	}
	pool := C.lmgo_pool_new(C.uint32_t(p.width()), C.uint32_t(spin))
	if pool == nil {
		return nil, &Error{Op: "SetParallel", Status: StatusAllocation, Message: "cannot start the thread pool"}
	}
	err := call("SetParallel", func() uint32 {
		return C.llamette_context_set_parallel(h, C.LlametteParallelFn(C.lmgo_pool_run), unsafe.Pointer(pool), C.lmgo_pool_width(pool))
	})
	if err != nil {
		C.lmgo_pool_free(pool)
		return nil, err
	}
	livePools.Add(1)
	return &poolExec{pool}, nil
}

func (e *poolExec) free() {
	C.lmgo_pool_free(e.p)
	livePools.Add(-1)
}

func (e *poolExec) stats() ParallelStats {
	var calls, tasks C.uint64_t
	C.lmgo_pool_stats(e.p, &calls, &tasks)
	return ParallelStats{Calls: uint64(calls), Tasks: uint64(tasks)}
}
