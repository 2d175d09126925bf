/* Test descriptors and extras of the loss family (spec §11).
 *
 * The sweep runs softmax_cross_entropy and its grad with reduction none,
 * label smoothing 0.1 and some rows ignored (ROW forward, GRAD backward,
 * dlogits in place too), int64 targets compact and int32 strided, and the
 * bad inputs, out-of-range targets included (-1 and C: INDEX, nothing
 * written on the CPU; the device flag on CUDA).  The grad's reference is
 * checked against central differences of the forward for every reduction.
 * Extras: the mean and sum reductions through the same sweep (scalar loss,
 * R = 0 included), smoothing 0 and 1, ignore_index naming a valid class,
 * every row ignored (mean NaN, sum 0), the spec's class counts up to
 * 262 144, and edge rows (NaN logits, -Inf at the target, all -Inf). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/loss.h>
#include "../src/ref/loss.h"
#include "harness/harness.h"

/* Scalars: 0 reduction, 1 ignore_index, 2 label smoothing, 3 fill mode. */
enum fill_mode {
  FILL_PLAIN,       /* logits 2·N(0, 1); about one target in six ignored */
  FILL_EDGE,        /* rows cycle through edge_pattern; no target ignored */
  FILL_ALL_IGNORED, /* every target is ignore_index */
};
#define MODE_SLOT 3

enum edge_pattern { HAS_NAN, TARGET_NEG_INF, OTHER_NEG_INF, ALL_NEG_INF, HAS_POS_INF, PLAIN, EDGE_PATTERNS };

/* Row r's target: a class drawn from the case's seed (so the logits' fill
 * knows it too), or ignore_index for about one row in six (every row in
 * FILL_ALL_IGNORED). */
static int64_t target_of(const zk_case *c, int64_t r) {
  uint64_t h = c->seed ^ (0xD6E8FEB86659FD93ull * (uint64_t)(r + 1));
  uint64_t u = zk_rand_u64(&h);
  enum fill_mode mode = (enum fill_mode)c->s[MODE_SLOT];
  if (mode == FILL_ALL_IGNORED || (mode == FILL_PLAIN && (u >> 40) % 6 == 0)) return (int64_t)c->s[1];
  return (int64_t)(u % (uint64_t)c->D);
}

/* Logits 2·N(0, 1) (FILL_EDGE: with the row's edge pattern); targets. */
static void fill(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed ^ 0x9E3779B97F4A7C15ull;
  if (k == 1) {
    for (int64_t r = 0; r < n; r++) v[r] = (double)target_of(c, r);
    return;
  }
  int64_t C = c->D;
  for (int64_t i = 0; i < n; i++) v[i] = 2.0 * zk_rand_normal(&rng);
  if (c->s[MODE_SLOT] != FILL_EDGE) return;
  for (int64_t r = 0; r < c->R; r++) {
    double *z = v + r * C;
    int64_t t = target_of(c, r), other = (t + 1) % C;
    switch ((enum edge_pattern)(r % EDGE_PATTERNS)) {
      case HAS_NAN: z[other] = NAN; break;
      case TARGET_NEG_INF: z[t] = -INFINITY; break;
      case OTHER_NEG_INF: if (other != t) z[other] = -INFINITY; break;
      case ALL_NEG_INF: for (int64_t j = 0; j < C; j++) z[j] = -INFINITY; break;
      case HAS_POS_INF: z[other] = INFINITY; break;
      default: break;
    }
  }
}

/* ------------------------------------------------------------ descriptors */

static zk_status call_ce(zk_ctx *ctx, zk_case *c) {
  return zk_softmax_cross_entropy(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (zk_reduction)c->s[0], (int64_t)c->s[1],
                                  (float)c->s[2]);
}
static zk_status call_ce_grad(zk_ctx *ctx, zk_case *c) {
  return zk_softmax_cross_entropy_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), (zk_reduction)c->s[0],
                                       (int64_t)c->s[1], (float)c->s[2]);
}
static void ref_ce(zk_case *c) {
  zk_ref_softmax_cross_entropy(c->val[0], c->val[1], c->ref[2], c->R, c->D, (int)c->s[0], (int64_t)c->s[1],
                               (float)c->s[2]);
}
static void ref_ce_grad(zk_case *c) {
  zk_ref_softmax_cross_entropy_grad(c->val[0], c->val[1], c->val[2], c->ref[3], c->R, c->D, (int)c->s[0],
                                    (int64_t)c->s[1], (float)c->s[2]);
}

/* Central differences of the float64 forward, for each reduction, with a
 * random linear functional of the loss, against the reference VJP. */
