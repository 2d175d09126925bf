/* Test descriptors and extras of the vlsp family (spec §5).
 *
 * fused_recurrent_step is ROW plus the ACC term of its residual sum
 * (ZK_TOL_ROW_ACC, S = |h| + |update|), its VJP GRAD (dw_norm GRAD+ACC);
 * the depth gate EW (continuous) and EXACT (ste, an extra sweep); GRPO
 * advantages ROW; silu_mul_residual EW, its VJP GRAD with dresidual EXACT.
 * Every VJP is checked against central differences of the reference
 * forward.  The extras cover the spec's "Tests must check" items the
 * generic sweep does not: α = 0 exact, the ste sweep and known answers
 * (σ(0), ties, clamping), both GRPO modes and ddof values over G ∈ {1, 2, 8,
 * 64, 1024}, constant groups, row means, up = 0, the other aliases, each
 * gradient output alone and dw_norm without rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/vlsp.h>
#include "../src/ref/vlsp.h"
#include "harness/checks.h"
#include "harness/harness.h"

static const zk_dtype all_dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

/* ------------------------------------------------------ calls and references
 * Scalar slots: recurrent step s[0] = alpha, s[1] = eps; depth gate s[0] =
 * k_max, s[1] = mode; GRPO s[0] = eps, s[1] = ddof, s[2] = eps_mode. */

static zk_status call_recurrent(zk_ctx *ctx, zk_case *c) {
  return zk_fused_recurrent_step(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), (float)c->s[0], (float)c->s[1]);
}
static void ref_recurrent(zk_case *c) {
  zk_ref_fused_recurrent_step(c->val[0], c->val[1], c->val[2], c->ref[3], c->refabs[3], c->R, c->D, (float)c->s[0],
                              (float)c->s[1]);
}

static zk_status call_recurrent_grad(zk_ctx *ctx, zk_case *c) {
  return zk_fused_recurrent_step_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), ZT(c, 6),
                                      (float)c->s[0], (float)c->s[1]);
}
static void ref_recurrent_grad(zk_case *c) {
  zk_ref_fused_recurrent_step_grad(c->val[0], c->val[1], c->val[2], c->val[3], c->ref[4], c->ref[5], c->refabs[5],
                                   c->ref[6], c->R, c->D, (float)c->s[0], (float)c->s[1]);
}

static zk_status call_depth_gate(zk_ctx *ctx, zk_case *c) {
  return zk_depth_gate_sigmoid(ctx, ZT(c, 0), ZT(c, 1), (int32_t)c->s[0], (zk_depth_gate_mode)(int)c->s[1]);
}
static void ref_depth_gate(zk_case *c) {
  zk_ref_depth_gate_sigmoid(c->val[0], c->ref[1], zk_case_numel(c, 0), (float)c->s[0], c->s[1] == 1);
}

static zk_status call_depth_gate_grad(zk_ctx *ctx, zk_case *c) {
  return zk_depth_gate_sigmoid_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (int32_t)c->s[0]);
}
static void ref_depth_gate_grad(zk_case *c) {
  zk_ref_depth_gate_sigmoid_grad(c->val[0], c->val[1], c->ref[2], zk_case_numel(c, 0), (float)c->s[0]);
}

static zk_status call_grpo(zk_ctx *ctx, zk_case *c) {
  return zk_grpo_advantage_norm(ctx, ZT(c, 0), ZT(c, 1), (float)c->s[0], (int)c->s[1], (zk_grpo_eps_mode)(int)c->s[2]);
}
static void ref_grpo(zk_case *c) {
  zk_ref_grpo_advantage_norm(c->val[0], c->ref[1], c->R, c->D, (float)c->s[0], (int)c->s[1], c->s[2] == 1);
}

static zk_status call_silu_mul_residual(zk_ctx *ctx, zk_case *c) {
  return zk_silu_mul_residual(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3));
}
static void ref_silu_mul_residual(zk_case *c) {
  zk_ref_silu_mul_residual(c->val[0], c->val[1], c->val[2], c->ref[3], zk_case_numel(c, 0));
}

