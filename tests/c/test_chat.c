/* The CodeLlama-70B-Instruct dialog of the model card renders to Meta's reference ids and to
 * the Hugging Face template's string (tests/fixtures/chat/codellama-70b-instruct.json), with the
 * real 32016-token vocabulary (tests/fixtures/vocab/codellama-70b-instruct-vocab.gguf, a GGUF
 * with the vocabulary and no tensors). */
#include "common.h"

#define VOCAB_70B "vocab/codellama-70b-instruct-vocab.gguf"
/* SentencePiece pieces keep their leading space ("▁Source" is " Source"). */
#define DETOK_FIRST_TURN " Source: system\n\n System prompt"

#define MSG(r, c) {r, sizeof(r) - 1, c, sizeof(c) - 1}

static const LlametteMessage DIALOG[] = {
    MSG("system", "System prompt    "),
    MSG("user", "First user query"),
    MSG("assistant", "Model response to first query"),
    MSG("user", "Second user query"),
};

/* expected_tokens: Meta's dialog_prompt_tokens with the real vocabulary. */
static const uint32_t EXPECTED_TOKENS[] = {
    1,    7562, 29901, 1788,  13,   13,    2184, 9508, 32015, 7562, 29901, 1404, 13,
    13,   3824, 1404,  2346,  32015, 7562, 29901, 20255, 13,   13,   8125,  2933, 304,
    937,  2346, 32015, 7562,  29901, 1404,  13,   13,    6440, 1404, 2346,  32015, 7562,
    29901, 20255, 13,   14994, 3381,  29901, 1404,  13,    13,   29871};

/* llama_cpp_tokens_of_expected_prompt: the string tokenized with special tokens parsed. */
static const uint32_t LLAMA_CPP_TOKENS[] = {
    1,    7562, 29901, 1788,  13,    13,    2184,  9508,  29871, 32015, 29871, 7562,  29901,
    1404, 13,   13,    3824,  1404,  2346,  29871, 32015, 29871, 7562,  29901, 20255, 13,
    13,   8125, 2933,  304,   937,   2346,  29871, 32015, 29871, 7562,  29901, 1404,  13,
    13,   6440, 1404,  2346,  29871, 32015, 29871, 7562,  29901, 20255, 13,    14994, 3381,
    29901, 1404, 13,   13,    29871};

/* The same dialog in Meta's scheme (each turn "Source: ROLE\n\n CONTENT" encoded on its own
 * by SentencePiece, <step> after each, then the assistant header) with the tiny model's
 * vocabulary: the first 1023 pieces of the real one, <step> at 1023. Made by an independent
 * Python SentencePiece-BPE encoder that reproduces EXPECTED_TOKENS exactly with the real
 * vocabulary; most words fall back to shorter pieces or bytes (the trailing U+2581 is
 * <0xE2><0x96><0x81> = 229 153 132). */
static const uint32_t TINY_EXPECTED_TOKENS[] = {
    1,   317, 473, 346, 61,  269, 973, 13,  13,  317,  973, 282, 456, 415, 1023, 317, 473, 346,
    61,  502, 261, 13,  13,  383, 765, 502, 261, 439,  708, 1023, 317, 473, 346, 61,   408, 118,
    391, 424, 13,  13,  341, 397, 295, 620, 115, 265,  344, 304, 937, 439, 708, 1023, 317, 473,
    346, 61,  502, 261, 13,  13,  922, 535, 103, 502,  261, 439, 708, 1023, 317, 473, 346, 61,
    408, 118, 391, 424, 13,  71,  342, 262, 362, 61,   502, 261, 13,  13,  229, 153, 132};

static const char EXPECTED_PROMPT[] =
    "<s>Source: system\n\n System prompt <step> Source: user\n\n First user query <step> "
    "Source: assistant\n\n Model response to first query <step> Source: user\n\n Second user "
    "query <step> Source: assistant\nDestination: user\n\n ";

/* Meta's reference with the empty system turn it inserts, for [user "Write a haiku about
 * Rust."], tiny vocabulary (same Python encoder). */
static const uint32_t TINY_HAIKU_TOKENS[] = {
    1,   317, 473, 346, 61,  269, 973, 13,  13,  229, 153, 132, 1023, 317, 473, 346, 61,  502,
    261, 13,  13,  399, 117, 568, 263, 447, 638, 120, 633,  449, 390, 504, 49,  1023, 317, 473,
    346, 61,  408, 118, 391, 424, 13,  71,  342, 262, 362,  61,  502, 261, 13,  13,  229, 153,
    132};

