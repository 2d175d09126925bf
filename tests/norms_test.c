/* Test descriptors and extras of the norms family (spec §3). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/norms.h>
#include "../src/ref/norms.h"
#include "../src/ref/transformer.h"
#include "harness/checks.h"
#include "harness/harness.h"

#define X_IN {"x", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
#define DY_IN {"dy", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
#define PARAM_IN(name, opt) {name, ZK_IN, ZK_SHAPE_VEC, ZK_DT_PARAM, opt, 0, ZK_DIST_UNIFORM, 0.5, 1.5}
#define BIAS_IN {"beta", ZK_IN, ZK_SHAPE_VEC, ZK_DT_PARAM, 1, 0, ZK_DIST_UNIFORM, -1.0, 1.0}
#define ROWS_OUT(name, opt, tol) {name, ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, opt, tol, 0, 0, 0}
#define PARAM_OUT(name, tol) {name, ZK_OUT, ZK_SHAPE_VEC, ZK_DT_PARAM, 1, tol, 0, 0, 0}
#define BAD_EPS {0, -1.0, ZK_ERR_ARG}, {0, NAN, ZK_ERR_ARG}, {0, INFINITY, ZK_ERR_ARG}
#define BAD_P {1, -0.25, ZK_ERR_ARG}, {1, 1.5, ZK_ERR_ARG}, {1, NAN, ZK_ERR_ARG}

/* Scalar slots: s[0] = eps, s[1] = p; u[0] = seed, u[1] = offset. */
static zk_ref_dropout drop_of(const zk_case *c) { return (zk_ref_dropout){(float)c->s[1], c->u[0], c->u[1]}; }
static zk_layer_norm_dropout_params params_of(const zk_case *c) {
  return (zk_layer_norm_dropout_params){(float)c->s[1], c->u[0], c->u[1], (float)c->s[0]};
}

/* ------------------------------------------------------ calls and references
 * Each reference passes the case's stored values to the shared float64 core. */

static zk_status call_rmsnorm(zk_ctx *ctx, zk_case *c) {
  return zk_rmsnorm(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (float)c->s[0]);
}
static void ref_rmsnorm(zk_case *c) {
  zk_ref_norm(ZK_REF_RMS, c->val[0], c->val[1], NULL, c->ref[2], c->R, c->D, c->s[0], NULL);
}

static zk_status call_rmsnorm_grad(zk_ctx *ctx, zk_case *c) {
  return zk_rmsnorm_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), (float)c->s[0]);
}
static void ref_rmsnorm_grad(zk_case *c) {
  zk_ref_norm_grad(ZK_REF_RMS, c->val[0], c->val[1], c->val[2], c->ref[3], c->ref[4], c->refabs[4], NULL, NULL,
                   c->R, c->D, c->s[0], NULL);
}

static zk_status call_rms_norm_no_weight(zk_ctx *ctx, zk_case *c) {
  return zk_rms_norm_no_weight(ctx, ZT(c, 0), ZT(c, 1), (float)c->s[0]);
}
static void ref_rms_norm_no_weight(zk_case *c) {
  zk_ref_norm(ZK_REF_RMS, c->val[0], NULL, NULL, c->ref[1], c->R, c->D, c->s[0], NULL);
}

static zk_status call_rms_norm_no_weight_grad(zk_ctx *ctx, zk_case *c) {
  return zk_rms_norm_no_weight_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (float)c->s[0]);
}
static void ref_rms_norm_no_weight_grad(zk_case *c) {
  zk_ref_norm_grad(ZK_REF_RMS, c->val[0], NULL, c->val[1], c->ref[2], NULL, NULL, NULL, NULL, c->R, c->D, c->s[0],
                   NULL);
}

static zk_status call_layernorm(zk_ctx *ctx, zk_case *c) {
  return zk_layernorm(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), (float)c->s[0]);
}
static void ref_layernorm(zk_case *c) {
  zk_ref_norm(ZK_REF_LAYER, c->val[0], c->val[1], c->present[2] ? c->val[2] : NULL, c->ref[3], c->R, c->D, c->s[0],
              NULL);
}

static zk_status call_layernorm_grad(zk_ctx *ctx, zk_case *c) {
  return zk_layernorm_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), (float)c->s[0]);
}
static void ref_layernorm_grad(zk_case *c) {
  zk_ref_norm_grad(ZK_REF_LAYER, c->val[0], c->val[1], c->val[2], c->ref[3], c->ref[4], c->refabs[4], c->ref[5],
                   c->refabs[5], c->R, c->D, c->s[0], NULL);
}

static zk_status call_layer_norm_no_weight(zk_ctx *ctx, zk_case *c) {
  return zk_layer_norm_no_weight(ctx, ZT(c, 0), ZT(c, 1), (float)c->s[0]);
}
static void ref_layer_norm_no_weight(zk_case *c) {
  zk_ref_norm(ZK_REF_LAYER, c->val[0], NULL, NULL, c->ref[1], c->R, c->D, c->s[0], NULL);
}

static zk_status call_layer_norm_no_weight_grad(zk_ctx *ctx, zk_case *c) {
  return zk_layer_norm_no_weight_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (float)c->s[0]);
}
static void ref_layer_norm_no_weight_grad(zk_case *c) {
  zk_ref_norm_grad(ZK_REF_LAYER, c->val[0], NULL, c->val[1], c->ref[2], NULL, NULL, NULL, NULL, c->R, c->D, c->s[0],
                   NULL);
}