static zk_status call_silu_mul_residual_grad(zk_ctx *ctx, zk_case *c) {
  return zk_silu_mul_residual_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5));
}
static void ref_silu_mul_residual_grad(zk_case *c) {
  zk_ref_silu_mul_residual_grad(c->val[0], c->val[1], c->val[2], c->ref[3], c->ref[4], c->ref[5],
                                zk_case_numel(c, 0));
}

/* ------------------------------------------------------ central differences
 * Each reference VJP against central differences of the reference forward,
 * with respect to every differentiable input. */

enum { FD_R = 3, FD_D = 7, FD_N = FD_R * FD_D };
#define FD_ALPHA 0.7
#define FD_EPS 1e-6
#define FD_K 8.0

typedef struct fd_env {
  const double *in[3];
  int wrt; /* which of in[] v stands for */
} fd_env;

static const double *fd_arg(const fd_env *e, const double *v, int k) { return e->wrt == k ? v : e->in[k]; }

static void fd_recurrent_forward(const double *v, double *y, const void *ctx) {
  const fd_env *e = ctx;
  zk_ref_fused_recurrent_step(fd_arg(e, v, 0), fd_arg(e, v, 1), fd_arg(e, v, 2), y, NULL, FD_R, FD_D, FD_ALPHA, FD_EPS);
}

static double fd_recurrent_grad(uint64_t seed) {
  double h[FD_N], w[FD_D], gate[FD_N], dout[FD_N], dh[FD_N], dw[FD_D], dgate[FD_N];
  for (int i = 0; i < FD_N; i++)
    h[i] = zk_rand_normal(&seed), gate[i] = zk_rand_normal(&seed), dout[i] = zk_rand_normal(&seed);
  for (int j = 0; j < FD_D; j++) w[j] = zk_rand_uniform(&seed, 0.5, 1.5);
  zk_ref_fused_recurrent_step_grad(h, w, gate, dout, dh, dw, NULL, dgate, FD_R, FD_D, FD_ALPHA, FD_EPS);
  fd_env e = {{h, w, gate}, 0};
  double err = zk_fd_vjp_error(fd_recurrent_forward, &e, h, FD_N, FD_N, dout, dh);
  e.wrt = 1;
  err = fmax(err, zk_fd_vjp_error(fd_recurrent_forward, &e, w, FD_D, FD_N, dout, dw));
  e.wrt = 2;
  return fmax(err, zk_fd_vjp_error(fd_recurrent_forward, &e, gate, FD_N, FD_N, dout, dgate));
}

/* ste's VJP is the straight-through one: that of the continuous gate. */
static void fd_depth_gate_forward(const double *v, double *y, const void *ctx) {
  (void)ctx;
  zk_ref_depth_gate_sigmoid(v, y, FD_N, FD_K, 0);
}

static double fd_depth_gate_grad(uint64_t seed) {
  double x[FD_N], dy[FD_N], dx[FD_N];
  for (int i = 0; i < FD_N; i++) x[i] = 2.0 * zk_rand_normal(&seed), dy[i] = zk_rand_normal(&seed);
  zk_ref_depth_gate_sigmoid_grad(x, dy, dx, FD_N, FD_K);
  return zk_fd_vjp_error(fd_depth_gate_forward, NULL, x, FD_N, FD_N, dy, dx);
}

static void fd_silu_mul_residual_forward(const double *v, double *y, const void *ctx) {
  const fd_env *e = ctx;
  zk_ref_silu_mul_residual(fd_arg(e, v, 0), fd_arg(e, v, 1), fd_arg(e, v, 2), y, FD_N);
}

