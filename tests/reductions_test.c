/* Test descriptors and extras of the reductions family (spec §8).
 *
 * The sweep checks sum and mean (ACC), var and std (ROW), max, argmax and
 * topk (EXACT, values and uint32 indices) against float64, with per-row
 * outputs of shape [R] (0-d for a 1-D x, strided [R] when strided), topk's
 * [R, k] with k = min(8, D), and the bad inputs (ddof, eps, k out of range).
 * The extras cover the "Tests must check" items: the Kahan bound and the
 * [2^25, 1 x 1000, -2^25] answer, keepdim outputs, D = 0, the NaN / Inf /
 * tie rules (edge rows, all dtypes), the known topk answer, all-equal rows,
 * k in {1, 8, 64, 1000, D}, mean 1e4 with spread 1e-2, constant rows giving
 * exactly 0, ddof = 1, eps > 0, and long rows (2^17 + 3, 262 145, 2^20). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/reductions.h>
#include "../src/ref/reductions.h"
#include "harness/checks.h"
#include "harness/harness.h"

/* ------------------------------------------------------------ input values
 * Scalar slot 3 (used by no op here) selects the fill of the custom cases. */

enum fill_mode {
  FILL_NORMAL, /* N(0, 1) */
  FILL_EDGE,   /* rows cycle through edge_pattern */
  FILL_KNOWN,  /* the values of `known` */
  FILL_CANCEL, /* N(0, 1)·10^U(-4, 4) with random signs: heavy cancellation */
  FILL_LEVELS, /* N(0, 1) rounded to quarters: many ties among the largest */
};
#define MODE_SLOT 3

enum edge_pattern {
  NAN_FIRST, NAN_MIDDLE, NAN_LAST, ALL_NEG_INF, BOTH_INFS, POS_INF, TIES, ALL_EQUAL, SIGNED_ZEROS, NEG_INF_AND_NAN,
  PLAIN, EDGE_PATTERNS
};

static const double *known; /* FILL_KNOWN: rows × cols values */

static void edge_row(double *v, int64_t r, int64_t D, uint64_t *rng) {
  for (int64_t j = 0; j < D; j++) v[j] = zk_rand_normal(rng);
  int64_t at = (int64_t)(zk_rand_u64(rng) % (uint64_t)D);
  switch ((enum edge_pattern)(r % EDGE_PATTERNS)) {
    case NAN_FIRST: v[0] = NAN; break;
    case NAN_MIDDLE: v[D / 2] = NAN, v[D - 1] = NAN; break;
    case NAN_LAST: v[D - 1] = NAN; break;
    case ALL_NEG_INF:
      for (int64_t j = 0; j < D; j++) v[j] = -INFINITY;
      break;
    case BOTH_INFS: v[at] = INFINITY, v[D - 1 - at] = -INFINITY; break;
    case POS_INF: v[at] = INFINITY, v[(at + 1) % D] = INFINITY; break;
    case TIES: /* the maximum at two places */
      v[at] = v[(at * 7 + 3) % D] = 9.0;
      break;
    case ALL_EQUAL:
      for (int64_t j = 0; j < D; j++) v[j] = 1.5;
      break;
    case SIGNED_ZEROS:
      for (int64_t j = 0; j < D; j++) v[j] = (j & 1) ? -0.0 : 0.0;
      break;
    case NEG_INF_AND_NAN:
      for (int64_t j = 0; j < D; j++) v[j] = (j % 3) ? -INFINITY : v[j];
      v[at] = NAN;
      break;
    default: break;
  }
}

static void fill(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed ^ 0x5DEECE66Dull;
  for (int64_t r = 0; r < c->rows[k]; r++) {
    double *row = v + r * c->cols[k];
    int64_t D = c->cols[k];
    switch ((enum fill_mode)c->s[MODE_SLOT]) {
      case FILL_EDGE: edge_row(row, r, D, &rng); break;
      case FILL_KNOWN: memcpy(row, known + r * D, (size_t)D * sizeof *row); break;
      case FILL_CANCEL:
        for (int64_t j = 0; j < D; j++) row[j] = zk_rand_normal(&rng) * pow(10.0, zk_rand_uniform(&rng, -4, 4));
        break;
      case FILL_LEVELS:
        for (int64_t j = 0; j < D; j++) row[j] = round(4.0 * zk_rand_normal(&rng)) / 4.0;
        break;
      default:
        for (int64_t j = 0; j < D; j++) row[j] = zk_rand_normal(&rng);
    }
  }
  (void)n;
}

