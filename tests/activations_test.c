/* Test descriptors of the activations family (spec §1).
 *
 * Inputs x come from a fill hook: the spec's grid of hard values first,
 * then U(-12, 12).  Forwards see the whole grid (±Inf, NaN and the dtype's
 * largest value included); grads only |x| <= 1e4, with dy ~ N(0, 1).  The
 * extras check the table's special values exactly in every dtype, 10^5
 * random values per op (also with non-default scalars) and 0-d and 3-D
 * tensors. */
#include <float.h>
#include <math.h>
#include <string.h>
#include "../src/core/dtype.h"
#include "../src/ref/activations.h"
#include "harness/harness.h"

/* ------------------------------------------------------------- inputs */

/* The grid's magnitudes (spec §1, "Tests must check"); each goes in as ±. */
static const double grid[] = {0, 1e-6, 0.5, 1, 5, 10, 19.9, 20.1, 30, 88, 89, 1e4};
#define NGRID ((int)(sizeof grid / sizeof grid[0]))

static double dtype_max(zk_dtype t) {
  return t == ZK_F16 ? 65504.0 : t == ZK_BF16 ? 0x1.fep127 : (double)FLT_MAX;
}

static double dtype_min_subnormal(zk_dtype t) {
  return t == ZK_F16 ? 0x1p-24 : t == ZK_BF16 ? 0x1p-133 : 0x1p-149;
}

/* The grid, then U(-12, 12).  Forwards also get ±Inf, NaN and ±max. */
static void fill_x(zk_case *c, double *v, int64_t n, int forward) {
  double extra[] = {INFINITY, -INFINITY, NAN, dtype_max(c->dtype), -dtype_max(c->dtype)};
  uint64_t rng = c->seed ^ 0x5DEECE66Dull;
  int64_t i = 0;
  for (int g = 0; g < NGRID && i < n; g++) {
    v[i++] = grid[g];
    if (i < n) v[i++] = -grid[g];
  }
  for (int e = 0; forward && e < 5 && i < n; e++) v[i++] = extra[e];
  for (; i < n; i++) v[i] = zk_rand_uniform(&rng, -12.0, 12.0);
}

static void fill_forward(zk_case *c, int k, double *v, int64_t n) { (void)k, fill_x(c, v, n, 1); }
static void fill_grad(zk_case *c, int k, double *v, int64_t n) { (void)k, fill_x(c, v, n, 0); }

/* --------------------------------------------- calls and references */

#define CALL_FWD(name, ...)                                                                  \
  static zk_status call_##name(zk_ctx *ctx, zk_case *c) {                                    \
    return zk_##name(ctx, ZT(c, 0), ZT(c, 1) __VA_ARGS__);                                   \
  }                                                                                          \
  static void ref_##name(zk_case *c) { zk_ref_##name(c->val[0], c->ref[1], zk_case_numel(c, 0), c->s); }
#define CALL_GRAD(name, ...)                                                                 \
  static zk_status call_##name##_grad(zk_ctx *ctx, zk_case *c) {                             \
    return zk_##name##_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2) __VA_ARGS__);                   \
  }                                                                                          \
  static void ref_##name##_grad(zk_case *c) {                                                \
    zk_ref_##name##_grad(c->val[0], c->val[1], c->ref[2], zk_case_numel(c, 0), c->s);       \
  }
#define SOFTPLUS_SCALARS , (float)c->s[0], (float)c->s[1]
#define ELU_SCALARS , (float)c->s[0]

CALL_FWD(exp) CALL_FWD(log) CALL_FWD(tanh) CALL_FWD(sigmoid) CALL_FWD(relu) CALL_FWD(silu) CALL_FWD(gelu_tanh)
CALL_FWD(softplus, SOFTPLUS_SCALARS) CALL_FWD(mish) CALL_FWD(elu, ELU_SCALARS)
CALL_GRAD(exp) CALL_GRAD(tanh) CALL_GRAD(sigmoid) CALL_GRAD(relu) CALL_GRAD(silu) CALL_GRAD(gelu_tanh)
CALL_GRAD(softplus, SOFTPLUS_SCALARS) CALL_GRAD(mish) CALL_GRAD(elu, ELU_SCALARS)

