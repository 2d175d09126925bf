/* Test descriptors and extras of the softmax family (spec §2).
 *
 * The sweep covers ROW (forwards) and GRAD (grads) against float64, the
 * exact aliases and the bad inputs.  softmax_grad's y is round_T(float64
 * softmax of random logits) and log_softmax's grad gets round_T(float64
 * log_softmax), through the fill hook; an extra also feeds that grad the
 * kernel's own forward output, as the spec asks.  The other extras cover
 * the "Tests must check" items: long rows, the edge rows (all -Inf, one
 * finite entry among -Inf, NaN, +Inf, masked entries, zero rows of y), row
 * sums, shift invariance and logits of magnitude 1e4. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../src/ref/softmax.h"
#include "harness/checks.h"
#include "harness/harness.h"

/* ------------------------------------------------------------ input values
 * None of these ops takes a scalar, so the fill hook reads its mode from
 * scalar slot 0 and a shift from slot 1; extras run copies of the
 * descriptors with other modes. */

enum fill_mode {
  FILL_RANDOM,  /* logits U(-SPAN, SPAN) */
  FILL_EDGE,    /* rows cycle through the edge_pattern list */
  FILL_SHIFTED, /* multiples of 2^-10 in [-SPAN, SPAN], plus s[1]: exact in f32 for |shift| < 1000 */
};
#define SPAN 8.0

/* Edge rows, by row index mod EDGE_PATTERNS. */
enum edge_pattern { ALL_NEG_INF, ONE_FINITE, HAS_NAN, HAS_POS_INF, MASKED, PLAIN, EDGE_PATTERNS };

static void edge_row(double *v, int64_t r, int64_t D, uint64_t *rng) {
  for (int64_t j = 0; j < D; j++) v[j] = zk_rand_uniform(rng, -SPAN, SPAN);
  int64_t at = (int64_t)(zk_rand_u64(rng) % (uint64_t)D);
  switch ((enum edge_pattern)(r % EDGE_PATTERNS)) {
    case ALL_NEG_INF:
      for (int64_t j = 0; j < D; j++) v[j] = -INFINITY;
      break;
    case ONE_FINITE:
      for (int64_t j = 0; j < D; j++)
        if (j != at) v[j] = -INFINITY;
      break;
    case HAS_NAN: v[at] = NAN; break;
    case HAS_POS_INF: v[at] = INFINITY; break;
    case MASKED: /* about half -Inf, never the whole row */
      for (int64_t j = 0; j < D; j++)
        if (j != at && (zk_rand_u64(rng) & 1)) v[j] = -INFINITY;
      break;
    default: break;
  }
}

/* Logits [rows, cols] in the case's fill mode. */
static void logits(const zk_case *c, int k, double *v, int64_t rows, int64_t cols) {
  uint64_t rng = c->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(k + 1));
  for (int64_t r = 0; r < rows; r++) {
    double *row = v + r * cols;
    switch ((enum fill_mode)c->s[0]) {
      case FILL_EDGE: edge_row(row, r, cols, &rng); break;
      case FILL_SHIFTED:
        for (int64_t j = 0; j < cols; j++)
          row[j] = ldexp(floor(zk_rand_uniform(&rng, -SPAN, SPAN) * 1024.0), -10) + c->s[1];
        break;
      default:
        for (int64_t j = 0; j < cols; j++) row[j] = zk_rand_uniform(&rng, -SPAN, SPAN);
    }
  }
}

static int is_log_op(const zk_case *c) { return !strncmp(c->test->op, "log_", 4); }
static int is_grad_op(const zk_case *c) { return strstr(c->test->op, "grad") != NULL; }

/* Forwards: x = logits.  Grads: y = the float64 forward of logits (the
 * harness stores it rounded into the dtype: round_T(softmax)). */
static void fill(zk_case *c, int k, double *v, int64_t n) {
  (void)n;
  logits(c, k, v, c->rows[k], c->cols[k]);
  if (!is_grad_op(c)) return;
  if (is_log_op(c)) zk_ref_log_softmax(v, v, c->rows[k], c->cols[k]);
  else zk_ref_softmax(v, v, c->rows[k], c->cols[k]);
}

/* ------------------------------------------------------------ descriptors */

