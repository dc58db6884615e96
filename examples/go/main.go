// Command chat is a terminal chat on a GGUF model through the Go binding of llamette.
//
// Every line on stdin is a user turn; the reply streams to stdout, one line per turn. The
// conversation is rendered with the model's chat template (or -format), and only the tokens
// the KV cache does not hold yet are evaluated. Ctrl-C stops the current reply (the
// context.Context's cancellation raises the library's abort flag); Ctrl-D ends the chat.
//
//	cd examples/go && go run . -m ../../models/smollm2-135m-instruct.q4_1.gguf
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	llamette "github.com/llamette/llamette/bindings/go"
)

var formats = map[string]llamette.ChatFormat{
	"":              llamette.ChatNone,
	"chatml":        llamette.ChatChatML,
	"llama2":        llamette.ChatLlama2,
	"llama3":        llamette.ChatLlama3,
	"codellama-70b": llamette.ChatCodeLlama70B,
}

func main() {
	modelPath := flag.String("m", "../../models/smollm2-135m-instruct.q4_1.gguf", "GGUF model")
	threads := flag.Int("t", 2, "threads (a pinned pool; 1: serial)")
	goroutines := flag.Bool("goroutines", false, "run the threads' tasks on goroutines instead of a pinned pool")
	nPredict := flag.Int("n", 256, "most tokens per reply")
	nCtx := flag.Int("c", 2048, "context size (tokens)")
	temp := flag.Float64("temp", 0, "temperature (0: greedy)")
	seed := flag.Uint64("seed", 0xFFFFFFFF, "sampling seed")
	system := flag.String("system", "", "system prompt")
	format := flag.String("format", "", "chat format for models without a template: chatml, llama2, llama3, codellama-70b")
	verbose := flag.Bool("v", false, "statistics on stderr")
	flag.Parse()
	fmtID, ok := formats[*format]
	if !ok || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*modelPath, fmtID, *threads, *goroutines, *nPredict, *nCtx, float32(*temp), *seed, *system, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

func run(path string, format llamette.ChatFormat, threads int, useGoroutines bool, nPredict, nCtx int,
	temp float32, seed uint64, system string, verbose bool) error {
	m, err := llamette.Load(path)
	if err != nil {
		return err
	}
	defer m.Close()
	opts := llamette.ContextOptions{NCtx: nCtx, Threads: threads}
	if useGoroutines {
		opts.Parallel = llamette.Goroutines(threads)
	}
	c, err := m.NewContext(opts)
	if err != nil {
		return err
	}
	defer c.Close()
	stops, err := m.ChatStopTokensFormat(format)
	if err != nil {
		return err
	}
	sampling := llamette.DefaultSamplerOptions()
	sampling.Temperature, sampling.Seed = temp, seed

	var msgs []llamette.Message
	if system != "" {
		msgs = append(msgs, llamette.Message{Role: "system", Content: system})
	}
	var cached []llamette.Token // the prompt evaluated last turn: a prefix of the KV cache
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		msgs = append(msgs, llamette.Message{Role: "user", Content: line})
		ids, err := m.ChatTokensFormat(format, msgs, true)
		if err != nil {
			return err
		}
		// Reuse the cache up to the first token that differs; evaluate at least one token.
		keep := 0
		for keep < len(ids) && keep < len(cached) && keep < c.NPast() && ids[keep] == cached[keep] {
			keep++
		}
		if keep == len(ids) {
			keep--
		}
		if err := c.Truncate(keep); err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		res, err := c.Generate(ctx, llamette.Tokens(ids[keep:]),
			llamette.GenerateOptions{MaxTokens: nPredict, StopTokens: stops, Sampling: sampling},
			func(piece string) bool {
				fmt.Print(piece)
				return true
			})
		stop()
		fmt.Println()
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		cached = ids
		msgs = append(msgs, llamette.Message{Role: "assistant", Content: res.Text})
		if verbose {
			fmt.Fprintf(os.Stderr, "[%d prompt tokens, %d from the cache; %d generated; stop: %v; %v]\n",
				len(ids), keep, res.Generated, res.Reason, c.Parallel())
		}
	}
	return in.Err()
}