/* ---------------------------------------------- central differences
 * The reference VJP of each grad against central differences of the
 * reference forward, at 64 points of [-12, 12] kept away from the kinks
 * (x = 0 for relu and elu, β·x = τ for softplus). */

typedef void (*act_fwd)(const double *x, double *y, int64_t n, const double *s);
typedef void (*act_grad)(const double *x, const double *dy, double *dx, int64_t n, const double *s);

typedef struct act_fd {
  act_fwd f;
  const double *s;
  int64_t n;
} act_fd;

static void fd_forward(const double *x, double *y, const void *ctx) {
  const act_fd *a = ctx;
  a->f(x, y, a->n, a->s);
}

static double fd_error(act_fwd f, act_grad g, const double *s, double kink, uint64_t seed) {
  enum { N = 64 };
  double x[N], dy[N], dx[N];
  for (int i = 0; i < N; i++) {
    do x[i] = zk_rand_uniform(&seed, -12.0, 12.0);
    while (fabs(x[i]) < 0.05 || fabs(x[i] - kink) < 0.05);
    dy[i] = zk_rand_normal(&seed);
  }
  g(x, dy, dx, N, s);
  act_fd a = {f, s, N};
  return zk_fd_vjp_error(fd_forward, &a, x, N, N, dy, dx);
}

#define FD(name, kink, ...)                                                        \
  static double fd_##name(uint64_t seed) {                                         \
    const double s[] = {__VA_ARGS__};                                              \
    return fd_error(zk_ref_##name, zk_ref_##name##_grad, s, kink, seed);           \
  }