static zk_status call_layer_norm_dropout(zk_ctx *ctx, zk_case *c) {
  zk_layer_norm_dropout_params p = params_of(c);
  return zk_layer_norm_dropout(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), &p);
}
static void ref_layer_norm_dropout(zk_case *c) {
  zk_ref_dropout d = drop_of(c);
  zk_ref_norm(ZK_REF_LAYER, c->val[0], c->val[1], c->present[2] ? c->val[2] : NULL, c->ref[3], c->R, c->D, c->s[0],
              &d);
}

static zk_status call_layer_norm_dropout_grad(zk_ctx *ctx, zk_case *c) {
  zk_layer_norm_dropout_params p = params_of(c);
  return zk_layer_norm_dropout_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), &p);
}
static void ref_layer_norm_dropout_grad(zk_case *c) {
  zk_ref_dropout d = drop_of(c);
  zk_ref_norm_grad(ZK_REF_LAYER, c->val[0], c->val[1], c->val[2], c->ref[3], c->ref[4], c->refabs[4], c->ref[5],
                   c->refabs[5], c->R, c->D, c->s[0], &d);
}

/* ------------------------------------------------------ central differences
 * The reference VJP of a norm against central differences of the reference
 * forward, w.r.t. x and each parameter the op has a gradient for (beta
 * enters only the forward, so its gradient is checked through it). */

enum { FD_X, FD_W, FD_B };

typedef struct norm_fd {
  zk_ref_norm_kind kind;
  int64_t R, D;
  double eps;
  const double *x, *w, *b;
  const zk_ref_dropout *drop;
  int wrt;  /* which input v stands for */
} norm_fd;

static void norm_fd_forward(const double *v, double *y, const void *ctx) {
  const norm_fd *f = ctx;
  zk_ref_norm(f->kind, f->wrt == FD_X ? v : f->x, f->wrt == FD_W ? v : f->w, f->wrt == FD_B ? v : f->b, y, f->R,
              f->D, f->eps, f->drop);
}

static double fd_norm(uint64_t seed, zk_ref_norm_kind kind, int has_w, int has_b, double eps,
                      const zk_ref_dropout *drop) {
  enum { R = 3, D = 7 };
  double x[R * D], w[D], b[D], dy[R * D], dx[R * D], dw[D], db[D];
  for (int i = 0; i < R * D; i++) x[i] = zk_rand_normal(&seed), dy[i] = zk_rand_normal(&seed);
  for (int j = 0; j < D; j++) w[j] = zk_rand_uniform(&seed, 0.5, 1.5), b[j] = zk_rand_uniform(&seed, -1, 1);
  norm_fd f = {kind, R, D, eps, x, has_w ? w : NULL, has_b ? b : NULL, drop, FD_X};
  zk_ref_norm_grad(kind, x, f.w, dy, dx, dw, NULL, db, NULL, R, D, eps, drop);
  double err = zk_fd_vjp_error(norm_fd_forward, &f, x, R * D, R * D, dy, dx);
  if (has_w) {
    f.wrt = FD_W;
    err = fmax(err, zk_fd_vjp_error(norm_fd_forward, &f, w, D, R * D, dy, dw));
  }
  if (has_b) {
    f.wrt = FD_B;
    err = fmax(err, zk_fd_vjp_error(norm_fd_forward, &f, b, D, R * D, dy, db));
  }
  return err;
}

static double fd_rmsnorm_grad(uint64_t seed) { return fd_norm(seed, ZK_REF_RMS, 1, 0, 1e-6, NULL); }
static double fd_rms_norm_no_weight_grad(uint64_t seed) { return fd_norm(seed, ZK_REF_RMS, 0, 0, 1e-6, NULL); }
static double fd_layernorm_grad(uint64_t seed) { return fd_norm(seed, ZK_REF_LAYER, 1, 1, 1e-5, NULL); }
static double fd_layer_norm_no_weight_grad(uint64_t seed) { return fd_norm(seed, ZK_REF_LAYER, 0, 0, 1e-5, NULL); }
static double fd_layer_norm_dropout_grad(uint64_t seed) {
  zk_ref_dropout d = {0.3f, seed ^ 0xD509, 5};
  return fd_norm(seed, ZK_REF_LAYER, 1, 1, 1e-5, &d);
}

/* ---------------------------------------------------------------- descriptors */

#define DROP_SEEDS {0x243F6A8885A308D3ull, 6}  /* an offset off the 4-word blocks */