/* ------------------------------------------------------------ descriptors */

static zk_status call_sum(zk_ctx *ctx, zk_case *c) { return zk_sum_lastdim(ctx, ZT(c, 0), ZT(c, 1), (int)c->s[0]); }
static zk_status call_mean(zk_ctx *ctx, zk_case *c) { return zk_mean_lastdim(ctx, ZT(c, 0), ZT(c, 1), (int)c->s[0]); }
static zk_status call_max(zk_ctx *ctx, zk_case *c) { return zk_max_lastdim(ctx, ZT(c, 0), ZT(c, 1)); }
static zk_status call_var(zk_ctx *ctx, zk_case *c) { return zk_var_lastdim(ctx, ZT(c, 0), ZT(c, 1), (int)c->s[0]); }
static zk_status call_std(zk_ctx *ctx, zk_case *c) {
  return zk_std_lastdim(ctx, ZT(c, 0), ZT(c, 1), (int)c->s[0], (float)c->s[1]);
}
static zk_status call_argmax(zk_ctx *ctx, zk_case *c) { return zk_argmax_lastdim(ctx, ZT(c, 0), ZT(c, 1)); }
static zk_status call_topk(zk_ctx *ctx, zk_case *c) {
  return zk_topk_lastdim(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (int64_t)c->s[0]);
}

static void ref_sum(zk_case *c) { zk_ref_sum(c->val[0], c->ref[1], c->refabs[1], c->R, c->D); }
static void ref_mean(zk_case *c) { zk_ref_mean(c->val[0], c->ref[1], c->refabs[1], c->R, c->D); }
static void ref_max(zk_case *c) { zk_ref_max(c->val[0], c->ref[1], c->R, c->D); }
static void ref_var(zk_case *c) { zk_ref_var(c->val[0], c->ref[1], c->R, c->D, (int)c->s[0]); }
static void ref_std(zk_case *c) { zk_ref_std(c->val[0], c->ref[1], c->R, c->D, (int)c->s[0], (float)c->s[1]); }
static void ref_argmax(zk_case *c) { zk_ref_argmax(c->val[0], c->ref[1], c->R, c->D); }
static void ref_topk(zk_case *c) { zk_ref_topk(c->val[0], c->ref[1], c->ref[2], c->R, c->D, c->K); }

#define X_IN {"x", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define VALUE_OUT(name, dt, tol) {name, ZK_OUT, ZK_SHAPE_ROW_VALUE, dt, 0, tol, 0, 0, 0}
#define K_OUT(name, dt) {name, ZK_OUT, ZK_SHAPE_ROWS_K, dt, 0, ZK_TOL_EXACT, 0, 0, 0}

enum { OP_SUM, OP_MEAN, OP_MAX, OP_VAR, OP_STD, OP_ARGMAX, OP_TOPK, N_OPS };

static const zk_op_test reduction_tests[N_OPS] = {
    [OP_SUM] = {.op = "sum_lastdim", .t = {X_IN, VALUE_OUT("y", ZK_DT_PARAM, ZK_TOL_ACC)}, .nt = 2,
                .call = call_sum, .ref = ref_sum, .fill = fill},
    [OP_MEAN] = {.op = "mean_lastdim", .t = {X_IN, VALUE_OUT("y", ZK_DT_PARAM, ZK_TOL_ACC)}, .nt = 2,
                 .call = call_mean, .ref = ref_mean, .fill = fill},
    [OP_MAX] = {.op = "max_lastdim", .t = {X_IN, VALUE_OUT("y", ZK_DT_CASE, ZK_TOL_EXACT)}, .nt = 2,
                .call = call_max, .ref = ref_max, .fill = fill},
    [OP_VAR] = {.op = "var_lastdim", .t = {X_IN, VALUE_OUT("y", ZK_DT_PARAM, ZK_TOL_ROW)}, .nt = 2,
                .call = call_var, .ref = ref_var, .fill = fill,
                .bad = {{0, 2, ZK_ERR_ARG}, {0, -1, ZK_ERR_ARG}}, .nbad = 2},
    [OP_STD] = {.op = "std_lastdim", .t = {X_IN, VALUE_OUT("y", ZK_DT_PARAM, ZK_TOL_ROW)}, .nt = 2,
                .call = call_std, .ref = ref_std, .fill = fill,
                .bad = {{0, 2, ZK_ERR_ARG}, {1, -1e-3, ZK_ERR_ARG}, {1, NAN, ZK_ERR_ARG}, {1, INFINITY, ZK_ERR_ARG}},
                .nbad = 4},
    [OP_ARGMAX] = {.op = "argmax_lastdim", .t = {X_IN, VALUE_OUT("idx", ZK_DT_U32, ZK_TOL_EXACT)}, .nt = 2,
                   .call = call_argmax, .ref = ref_argmax, .fill = fill},
    [OP_TOPK] = {.op = "topk_lastdim", .t = {X_IN, K_OUT("values", ZK_DT_CASE), K_OUT("indices", ZK_DT_U32)}, .nt = 3,
                 .scalars = {8}, .k_scalar = 1, .call = call_topk, .ref = ref_topk, .fill = fill,
                 .bad = {{0, 0, ZK_ERR_ARG}, {0, ZK_BAD_CASE_COLS + 1, ZK_ERR_ARG}, {0, -1, ZK_ERR_ARG}}, .nbad = 3},
};

