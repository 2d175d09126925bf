/* Test descriptors and extras of the fused elementwise family (spec §9).
 *
 * add, mul and add_bias are bitwise: EXACT against the f32-emulating
 * reference, and bit for bit equal on CPU and CUDA.  The activations are EW,
 * the gradients GRAD (dbias GRAD+ACC), each gradient also checked against
 * central differences of the reference forward.  The extras cover the
 * "Tests must check" items the standard sweep does not reach: IEEE specials
 * and overflow to Inf, an input with row stride 0 (one row broadcast), a
 * bias dtype other than x's, the CPU = CUDA bit check, silu·mul against
 * swiglu on the concatenated [a, b], alias b, 0-d tensors, each gradient
 * output alone and dbias without rows. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/fused.h>
#include "../src/core/dtype.h"
#include "../src/ref/fused.h"
#include "../src/ref/transformer.h"
#include "harness/checks.h"
#include "harness/harness.h"

/* ------------------------------------------------------ calls and references */

static zk_status call_add(zk_ctx *ctx, zk_case *c) { return zk_add(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2)); }
static void ref_add(zk_case *c) { zk_ref_add(c->val[0], c->val[1], c->ref[2], zk_case_numel(c, 0)); }

static zk_status call_mul(zk_ctx *ctx, zk_case *c) { return zk_mul(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2)); }
static void ref_mul(zk_case *c) { zk_ref_mul(c->val[0], c->val[1], c->ref[2], zk_case_numel(c, 0)); }

static zk_status call_silu_mul_grad(zk_ctx *ctx, zk_case *c) {
  return zk_silu_mul_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2));
}
static void ref_silu_mul_grad(zk_case *c) { zk_ref_silu_mul(c->val[0], c->val[1], c->ref[2], zk_case_numel(c, 0)); }

static zk_status call_silu_mul_grad_grad(zk_ctx *ctx, zk_case *c) {
  return zk_silu_mul_grad_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4));
}
static void ref_silu_mul_grad_grad(zk_case *c) {
  zk_ref_silu_mul_grad(c->val[0], c->val[1], c->val[2], c->ref[3], c->ref[4], zk_case_numel(c, 0));
}

static zk_status call_add_bias(zk_ctx *ctx, zk_case *c) { return zk_add_bias(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2)); }
static void ref_add_bias(zk_case *c) { zk_ref_add_bias(c->val[0], c->val[1], c->ref[2], c->rows[0], c->cols[0]); }

#define BIAS_ACT(name, ACT)                                                                                 \
  static zk_status call_##name(zk_ctx *ctx, zk_case *c) { return zk_##name(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2)); } \
  static void ref_##name(zk_case *c) { zk_ref_bias_act(ACT, c->val[0], c->val[1], c->ref[2], c->rows[0], c->cols[0]); } \
  static zk_status call_##name##_grad(zk_ctx *ctx, zk_case *c) {                                           \
    return zk_##name##_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4));                       \
  }                                                                                                         \
  static void ref_##name##_grad(zk_case *c) {                                                               \
    zk_ref_bias_act_grad(ACT, c->val[0], c->val[1], c->val[2], c->ref[3], c->ref[4], c->refabs[4], c->rows[0], \
                         c->cols[0]);                                                                       \
  }

BIAS_ACT(bias_gelu_tanh, ZK_REF_BIAS_GELU_TANH)
BIAS_ACT(bias_silu, ZK_REF_BIAS_SILU)

/* ------------------------------------------------------ central differences
 * Each reference VJP against central differences of the reference forward,
 * with respect to every differentiable input: x and bias (dbias = Σ_rows dx
 * is the VJP with respect to bias), a and b. */

enum { FD_R = 3, FD_C = 7 };

typedef struct fd_env {
  zk_ref_act act;
  const double *in[2]; /* x, bias or a, b */
  int wrt;             /* which of them v stands for */
} fd_env;

static void fd_bias_forward(const double *v, double *y, const void *ctx) {
  const fd_env *e = ctx;
  zk_ref_bias_act(e->act, e->wrt == 0 ? v : e->in[0], e->wrt == 1 ? v : e->in[1], y, FD_R, FD_C);
}