static const zk_op_test norms_tests[] = {
    {.op = "rmsnorm",
     .t = {X_IN, PARAM_IN("weight", 0), ROWS_OUT("y", 0, ZK_TOL_ROW)},
     .nt = 3,
     .scalars = {1e-6},
     .call = call_rmsnorm,
     .ref = ref_rmsnorm,
     .alias_of = {[2] = 1},
     .bad = {BAD_EPS},
     .nbad = 3},
    {.op = "rmsnorm_grad",
     .t = {X_IN, PARAM_IN("weight", 0), DY_IN, ROWS_OUT("dx", 1, ZK_TOL_GRAD), PARAM_OUT("dweight", ZK_TOL_GRAD_ACC)},
     .nt = 5,
     .scalars = {1e-6},
     .call = call_rmsnorm_grad,
     .ref = ref_rmsnorm_grad,
     .fd_check = fd_rmsnorm_grad,
     .alias_of = {[3] = 3},
     .bad = {BAD_EPS},
     .nbad = 3},
    {.op = "rms_norm_no_weight",
     .t = {X_IN, ROWS_OUT("y", 0, ZK_TOL_ROW)},
     .nt = 2,
     .scalars = {1e-6},
     .call = call_rms_norm_no_weight,
     .ref = ref_rms_norm_no_weight,
     .alias_of = {[1] = 1},
     .bad = {BAD_EPS},
     .nbad = 3},
    {.op = "rms_norm_no_weight_grad",
     .t = {X_IN, DY_IN, ROWS_OUT("dx", 0, ZK_TOL_GRAD)},
     .nt = 3,
     .scalars = {1e-6},
     .call = call_rms_norm_no_weight_grad,
     .ref = ref_rms_norm_no_weight_grad,
     .fd_check = fd_rms_norm_no_weight_grad,
     .alias_of = {[2] = 2},
     .bad = {BAD_EPS},
     .nbad = 3},
    {.op = "layernorm",
     .t = {X_IN, PARAM_IN("gamma", 0), BIAS_IN, ROWS_OUT("y", 0, ZK_TOL_ROW)},
     .nt = 4,
     .scalars = {1e-5},
     .call = call_layernorm,
     .ref = ref_layernorm,
     .alias_of = {[3] = 1},
     .bad = {BAD_EPS},
     .nbad = 3},
    {.op = "layernorm_grad",
     .t = {X_IN, PARAM_IN("gamma", 0), DY_IN, ROWS_OUT("dx", 1, ZK_TOL_GRAD), PARAM_OUT("dgamma", ZK_TOL_GRAD_ACC),
           PARAM_OUT("dbeta", ZK_TOL_GRAD_ACC)},
     .nt = 6,
     .scalars = {1e-5},
     .call = call_layernorm_grad,
     .ref = ref_layernorm_grad,
     .fd_check = fd_layernorm_grad,
     .alias_of = {[3] = 3},
     .bad = {BAD_EPS},
     .nbad = 3},
    {.op = "layer_norm_no_weight",
     .t = {X_IN, ROWS_OUT("y", 0, ZK_TOL_ROW)},
     .nt = 2,
     .scalars = {1e-5},
     .call = call_layer_norm_no_weight,
     .ref = ref_layer_norm_no_weight,
     .alias_of = {[1] = 1},
     .bad = {BAD_EPS},
     .nbad = 3},
    {.op = "layer_norm_no_weight_grad",
     .t = {X_IN, DY_IN, ROWS_OUT("dx", 0, ZK_TOL_GRAD)},
     .nt = 3,
     .scalars = {1e-5},
     .call = call_layer_norm_no_weight_grad,
     .ref = ref_layer_norm_no_weight_grad,
     .fd_check = fd_layer_norm_no_weight_grad,
     .alias_of = {[2] = 2},
     .bad = {BAD_EPS},
     .nbad = 3},
    {.op = "layer_norm_dropout",
     .t = {X_IN, PARAM_IN("gamma", 0), BIAS_IN, ROWS_OUT("y", 0, ZK_TOL_ROW)},
     .nt = 4,
     .scalars = {1e-5, 0.25},
     .seeds = DROP_SEEDS,
     .call = call_layer_norm_dropout,
     .ref = ref_layer_norm_dropout,
     .alias_of = {[3] = 1},
     .bad = {BAD_EPS, BAD_P},
     .nbad = 6},
    {.op = "layer_norm_dropout_grad",
     .t = {X_IN, PARAM_IN("gamma", 0), DY_IN, ROWS_OUT("dx", 1, ZK_TOL_GRAD), PARAM_OUT("dgamma", ZK_TOL_GRAD_ACC),
           PARAM_OUT("dbeta", ZK_TOL_GRAD_ACC)},
     .nt = 6,
     .scalars = {1e-5, 0.25},
     .seeds = DROP_SEEDS,
     .call = call_layer_norm_dropout_grad,
     .ref = ref_layer_norm_dropout_grad,
     .fd_check = fd_layer_norm_dropout_grad,
     .alias_of = {[3] = 3},
     .bad = {BAD_EPS, BAD_P},
     .nbad = 6},
};
#define N_OPS ((int)(sizeof norms_tests / sizeof norms_tests[0]))

/* ================================================================ extras
 * The "Tests must check" items of spec §3 that the standard sweep does not
 * reach by itself. */

static const zk_dtype all_dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

/* The row output of a forward (y) or of a gradient (dx). */
static int row_out(const zk_op_test *t) { return zk_slot(t, "y") >= 0 ? zk_slot(t, "y") : zk_slot(t, "dx"); }

static int is_grad(const zk_op_test *t) { return zk_slot(t, "dy") >= 0; }

/* Checks c's output k against another run's output `want` under k's
 * tolerance class (the reference fills the other outputs). */
static int check_against(zk_case *c, int k, const double *want, char *msg, size_t cap) {
  c->test->ref(c);
  memcpy(c->ref[k], want, (size_t)zk_case_numel(c, k) * sizeof(double));
  memset(c->refabs[k], 0, (size_t)zk_case_numel(c, k) * sizeof(double));
  return zk_case_check(c, msg, cap);
}

/* ---------------------------------------------------- custom input values */

enum { CUSTOM_X = 1, CUSTOM_W = 2, CUSTOM_B = 4 };

