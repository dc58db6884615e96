/* Built by tests/c/run.sh against an installed copy (make install) with
 * `cc $(pkg-config --cflags --libs llamette) pkgconfig_smoke.c`: loads MODEL and checks it. */
#include <stdio.h>
#include <string.h>

#include <llamette.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: pkgconfig_smoke MODEL\n");
    return 2;
  }
  LlametteModel *m = NULL;
  LlametteStatus s = llamette_model_load(argv[1], &m);
  if (s != LLAMETTE_OK) {
    fprintf(stderr, "pkgconfig_smoke: %s: %s\n", llamette_status_message(s), llamette_last_error());
    return 1;
  }
  LlametteModelInfo info;
  s = llamette_model_info(m, &info);
  uint32_t v = llamette_version();
  printf("llamette %u.%u.%u: n_vocab %u, n_embd %u, n_layer %u\n", v >> 16, (v >> 8) & 0xff,
         v & 0xff, info.n_vocab, info.n_embd, info.n_layer);
  llamette_model_free(m);
  return s == LLAMETTE_OK && info.n_vocab == 1024 && v == 0x000100 ? 0 : 1;
}