typedef struct fd_ctx {
  const double *t;
  int64_t R, C;
  int reduction;
} fd_ctx;

static void fd_forward(const double *z, double *loss, const void *ctx) {
  const fd_ctx *f = ctx;
  zk_ref_softmax_cross_entropy(z, f->t, loss, f->R, f->C, f->reduction, -100, 0.1f);
}

static double fd_ce_grad(uint64_t seed) {
  enum { R = 4, C = 7 };
  double z[R * C], dz[R * C], loss[R], dloss[R], t[R] = {3, -100, 0, 6}, worst = 0;
  for (int reduction = 0; reduction < 3; reduction++) {
    for (int i = 0; i < R * C; i++) z[i] = 2.0 * zk_rand_normal(&seed);
    for (int r = 0; r < R; r++) dloss[r] = zk_rand_normal(&seed);
    fd_ctx f = {t, R, C, reduction};
    int m = reduction ? 1 : R;
    fd_forward(z, loss, &f);
    zk_ref_softmax_cross_entropy_grad(z, t, dloss, dz, R, C, reduction, -100, 0.1f);
    double e = zk_fd_vjp_error(fd_forward, &f, z, R * C, m, dloss, dz);
    if (e > worst) worst = e;
  }
  return worst;
}

/* Bad target values (not ignore_index): -1 and C. */
static int64_t minus_one(const zk_case *c) { return (void)c, -1; }
static int64_t class_count(const zk_case *c) { return c->D; }

#define LOGITS_IN {"logits", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define TARGETS_IN {"targets", ZK_IN, ZK_SHAPE_ROW_VALUE, ZK_DT_INDEX, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define BAD_OPTIONS                                                                                              \
  .bad = {{0, 3, ZK_ERR_ARG}, {0, -1, ZK_ERR_ARG}, {2, -0.1, ZK_ERR_ARG}, {2, 1.5, ZK_ERR_ARG}, {2, NAN, ZK_ERR_ARG}}, \
  .nbad = 5, .bad_index = {{1, 1, minus_one, "a negative target"}, {1, 1, class_count, "a target = C"}},     \
  .nbad_index = 2

enum { OP_CE, OP_CE_GRAD, N_OPS };

static const zk_op_test loss_tests[N_OPS] = {
    [OP_CE] = {.op = "softmax_cross_entropy",
               .t = {LOGITS_IN, TARGETS_IN, {"loss", ZK_OUT, ZK_SHAPE_ROW_VALUE, ZK_DT_PARAM, 0, ZK_TOL_ROW, 0, 0, 0}},
               .nt = 3, .scalars = {ZK_REDUCTION_NONE, -100, 0.1}, .call = call_ce, .ref = ref_ce, .fill = fill,
               BAD_OPTIONS},
    [OP_CE_GRAD] = {.op = "softmax_cross_entropy_grad",
                    .t = {LOGITS_IN, TARGETS_IN,
                          {"dloss", ZK_IN, ZK_SHAPE_ROW_VALUE, ZK_DT_PARAM, 0, 0, ZK_DIST_NORMAL, 0, 0},
                          {"dlogits", ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, ZK_TOL_GRAD, 0, 0, 0}},
                    .nt = 4, .scalars = {ZK_REDUCTION_NONE, -100, 0.1}, .call = call_ce_grad, .ref = ref_ce_grad,
                    .fill = fill, .fd_check = fd_ce_grad, .alias_of = {[3] = 1}, BAD_OPTIONS},
};

/* ------------------------------------------------------------------ extras */

static const zk_dtype dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

static zk_case_opts opts(zk_backend b, zk_dtype dt, int64_t R, int64_t C, int strided, uint64_t salt) {
  zk_case_opts o = {.backend = b, .dtype = dt, .param_dtype = ZK_F32, .R = R, .D = C, .strided = strided,
                    .seed = zk_test_seed() ^ (salt * 0xD1B54A32D192ED03ull), .absent = -1, .alias = -1,
                    .index64 = !strided};
  return o;
}

/* A copy of descriptor op with the given options; a reduction makes loss
 * (dloss) one value. */
static zk_op_test with(int op, zk_reduction reduction, double ignore_index, double eps, enum fill_mode mode) {
  zk_op_test t = loss_tests[op];
  t.scalars[0] = reduction, t.scalars[1] = ignore_index, t.scalars[2] = eps, t.scalars[MODE_SLOT] = mode;
  if (reduction != ZK_REDUCTION_NONE) t.t[2].shape = ZK_SHAPE_SCALAR;
  return t;
}