/* A copy of op's descriptor whose chosen inputs come from fill. */
static zk_op_test custom_test(const char *op, int which, void (*fill)(zk_case *, int, double *, int64_t)) {
  zk_op_test t = *zk_find_test(op);
  for (int k = 0; k < t.nt; k++) {
    const char *n = t.t[k].name;
    int pick = !strcmp(n, "x") ? CUSTOM_X : !strcmp(n, "beta") ? CUSTOM_B
             : (!strcmp(n, "weight") || !strcmp(n, "gamma")) ? CUSTOM_W : 0;
    if (t.t[k].role == ZK_IN && (pick & which)) t.t[k].dist = ZK_DIST_CUSTOM;
  }
  t.fill = fill;
  return t;
}

static uint64_t fill_seed(const zk_case *c, int k) { return c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k; }

/* Parameters: weight/gamma 1; beta 10, so that a LayerNorm output is never
 * 0 (|x̂| <= sqrt(D-1) stays far below 10 for normal rows) and a dropout's
 * zeros are exactly its mask. */
static void fill_params(zk_case *c, int k, double *v, int64_t n) {
  double value = strcmp(c->test->t[k].name, "beta") ? 1.0 : 10.0;
  for (int64_t i = 0; i < n; i++) v[i] = value;
}

static void fill_normal(zk_case *c, int k, double *v, int64_t n, double mean) {
  uint64_t rng = fill_seed(c, k);
  for (int64_t i = 0; i < n; i++) v[i] = mean + zk_rand_normal(&rng);
}

/* x: normal rows, with row 1 all +0 and row 3 all -0. */
#define ZERO_ROW(r) ((r) == 1 || (r) == 3)
static void fill_zero_rows(zk_case *c, int k, double *v, int64_t n) {
  if (strcmp(c->test->t[k].name, "x")) return fill_params(c, k, v, n);
  fill_normal(c, k, v, n, 0.0);
  for (int64_t i = 0; i < n; i++)
    if (ZERO_ROW(i / c->D)) v[i] = i / c->D == 1 ? 0.0 : -0.0;
}

/* x: rows of mean 1e4 and spread 1 (spec §3.4: cancellation in f32). */
static void fill_mean_1e4(zk_case *c, int k, double *v, int64_t n) {
  if (strcmp(c->test->t[k].name, "x")) return fill_params(c, k, v, n);
  fill_normal(c, k, v, n, 1e4);
}

/* x: each row one constant, from 0 to magnitudes where a naive mean drifts. */
static void fill_constant_rows(zk_case *c, int k, double *v, int64_t n) {
  static const double values[] = {0.0, 1e4, -3.7, 0.1, 12345.678, -1e-3, 2.0};
  if (strcmp(c->test->t[k].name, "x")) return fill_params(c, k, v, n);
  for (int64_t i = 0; i < n; i++) v[i] = values[(i / c->D) % 7];
}

/* x: normal rows, with +Inf at row 1 col 0, NaN at row 2 col D-1, -Inf in row 3. */
static void fill_specials(zk_case *c, int k, double *v, int64_t n) {
  if (strcmp(c->test->t[k].name, "x")) return fill_params(c, k, v, n);
  fill_normal(c, k, v, n, 0.0);
  int64_t D = c->D;
  v[1 * D] = INFINITY;
  v[2 * D + D - 1] = NAN;
  v[3 * D + D / 2] = -INFINITY;
}

/* ------------------------------------------------------------ the extras */

/* A zero row gives exactly 0 (spec §3.1, §3.3), with no NaN from 0·r. */
static int extra_zero_row(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"rmsnorm", "rms_norm_no_weight"};
  static const int64_t cols[] = {1, 33, 4097};
  uint64_t rng = zk_test_seed() ^ 0x2e60;
  for (int o = 0; o < 2; o++)
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 3; ci++) {
        zk_op_test t = custom_test(ops[o], CUSTOM_X, fill_zero_rows);
        zk_case c;
        if (zk_setup_case(&c, &t, be, all_dtypes[d], all_dtypes[d], 5, cols[ci], ci == 1, zk_rand_u64(&rng), msg, cap))
          return 1;
        int k = row_out(&t), fail = zk_case_run_checked(&c, ctx, msg, cap);
        for (int64_t i = 0; !fail && i < zk_case_numel(&c, k); i++)
          if (ZERO_ROW(i / c.D) && c.got[k][i] != 0.0) fail = zk_fail_at(msg, cap, &c, k, i, "a zero row must give 0");
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* Parameters in another dtype than x: bf16 with f32 x, f32 with bf16 x, and
 * f16 against both (spec §3.1). */
static int extra_mixed_param_dtypes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const zk_dtype pairs[][2] = {{ZK_F32, ZK_BF16}, {ZK_BF16, ZK_F32}, {ZK_F32, ZK_F16}, {ZK_F16, ZK_BF16}};
  uint64_t rng = zk_test_seed() ^ 0x3d7;
  for (int i = 0; i < N_OPS; i++) {
    const zk_op_test *t = &norms_tests[i];
    if (zk_slot(t, "weight") < 0 && zk_slot(t, "gamma") < 0) continue;
    for (int p = 0; p < 4; p++)
      for (int strided = 0; strided < 2; strided++)
        if (zk_check_case(t, ctx, be, pairs[p][0], pairs[p][1], 5, 257, strided, zk_rand_u64(&rng), msg, cap)) return 1;
  }
  return 0;
}