static double fd_silu_mul_residual_grad(uint64_t seed) {
  double g[FD_N], u[FD_N], res[FD_N], dy[FD_N], dg[FD_N], du[FD_N], dr[FD_N];
  for (int i = 0; i < FD_N; i++)
    g[i] = 2.0 * zk_rand_normal(&seed), u[i] = zk_rand_normal(&seed), res[i] = zk_rand_normal(&seed),
    dy[i] = zk_rand_normal(&seed);
  zk_ref_silu_mul_residual_grad(g, u, dy, dg, du, dr, FD_N);
  fd_env e = {{g, u, res}, 0};
  double err = 0;
  const double *grads[3] = {dg, du, dr};
  for (e.wrt = 0; e.wrt < 3; e.wrt++)
    err = fmax(err, zk_fd_vjp_error(fd_silu_mul_residual_forward, &e, e.in[e.wrt], FD_N, FD_N, dy, grads[e.wrt]));
  return err;
}

/* ---------------------------------------------------------------- descriptors */

#define ROWS_IN(name) {name, ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
#define ROWS_UNIFORM_IN(name, lo, hi) {name, ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_UNIFORM, lo, hi}
#define W_IN {"w_norm", ZK_IN, ZK_SHAPE_VEC, ZK_DT_PARAM, 0, 0, ZK_DIST_UNIFORM, 0.5, 1.5}
#define ROWS_OUT(name, opt, tol) {name, ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, opt, tol, 0, 0, 0}
#define DW_OUT {"dw_norm", ZK_OUT, ZK_SHAPE_VEC, ZK_DT_PARAM, 1, ZK_TOL_GRAD_ACC, 0, 0, 0}
#define BAD_ALPHA_EPS {0, NAN, ZK_ERR_ARG}, {0, INFINITY, ZK_ERR_ARG}, {1, -1e-3, ZK_ERR_ARG}, {1, NAN, ZK_ERR_ARG}, \
                      {1, INFINITY, ZK_ERR_ARG}
#define BAD_K_MAX {0, 0, ZK_ERR_ARG}, {0, -3, ZK_ERR_ARG}

static const zk_op_test vlsp_tests[] = {
    {.op = "fused_recurrent_step",
     .t = {ROWS_IN("h"), W_IN, ROWS_IN("gate"), ROWS_OUT("out", 0, ZK_TOL_ROW_ACC)},
     .nt = 4,
     .scalars = {0.7, 1e-6},
     .call = call_recurrent,
     .ref = ref_recurrent,
     .alias_of = {[3] = 1},
     .bad = {BAD_ALPHA_EPS},
     .nbad = 5},
    {.op = "depth_gate_sigmoid",
     .t = {ROWS_UNIFORM_IN("x", -8, 8), ROWS_OUT("y", 0, ZK_TOL_EW)},
     .nt = 2,
     .scalars = {8, 0},
     .call = call_depth_gate,
     .ref = ref_depth_gate,
     .alias_of = {[1] = 1},
     .bad = {BAD_K_MAX, {1, 2, ZK_ERR_ARG}, {1, -1, ZK_ERR_ARG}},
     .nbad = 4},
    {.op = "grpo_advantage_norm",
     .t = {ROWS_IN("rewards"), ROWS_OUT("adv", 0, ZK_TOL_ROW)},
     .nt = 2,
     .scalars = {1e-6, 0, 0},
     .call = call_grpo,
     .ref = ref_grpo,
     .alias_of = {[1] = 1},
     .bad = {{0, -1e-3, ZK_ERR_ARG}, {0, NAN, ZK_ERR_ARG}, {0, INFINITY, ZK_ERR_ARG}, {1, 2, ZK_ERR_ARG},
             {1, -1, ZK_ERR_ARG}, {2, 2, ZK_ERR_ARG}, {2, -1, ZK_ERR_ARG}},
     .nbad = 7},
    {.op = "silu_mul_residual",
     .t = {ROWS_IN("gate"), ROWS_IN("up"), ROWS_IN("residual"), ROWS_OUT("y", 0, ZK_TOL_EW)},
     .nt = 4,
     .call = call_silu_mul_residual,
     .ref = ref_silu_mul_residual,
     .alias_of = {[3] = 1}},
    {.op = "fused_recurrent_step_grad",
     .t = {ROWS_IN("h"), W_IN, ROWS_IN("gate"), ROWS_IN("dout"), ROWS_OUT("dh", 1, ZK_TOL_GRAD), DW_OUT,
           ROWS_OUT("dgate", 1, ZK_TOL_GRAD)},
     .nt = 7,
     .scalars = {0.7, 1e-6},
     .call = call_recurrent_grad,
     .ref = ref_recurrent_grad,
     .fd_check = fd_recurrent_grad,
     .bad = {BAD_ALPHA_EPS},
     .nbad = 5},
    {.op = "depth_gate_sigmoid_grad",
     .t = {ROWS_UNIFORM_IN("x", -8, 8), ROWS_IN("dy"), ROWS_OUT("dx", 0, ZK_TOL_GRAD)},
     .nt = 3,
     .scalars = {8},
     .call = call_depth_gate_grad,
     .ref = ref_depth_gate_grad,
     .fd_check = fd_depth_gate_grad,
     .alias_of = {[2] = 2},
     .bad = {BAD_K_MAX},
     .nbad = 2},
    {.op = "silu_mul_residual_grad",
     .t = {ROWS_IN("gate"), ROWS_IN("up"), ROWS_IN("dy"), ROWS_OUT("dgate", 1, ZK_TOL_GRAD),
           ROWS_OUT("dup", 1, ZK_TOL_GRAD), ROWS_OUT("dresidual", 1, ZK_TOL_EXACT)},
     .nt = 6,
     .call = call_silu_mul_residual_grad,
     .ref = ref_silu_mul_residual_grad,
     .fd_check = fd_silu_mul_residual_grad,
     .alias_of = {[3] = 3, [4] = 3, [5] = 3}},
};
#define N_OPS ((int)(sizeof vlsp_tests / sizeof vlsp_tests[0]))

