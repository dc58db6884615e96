/* Grammars through the C ABI on tiny-codellama.q8_0: GBNF, a JSON schema and a regular
 * expression constrain llamette_generate (greedy, exact texts, as src/ffi/tests.rs pins them);
 * a host's own loop (llamette_sampler_sample + llamette_sampler_accept_sampled) follows the
 * grammar token by token; bad grammars say where; a grammar that allows nothing stops
 * generation. Every grammar handle is freed right after it is set on a sampler (valgrind checks
 * that the sampler keeps its own copy). */
#include "common.h"

typedef struct {
  char text[1024];
  size_t len;
} Text;

static bool collect(void *user, const char *text, size_t len) {
  Text *t = (Text *)user;
  CHECK(len > 0);
  CHECK(t->len + len < sizeof t->text);
  memcpy(t->text + t->len, text, len);
  t->len += len;
  t->text[t->len] = '\0';
  return true;
}

static LlametteContext *new_ctx(LlametteModel *m) {
  LlametteContextParams cp = llamette_context_default_params();
  cp.n_ctx = 256;
  LlametteContext *c = NULL;
  CHECK_OK(llamette_context_new(m, &cp, &c));
  return c;
}

static LlametteSampler *new_greedy(LlametteModel *m) {
  LlametteSamplerParams sp = greedy_params();
  LlametteSampler *s = NULL;
  CHECK_OK(llamette_sampler_new(m, &sp, &s));
  return s;
}

/* Greedy llamette_generate from golden case 0's prompt under g (freed here, before
 * generating). */
static LlametteStopReason generate_under(LlametteModel *m, LlametteGrammar *g, int32_t n_predict,
                                         Text *out) {
  LlametteContext *c = new_ctx(m);
  LlametteSampler *s = new_greedy(m);
  CHECK_OK(llamette_sampler_set_grammar(s, g));
  llamette_grammar_free(g);
  LlametteGenerateParams gp;
  memset(&gp, 0, sizeof gp);
  gp.n_predict = n_predict;
  LlametteStopReason reason = LLAMETTE_STOP_LENGTH;
  uint32_t n = 0;
  out->len = 0;
  out->text[0] = '\0';
  CHECK_OK(llamette_generate(c, s, GOLDEN0_PROMPT, N_OF(GOLDEN0_PROMPT), &gp, collect, out,
                             &reason, &n));
  llamette_sampler_free(s);
  llamette_context_free(c);
  return reason;
}

static LlametteGrammar *gbnf(LlametteModel *m, const char *text) {
  LlametteGrammar *g = NULL;
  CHECK_OK(llamette_grammar_from_gbnf(m, text, strlen(text), NULL, &g));
  CHECK(g != NULL);
  return g;
}