/* Rows wider than the sweep's widest: D = 65537 (spec §3.1). */
static int extra_wide_rows(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  uint64_t rng = zk_test_seed() ^ 0x10001;
  for (int i = 0; i < N_OPS; i++)
    for (int d = 0; d < 3; d++)
      if (zk_check_case(&norms_tests[i], ctx, be, all_dtypes[d], ZK_F32, 3, 65537, d == 1, zk_rand_u64(&rng), msg, cap))
        return 1;
  return 0;
}

/* Outputs of 16 MiB and more, which the CPU writes with streaming stores
 * (bf16 with a staging row, rows at every alignment, in place too). */
static int extra_large_outputs(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"rmsnorm", "layernorm", "rmsnorm_grad", "layernorm_grad"};
  uint64_t rng = zk_test_seed() ^ 0x16;
  for (int o = 0; o < 4; o++)
    for (int v = 0; v < 2; v++) {
      const zk_op_test *t = zk_find_test(ops[o]);
      int k = row_out(t);
      zk_case_opts opts = {be, v ? ZK_F16 : ZK_BF16, ZK_F32, 129, 65537, !v, 0, zk_rand_u64(&rng), -1,
                           v ? k : -1};
      zk_case c;
      int fail = zk_case_init(&c, t, &opts);
      if (fail) snprintf(msg, cap, "cannot set up a case");
      if (!fail) fail = zk_case_run_checked(&c, ctx, msg, cap);
      zk_case_free(&c);
      if (fail) return 1;
    }
  return 0;
}

/* The no-weight norms equal the weighted ones with weight 1 and no bias,
 * forward within ROW and gradient within GRAD (spec §3.3, §3.5).  Both
 * cases draw x (and dy) from the same seed in the same order. */
static int extra_no_weight_equals_unit_weight(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *pairs[][2] = {{"rms_norm_no_weight", "rmsnorm"},
                                   {"rms_norm_no_weight_grad", "rmsnorm_grad"},
                                   {"layer_norm_no_weight", "layernorm"},
                                   {"layer_norm_no_weight_grad", "layernorm_grad"}};
  static const int64_t cols[] = {31, 4097};
  uint64_t rng = zk_test_seed() ^ 0x1;
  for (int p = 0; p < 4; p++)
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 2; ci++) {
        const zk_op_test *ta = zk_find_test(pairs[p][0]);
        zk_op_test tb = custom_test(pairs[p][1], CUSTOM_W, fill_params);
        uint64_t seed = zk_rand_u64(&rng);
        zk_case a, b;
        if (zk_setup_case(&a, ta, be, all_dtypes[d], all_dtypes[d], 7, cols[ci], 0, seed, msg, cap)) return 1;
        zk_case_opts o = {be, all_dtypes[d], all_dtypes[d], 7, cols[ci], 1, 0, seed, zk_slot(&tb, "beta"), -1};
        if (zk_case_init(&b, &tb, &o)) {
          zk_case_free(&a);
          zk_case_free(&b);
          snprintf(msg, cap, "cannot set up a case");
          return 1;
        }
        int fail = zk_case_run_ok(&a, ctx, msg, cap) || zk_case_run_ok(&b, ctx, msg, cap) ||
                   check_against(&b, row_out(&tb), a.got[row_out(ta)], msg, cap);
        zk_case_free(&a);
        zk_case_free(&b);
        if (fail) return 1;
      }
  return 0;
}

/* Rows of mean 1e4 and spread 1 in f32: within ROW/GRAD of the float64
 * two-pass reference, no cancellation NaN (spec §3.4). */
static int extra_large_mean(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t cols[] = {3, 257, 4097};
  uint64_t rng = zk_test_seed() ^ 0x1e4;
  for (int i = 0; i < N_OPS; i++) {
    if (strncmp(norms_tests[i].op, "layer", 5)) continue;
    zk_op_test t = custom_test(norms_tests[i].op, CUSTOM_X, fill_mean_1e4);
    for (int ci = 0; ci < 3; ci++)
      if (zk_check_case(&t, ctx, be, ZK_F32, ZK_F32, 8, cols[ci], ci == 1, zk_rand_u64(&rng), msg, cap)) return 1;
  }
  return 0;
}

/* A constant row gives exactly round_T(beta), or 0 without beta (spec §3.4,
 * §3.5). */
static int extra_constant_row(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"layernorm", "layer_norm_no_weight"};
  static const int64_t cols[] = {1, 7, 4097};
  uint64_t rng = zk_test_seed() ^ 0xc0;
  for (int o = 0; o < 2; o++)
    for (int with_beta = 0; with_beta < 2 - o; with_beta++)
      for (int d = 0; d < 3; d++)
        for (int ci = 0; ci < 3; ci++) {
          zk_op_test t = custom_test(ops[o], CUSTOM_X, fill_constant_rows);
          int kb = zk_slot(&t, "beta"), ky = row_out(&t);
          zk_case_opts opts = {be, all_dtypes[d], all_dtypes[(d + 1) % 3], 7, cols[ci], ci == 1, 0,
                               zk_rand_u64(&rng), with_beta ? -1 : kb, -1};
          zk_case c;
          if (zk_case_init(&c, &t, &opts)) {
            zk_case_free(&c);
            snprintf(msg, cap, "cannot set up a case");
            return 1;
          }
          int fail = zk_case_run_ok(&c, ctx, msg, cap);
          for (int64_t i = 0; !fail && i < zk_case_numel(&c, ky); i++) {
            double want = with_beta ? zk_round_to(c.val[kb][i % c.D], c.dtype) : 0.0;
            if (c.got[ky][i] != want) fail = zk_fail_at(msg, cap, &c, ky, i, "a constant row must give round_T(beta)");
          }
          zk_case_free(&c);
          if (fail) return 1;
        }
  return 0;
}