/* ------------------------------------------------------------------ extras */

static const zk_dtype dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

static zk_case_opts opts(zk_backend b, zk_dtype dt, int64_t R, int64_t D, int strided, uint64_t salt) {
  zk_case_opts o = {.backend = b, .dtype = dt, .param_dtype = dt, .R = R, .D = D, .strided = strided,
                    .seed = zk_test_seed() ^ (salt * 0xD1B54A32D192ED03ull), .absent = -1, .alias = -1};
  return o;
}

/* A copy of descriptor op filling x in `mode`. */
static zk_op_test with_fill(int op, enum fill_mode mode) {
  zk_op_test t = reduction_tests[op];
  t.scalars[MODE_SLOT] = mode;
  return t;
}

/* Kahan mode, f32: [2^25, 1 x 1000, -2^25] sums to exactly 1000 (mean
 * 1000/1002 in f32); on cancelling data up to D = 2^20 every row meets
 * |y - ref| <= 2.5e-7·|ref| + D·2^-46·S. */
static int extra_kahan(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  enum { D = 1002 };
  double *v = malloc(D * sizeof *v);
  for (int j = 0; j < D; j++) v[j] = 1.0;
  v[0] = 33554432.0, v[D - 1] = -33554432.0;
  known = v;
  int fail = 0;
  for (int op = OP_SUM; op <= OP_MEAN && !fail; op++) {
    zk_op_test t = with_fill(op, FILL_KNOWN);
    t.scalars[0] = 1;
    zk_case_opts o = opts(b, ZK_F32, 1, D, 0, 1);
    zk_case c;
    fail = zk_run_case_kept(&t, ctx, &o, &c, msg, cap);
    double want = op == OP_SUM ? 1000.0 : (double)(1000.0f / (float)D);
    if (!fail && c.got[1][0] != want) {
      snprintf(msg, cap, "%s kahan of [2^25, 1 x 1000, -2^25] = %.9g, must be exactly %g", t.op, c.got[1][0], want);
      fail = 1;
    }
    zk_case_free(&c);
  }
  free(v);
  static const int64_t cols[] = {1, 31, 4097, 65537, 1 << 20};
  for (int ci = 0; ci < 5 && !fail; ci++) {
    zk_op_test t = with_fill(OP_SUM, FILL_CANCEL);
    t.scalars[0] = 1;
    zk_case_opts o = opts(b, ZK_F32, cols[ci] > 70000 ? 2 : 5, cols[ci], ci & 1, (uint64_t)(10 + ci));
    o.param_dtype = ZK_F32;
    zk_case c;
    fail = zk_run_case_kept(&t, ctx, &o, &c, msg, cap);
    for (int64_t r = 0; !fail && r < c.R; r++) {
      double y = c.got[1][r], ref = c.ref[1][r], S = c.refabs[1][r];
      double bound = 2.5e-7 * fabs(ref) + (double)c.D * 0x1p-46 * S;
      if (!(fabs(y - ref) <= bound)) {
        snprintf(msg, cap, "kahan sum D=%lld row %lld: %.9g, reference %.17g, off by %.3g > %.3g", (long long)c.D,
                 (long long)r, y, ref, fabs(y - ref), bound);
        fail = 1;
      }
    }
    zk_case_free(&c);
  }
  return fail;
}

/* Every dtype and op on edge rows: the reference's NaN / Inf / tie rules
 * hold exactly (EXACT ops bit for bit, and NaN and ±Inf exactly where the
 * reference has them for the others), and a constant row gives exactly 0
 * for var and std. */