static zk_status call_softmax(zk_ctx *ctx, zk_case *c) { return zk_softmax_lastdim(ctx, ZT(c, 0), ZT(c, 1)); }
static zk_status call_log_softmax(zk_ctx *ctx, zk_case *c) { return zk_log_softmax_lastdim(ctx, ZT(c, 0), ZT(c, 1)); }
static zk_status call_softmax_grad(zk_ctx *ctx, zk_case *c) {
  return zk_softmax_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2));
}
static zk_status call_log_softmax_grad(zk_ctx *ctx, zk_case *c) {
  return zk_log_softmax_lastdim_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2));
}

static void ref_softmax(zk_case *c) { zk_ref_softmax(c->val[0], c->ref[1], c->R, c->D); }
static void ref_log_softmax(zk_case *c) { zk_ref_log_softmax(c->val[0], c->ref[1], c->R, c->D); }
static void ref_softmax_grad(zk_case *c) { zk_ref_softmax_grad(c->val[0], c->val[1], c->ref[2], c->R, c->D); }
static void ref_log_softmax_grad(zk_case *c) {
  zk_ref_log_softmax_grad(c->val[0], c->val[1], c->ref[2], c->R, c->D);
}

/* Central differences of the float64 forward (softmax or log_softmax)
 * followed by a random linear functional dy, against the reference VJP at
 * y = forward(x). */
typedef struct fd_ctx {
  int64_t R, D;
  int log_form;
} fd_ctx;

static void fd_forward(const double *x, double *y, const void *ctx) {
  const fd_ctx *f = ctx;
  if (f->log_form) zk_ref_log_softmax(x, y, f->R, f->D);
  else zk_ref_softmax(x, y, f->R, f->D);
}

static double fd_check(uint64_t seed, int log_form) {
  enum { R = 3, D = 7 };
  double x[R * D], y[R * D], dy[R * D], dx[R * D];
  for (int i = 0; i < R * D; i++) x[i] = 2.0 * zk_rand_normal(&seed), dy[i] = zk_rand_normal(&seed);
  fd_ctx f = {R, D, log_form};
  fd_forward(x, y, &f);
  if (log_form) zk_ref_log_softmax_grad(y, dy, dx, R, D);
  else zk_ref_softmax_grad(y, dy, dx, R, D);
  return zk_fd_vjp_error(fd_forward, &f, x, R * D, R * D, dy, dx);
}
static double fd_softmax_grad(uint64_t seed) { return fd_check(seed, 0); }
static double fd_log_softmax_grad(uint64_t seed) { return fd_check(seed, 1); }

#define X_IN {"x", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_UNIFORM, -SPAN, SPAN}
#define Y_IN {"y", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define DY_IN {"dy", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
#define ROWS_OUT(name, tol) {name, ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, tol, 0, 0, 0}

enum { OP_SOFTMAX, OP_LOG_SOFTMAX, OP_SOFTMAX_GRAD, OP_LOG_SOFTMAX_GRAD, N_OPS };

static const zk_op_test softmax_tests[N_OPS] = {
    [OP_SOFTMAX] = {.op = "softmax_lastdim",
                    .t = {X_IN, ROWS_OUT("y", ZK_TOL_ROW)},
                    .nt = 2,
                    .call = call_softmax,
                    .ref = ref_softmax,
                    .fill = fill,
                    .alias_of = {[1] = 1}},
    [OP_LOG_SOFTMAX] = {.op = "log_softmax_lastdim",
                        .t = {X_IN, ROWS_OUT("y", ZK_TOL_ROW)},
                        .nt = 2,
                        .call = call_log_softmax,
                        .ref = ref_log_softmax,
                        .fill = fill,
                        .alias_of = {[1] = 1}},
    [OP_SOFTMAX_GRAD] = {.op = "softmax_grad",
                         .t = {Y_IN, DY_IN, ROWS_OUT("dx", ZK_TOL_GRAD)},
                         .nt = 3,
                         .call = call_softmax_grad,
                         .ref = ref_softmax_grad,
                         .fill = fill,
                         .fd_check = fd_softmax_grad,
                         .alias_of = {[2] = 2}},
    [OP_LOG_SOFTMAX_GRAD] = {.op = "log_softmax_lastdim_grad",
                             .t = {Y_IN, DY_IN, ROWS_OUT("dx", ZK_TOL_GRAD)},
                             .nt = 3,
                             .call = call_log_softmax_grad,
                             .ref = ref_log_softmax_grad,
                             .fill = fill,
                             .fd_check = fd_log_softmax_grad,
                             .alias_of = {[2] = 2}},
};

