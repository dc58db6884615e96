/*
 * chat: a multi-turn chat on llamette's C ABI.
 *
 *   chat MODEL [-t THREADS] [-c N_CTX] [-n N_PREDICT] [--temp T] [--seed S] [--format NAME] [-v]
 *
 * Reads one user message per line from stdin, renders the whole conversation in the model's
 * chat format (llamette_chat_render_ids), evaluates only what the KV cache does not hold yet
 * (the cache is truncated to the common prefix of the new prompt and the tokens already
 * evaluated), and streams the answer to stdout with llamette_generate, stopping at the
 * format's stop tokens. The library's tasks run on this program's own pthread pool (pool.h),
 * handed over with llamette_context_set_parallel; the library creates no thread.
 *
 * --format overrides the model's chat format (codellama-70b, llama2, chatml, llama3), for
 * models whose GGUF carries no template llamette recognises. -v prints, after each answer, how
 * many prompt tokens came from the KV cache, to stderr. THREADS defaults to the number of
 * online CPUs (the pool's workers plus the calling thread).
 *
 * Ctrl-C while an answer is being generated stops that answer (through the abort flag of
 * llamette_generate); at the prompt it ends the program, as does end of input.
 *
 * Any failure prints llamette_last_error() (or the status message) to stderr and exits 1;
 * bad usage exits 2.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llamette.h"
#include "pool.h"

/* ---- errors ---------------------------------------------------------------------------- */

static void die(const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fputs("chat: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

/* Exits with llamette's own message when a call fails. */
static void check(LlametteStatus s, const char *what) {
  if (s == LLAMETTE_OK) return;
  const char *detail = llamette_last_error();
  die("%s: %s%s%s", what, llamette_status_message(s), detail && *detail ? ": " : "",
      detail ? detail : "");
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) die("out of memory");
  return q;
}

static void usage(void) {
  fprintf(stderr,
          "usage: chat MODEL [-t THREADS] [-c N_CTX] [-n N_PREDICT] [--temp T] [--seed S] "
          "[--format codellama-70b|llama2|chatml|llama3] [-v]\n");
  exit(2);
}

/* ---- growable buffers ------------------------------------------------------------------ */

typedef struct {
  char *data;
  size_t len, cap;
} Text;

static void text_append(Text *t, const char *s, size_t n) {
  if (t->len + n + 1 > t->cap) {
    t->cap = (t->len + n + 1) * 2;
    t->data = (char *)xrealloc(t->data, t->cap);
  }
  memcpy(t->data + t->len, s, n);
  t->len += n;
  t->data[t->len] = '\0';
}

typedef struct {
  char *role;
  char *content;
} Turn;

/* ---- Ctrl-C: the abort flag ---------------------------------------------------------- */

/* Read by llamette_generate before every token (a relaxed atomic load of an aligned
 * uint32_t); set from the signal handler. */
static volatile uint32_t g_abort = 0;

static void on_sigint(int sig) {
  (void)sig;
  g_abort = 1;
}

/* While generating, Ctrl-C raises the abort flag; otherwise it has its default effect. */
static void catch_sigint(bool on) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on ? on_sigint : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
}

/* ---- generation callback --------------------------------------------------------------- */

/* Streams each piece to stdout and keeps the answer for the conversation history. */
static bool on_piece(void *user, const char *text, size_t len) {
  Text *answer = (Text *)user;
  if (fwrite(text, 1, len, stdout) != len) return false; /* stdout closed: stop */
  fflush(stdout);
  text_append(answer, text, len);
  return true;
}

/* Renders the conversation to ids, growing *ids as needed; returns the count. */
static size_t render(const LlametteModel *m, LlametteChatFormat fmt, const Turn *turns,
                     size_t n_turns, uint32_t **ids, size_t *cap) {
  LlametteMessage *msgs = (LlametteMessage *)xrealloc(NULL, n_turns * sizeof *msgs);
  for (size_t i = 0; i < n_turns; i++) {
    msgs[i].role = turns[i].role;
    msgs[i].role_len = strlen(turns[i].role);
    msgs[i].content = turns[i].content;
    msgs[i].content_len = strlen(turns[i].content);
  }
  size_t n = 0;
  LlametteStatus s = llamette_chat_render_ids(m, fmt, msgs, n_turns, true, *ids, *cap, &n);
  if (s == LLAMETTE_ERR_BUFFER_TOO_SMALL) {
    *cap = n;
    *ids = (uint32_t *)xrealloc(*ids, *cap * sizeof **ids);
    s = llamette_chat_render_ids(m, fmt, msgs, n_turns, true, *ids, *cap, &n);
  }
  free(msgs);
  check(s, "rendering the conversation");
  return n;
}

