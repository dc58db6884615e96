/* Compiled by bindings/swift/check.sh with -fmodules -fmodule-map-file=.../module.modulemap
 * -fsyntax-only -Werror: the CLlamette module must resolve through its module map and give
 * these declarations with these types. (check.sh also compiles it as C, with
 * `#pragma clang module import`, and links and runs that against libllamette.) */
#ifdef __OBJC__
@import CLlamette;
#else
#pragma clang module import CLlamette
#include <stdio.h>
#endif
#include <string.h>

/* A host parallel callback with the exact LlametteParallelFn type (what the Swift binding's
 * @convention(c) closure is). */
static void run_serially(void *user, uint32_t n_tasks, LlametteTaskFn task, void *task_ctx) {
  (void)user;
  for (uint32_t i = 0; i < n_tasks; i++) task(task_ctx, i);
}

static bool on_piece(void *user, const char *text, size_t len) {
  (void)user;
  (void)text;
  return len > 0;
}

/* The logits processor and token callbacks with the exact LlametteLogitsProcessorFn and
 * LlametteTokenFn types (the Swift binding's @convention(c) closures). */
static void ban_first(void *user, float *logits, size_t n_vocab) {
  (void)user;
  if (n_vocab > 0) logits[0] = -__builtin_inff();
}

static bool on_token(void *user, uint32_t token, const LlametteTokenLogprob *logprob) {
  (void)user;
  return logprob == NULL || logprob->token == token;
}

/* TokenAttributes (Vocabulary.swift) spells the LLAMETTE_TOKEN_ATTR_* bits as literals. */
_Static_assert(LLAMETTE_TOKEN_ATTR_UNDEFINED == 0, "TokenAttributes: undefined");
_Static_assert(LLAMETTE_TOKEN_ATTR_UNKNOWN == 1u << 0, "TokenAttributes.unknown");
_Static_assert(LLAMETTE_TOKEN_ATTR_UNUSED == 1u << 1, "TokenAttributes.unused");
_Static_assert(LLAMETTE_TOKEN_ATTR_NORMAL == 1u << 2, "TokenAttributes.normal");
_Static_assert(LLAMETTE_TOKEN_ATTR_CONTROL == 1u << 3, "TokenAttributes.control");
_Static_assert(LLAMETTE_TOKEN_ATTR_USER_DEFINED == 1u << 4, "TokenAttributes.userDefined");
_Static_assert(LLAMETTE_TOKEN_ATTR_BYTE == 1u << 5, "TokenAttributes.byte");
_Static_assert(LLAMETTE_TOKEN_ATTR_NORMALIZED == 1u << 6, "TokenAttributes.normalized");
_Static_assert(LLAMETTE_TOKEN_ATTR_LSTRIP == 1u << 7, "TokenAttributes.lstrip");
_Static_assert(LLAMETTE_TOKEN_ATTR_RSTRIP == 1u << 8, "TokenAttributes.rstrip");
_Static_assert(LLAMETTE_TOKEN_ATTR_SINGLE_WORD == 1u << 9, "TokenAttributes.singleWord");
/* Pooling.cValue and EmbeddingNormalization.cValue (Embeddings.swift). */
_Static_assert(LLAMETTE_POOLING_MODEL == -1 && LLAMETTE_POOLING_NONE == 0 && LLAMETTE_POOLING_MEAN == 1 &&
                   LLAMETTE_POOLING_CLS == 2 && LLAMETTE_POOLING_LAST == 3,
               "Pooling");

/* The declarations of issue 19 as the Swift binding calls them, with their exact types
 * (-Werror: a pointer type that differs is an error). */
static LlametteStatus (*const render_template_fn)(const LlametteModel *, const char *, size_t,
                                                  const LlametteMessage *, size_t, bool, char *,
                                                  size_t, size_t *) = llamette_chat_render_template;
static LlametteStatus (*const render_template_json_fn)(const LlametteModel *, const char *, size_t,
                                                       const char *, size_t, const char *, size_t,
                                                       const char *, size_t, bool, char *, size_t,
                                                       size_t *) = llamette_chat_render_template_json;
static LlametteStatus (*const vocab_info_fn)(const LlametteModel *, LlametteVocabInfo *) = llamette_vocab_info;
static LlametteStatus (*const token_attr_fn)(const LlametteModel *, uint32_t, uint32_t *) = llamette_token_attr;
static LlametteStatus (*const eog_tokens_fn)(const LlametteModel *, uint32_t *, size_t, size_t *) =
    llamette_vocab_eog_tokens;
static LlametteStatus (*const infill_tokens_fn)(const LlametteModel *, const char *, size_t, const char *,
                                                size_t, const LlametteInfillChunk *, size_t,
                                                const uint32_t *, size_t, const LlametteInfillParams *,
                                                uint32_t *, size_t, size_t *) = llamette_infill_tokens;