/* Each gradient output computed on its own (the others NULL) is right, and
 * all of them NULL is a successful no-op (spec §3.2). */
static int extra_grad_outputs_alone(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  uint64_t rng = zk_test_seed() ^ 0xa1;
  for (int i = 0; i < N_OPS; i++) {
    const zk_op_test *t = &norms_tests[i];
    if (!is_grad(t) || !t->t[row_out(t)].optional) continue;
    if (zk_check_outputs_alone(t, ctx, be, ZK_F32, ZK_BF16, 33, 257, 1, zk_rand_u64(&rng), msg, cap)) return 1;
  }
  return 0;
}

/* No rows: the parameter gradients are still written, as exactly 0, with
 * or without dx (spec §0, §3.2). */
static int extra_no_rows_param_grads(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t cols[] = {1, 33, 4097};
  for (int i = 0; i < N_OPS; i++) {
    const zk_op_test *t = &norms_tests[i];
    if (!is_grad(t) || !t->t[row_out(t)].optional) continue;
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 3; ci++)
        for (int with_dx = 0; with_dx < 2; with_dx++)
          if (zk_check_no_rows_zero_vectors(t, ctx, be, all_dtypes[d], all_dtypes[2 - d], cols[ci],
                                            with_dx ? -1 : row_out(t), msg, cap))
            return 1;
  }
  return 0;
}

/* IEEE specials as written (spec §0, §3.1): RMS gives NaN at an Inf and 0
 * beside it; a NaN spreads over its row (and into the parameter gradients'
 * columns); the reference has the same NaN pattern. */
static int extra_ieee_specials(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"rmsnorm", "rms_norm_no_weight", "rmsnorm_grad", "rms_norm_no_weight_grad"};
  uint64_t rng = zk_test_seed() ^ 0x1eee;
  for (int o = 0; o < 4; o++)
    for (int d = 0; d < 3; d++) {
      zk_op_test t = custom_test(ops[o], CUSTOM_X, fill_specials);
      if (zk_check_case(&t, ctx, be, all_dtypes[d], ZK_F32, 5, 37, d == 2, zk_rand_u64(&rng), msg, cap)) return 1;
    }
  return 0;
}

/* ------------------------------------------------------------ dropout */

/* Runs layer_norm_dropout (beta 10, so y = 0 exactly where dropped) at the
 * given p, seed and offset, and checks the values against the reference. */
static const zk_op_test *dropout_test(void) {
  static zk_op_test t; /* built once: a case keeps a pointer to its descriptor */
  if (!t.op) t = custom_test("layer_norm_dropout", CUSTOM_W | CUSTOM_B, fill_params);
  return &t;
}

static int run_dropout(zk_case *c, zk_ctx *ctx, zk_backend be, zk_dtype dt, int64_t R, int64_t D, int strided,
                       float p, uint64_t seed, uint64_t offset, uint64_t data_seed, char *msg, size_t cap) {
  if (zk_setup_case(c, dropout_test(), be, dt, dt, R, D, strided, data_seed, msg, cap)) return 1;
  c->s[1] = p;
  c->u[0] = seed;
  c->u[1] = offset;
  return zk_case_run_checked(c, ctx, msg, cap);
}

/* The keep pattern against the reference Philox, EXACT: y is +0 exactly
 * where dropped and nonzero where kept (the values are ROW against
 * float64 LN·s, checked by run_dropout).  The flat index is logical
 * (r·D + j) even for strided rows, and offset + i wraps mod 2^64. */
static int check_keep(const zk_case *c, char *msg, size_t cap) {
  int k = 3;
  for (int64_t i = 0; i < zk_case_numel(c, k); i++) {
    int keep = zk_ref_dropout_keep((float)c->s[1], c->u[0], c->u[1], (uint64_t)i);
    double y = c->got[k][i];
    if (keep && y == 0.0) return zk_fail_at(msg, cap, c, k, i, "kept by the reference Philox but 0");
    if (!keep && (y != 0.0 || signbit(y))) return zk_fail_at(msg, cap, c, k, i, "dropped by the reference Philox: not +0");
  }
  return 0;
}

static int extra_dropout_keep_pattern(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const float ps[] = {0.1f, 0.5f, 0.9f, 0.999f};
  static const uint64_t offsets[] = {0, 3, 1ull << 40, ~0ull - 4};
  uint64_t rng = zk_test_seed() ^ 0xd0;
  for (int d = 0; d < 3; d++)
    for (int i = 0; i < 4; i++) {
      zk_case c;
      int fail = run_dropout(&c, ctx, be, all_dtypes[d], 5, 257, i & 1, ps[i], zk_rand_u64(&rng), offsets[i],
                             zk_rand_u64(&rng), msg, cap) ||
                 check_keep(&c, msg, cap);
      zk_case_free(&c);
      if (fail) return 1;
    }
  return 0;
}

