/* Test descriptors and extras of the attention family (spec §6).
 *
 * Row ops take the sweep's [R, D] rows.  Masks are [M, D] uint8 through the
 * layout hook: M = 1 in compact cases, M = R (row-strided) in strided ones;
 * extras run M ∈ {1, Sq, R}.  Mask bits and the fully masked rows are a
 * pure function of (seed, mask row, column), so the fills of x (NaN under
 * the mask) and of the grads' y (a masked softmax) can follow the mask.
 *
 * paged_attention: B = R sequences of q [B, H, D] (row [H, D]: strided
 * cases space the sequences like a slice of a fused projection), caches
 * [NB, BS, HKV, D] in the parameter dtype (another float dtype than q in
 * strided cases), block_tables [B, MB] of distinct shuffled blocks with -1
 * past the used ones.  Compact: H = 4, HKV = 2, BS = 4; strided: H = 4,
 * HKV = 1, BS = 3; MB = 5; lengths L_0 = MB·BS, L_1 = 0, the rest random in
 * [0, MB·BS].  Scalars s[1..3] override L, BS and G in the extras.
 * attention_tile_proto: q, k [16, D], s [16, 16] f32, whatever R. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/attention.h>
#include <zkern/softmax.h>
#include "../src/core/dtype.h"
#include "../src/ref/attention.h"
#include "../src/ref/softmax.h"
#include "harness/harness.h"

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int named(const zk_case *c, int k, const char *name) { return !strcmp(c->test->t[k].name, name); }
static uint64_t mix(uint64_t x) {
  x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33, x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

/* ------------------------------------------------------------------ masks
 * Scalar slot 1 of the row ops picks M: 0 = by the case (1 compact, R
 * strided), 1 = one row, 2 = R / 3 (an [Sq, D] mask under R = 3·Sq rows),
 * 3 = R.  Slot 2 picks the x fill (enum x_fill). */
enum { M_BY_CASE, M_ONE, M_SQ, M_FULL };
enum x_fill { X_RANDOM, X_NAN_MASKED, X_EDGE };
#define SPAN 8.0

static int64_t mask_rows(const zk_case *c) {
  switch ((int)c->s[1]) {
    case M_ONE: return 1;
    case M_SQ: return max64(1, c->R / 3);
    case M_FULL: return max64(1, c->R);
    default: return c->strided ? max64(1, c->R) : 1;
  }
}

/* Keep about 70%; mask rows 5, 12, 19, ... are fully masked. */
static int kept(const zk_case *c, int64_t m, int64_t j) {
  if (m % 7 == 5) return 0;
  return mix(c->seed ^ mix((uint64_t)m * 0x9E3779B97F4A7C15ull + (uint64_t)j)) % 10 < 7;
}

static double *mask_values(const zk_case *c, int64_t M, int64_t D) {
  double *m = malloc((size_t)max64(M * D, 1) * sizeof *m);
  for (int64_t r = 0; r < M; r++)
    for (int64_t j = 0; j < D; j++) m[r * D + j] = kept(c, r, j);
  return m;
}

/* ------------------------------------------------------------ row fills */

static int is_grad(const zk_case *c) { return strstr(c->test->op, "_grad") != NULL; }
static int is_lse(const zk_case *c) { return !strncmp(c->test->op, "logsumexp", 9); }

/* Edge rows by row mod 6: all -Inf, one finite among -Inf, a NaN, a +Inf,
 * +Inf and NaN, plain. */
static void edge_row(double *v, int64_t r, int64_t D, uint64_t *rng) {
  int64_t at = (int64_t)(zk_rand_u64(rng) % (uint64_t)max64(D, 1));
  switch (r % 6) {
    case 0: for (int64_t j = 0; j < D; j++) v[j] = -INFINITY; break;
    case 1: for (int64_t j = 0; j < D; j++) if (j != at) v[j] = -INFINITY; break;
    case 2: v[at] = NAN; break;
    case 3: v[at] = INFINITY; break;
    case 4: v[at] = INFINITY, v[(at + 1) % D] = NAN; break;
    default: break;
  }
}

static void row_fill(zk_case *c, int k, double *v, int64_t n) {
  int64_t rows = c->rows[k], D = c->cols[k];
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  if (named(c, k, "mask")) {
    double *m = mask_values(c, rows, D);
    memcpy(v, m, (size_t)n * sizeof *v);
    free(m);
    return;
  }
  if (named(c, k, "dy")) {
    for (int64_t i = 0; i < n; i++) v[i] = zk_rand_normal(&rng);
    return;
  }
  for (int64_t i = 0; i < n; i++) v[i] = zk_rand_uniform(&rng, -SPAN, SPAN);
  if (is_grad(c) && !is_lse(c)) {
    /* y of a masked softmax grad: round_T of a float64 masked softmax. */
    double *m = mask_values(c, rows, D);
    zk_ref_masked_softmax(v, m, max64(rows, 1), v, rows, D, 1.0);
    free(m);
    return;
  }
  for (int64_t r = 0; r < rows; r++) {
    if (c->s[2] == X_EDGE) edge_row(v + r * D, r, D, &rng);
    if (c->s[2] != X_NAN_MASKED) continue;
    for (int64_t j = 0; j < D; j++)
      if (!kept(c, r % mask_rows(c), j)) v[r * D + j] = NAN;
  }
}