static LlametteStatus (*const infill_stop_fn)(const LlametteModel *, uint32_t *, size_t, size_t *) =
    llamette_infill_stop_tokens;
static LlametteStatus (*const model_pooling_fn)(const LlametteModel *, int32_t *) = llamette_model_pooling;
static LlametteStatus (*const embeddings_ith_fn)(const LlametteContext *, size_t, const float **, size_t *) =
    llamette_embeddings_ith;
static LlametteStatus (*const embed_fn)(LlametteContext *, const uint32_t *const *, const size_t *, size_t,
                                        int32_t, int32_t, float *, size_t, size_t *) = llamette_embed;
static LlametteStatus (*const context_new_ex_fn)(LlametteModel *, const LlametteContextParamsEx *,
                                                 LlametteContext **) = llamette_context_new_ex;

/* Chat templates, the vocabulary and infill on the CodeLlama-70B vocabulary (its special
 * tokens and first /infill prompt are llama.cpp's: tests/fixtures/golden/vocab-special.json).
 * Returns 0 when they match. */
static int use_issue_19(LlametteModel *m, const LlametteMessage *dialog, size_t n_dialog) {
  /* A Jinja text template, in two calls; then the JSON variant without tools. */
  static const char tmpl[] = "{{ bos_token }}{% for m in messages %}{{ m.role }};{% endfor %}";
  static const char want[] = "<s>system;user;assistant;user;";
  char text[128];
  size_t n = 0;
  if (render_template_fn(m, tmpl, sizeof tmpl - 1, dialog, n_dialog, true, NULL, 0, &n) !=
          LLAMETTE_ERR_BUFFER_TOO_SMALL ||
      n != sizeof want - 1)
    return 30;
  if (render_template_fn(m, tmpl, sizeof tmpl - 1, dialog, n_dialog, true, text, sizeof text, &n) != LLAMETTE_OK ||
      strcmp(text, want) != 0)
    return 31;
  static const char json[] = "[{\"role\": \"tool\", \"content\": \"42\"}]";
  if (render_template_json_fn(m, tmpl, sizeof tmpl - 1, json, sizeof json - 1, NULL, 0, NULL, 0, false, text,
                              sizeof text, &n) != LLAMETTE_OK ||
      strcmp(text, "<s>tool;") != 0)
    return 32;
  static const char raises[] = "{{ raise_exception('nope') }}";
  if (render_template_fn(m, raises, sizeof raises - 1, dialog, n_dialog, true, text, sizeof text, &n) !=
      LLAMETTE_ERR_BAD_CHAT)
    return 33;
  /* The file's own template (NULL). */
  if (render_template_fn(m, NULL, 0, dialog, n_dialog, true, text, sizeof text, &n) != LLAMETTE_ERR_BUFFER_TOO_SMALL ||
      n < 32)
    return 34;

  LlametteVocabInfo vi = {0};
  vi.size = sizeof vi;
  if (vocab_info_fn(m, &vi) != LLAMETTE_OK || vi.n_tokens != 32016 || vi.bos != 1 || vi.eos != 2 ||
      vi.eot != 32015 || vi.sep != -1 || vi.nl != 13 || vi.fim_pre != 32007 || vi.fim_suf != 32008 ||
      vi.fim_mid != 32009 || vi.fim_pad != -1 || !vi.add_bos || vi.add_eos)
    return 35;
  uint32_t attr = 0;
  if (token_attr_fn(m, 32015, &attr) != LLAMETTE_OK || attr != LLAMETTE_TOKEN_ATTR_CONTROL) return 36;
  if (token_attr_fn(m, 32016, &attr) != LLAMETTE_ERR_BAD_TOKEN) return 37;
  uint32_t eog[8];
  if (eog_tokens_fn(m, NULL, 0, &n) != LLAMETTE_ERR_BUFFER_TOO_SMALL || n != 2) return 38;
  if (eog_tokens_fn(m, eog, 8, &n) != LLAMETTE_OK || n != 2 || eog[0] != 2 || eog[1] != 32015) return 39;

  LlametteInfillParams ip = llamette_infill_default_params();
  if (ip.n_batch != 2048 || ip.n_predict != -1 || ip.n_ctx != 4096 || ip.spm_infill) return 40;
  static const char prefix[] = "def add(a, b):\n    ";
  static const char suffix[] = "\n\nprint(add(1, 2))\n";
  static const uint32_t want_ids[] = {1,     32007, 822,   788,   29898, 29874, 29892, 289,   1125,
                                      13,    268,   32008, 29871, 13,    13,    2158,  29898, 1202,
                                      29898, 29896, 29892, 29871, 29906, 876,   13,    32009};
  uint32_t ids[64];
  if (infill_tokens_fn(m, prefix, sizeof prefix - 1, suffix, sizeof suffix - 1, NULL, 0, NULL, 0, &ip, ids, 64,
                       &n) != LLAMETTE_OK ||
      n != sizeof want_ids / sizeof want_ids[0] || memcmp(ids, want_ids, sizeof want_ids) != 0)
    return 41;
  /* With repository chunks (a NULL filename is "tmp"): longer, still ending in MID. */
  const LlametteInfillChunk chunks[] = {{"util.py", 7, "x = 1\n", 6}, {NULL, 0, "y = 2\n", 6}};
  if (infill_tokens_fn(m, prefix, sizeof prefix - 1, suffix, sizeof suffix - 1, chunks, 2, NULL, 0, NULL, ids, 64,
                       &n) != LLAMETTE_OK ||
      n <= sizeof want_ids / sizeof want_ids[0] || ids[n - 1] != 32009)
    return 42;
  if (infill_stop_fn(m, ids, 64, &n) != LLAMETTE_OK || n < 2) return 43;

  /* A vocabulary-only model has no pooling (and the output stays untouched). */
  int32_t pooling = 7;
  if (model_pooling_fn(m, &pooling) != LLAMETTE_ERR_INVALID_ARGUMENT || pooling != 7) return 44;
  LlametteContextParamsEx cx = llamette_context_default_params_ex();
  if (cx.size != sizeof cx || cx.embeddings || cx.n_seq_max != 1) return 45;
  cx.embeddings = true;
  cx.n_outputs_max = cx.n_batch;
  LlametteContext *c = NULL;
  /* No context either; the embedding calls refuse NULL. */
  if (context_new_ex_fn(m, &cx, &c) == LLAMETTE_OK || c != NULL) return 46;
  const float *row = NULL;
  size_t n_embd = 0;
  if (embeddings_ith_fn(NULL, 0, &row, &n_embd) != LLAMETTE_ERR_NULL_ARGUMENT) return 47;
  const uint32_t seq[] = {1, 2};
  const uint32_t *seqs[] = {seq};
  const size_t lens[] = {2};
  float out[4];
  if (embed_fn(NULL, seqs, lens, 1, LLAMETTE_POOLING_MEAN, 2, out, 4, &n) != LLAMETTE_ERR_NULL_ARGUMENT) return 48;
  return 0;
}