/* ================================================================ extras */

/* --------------------------------------------------- α = 0: out = h exactly */

static int extra_alpha_zero(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t cols[] = {1, 33, 4096, 4097};
  uint64_t rng = zk_test_seed() ^ 0xa0;
  for (int d = 0; d < 3; d++)
    for (int ci = 0; ci < 4; ci++) {
      zk_op_test t = vlsp_tests[0];
      t.scalars[0] = 0.0;
      t.t[3].tol = ZK_TOL_EXACT;
      zk_case c;
      if (zk_setup_case(&c, &t, be, all_dtypes[d], all_dtypes[(d + ci) % 3], 5, cols[ci], ci & 1, zk_rand_u64(&rng),
                        msg, cap))
        return 1;
      int fail = zk_case_run_checked(&c, ctx, msg, cap);
      for (int64_t i = 0; !fail && i < zk_case_numel(&c, 3); i++)
        if (c.got[3][i] != c.val[0][i]) fail = zk_fail_at(msg, cap, &c, 3, i, "alpha = 0 must give out = h exactly");
      zk_case_free(&c);
      if (fail) return 1;
    }
  return 0;
}

/* ------------------------------------------------------ depth gate, ste */

/* x away from the ste ties: k·σ(x) within 1e-4 of m + 0.5 is redrawn, since
 * σ's f32 rounding may take it either way (the spec's ties are checked at
 * exact ties, extra_depth_gate_known). */
static void fill_away_from_ties(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  double kmax = c->s[0];
  for (int64_t i = 0; i < n; i++) {
    double x, y;
    do {
      x = zk_round_to(zk_rand_uniform(&rng, -8, 8), c->tdtype[k]);
      zk_ref_depth_gate_sigmoid(&x, &y, 1, kmax, 0);
    } while (fabs(y - floor(y) - 0.5) < 1e-4 * fmax(1.0, y));
    v[i] = x;
  }
}

/* depth_gate_sigmoid with k_max, mode and x from fill, m held EXACT. */
static zk_op_test depth_gate_exact(double k_max, int mode, void (*fill)(zk_case *, int, double *, int64_t)) {
  zk_op_test t = vlsp_tests[1];
  t.scalars[0] = k_max;
  t.scalars[1] = mode;
  t.t[0].dist = ZK_DIST_CUSTOM;
  t.t[1].tol = ZK_TOL_EXACT;
  t.fill = fill;
  return t;
}

