/* Test descriptors and extras of the indexing family (spec §16).
 *
 * The sweep's R is M (the index count) and D the row length; the table or
 * output of N rows has N = R/2 + 3 unless scalar s[2] >= 0 sets N, so
 * indices repeat.  idx is compact int32 (int64 in strided cases), random in
 * [0, N) with the first at 0 and the last at N - 1.  Both ops are EXACT
 * against the sequential float64 reference (which rounds each f32
 * addition).  The extras cover the "Tests must check" items: repeated and
 * all-equal indices, N = 0, both index dtypes, the fixed summation order
 * (known answers that any other order gets wrong), bit-identical results
 * run to run and for 1, 2 and 7 threads with many duplicates, unreferenced
 * rows 0, accumulate, M ∈ {0, 1, 10⁶} and the non-deterministic mode (ACC). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/indexing.h>
#include "../src/ref/indexing.h"
#include "harness/checks.h"
#include "harness/harness.h"

/* Scalars: s[0] accumulate, s[1] deterministic (scatter), s[2] N (< 0: R/2 + 3),
 * s[3] 1 = every index equal (N/2), 2 = skewed: every tenth index N/2 (an
 * embedding gradient's frequent token). */
static int is_gather(const zk_op_test *t) { return !strcmp(t->op, "fused_gather_add"); }

static int64_t table_rows(const zk_case *c) { return c->s[2] >= 0 ? (int64_t)c->s[2] : c->R / 2 + 3; }

static void indexing_layout(const zk_case *c, int k, zk_layout *L) {
  const char *name = c->test->t[k].name;
  int64_t M = c->one_d ? 1 : c->R;
  L->row_dims = 1;
  if (!strcmp(name, "idx")) {
    L->ndim = 1, L->dims[0] = M, L->compact = 1;
  } else {
    int table = !strcmp(name, "src") || (!is_gather(c->test) && !strcmp(name, "y"));
    L->ndim = 2, L->dims[0] = table ? table_rows(c) : M, L->dims[1] = c->D;
  }
}

static void indexing_fill(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  int64_t N = table_rows(c);
  for (int64_t i = 0; i < n; i++) v[i] = N ? (double)(zk_rand_u64(&rng) % (uint64_t)N) : 0.0;
  if (c->s[3] == 1) {
    for (int64_t i = 0; i < n; i++) v[i] = (double)(N / 2);
  } else if (N > 0 && n > 1) {
    if (c->s[3] == 2)
      for (int64_t i = 0; i < n; i += 10) v[i] = (double)(N / 2);
    v[0] = 0, v[n - 1] = (double)(N - 1);
  }
}

static int64_t bad_n(const zk_case *c) { return table_rows(c); }
static int64_t bad_negative(const zk_case *c) { return (void)c, -1; }

static zk_status call_gather(zk_ctx *ctx, zk_case *c) {
  return zk_fused_gather_add(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3));
}
static void ref_gather(zk_case *c) { zk_ref_gather_add(c->val[0], c->val[1], c->val[2], c->ref[3], c->rows[3], c->cols[3]); }

static zk_status call_scatter(zk_ctx *ctx, zk_case *c) {
  return zk_fused_scatter_add(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (int)c->s[0], (int)c->s[1]);
}
static void ref_scatter(zk_case *c) {
  zk_ref_scatter_add(c->val[0], c->val[1], c->ref[2], c->refabs[2], zk_case_numel(c, 0), c->rows[2], c->cols[2],
                     (int)c->s[0]);
}

#define ROWS_T(name) {name, ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
#define IDX {"idx", ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_INDEX, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define COMMON .layout = indexing_layout, .fill = indexing_fill, .nbad_index = 2

static const zk_op_test indexing_tests[] = {
    {.op = "fused_gather_add",
     .t = {ROWS_T("src"), IDX, ROWS_T("other"), {"y", ZK_OUT, ZK_SHAPE_CUSTOM, ZK_DT_CASE, 0, ZK_TOL_EXACT, 0, 0, 0}},
     .nt = 4,
     .scalars = {0, 0, -1, 0},
     .call = call_gather,
     .ref = ref_gather,
     .bad_index = {{1, 0, bad_n, "an index = N"}, {1, -1, bad_negative, "a negative index"}},
     COMMON},
    {.op = "fused_scatter_add",
     .t = {IDX, ROWS_T("updates"), {"y", ZK_OUT, ZK_SHAPE_CUSTOM, ZK_DT_PARAM, 0, ZK_TOL_EXACT, 0, 0, 0}},
     .nt = 3,
     .scalars = {0, 1, -1, 0},
     .call = call_scatter,
     .ref = ref_scatter,
     .bad_index = {{0, 0, bad_n, "an index = N"}, {0, -1, bad_negative, "a negative index"}},
     COMMON},
};
#define N_OPS ((int)(sizeof indexing_tests / sizeof indexing_tests[0]))