int main(int argc, char **argv) {
  test_begin("test_grammar", argc, argv);
  uint8_t *bytes = NULL;
  LlametteModel *m = load_fixture(TINY_Q8, &bytes);
  Text t;

  /* 1. GBNF: three short words and a full stop; complete, so it ends by end-of-generation. */
  {
    LlametteGrammar *g = gbnf(NULL, "root ::= word (\" \" word){2} \".\"\nword ::= [a-z]{1,6}\n");
    CHECK_EQ_I(generate_under(m, g, 64, &t), LLAMETTE_STOP_EOG);
    CHECK_MSG(strcmp(t.text, "orsw obli byoukb.") == 0, "got \"%s\"", t.text);
  }

  /* 2. A JSON schema, and any JSON object. */
  {
    const char *schema = "{\"type\": \"object\", \"properties\": {\"ok\": {\"type\": \"boolean\"},"
                         " \"size\": {\"enum\": [\"small\", \"large\"]}},"
                         " \"required\": [\"ok\", \"size\"]}";
    LlametteGrammar *g = NULL;
    CHECK_OK(llamette_grammar_from_json_schema(schema, strlen(schema), &g));
    CHECK_EQ_I(generate_under(m, g, 96, &t), LLAMETTE_STOP_EOG);
    const char *want = "{\"ok\" :true ,\n               \"size\"\n                 \t  : \"large\" }";
    CHECK_MSG(strcmp(t.text, want) == 0, "got \"%s\"", t.text);
    g = NULL;
    CHECK_OK(llamette_grammar_json_object(&g));
    CHECK_EQ_I(generate_under(m, g, 8, &t), LLAMETTE_STOP_EOG);
    CHECK_MSG(strcmp(t.text, "{}") == 0, "got \"%s\"", t.text);
  }

  /* 3. A regular expression; and one whose language is empty stops generation at once. */
  {
    LlametteGrammar *g = NULL;
    const char *rx = "[0-9]{3}-[A-Z]{2}";
    CHECK_OK(llamette_grammar_from_regex(rx, strlen(rx), &g));
    CHECK_EQ_I(generate_under(m, g, 32, &t), LLAMETTE_STOP_EOG);
    CHECK_MSG(strcmp(t.text, "290-ER") == 0, "got \"%s\"", t.text);
    const char *nothing = "[^\\s\\S]";
    CHECK_OK(llamette_grammar_from_regex(nothing, strlen(nothing), &g));
    CHECK_EQ_I(generate_under(m, g, 32, &t), LLAMETTE_STOP_GRAMMAR);
    CHECK_EQ_U(t.len, 0);
    CHECK(strstr(llamette_last_error(), "regular expression") != NULL);
  }

  /* 4. Bad grammars: the status, where, and `out` untouched. */
  {
    LlametteGrammar *sentinel = (LlametteGrammar *)&t, *g = sentinel;
    const char *bad = "root ::= \"a\" b";
    CHECK_STATUS(llamette_grammar_from_gbnf(NULL, bad, strlen(bad), NULL, &g),
                 LLAMETTE_ERR_BAD_GRAMMAR);
    CHECK(g == sentinel);
    CHECK_MSG(strcmp(llamette_last_error(), "llamette_grammar_from_gbnf: bad grammar: GBNF line 1, "
                                            "column 14: undefined rule 'b'") == 0,
              "%s", llamette_last_error());
    const char *schema = "{\"type\": }";
    CHECK_STATUS(llamette_grammar_from_json_schema(schema, strlen(schema), &g),
                 LLAMETTE_ERR_BAD_GRAMMAR);
    CHECK(g == sentinel);
    CHECK(strstr(llamette_last_error(), "JSON schema line 1, column ") != NULL);
    CHECK_STATUS(llamette_grammar_from_regex("a(", 2, &g), LLAMETTE_ERR_BAD_GRAMMAR);
    CHECK_STATUS(llamette_grammar_from_gbnf(NULL, NULL, 3, NULL, &g), LLAMETTE_ERR_NULL_ARGUMENT);
    CHECK_STATUS(llamette_grammar_json_object(NULL), LLAMETTE_ERR_NULL_ARGUMENT);
    CHECK_STATUS(llamette_sampler_set_grammar(NULL, NULL), LLAMETTE_ERR_NULL_ARGUMENT);
    CHECK_STATUS(llamette_sampler_accept_sampled(NULL, 0), LLAMETTE_ERR_NULL_ARGUMENT);
    CHECK(g == sentinel);
    llamette_grammar_free(NULL);
  }

  /* 5. A host's loop: sample, accept_sampled, eval. Two digits, a space and the control token
   * <step> (written by text: the model resolves it), then only the end. */
  {
    const char *step = "root ::= [0-9] [0-9] \" \" <step>";
    LlametteGrammar *g = NULL;
    CHECK_STATUS(llamette_grammar_from_gbnf(NULL, step, strlen(step), NULL, &g),
                 LLAMETTE_ERR_BAD_GRAMMAR);
    g = gbnf(m, step);
    LlametteContext *c = new_ctx(m);
    LlametteSampler *s = new_greedy(m);
    CHECK_OK(llamette_sampler_set_grammar(s, g));
    llamette_grammar_free(g);
    CHECK_OK(llamette_eval(c, GOLDEN0_PROMPT, N_OF(GOLDEN0_PROMPT)));
    uint32_t ids[8];
    size_t n = 0;
    for (;;) {
      uint32_t tok = UINT32_MAX;
      CHECK(n < N_OF(ids));
      CHECK_OK(llamette_sampler_sample(s, c, &tok));
      ids[n++] = tok;
      if (tok == 2) break; /* </s> */
      /* A letter is refused, and changes nothing. */
      CHECK_STATUS(llamette_sampler_accept_sampled(s, 100), LLAMETTE_ERR_CONSTRAINT);
      CHECK_OK(llamette_sampler_accept_sampled(s, tok));
      CHECK_OK(llamette_eval(c, &tok, 1));
    }
    CHECK_EQ_U(n, 5);
    CHECK(ids[0] >= 51 && ids[0] <= 60 && ids[1] >= 51 && ids[1] <= 60); /* "0".."9" */
    CHECK_EQ_U(ids[2], 35);                                              /* " " */
    CHECK_EQ_U(ids[3], 1023);                                            /* <step> */
    CHECK_OK(llamette_sampler_accept_sampled(s, 2));
    CHECK_STATUS(llamette_sampler_accept_sampled(s, 1024), LLAMETTE_ERR_BAD_TOKEN);
    llamette_sampler_free(s);
    llamette_context_free(c);
  }

  llamette_model_free(m);
  free(bytes);
  return test_end();
}