static LlametteChatFormat parse_format(const char *name) {
  if (!strcmp(name, "codellama-70b")) return LLAMETTE_CHAT_CODELLAMA_70B;
  if (!strcmp(name, "llama2")) return LLAMETTE_CHAT_LLAMA2;
  if (!strcmp(name, "chatml")) return LLAMETTE_CHAT_CHATML;
  if (!strcmp(name, "llama3")) return LLAMETTE_CHAT_LLAMA3;
  fprintf(stderr, "chat: unknown chat format '%s'\n", name);
  usage();
  return LLAMETTE_CHAT_NONE;
}

static long parse_long(const char *s, const char *flag) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0') {
    fprintf(stderr, "chat: %s needs a number, got '%s'\n", flag, s);
    usage();
  }
  return v;
}

static double parse_double(const char *s, const char *flag) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *s == '\0' || *end != '\0') {
    fprintf(stderr, "chat: %s needs a number, got '%s'\n", flag, s);
    usage();
  }
  return v;
}

int main(int argc, char **argv) {
  const char *path = NULL;
  long threads = sysconf(_SC_NPROCESSORS_ONLN), n_ctx = 4096, n_predict = -1;
  if (threads < 1) threads = 1;
  double temp = -1.0; /* < 0: the library's default */
  long long seed = -1;
  LlametteChatFormat format = LLAMETTE_CHAT_NONE; /* NONE: the model's own */
  bool verbose = false;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage();
    if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      verbose = true;
      continue;
    }
    if (a[0] == '-' && a[1] != '\0') {
      if (!next) usage();
      i++;
      if (!strcmp(a, "-t") || !strcmp(a, "--threads")) threads = parse_long(next, a);
      else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) n_ctx = parse_long(next, a);
      else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) n_predict = parse_long(next, a);
      else if (!strcmp(a, "--seed")) seed = parse_long(next, a);
      else if (!strcmp(a, "--temp")) temp = parse_double(next, a);
      else if (!strcmp(a, "--format")) format = parse_format(next);
      else usage();
    } else if (!path) {
      path = a;
    } else {
      usage();
    }
  }
  if (!path || threads < 1 || threads > 1024 || n_ctx < 1 || n_ctx > UINT32_MAX) usage();

  /* The model: mapped from the file by the library. */
  LlametteModel *model = NULL;
  check(llamette_model_load(path, &model), path);

  LlametteContextParams cp = llamette_context_default_params();
  cp.n_ctx = (uint32_t)n_ctx;
  LlametteContext *ctx = NULL;
  check(llamette_context_new(model, &cp, &ctx), "creating the context");

  /* Our threads, lent to the context for its tasks. */
  Pool pool;
  if (pool_init(&pool, (uint32_t)threads) != 0) die("cannot start %ld threads", threads);
  check(llamette_context_set_parallel(ctx, pool_run, &pool, pool_width(&pool)),
        "setting the thread pool");

  LlametteSamplerParams sp = llamette_sampler_default_params();
  if (temp >= 0) sp.temp = (float)temp;
  if (seed >= 0) sp.seed = (uint64_t)seed;
  LlametteSampler *sampler = NULL;
  check(llamette_sampler_new(model, &sp, &sampler), "creating the sampler");

  /* The format's stop tokens (e.g. CodeLlama-70B's <step>), besides the model's EOG set. */
  size_t n_stops = 0, stops_cap = 8;
  uint32_t *stops = (uint32_t *)xrealloc(NULL, stops_cap * sizeof *stops);
  LlametteStatus st = llamette_chat_stop_tokens(model, format, stops, stops_cap, &n_stops);
  if (st == LLAMETTE_ERR_BUFFER_TOO_SMALL) {
    stops_cap = n_stops;
    stops = (uint32_t *)xrealloc(stops, stops_cap * sizeof *stops);
    st = llamette_chat_stop_tokens(model, format, stops, stops_cap, &n_stops);
  }
  check(st, "the chat format's stop tokens");

  Turn *turns = NULL;
  size_t n_turns = 0;
  size_t ids_cap = 256;     /* grown when the conversation needs more */
  uint32_t *ids = (uint32_t *)xrealloc(NULL, ids_cap * sizeof *ids); /* the rendered prompt */
  uint32_t *cached = NULL;  /* ids known to be in the KV cache, in order */
  size_t n_cached = 0;
  const bool interactive = isatty(STDIN_FILENO);
  char *line = NULL;
  size_t line_cap = 0;

  for (;;) {
    if (interactive) {
      fputs("\n> ", stderr);
      fflush(stderr);
    }
    ssize_t got = getline(&line, &line_cap, stdin);
    if (got < 0) break;
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
    if (got == 0) continue;

    turns = (Turn *)xrealloc(turns, (n_turns + 2) * sizeof *turns);
    turns[n_turns].role = strdup("user");
    turns[n_turns].content = strdup(line);
    if (!turns[n_turns].role || !turns[n_turns].content) die("out of memory");
    n_turns++;

    size_t n_ids = render(model, format, turns, n_turns, &ids, &ids_cap);
    if (n_ids == 0) die("the chat format rendered no tokens");
    if (n_ids >= cp.n_ctx)
      die("the conversation is %zu tokens, the context holds %u (raise -c)", n_ids, cp.n_ctx);

    /* Keep the cached prefix the new prompt shares with what was evaluated before. At least
     * one token is evaluated so that there are logits to sample from. */
    size_t same = 0;
    while (same < n_cached && same < n_ids && cached[same] == ids[same]) same++;
    if (same == n_ids) same--;
    check(llamette_context_truncate(ctx, (uint32_t)same), "truncating the KV cache");

    Text answer = {0};
    LlametteGenerateParams gp;
    memset(&gp, 0, sizeof gp);
    gp.n_predict = (int32_t)n_predict;
    gp.stop_tokens = stops;
    gp.n_stop_tokens = n_stops;
    gp.abort_flag = &g_abort;
    LlametteStopReason reason = LLAMETTE_STOP_LENGTH;
    uint32_t n_generated = 0;
    g_abort = 0;
    catch_sigint(true);
    LlametteStatus gs = llamette_generate(ctx, sampler, ids + same, n_ids - same, &gp, on_piece,
                                          &answer, &reason, &n_generated);
    catch_sigint(false);
    check(gs, "generating");
    fputc('\n', stdout);
    fflush(stdout);
    if (reason == LLAMETTE_STOP_CONTEXT_FULL)
      fprintf(stderr, "chat: the context is full (%u tokens); raise -c\n", cp.n_ctx);
    if (reason == LLAMETTE_STOP_CALLBACK) die("cannot write to stdout");
    if (reason == LLAMETTE_STOP_ABORTED) fputs("chat: [stopped]\n", stderr);
    if (verbose) {
      static const char *const why[] = {"length", "end of turn", "stop string", "context full",
                                        "callback", "aborted"};
      fprintf(stderr, "chat: prompt %zu tokens, %zu from the cache; %u generated; stop: %s\n",
              n_ids, same, n_generated, (unsigned)reason < 6 ? why[reason] : "?");
    }

    /* The KV cache now holds the prompt followed by the generated tokens (the stop token is
     * not evaluated). llamette_generate reports text, not token ids, so only the prompt is
     * known id by id: the next turn reuses the cache up to the end of this prompt and
     * re-evaluates the answer as the format renders it. */
    cached = (uint32_t *)xrealloc(cached, n_ids * sizeof *cached);
    memcpy(cached, ids, n_ids * sizeof *cached);
    n_cached = n_ids;

    turns[n_turns].role = strdup("assistant");
    turns[n_turns].content = answer.data ? answer.data : strdup("");
    if (!turns[n_turns].role || !turns[n_turns].content) die("out of memory");
    n_turns++;
  }
  if (ferror(stdin)) die("reading stdin: %s", strerror(errno));

  for (size_t i = 0; i < n_turns; i++) {
    free(turns[i].role);
    free(turns[i].content);
  }
  free(turns);
  free(line);
  free(ids);
  free(cached);
  free(stops);
  llamette_sampler_free(sampler);
  llamette_context_free(ctx);
  pool_destroy(&pool);
  llamette_model_free(model);
  return 0;
}