/* ================================================================ extras */

static const zk_dtype all_dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

/* op's descriptor with scalars replaced (NAN = keep). */
static zk_op_test variant(const char *op, double accumulate, double deterministic, double N, double index_pattern) {
  zk_op_test t = *zk_find_test(op);
  double v[4] = {accumulate, deterministic, N, index_pattern};
  for (int i = 0; i < 4; i++)
    if (!isnan(v[i])) t.scalars[i] = v[i];
  /* Accumulate updates y in place: its old values are the start. */
  if (!is_gather(&t) && t.scalars[0] != 0) t.t[2].role = ZK_INOUT;
  /* Float atomics (CUDA) give ACC only. */
  if (!is_gather(&t) && t.scalars[1] == 0) t.t[2].tol = ZK_TOL_ACC;
  return t;
}

static int run(const zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt, zk_dtype pdt, int64_t M, int64_t D,
               int strided, int index64, uint64_t seed, char *msg, size_t cap) {
  zk_case_opts o = {be, dt, pdt, M, D, strided, 0, seed, -1, -1, 0, index64};
  return zk_run_case(t, ctx, &o, msg, cap);
}

/* Repeated and all-equal indices, both index dtypes, compact and strided. */
static int extra_repeats_and_dtypes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"fused_gather_add", "fused_scatter_add"};
  uint64_t rng = zk_test_seed() ^ 0x1dc;
  for (int o = 0; o < 2; o++) {
    if (!zk_op_supported(ops[o], be)) continue;
    for (int all_equal = 0; all_equal < 2; all_equal++)
      for (int d = 0; d < 3; d++)
        for (int i64 = 0; i64 < 2; i64++)
          for (int strided = 0; strided < 2; strided++) {
            zk_op_test t = variant(ops[o], NAN, NAN, 5, all_equal);
            if (run(&t, ctx, be, all_dtypes[d], all_dtypes[(d + i64) % 3], 500, 257, strided, i64, zk_rand_u64(&rng),
                    msg, cap))
              return 1;
          }
  }
  return 0;
}

/* N = 0 with M > 0: every index is out of range; nothing is written. */
static int extra_empty_table(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"fused_gather_add", "fused_scatter_add"};
  for (int o = 0; o < 2; o++) {
    if (!zk_op_supported(ops[o], be)) continue;
    for (int64_t D = 0; D < 40; D += 33) {
      zk_op_test t = variant(ops[o], NAN, NAN, 0, NAN);
      zk_case c;
      zk_case_opts op = {be, ZK_F32, ZK_F32, 3, D, 0, 0, 5, -1, -1};
      if (zk_case_setup(&c, &t, &op, msg, cap)) return 1;
      zk_status s = zk_case_run(&c, ctx);
      int out = t.nt - 1, fail = s != ZK_ERR_INDEX;
      for (int64_t i = 0; !fail && i < zk_case_numel(&c, out); i++) fail = !isnan(c.got[out][i]);
      if (fail) snprintf(msg, cap, "%s: N = 0, M = 3, D = %lld gave %s (expected ZK_ERR_INDEX, y untouched)", ops[o],
                         (long long)D, zk_status_name(s));
      zk_case_free(&c);
      if (fail) return 1;
    }
  }
  return 0;
}

/* Known answers of the sequential f32 order: one row receives three
 * updates; with a = 1e8, a + 1 == a in f32, so the order decides. */
