/* Test descriptors and extras of the linear family (spec §10).
 *
 * The sweep's R is M (rows of x and y) and D is N (y's row, w's rows, the
 * bias or gamma length); K is scalar s[0] (33 by default, so the sweep
 * stays fast), eps is s[1].  x and w share the case dtype; y and the
 * parameter take the case's parameter dtype (the caller's F*: another
 * float dtype in strided cases).  The reference is a float64 GEMM and the
 * epilogue in double; silu/gelu outputs are ACC with S = Σ_k |x_k·w_nk|
 * carried through the activation's Lipschitz bound (src/ref/linear.h),
 * rmsnorm is ROW against RMSNorm of the float64 z plus that ACC term
 * carried through the norm (ROW_ACC: where z nearly cancels and N is
 * small, as N = 1 with |z| ~ √eps, y is as sensitive to z's f32 rounding
 * as the GEMM makes it).  The extras cover the
 * spec's M × N × K grid, K = 0, x with row stride 0, the bad shapes the
 * generic cases do not make, and run-to-run bits (OpenBLAS may split the
 * GEMM differently for another thread count: threads_vary). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/linear.h>
#include "../src/ref/linear.h"
#include "harness/checks.h"
#include "harness/harness.h"

#define K_SLOT 0
#define EPS_SLOT 1
#define DEFAULT_K 33

/* A benchmark case times a square GEMM: K = D. */
static int64_t k_of(const zk_case *c) { return c->bench ? c->D : (int64_t)c->s[K_SLOT]; }

/* x [M, K] ([K] in a 1-D case), w [N, K]. */
static void linear_layout(const zk_case *c, int k, zk_layout *L) {
  const char *name = c->test->t[k].name;
  int64_t K = k_of(c);
  L->row_dims = 1;
  if (!strcmp(name, "w")) {
    L->ndim = 2, L->dims[0] = c->D, L->dims[1] = K;
  } else if (c->one_d) {
    L->ndim = 1, L->dims[0] = K;
  } else {
    L->ndim = 2, L->dims[0] = c->R, L->dims[1] = K;
  }
}

static zk_status call_silu(zk_ctx *ctx, zk_case *c) {
  return zk_fused_linear_bias_silu(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3));
}
static zk_status call_gelu(zk_ctx *ctx, zk_case *c) {
  return zk_fused_linear_bias_gelu(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3));
}
static zk_status call_rmsnorm(zk_ctx *ctx, zk_case *c) {
  return zk_fused_linear_rmsnorm(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), (float)c->s[EPS_SLOT]);
}

static void ref_act(zk_case *c, zk_ref_act act) {
  zk_ref_fused_linear_act(act, c->val[0], c->val[1], c->present[2] ? c->val[2] : NULL, c->ref[3], c->refabs[3],
                          c->rows[3], c->cols[3], k_of(c));
}
static void ref_silu(zk_case *c) { ref_act(c, ZK_REF_BIAS_SILU); }
static void ref_gelu(zk_case *c) { ref_act(c, ZK_REF_BIAS_GELU_TANH); }
static void ref_rmsnorm(zk_case *c) {
  zk_ref_fused_linear_rmsnorm(c->val[0], c->val[1], c->val[2], c->ref[3], c->refabs[3], c->rows[3], c->cols[3],
                              k_of(c), c->s[EPS_SLOT]);
}

#define X {"x", ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
/* w is U(-2, 2), the spec's other canonical input: up to 4096 × 4096 values
 * a case, and normal draws would cost more than the float64 GEMM. */
#define W {"w", ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_CASE, 0, 0, ZK_DIST_UNIFORM, -2, 2}
#define PARAM(name, opt) {name, ZK_IN, ZK_SHAPE_VEC, ZK_DT_PARAM, opt, 0, ZK_DIST_NORMAL, 0, 0}
#define Y(tol) {"y", ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_PARAM, 0, tol, 0, 0, 0}
/* N up to 4097: 257 × 4097 × 33 is the largest sweep GEMM.  The bench
 * times a square 1024 GEMM (k_of). */
#define COMMON .nt = 4, .layout = linear_layout, .max_cols = 4097, .threads_vary = 1, .bench_rows = 1024, \
               .bench_cols = 1024

static const zk_op_test linear_tests[] = {
    {.op = "fused_linear_bias_silu",
     .t = {X, W, PARAM("bias", 1), Y(ZK_TOL_ACC)},
     .scalars = {DEFAULT_K},
     .call = call_silu,
     .ref = ref_silu,
     COMMON},
    {.op = "fused_linear_bias_gelu",
     .t = {X, W, PARAM("bias", 1), Y(ZK_TOL_ACC)},
     .scalars = {DEFAULT_K},
     .call = call_gelu,
     .ref = ref_gelu,
     COMMON},
    {.op = "fused_linear_rmsnorm",
     .t = {X, W, PARAM("gamma", 0), Y(ZK_TOL_ROW_ACC)},
     .scalars = {DEFAULT_K, 1e-6},
     .call = call_rmsnorm,
     .ref = ref_rmsnorm,
     .bad = {{EPS_SLOT, -1e-3, ZK_ERR_ARG}, {EPS_SLOT, NAN, ZK_ERR_ARG}, {EPS_SLOT, INFINITY, ZK_ERR_ARG}},
     .nbad = 3,
     COMMON},
};
#define N_OPS ((int)(sizeof linear_tests / sizeof linear_tests[0]))