/* ------------------------------------------------------- row-op descriptors */

static zk_status call_lse(zk_ctx *ctx, zk_case *c) { return zk_logsumexp_lastdim(ctx, ZT(c, 0), ZT(c, 1)); }
static zk_status call_lse_grad(zk_ctx *ctx, zk_case *c) {
  return zk_logsumexp_lastdim_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2));
}
static zk_status call_masked(zk_ctx *ctx, zk_case *c) { return zk_masked_softmax(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2)); }
static zk_status call_masked_grad(zk_ctx *ctx, zk_case *c) {
  return zk_masked_softmax_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2));
}
static zk_status call_scale_mask(zk_ctx *ctx, zk_case *c) {
  return zk_scale_mask_softmax(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (float)c->s[0]);
}
static zk_status call_scale_mask_grad(zk_ctx *ctx, zk_case *c) {
  return zk_scale_mask_softmax_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (float)c->s[0]);
}

static void ref_lse(zk_case *c) { zk_ref_logsumexp(c->val[0], c->ref[1], c->R, c->D); }
static void ref_lse_grad(zk_case *c) { zk_ref_logsumexp_grad(c->val[0], c->val[1], c->ref[2], c->R, c->D); }
static void ref_masked(zk_case *c) {
  double scale = strcmp(c->test->op, "masked_softmax") ? c->s[0] : 1.0;
  const double *mask = c->present[1] ? c->val[1] : NULL;
  zk_ref_masked_softmax(c->val[0], mask, c->rows[1], c->ref[2], c->R, c->D, scale);
}
static void ref_masked_grad(zk_case *c) {
  double scale = strcmp(c->test->op, "masked_softmax_grad") ? c->s[0] : 1.0;
  zk_ref_scaled_softmax_grad(c->val[0], c->val[1], c->ref[2], c->R, c->D, scale);
}

static void mask_layout(const zk_case *c, int k, zk_layout *L) {
  (void)k;
  L->ndim = 2;
  L->dims[0] = mask_rows(c);
  L->dims[1] = c->D;
}

/* Central differences of the float64 forwards, against the reference VJPs
 * (masked softmaxes at y = forward(x), with a fixed mask that fully masks
 * one row). */
typedef struct fd_rows {
  int64_t R, D;
  const double *mask;
  double scale;
} fd_rows;

static void fd_lse_forward(const double *x, double *y, const void *ctx) {
  const fd_rows *f = ctx;
  zk_ref_logsumexp(x, y, f->R, f->D);
}

static void fd_masked_forward(const double *x, double *y, const void *ctx) {
  const fd_rows *f = ctx;
  zk_ref_masked_softmax(x, f->mask, f->R, y, f->R, f->D, f->scale);
}

static double fd_lse(uint64_t seed) {
  enum { R = 3, D = 7 };
  double x[R * D], dy[R], dx[R * D];
  for (int i = 0; i < R * D; i++) x[i] = 2.0 * zk_rand_normal(&seed);
  for (int i = 0; i < R; i++) dy[i] = zk_rand_normal(&seed);
  fd_rows f = {R, D, NULL, 1.0};
  zk_ref_logsumexp_grad(x, dy, dx, R, D);
  return zk_fd_vjp_error(fd_lse_forward, &f, x, R * D, R, dy, dx);
}

static double fd_masked(uint64_t seed, double scale) {
  enum { R = 4, D = 7 };
  double x[R * D], y[R * D], dy[R * D], dx[R * D], mask[R * D];
  for (int i = 0; i < R * D; i++) {
    x[i] = 2.0 * zk_rand_normal(&seed), dy[i] = zk_rand_normal(&seed);
    mask[i] = i / D != 2 && zk_rand_u64(&seed) % 4 != 0; /* row 2 fully masked */
  }
  fd_rows f = {R, D, mask, scale};
  fd_masked_forward(x, y, &f);
  zk_ref_scaled_softmax_grad(y, dy, dx, R, D, scale);
  return zk_fd_vjp_error(fd_masked_forward, &f, x, R * D, R * D, dy, dx);
}
static double fd_masked_grad(uint64_t seed) { return fd_masked(seed, 1.0); }
static double fd_scale_mask_grad(uint64_t seed) { return fmax(fd_masked(seed, 0.125), fd_masked(seed ^ 77, -1.0)); }

#define X_IN(name) {name, ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define MASK_IN(opt) {"mask", ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_U8, opt, 0, ZK_DIST_CUSTOM, 0, 0}
#define ROWS_OUT(name, tol) {name, ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, tol, 0, 0, 0}
#define BAD_SCALE .bad = {{0, NAN, ZK_ERR_ARG}, {0, INFINITY, ZK_ERR_ARG}, {0, -INFINITY, ZK_ERR_ARG}}, .nbad = 3
#define ROW_OP .fill = row_fill, .layout = mask_layout

/* ----------------------------------------------------------- paged attention */

typedef struct paged_dims {
  int64_t B, H, HKV, G, D, BS, MB, NB;
} paged_dims;