static int extra_summation_order(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (!zk_op_supported("fused_scatter_add", be)) return 0;
  static const struct {
    double u[3], want;
  } cases[] = {{{1e8, 1, -1e8}, 0.0}, {{1e8, -1e8, 1}, 1.0}, {{1, 1e8, -1e8}, 0.0}, {{-1e8, 1, 1e8}, 0.0}};
  zk_op_test t = variant("fused_scatter_add", 0, 1, 1, 1);
  t.t[1].dist = ZK_DIST_UNIFORM, t.t[1].lo = t.t[1].hi = 0; /* overwritten below */
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    zk_case c;
    zk_case_opts o = {be, ZK_F32, ZK_F32, 3, 1, 0, 0, 3, -1, -1};
    if (zk_case_setup(&c, &t, &o, msg, cap)) return 1;
    for (int i = 0; i < 3; i++) {
      float f = (float)cases[k].u[i];
      memcpy((char *)c.host[1] + (size_t)i * sizeof f, &f, sizeof f);
      c.val[1][i] = f;
    }
    if (be == ZK_BACKEND_CUDA && zk_dev_upload(c.dev[1], c.host[1], c.bytes[1])) return zk_case_free(&c), 1;
    int fail = zk_case_run_checked(&c, ctx, msg, cap);
    if (!fail && c.got[2][0] != cases[k].want)
      fail = zk_fail_at(msg, cap, &c, 2, 0, "not the sequential sum in ascending i");
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* Bit-identical outputs run to run and for 1, 2 and 7 threads, with many
 * duplicates (N = 64 rows for 3000 updates) and in the worst case (every
 * index equal, long rows split into column chunks). */
static int extra_reproducible(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (be != ZK_BACKEND_CPU || !zk_op_supported("fused_scatter_add", be)) return 0;
  static const struct {
    int64_t M, D, N;
    int all_equal;
  } shapes[] = {{3000, 1024, 64, 0}, {200, 40000, 1, 1}, {5000, 100, 400, 0}};
  static const int threads[] = {1, 2, 7, 1};
  int saved = zk_ctx_threads(ctx), fail = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && !fail; s++) {
    zk_op_test t = variant("fused_scatter_add", 0, 1, (double)shapes[s].N, shapes[s].all_equal);
    zk_case c[4];
    int n = 0;
    for (; n < 4 && !fail; n++) {
      zk_case_opts o = {be, ZK_BF16, ZK_F32, shapes[s].M, shapes[s].D, 0, 0, 77 + s, -1, -1};
      if (zk_case_setup(&c[n], &t, &o, msg, cap)) {
        fail = 1;
        break;
      }
      zk_ctx_set_threads(ctx, threads[n]);
      fail = n == 0 ? zk_case_run_checked(&c[n], ctx, msg, cap) : zk_case_run_ok(&c[n], ctx, msg, cap);
      if (!fail && n > 0 && memcmp(c[0].host[2], c[n].host[2], c[0].bytes[2]))
        fail = 1, snprintf(msg, cap, "scatter_add M=%lld D=%lld N=%lld: %d threads differ from 1 thread (run %d)",
                           (long long)shapes[s].M, (long long)shapes[s].D, (long long)shapes[s].N, threads[n], n);
    }
    for (int i = 0; i < n; i++) zk_case_free(&c[i]);
  }
  zk_ctx_set_threads(ctx, saved);
  return fail;
}