/* With the real 32016-token vocabulary: Meta's ids, the template's string, llama.cpp's ids of
 * that string, the stop tokens. */
static void check_real_vocabulary(LlametteModel *m) {
  LlametteModelInfo info;
  CHECK_OK(llamette_model_info(m, &info));
  CHECK_EQ_U(info.n_vocab, 32016);
  CHECK_EQ_I(info.eot, 32015);
  CHECK_EQ_I(info.chat_format, LLAMETTE_CHAT_CODELLAMA_70B);
  uint32_t ids[256];
  size_t n = 0;
  CHECK_OK(llamette_chat_render_ids(m, LLAMETTE_CHAT_NONE, DIALOG, N_OF(DIALOG), true, ids,
                                    N_OF(ids), &n));
  CHECK_IDS("render_ids, real vocabulary", ids, n, EXPECTED_TOKENS, N_OF(EXPECTED_TOKENS));
  char text[1024];
  CHECK_OK(llamette_chat_render(m, LLAMETTE_CHAT_NONE, DIALOG, N_OF(DIALOG), true, text,
                                sizeof text, &n));
  CHECK_MSG(!strcmp(text, EXPECTED_PROMPT), "render gave '%s'", text);
  CHECK_OK(llamette_tokenize(m, EXPECTED_PROMPT, strlen(EXPECTED_PROMPT), false, true, ids,
                             N_OF(ids), &n));
  CHECK_IDS("tokenize(expected_prompt)", ids, n, LLAMA_CPP_TOKENS, N_OF(LLAMA_CPP_TOKENS));
  uint32_t stops[8];
  const uint32_t want[] = {2, 32015};
  CHECK_OK(llamette_chat_stop_tokens(m, LLAMETTE_CHAT_NONE, stops, N_OF(stops), &n));
  CHECK_IDS("stop tokens, real vocabulary", stops, n, want, N_OF(want));
}