static double fd_bias_act(uint64_t seed, zk_ref_act act) {
  double x[FD_R * FD_C], bias[FD_C], dy[FD_R * FD_C], dx[FD_R * FD_C], dbias[FD_C];
  for (int i = 0; i < FD_R * FD_C; i++) x[i] = 2.0 * zk_rand_normal(&seed), dy[i] = zk_rand_normal(&seed);
  for (int j = 0; j < FD_C; j++) bias[j] = zk_rand_uniform(&seed, -1, 1);
  zk_ref_bias_act_grad(act, x, bias, dy, dx, dbias, NULL, FD_R, FD_C);
  fd_env e = {act, {x, bias}, 0};
  double err = zk_fd_vjp_error(fd_bias_forward, &e, x, FD_R * FD_C, FD_R * FD_C, dy, dx);
  e.wrt = 1;
  return fmax(err, zk_fd_vjp_error(fd_bias_forward, &e, bias, FD_C, FD_R * FD_C, dy, dbias));
}
static double fd_bias_gelu_tanh_grad(uint64_t seed) { return fd_bias_act(seed, ZK_REF_BIAS_GELU_TANH); }
static double fd_bias_silu_grad(uint64_t seed) { return fd_bias_act(seed, ZK_REF_BIAS_SILU); }

static void fd_silu_mul_forward(const double *v, double *y, const void *ctx) {
  const fd_env *e = ctx;
  zk_ref_silu_mul(e->wrt == 0 ? v : e->in[0], e->wrt == 1 ? v : e->in[1], y, FD_R * FD_C);
}

static double fd_silu_mul_grad_grad(uint64_t seed) {
  enum { N = FD_R * FD_C };
  double a[N], b[N], dy[N], da[N], db[N];
  for (int i = 0; i < N; i++)
    a[i] = 2.0 * zk_rand_normal(&seed), b[i] = zk_rand_normal(&seed), dy[i] = zk_rand_normal(&seed);
  zk_ref_silu_mul_grad(a, b, dy, da, db, N);
  fd_env e = {ZK_REF_BIAS_SILU, {a, b}, 0};
  double err = zk_fd_vjp_error(fd_silu_mul_forward, &e, a, N, N, dy, da);
  e.wrt = 1;
  return fmax(err, zk_fd_vjp_error(fd_silu_mul_forward, &e, b, N, N, dy, db));
}

/* ---------------------------------------------------------------- descriptors */

#define ROWS_IN(name) {name, ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
#define BIAS_IN {"bias", ZK_IN, ZK_SHAPE_VEC, ZK_DT_PARAM, 0, 0, ZK_DIST_UNIFORM, -1.0, 1.0}
#define ROWS_OUT(name, opt, tol) {name, ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, opt, tol, 0, 0, 0}
#define DBIAS_OUT {"dbias", ZK_OUT, ZK_SHAPE_VEC, ZK_DT_PARAM, 1, ZK_TOL_GRAD_ACC, 0, 0, 0}

/* a, b -> y, y may alias a (alias b: extra_alias_b). */
#define BINARY_TEST(name, tol) \
  {.op = #name, .t = {ROWS_IN("a"), ROWS_IN("b"), ROWS_OUT("y", 0, tol)}, .nt = 3, .call = call_##name, \
   .ref = ref_##name, .alias_of = {[2] = 1}}
/* x, bias -> y, y may alias x. */
#define BIAS_FWD_TEST(name, tol) \
  {.op = #name, .t = {ROWS_IN("x"), BIAS_IN, ROWS_OUT("y", 0, tol)}, .nt = 3, .call = call_##name, \
   .ref = ref_##name, .alias_of = {[2] = 1}}
/* x, bias, dy -> dx?, dbias?, dx may alias dy. */
#define BIAS_GRAD_TEST(name)                                                                                   \
  {.op = #name "_grad", .t = {ROWS_IN("x"), BIAS_IN, ROWS_IN("dy"), ROWS_OUT("dx", 1, ZK_TOL_GRAD), DBIAS_OUT}, \
   .nt = 5, .call = call_##name##_grad, .ref = ref_##name##_grad, .fd_check = fd_##name##_grad,                \
   .alias_of = {[3] = 3}}

static const zk_op_test fused_tests[] = {
    BINARY_TEST(add, ZK_TOL_EXACT),
    BINARY_TEST(mul, ZK_TOL_EXACT),
    BIAS_FWD_TEST(add_bias, ZK_TOL_EXACT),
    BIAS_FWD_TEST(bias_gelu_tanh, ZK_TOL_EW),
    BIAS_FWD_TEST(bias_silu, ZK_TOL_EW),
    BINARY_TEST(silu_mul_grad, ZK_TOL_EW),
    BIAS_GRAD_TEST(bias_gelu_tanh),
    BIAS_GRAD_TEST(bias_silu),
    /* da or db may alias dy (one at a time). */
    {.op = "silu_mul_grad_grad",
     .t = {ROWS_IN("a"), ROWS_IN("b"), ROWS_IN("dy"), ROWS_OUT("da", 1, ZK_TOL_GRAD), ROWS_OUT("db", 1, ZK_TOL_GRAD)},
     .nt = 5,
     .call = call_silu_mul_grad_grad,
     .ref = ref_silu_mul_grad_grad,
     .fd_check = fd_silu_mul_grad_grad,
     .alias_of = {[3] = 3, [4] = 3}},
};
#define N_OPS ((int)(sizeof fused_tests / sizeof fused_tests[0]))

/* ================================================================ extras */

static const zk_dtype all_dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};
static const char *const bitwise_ops[] = {"add", "mul", "add_bias"};
static const char *const forward_ops[] = {"add", "mul", "add_bias", "bias_gelu_tanh", "bias_silu", "silu_mul_grad"};

static int first_out(const zk_op_test *t) {
  for (int k = 0; k < t->nt; k++)
    if (t->t[k].role == ZK_OUT) return k;
  return -1;
}

/* Same value, bit for bit (±0 told apart), or both NaN (payloads differ
 * between x86 and GPUs, and the spec does not fix them). */
static int same_bits(double a, double b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a); }