/* Spec §4.0's known answer: seed 42, offset 0, p = 0.5 keeps
 * 10001010111111100100000001000000 for i = 0..31; here over 4 rows of 8,
 * and through the gradient (dbeta_j = dy_j·keep_j·s over one row of 32). */
static int extra_dropout_known_answer(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char pattern[] = "10001010111111100100000001000000";
  zk_case c;
  if (run_dropout(&c, ctx, be, ZK_F32, 4, 8, 0, 0.5f, 42, 0, zk_test_seed(), msg, cap)) {
    zk_case_free(&c);
    return 1;
  }
  int fail = 0;
  for (int i = 0; i < 32 && !fail; i++)
    if ((c.got[3][i] != 0.0) != (pattern[i] == '1')) fail = zk_fail_at(msg, cap, &c, 3, i, "off the spec's keep pattern");
  zk_case_free(&c);
  if (fail) return 1;

  const zk_op_test *g = zk_find_test("layer_norm_dropout_grad");
  if (zk_setup_case(&c, g, be, ZK_F32, ZK_F32, 1, 32, 0, zk_test_seed(), msg, cap)) return 1;
  c.s[1] = 0.5;
  c.u[0] = 42;
  c.u[1] = 0;
  fail = zk_case_run_checked(&c, ctx, msg, cap);
  int kb = zk_slot(g, "dbeta");
  for (int i = 0; i < 32 && !fail; i++)
    if ((c.got[kb][i] != 0.0) != (pattern[i] == '1')) fail = zk_fail_at(msg, cap, &c, kb, i, "off the spec's keep pattern");
  zk_case_free(&c);
  return fail;
}

/* p = 0 matches zk_layernorm (ROW) and its gradient (GRAD, all outputs). */
static int extra_dropout_p0(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *pairs[][2] = {{"layernorm", "layer_norm_dropout"}, {"layernorm_grad", "layer_norm_dropout_grad"}};
  uint64_t rng = zk_test_seed() ^ 0x90;
  for (int p = 0; p < 2; p++)
    for (int d = 0; d < 3; d++) {
      const zk_op_test *ta = zk_find_test(pairs[p][0]), *tb = zk_find_test(pairs[p][1]);
      uint64_t seed = zk_rand_u64(&rng);
      zk_case a, b;
      if (zk_setup_case(&a, ta, be, all_dtypes[d], ZK_F32, 9, 1031, d == 1, seed, msg, cap)) return 1;
      if (zk_setup_case(&b, tb, be, all_dtypes[d], ZK_F32, 9, 1031, d == 1, seed, msg, cap)) {
        zk_case_free(&a);
        return 1;
      }
      b.s[1] = 0.0;
      int fail = zk_case_run_ok(&a, ctx, msg, cap) || zk_case_run_ok(&b, ctx, msg, cap);
      if (!fail) {
        tb->ref(&b);
        for (int k = 0; k < tb->nt; k++) {
          if (tb->t[k].role != ZK_OUT) continue;
          memcpy(b.ref[k], a.got[k], (size_t)zk_case_numel(&b, k) * sizeof(double));
          memset(b.refabs[k], 0, (size_t)zk_case_numel(&b, k) * sizeof(double));
        }
        fail = zk_case_check(&b, msg, cap);
      }
      zk_case_free(&a);
      zk_case_free(&b);
      if (fail) return 1;
    }
  return 0;
}

/* p = 1 drops everything: y, dx, dgamma and dbeta are all +0. */
static int extra_dropout_p1(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"layer_norm_dropout", "layer_norm_dropout_grad"};
  uint64_t rng = zk_test_seed() ^ 0x91;
  for (int o = 0; o < 2; o++)
    for (int d = 0; d < 3; d++) {
      const zk_op_test *t = zk_find_test(ops[o]);
      zk_case c;
      if (zk_setup_case(&c, t, be, all_dtypes[d], all_dtypes[d], 9, 1031, d == 2, zk_rand_u64(&rng), msg, cap)) return 1;
      c.s[1] = 1.0;
      int fail = zk_case_run_ok(&c, ctx, msg, cap);
      for (int k = 0; !fail && k < t->nt; k++) {
        if (t->t[k].role != ZK_OUT) continue;
        for (int64_t i = 0; !fail && i < zk_case_numel(&c, k); i++)
          if (c.got[k][i] != 0.0 || signbit(c.got[k][i])) fail = zk_fail_at(msg, cap, &c, k, i, "p = 1 must give +0");
      }
      zk_case_free(&c);
      if (fail) return 1;
    }
  return 0;
}

/* layer_norm_dropout over rows skip.. of the case's x (skip = s[3]) at offset
 * u[1] + skip·D, into the same rows of y. */
static zk_status call_dropout_tail(zk_ctx *ctx, zk_case *c) {
  int64_t skip = (int64_t)c->s[3], shape[2] = {c->R - skip, c->D};
  DLTensor x = *ZT(c, 0), y = *ZT(c, 3);
  x.shape = y.shape = shape;
  x.byte_offset += (uint64_t)(skip * c->stride[0] * zk_dtype_size(c->tdtype[0]));
  y.byte_offset += (uint64_t)(skip * c->stride[3] * zk_dtype_size(c->tdtype[3]));
  zk_layer_norm_dropout_params p = params_of(c);
  p.offset += (uint64_t)(skip * c->D);
  return zk_layer_norm_dropout(ctx, &x, ZT(c, 1), ZT(c, 2), &y, &p);
}

