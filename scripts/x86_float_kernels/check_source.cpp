// Cross-check: recompute the golden's directly-called kernels with ggml-cpu/vec.cpp compiled
// from the llama.cpp 0c1e570 *source* (same flags as the reference build) instead of the
// installed libggml-cpu.so, and compare bit for bit.
//
// Covers kinds 1-3 (ggml_vec_dot_f32/f16/bf16), 7 (ggml_v_expf via ggml_vec_soft_max_f32) and
// 9 (ggml_vec_swiglu_f32). Linked with vec.o only; the one table vec.cpp needs from
// ggml-cpu.c, ggml_table_f32_f16, is filled here as ggml_cpu_init() does (exact f16 -> f32).
//
// Usage: check_source GOLDEN_FILE      (exit status 0 iff every value matches)

#include <immintrin.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

extern "C" {
float ggml_table_f32_f16[1 << 16];
void ggml_vec_dot_f32(int n, float * s, size_t bs, const float * x, size_t bx, const float * y, size_t by, int nrc);
void ggml_vec_dot_f16(int n, float * s, size_t bs, uint16_t * x, size_t bx, uint16_t * y, size_t by, int nrc);
void ggml_vec_dot_bf16(int n, float * s, size_t bs, uint16_t * x, size_t bx, uint16_t * y, size_t by, int nrc);
double ggml_vec_soft_max_f32(const int n, float * y, const float * x, float max);
void ggml_vec_swiglu_f32(const int n, float * y, const float * x, const float * g);
}

static std::vector<uint8_t> g_file;
static size_t g_pos = 0;
static uint32_t u32() { uint32_t v; memcpy(&v, &g_file[g_pos], 4); g_pos += 4; return v; }
static float f32() { float v; memcpy(&v, &g_file[g_pos], 4); g_pos += 4; return v; }
static std::vector<float> f32s(size_t n) { std::vector<float> v(n); memcpy(v.data(), &g_file[g_pos], 4 * n); g_pos += 4 * n; return v; }
static std::vector<uint16_t> u16s(size_t n) { std::vector<uint16_t> v(n); memcpy(v.data(), &g_file[g_pos], 2 * n); g_pos += 2 * n; return v; }
static uint32_t bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

int main(int argc, char ** argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s GOLDEN_FILE\n", argv[0]); return 2; }
    for (uint32_t i = 0; i < (1u << 16); i++) ggml_table_f32_f16[i] = _cvtsh_ss((unsigned short) i);

    FILE * f = fopen(argv[1], "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", argv[1]); return 1; }
    uint8_t buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) g_file.insert(g_file.end(), buf, buf + got);
    fclose(f);
    if (g_file.size() < 16 || memcmp(g_file.data(), "LMXFK001", 8) != 0) { fprintf(stderr, "bad magic\n"); return 1; }
    g_pos = 8;
    if (u32() != 1) { fprintf(stderr, "bad version\n"); return 1; }
    const uint32_t n_sections = u32();

    long checked = 0, bad = 0;
    auto cmp = [&](float a, float b, const char * what, uint32_t n) {
        checked++;
        if (bits(a) != bits(b)) { bad++; if (bad < 20) fprintf(stderr, "%s n=%u: source %a, golden %a\n", what, n, a, b); }
    };
    for (uint32_t s = 0; s < n_sections; s++) {
        const uint32_t kind = u32(), n_cases = u32(), len = u32();
        const size_t end = g_pos + len;
        for (uint32_t c = 0; c < n_cases && (kind <= 3 || kind == 7 || kind == 9); c++) {
            const uint32_t n = u32();
            float r = 0;
            if (kind == 1) {
                auto x = f32s(n), y = f32s(n);
                ggml_vec_dot_f32((int) n, &r, 0, x.data(), 0, y.data(), 0, 1);
                cmp(r, f32(), "vec_dot_f32", n);
            } else if (kind == 2 || kind == 3) {
                auto x = u16s(n), y = u16s(n);
                if (kind == 2) ggml_vec_dot_f16((int) n, &r, 0, x.data(), 0, y.data(), 0, 1);
                else ggml_vec_dot_bf16((int) n, &r, 0, x.data(), 0, y.data(), 0, 1);
                cmp(r, f32(), kind == 2 ? "vec_dot_f16" : "vec_dot_bf16", n);
            } else if (kind == 7) {
                auto x = f32s(n), want = f32s(n);
                std::vector<float> y(n);
                ggml_vec_soft_max_f32((int) n, y.data(), x.data(), 0.0f);
                for (uint32_t i = 0; i < n; i++) cmp(y[i], want[i], "v_expf", n);
            } else {
                auto g = f32s(n), u = f32s(n), want = f32s(n);
                std::vector<float> y(n);
                ggml_vec_swiglu_f32((int) n, y.data(), g.data(), u.data());
                for (uint32_t i = 0; i < n; i++) cmp(y[i], want[i], "swiglu", n);
            }
        }
        g_pos = end;
    }
    fprintf(stderr, "vec.cpp from source vs golden: %ld values checked, %ld differ\n", checked, bad);
    return bad == 0 && checked > 0 ? 0 : 1;
}