/* Uses the declarations the Swift binding relies on; returns 0 when the library matches. */
static int use_declarations(const char *vocab_path) {
  LlametteParallelFn parallel = run_serially;
  LlamettePieceFn piece = on_piece;
  LlametteLogitsProcessorFn processor = ban_first;
  (void)parallel;
  (void)piece;

  uint32_t version = llamette_version();
  uint32_t header = (LLAMETTE_VERSION_MAJOR << 16) | (LLAMETTE_VERSION_MINOR << 8) | LLAMETTE_VERSION_PATCH;
  if (version != header) return 10;

  LlametteContextParams cp = llamette_context_default_params();
  LlametteSamplerParams sp = llamette_sampler_default_params();
  if (cp.n_ctx == 0 || cp.kv_type != LLAMETTE_KV_F16 || sp.top_k != 40) return 11;

  LlametteGenerateParams gp = {0};
  uint32_t flag = 0;
  cllamette_abort_flag_store(&flag, 1);
  gp.abort_flag = &flag;
  if (cllamette_abort_flag_load(&flag) != 1 || *gp.abort_flag != 1) return 12;

  /* The extensible parameters: sizes set, llama.cpp's defaults, the fields Swift sets. */
  LlametteSamplerParamsEx sx = llamette_sampler_default_params_ex();
  if (sx.size != sizeof sx || sx.base.top_k != 40 || sx.typ_p != 1.0f || sx.mirostat != 0 ||
      sx.dry_allowed_length != 2 || sx.dry_sequence_breakers != NULL)
    return 23;
  LlametteGenerateParamsEx gx = llamette_generate_default_params_ex();
  if (gx.size != sizeof gx || gx.n_logprobs != -1 || gx.on_token != NULL || gx.reuse_prefix) return 24;
  gx.on_token = on_token;
  gx.token_user = NULL;
  gx.base.abort_flag = &flag;
  LlametteTokenLogprob lp = {0};
  if (sizeof lp.top_tokens / sizeof lp.top_tokens[0] != LLAMETTE_MAX_TOP_LOGPROBS ||
      sizeof lp.top_logprobs / sizeof lp.top_logprobs[0] != LLAMETTE_MAX_TOP_LOGPROBS)
    return 25;
  LlamettePerfContextData perf = {0};
  if (perf.n_p_eval != 0 || perf.t_start_ms != 0.0) return 26;

  if (vocab_path == NULL) return 0;
  LlametteModel *m = NULL;
  LlametteStatus st = llamette_model_load(vocab_path, &m);
  if (st != LLAMETTE_OK) return 13;
  LlametteModelInfo info;
  if (llamette_model_info(m, &info) != LLAMETTE_OK || info.n_vocab == 0) return 14;

  /* Tokenize with the two-call pattern the binding uses, then detokenize. */
  static const char text[] = "Hello world";
  size_t n = 0;
  st = llamette_tokenize(m, text, sizeof text - 1, false, false, NULL, 0, &n);
  if (st != LLAMETTE_ERR_BUFFER_TOO_SMALL || n == 0 || n > 64) return 15;
  uint32_t ids[64];
  if (llamette_tokenize(m, text, sizeof text - 1, false, false, ids, 64, &n) != LLAMETTE_OK) return 16;
  LlametteDetokenizer *d = NULL;
  if (llamette_detokenizer_new(m, &d) != LLAMETTE_OK) return 17;
  char out[256];
  size_t len = 0;
  for (size_t i = 0; i <= n; i++) {
    const char *t = NULL;
    size_t tl = 0;
    st = i < n ? llamette_detokenizer_push(d, ids[i], &t, &tl) : llamette_detokenizer_finish(d, &t, &tl);
    if (st != LLAMETTE_OK || len + tl >= sizeof out) return 18;
    for (size_t k = 0; k < tl; k++) out[len++] = t[k];
  }
  out[len] = '\0';
  llamette_detokenizer_free(d);

  /* The CodeLlama-70B-Instruct dialog of tests/c/test_chat.c renders to Meta's reference ids. */
  static const LlametteMessage dialog[] = {
      {"system", 6, "System prompt    ", 17},
      {"user", 4, "First user query", 16},
      {"assistant", 9, "Model response to first query", 29},
      {"user", 4, "Second user query", 17},
  };
  static const uint32_t expected[] = {
      1,     7562,  29901, 1788,  13,    13,    2184,  9508,  32015, 7562,  29901, 1404, 13,
      13,    3824,  1404,  2346,  32015, 7562,  29901, 20255, 13,    13,    8125,  2933, 304,
      937,   2346,  32015, 7562,  29901, 1404,  13,    13,    6440,  1404,  2346,  32015, 7562,
      29901, 20255, 13,    14994, 3381,  29901, 1404,  13,    13,    29871};
  const size_t n_expected = sizeof expected / sizeof expected[0];
  LlametteChatFormat format = LLAMETTE_CHAT_CODELLAMA_70B;
  st = llamette_chat_render_ids(m, format, dialog, 4, true, NULL, 0, &n);
  if (st != LLAMETTE_ERR_BUFFER_TOO_SMALL || n != n_expected) return 19;
  uint32_t chat_ids[64];
  if (llamette_chat_render_ids(m, format, dialog, 4, true, chat_ids, 64, &n) != LLAMETTE_OK) return 20;
  for (size_t i = 0; i < n_expected; i++)
    if (chat_ids[i] != expected[i]) return 21;

  /* A sampler with DRY and given breakers (an array of const char *, as Swift passes it), and
   * a logits processor set and removed. */
  const char *breakers[] = {"\n", "ab"};
  sx.dry_multiplier = 0.8f;
  sx.dry_sequence_breakers = breakers;
  sx.n_dry_sequence_breakers = 2;
  LlametteSampler *s = NULL;
  if (llamette_sampler_new_ex(m, &sx, &s) != LLAMETTE_OK) return 27;
  if (llamette_sampler_set_logits_processor(s, processor, NULL) != LLAMETTE_OK ||
      llamette_sampler_set_logits_processor(s, NULL, NULL) != LLAMETTE_OK)
    return 28;
  llamette_sampler_free(s);
  sx.mirostat = 3;
  s = NULL;
  if (llamette_sampler_new_ex(m, &sx, &s) != LLAMETTE_ERR_INVALID_ARGUMENT || s != NULL) return 29;

  int rc = use_issue_19(m, dialog, 4);
  if (rc != 0) return rc;

  llamette_model_free(m);
  /* SentencePiece's leading space: " Hello world". */
  return len == 12 && out[0] == ' ' && out[1] == 'H' && out[11] == 'd' ? 0 : 22;
}

int main(int argc, char **argv) {
  int rc = use_declarations(argc > 1 ? argv[1] : NULL);
#ifndef __OBJC__
  if (rc == 0) printf("import_check: CLlamette module linked and ran: version %u\n", (unsigned)llamette_version());
  else fprintf(stderr, "import_check: failed with code %d: %s\n", rc, llamette_last_error());
#endif
  return rc;
}