static int extra_edge_rows(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t cols[] = {1, 3, 1024, 4097};
  for (int op = 0; op < N_OPS; op++)
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 4; ci++) {
        zk_op_test t = with_fill(op, FILL_EDGE);
        zk_case_opts o = opts(b, dtypes[d], 2 * EDGE_PATTERNS, cols[ci], ci & 1, (uint64_t)(100 + op * 16 + d * 4 + ci));
        zk_case c;
        int fail = zk_run_case_kept(&t, ctx, &o, &c, msg, cap);
        for (int64_t r = 0; !fail && (op == OP_VAR || op == OP_STD) && r < c.R; r++)
          if (c.ref[1][r] == 0 && c.got[1][r] != 0) {
            snprintf(msg, cap, "%s %s D=%lld: constant row %lld gives %.9g, must be exactly 0", t.op,
                     zk_dtype_name(dtypes[d]), (long long)c.D, (long long)r, c.got[1][r]);
            fail = 1;
          }
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* Runs descriptor t on the known rows `values` [R, D]; keeps the case. */
static int run_known(const zk_op_test *t, zk_ctx *ctx, zk_backend b, zk_dtype dt, const double *values, int64_t R,
                     int64_t D, zk_case *c, char *msg, size_t cap) {
  known = values;
  zk_case_opts o = opts(b, dt, R, D, 0, 7);
  return zk_run_case_kept(t, ctx, &o, c, msg, cap);
}

static int expect_indices(const zk_case *c, int out, const double *want, int64_t n, const char *what, char *msg,
                          size_t cap) {
  for (int64_t i = 0; i < n; i++)
    if (c->got[out][i] != want[i]) {
      snprintf(msg, cap, "%s: index %lld is %.0f, expected %.0f", what, (long long)i, c->got[out][i], want[i]);
      return 1;
    }
  return 0;
}

/* Known answers: argmax with the maximum at 1 and 512 (D = 1024) is 1;
 * topk of [[1,5,2,10,3],[9,1,4,3,8]] with k = 3 is [3,1,4] and [0,4,2];
 * all-equal rows give 0..k-1. */
static int extra_known_answers(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  int fail = 0;
  for (int d = 0; d < 3 && !fail; d++) {
    double *v = calloc(1024, sizeof *v);
    v[1] = v[512] = 2.0;
    zk_op_test t = with_fill(OP_ARGMAX, FILL_KNOWN);
    zk_case c;
    static const double one[] = {1};
    fail = run_known(&t, ctx, b, dtypes[d], v, 1, 1024, &c, msg, cap) ||
           expect_indices(&c, 1, one, 1, "argmax with ties at 1 and 512", msg, cap);
    zk_case_free(&c);
    free(v);
    if (fail) break;

    static const double rows[] = {1, 5, 2, 10, 3, 9, 1, 4, 3, 8}, want[] = {3, 1, 4, 0, 4, 2};
    t = with_fill(OP_TOPK, FILL_KNOWN);
    t.scalars[0] = 3;
    fail = run_known(&t, ctx, b, dtypes[d], rows, 2, 5, &c, msg, cap) ||
           expect_indices(&c, 2, want, 6, "topk known answer", msg, cap);
    zk_case_free(&c);
    if (fail) break;

    double equal[2 * 100], first[2 * 10];
    for (int i = 0; i < 200; i++) equal[i] = i < 100 ? -3.25 : 7.0;
    for (int i = 0; i < 20; i++) first[i] = i % 10;
    t.scalars[0] = 10;
    fail = run_known(&t, ctx, b, dtypes[d], equal, 2, 100, &c, msg, cap) ||
           expect_indices(&c, 2, first, 20, "topk of all-equal rows", msg, cap);
    zk_case_free(&c);
  }
  return fail;
}

/* topk for k in {1, 8, 50, 64, 1000} and k = D (a full stable sort), every
 * dtype, on plain and edge rows (-Inf, NaN, ties), at D = 4097 (the radix
 * select) and D = 4096 (k <= 64: on CUDA the filter path for f32 and a
 * warp a row for 16-bit rows, whose all-equal rows overflow their
 * candidate stores; at k = 50, the benchmark's, the filter's floor is a
 * listed thread maximum above the smallest).  Then the filter path's
 * tie-heavy rows: values on a grid of quarters, so many elements tie at
 * its floor, with k = 50 and odd row lengths (the unvectorized loads). */
static int extra_topk_k(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t ks[] = {1, 8, 50, 64, 1000, 4097};
  enum { NK = sizeof ks / sizeof ks[0] };
  for (int d = 0; d < 3; d++)
    for (int ki = 0; ki < NK; ki++)
      for (int mode = FILL_NORMAL; mode <= FILL_EDGE; mode++)
        for (int64_t D = 4096; D <= 4097; D++) {
          if (ks[ki] > D) continue;
          zk_op_test t = with_fill(OP_TOPK, (enum fill_mode)mode);
          t.scalars[0] = (double)ks[ki];
          zk_case_opts o = opts(b, dtypes[d], mode == FILL_EDGE ? EDGE_PATTERNS : 3, D, ki & 1,
                                (uint64_t)(200 + d * 16 + ki * 2 + mode + (D & 1) * 1000));
          if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
        }
  static const int64_t tie_cols[] = {4096, 3001, 40};
  for (int d = 0; d < 3; d++)
    for (int ci = 0; ci < 3; ci++)
      for (int64_t k = 8; k <= 50; k += 42) {
        if (k > tie_cols[ci]) continue;
        zk_op_test t = with_fill(OP_TOPK, FILL_LEVELS);
        t.scalars[0] = (double)k;
        zk_case_opts o = opts(b, dtypes[d], 7, tie_cols[ci], ci == 1, (uint64_t)(260 + d * 8 + ci * 2 + (k > 8)));
        if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
      }
  /* 16-bit rows of whole 16-byte vectors take a warp a row on CUDA: rows
   * shorter than a vector a lane (8, 64: fewer than k vector maxima, every
   * element a candidate), lanes with unequal vector counts (1000, 2056),
   * the edge rows (all-equal and all -Inf rows overflow its candidate list
   * and take its radix select) and tie-heavy rows, more rows than a block's
   * warps. */
  static const int64_t warp_cols[] = {8, 64, 1000, 2056};
  static const int64_t warp_ks[] = {1, 8, 50};
  static const enum fill_mode warp_fills[] = {FILL_NORMAL, FILL_EDGE, FILL_LEVELS};
  for (int d = 1; d < 3; d++)
    for (int ci = 0; ci < 4; ci++)
      for (int ki = 0; ki < 3; ki++)
        for (int fi = 0; fi < 3; fi++) {
          const enum fill_mode mode = warp_fills[fi];
          if (warp_ks[ki] > warp_cols[ci]) continue;
          zk_op_test t = with_fill(OP_TOPK, mode);
          t.scalars[0] = (double)warp_ks[ki];
          zk_case_opts o = opts(b, dtypes[d], mode == FILL_EDGE ? EDGE_PATTERNS : 9, warp_cols[ci], 0,
                                (uint64_t)(400 + d * 64 + ci * 16 + ki * 3 + fi));
          if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
        }
  /* Many rows: the CUDA warp kernel's grid is persistent, so each warp
   * takes several rows through its two shared-memory stages (more than
   * three a warp on a GPU of up to 160 SMs), with edge rows (overflows to
   * the radix select) and tie-heavy rows among them. */
  for (int d = 1; d < 3; d++)
    for (int fi = 1; fi < 3; fi++) {
      zk_op_test t = with_fill(OP_TOPK, warp_fills[fi]);
      t.scalars[0] = fi == 1 ? 8 : 50;
      zk_case_opts o = opts(b, dtypes[d], 8009, fi == 1 ? 64 : 136, 0, (uint64_t)(600 + d * 4 + fi));
      if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
    }
  /* k = D on short rows, several rows (the full sort of every row). */
  zk_op_test t = with_fill(OP_TOPK, FILL_EDGE);
  t.scalars[0] = 257;
  zk_case_opts o = opts(b, ZK_BF16, 2 * EDGE_PATTERNS, 257, 1, 299);
  return zk_run_case(&t, ctx, &o, msg, cap);
}

/* keepdim outputs [R, 1] (and [1] for a 1-D x) for the one-value ops. */
static int extra_keepdim(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int op = OP_SUM; op <= OP_ARGMAX; op++)
    for (int shape = 0; shape < 3; shape++) {
      zk_op_test t = reduction_tests[op];
      t.t[1].shape = ZK_SHAPE_ROW_KEEPDIM;
      zk_case_opts o = opts(b, dtypes[shape], shape ? 3 + 254 * (shape - 1) : 1, shape ? 257 : 33, shape == 1,
                            (uint64_t)(300 + op * 4 + shape));
      o.one_d = shape == 0;
      if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

/* D = 0: sum 0, mean / var / std NaN; max and argmax SHAPE, topk ARG,
 * with nothing written. */
static int extra_empty_rows(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int op = 0; op < N_OPS; op++) {
    zk_op_test t = reduction_tests[op];
    t.k_scalar = 0; /* k stays 8 > D */
    zk_case_opts o = opts(b, ZK_F32, 3, 0, op & 1, (uint64_t)(400 + op));
    if (op == OP_MAX || op == OP_ARGMAX || op == OP_TOPK) {
      zk_case c;
      if (zk_case_setup(&c, &t, &o, msg, cap)) return 1;
      zk_status want = op == OP_TOPK ? ZK_ERR_ARG : ZK_ERR_SHAPE, s = zk_case_run(&c, ctx);
      int fail = s != want;
      for (int k = 1; k < t.nt && !fail; k++)
        for (int64_t i = 0; i < zk_case_numel(&c, k); i++)
          if (!isnan(c.got[k][i]) && c.got[k][i] != 4294967295.0) fail = 1;
      if (fail) snprintf(msg, cap, "%s with D = 0: %s (expected %s, outputs untouched)", t.op, zk_status_name(s),
                         zk_status_name(want));
      zk_case_free(&c);
      if (fail) return 1;
    } else if (zk_run_case(&t, ctx, &o, msg, cap)) {
      return 1;
    }
  }
  return 0;
}

/* var and std: mean 1e4 with spread 1e-2 in f32 (no cancellation), ddof = 1,
 * std with eps > 0. */
static int extra_variance(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int op = OP_VAR; op <= OP_STD; op++) {
    zk_op_test t = reduction_tests[op];
    t.t[0].dist = ZK_DIST_UNIFORM, t.t[0].lo = 1e4 - 1e-2, t.t[0].hi = 1e4 + 1e-2;
    zk_case_opts o = opts(b, ZK_F32, 5, 4097, 0, (uint64_t)(500 + op));
    if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
    for (int d = 0; d < 3; d++) {
      zk_op_test s = reduction_tests[op];
      s.scalars[0] = 1; /* ddof = 1: the sample variance */
      if (op == OP_STD) s.scalars[1] = 0.25;
      for (int64_t D = 1; D <= 4097; D *= 64) {
        zk_case_opts p = opts(b, dtypes[d], 3, D, D > 1, (uint64_t)(510 + op * 64 + d * 8 + D));
        if (zk_run_case(&s, ctx, &p, msg, cap)) return 1;
      }
    }
  }
  return 0;
}

