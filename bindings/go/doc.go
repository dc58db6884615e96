// Package llamette runs GGUF llama models through llamette's C API (include/llamette.h),
// with cgo.
//
// A Model (Load from a path, FromBytes from memory) is immutable and shared by goroutines; a
// Context holds one evaluation state and is used by one goroutine at a time. Tokenize,
// Detokenize, RenderChat and ChatTokens work on the model, as do RenderTemplate and
// RenderTemplateJSON (Jinja chat templates), VocabInfo, TokenAttr and EOGTokens (the
// vocabulary's special tokens) and InfillTokens (fill-in-the-middle prompts);
// Context.Generate streams text, stops on the usual rules and on cancellation of a
// context.Context; Context.Embed (with ContextOptions.Embeddings) embeds token sequences.
//
//	m, err := llamette.Load("models/smollm2-135m-instruct.q4_1.gguf")
//	if err != nil { ... }
//	defer m.Close()
//	c, err := m.NewContext(llamette.ContextOptions{NCtx: 2048, Threads: 4})
//	if err != nil { ... }
//	defer c.Close()
//	res, err := c.Generate(ctx, llamette.Chat{{Role: "user", Content: "Hi"}},
//		llamette.GenerateOptions{MaxTokens: 256}, func(piece string) bool {
//			fmt.Print(piece)
//			return true
//		})
//
// Every handle has Close (idempotent) and a finalizer as a safety net. Errors from the
// library are *Error values carrying the status and llamette_last_error()'s message.
//
// Threads: llamette never starts threads; a context hands its tasks to an executor chosen with
// ContextOptions.Threads or .Parallel: Serial, Goroutines(n) (a Go callback that spreads each
// parallel call over goroutines) or PinnedThreads(n) (a pthread pool in C, the default for
// Threads > 1).
//
// Building needs the shared library: cargo build --release --features ffi in the repository
// root (the package links target/release/libllamette.so with an rpath), or -tags
// llamette_system with an installed llamette found by pkg-config.
package llamette