/* ================================================================ extras */

static const zk_dtype all_dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

/* The descriptor of op with K (and eps, unless NAN) set. */
static zk_op_test with_k(const zk_op_test *t, int64_t K, double eps) {
  zk_op_test v = *t;
  v.scalars[K_SLOT] = (double)K;
  if (!isnan(eps)) v.scalars[EPS_SLOT] = eps;
  return v;
}

static int run(const zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt, zk_dtype ydt, int64_t M, int64_t N,
               int strided, int absent, uint64_t seed, char *msg, size_t cap) {
  zk_case_opts o = {be, dt, ydt, M, N, strided, 0, seed, absent, -1};
  return zk_run_case(t, ctx, &o, msg, cap);
}

/* The spec's grid M ∈ {1, 3, 64, 257}, N ∈ {1, 17, 4096}, K ∈ {1, 31,
 * 4096}, for every op.  Each point takes one of the dtypes in turn (and a
 * y dtype, the strided layout and a NULL bias in other turns), so all of
 * them meet every shape class; points above 2^25 multiply-adds (M ≥ 3
 * with N = K = 4096) are left out to keep the float64 reference fast. */
static int extra_spec_grid(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t Ms[] = {1, 3, 64, 257}, Ns[] = {1, 17, 4096}, Ks[] = {1, 31, 4096};
  uint64_t rng = zk_test_seed() ^ 0x11ea;
  int turn = 0;
  for (int op = 0; op < N_OPS; op++) {
    if (!zk_op_supported(linear_tests[op].op, be)) continue;
    for (int m = 0; m < 4; m++)
      for (int n = 0; n < 3; n++)
        for (int k = 0; k < 3; k++, turn++) {
          if (Ms[m] * Ns[n] * Ks[k] > ((int64_t)1 << 25)) continue;
          zk_op_test t = with_k(&linear_tests[op], Ks[k], NAN);
          int absent = op < 2 && turn % 4 == 3 ? 2 : -1;
          if (run(&t, ctx, be, all_dtypes[turn % 3], all_dtypes[(turn / 3) % 3], Ms[m], Ns[n], turn % 2, absent,
                  zk_rand_u64(&rng), msg, cap))
            return 1;
        }
  }
  return 0;
}

/* K = 0: z = 0, so y = act(bias), act(0) = 0 without bias, and rmsnorm
 * gives 0 (eps > 0) or 0·∞ = NaN (eps = 0, IEEE as written). */
static int extra_k_zero(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  uint64_t rng = zk_test_seed() ^ 0x2e40;
  for (int op = 0; op < N_OPS; op++) {
    if (!zk_op_supported(linear_tests[op].op, be)) continue;
    for (int d = 0; d < 3; d++)
      for (int variant = 0; variant < 2; variant++) {
        int rms = op == 2;
        zk_op_test t = with_k(&linear_tests[op], 0, rms && variant ? 0.0 : NAN);
        zk_case c;
        zk_case_opts o = {be, all_dtypes[d], all_dtypes[(d + 1) % 3], 3, 33, d == 1, 0, zk_rand_u64(&rng),
                          !rms && variant ? 2 : -1, -1};
        if (zk_run_case_kept(&t, ctx, &o, &c, msg, cap)) return zk_case_free(&c), 1;
        int fail = 0;
        for (int64_t i = 0; i < zk_case_numel(&c, 3) && !fail; i++) {
          double y = c.got[3][i];
          int ok = rms ? (variant ? isnan(y) : y == 0.0) : (c.present[2] || y == 0.0);
          if (!ok)
            fail = zk_fail_at(msg, cap, &c, 3, i,
                              rms ? "K = 0 rmsnorm must be 0 (eps > 0) or NaN (eps = 0)" : "K = 0 without bias must be 0");
        }
        zk_case_free(&c);
        if (fail) return 1;
      }
  }
  return 0;
}

/* x with row stride 0 (one row repeated: an input stride the spec allows
 * and BLAS does not), f32 where it would otherwise go to sgemm in place. */