static paged_dims paged_of(const zk_case *c) {
  paged_dims d;
  d.B = c->bench ? 16 : c->R;
  d.D = c->bench ? 128 : c->D;
  d.HKV = c->bench ? 8 : c->s[4] > 0 ? (int64_t)c->s[4] : c->s[3] > 0 ? 2 : c->strided ? 1 : 2;
  d.G = c->bench ? 4 : c->s[3] > 0 ? (int64_t)c->s[3] : c->strided ? 4 : 2;
  d.H = d.G * d.HKV;
  d.BS = c->bench ? 16 : c->s[2] > 0 ? (int64_t)c->s[2] : c->strided ? 3 : 4;
  int64_t L = c->bench ? 1024 : c->s[1] > 0 ? (int64_t)c->s[1] - 1 : 5 * d.BS;
  d.MB = max64(1, (L + d.BS - 1) / d.BS) + 1; /* one spare entry past the used blocks */
  d.NB = d.B * d.MB + 3;
  if (!c->bench && c->s[5] > d.MB) d.MB = (int64_t)c->s[5]; /* a wider table, -1 past the used blocks */
  return d;
}

/* L_b: s[1] - 1 for every sequence when set; else L_0 = MB·BS... see top. */
static int64_t len_of(const zk_case *c, int64_t b) {
  paged_dims d = paged_of(c);
  if (c->bench) return 1024;
  if (c->s[1] > 0) return (int64_t)c->s[1] - 1;
  if (b == 0) return d.MB * d.BS;
  if (b == 1) return 0;
  return (int64_t)(mix(c->seed ^ (uint64_t)b) % (uint64_t)(d.MB * d.BS + 1));
}

static void paged_layout(const zk_case *c, int k, zk_layout *L) {
  paged_dims d = paged_of(c);
  if (named(c, k, "k_cache") || named(c, k, "v_cache")) {
    *L = (zk_layout){4, {d.NB, d.BS, d.HKV, d.D}, 2, 1, 0};
  } else if (named(c, k, "block_tables")) {
    *L = (zk_layout){2, {d.B, d.MB}, 1, 0, 1};
  } else if (named(c, k, "context_lens")) {
    *L = (zk_layout){1, {d.B}, 1, 1, 0};
  } else {
    *L = (zk_layout){3, {d.B, d.H, d.D}, 2, 0, 0};
  }
}

/* block_tables: a shuffled permutation of the blocks, -1 past ⌈L_b/BS⌉. */
static void paged_fill(zk_case *c, int k, double *v, int64_t n) {
  paged_dims d = paged_of(c);
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  if (named(c, k, "context_lens")) {
    for (int64_t b = 0; b < n; b++) v[b] = (double)len_of(c, b);
  } else if (named(c, k, "block_tables")) {
    int64_t *perm = malloc((size_t)max64(d.NB, 1) * sizeof *perm);
    for (int64_t i = 0; i < d.NB; i++) perm[i] = i;
    for (int64_t i = d.NB - 1; i > 0; i--) {
      int64_t o = (int64_t)(zk_rand_u64(&rng) % (uint64_t)(i + 1)), t = perm[i];
      perm[i] = perm[o], perm[o] = t;
    }
    /* Blocks of the permutation a sequence takes: MB unless widened. */
    int64_t per_seq = d.B > 0 ? (d.NB - 3) / d.B : 0;
    for (int64_t b = 0; b < d.B; b++) {
      int64_t used = (len_of(c, b) + d.BS - 1) / d.BS;
      for (int64_t kb = 0; kb < d.MB; kb++) v[b * d.MB + kb] = kb < used ? (double)perm[b * per_seq + kb] : -1.0;
    }
    free(perm);
  } else {
    for (int64_t i = 0; i < n; i++) v[i] = zk_rand_normal(&rng);
  }
}

static double paged_scale(const zk_case *c) { return c->s[0] / sqrt((double)paged_of(c).D); }

static zk_status call_paged(zk_ctx *ctx, zk_case *c) {
  return zk_paged_attention(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), (float)paged_scale(c));
}

static void ref_paged(zk_case *c) {
  paged_dims d = paged_of(c);
  zk_ref_paged p = {d.B, d.H, d.HKV, d.D, d.BS, d.MB, (double)(float)paged_scale(c)};
  zk_ref_paged_attention(&p, c->val[0], c->val[1], c->val[2], c->val[3], c->val[4], c->ref[5], c->refabs[5]);
}

/* Bench bytes: q, out, the tables and lengths, and the K/V rows read. */
static double paged_bytes(const zk_case *c) {
  paged_dims d = paged_of(c);
  double tokens = 0;
  for (int64_t b = 0; b < d.B; b++) tokens += (double)len_of(c, b);
  return 2.0 * (double)(d.B * d.H * d.D) * zk_dtype_size(c->tdtype[0]) +
         2.0 * tokens * (double)(d.HKV * d.D) * zk_dtype_size(c->tdtype[1]) + (double)(d.B * (d.MB + 1)) * 4.0;
}

static int64_t past_context(const zk_case *c) { return paged_of(c).MB * paged_of(c).BS + 1; }
static int64_t minus_one(const zk_case *c) { (void)c; return -1; }
static int64_t block_count(const zk_case *c) { return paged_of(c).NB; }

/* ---------------------------------------------------------------- tile */