/* softplus and elu also at non-default scalars (β = 2, τ = 5: kink at 2.5). */
#define FD2(name, kink1, s1, kink2, s2)                                            \
  static double fd_##name(uint64_t seed) {                                         \
    const double a[] = s1, b[] = s2;                                               \
    double e1 = fd_error(zk_ref_##name, zk_ref_##name##_grad, a, kink1, seed);     \
    double e2 = fd_error(zk_ref_##name, zk_ref_##name##_grad, b, kink2, seed + 1); \
    return e1 > e2 ? e1 : e2;                                                      \
  }
#define PAIR(a, b) {a, b}

FD(exp, 0, 0) FD(tanh, 0, 0) FD(sigmoid, 0, 0) FD(relu, 0, 0) FD(silu, 0, 0) FD(gelu_tanh, 0, 0) FD(mish, 20, 0)
FD2(softplus, 20, PAIR(1, 20), 2.5, PAIR(2, 5))
FD2(elu, 0, PAIR(1, 0), 0, PAIR(0.5, 0))

/* -------------------------------------------------------- descriptors */

#define X_IN {"x", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define DY_IN {"dy", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
#define Y_OUT {"y", ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, ZK_TOL_EW, 0, 0, 0}
#define DX_OUT {"dx", ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, ZK_TOL_GRAD, 0, 0, 0}

/* y may alias x; dx may alias dy. */
#define FWD_TEST(name, ...)                                                                             \
  {.op = #name, .t = {X_IN, Y_OUT}, .nt = 2, .call = call_##name, .ref = ref_##name, .fill = fill_forward, \
   .alias_of = {[1] = 1}, __VA_ARGS__}
#define GRAD_TEST(name, ...)                                                                            \
  {.op = #name "_grad", .t = {X_IN, DY_IN, DX_OUT}, .nt = 3, .call = call_##name##_grad,                  \
   .ref = ref_##name##_grad, .fill = fill_grad, .fd_check = fd_##name, .alias_of = {[2] = 2}, __VA_ARGS__}

#define SOFTPLUS_DEFAULTS .scalars = {1.0, 20.0}
#define BAD_SOFTPLUS                                                                                \
  .bad = {{0, 0.0, ZK_ERR_ARG}, {0, -1.0, ZK_ERR_ARG}, {0, NAN, ZK_ERR_ARG}, {0, INFINITY, ZK_ERR_ARG}, \
          {1, NAN, ZK_ERR_ARG}, {1, -INFINITY, ZK_ERR_ARG}},                                          \
  .nbad = 6
#define ELU_DEFAULTS .scalars = {1.0}
#define BAD_ELU .bad = {{0, NAN, ZK_ERR_ARG}, {0, INFINITY, ZK_ERR_ARG}, {0, -INFINITY, ZK_ERR_ARG}}, .nbad = 3

static const zk_op_test activation_tests[] = {
    FWD_TEST(exp),
    FWD_TEST(log),
    FWD_TEST(tanh),
    FWD_TEST(sigmoid),
    FWD_TEST(relu),
    FWD_TEST(silu),
    FWD_TEST(gelu_tanh),
    FWD_TEST(softplus, SOFTPLUS_DEFAULTS, BAD_SOFTPLUS),
    FWD_TEST(mish),
    FWD_TEST(elu, ELU_DEFAULTS, BAD_ELU),
    GRAD_TEST(exp),
    GRAD_TEST(tanh),
    GRAD_TEST(sigmoid),
    GRAD_TEST(relu),
    GRAD_TEST(silu),
    GRAD_TEST(gelu_tanh),
    GRAD_TEST(softplus, SOFTPLUS_DEFAULTS, BAD_SOFTPLUS),
    GRAD_TEST(mish),
    GRAD_TEST(elu, ELU_DEFAULTS, BAD_ELU),
};
#define NOPS ((int)(sizeof activation_tests / sizeof activation_tests[0]))

/* ------------------------------------------------------ extras: helpers */

static const zk_dtype dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

static const zk_op_test *find(const char *op) {
  for (int i = 0; i < NOPS; i++)
    if (!strcmp(activation_tests[i].op, op)) return &activation_tests[i];
  return NULL;
}

static int is_grad(const zk_op_test *t) { return t->nt == 3; }

/* Overwrites input k of a compact case with v (rounded into the dtype),
 * on the device too. */
static int put_values(zk_case *c, int k, const double *v) {
  for (int64_t i = 0; i < zk_case_numel(c, k); i++) {
    float f = (float)zk_round_to(v[i], c->tdtype[k]);
    switch (c->tdtype[k]) {
      case ZK_F32: ((float *)c->host[k])[i] = f; break;
      case ZK_F16: ((uint16_t *)c->host[k])[i] = zk_f32_to_f16(f); break;
      default: ((uint16_t *)c->host[k])[i] = zk_f32_to_bf16(f); break;
    }
    c->val[k][i] = f;
  }
  return c->backend == ZK_BACKEND_CUDA ? zk_dev_upload(c->dev[k], c->host[k], c->bytes[k]) : 0;
}

/* One row of n elements of t in dtype dt with scalars s (NULL: the
 * defaults) and inputs x, dy (NULL: the descriptor's random inputs): runs
 * it and fills the reference.  Returns 0 when the call succeeded; the
 * caller frees c. */
static int run_values(zk_case *c, zk_ctx *ctx, zk_backend be, const zk_op_test *t, zk_dtype dt, const double *s,
                      int64_t n, const double *x, const double *dy, char *msg, size_t cap) {
  zk_case_opts o = {be, dt, dt, 1, n, 0, 0, zk_test_seed() + (uint64_t)n, -1, -1};
  if (zk_case_init(c, t, &o) || (x && put_values(c, 0, x)) || (dy && is_grad(t) && put_values(c, 1, dy))) {
    snprintf(msg, cap, "%s %s: cannot set up the case", t->op, zk_dtype_name(dt));
    return 1;
  }
  if (s) memcpy(c->s, s, 4 * sizeof *c->s);  /* the callers pass 4 scalars */
  zk_status st = zk_case_run(c, ctx);
  if (st != ZK_OK) {
    snprintf(msg, cap, "%s %s: returned %s: %s", t->op, zk_dtype_name(dt), zk_status_name(st),
             zk_ctx_last_error(ctx));
    return 1;
  }
  t->ref(c);
  return 0;
}

/* ------------------------------------------------- extras: special values
 * The table's special values, exactly, in every dtype.  MAXV stands for the
 * dtype's largest finite value and TINY for its smallest subnormal. */

#define MAXV 1e300
#define TINY 1e-300

static double resolve(double v, zk_dtype dt) {
  if (fabs(v) == MAXV) return copysign(dtype_max(dt), v);
  if (v != 0 && fabs(v) < 1e-290) return v / TINY * dtype_min_subnormal(dt);
  return v;
}

typedef enum probe_kind {
  EXACT,    /* want, rounded to the dtype, exactly (NaN matches NaN; ±0 match) */
  RELATIVE, /* the reference within the dtype's EW rtol, relative to |ref| (no atol) */
} probe_kind;

typedef struct probe {
  const char *op;
  double s[2];   /* the scalars: softplus beta, threshold; elu alpha */
  double x, dy;  /* dy: grads only */
  double want;
  probe_kind kind;
  int only;      /* run only in this dtype + 1 (0: every dtype) */
} probe;

#define SP(beta, tau) {beta, tau}
#define DEF {1, 20} /* softplus's defaults; elu reads alpha = 1 from them too */
#define F16_ONLY (ZK_F16 + 1)

static const probe probes[] = {
    /* exp: e^-Inf = 0; overflow -> +Inf, also where the f32 result is finite
     * but rounds past the dtype's max (f16: e^11.09375 = 65770 > 65504). */
    {"exp", DEF, -INFINITY, 0, 0.0, EXACT, 0},
    {"exp", DEF, -110, 0, 0.0, EXACT, 0},
    {"exp", DEF, INFINITY, 0, INFINITY, EXACT, 0},
    {"exp", DEF, 89, 0, INFINITY, EXACT, 0},
    {"exp", DEF, 1000, 0, INFINITY, EXACT, 0},
    {"exp", DEF, MAXV, 0, INFINITY, EXACT, 0},
    {"exp", DEF, NAN, 0, NAN, EXACT, 0},
    {"exp", DEF, 0.0, 0, 1.0, EXACT, 0},
    {"exp", DEF, -0.0, 0, 1.0, EXACT, 0},
    {"exp", DEF, 11.09375, 0, INFINITY, EXACT, F16_ONLY},
    {"exp", DEF, 11.0859375, 0, 0, RELATIVE, F16_ONLY},
    /* log: x < 0 -> NaN; ±0 -> -Inf; +Inf -> +Inf; subnormals exact (no FTZ). */
    {"log", DEF, -1, 0, NAN, EXACT, 0},
    {"log", DEF, -TINY, 0, NAN, EXACT, 0},
    {"log", DEF, -INFINITY, 0, NAN, EXACT, 0},
    {"log", DEF, 0.0, 0, -INFINITY, EXACT, 0},
    {"log", DEF, -0.0, 0, -INFINITY, EXACT, 0},
    {"log", DEF, INFINITY, 0, INFINITY, EXACT, 0},
    {"log", DEF, NAN, 0, NAN, EXACT, 0},
    {"log", DEF, 1, 0, 0.0, EXACT, 0},
    {"log", DEF, TINY, 0, 0, RELATIVE, 0},
    {"log", DEF, 3 * TINY, 0, 0, RELATIVE, 0},
    {"log", DEF, MAXV, 0, 0, RELATIVE, 0},
    /* tanh: ±Inf -> ±1. */
    {"tanh", DEF, INFINITY, 0, 1.0, EXACT, 0},
    {"tanh", DEF, -INFINITY, 0, -1.0, EXACT, 0},
    {"tanh", DEF, NAN, 0, NAN, EXACT, 0},
    {"tanh", DEF, 0.0, 0, 0.0, EXACT, 0},
    /* sigmoid: -Inf -> 0, +Inf -> 1, never NaN for non-NaN x. */
    {"sigmoid", DEF, -INFINITY, 0, 0.0, EXACT, 0},
    {"sigmoid", DEF, INFINITY, 0, 1.0, EXACT, 0},
    {"sigmoid", DEF, MAXV, 0, 1.0, EXACT, 0},
    {"sigmoid", DEF, -MAXV, 0, 0.0, EXACT, 0},
    {"sigmoid", DEF, -1024, 0, 0.0, EXACT, 0},
    {"sigmoid", DEF, 0.0, 0, 0.5, EXACT, 0},
    {"sigmoid", DEF, NAN, 0, NAN, EXACT, 0},
    /* relu: NaN stays NaN; relu(-0) = ±0; the kink at 0. */
    {"relu", DEF, NAN, 0, NAN, EXACT, 0},
    {"relu", DEF, -0.0, 0, 0.0, EXACT, 0},
    {"relu", DEF, 0.0, 0, 0.0, EXACT, 0},
    {"relu", DEF, -TINY, 0, 0.0, EXACT, 0},
    {"relu", DEF, TINY, 0, TINY, EXACT, 0},
    {"relu", DEF, -INFINITY, 0, 0.0, EXACT, 0},
    {"relu", DEF, INFINITY, 0, INFINITY, EXACT, 0},
    {"relu", DEF, -MAXV, 0, 0.0, EXACT, 0},
    {"relu", DEF, MAXV, 0, MAXV, EXACT, 0},
    /* relu_grad: dy where x > 0, else 0 (0 at x = 0 and for NaN x). */
    {"relu_grad", DEF, 0.0, 3, 0.0, EXACT, 0},
    {"relu_grad", DEF, -0.0, 3, 0.0, EXACT, 0},
    {"relu_grad", DEF, NAN, 3, 0.0, EXACT, 0},
    {"relu_grad", DEF, TINY, -0.75, -0.75, EXACT, 0},
    {"relu_grad", DEF, -TINY, 3, 0.0, EXACT, 0},
    {"relu_grad", DEF, 2, 3, 3.0, EXACT, 0},
    /* silu and gelu_tanh: -Inf -> NaN (IEEE, as PyTorch), +Inf -> +Inf. */
    {"silu", DEF, -INFINITY, 0, NAN, EXACT, 0},
    {"silu", DEF, INFINITY, 0, INFINITY, EXACT, 0},
    {"silu", DEF, MAXV, 0, MAXV, EXACT, 0},
    {"silu", DEF, 0.0, 0, 0.0, EXACT, 0},
    {"gelu_tanh", DEF, -INFINITY, 0, NAN, EXACT, 0},
    {"gelu_tanh", DEF, INFINITY, 0, INFINITY, EXACT, 0},
    {"gelu_tanh", DEF, MAXV, 0, MAXV, EXACT, 0},
    {"gelu_tanh", DEF, 0.0, 0, 0.0, EXACT, 0},
    /* softplus: β·x > τ -> exactly x; -Inf -> 0; never overflows. */
    {"softplus", DEF, 20.5, 0, 20.5, EXACT, 0},
    {"softplus", DEF, 1024, 0, 1024, EXACT, 0},
    {"softplus", DEF, MAXV, 0, MAXV, EXACT, 0},
    {"softplus", DEF, INFINITY, 0, INFINITY, EXACT, 0},
    {"softplus", DEF, -INFINITY, 0, 0.0, EXACT, 0},
    {"softplus", DEF, -MAXV, 0, 0.0, EXACT, 0},
    {"softplus", DEF, NAN, 0, NAN, EXACT, 0},
    {"softplus", DEF, 19.5, 0, 0, RELATIVE, 0},
    {"softplus", SP(2, 5), 3, 0, 3.0, EXACT, 0},       /* 6 > 5 */
    {"softplus", SP(2, 5), 2.5, 0, 0, RELATIVE, 0},    /* 5, not > 5: log1p(e^5)/2 */
    {"softplus", SP(0.5, -1), -1, 0, -1.0, EXACT, 0},  /* -0.5 > -1 */
    {"softplus", SP(0.5, -1), -3, 0, 0, RELATIVE, 0},  /* log1p(e^-1.5)/0.5 */
    {"softplus", SP(0.25, 20), 100, 0, 100.0, EXACT, 0},
    {"softplus", SP(1, FLT_MAX), MAXV, 0, MAXV, EXACT, 0}, /* no threshold: still no overflow */
    {"softplus", SP(1, FLT_MAX), 100, 0, 100.0, EXACT, 0},
    {"softplus_grad", DEF, 20.5, 3, 3.0, EXACT, 0},
    {"softplus_grad", DEF, 1024, -0.75, -0.75, EXACT, 0},
    {"softplus_grad", DEF, 0.0, 3, 1.5, EXACT, 0},
    {"softplus_grad", SP(2, 5), 3, 3, 3.0, EXACT, 0},
    {"softplus_grad", SP(2, 5), 2.5, 3, 0, RELATIVE, 0},
    /* mish: +Inf -> +Inf; -Inf -> NaN; no overflow for large x. */
    {"mish", DEF, INFINITY, 0, INFINITY, EXACT, 0},
    {"mish", DEF, -INFINITY, 0, NAN, EXACT, 0},
    {"mish", DEF, NAN, 0, NAN, EXACT, 0},
    {"mish", DEF, 1024, 0, 1024.0, EXACT, 0},
    {"mish", DEF, MAXV, 0, MAXV, EXACT, 0},
    {"mish", DEF, 0.0, 0, 0.0, EXACT, 0},
    /* elu: -Inf -> -α; expm1 keeps small negative x to full relative
     * precision; the kink at 0. */
    {"elu", DEF, -INFINITY, 0, -1.0, EXACT, 0},
    {"elu", DEF, -MAXV, 0, -1.0, EXACT, 0},
    {"elu", DEF, INFINITY, 0, INFINITY, EXACT, 0},
    {"elu", DEF, NAN, 0, NAN, EXACT, 0},
    {"elu", DEF, 0.0, 0, 0.0, EXACT, 0},
    {"elu", DEF, 2, 0, 2.0, EXACT, 0},
    {"elu", DEF, -1e-6, 0, 0, RELATIVE, 0},
    {"elu", DEF, -TINY, 0, 0, RELATIVE, 0},
    {"elu", SP(1.5, 0), -INFINITY, 0, -1.5, EXACT, 0},
    {"elu", SP(0.5, 0), -INFINITY, 0, -0.5, EXACT, 0},
    {"elu", SP(0.5, 0), -1e-3, 0, 0, RELATIVE, 0},
    {"elu_grad", SP(1.5, 0), 0.0, 1, 1.5, EXACT, 0}, /* α·dy at the kink */
    {"elu_grad", SP(1.5, 0), -0.0, 0.75, 1.125, EXACT, 0},
    {"elu_grad", SP(1.5, 0), TINY, 3, 3.0, EXACT, 0},
    {"elu_grad", SP(1.5, 0), 2, -0.75, -0.75, EXACT, 0},
    {"elu_grad", DEF, 0.0, 3, 3.0, EXACT, 0},
    {"elu_grad", DEF, -1e4, 3, 0.0, EXACT, 0},
    /* The other grads at 0, where f'(0) is exact. */
    {"exp_grad", DEF, 0.0, 3, 3.0, EXACT, 0},
    {"tanh_grad", DEF, 0.0, 3, 3.0, EXACT, 0},
    {"sigmoid_grad", DEF, 0.0, 3, 0.75, EXACT, 0},
    {"silu_grad", DEF, 0.0, 3, 1.5, EXACT, 0},
    {"gelu_tanh_grad", DEF, 0.0, 3, 1.5, EXACT, 0},
};

static int check_probe(zk_ctx *ctx, zk_backend be, const probe *p, zk_dtype dt, char *msg, size_t cap) {
  const zk_op_test *t = find(p->op);
  if (!t) return snprintf(msg, cap, "no descriptor for %s", p->op), 1;
  double x = resolve(p->x, dt), dy = p->dy, s[4] = {p->s[0], p->s[1], 0, 0};
  zk_case c;
  int fail = run_values(&c, ctx, be, t, dt, s, 1, &x, &dy, msg, cap);
  if (!fail) {
    int out = t->nt - 1;
    double got = c.got[out][0], ref = c.ref[out][0], want = zk_round_to(resolve(p->want, dt), dt);
    double rtol = dt == ZK_F32 ? 1e-5 : dt == ZK_F16 ? 2e-3 : 1.6e-2;
    int ok = p->kind == EXACT ? got == want || (isnan(got) && isnan(want))
                              : isfinite(got) && fabs(got - ref) <= rtol * fabs(ref);
    if (!ok) {
      if (p->kind == EXACT)
        snprintf(msg, cap, "%s %s (s = %g, %g) at x = %.9g, dy = %g: got %.9g, want %.9g", p->op,
                 zk_dtype_name(dt), p->s[0], p->s[1], c.val[0][0], dy, got, want);
      else
        snprintf(msg, cap, "%s %s (s = %g, %g) at x = %.9g, dy = %g: got %.9g, reference %.9g (relative %.3g)",
                 p->op, zk_dtype_name(dt), p->s[0], p->s[1], c.val[0][0], dy, got, ref, fabs(got - ref) / fabs(ref));
      fail = 1;
    }
  }
  zk_case_free(&c);
  return fail;
}

static int test_special_values(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
    for (int d = 0; d < 3; d++)
      if (!probes[i].only || probes[i].only == dtypes[d] + 1)
        if (check_probe(ctx, be, &probes[i], dtypes[d], msg, cap)) return 1;
  return 0;
}

/* -------------------------------------------- extras: 10^5 random values
 * Every op in every dtype on one tensor of 10^5 elements (the grid, then
 * U(-12, 12)), and softplus and elu at non-default scalars. */

static int run_random(zk_ctx *ctx, zk_backend be, const zk_op_test *t, const double *s, char *msg, size_t cap) {
  for (int d = 0; d < 3; d++) {
    zk_case c;
    int fail = run_values(&c, ctx, be, t, dtypes[d], s, 100000, NULL, NULL, msg, cap) || zk_case_check(&c, msg, cap);
    if (fail && s) {
      size_t len = strlen(msg);
      snprintf(msg + len, cap - len, " [scalars %g, %g]", s[0], s[1]);
    }
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

static int test_random(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const double softplus_s[][4] = {{2, 5}, {0.5, -1}, {3, 30}, {1, FLT_MAX}};
  static const double elu_s[][4] = {{0.5}, {2}, {-0.3}, {0}};
  for (int i = 0; i < NOPS; i++) {
    const zk_op_test *t = &activation_tests[i];
    if (run_random(ctx, be, t, NULL, msg, cap)) return 1;
    int softplus = !strncmp(t->op, "softplus", 8), elu = !strncmp(t->op, "elu", 3);
    for (int k = 0; k < 4 && (softplus || elu); k++)
      if (run_random(ctx, be, t, softplus ? softplus_s[k] : elu_s[k], msg, cap)) return 1;
  }
  return 0;
}

/* ------------------------------------------------ extras: tensor ranks
 * 0-d tensors are one element; a 3-D tensor collapses to rows. */

static int run_reshaped(zk_ctx *ctx, zk_backend be, const zk_op_test *t, int ndim, char *msg, size_t cap) {
  zk_case c;
  int64_t shape3[3] = {2, 3, 5}, n = ndim == 0 ? 1 : 30;
  zk_case_opts o = {be, ZK_F32, ZK_F32, 1, n, 0, 1, zk_test_seed(), -1, -1};
  int fail = zk_case_init(&c, t, &o);
  for (int k = 0; k < t->nt && !fail; k++) {
    c.dl[k].ndim = ndim;
    c.dl[k].shape = ndim ? shape3 : NULL;
    c.dl[k].strides = NULL;
  }
  zk_status s = fail ? ZK_ERR_BACKEND : zk_case_run(&c, ctx);
  if (s != ZK_OK) {
    snprintf(msg, cap, "%s on a %d-d tensor: %s: %s", t->op, ndim, zk_status_name(s), zk_ctx_last_error(ctx));
    fail = 1;
  } else {
    t->ref(&c);
    fail = zk_case_check(&c, msg, cap);
  }
  zk_case_free(&c);
  return fail;
}

static int test_ranks(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  for (int i = 0; i < NOPS; i++)
    if (run_reshaped(ctx, be, &activation_tests[i], 0, msg, cap) ||
        run_reshaped(ctx, be, &activation_tests[i], 3, msg, cap))
      return 1;
  return 0;
}

static const zk_extra_test activation_extras[] = {
    {"special_values", test_special_values},
    {"random_1e5", test_random},
    {"tensor_ranks", test_ranks},
};

const zk_family_tests zk_tests_activations = {"activations", activation_tests, NOPS, activation_extras,
                                              sizeof activation_extras / sizeof activation_extras[0]};