static int extra_ste_sweep(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t rows[] = {0, 1, 3, 257};
  static const int64_t cols[] = {1, 3, 8, 31, 255, 4096, 4097};
  static const double kmax[] = {8, 1, 3, 255};
  const zk_sweep sw = {rows, 4, cols, 7, 1 << 20};
  for (int ki = 0; ki < 4; ki++) {
    zk_op_test t = depth_gate_exact(kmax[ki], ZK_DEPTH_GATE_STE, fill_away_from_ties);
    zk_sweep_result res;
    zk_run_sweep(&t, ctx, be, &sw, zk_test_seed() ^ (uint64_t)(0x57e + ki), &res);
    if (res.failed) {
      snprintf(msg, cap, "ste k_max=%g: %d of %d cases failed: %s", kmax[ki], res.failed, res.cases,
               res.first_failure);
      return 1;
    }
  }
  return 0;
}

/* Known answers: x = 0 gives k/2 (continuous) and round(k/2) (ste), a tie
 * for odd k (k/2 = m + 0.5 exactly) that goes to m + 1; x = -Inf gives 0
 * (continuous) and clamps to 1 (ste); +Inf gives k; NaN stays NaN. */
static const double known_x[] = {0.0, -INFINITY, INFINITY, -1e4, 1e4, NAN, -0.0, 0.0};
#define N_KNOWN ((int64_t)(sizeof known_x / sizeof known_x[0]))

static void fill_known(zk_case *c, int k, double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) v[i] = known_x[i % N_KNOWN];
  (void)c, (void)k;
}

static double known_answer(double x, double k, int ste) {
  if (isnan(x)) return NAN;
  if (x < -1e3) return ste ? 1.0 : 0.0; /* σ(x) = e^x underflows f32 (±1e4 as stored) */
  if (x > 1e3) return k;
  return ste ? floor(k / 2 + 0.5) : k / 2; /* σ(±0) = 1/2 */
}