static void tile_layout(const zk_case *c, int k, zk_layout *L) {
  *L = (zk_layout){2, {16, named(c, k, "s") ? 16 : c->D}, 1, 0, 0};
}
static zk_status call_tile(zk_ctx *ctx, zk_case *c) { return zk_attention_tile_proto(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2)); }
static void ref_tile(zk_case *c) { zk_ref_attention_tile(c->val[0], c->val[1], c->ref[2], c->refabs[2], c->D); }

/* ------------------------------------------------------------ descriptors */

#define HEADS(name, dt) {name, ZK_IN, ZK_SHAPE_CUSTOM, dt, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define INDEX(name) {name, ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_I32, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define CUSTOM_OUT(name, dt, tol) {name, ZK_OUT, ZK_SHAPE_CUSTOM, dt, 0, tol, 0, 0, 0}

enum { OP_LSE, OP_MASKED, OP_SCALE_MASK, OP_PAGED, OP_TILE, OP_LSE_GRAD, OP_MASKED_GRAD, OP_SCALE_MASK_GRAD, N_OPS };

static const zk_op_test attention_tests[N_OPS] = {
    [OP_LSE] = {.op = "logsumexp_lastdim",
                .t = {X_IN("x"), {"y", ZK_OUT, ZK_SHAPE_ROW_VALUE, ZK_DT_PARAM, 0, ZK_TOL_ROW, 0, 0, 0}},
                .nt = 2,
                .call = call_lse,
                .ref = ref_lse,
                ROW_OP},
    [OP_MASKED] = {.op = "masked_softmax",
                   .t = {X_IN("x"), MASK_IN(0), ROWS_OUT("y", ZK_TOL_ROW)},
                   .nt = 3,
                   .call = call_masked,
                   .ref = ref_masked,
                   .alias_of = {[2] = 1},
                   ROW_OP},
    [OP_SCALE_MASK] = {.op = "scale_mask_softmax",
                       .t = {X_IN("x"), MASK_IN(1), ROWS_OUT("y", ZK_TOL_ROW)},
                       .nt = 3,
                       .scalars = {0.125},
                       .call = call_scale_mask,
                       .ref = ref_masked,
                       .alias_of = {[2] = 1},
                       BAD_SCALE,
                       ROW_OP},
    [OP_PAGED] = {.op = "paged_attention",
                  .t = {HEADS("q", ZK_DT_CASE), HEADS("k_cache", ZK_DT_PARAM), HEADS("v_cache", ZK_DT_PARAM),
                        INDEX("block_tables"), INDEX("context_lens"), CUSTOM_OUT("out", ZK_DT_CASE, ZK_TOL_ACC)},
                  .nt = 6,
                  .scalars = {1.0},
                  .call = call_paged,
                  .ref = ref_paged,
                  .fill = paged_fill,
                  .layout = paged_layout,
                  .bad = {{0, 0, ZK_ERR_ARG}, {0, -1, ZK_ERR_ARG}, {0, NAN, ZK_ERR_ARG}, {0, INFINITY, ZK_ERR_ARG}},
                  .nbad = 4,
                  .bad_index = {{4, 0, past_context, "a length > MB·BS"},
                                {4, -1, minus_one, "a negative length"},
                                {3, 0, block_count, "a block id >= NB"},
                                {3, 0, minus_one, "a negative block id"}},
                  .nbad_index = 4,
                  .max_cols = 4097,
                  .bench_rows = 16,
                  .bench_cols = 128,
                  .min_bytes = paged_bytes},
    [OP_TILE] = {.op = "attention_tile_proto",
                 .t = {HEADS("q", ZK_DT_CASE), HEADS("k", ZK_DT_CASE), CUSTOM_OUT("s", ZK_DT_F32, ZK_TOL_ACC)},
                 .nt = 3,
                 .call = call_tile,
                 .ref = ref_tile,
                 .layout = tile_layout,
                 .bench_rows = 16,
                 .bench_cols = 1024},
    [OP_LSE_GRAD] = {.op = "logsumexp_lastdim_grad",
                     .t = {X_IN("x"), {"dy", ZK_IN, ZK_SHAPE_ROW_VALUE, ZK_DT_PARAM, 0, 0, ZK_DIST_CUSTOM, 0, 0},
                           ROWS_OUT("dx", ZK_TOL_GRAD)},
                     .nt = 3,
                     .call = call_lse_grad,
                     .ref = ref_lse_grad,
                     .fd_check = fd_lse,
                     ROW_OP},
    [OP_MASKED_GRAD] = {.op = "masked_softmax_grad",
                        .t = {X_IN("y"), X_IN("dy"), ROWS_OUT("dx", ZK_TOL_GRAD)},
                        .nt = 3,
                        .call = call_masked_grad,
                        .ref = ref_masked_grad,
                        .fd_check = fd_masked_grad,
                        .alias_of = {[2] = 2},
                        ROW_OP},
    [OP_SCALE_MASK_GRAD] = {.op = "scale_mask_softmax_grad",
                            .t = {X_IN("y"), X_IN("dy"), ROWS_OUT("dx", ZK_TOL_GRAD)},
                            .nt = 3,
                            .scalars = {0.125},
                            .call = call_scale_mask_grad,
                            .ref = ref_masked_grad,
                            .fd_check = fd_scale_mask_grad,
                            .alias_of = {[2] = 2},
                            BAD_SCALE,
                            ROW_OP},
};