/* ------------------------------------------------------------------ extras */

static const zk_dtype dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

static zk_case_opts opts(zk_backend b, zk_dtype dt, int64_t R, int64_t D, int strided, uint64_t salt) {
  zk_case_opts o = {.backend = b, .dtype = dt, .param_dtype = dt, .R = R, .D = D, .strided = strided,
                    .seed = zk_test_seed() ^ (salt * 0xD1B54A32D192ED03ull), .absent = -1, .alias = -1};
  return o;
}

/* A copy of descriptor op whose row input comes from the fill hook in
 * `mode` (shift: added to the logits of FILL_SHIFTED). */
static zk_op_test with_fill(int op, enum fill_mode mode, double shift) {
  zk_op_test t = softmax_tests[op];
  t.t[0].dist = ZK_DIST_CUSTOM;
  t.scalars[0] = mode;
  t.scalars[1] = shift;
  return t;
}

/* D up to 262 145: one row, and a few rows; every op and dtype.  (In f16 a
 * probability there averages 4e-6, inside f16's subnormals: the harness's
 * NMSE counts only error beyond the dtype's own rounding, so a correctly
 * rounded result passes.) */
static int extra_long_rows(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t rows[] = {1, 3};
  for (int op = 0; op < N_OPS; op++)
    for (int d = 0; d < 3; d++) {
      for (int ri = 0; ri < 2; ri++) {
        zk_case_opts o = opts(b, dtypes[d], rows[ri], 262145, ri, (uint64_t)(op * 8 + d * 2 + ri));
        if (zk_run_case(&softmax_tests[op], ctx, &o, msg, cap)) return 1;
      }
    }
  return 0;
}

/* Edge rows (edge_pattern), every op: the tolerance check (NaN and ±Inf
 * exactly where the reference has them: NaN/+Inf rows -> NaN, all -Inf ->
 * -Inf for log_softmax), then exactness wherever the reference is 0 or ±1:
 * all -Inf -> zeros, one finite entry -> exactly 1 there and 0 elsewhere,
 * masked entries -> 0, D = 1 -> 1, softmax_grad of a zero (or one-hot) row
 * of y -> 0, log_softmax grad of an all -Inf row of y -> 0. */