/* ------------------------------------------------- IEEE specials, overflow
 * Row 0 of the first input (a or x) and of the second (b or bias) holds
 * these pairs, the rest is random.  MAXV stands for the dtype's largest
 * finite value, HALF for half an ulp of it (so MAXV + HALF rounds up to
 * +Inf, in f32 itself for f32 and when rounding the finite f32 sum into
 * f16/bf16), TINY for its smallest subnormal.  add and add_bias must give
 * `add`, mul must give `mul`; REF = only the reference decides. */

#define MAXV 1e300
#define HALF 1e299
#define TINY 1e-300
#define REF 7e307

typedef struct probe {
  double a, b, add, mul;
} probe;

static const probe probes[] = {
    {MAXV, MAXV, INFINITY, INFINITY},
    {-MAXV, -MAXV, -INFINITY, INFINITY},
    {MAXV, HALF, INFINITY, INFINITY},
    {-MAXV, -HALF, -INFINITY, INFINITY},
    {MAXV, 2, MAXV, INFINITY},
    {MAXV, -MAXV, 0, -INFINITY},
    {INFINITY, -INFINITY, NAN, -INFINITY},
    {INFINITY, INFINITY, INFINITY, INFINITY},
    {0.0, INFINITY, INFINITY, NAN},
    {-INFINITY, -0.0, -INFINITY, NAN},
    {NAN, 1, NAN, NAN},
    {1, NAN, NAN, NAN},
    {-0.0, -0.0, 0, 0},
    {TINY, TINY, REF, 0},
    {-TINY, 3 * TINY, REF, REF},
    {1.5, 2.25, 3.75, 3.375},
    {-5, 0.5, -4.5, -2.5},
};
#define N_PROBES ((int64_t)(sizeof probes / sizeof probes[0]))

static double dtype_max(zk_dtype t) { return t == ZK_F16 ? 65504.0 : t == ZK_BF16 ? 0x1.fep127 : (double)FLT_MAX; }
static double dtype_half_ulp_of_max(zk_dtype t) { return t == ZK_F16 ? 16.0 : t == ZK_BF16 ? 0x1p119 : 0x1p103; }
static double dtype_tiny(zk_dtype t) { return t == ZK_F16 ? 0x1p-24 : t == ZK_BF16 ? 0x1p-133 : 0x1p-149; }

static double resolve(double v, zk_dtype t) {
  double m = fabs(v);
  if (m == MAXV) return copysign(dtype_max(t), v);
  if (m == HALF) return copysign(dtype_half_ulp_of_max(t), v);
  if (m != 0 && m < 1e-290) return v / TINY * dtype_tiny(t);
  return v;
}

static void fill_probes(zk_case *c, int k, double *v, int64_t n) {
  const char *name = c->test->t[k].name;
  int second = !strcmp(name, "b") || !strcmp(name, "bias");
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  for (int64_t i = 0; i < n; i++)
    v[i] = i < N_PROBES ? resolve(second ? probes[i].b : probes[i].a, c->tdtype[k]) : zk_rand_normal(&rng);
}