/* ================================================================ extras */

static const zk_dtype dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

static zk_case_opts opts(zk_backend b, zk_dtype dt, zk_dtype pdt, int64_t R, int64_t D, int strided, uint64_t salt) {
  zk_case_opts o = {.backend = b, .dtype = dt, .param_dtype = pdt, .R = R, .D = D, .strided = strided,
                    .seed = zk_test_seed() ^ (salt * 0xD1B54A32D192ED03ull), .absent = -1, .alias = -1};
  return o;
}

/* A copy of descriptor op with scalars s[0..3] replaced where given (NAN = keep). */
static zk_op_test variant(int op, double s0, double s1, double s2, double s3) {
  zk_op_test t = attention_tests[op];
  double v[4] = {s0, s1, s2, s3};
  for (int i = 0; i < 4; i++)
    if (!isnan(v[i])) t.scalars[i] = v[i];
  return t;
}

/* Init and run checked, keeping the case (the caller frees it). */
static int run_kept(const zk_op_test *t, zk_ctx *ctx, const zk_case_opts *o, zk_case *c, char *msg, size_t cap) {
  if (zk_case_setup(c, t, o, msg, cap)) return 1;
  return zk_case_run_checked(c, ctx, msg, cap);
}

/* Output `out` exactly equals the reference wherever the reference is 0,
 * ±Inf or (when ones) 1.  0 = pass. */
static int exact_where_special(const zk_case *c, int out, int ones, char *msg, size_t cap) {
  for (int64_t i = 0; i < zk_case_numel(c, out); i++) {
    double r = c->ref[out][i], y = c->got[out][i];
    if ((r == 0 || isinf(r) || (ones && r == 1)) && y != r) {
      snprintf(msg, cap, "%s %s R=%lld D=%lld: %s[%lld] = %.9g, must be exactly %g", c->test->op,
               zk_dtype_name(c->dtype), (long long)c->R, (long long)c->D, c->test->t[out].name, (long long)i, y, r);
      return 1;
    }
  }
  return 0;
}

/* logsumexp and its grad on the edge rows (all -Inf -> -Inf / dx 0, one
 * finite entry -> that entry / dx one-hot, NaN -> NaN, +Inf -> +Inf, +Inf
 * with NaN -> NaN): NaN and ±Inf exactly where the reference has them,
 * exact zeros; D = 0 rows -> -Inf. */