int main(int argc, char **argv) {
  test_begin("test_chat", argc, argv);

  /* The real vocabulary is a GGUF with no tensors: the C ABI gives a vocabulary-only handle
   * that tokenizes and renders chats (a context from it is refused). */
  {
    size_t len = 0;
    uint8_t *bytes = read_file(fixture(VOCAB_70B), &len);
    LlametteModel *m = NULL;
    CHECK_OK(llamette_model_from_memory(bytes, len, &m));
    check_real_vocabulary(m);
    LlametteContext *c = NULL;
    CHECK_STATUS(llamette_context_new(m, NULL, &c), LLAMETTE_ERR_INVALID_ARGUMENT);
    CHECK(c == NULL);
    llamette_model_free(m);
    free(bytes);
  }

  uint8_t *bytes = NULL;
  LlametteModel *m = load_fixture(TINY_Q8, &bytes);
  LlametteModelInfo info;
  CHECK_OK(llamette_model_info(m, &info));
  CHECK_EQ_I(info.chat_format, LLAMETTE_CHAT_NONE); /* no tokenizer.chat_template */
  char piece[16];
  size_t n = 0;
  CHECK_OK(llamette_token_to_piece(m, 1023, true, piece, sizeof piece, &n));
  CHECK(n == 6 && !memcmp(piece, "<step>", 6));

  /* Ids in Meta's scheme. */
  uint32_t ids[256];
  CHECK_OK(llamette_chat_render_ids(m, LLAMETTE_CHAT_CODELLAMA_70B, DIALOG, N_OF(DIALOG), true,
                                    ids, N_OF(ids), &n));
  CHECK_IDS("render_ids", ids, n, TINY_EXPECTED_TOKENS, N_OF(TINY_EXPECTED_TOKENS));
  /* The model has no format of its own: NONE is refused. */
  CHECK_STATUS(llamette_chat_render_ids(m, LLAMETTE_CHAT_NONE, DIALOG, N_OF(DIALOG), true, ids,
                                        N_OF(ids), &n),
               LLAMETTE_ERR_INVALID_ARGUMENT);
  /* Exactly the needed room works; one less reports the size; NULL with 0 asks for it. */
  CHECK_OK(llamette_chat_render_ids(m, LLAMETTE_CHAT_CODELLAMA_70B, DIALOG, N_OF(DIALOG), true,
                                    ids, N_OF(TINY_EXPECTED_TOKENS), &n));
  CHECK_EQ_U(n, N_OF(TINY_EXPECTED_TOKENS));
  n = 0;
  CHECK_STATUS(llamette_chat_render_ids(m, LLAMETTE_CHAT_CODELLAMA_70B, DIALOG, N_OF(DIALOG),
                                        true, ids, N_OF(TINY_EXPECTED_TOKENS) - 1, &n),
               LLAMETTE_ERR_BUFFER_TOO_SMALL);
  CHECK_EQ_U(n, N_OF(TINY_EXPECTED_TOKENS));
  n = 0;
  CHECK_STATUS(llamette_chat_render_ids(m, LLAMETTE_CHAT_CODELLAMA_70B, DIALOG, N_OF(DIALOG),
                                        true, NULL, 0, &n),
               LLAMETTE_ERR_BUFFER_TOO_SMALL);
  CHECK_EQ_U(n, N_OF(TINY_EXPECTED_TOKENS));

  /* Without a system message, Meta's code inserts an empty system turn. */
  {
    const LlametteMessage one[] = {MSG("user", "Write a haiku about Rust.")};
    CHECK_OK(llamette_chat_render_ids(m, LLAMETTE_CHAT_CODELLAMA_70B, one, 1, true, ids,
                                      N_OF(ids), &n));
    CHECK_IDS("render_ids (no system turn)", ids, n, TINY_HAIKU_TOKENS, N_OF(TINY_HAIKU_TOKENS));
  }

  /* The string: the Hugging Face template's (no vocabulary involved). */
  char text[1024];
  CHECK_OK(llamette_chat_render(m, LLAMETTE_CHAT_CODELLAMA_70B, DIALOG, N_OF(DIALOG), true, text,
                                sizeof text, &n));
  CHECK_EQ_U(n, strlen(EXPECTED_PROMPT));
  CHECK_MSG(!strcmp(text, EXPECTED_PROMPT), "render gave '%s'", text);
  n = 0;
  CHECK_STATUS(llamette_chat_render(m, LLAMETTE_CHAT_CODELLAMA_70B, DIALOG, N_OF(DIALOG), true,
                                    text, strlen(EXPECTED_PROMPT), &n),
               LLAMETTE_ERR_BUFFER_TOO_SMALL);
  CHECK_EQ_U(n, strlen(EXPECTED_PROMPT));

  /* Roles must alternate. */
  {
    const LlametteMessage bad[] = {MSG("user", "a"), MSG("user", "b")};
    CHECK_STATUS(llamette_chat_render_ids(m, LLAMETTE_CHAT_CODELLAMA_70B, bad, 2, true, ids,
                                          N_OF(ids), &n),
                 LLAMETTE_ERR_BAD_CHAT);
    CHECK(strlen(llamette_last_error()) > 0);
  }

  /* Generation stops at </s> or <step>. */
  {
    uint32_t stops[8];
    const uint32_t want[] = {2, 1023};
    CHECK_OK(llamette_chat_stop_tokens(m, LLAMETTE_CHAT_CODELLAMA_70B, stops, N_OF(stops), &n));
    CHECK_IDS("stop tokens", stops, n, want, N_OF(want));
  }

  /* The streaming detokenizer gives the first turn's text back; BOS and <step> are control
   * tokens and produce no text. */
  {
    LlametteDetokenizer *d = NULL;
    CHECK_OK(llamette_detokenizer_new(m, &d));
    char out[1024];
    size_t len = 0;
    const char *p = NULL;
    size_t p_len = 0;
    for (size_t i = 0; i <= 15; i++) { /* <s> Source: system\n\n System prompt <step> */
      if (i < 15) CHECK_OK(llamette_detokenizer_push(d, TINY_EXPECTED_TOKENS[i], &p, &p_len));
      else CHECK_OK(llamette_detokenizer_finish(d, &p, &p_len));
      CHECK(len + p_len < sizeof out);
      memcpy(out + len, p, p_len);
      len += p_len;
    }
    out[len] = '\0';
    CHECK_MSG(!strcmp(out, DETOK_FIRST_TURN), "detokenized '%s'", out);
    llamette_detokenizer_free(d);
  }

  llamette_model_free(m);
  free(bytes);
  return test_end();
}
