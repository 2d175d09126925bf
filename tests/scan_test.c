/* Test descriptors and extras of the scan family (spec §18).
 *
 * The sweep checks cumsum (ACC, S_j = Σ|x_i| over y_j's range) and its
 * grad (GRAD + ACC) against float64, in place too, with the default flags;
 * the grad's reference VJP is checked against central differences of the
 * forward.  The extras: the known answer, all four flag combinations (both
 * ops, in place and strided), the grad bitwise equal to the forward with the
 * opposite direction, IEEE rows (NaN poisons every later prefix, Inf), and
 * D up to 2^20. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/scan.h>
#include "../src/ref/scan.h"
#include "harness/harness.h"

/* Scalar slot 2 (neither op's) selects the fill of the custom cases. */
enum fill_mode { FILL_NORMAL, FILL_IEEE, FILL_KNOWN };
#define MODE_SLOT 2

static const double known_rows[] = {1, 5, 2, 10, 2, 3};

static void fill(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed ^ 0x2545F4914F6CDD1Dull;
  for (int64_t i = 0; i < n; i++) v[i] = zk_rand_normal(&rng);
  if (c->s[MODE_SLOT] == FILL_KNOWN) memcpy(v, known_rows, (size_t)n * sizeof *v);
  if (c->s[MODE_SLOT] != FILL_IEEE) return;
  /* Row r % 4: a NaN, a +Inf, +Inf and -Inf, or nothing, at random places. */
  for (int64_t r = 0; r < c->rows[k]; r++) {
    int64_t D = c->cols[k], a = (int64_t)(zk_rand_u64(&rng) % (uint64_t)D), b = D - 1 - a;
    double *row = v + r * D;
    switch (r % 4) {
      case 0: row[a] = NAN; break;
      case 1: row[a] = INFINITY; break;
      case 2: row[a] = INFINITY, row[b] = -INFINITY; break;
      default: break;
    }
  }
}

static zk_status call_cumsum(zk_ctx *ctx, zk_case *c) {
  return zk_cumsum_lastdim(ctx, ZT(c, 0), ZT(c, 1), (int)c->s[0], (int)c->s[1]);
}
static zk_status call_cumsum_grad(zk_ctx *ctx, zk_case *c) {
  return zk_cumsum_grad(ctx, ZT(c, 0), ZT(c, 1), (int)c->s[0], (int)c->s[1]);
}
static void ref_cumsum(zk_case *c) {
  zk_ref_cumsum(c->val[0], c->ref[1], c->refabs[1], c->R, c->D, (int)c->s[0], (int)c->s[1]);
}
static void ref_cumsum_grad(zk_case *c) {
  zk_ref_cumsum_grad(c->val[0], c->ref[1], c->refabs[1], c->R, c->D, (int)c->s[0], (int)c->s[1]);
}

/* Central differences of the float64 forward (each flag combination)
 * followed by a random linear functional, against the reference VJP. */
typedef struct fd_ctx {
  int64_t R, D;
  int exclusive, reverse;
} fd_ctx;

static void fd_forward(const double *x, double *y, const void *ctx) {
  const fd_ctx *f = ctx;
  double abs_unused[2 * 9];
  zk_ref_cumsum(x, y, abs_unused, f->R, f->D, f->exclusive, f->reverse);
}

static double fd_cumsum_grad(uint64_t seed) {
  enum { R = 2, D = 9 };
  double x[R * D], y[R * D], dy[R * D], dx[R * D], dxabs[R * D], worst = 0;
  for (int flags = 0; flags < 4; flags++) {
    for (int i = 0; i < R * D; i++) x[i] = zk_rand_normal(&seed), dy[i] = zk_rand_normal(&seed);
    fd_ctx f = {R, D, flags & 1, flags >> 1};
    fd_forward(x, y, &f);
    zk_ref_cumsum_grad(dy, dx, dxabs, R, D, f.exclusive, f.reverse);
    double e = zk_fd_vjp_error(fd_forward, &f, x, R * D, R * D, dy, dx);
    if (e > worst) worst = e;
  }
  return worst;
}

enum { OP_CUMSUM, OP_CUMSUM_GRAD, N_OPS };

static const zk_op_test scan_tests[N_OPS] = {
    [OP_CUMSUM] = {.op = "cumsum_lastdim",
                   .t = {{"x", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_CUSTOM, 0, 0},
                         {"y", ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, ZK_TOL_ACC, 0, 0, 0}},
                   .nt = 2, .call = call_cumsum, .ref = ref_cumsum, .fill = fill, .alias_of = {[1] = 1}},
    [OP_CUMSUM_GRAD] = {.op = "cumsum_grad",
                        .t = {{"dy", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_CUSTOM, 0, 0},
                              {"dx", ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, ZK_TOL_GRAD_ACC, 0, 0, 0}},
                        .nt = 2, .call = call_cumsum_grad, .ref = ref_cumsum_grad, .fill = fill,
                        .fd_check = fd_cumsum_grad, .alias_of = {[1] = 1}},
};