/* A copy of op's descriptor whose inputs other than dy come from fill. */
static zk_op_test custom_test(const char *op, void (*fill)(zk_case *, int, double *, int64_t)) {
  zk_op_test t = *zk_find_test(op);
  for (int k = 0; k < t.nt; k++)
    if (t.t[k].role == ZK_IN && strcmp(t.t[k].name, "dy")) t.t[k].dist = ZK_DIST_CUSTOM;
  t.fill = fill;
  return t;
}

/* The probes' stated answers, exactly (±0 equal, NaN matches NaN). */
static int check_probe_answers(const zk_case *c, char *msg, size_t cap) {
  const char *op = c->test->op;
  int is_mul = !strcmp(op, "mul"), k = first_out(c->test);
  if (!is_mul && strcmp(op, "add") && strcmp(op, "add_bias")) return 0;
  for (int64_t i = 0; i < N_PROBES; i++) {
    double want = is_mul ? probes[i].mul : probes[i].add;
    if (want == REF) continue;
    want = zk_round_to(resolve(want, c->dtype), c->dtype);
    double got = c->got[k][i];
    if (!(got == want || (isnan(got) && isnan(want)))) {
      char why[96];
      snprintf(why, sizeof why, "expected %.9g", want);
      return zk_fail_at(msg, cap, c, k, i, why);
    }
  }
  return 0;
}

/* Every forward on the probes, in every dtype, compact and strided (and on
 * the vector path, D = 64): the stated answers, and the reference's
 * NaN/Inf pattern and values under the op's class. */