/* Rows no index names are exactly +0 (without accumulate). */
static int extra_unreferenced_zero(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (!zk_op_supported("fused_scatter_add", be)) return 0;
  for (int d = 0; d < 3; d++) {
    zk_op_test t = variant("fused_scatter_add", 0, 1, 50, 0);
    zk_case c;
    zk_case_opts o = {be, all_dtypes[d], all_dtypes[(d + 1) % 3], 10, 33, d == 1, 0, 31 + (uint64_t)d, -1, -1};
    if (zk_case_setup(&c, &t, &o, msg, cap)) return 1;
    int fail = zk_case_run_checked(&c, ctx, msg, cap), unreferenced = 0;
    for (int64_t n = 0; !fail && n < 50; n++) {
      int hit = 0;
      for (int64_t i = 0; i < 10; i++) hit |= (int64_t)c.val[0][i] == n;
      unreferenced += !hit;
      for (int64_t j = 0; !hit && !fail && j < 33; j++)
        if (c.got[2][n * 33 + j] != 0.0 || signbit(c.got[2][n * 33 + j]))
          fail = zk_fail_at(msg, cap, &c, 2, n * 33 + j, "an unreferenced row must be +0");
    }
    if (!fail && !unreferenced) fail = 1, snprintf(msg, cap, "no unreferenced row to check");
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* accumulate: y_old is the start (rows no index names stay bit-unchanged,
 * the harness's in-place check), also with M = 0. */
static int extra_accumulate(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (!zk_op_supported("fused_scatter_add", be)) return 0;
  static const int64_t M[] = {0, 1, 3, 257, 1000};
  uint64_t rng = zk_test_seed() ^ 0xacc;
  zk_op_test t = variant("fused_scatter_add", 1, 1, NAN, NAN);
  for (size_t m = 0; m < sizeof M / sizeof M[0]; m++)
    for (int d = 0; d < 3; d++)
      if (run(&t, ctx, be, all_dtypes[d], all_dtypes[(d + m) % 3], M[m], 31 + 226 * (int64_t)(m % 2), (int)(m % 2), d == 2,
              zk_rand_u64(&rng), msg, cap))
        return 1;
  return 0;
}

/* M ∈ {0, 1, 10⁶} (M = 0 zeroes y), and the non-deterministic mode under ACC. */
static int extra_sizes_and_modes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (!zk_op_supported("fused_scatter_add", be)) return 0;
  uint64_t rng = zk_test_seed() ^ 0x512e;
  zk_op_test det = variant("fused_scatter_add", 0, 1, 1000, NAN);
  if (run(&det, ctx, be, ZK_F32, ZK_F32, 0, 33, 0, 0, zk_rand_u64(&rng), msg, cap)) return 1;
  if (run(&det, ctx, be, ZK_BF16, ZK_F32, 1, 33, 1, 1, zk_rand_u64(&rng), msg, cap)) return 1;
  if (run(&det, ctx, be, ZK_F32, ZK_F32, 1000000, 3, 0, 1, zk_rand_u64(&rng), msg, cap)) return 1;
  zk_op_test fast = variant("fused_scatter_add", 0, 0, 1000, NAN);
  for (int d = 0; d < 3; d++)
    if (run(&fast, ctx, be, all_dtypes[d], ZK_F32, 5000, 64, d == 1, d == 2, zk_rand_u64(&rng), msg, cap)) return 1;
  return 0;
}

/* On cuda: gather-add and deterministic scatter-add bit for bit equal to
 * the CPU backend (spec §16: both *bitwise*, the scatter's order fixed by
 * idx), on the vector and element paths, with many duplicates, every
 * index equal, accumulate, mixed dtypes and int64 indices. */
static int extra_cpu_equals_cuda(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const struct {
    const char *op;
    double accumulate, N, index_pattern; /* s[3] */
    int64_t M, D;
    int strided, index64;
  } cases[] = {
      {"fused_gather_add", 0, 700, 0, 3000, 256, 0, 0},  {"fused_gather_add", 0, 50, 0, 257, 33, 1, 1},
      {"fused_scatter_add", 0, 64, 0, 3000, 1024, 0, 0}, {"fused_scatter_add", 0, 5, 1, 2000, 64, 0, 1},
      {"fused_scatter_add", 1, 300, 0, 5000, 40, 0, 0},  {"fused_scatter_add", 0, 100, 0, 257, 33, 1, 1},
      /* N of 12 and 11 bits: two radix passes, the second of 4 and 3 bits */
      {"fused_scatter_add", 0, 3000, 0, 20000, 64, 0, 0}, {"fused_scatter_add", 0, 1500, 1, 3000, 40, 0, 1},
      /* N of 17 to 19 bits (with the bad key N): three radix passes;
       * uniform, every index equal, and skewed (every tenth on one row) */
      {"fused_scatter_add", 0, 70000, 0, 30000, 16, 0, 0}, {"fused_scatter_add", 1, 300000, 1, 4000, 8, 0, 1},
      {"fused_scatter_add", 0, 140000, 2, 40000, 8, 0, 0},
  };
  if (be != ZK_BACKEND_CUDA) return 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (!zk_op_supported(cases[i].op, be)) continue;
    zk_op_test t = variant(cases[i].op, cases[i].accumulate, 1, cases[i].N, cases[i].index_pattern);
    for (int d = 0; d < 3; d++) {
      zk_case_opts o = {be, all_dtypes[d], all_dtypes[(d + i) % 3], cases[i].M, cases[i].D, cases[i].strided, 0,
                        61 + i, -1, -1, 0, cases[i].index64};
      if (zk_check_cpu_equals_cuda(&t, ctx, &o, msg, cap)) return 1;
    }
  }
  return 0;
}

static const zk_extra_test indexing_extras[] = {
    {"repeats_and_index_dtypes", extra_repeats_and_dtypes},
    {"empty_table_index", extra_empty_table},
    {"scatter_summation_order", extra_summation_order},
    {"scatter_reproducible_threads", extra_reproducible},
    {"scatter_unreferenced_zero", extra_unreferenced_zero},
    {"scatter_accumulate", extra_accumulate},
    {"scatter_sizes_and_modes", extra_sizes_and_modes},
    {"cpu_equals_cuda", extra_cpu_equals_cuda},
};

const zk_family_tests zk_tests_indexing = {"indexing", indexing_tests, N_OPS, indexing_extras,
                                           sizeof indexing_extras / sizeof indexing_extras[0]};
