/* Test descriptors and extras of the image family (spec §15).
 *
 * Cases are NHWC (the harness's layout hook): from the sweep's R and D,
 * C = D (at most 4097), N = 0, 1 or 2 for R = 0, 1 and more, and a small
 * image whose size follows R (1x1 for R = 1).  resize_bilinear upscales
 * (OH = 2H + 1, OW = 3.5W) in compact cases and downscales (÷2, ÷3) in the
 * "strided" ones (images are compact, so the flag picks the direction);
 * s[0] = align_corners.  depthwise_conv_3x3 has w [3, 3, C] (row-strided in
 * strided cases: a parameter need not be compact) and an optional bias.
 * Both are ACC against float64.  zkern bench takes 16 images of 128x128
 * (resize, to 256x256) or 256x256 (conv) with C = 64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/image.h>
#include "../src/ref/image.h"
#include "harness/checks.h"
#include "harness/harness.h"

static const zk_dtype all_dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

/* ------------------------------------------------------------ case shapes */

typedef struct image_dims {
  int64_t N, H, W, C, OH, OW;
} image_dims;

static int is_resize(const zk_op_test *t) { return !strcmp(t->op, "resize_bilinear"); }

static image_dims dims_of(const zk_case *c) {
  image_dims d = {0};
  int resize = is_resize(c->test);
  d.C = c->D;
  if (c->bench) {
    d.N = 16, d.H = d.W = resize ? 128 : 256, d.OH = d.OW = 256;
    return d;
  }
  d.N = c->R == 0 ? 0 : c->R == 1 ? 1 : 2;
  d.H = c->R <= 1 ? 1 : (resize ? 2 : 3) + c->R % 5;
  d.W = c->R <= 1 ? 1 : (resize ? 3 + c->R % 4 : 2 + c->R % 7);
  if (c->strided) d.OH = (d.H + 1) / 2, d.OW = (d.W + 2) / 3;
  else d.OH = 2 * d.H + 1, d.OW = 7 * d.W / 2;
  if (d.OW < 1) d.OW = 1;
  return d;
}

static void set_dims(zk_layout *L, int compact, int ndim, const int64_t *dims) {
  L->ndim = ndim;
  L->row_dims = 1;
  L->compact = compact;
  memcpy(L->dims, dims, (size_t)ndim * sizeof *dims);
}

static void image_layout(const zk_case *c, int k, zk_layout *L) {
  image_dims d = dims_of(c);
  const char *name = c->test->t[k].name;
  if (!strcmp(name, "w")) set_dims(L, 0, 3, (int64_t[]){3, 3, d.C});
  else if (!strcmp(name, "y") && is_resize(c->test)) set_dims(L, 1, 4, (int64_t[]){d.N, d.OH, d.OW, d.C});
  else set_dims(L, 1, 4, (int64_t[]){d.N, d.H, d.W, d.C});
}

/* The dims of tensor k as the case built them (extras change them). */
static image_dims case_dims(const zk_case *c, int x, int y) {
  image_dims d = {c->shape[x][0], c->shape[x][1], c->shape[x][2], c->shape[x][3], c->shape[y][1], c->shape[y][2]};
  return d;
}

/* ------------------------------------------------------ calls and references */

static zk_status call_resize(zk_ctx *ctx, zk_case *c) { return zk_resize_bilinear(ctx, ZT(c, 0), ZT(c, 1), (int)c->s[0]); }
static void ref_resize(zk_case *c) {
  image_dims d = case_dims(c, 0, 1);
  zk_ref_resize_bilinear(c->val[0], c->ref[1], c->refabs[1], d.N, d.H, d.W, d.C, d.OH, d.OW, (int)c->s[0]);
}

static zk_status call_conv(zk_ctx *ctx, zk_case *c) {
  return zk_depthwise_conv_3x3(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3));
}
static void ref_conv(zk_case *c) {
  image_dims d = case_dims(c, 0, 3);
  zk_ref_depthwise_conv_3x3(c->val[0], c->val[1], c->present[2] ? c->val[2] : NULL, c->ref[3], c->refabs[3], d.N, d.H,
                            d.W, d.C);
}

/* ---------------------------------------------------------------- descriptors */

#define IMG(name, role, tol) {name, role, ZK_SHAPE_CUSTOM, ZK_DT_CASE, 0, tol, ZK_DIST_NORMAL, 0, 0}
#define COMMON .layout = image_layout, .max_cols = 4097, .bench_rows = 1, .bench_cols = 64