static int extra_ieee_specials(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t cols[] = {N_PROBES, 64};
  uint64_t rng = zk_test_seed() ^ 0x1eee;
  for (size_t o = 0; o < sizeof forward_ops / sizeof forward_ops[0]; o++)
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 2; ci++) {
        zk_op_test t = custom_test(forward_ops[o], fill_probes);
        zk_case c;
        if (zk_setup_case(&c, &t, be, all_dtypes[d], all_dtypes[d], 3, cols[ci], ci == 0, zk_rand_u64(&rng), msg, cap))
          return 1;
        int fail = zk_case_run_checked(&c, ctx, msg, cap) || check_probe_answers(&c, msg, cap);
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* ------------------------------------------------------- CPU = CUDA bits */

/* Runs the same case (same seed, so the same inputs) on ctx and on a CPU
 * context; the outputs must agree bit for bit. */
static int compare_with_cpu(const zk_op_test *t, zk_ctx *ctx, zk_ctx *cpu, zk_dtype dt, zk_dtype pdt, int64_t R,
                            int64_t D, int strided, uint64_t seed, char *msg, size_t cap) {
  zk_case g, h;
  if (zk_setup_case(&g, t, ZK_BACKEND_CUDA, dt, pdt, R, D, strided, seed, msg, cap)) return 1;
  if (zk_setup_case(&h, t, ZK_BACKEND_CPU, dt, pdt, R, D, strided, seed, msg, cap)) {
    zk_case_free(&g);
    return 1;
  }
  int fail = zk_case_run_checked(&g, ctx, msg, cap) || zk_case_run_checked(&h, cpu, msg, cap), k = first_out(t);
  for (int64_t i = 0; !fail && i < zk_case_numel(&g, k); i++)
    if (!same_bits(g.got[k][i], h.got[k][i])) {
      char why[96];
      snprintf(why, sizeof why, "the CPU backend gives %.9g (bits differ)", h.got[k][i]);
      fail = zk_fail_at(msg, cap, &g, k, i, why);
    }
  zk_case_free(&g);
  zk_case_free(&h);
  return fail;
}

/* The bitwise ops on CUDA equal the CPU backend bit for bit: random data
 * on the vector path (D = 4096) and the scalar path (D = 257, strided, a
 * bias in another dtype), and the probes.  On the CPU backend the EXACT
 * reference check of the same cases is what there is to check. */
static int extra_cpu_equals_cuda(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  zk_ctx *cpu = NULL;
  if (be == ZK_BACKEND_CUDA && zk_ctx_create(&cpu, kDLCPU, 0) != ZK_OK) {
    snprintf(msg, cap, "cannot create a CPU context");
    return 1;
  }
  uint64_t rng = zk_test_seed() ^ 0xb175;
  int fail = 0;
  for (int o = 0; o < 3 && !fail; o++)
    for (int d = 0; d < 3 && !fail; d++) {
      const zk_op_test *t = zk_find_test(bitwise_ops[o]);
      zk_op_test special = custom_test(bitwise_ops[o], fill_probes);
      struct {
        const zk_op_test *t;
        zk_dtype pdt;
        int64_t R, D;
        int strided;
      } runs[] = {{t, all_dtypes[d], 17, 4096, 0},
                  {t, all_dtypes[(d + 1) % 3], 33, 257, 1},
                  {&special, all_dtypes[d], 2, 64, 0}};
      for (int r = 0; r < 3 && !fail; r++) {
        uint64_t seed = zk_rand_u64(&rng);
        if (cpu)
          fail = compare_with_cpu(runs[r].t, ctx, cpu, all_dtypes[d], runs[r].pdt, runs[r].R, runs[r].D,
                                  runs[r].strided, seed, msg, cap);
        else
          fail = zk_check_case(runs[r].t, ctx, be, all_dtypes[d], runs[r].pdt, runs[r].R, runs[r].D, runs[r].strided,
                            seed, msg, cap);
      }
    }
  zk_ctx_destroy(cpu);
  return fail;
}

/* ----------------------------------------------------- row stride 0 input
 * Input slot s[3] of the case is passed with row stride 0: row 0 of its
 * storage broadcast over the rows.  Its other rows hold different values,
 * which a kernel that ignored the stride would read. */

static zk_status call_broadcast(zk_ctx *ctx, zk_case *c) {
  int k = (int)c->s[3];
  c->strides[k][0] = 0;
  c->strides[k][1] = 1;
  c->dl[k].strides = c->strides[k];
  return zk_find_test(c->test->op)->call(ctx, c);
}

/* The reference sees row 0 of input s[3] in every row. */
static void ref_broadcast(zk_case *c) {
  int k = (int)c->s[3];
  int64_t n = zk_case_numel(c, k), cols = c->cols[k];
  double *saved = c->val[k], *rows = malloc((size_t)(n ? n : 1) * sizeof *rows);
  for (int64_t i = 0; i < n; i++) rows[i] = saved[i % cols];
  c->val[k] = rows;
  zk_find_test(c->test->op)->ref(c);
  c->val[k] = saved;
  free(rows);
}

static int extra_row_stride_0(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const struct {
    const char *op, *input;
  } runs[] = {{"add", "a"},           {"add", "b"},
              {"mul", "b"},           {"silu_mul_grad", "b"},
              {"add_bias", "x"},      {"bias_silu", "x"},
              {"bias_gelu_tanh_grad", "dy"}, {"silu_mul_grad_grad", "a"}};
  static const int64_t cols[] = {33, 4096};
  uint64_t rng = zk_test_seed() ^ 0x5770;
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++)
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 2; ci++) {
        zk_op_test t = *zk_find_test(runs[r].op);
        t.call = call_broadcast;
        t.ref = ref_broadcast;
        zk_case c;
        if (zk_setup_case(&c, &t, be, all_dtypes[d], all_dtypes[2 - d], 7, cols[ci], ci == 0, zk_rand_u64(&rng), msg, cap))
          return 1;
        c.s[3] = zk_slot(&t, runs[r].input);
        int fail = zk_case_run_checked(&c, ctx, msg, cap);
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* ------------------------------------------------- bias dtype ≠ x dtype */

static int extra_bias_dtype(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const zk_dtype pairs[][2] = {{ZK_F32, ZK_BF16}, {ZK_BF16, ZK_F32}, {ZK_F32, ZK_F16},
                                      {ZK_F16, ZK_BF16}, {ZK_BF16, ZK_F16}, {ZK_F16, ZK_F32}};
  uint64_t rng = zk_test_seed() ^ 0xb1a5;
  for (int i = 0; i < N_OPS; i++) {
    const zk_op_test *t = &fused_tests[i];
    if (zk_slot(t, "bias") < 0) continue;
    for (int p = 0; p < 6; p++)
      for (int strided = 0; strided < 2; strided++)
        if (zk_check_case(t, ctx, be, pairs[p][0], pairs[p][1], 5, strided ? 257 : 4096, strided, zk_rand_u64(&rng), msg,
                       cap))
          return 1;
  }
  return 0;
}

/* ------------------------------------------- silu·mul = swiglu on [a, b]
 * a and b are the two halves of one x [R, 2D] (row stride 2D, or more when
 * strided), as in a fused gate|up projection; the VJP writes da and db into
 * the halves of one dx [R, 2D].  Checked against the swiglu reference
 * (spec §4.1) on x, and against zk_swiglu itself where the backend has it. */

/* Half `second` of slot k ([R, 2D]) as an [R, D] view. */
static DLTensor half_view(const zk_case *c, int k, int second, int64_t shape[2], int64_t strides[2]) {
  DLTensor t = c->dl[k];
  shape[0] = c->R, shape[1] = c->D;
  strides[0] = c->stride[k], strides[1] = 1;
  t.ndim = 2;
  t.shape = shape;
  t.strides = strides;
  t.byte_offset += (uint64_t)(second ? c->D * zk_dtype_size(c->tdtype[k]) : 0);
  return t;
}

static zk_status call_silu_mul_halves(zk_ctx *ctx, zk_case *c) {
  int64_t sh[2][2], st[2][2];
  DLTensor a = half_view(c, 0, 0, sh[0], st[0]), b = half_view(c, 0, 1, sh[1], st[1]);
  return zk_silu_mul_grad(ctx, &a, &b, ZT(c, 1));
}
static void ref_silu_mul_halves(zk_case *c) { zk_ref_glu(ZK_REF_SILU, c->val[0], NULL, c->ref[1], c->R, c->D); }

static zk_status call_silu_mul_grad_halves(zk_ctx *ctx, zk_case *c) {
  int64_t sh[4][2], st[4][2];
  DLTensor a = half_view(c, 0, 0, sh[0], st[0]), b = half_view(c, 0, 1, sh[1], st[1]);
  DLTensor da = half_view(c, 2, 0, sh[2], st[2]), db = half_view(c, 2, 1, sh[3], st[3]);
  return zk_silu_mul_grad_grad(ctx, &a, &b, ZT(c, 1), &da, &db);
}
static void ref_silu_mul_grad_halves(zk_case *c) {
  zk_ref_glu_grad(ZK_REF_SILU, c->val[0], NULL, c->val[1], c->ref[2], NULL, NULL, c->R, c->D);
}

static const zk_op_test silu_mul_halves = {
    .op = "silu_mul_grad",
    .t = {{"x", ZK_IN, ZK_SHAPE_ROWS2, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}, ROWS_OUT("y", 0, ZK_TOL_EW)},
    .nt = 2,
    .call = call_silu_mul_halves,
    .ref = ref_silu_mul_halves};
static const zk_op_test silu_mul_grad_halves = {
    .op = "silu_mul_grad_grad",
    .t = {{"x", ZK_IN, ZK_SHAPE_ROWS2, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}, ROWS_IN("dy"),
          {"dx", ZK_OUT, ZK_SHAPE_ROWS2, ZK_DT_CASE, 0, ZK_TOL_GRAD, 0, 0, 0}},
    .nt = 3,
    .call = call_silu_mul_grad_halves,
    .ref = ref_silu_mul_grad_halves};

static int supported(const char *op, zk_backend be) {
  size_t count;
  const zk_op_info *info = zk_catalog(&count);
  for (size_t i = 0; i < count; i++)
    if (!strcmp(info[i].name, op)) return be == ZK_BACKEND_CUDA ? info[i].cuda : info[i].cpu;
  return 0;
}

static double stored_value(const void *p, zk_dtype t, int64_t i) {
  switch (t) {
    case ZK_F32: return ((const float *)p)[i];
    case ZK_F16: return zk_f16_to_f32(((const uint16_t *)p)[i]);
    default: return zk_bf16_to_f32(((const uint16_t *)p)[i]);
  }
}

/* Runs zk_swiglu (grad: zk_swiglu_grad) on the case's x into a compact
 * tensor shaped like output k, and checks output k against it under k's
 * class. */
static int check_against_swiglu(zk_case *c, zk_ctx *ctx, int grad, char *msg, size_t cap) {
  int k = grad ? 2 : 1;
  int64_t n = zk_case_numel(c, k), shape[2] = {c->rows[k], c->cols[k]};
  size_t bytes = (size_t)(n ? n : 1) * (size_t)zk_dtype_size(c->dtype);
  void *host = malloc(bytes), *mem = host;
  if (c->backend == ZK_BACKEND_CUDA && zk_dev_alloc(&mem, bytes)) mem = NULL;
  DLTensor out = c->dl[k];
  out.data = mem;
  out.shape = shape;
  out.strides = NULL;
  out.byte_offset = 0;
  zk_status s = grad ? zk_swiglu_grad(ctx, ZT(c, 0), ZT(c, 1), &out) : zk_swiglu(ctx, ZT(c, 0), &out);
  if (c->backend == ZK_BACKEND_CUDA) {
    zk_status sync = zk_ctx_synchronize(ctx);
    if (s == ZK_OK) s = sync;
    if (mem && zk_dev_download(host, mem, bytes)) s = ZK_ERR_BACKEND;
    zk_dev_free(mem);
  }
  int fail = 0;
  if (!mem || s != ZK_OK) {
    snprintf(msg, cap, "%s: zk_swiglu%s returned %s: %s", c->test->op, grad ? "_grad" : "", zk_status_name(s),
             zk_ctx_last_error(ctx));
    fail = 1;
  } else {
    c->test->ref(c);
    for (int64_t i = 0; i < n; i++) c->ref[k][i] = stored_value(host, c->dtype, i);
    memset(c->refabs[k], 0, (size_t)n * sizeof(double));
    fail = zk_case_check(c, msg, cap);
  }
  free(host);
  return fail;
}

static int extra_equals_swiglu(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t shapes[][2] = {{1, 1}, {5, 31}, {33, 4096}, {3, 4097}};
  uint64_t rng = zk_test_seed() ^ 0x5e1f;
  for (int grad = 0; grad < 2; grad++)
    for (int d = 0; d < 3; d++)
      for (int s = 0; s < 4; s++) {
        const zk_op_test *t = grad ? &silu_mul_grad_halves : &silu_mul_halves;
        zk_case c;
        if (zk_setup_case(&c, t, be, all_dtypes[d], all_dtypes[d], shapes[s][0], shapes[s][1], s & 1, zk_rand_u64(&rng), msg,
                  cap))
          return 1;
        int fail = zk_case_run_checked(&c, ctx, msg, cap);
        if (!fail && supported(grad ? "swiglu_grad" : "swiglu", be)) fail = check_against_swiglu(&c, ctx, grad, msg, cap);
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* ------------------------------------------------------- alias b, 0-d */

/* y may alias b as well as a (spec §9.1, §9.6). */
static int extra_alias_b(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"add", "mul", "silu_mul_grad"};
  uint64_t rng = zk_test_seed() ^ 0xa11a5;
  for (int o = 0; o < 3; o++)
    for (int d = 0; d < 3; d++)
      for (int strided = 0; strided < 2; strided++) {
        zk_op_test t = *zk_find_test(ops[o]);
        t.alias_of[2] = 2;
        zk_case_opts opts = {be, all_dtypes[d], all_dtypes[d], 9, strided ? 257 : 4096, strided, 0, zk_rand_u64(&rng),
                             -1, 2};
        zk_case c;
        if (zk_case_setup(&c, &t, &opts, msg, cap)) return 1;
        int fail = zk_case_run_checked(&c, ctx, msg, cap);
        zk_case_free(&c);
        if (fail) return 1;
      }
  return 0;
}

/* 0-d tensors are one element (spec §9.1: any shape). */
static int extra_zero_dim(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"add", "mul", "silu_mul_grad", "silu_mul_grad_grad"};
  uint64_t rng = zk_test_seed() ^ 0xd0;
  for (int o = 0; o < 4; o++)
    for (int d = 0; d < 3; d++) {
      const zk_op_test *t = zk_find_test(ops[o]);
      zk_case_opts opts = {be, all_dtypes[d], all_dtypes[d], 1, 1, 0, 1, zk_rand_u64(&rng), -1, -1};
      zk_case c;
      if (zk_case_setup(&c, t, &opts, msg, cap)) return 1;
      for (int k = 0; k < t->nt; k++) c.dl[k].ndim = 0;
      int fail = zk_case_run_checked(&c, ctx, msg, cap);
      zk_case_free(&c);
      if (fail) return 1;
    }
  return 0;
}

/* ------------------------------------------------------ gradient outputs */

static int is_grad(const zk_op_test *t) { return t->fd_check != NULL; }

/* Each gradient output on its own (the other NULL) is right, and all of
 * them NULL is a successful no-op. */
static int extra_grad_outputs_alone(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  uint64_t rng = zk_test_seed() ^ 0xa1;
  for (int i = 0; i < N_OPS; i++) {
    const zk_op_test *t = &fused_tests[i];
    if (!is_grad(t)) continue;
    for (int d = 0; d < 3; d++)
      if (zk_check_outputs_alone(t, ctx, be, all_dtypes[d], all_dtypes[(d + 2) % 3], 33, 257 + 3839 * (d == 0), d == 1,
                                 zk_rand_u64(&rng), msg, cap))
        return 1;
  }
  return 0;
}

/* No rows: dbias is still written, as exactly 0, with or without dx
 * (spec §0). */
static int extra_no_rows_dbias(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t cols[] = {1, 33, 4096};
  for (int i = 0; i < N_OPS; i++) {
    const zk_op_test *t = &fused_tests[i];
    if (zk_slot(t, "dbias") < 0) continue;
    for (int d = 0; d < 3; d++)
      for (int ci = 0; ci < 3; ci++)
        for (int with_dx = 0; with_dx < 2; with_dx++)
          if (zk_check_no_rows_zero_vectors(t, ctx, be, all_dtypes[d], all_dtypes[2 - d], cols[ci],
                                            with_dx ? -1 : zk_slot(t, "dx"), msg, cap))
            return 1;
  }
  return 0;
}

/* Every op on shapes the standard sweep (odd D) never makes: rows that
 * take CUDA's 16-byte vector path, short rows that do once a compact
 * tensor is flattened, and long flat tensors of odd length (a vectorized
 * prefix, then a scalar tail). */
static int extra_vector_shapes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t shapes[][2] = {{33, 4096}, {7, 24}, {1, 8}, {5, 6}, {1025, 1025}, {1, 1048583}};
  uint64_t rng = zk_test_seed() ^ 0x7ec;
  for (int i = 0; i < N_OPS; i++)
    for (int s = 0; s < 6; s++)
      for (int d = 0; d < 3; d++)
        if (zk_check_case(&fused_tests[i], ctx, be, all_dtypes[d], all_dtypes[(d + s) % 3], shapes[s][0], shapes[s][1], 0,
                       zk_rand_u64(&rng), msg, cap))
          return 1;
  return 0;
}