static int extra_depth_gate_known(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const double kmax[] = {1, 2, 3, 5, 7, 8, 255, 256};
  uint64_t rng = zk_test_seed() ^ 0xdea;
  for (int ki = 0; ki < 8; ki++)
    for (int ste = 0; ste < 2; ste++)
      for (int d = 0; d < 3; d++) {
        zk_op_test t = depth_gate_exact(kmax[ki], ste, fill_known);
        zk_case c;
        if (zk_setup_case(&c, &t, be, all_dtypes[d], all_dtypes[d], 3, 64, d == 1, zk_rand_u64(&rng), msg, cap))
          return 1;
        int fail = zk_case_run_checked(&c, ctx, msg, cap);
        for (int64_t i = 0; !fail && i < zk_case_numel(&c, 1); i++) {
          double want = zk_round_to(known_answer(c.val[0][i], kmax[ki], ste), c.dtype), got = c.got[1][i];
          if (!(got == want || (isnan(got) && isnan(want)))) {
            char why[64];
            snprintf(why, sizeof why, "k_max %g %s: expected %g", kmax[ki], ste ? "ste" : "continuous", want);
            fail = zk_fail_at(msg, cap, &c, 1, i, why);
          }
        }
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* --------------------------------------------------------------- GRPO */

/* The kept case points at its test: t is the caller's, and must outlive c. */
static int grpo_case(zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt, int64_t R, int64_t G, int strided,
                     double eps, int ddof, int mode, void (*fill)(zk_case *, int, double *, int64_t), uint64_t seed,
                     zk_case *c, char *msg, size_t cap) {
  *t = vlsp_tests[2];
  t->scalars[0] = eps;
  t->scalars[1] = ddof;
  t->scalars[2] = mode;
  if (fill) t->t[0].dist = ZK_DIST_CUSTOM, t->fill = fill;
  zk_case_opts o = {be, dt, dt, R, G, strided, 0, seed, -1, -1};
  return zk_run_case_kept(t, ctx, &o, c, msg, cap);
}

/* Both eps modes × both ddof values (TRL's add_to_std, ddof 1, eps 1e-4
 * among them) over G ∈ {1, 2, 8, 64, 1024} (and the spec's odd lengths),
 * against float64; in f32 each group's advantages average to 0 within
 * 1e-5. */
static int extra_grpo_modes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t groups[] = {1, 2, 8, 64, 1024, 3, 257, 4097};
  uint64_t rng = zk_test_seed() ^ 0x6e90;
  for (int mode = 0; mode < 2; mode++)
    for (int ddof = 0; ddof < 2; ddof++)
      for (int gi = 0; gi < 8; gi++)
        for (int d = 0; d < 3; d++) {
          double eps = mode == ZK_GRPO_EPS_ADD_TO_STD ? 1e-4 : 1e-6;
          zk_op_test t;
          zk_case c;
          int fail = grpo_case(&t, ctx, be, all_dtypes[d], 9, groups[gi], gi & 1, eps, ddof, mode, NULL,
                               zk_rand_u64(&rng), &c, msg, cap);
          for (int64_t r = 0; !fail && all_dtypes[d] == ZK_F32 && r < c.R; r++) {
            double mean = 0;
            for (int64_t j = 0; j < c.D; j++) mean += c.got[1][r * c.D + j];
            mean /= (double)c.D;
            if (!(fabs(mean) <= 1e-5)) {
              char why[80];
              snprintf(why, sizeof why, "the row's advantages average to %.3g, not within 1e-5 of 0", mean);
              fail = zk_fail_at(msg, cap, &c, 1, r * c.D, why);
            }
          }
          zk_case_free(&c);
          if (fail) return 1;
        }
  return 0;
}

/* Rows of one repeated value each (some large, some tiny, one -0). */
static void fill_constant_rows(zk_case *c, int k, double *v, int64_t n) {
  static const double values[] = {3.25, -1e4, 0.1, 7e-5, -0.0, 1234.5};
  for (int64_t i = 0; i < n; i++) v[i] = values[(i / c->cols[k]) % 6];
}

static int extra_grpo_constant_group(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t groups[] = {1, 2, 8, 64, 1024, 33};
  uint64_t rng = zk_test_seed() ^ 0xc0;
  for (int mode = 0; mode < 2; mode++)
    for (int ddof = 0; ddof < 2; ddof++)
      for (int gi = 0; gi < 6; gi++)
        for (int d = 0; d < 3; d++)
          for (int zero_eps = 0; zero_eps < 2; zero_eps++) {
            zk_op_test t;
            zk_case c;
            int fail = grpo_case(&t, ctx, be, all_dtypes[d], 6, groups[gi], d == 2, zero_eps ? 0.0 : 1e-6, ddof,
                                 mode, fill_constant_rows, zk_rand_u64(&rng), &c, msg, cap);
            for (int64_t i = 0; !fail && i < zk_case_numel(&c, 1); i++)
              if (c.got[1][i] != 0.0) fail = zk_fail_at(msg, cap, &c, 1, i, "a constant group must give exactly 0");
            zk_case_free(&c);
            if (fail) return 1;
          }
  return 0;
}

/* ------------------------------------------------- silu·mul + residual */

/* up = 0 with a finite gate: y = round_T(residual) exactly. */
static void fill_zero_up(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  int up = !strcmp(c->test->t[k].name, "up");
  for (int64_t i = 0; i < n; i++) v[i] = up ? (i & 1 ? -0.0 : 0.0) : 20 * zk_rand_normal(&rng);
}

static int extra_zero_up(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  uint64_t rng = zk_test_seed() ^ 0x2e0;
  for (int d = 0; d < 3; d++)
    for (int strided = 0; strided < 2; strided++) {
      zk_op_test t = vlsp_tests[3];
      for (int k = 0; k < 3; k++) t.t[k].dist = ZK_DIST_CUSTOM;
      t.t[3].tol = ZK_TOL_EXACT;
      t.fill = fill_zero_up;
      if (zk_check_case(&t, ctx, be, all_dtypes[d], all_dtypes[d], 7, strided ? 257 : 4096, strided, zk_rand_u64(&rng),
                        msg, cap))
        return 1;
    }
  return 0;
}

/* y may alias up or residual too (spec: alias any input). */
static int extra_alias_any_input(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  uint64_t rng = zk_test_seed() ^ 0xa11;
  for (int input = 2; input <= 3; input++)
    for (int d = 0; d < 3; d++)
      for (int strided = 0; strided < 2; strided++) {
        zk_op_test t = vlsp_tests[3];
        t.alias_of[3] = input;
        zk_case_opts o = {be, all_dtypes[d], all_dtypes[d], 9, strided ? 257 : 4096, strided, 0, zk_rand_u64(&rng),
                          -1, 3};
        zk_case c;
        if (zk_case_setup(&c, &t, &o, msg, cap)) return 1;
        int fail = zk_case_run_checked(&c, ctx, msg, cap);
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* ------------------------------------------------------ gradient outputs */

/* Each gradient output on its own (the others NULL), and all NULL a no-op. */
static int extra_grad_outputs_alone(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"fused_recurrent_step_grad", "silu_mul_residual_grad"};
  uint64_t rng = zk_test_seed() ^ 0xa1;
  for (int o = 0; o < 2; o++)
    for (int d = 0; d < 3; d++)
      if (zk_check_outputs_alone(zk_find_test(ops[o]), ctx, be, all_dtypes[d], all_dtypes[(d + 2) % 3], 33,
                                 d == 0 ? 4096 : 257, d == 1, zk_rand_u64(&rng), msg, cap))
        return 1;
  return 0;
}

/* No rows: dw_norm is still written, as exactly 0 (spec §0). */
static int extra_no_rows_dw(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t cols[] = {1, 33, 4096};
  const zk_op_test *t = zk_find_test("fused_recurrent_step_grad");
  for (int d = 0; d < 3; d++)
    for (int ci = 0; ci < 3; ci++)
      for (int alone = 0; alone < 2; alone++)
        if (zk_check_no_rows_zero_vectors(t, ctx, be, all_dtypes[d], all_dtypes[2 - d], cols[ci],
                                          alone ? zk_slot(t, "dh") : -1, msg, cap))
          return 1;
  return 0;
}

/* The dw_norm row partition at its extremes, and rows on CUDA's vector
 * path (D a multiple of 8, compact): the sweep's D are odd. */
static int extra_row_shapes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const struct {
    int64_t R, D;
    int strided;
  } shapes[] = {{20000, 3, 0}, {4099, 64, 1}, {4099, 64, 0}, {2, 65536, 0}, {1000, 1024, 0}, {3000, 8, 0}, {77, 16, 1}};
  static const char *ops[] = {"fused_recurrent_step", "fused_recurrent_step_grad", "grpo_advantage_norm",
                              "silu_mul_residual", "depth_gate_sigmoid"};
  uint64_t rng = zk_test_seed() ^ 0xdb1a5;
  for (int o = 0; o < 5; o++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      if (zk_check_case(zk_find_test(ops[o]), ctx, be, all_dtypes[s % 3], all_dtypes[(s + 1) % 3], shapes[s].R,
                        shapes[s].D, shapes[s].strided, zk_rand_u64(&rng), msg, cap))
        return 1;
  return 0;
}

static const zk_extra_test vlsp_extras[] = {
    {"recurrent_alpha_zero_exact", extra_alpha_zero},
    {"depth_gate_ste_sweep", extra_ste_sweep},
    {"depth_gate_known_answers", extra_depth_gate_known},
    {"grpo_modes_ddof_groups", extra_grpo_modes},
    {"grpo_constant_group_zero", extra_grpo_constant_group},
    {"silu_mul_residual_zero_up", extra_zero_up},
    {"silu_mul_residual_alias_any", extra_alias_any_input},
    {"grad_outputs_alone", extra_grad_outputs_alone},
    {"no_rows_dw_norm_zero", extra_no_rows_dw},
    {"row_shapes", extra_row_shapes},
};

const zk_family_tests zk_tests_vlsp = {"vlsp", vlsp_tests, N_OPS, vlsp_extras,
                                       sizeof vlsp_extras / sizeof vlsp_extras[0]};