/* Long rows: sum and mean up to 2^20, argmax at 2^17 + 3, the others at
 * 262 145, every dtype. */
static int extra_long_rows(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int op = 0; op < N_OPS; op++)
    for (int d = 0; d < 3; d++) {
      int64_t D = op <= OP_MEAN ? (1 << 20) : op == OP_ARGMAX ? (1 << 17) + 3 : 262145;
      zk_case_opts o = opts(b, dtypes[d], 2, D, d & 1, (uint64_t)(600 + op * 4 + d));
      if (zk_run_case(&reduction_tests[op], ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

/* Many long rows (1024 rows, more than 2048 vectors a row): the CUDA row
 * reduction's block groups of at most 256 threads. */
static int extra_many_long_rows(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int ops[] = {OP_SUM, OP_VAR, OP_ARGMAX};
  for (int i = 0; i < 3; i++)
    for (int d = 0; d < 3; d++) {
      zk_case_opts o = opts(b, dtypes[d], 1024, 16411 + (d == 2 ? 5 : 0), d == 1, (uint64_t)(700 + i * 4 + d));
      if (zk_run_case(&reduction_tests[ops[i]], ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

static const zk_extra_test reduction_extras[] = {
    {"kahan", extra_kahan},         {"edge_rows", extra_edge_rows}, {"known_answers", extra_known_answers},
    {"topk_k", extra_topk_k},       {"keepdim", extra_keepdim},     {"empty_rows", extra_empty_rows},
    {"variance", extra_variance},   {"long_rows", extra_long_rows}, {"many_long_rows", extra_many_long_rows},
};

const zk_family_tests zk_tests_reductions = {"reductions", reduction_tests, N_OPS, reduction_extras,
                                             sizeof reduction_extras / sizeof reduction_extras[0]};