/* The dbias row partition at its extremes, against float64 (GRAD+ACC): many
 * rows into few columns, few rows into many, and shapes whose rows take
 * CUDA's vector path (D a multiple of 8, compact), one and many row blocks.
 * (The standard sweep's D are all odd.) */
static int extra_dbias_shapes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const struct {
    int64_t R, D;
    int strided;
  } shapes[] = {{20000, 3, 0}, {4099, 64, 1}, {4099, 64, 0}, {2, 65537, 0},   {1000, 1000, 1},
                {1000, 1024, 0}, {3000, 8, 0}, {1025, 2048, 0}, {31, 4096, 0}, {77, 16, 1}};
  uint64_t rng = zk_test_seed() ^ 0xdb1a5;
  for (int i = 0; i < N_OPS; i++) {
    const zk_op_test *t = &fused_tests[i];
    if (zk_slot(t, "dbias") < 0) continue;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      if (zk_check_case(t, ctx, be, all_dtypes[s % 3], all_dtypes[(s + s / 3) % 3], shapes[s].R, shapes[s].D,
                     shapes[s].strided, zk_rand_u64(&rng), msg, cap))
        return 1;
  }
  return 0;
}

static const zk_extra_test fused_extras[] = {
    {"ieee_specials_overflow", extra_ieee_specials},
    {"cpu_equals_cuda_bitwise", extra_cpu_equals_cuda},
    {"row_stride_0_broadcast", extra_row_stride_0},
    {"bias_dtype_differs", extra_bias_dtype},
    {"silu_mul_equals_swiglu", extra_equals_swiglu},
    {"alias_b", extra_alias_b},
    {"zero_dim", extra_zero_dim},
    {"grad_outputs_alone", extra_grad_outputs_alone},
    {"no_rows_dbias_zero", extra_no_rows_dbias},
    {"dbias_shapes", extra_dbias_shapes},
    {"vector_path_shapes", extra_vector_shapes},
};

const zk_family_tests zk_tests_fused = {"fused", fused_tests, N_OPS, fused_extras,
                                        sizeof fused_extras / sizeof fused_extras[0]};