static const zk_op_test image_tests[] = {
    {.op = "resize_bilinear",
     .t = {IMG("x", ZK_IN, 0), IMG("y", ZK_OUT, ZK_TOL_ACC)},
     .nt = 2,
     .call = call_resize,
     .ref = ref_resize,
     COMMON},
    {.op = "depthwise_conv_3x3",
     .t = {IMG("x", ZK_IN, 0), {"w", ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_PARAM, 0, 0, ZK_DIST_UNIFORM, -1, 1},
           {"bias", ZK_IN, ZK_SHAPE_VEC, ZK_DT_PARAM, 1, 0, ZK_DIST_UNIFORM, -1, 1}, IMG("y", ZK_OUT, ZK_TOL_ACC)},
     .nt = 4,
     .call = call_conv,
     .ref = ref_conv,
     COMMON},
};
#define N_OPS ((int)(sizeof image_tests / sizeof image_tests[0]))

/* ================================================================ extras */

/* A case of op with explicit dims (y's OH, OW for resize), checked against
 * float64; keep: the case is left to the caller (freed on failure). */
typedef struct explicit_dims {
  int64_t N, H, W, C, OH, OW;
} explicit_dims;

static explicit_dims wanted;

static void explicit_layout(const zk_case *c, int k, zk_layout *L) {
  const char *name = c->test->t[k].name;
  explicit_dims d = wanted;
  if (!strcmp(name, "w")) set_dims(L, 0, 3, (int64_t[]){3, 3, d.C});
  else if (!strcmp(name, "y") && is_resize(c->test)) set_dims(L, 1, 4, (int64_t[]){d.N, d.OH, d.OW, d.C});
  else set_dims(L, 1, 4, (int64_t[]){d.N, d.H, d.W, d.C});
}

/* The kept case points at its test: t (the variant of base) is the
 * caller's, and must outlive c. */
static int run_explicit(const zk_op_test *base, zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt,
                        explicit_dims d, int align, zk_tol tol, uint64_t seed, zk_case *c, char *msg, size_t cap) {
  *t = *base;
  t->layout = explicit_layout;
  t->scalars[0] = align;
  for (int k = 0; k < t->nt; k++)
    if (t->t[k].role == ZK_OUT) t->t[k].tol = tol;
  wanted = d;
  zk_case_opts o = {be, dt, all_dtypes[(seed >> 7) % 3], 1, d.C, (int)(seed & 1), 0, seed, -1, -1};
  return zk_run_case_kept(t, ctx, &o, c, msg, cap);
}

/* align_corners = 1 over the standard sweep's shapes. */
static int extra_align_corners_sweep(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  zk_op_test t = image_tests[0];
  t.scalars[0] = 1;
  zk_sweep_result res;
  zk_run_sweep(&t, ctx, be, &zk_standard_sweep, zk_test_seed() ^ 0xa1c, &res);
  if (!res.failed) return 0;
  snprintf(msg, cap, "align_corners: %d of %d cases failed: %s", res.failed, res.cases, res.first_failure);
  return 1;
}

/* The spec's resize cases, both align_corners values, every dtype: 1x2x3x1
 * -> 3x4, up x2 and x3.5, down ÷2 and ÷3, 1x1 sizes either way; C on the
 * vector path and off it; upscales over more than one band of output rows. */