/* Offsets compose (spec §4.0): a call at offset o reproduces elements o..
 * of the call at offset 0: bit for bit over whole rows, and as the keep
 * pattern for offsets inside a row or a Philox block. */
static int extra_dropout_offset_composition(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  enum { R = 6, D = 37 };
  static const uint64_t offsets[] = {1, 5, D + 3, 4 * D};
  uint64_t rng = zk_test_seed() ^ 0x0ff5e7;
  for (int d = 0; d < 3; d += 2) {
    uint64_t seed = zk_rand_u64(&rng), data = zk_rand_u64(&rng);
    zk_case a, b;
    if (run_dropout(&a, ctx, be, all_dtypes[d], R, D, 1, 0.5f, seed, 0, data, msg, cap)) {
      zk_case_free(&a);
      return 1;
    }
    int fail = 0;
    /* Whole rows: rows 2.. at offset 2·D equal rows 2.. of the full call. */
    zk_op_test tail = *a.test;
    tail.call = call_dropout_tail;
    if (zk_setup_case(&b, &tail, be, all_dtypes[d], all_dtypes[d], R, D, 1, data, msg, cap)) {
      zk_case_free(&a);
      return 1;
    }
    b.s[1] = 0.5;
    b.s[3] = 2;
    b.u[0] = seed;
    b.u[1] = 0;
    fail = zk_case_run_ok(&b, ctx, msg, cap);
    for (int64_t i = 0; !fail && i < R * D; i++) {
      if (i < 2 * D && !isnan(b.got[3][i])) fail = zk_fail_at(msg, cap, &b, 3, i, "outside the call's rows");
      if (i >= 2 * D && memcmp(&b.got[3][i], &a.got[3][i], sizeof(double)))
        fail = zk_fail_at(msg, cap, &b, 3, i, "off the offset-0 call");
    }
    zk_case_free(&b);
    /* Any offset: the keep pattern shifts by o. */
    for (int o = 0; !fail && o < 4; o++) {
      fail = run_dropout(&b, ctx, be, all_dtypes[d], R, D, 0, 0.5f, seed, offsets[o], data, msg, cap);
      for (int64_t i = 0; !fail && i + (int64_t)offsets[o] < R * D; i++)
        if ((b.got[3][i] != 0.0) != (a.got[3][i + (int64_t)offsets[o]] != 0.0))
          fail = zk_fail_at(msg, cap, &b, 3, i, "keep differs from the offset-0 call's element i + offset");
      zk_case_free(&b);
    }
    zk_case_free(&a);
    if (fail) return 1;
  }
  return 0;
}

/* A NULL params struct is ZK_ERR_ARG, with nothing written. */
static zk_status call_dropout_null(zk_ctx *ctx, zk_case *c) {
  return zk_layer_norm_dropout(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), NULL);
}
static zk_status call_dropout_grad_null(zk_ctx *ctx, zk_case *c) {
  return zk_layer_norm_dropout_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), NULL);
}

static int extra_dropout_null_params(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"layer_norm_dropout", "layer_norm_dropout_grad"};
  for (int o = 0; o < 2; o++) {
    zk_op_test t = *zk_find_test(ops[o]);
    t.call = o ? call_dropout_grad_null : call_dropout_null;
    zk_case c;
    if (zk_setup_case(&c, &t, be, ZK_F32, ZK_F32, 3, 33, 0, 5, msg, cap)) return 1;
    zk_status s = zk_case_run(&c, ctx);
    char want[64];
    snprintf(want, sizeof want, "zk_%s:", t.op);
    int fail = 0;
    if (s != ZK_ERR_ARG || strncmp(zk_ctx_last_error(ctx), want, strlen(want))) {
      snprintf(msg, cap, "%s with params NULL: %s (%s), expected ZK_ERR_ARG", t.op, zk_status_name(s),
               zk_ctx_last_error(ctx));
      fail = 1;
    }
    for (int k = 0; !fail && k < t.nt; k++) {
      if (t.t[k].role != ZK_OUT) continue;
      for (int64_t i = 0; !fail && i < zk_case_numel(&c, k); i++)
        if (!isnan(c.got[k][i])) fail = zk_fail_at(msg, cap, &c, k, i, "written by a rejected call");
    }
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

static const zk_extra_test norms_extras[] = {
    {"zero_row_exact", extra_zero_row},
    {"mixed_param_dtypes", extra_mixed_param_dtypes},
    {"wide_rows_65537", extra_wide_rows},
    {"large_outputs", extra_large_outputs},
    {"no_weight_equals_unit_weight", extra_no_weight_equals_unit_weight},
    {"mean_1e4_spread_1", extra_large_mean},
    {"constant_row_exact", extra_constant_row},
    {"grad_outputs_alone", extra_grad_outputs_alone},
    {"no_rows_param_grads_zero", extra_no_rows_param_grads},
    {"ieee_specials", extra_ieee_specials},
    {"dropout_keep_pattern", extra_dropout_keep_pattern},
    {"dropout_known_answer", extra_dropout_known_answer},
    {"dropout_p0_matches_layernorm", extra_dropout_p0},
    {"dropout_p1_all_zero", extra_dropout_p1},
    {"dropout_offset_composition", extra_dropout_offset_composition},
    {"dropout_null_params", extra_dropout_null_params},
};

const zk_family_tests zk_tests_norms = {"norms", norms_tests, N_OPS, norms_extras,
                                        sizeof norms_extras / sizeof norms_extras[0]};