static int extra_edge_rows(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t cols[] = {1, 3, 33, 4097, 1032};  /* 1032: 16-byte rows with padded chunks */
  for (int op = 0; op < N_OPS; op++)
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 5; ci++) {
        zk_op_test t = with_fill(op, FILL_EDGE, 0);
        zk_case_opts o = opts(b, dtypes[d], 2 * EDGE_PATTERNS, cols[ci], ci & 1, (uint64_t)(100 + op * 16 + d * 4 + ci));
        zk_case c;
        int fail = zk_run_case_kept(&t, ctx, &o, &c, msg, cap);
        int out = t.nt - 1;
        for (int64_t i = 0; !fail && i < zk_case_numel(&c, out); i++) {
          double r = c.ref[out][i], y = c.got[out][i];
          if ((r == 0 || fabs(r) == 1) && y != r) {
            snprintf(msg, cap, "%s %s D=%lld: row %lld (pattern %lld) element %lld = %.9g, must be exactly %g",
                     t.op, zk_dtype_name(dtypes[d]), (long long)c.D, (long long)(i / c.D),
                     (long long)(i / c.D % EDGE_PATTERNS), (long long)(i % c.D), y, r);
            fail = 1;
          }
        }
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* f32 softmax rows sum to 1 within 1e-5. */
static int extra_row_sums(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t cols[] = {1, 3, 31, 4097, 32769, 262145};
  for (int ci = 0; ci < 6; ci++) {
    zk_case_opts o = opts(b, ZK_F32, 3, cols[ci], 0, (uint64_t)(200 + ci));
    zk_case c;
    int fail = zk_run_case_kept(&softmax_tests[OP_SOFTMAX], ctx, &o, &c, msg, cap);
    for (int64_t r = 0; !fail && r < c.R; r++) {
      double s = 0;
      for (int64_t j = 0; j < c.D; j++) s += c.got[1][r * c.D + j];
      if (!(fabs(s - 1.0) <= 1e-5)) {
        snprintf(msg, cap, "D=%lld: row %lld sums to %.9g", (long long)c.D, (long long)r, s);
        fail = 1;
      }
    }
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* f32: the forwards of x + 1000 match the float64 forward of x (ROW).  x
 * is a multiple of 2^-10 in [-8, 8], so x + 1000 is exact in f32. */
static int extra_shift_invariance(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t cols[] = {3, 257, 4097};
  for (int op = OP_SOFTMAX; op <= OP_LOG_SOFTMAX; op++)
    for (int ci = 0; ci < 3; ci++) {
      zk_op_test plain = with_fill(op, FILL_SHIFTED, 0), shifted = with_fill(op, FILL_SHIFTED, 1000);
      zk_case_opts o = opts(b, ZK_F32, 3, cols[ci], ci & 1, (uint64_t)(300 + op * 4 + ci));
      zk_case p, s;
      int fail = zk_run_case_kept(&plain, ctx, &o, &p, msg, cap);
      if (!fail) {
        fail = zk_run_case_kept(&shifted, ctx, &o, &s, msg, cap);
        for (int64_t i = 0; !fail && i < zk_case_numel(&p, 1); i++) {
          double r = p.ref[1][i], y = s.got[1][i];
          if (!(fabs(y - r) <= 1e-6 + 1e-4 * fabs(r))) {
            snprintf(msg, cap, "%s D=%lld: element %lld of the shifted row is %.9g, unshifted reference %.9g",
                     plain.op, (long long)p.D, (long long)i, y, r);
            fail = 1;
          }
        }
        zk_case_free(&s);
      }
      zk_case_free(&p);
      if (fail) return 1;
    }
  return 0;
}

/* Logits of magnitude up to 1e4: no overflow, no NaN (both forwards, every
 * dtype; the tolerance check demands NaN and Inf exactly where the
 * reference has them, which is nowhere). */
static int extra_large_logits(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t cols[] = {3, 4097, 4096};
  for (int op = OP_SOFTMAX; op <= OP_LOG_SOFTMAX; op++)
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 3; ci++) {
        zk_op_test t = softmax_tests[op];
        t.t[0].lo = -1e4;
        t.t[0].hi = 1e4;
        zk_case_opts o = opts(b, dtypes[d], 3, cols[ci], ci == 1, (uint64_t)(400 + op * 8 + d * 2 + ci));
        if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
      }
  return 0;
}

/* Input k of dst takes the values of output `out` of src (same layout). */
static int feed(zk_case *dst, int k, const zk_case *src, int out) {
  if (dst->bytes[k] != src->bytes[out]) return 1;
  memcpy(dst->host[k], src->host[out], dst->bytes[k]);
  memcpy(dst->val[k], src->got[out], (size_t)zk_case_numel(dst, k) * sizeof(double));
  return dst->backend == ZK_BACKEND_CUDA && zk_dev_upload(dst->dev[k], dst->host[k], dst->bytes[k]);
}

/* log_softmax grad with y from zk_log_softmax_lastdim itself (checked ROW),
 * against the reference VJP at that stored y (GRAD). */
static int extra_log_softmax_grad_of_forward(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t rows[] = {3, 257}, cols[] = {33, 4097};
  for (int d = 0; d < 3; d++)
    for (int i = 0; i < 2; i++) {
      zk_case_opts o = opts(b, dtypes[d], rows[i], cols[i], i, (uint64_t)(500 + d * 2 + i));
      zk_case f, g;
      int fail = zk_run_case_kept(&softmax_tests[OP_LOG_SOFTMAX], ctx, &o, &f, msg, cap);
      if (!fail) {
        if (zk_case_init(&g, &softmax_tests[OP_LOG_SOFTMAX_GRAD], &o) || feed(&g, 0, &f, 1)) {
          snprintf(msg, cap, "log_softmax_lastdim_grad: could not set up the case");
          fail = 1;
        } else {
          fail = zk_case_run_checked(&g, ctx, msg, cap);
        }
        zk_case_free(&g);
      }
      zk_case_free(&f);
      if (fail) return 1;
    }
  return 0;
}

static const zk_extra_test softmax_extras[] = {
    {"long_rows", extra_long_rows},
    {"edge_rows", extra_edge_rows},
    {"row_sums", extra_row_sums},
    {"shift_invariance", extra_shift_invariance},
    {"large_logits", extra_large_logits},
    {"log_softmax_grad_of_forward", extra_log_softmax_grad_of_forward},
};

const zk_family_tests zk_tests_softmax = {"softmax", softmax_tests, N_OPS, softmax_extras,
                                          sizeof softmax_extras / sizeof softmax_extras[0]};