static int extra_x_stride_zero(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  uint64_t rng = zk_test_seed() ^ 0x5700;
  for (int op = 0; op < N_OPS; op++) {
    if (!zk_op_supported(linear_tests[op].op, be)) continue;
    for (int d = 0; d < 3; d++) {
      zk_case c;
      zk_case_opts o = {be, all_dtypes[d], ZK_F32, 5, 40, 1, 0, zk_rand_u64(&rng), -1, -1};
      if (zk_case_setup(&c, &linear_tests[op], &o, msg, cap)) return 1;
      int64_t K = c.cols[0];
      c.strides[0][0] = 0, c.stride[0] = 0, c.dl[0].strides = c.strides[0];
      for (int64_t r = 1; r < c.rows[0]; r++) memcpy(c.val[0] + r * K, c.val[0], (size_t)K * sizeof(double));
      int fail = zk_case_run_checked(&c, ctx, msg, cap);
      for (int64_t i = c.cols[3]; !fail && i < zk_case_numel(&c, 3); i++)
        if (memcmp(&c.got[3][i], &c.got[3][i % c.cols[3]], sizeof(double)))
          fail = zk_fail_at(msg, cap, &c, 3, i, "rows of a repeated x row differ");
      zk_case_free(&c);
      if (fail) return 1;
    }
  }
  return 0;
}

/* Bad shapes the generic cases do not make: w not 2-D, y's leading dims
 * not x's, y's last dim not N, and x, w of different float dtypes. */
static int extra_bad_shapes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  for (int op = 0; op < N_OPS; op++) {
    if (!zk_op_supported(linear_tests[op].op, be)) continue;
    for (int mutation = 0; mutation < 4; mutation++) {
      zk_case c;
      zk_case_opts o = {be, ZK_BF16, ZK_F32, 4, 17, 0, 0, 99, -1, -1};
      if (zk_case_setup(&c, &linear_tests[op], &o, msg, cap)) return 1;
      zk_status want = ZK_ERR_SHAPE;
      int64_t w3[3] = {1, c.shape[1][0], c.shape[1][1]};
      const char *what = "";
      switch (mutation) {
        case 0: c.dl[1].ndim = 3, c.dl[1].shape = w3, c.dl[1].strides = NULL, what = "w as [1, N, K]"; break;
        case 1: c.shape[3][0] = 2, what = "y with 2 of x's 4 rows"; break;
        case 2: c.shape[3][1] = 16, what = "y's last dim N - 1"; break;
        case 3: c.dl[1].dtype = (DLDataType){kDLFloat, 16, 1}, want = ZK_ERR_DTYPE, what = "w f16 beside x bf16"; break;
      }
      zk_status s = zk_case_run(&c, ctx);
      int fail = s != want;
      for (int64_t i = 0; !fail && i < zk_case_numel(&c, 3); i++) fail = !isnan(c.got[3][i]);
      if (fail)
        snprintf(msg, cap, "%s: %s gave %s (expected %s, y untouched): %s", linear_tests[op].op, what,
                 zk_status_name(s), zk_status_name(want), zk_ctx_last_error(ctx));
      zk_case_free(&c);
      if (fail) return 1;
    }
  }
  return 0;
}

/* Run-to-run bits at one thread count, and every thread count within
 * tolerance (OpenBLAS's split may move the last bits between counts): the
 * first run of each count is checked, the second compared bit for bit. */
static int extra_reproducible(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int threads[] = {1, 1, 3, 3, 2};
  int saved = zk_ctx_threads(ctx), fail = 0;
  for (int op = 0; op < N_OPS && !fail; op++) {
    if (!zk_op_supported(linear_tests[op].op, be)) continue;
    zk_op_test t = with_k(&linear_tests[op], 1029, NAN);
    zk_case c[5];
    int n = 0;
    for (; n < 5 && !fail; n++) {
      zk_case_opts o = {be, ZK_BF16, ZK_F32, 200, 129, 0, 0, 4242, -1, -1};
      if (zk_case_setup(&c[n], &t, &o, msg, cap)) {
        fail = 1;
        break;
      }
      if (be == ZK_BACKEND_CPU) zk_ctx_set_threads(ctx, threads[n]);
      fail = n % 2 ? zk_case_run_ok(&c[n], ctx, msg, cap) : zk_case_run_checked(&c[n], ctx, msg, cap);
      if (!fail && n % 2 == 1 && memcmp(c[n - 1].host[3], c[n].host[3], c[n].bytes[3]))
        fail = 1, snprintf(msg, cap, "%s: two runs with %d threads differ", t.op, threads[n]);
    }
    for (int i = 0; i < n; i++) zk_case_free(&c[i]);
  }
  zk_ctx_set_threads(ctx, saved);
  return fail;
}

static const zk_extra_test linear_extras[] = {
    {"spec_grid", extra_spec_grid},
    {"k_zero", extra_k_zero},
    {"x_stride_zero", extra_x_stride_zero},
    {"bad_shapes", extra_bad_shapes},
    {"reproducible", extra_reproducible},
};

const zk_family_tests zk_tests_linear = {"linear", linear_tests, N_OPS, linear_extras,
                                         sizeof linear_extras / sizeof linear_extras[0]};