static int extra_resize_cases(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const explicit_dims cases[] = {
      {1, 2, 3, 1, 3, 4},  {2, 8, 6, 8, 16, 12},  {1, 4, 6, 3, 14, 21},  {2, 16, 12, 64, 8, 6}, {1, 9, 12, 5, 3, 4},
      {1, 1, 1, 8, 3, 5},  {3, 4, 4, 16, 1, 1},   {1, 1, 7, 2, 1, 14},   {1, 33, 1, 24, 11, 1}, {2, 5, 3, 4096, 7, 2},
      /* upscales walked in bands of 16 output rows (CUDA): 2x over three
       * bands, and 37 rows (a partial band) on the scalar path */
      {2, 20, 6, 16, 40, 12}, {1, 13, 5, 3, 37, 9}};
  uint64_t rng = zk_test_seed() ^ 0x5e5;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int align = 0; align < 2; align++)
      for (int d = 0; d < 3; d++) {
        zk_op_test t;
        zk_case c;
        int fail = run_explicit(&image_tests[0], &t, ctx, be, all_dtypes[d], cases[i], align, ZK_TOL_ACC,
                                zk_rand_u64(&rng), &c, msg, cap);
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* in = out with align_corners = 0 is an exact copy (finite values). */
static int extra_resize_identity(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const explicit_dims cases[] = {{1, 1, 1, 1, 1, 1}, {2, 7, 5, 3, 7, 5}, {1, 16, 16, 64, 16, 16}};
  uint64_t rng = zk_test_seed() ^ 0x1d;
  for (int i = 0; i < 3; i++)
    for (int d = 0; d < 3; d++) {
      zk_op_test t;
      zk_case c;
      int fail = run_explicit(&image_tests[0], &t, ctx, be, all_dtypes[d], cases[i], 0, ZK_TOL_EXACT,
                              zk_rand_u64(&rng), &c, msg, cap);
      for (int64_t e = 0; !fail && e < zk_case_numel(&c, 1); e++)
        if (c.got[1][e] != c.val[0][e]) fail = zk_fail_at(msg, cap, &c, 1, e, "the identity resize must copy x exactly");
      zk_case_free(&c);
      if (fail) return 1;
    }
  return 0;
}

/* H = W = 1 (the centre tap alone), all-border images (2x2, 3x3, 1xW,
 * Hx1), channel counts on and off the vector path, row counts that end
 * tiles of 16 anywhere, band and column-tile edges of the staged walk,
 * with and without bias (every case in every dtype, so f32 takes the
 * two-channel walk wherever C is even). */
static int extra_conv_cases(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const explicit_dims cases[] = {{1, 1, 1, 1, 0, 0}, {3, 1, 1, 64, 0, 0},  {2, 2, 2, 8, 0, 0},
                                        {1, 3, 3, 5, 0, 0}, {1, 1, 9, 16, 0, 0},  {1, 9, 1, 16, 0, 0},
                                        {2, 17, 13, 32, 0, 0}, {1, 4, 5, 4096, 0, 0}, {1, 64, 64, 8, 0, 0},
                                        /* 16-bit input-row walk: tiles of 16, 2 and 3 rows, a tile
                                         * ending on the last row, 4-channel groups not in 8s. */
                                        {2, 35, 3, 12, 0, 0}, {1, 16, 2, 4, 0, 0}, {1, 18, 4, 20, 0, 0},
                                        /* f32 walk, two channels a thread: C/2 odd, a full tile
                                         * and a partial one; two channels alone. */
                                        {1, 20, 5, 6, 0, 0}, {2, 16, 3, 2, 0, 0},
                                        /* CUDA staged walk (C·size a multiple of 16; blocks of 64
                                         * rows x 16 columns x 128 channel bytes): two bands, the
                                         * second of 6 rows, two column tiles, the second of 3
                                         * columns, a partial last channel chunk in 16-bit
                                         * (144 bytes); a band of one row; two full bands; three
                                         * chunks of which the last is 16 bytes (C = 2·64 + 8). */
                                        {2, 70, 19, 72, 0, 0}, {1, 65, 17, 64, 0, 0},
                                        {1, 128, 32, 16, 0, 0}, {1, 5, 33, 136, 0, 0}};
  uint64_t rng = zk_test_seed() ^ 0xc0e;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int d = 0; d < 3; d++)
      for (int no_bias = 0; no_bias < 2; no_bias++) {
        zk_op_test t = image_tests[1];
        t.layout = explicit_layout;
        wanted = cases[i];
        zk_case_opts o = {be, all_dtypes[d], all_dtypes[(d + i) % 3], 1, cases[i].C, (int)(i & 1), 0, zk_rand_u64(&rng),
                          no_bias ? 2 : -1, -1};
        zk_case c;
        int fail = zk_run_case_kept(&t, ctx, &o, &c, msg, cap);
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* Shape errors the generic cases do not make: y's N differs, and a zero
 * image size with N·C > 0 (resize). */
static int extra_shape_errors(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  struct {
    int op, slot, dim;
    int64_t value;
  } faults[] = {{0, 1, 0, 3}, {0, 1, 1, 0}, {0, 1, 2, 0}, {0, 0, 1, 0}, {0, 0, 2, 0}, {1, 3, 0, 3}, {1, 1, 0, 2}};
  for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
    zk_case c;
    if (zk_setup_case(&c, &image_tests[faults[f].op], be, ZK_F32, ZK_F32, 3, 8, 0, 99 + f, msg, cap)) return 1;
    c.shape[faults[f].slot][faults[f].dim] = faults[f].value;
    zk_status s = zk_case_run(&c, ctx);
    int fail = 0;
    if (s != ZK_ERR_SHAPE) {
      snprintf(msg, cap, "%s: %s dim %d = %lld gave %s, expected ZK_ERR_SHAPE", c.test->op,
               c.test->t[faults[f].slot].name, faults[f].dim, (long long)faults[f].value, zk_status_name(s));
      fail = 1;
    }
    int out = faults[f].op == 0 ? 1 : 3;
    for (int64_t e = 0; !fail && e < zk_case_numel(&c, out); e++)
      if (!isnan(c.got[out][e])) fail = zk_fail_at(msg, cap, &c, out, e, "a rejected call wrote the output");
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

static const zk_extra_test image_extras[] = {
    {"resize_align_corners_sweep", extra_align_corners_sweep},
    {"resize_spec_cases", extra_resize_cases},
    {"resize_identity_exact", extra_resize_identity},
    {"conv_small_and_border_images", extra_conv_cases},
    {"shape_errors", extra_shape_errors},
};

const zk_family_tests zk_tests_image = {"image", image_tests, N_OPS, image_extras,
                                        sizeof image_extras / sizeof image_extras[0]};