/* ------------------------------------------------------------------ extras */

static const zk_dtype dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

static zk_case_opts opts(zk_backend b, zk_dtype dt, int64_t R, int64_t D, int strided, uint64_t salt) {
  zk_case_opts o = {.backend = b, .dtype = dt, .param_dtype = dt, .R = R, .D = D, .strided = strided,
                    .seed = zk_test_seed() ^ (salt * 0xD1B54A32D192ED03ull), .absent = -1, .alias = -1};
  return o;
}

static zk_op_test with(int op, int exclusive, int reverse, enum fill_mode mode) {
  zk_op_test t = scan_tests[op];
  t.scalars[0] = exclusive, t.scalars[1] = reverse, t.scalars[MODE_SLOT] = mode;
  return t;
}

/* [[1,5,2],[10,2,3]] -> [[1,6,8],[10,12,15]], every dtype. */
static int extra_known_answer(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const double want[] = {1, 6, 8, 10, 12, 15};
  for (int d = 0; d < 3; d++) {
    zk_op_test t = with(OP_CUMSUM, 0, 0, FILL_KNOWN);
    zk_case_opts o = opts(b, dtypes[d], 2, 3, d & 1, 1);
    zk_case c;
    int fail = zk_case_setup(&c, &t, &o, msg, cap) || zk_case_run_checked(&c, ctx, msg, cap);
    for (int i = 0; !fail && i < 6; i++)
      if (c.got[1][i] != want[i]) {
        snprintf(msg, cap, "%s: y[%d] = %g, expected %g", zk_dtype_name(dtypes[d]), i, c.got[1][i], want[i]);
        fail = 1;
      }
    if (!fail) zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* All four flag combinations, both ops, every dtype: compact, strided and in
 * place, plain and IEEE rows. */
static int extra_flags(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t rows[] = {1, 3, 17}, cols[] = {1, 33, 4097};
  for (int op = 0; op < N_OPS; op++)
    for (int flags = 0; flags < 4; flags++)
      for (int d = 0; d < 3; d++)
        for (int s = 0; s < 3; s++) {
          zk_op_test t = with(op, flags & 1, flags >> 1, s == 2 ? FILL_IEEE : FILL_NORMAL);
          zk_case_opts o = opts(b, dtypes[d], rows[s], cols[s], s == 1, (uint64_t)(10 + op * 64 + flags * 16 + d * 4 + s));
          if (s == 0) o.alias = 1;
          if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
        }
  return 0;
}

/* cumsum_grad(dy; e, r) is bitwise cumsum_lastdim(dy; e, !r). */
static int extra_grad_is_forward(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int flags = 0; flags < 4; flags++)
    for (int d = 0; d < 3; d++) {
      zk_op_test g = with(OP_CUMSUM_GRAD, flags & 1, flags >> 1, FILL_NORMAL);
      zk_op_test f = with(OP_CUMSUM, flags & 1, !(flags >> 1), FILL_NORMAL);
      zk_case_opts o = opts(b, dtypes[d], 5, 4097, flags & 1, (uint64_t)(100 + flags * 4 + d));
      zk_case cg, cf;
      if (zk_case_setup(&cg, &g, &o, msg, cap)) return 1;
      if (zk_case_setup(&cf, &f, &o, msg, cap)) {
        zk_case_free(&cg);
        return 1;
      }
      int fail = zk_case_run_ok(&cg, ctx, msg, cap) || zk_case_run_ok(&cf, ctx, msg, cap);
      if (!fail && memcmp(cg.host[1], cf.host[1], cg.bytes[1])) {
        snprintf(msg, cap, "%s flags %d: cumsum_grad differs from cumsum_lastdim reversed", zk_dtype_name(dtypes[d]),
                 flags);
        fail = 1;
      }
      zk_case_free(&cg);
      zk_case_free(&cf);
      if (fail) return 1;
    }
  return 0;
}

/* Long rows: D = 262 145 and 2^20, every dtype, both directions. */
static int extra_long_rows(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int d = 0; d < 3; d++)
    for (int i = 0; i < 2; i++) {
      zk_op_test t = with(OP_CUMSUM, 0, i, FILL_NORMAL);
      zk_case_opts o = opts(b, dtypes[d], 2, i ? (1 << 20) : 262145, i, (uint64_t)(200 + d * 2 + i));
      if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

static const zk_extra_test scan_extras[] = {
    {"known_answer", extra_known_answer},
    {"flags", extra_flags},
    {"grad_is_forward", extra_grad_is_forward},
    {"long_rows", extra_long_rows},
};

const zk_family_tests zk_tests_scan = {"scan", scan_tests, N_OPS, scan_extras,
                                       sizeof scan_extras / sizeof scan_extras[0]};
