package llamette

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// Per-call overhead of the executors: many evaluations of one token, serially (counted by a
// serial callback that wraps the tasks), with the goroutine callback and with the pinned C
// pool. Run:
//
//	go test -run '^$' -bench EvalToken -benchtime 2000x
//
// LLAMETTE_BENCH_THREADS sets the width (default 2).

func benchThreads() int {
	if n, err := strconv.Atoi(os.Getenv("LLAMETTE_BENCH_THREADS")); err == nil && n > 0 {
		return n
	}
	return 2
}

type benchExec struct {
	name string
	par  Parallel
}

func benchExecs() []benchExec {
	n := benchThreads()
	return []benchExec{
		{"serial", countingSerial{}},
		{fmt.Sprintf("goroutines%d", n), Goroutines(n)},
		{fmt.Sprintf("pinned%d", n), PinnedThreads(n)},
		{fmt.Sprintf("pinned%d-spin", n), PinnedPool{Threads: n, Spin: 1000}},
	}
}

type benchModel struct{ name, path string }

func benchModels(tb testing.TB) []benchModel {
	return []benchModel{{"tiny", fixturePath(tb, tinyQ8)}, {"smollm2", smolLM2Path(tb)}}
}

// evalTokens evaluates one token b.N times after an 8-token prompt (rewinding to the prompt
// when the context fills up) and reports the parallel calls per token and the time per call.
func evalTokens(b *testing.B, m *Model, par Parallel) {
	c, err := m.NewContext(ContextOptions{NCtx: 512, Parallel: par})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	prompt := []Token{1, 978, 975, 986, 381, 173, 922, 107}
	if err := c.Eval(prompt); err != nil {
		b.Fatal(err)
	}
	tok := []Token{42}
	before := c.ParallelStats()
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if c.NPast() >= 500 {
			c.Truncate(len(prompt))
		}
		if err := c.Eval(tok); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	after := c.ParallelStats()
	calls := float64(after.Calls-before.Calls) / float64(b.N)
	tasks := float64(after.Tasks-before.Tasks) / float64(b.N)
	perToken := float64(elapsed.Nanoseconds()) / float64(b.N)
	b.ReportMetric(calls, "calls/token")
	b.ReportMetric(tasks/calls, "tasks/call")
	b.ReportMetric(perToken/1000, "µs/token")
	b.ReportMetric(perToken/calls/1000, "µs/call")
}

func BenchmarkEvalToken(b *testing.B) {
	for _, bm := range benchModels(b) {
		m := mustLoad(b, bm.path)
		for _, e := range benchExecs() {
			b.Run(bm.name+"/"+e.name, func(b *testing.B) { evalTokens(b, m, e.par) })
		}
	}
}

// BenchmarkDispatch times one parallel call of 8 no-op tasks through each executor: its pure
// hand-off cost (ns/op is per call).
func BenchmarkDispatch(b *testing.B) {

	for _, e := range benchExecs() {
		b.Run(e.name, func(b *testing.B) {
			if _, err := measureDispatch(e.par, 8, b.N); err != nil {
				b.Fatal(err)
			}
		})
	}
}