/* mean and sum through the generic sweep (both ops), on class counts that
 * keep it short. */
static int extra_reductions(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t rows[] = {0, 1, 3, 257}, cols[] = {1, 2, 33, 1000, 4097};
  const zk_sweep sweep = {rows, 4, cols, 5, 1 << 20};
  for (int op = 0; op < N_OPS; op++)
    for (int reduction = ZK_REDUCTION_MEAN; reduction <= ZK_REDUCTION_SUM; reduction++) {
      zk_op_test t = with(op, (zk_reduction)reduction, -100, 0.1, FILL_PLAIN);
      zk_sweep_result res;
      zk_run_sweep(&t, ctx, b, &sweep, zk_test_seed() + (uint64_t)(op * 4 + reduction), &res);
      if (res.failed) {
        snprintf(msg, cap, "%d of %d cases failed; first: %s", res.failed, res.cases, res.first_failure);
        return 1;
      }
    }
  return 0;
}

/* Smoothing 0 and 1, ignore_index naming a valid class (0) or none, every
 * row ignored (mean NaN, sum 0, grads 0); each reduction, both ops. */
static int extra_options(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const double eps[] = {0, 0.1, 1}, ignore[] = {0, -100};
  for (int op = 0; op < N_OPS; op++)
    for (int reduction = 0; reduction < 3; reduction++)
      for (int e = 0; e < 3; e++)
        for (int i = 0; i < 2; i++)
          for (int mode = FILL_PLAIN; mode <= FILL_ALL_IGNORED; mode += 2) {
            zk_op_test t = with(op, (zk_reduction)reduction, ignore[i], eps[e], (enum fill_mode)mode);
            zk_case_opts o = opts(b, dtypes[(e + i) % 3], 9, i ? 33 : 3, e & 1,
                                  (uint64_t)(op * 1000 + reduction * 100 + e * 10 + i * 2 + mode));
            if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
          }
  return 0;
}

/* The spec's class counts, every dtype, both ops (the grad in place for
 * the largest two). */
static int extra_class_counts(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  static const int64_t cols[] = {1, 2, 1000, 32000, 128257, 262144};
  for (int op = 0; op < N_OPS; op++)
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 6; ci++) {
        zk_op_test t = with(op, (zk_reduction)((ci + d) % 3), -100, ci & 1 ? 0.1 : 0, FILL_PLAIN);
        zk_case_opts o = opts(b, dtypes[d], cols[ci] > 100000 ? 2 : 7, cols[ci], ci & 1, (uint64_t)(op * 64 + d * 8 + ci));
        if (op == OP_CE_GRAD && ci >= 4) o.alias = 3;
        if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
      }
  return 0;
}

/* Many long rows (1024 rows of 16400 classes): the CUDA row reduction's
 * block groups of at most 256 threads, forward and grad. */
static int extra_many_long_rows(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int op = 0; op < N_OPS; op++)
    for (int d = 0; d < 3; d++) {
      zk_op_test t = with(op, (zk_reduction)d, -100, d == 2 ? 0.1 : 0, FILL_PLAIN);
      zk_case_opts o = opts(b, dtypes[d], 1024, 16400, d == 1, (uint64_t)(900 + op * 8 + d));
      if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

/* Edge rows: NaN (or +Inf) logits -> NaN, -Inf at the target -> +Inf, -Inf
 * elsewhere -> finite, all -Inf -> NaN; NaN and Inf must appear exactly
 * where the reference has them. */
static int extra_edge_rows(zk_ctx *ctx, zk_backend b, char *msg, size_t cap) {
  for (int op = 0; op < N_OPS; op++)
    for (int d = 0; d < 3; d++)
      for (int e = 0; e < 2; e++) {
        /* Targets never ignored here: every pattern meets its row. */
        zk_op_test t = with(op, ZK_REDUCTION_NONE, -100, e ? 0.1 : 0, FILL_EDGE);
        zk_case_opts o = opts(b, dtypes[d], 2 * EDGE_PATTERNS, 33 + 4064 * e, e, (uint64_t)(op * 16 + d * 2 + e));
        if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
      }
  return 0;
}

static const zk_extra_test loss_extras[] = {
    {"reductions", extra_reductions},
    {"options", extra_options},
    {"class_counts", extra_class_counts},
    {"many_long_rows", extra_many_long_rows},
    {"edge_rows", extra_edge_rows},
};

const zk_family_tests zk_tests_loss = {"loss", loss_tests, N_OPS, loss_extras,
                                       sizeof loss_extras / sizeof loss_extras[0]};