static int extra_lse_edges(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t cols[] = {1, 3, 33, 4097};
  for (int op = OP_LSE; op <= OP_LSE_GRAD; op += OP_LSE_GRAD - OP_LSE)
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 4; ci++) {
        zk_op_test t = variant(op, NAN, NAN, X_EDGE, NAN);
        zk_case_opts o = opts(b, dtypes[d], dtypes[(d + ci) % 3], 12, cols[ci], ci & 1, (uint64_t)(10 + d * 4 + ci));
        zk_case c;
        int fail = run_kept(&t, ctx, &o, &c, msg, cap) || exact_where_special(&c, t.nt - 1, 0, msg, cap);
        zk_case_free(&c);
        if (fail) return 1;
      }
  for (int d = 0; d < 3; d++) {
    zk_case_opts o = opts(b, dtypes[d], ZK_F32, 3, 0, 0, 30);
    zk_case c;
    int fail = run_kept(&attention_tests[OP_LSE], ctx, &o, &c, msg, cap);
    for (int64_t r = 0; !fail && r < 3; r++)
      if (c.got[1][r] != -INFINITY) {
        snprintf(msg, cap, "logsumexp_lastdim %s D=0: y[%lld] = %g, must be -Inf", zk_dtype_name(dtypes[d]),
                 (long long)r, c.got[1][r]);
        fail = 1;
      }
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* f32 y from bf16 x (and f16 x), logits up to 1e4: y keeps f32 precision. */
static int extra_lse_f32_from_bf16(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int d = 1; d < 3; d++)
    for (int i = 0; i < 2; i++) {
      zk_op_test t = attention_tests[OP_LSE];
      t.t[0].dist = ZK_DIST_UNIFORM;
      t.t[0].lo = i ? -1e4 : -SPAN, t.t[0].hi = i ? 1e4 : SPAN;
      zk_case_opts o = opts(b, dtypes[d], ZK_F32, 257, i ? 4097 : 33, i, (uint64_t)(40 + d * 2 + i));
      if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

/* keepdim [R, 1] y (forward) and dy (grad) are accepted. */
static int extra_lse_keepdim(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int op = OP_LSE; op <= OP_LSE_GRAD; op += OP_LSE_GRAD - OP_LSE)
    for (int d = 0; d < 3; d++) {
      zk_op_test t = attention_tests[op];
      t.t[1].shape = ZK_SHAPE_ROW_KEEPDIM;
      zk_case_opts o = opts(b, dtypes[d], dtypes[(d + 1) % 3], 5, 257, d == 1, (uint64_t)(45 + op * 4 + d));
      if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

/* logsumexp over enough rows for the CUDA backend's warp-per-row plan
 * (32 rows an SM and more, rows of up to eight warp tiles): every dtype,
 * a vector-aligned row and a strided odd one (the scalar chunks). */
static int extra_lse_many_rows(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  enum { R = 5200 };  /* the CUDA plan's WARP_TILES_MIN_ROWS is 4096 */
  static const int64_t cols[] = {2048, 1031};
  for (int d = 0; d < 3; d++)
    for (int ci = 0; ci < 2; ci++) {
      zk_case_opts o = opts(b, dtypes[d], dtypes[d], R, cols[ci], ci == 1, (uint64_t)(40 + d * 2 + ci));
      if (zk_run_case(&attention_tests[OP_LSE], ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

/* Masking rules of both masked forwards, M ∈ {1, Sq, R} under R = 12 rows,
 * NaN at every masked entry of x: the tolerance check (NaN nowhere, as the
 * reference never reads them), then masked entries and fully masked rows
 * exactly 0.  1032: 16-byte rows of a block a row with padded chunks (the
 * CUDA packed 16-bit path). */
static int extra_masking(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t cols[] = {1, 33, 4097, 1032};
  for (int op = OP_MASKED; op <= OP_SCALE_MASK; op++)
    for (int m = M_ONE; m <= M_FULL; m++)
      for (int d = 0; d < 3; d++)
        for (int ci = 0; ci < 4; ci++) {
          zk_op_test t = variant(op, NAN, m, X_NAN_MASKED, NAN);
          zk_case_opts o = opts(b, dtypes[d], dtypes[d], 12, cols[ci], ci == 1, (uint64_t)(50 + op * 64 + m * 16 + d * 4 + ci));
          zk_case c;
          int fail = run_kept(&t, ctx, &o, &c, msg, cap) || exact_where_special(&c, 2, 0, msg, cap);
          for (int64_t i = 0; !fail && i < zk_case_numel(&c, 2); i++)
            if (!kept(&c, (i / c.D) % c.rows[1], i % c.D) && c.got[2][i] != 0) {
              snprintf(msg, cap, "%s M=%lld: masked y[%lld] = %g", t.op, (long long)c.rows[1], (long long)i, c.got[2][i]);
              fail = 1;
            }
          zk_case_free(&c);
          if (fail) return 1;
        }
  return 0;
}

/* Edge rows under the mask (all -Inf kept, one finite, NaN, +Inf) and
 * scale ∈ {0.125, 1, -1, 0} (scale -1 turns kept -Inf into +Inf: NaN
 * rows): NaN, Inf and zeros exactly where the reference has them.  Rows of
 * 257 (strided at scale 1) and of 1032 (16-byte rows: the CUDA packed
 * 16-bit path, or its fallback at scale 0). */
static int extra_scales_and_edges(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const double scales[] = {0.125, 1, -1, 0};
  static const int64_t cols[] = {257, 1032};
  for (int si = 0; si < 4; si++)
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 2; ci++)
        for (int fill = X_RANDOM; fill <= X_EDGE; fill += X_EDGE) {
          zk_op_test t = variant(OP_SCALE_MASK, scales[si], M_FULL, fill, NAN);
          zk_case_opts o = opts(b, dtypes[d], dtypes[d], 12, cols[ci], si == 1 && ci == 0,
                                (uint64_t)(300 + si * 8 + d * 2 + fill + ci * 64));
          zk_case c;
          int fail = run_kept(&t, ctx, &o, &c, msg, cap) || exact_where_special(&c, 2, 1, msg, cap);
          zk_case_free(&c);
          if (fail) return 1;
          zk_op_test g = variant(OP_SCALE_MASK_GRAD, scales[si], NAN, NAN, NAN);
          if (zk_run_case(&g, ctx, &o, msg, cap)) return 1;
        }
  return 0;
}

/* scale_mask_softmax with mask NULL equals zk_softmax_lastdim of the
 * stored scale·x (f32, scale 0.125: the product is exact), within ROW. */
static int extra_null_mask_is_softmax(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t cols[] = {3, 4097};
  for (int ci = 0; ci < 2; ci++) {
    zk_case_opts o = opts(b, ZK_F32, ZK_F32, 5, cols[ci], 0, (uint64_t)(400 + ci));
    o.absent = 1;
    zk_case c, s;
    int fail = run_kept(&attention_tests[OP_SCALE_MASK], ctx, &o, &c, msg, cap);
    if (!fail) {
      zk_case_opts so = o;
      so.absent = -1;
      zk_op_test soft = *zk_find_test("softmax_lastdim");
      fail = zk_case_setup(&s, &soft, &so, msg, cap);
      if (!fail) {
        for (int64_t i = 0; i < zk_case_numel(&c, 0); i++) ((float *)s.host[0])[i] = (float)(0.125 * c.val[0][i]);
        fail = b == ZK_BACKEND_CUDA && zk_dev_upload(s.dev[0], s.host[0], s.bytes[0]);
        fail = fail || zk_case_run_ok(&s, ctx, msg, cap);
        for (int64_t i = 0; !fail && i < zk_case_numel(&c, 2); i++) {
          double y = c.got[2][i], r = s.got[1][i];
          if (!(fabs(y - r) <= 1e-6 + 1e-4 * fabs(r))) {
            snprintf(msg, cap, "D=%lld: y[%lld] = %.9g, softmax of scale·x %.9g", (long long)c.D, (long long)i, y, r);
            fail = 1;
          }
        }
        zk_case_free(&s);
      }
    }
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* A mask of DLPack's bool type code (6) works as uint8 does; int8 is DTYPE. */
static int extra_bool_mask(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  zk_case_opts o = opts(b, ZK_F32, ZK_F32, 6, 33, 0, 500);
  zk_case c;
  if (zk_case_setup(&c, &attention_tests[OP_MASKED], &o, msg, cap)) return 1;
  c.dl[1].dtype = (DLDataType){6, 8, 1};
  int fail = zk_case_run_checked(&c, ctx, msg, cap);
  zk_case_free(&c);
  if (fail) return 1;
  if (zk_case_setup(&c, &attention_tests[OP_MASKED], &o, msg, cap)) return 1;
  c.dl[1].dtype = (DLDataType){kDLInt, 8, 1};
  zk_status s = zk_case_run(&c, ctx);
  zk_case_free(&c);
  if (s == ZK_ERR_DTYPE) return 0;
  snprintf(msg, cap, "an int8 mask gave %s, expected ZK_ERR_DTYPE", zk_status_name(s));
  return 1;
}

/* A mask row count that does not divide R -> SHAPE, nothing written:
 * R = 10 rows under M = ⌊10/3⌋ = 3 mask rows. */
static int extra_mask_rows_divide(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  zk_op_test t = variant(OP_MASKED, NAN, M_SQ, NAN, NAN);
  zk_case_opts o = opts(b, ZK_F32, ZK_F32, 10, 33, 0, 600);
  zk_case c;
  if (zk_case_setup(&c, &t, &o, msg, cap)) return 1;
  zk_status s = zk_case_run(&c, ctx);
  int fail = s != ZK_ERR_SHAPE;
  for (int64_t i = 0; !fail && i < zk_case_numel(&c, 2); i++) fail = !isnan(c.got[2][i]);
  if (fail) snprintf(msg, cap, "a [3, D] mask under 10 rows gave %s (or wrote y)", zk_status_name(s));
  zk_case_free(&c);
  return fail;
}

/* Paged attention over the spec's grid: L ∈ {0, 1, BS-1, BS, BS+1, 4097},
 * BS ∈ {1, 16, 32}, G ∈ {1, 4, 8}, D ∈ {64, 128, 256, 80}, q and caches in
 * every pairing of dtypes that includes bf16 caches under an f32 q; then
 * L = 100 000.  L = 0 gives exact zeros. */
static int extra_paged_grid(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t BS[] = {1, 16, 32}, G[] = {1, 4, 8}, D[] = {64, 128, 256, 80};
  int n = 0;
  for (int bi = 0; bi < 3; bi++) {
    int64_t lens[] = {0, 1, BS[bi] - 1, BS[bi], BS[bi] + 1, 4097};
    for (int li = 0; li < 6; li++, n++) {
      if (li == 2 && BS[bi] == 1) continue;
      zk_op_test t = variant(OP_PAGED, NAN, (double)(lens[li] + 1), (double)BS[bi], (double)G[n % 3]);
      zk_dtype q = dtypes[n % 3], kv = n % 2 ? ZK_BF16 : dtypes[(n + 1) % 3];
      if (n % 5 == 0) q = ZK_F32, kv = ZK_BF16;
      zk_case_opts o = opts(b, q, kv, 2, D[n % 4], n & 1, (uint64_t)(700 + n));
      zk_case c;
      int fail = run_kept(&t, ctx, &o, &c, msg, cap) || exact_where_special(&c, 5, 0, msg, cap);
      zk_case_free(&c);
      if (fail) return 1;
    }
  }
  zk_op_test t = variant(OP_PAGED, NAN, 100001, 16, 4);
  zk_case_opts o = opts(b, ZK_F32, ZK_BF16, 1, 128, 0, 799);
  return zk_run_case(&t, ctx, &o, msg, cap);
}

/* Paged attention at a single token: out = V of that token, exactly as
 * stored (p = 1) when q and the caches share the dtype. */
static int extra_paged_one_token(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int d = 0; d < 3; d++) {
    zk_op_test t = variant(OP_PAGED, NAN, 2, 4, 2);
    zk_case_opts o = opts(b, dtypes[d], dtypes[d], 3, 64, d == 1, (uint64_t)(800 + d));
    zk_case c;
    int fail = run_kept(&t, ctx, &o, &c, msg, cap);
    paged_dims pd = paged_of(&c);
    for (int64_t bq = 0; !fail && bq < pd.B; bq++)
      for (int64_t h = 0; !fail && h < pd.H; h++)
        for (int64_t e = 0; !fail && e < pd.D; e++) {
          int64_t blk = (int64_t)c.val[3][bq * pd.MB];
          double v = c.val[2][(blk * pd.BS * pd.HKV + h / pd.G) * pd.D + e], y = c.got[5][(bq * pd.H + h) * pd.D + e];
          if (y != v) {
            snprintf(msg, cap, "%s: out[%lld, %lld, %lld] = %.9g, V = %.9g", zk_dtype_name(dtypes[d]), (long long)bq,
                     (long long)h, (long long)e, y, v);
            fail = 1;
          }
        }
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* Paged attention at the decode shapes of CUDA's reduce-scatter kernel
 * (16-byte chunks, one a lane, 8 or 16 lanes a token, 4 or 8 heads a KV
 * head): several splits, a last step with masked tokens, lanes past a row
 * of D = 80, each cache dtype, and a grid of few CTAs (longer splits); and
 * D = 256 over several splits (the vector split kernel and a combine of
 * more than one block of elements); and 8 KV heads with wide tables, where
 * a CTA serves whole cache rows.
 * {L, BS, G, D, q, kv, strided, HKV, MB}. */
static int extra_paged_decode_shapes(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const struct {
    int64_t L, BS, G, D;
    zk_dtype q, kv;
    int strided;
    int64_t HKV, MB; /* 0: the default 2 KV heads and a table of the context's blocks */
  } cases[] = {
      {1500, 16, 4, 128, ZK_BF16, ZK_BF16, 0}, {777, 16, 8, 128, ZK_F32, ZK_BF16, 0},
      {1025, 3, 4, 64, ZK_F16, ZK_F16, 1},     {513, 32, 8, 64, ZK_BF16, ZK_BF16, 0},
      {600, 16, 4, 64, ZK_F32, ZK_F32, 0},     {900, 16, 4, 80, ZK_BF16, ZK_BF16, 1},
      {50000, 16, 4, 128, ZK_BF16, ZK_BF16, 0}, /* CUDA: 6 units x 49 splits of 1024 (few CTAs) */
      {2100, 16, 2, 256, ZK_BF16, ZK_BF16, 0},  /* CUDA: the combine over two 128-element blocks of D */
      /* CUDA: 8 KV heads and tables of 8192 blocks (3 x 8 x 256 splits of 512): a CTA serves whole
       * cache rows (8 KV heads); D = 128 with 4 and 8 heads a KV head, D = 64 with 4, f32 D = 64.
       * Most splits lie past the context (the CTA exits), a last step masked. */
      {1500, 16, 4, 128, ZK_BF16, ZK_BF16, 0, 8, 8192}, {1031, 16, 8, 128, ZK_F32, ZK_BF16, 0, 8, 8192},
      {700, 16, 4, 64, ZK_F16, ZK_F16, 1, 8, 8192},     {600, 16, 4, 64, ZK_F32, ZK_F32, 0, 8, 8192},
      /* CUDA: a table of 32768 blocks, so splits of 4096 (3 x 8 x 128 of them, whole rows a CTA): the
       * block ids past a thread's first four loaded in the slot loop, and a combine of two splits. */
      {4500, 16, 4, 64, ZK_F16, ZK_F16, 0, 8, 32768},
  };
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
    zk_op_test t = variant(OP_PAGED, NAN, (double)(cases[i].L + 1), (double)cases[i].BS, (double)cases[i].G);
    t.scalars[4] = (double)cases[i].HKV;
    t.scalars[5] = (double)cases[i].MB;
    zk_case_opts o = opts(b, cases[i].q, cases[i].kv, 3, cases[i].D, cases[i].strided, (uint64_t)(850 + i));
    if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
  }
  return 0;
}

/* The score tile at D ∈ {1, 64, 257, 1024}, every dtype; an f16 s -> DTYPE. */
static int extra_tile(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t D[] = {1, 64, 257, 1024};
  for (int d = 0; d < 3; d++)
    for (int i = 0; i < 4; i++) {
      zk_case_opts o = opts(b, dtypes[d], dtypes[d], 16, D[i], i & 1, (uint64_t)(900 + d * 4 + i));
      if (zk_run_case(&attention_tests[OP_TILE], ctx, &o, msg, cap)) return 1;
    }
  zk_case_opts o = opts(b, ZK_F32, ZK_F32, 16, 64, 0, 950);
  zk_case c;
  if (zk_case_setup(&c, &attention_tests[OP_TILE], &o, msg, cap)) return 1;
  c.dl[2].dtype = (DLDataType){kDLFloat, 16, 1};
  zk_status s = zk_case_run(&c, ctx);
  zk_case_free(&c);
  if (s == ZK_ERR_DTYPE) return 0;
  snprintf(msg, cap, "an f16 s gave %s, expected ZK_ERR_DTYPE", zk_status_name(s));
  return 1;
}

static const zk_extra_test attention_extras[] = {
    {"lse_edges", extra_lse_edges},
    {"lse_f32_from_bf16", extra_lse_f32_from_bf16},
    {"lse_keepdim", extra_lse_keepdim},
    {"lse_many_rows", extra_lse_many_rows},
    {"masking", extra_masking},
    {"scales_and_edges", extra_scales_and_edges},
    {"null_mask_is_softmax", extra_null_mask_is_softmax},
    {"bool_mask", extra_bool_mask},
    {"mask_rows_divide", extra_mask_rows_divide},
    {"paged_grid", extra_paged_grid},
    {"paged_one_token", extra_paged_one_token},
    {"paged_decode_shapes", extra_paged_decode_shapes},
    {"tile", extra_tile},
};

const zk_family_tests zk_tests_attention = {"attention", attention_tests, N_OPS, attention_extras,
                                           (int)(sizeof attention_extras / sizeof attention_extras[0])};
