/* Test descriptors and extras of the moe family (spec §14).
 *
 * Gating: the sweep's D is E; weights (ROW) and indices (EXACT) against
 * float64, k = min(8, E), with an integer expert bias.  The logits lie on
 * a grid of 1/32 in [-3, 3] (exact in every dtype) and the bias is an
 * integer in [0, 3]: distinct selection scores then differ by far more
 * than f32 rounding, and equal ones are exactly equal in both f32 and
 * float64, so the indices are comparable exactly (the spec's "no near
 * ties").  Dispatch: the sweep's R is N and D the row length, K = 2 and E =
 * 8 unless the scalars say otherwise; all outputs EXACT.  Combine: R = N,
 * D, K = 2 (ACC; gradients GRAD, dweights GRAD+ACC).  The permuted ops get
 * inv_idx as an injection into [0, P), P = N·K + 3, and src_idx as a
 * permutation of [0, N·K).
 *
 * The extras cover the "Tests must check" items: every E and k of §14.1
 * with f16/bf16 logits, both bias modes, both scores, DeepSeek-V3 routing,
 * all-equal logits, weight sums, NaN rows, the softmax-over-selected
 * identity; top-2 against top-k; dispatch over E ∈ {1, 8, 128, 1024}, K ∈
 * {1, 2, 8}, every id dtype, empty experts and repeated slots; the dispatch
 * -> combine_permuted round trip; combine for K ∈ {0, 1, 2, 8, 32}, bf16
 * experts with f32 weights, 0·Inf; combine_permuted against combine after
 * a permutation; repeated src_idx values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/moe.h>
#include "../src/ref/moe.h"
#include "harness/checks.h"
#include "harness/harness.h"

static const zk_dtype all_dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

/* ================================================================ gating
 * Scalars: s[0] k, s[1] score, s[2] norm, s[3] bias_mode, s[4] routed_scale,
 * s[5] the logits (enum logits_fill). */
enum logits_fill { LOGITS_GRID, LOGITS_EQUAL, LOGITS_EDGE };
#define FILL_SLOT 5

static void gating_fill(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  if (k == 1) { /* expert_bias: integers 0..3 */
    for (int64_t i = 0; i < n; i++) v[i] = (double)(zk_rand_u64(&rng) % 4);
    return;
  }
  int64_t E = c->cols[k];
  for (int64_t i = 0; i < n; i++) v[i] = (double)((int64_t)(zk_rand_u64(&rng) % 193) - 96) / 32.0;
  if (c->s[FILL_SLOT] == LOGITS_EQUAL) {
    for (int64_t i = 0; i < n; i++) v[i] = 0.5;
  } else if (c->s[FILL_SLOT] == LOGITS_EDGE) {
    for (int64_t r = 0; r < c->rows[k]; r++) {
      double *row = v + r * E;
      int64_t at = (int64_t)(zk_rand_u64(&rng) % (uint64_t)E);
      switch (r % 6) {
        case 0: row[at] = NAN; break;
        case 1: row[at] = NAN, row[(at + E / 2) % E] = NAN; break;
        case 2: row[at] = INFINITY; break;
        case 3:
          for (int64_t j = 0; j < E; j++) row[j] = -INFINITY;
          break;
        case 4: row[at] = -INFINITY; break;
        default: break;
      }
    }
  }
}

static zk_gating_params gating_params(const zk_case *c) {
  zk_gating_params p = {(int)c->s[1], (int)c->s[2], (int)c->s[3], (float)c->s[4]};
  return p;
}

static zk_status call_topk(zk_ctx *ctx, zk_case *c) {
  zk_gating_params p = gating_params(c);
  return zk_topk_gating_softmax(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), (int64_t)c->s[0], &p);
}
static zk_status call_top2(zk_ctx *ctx, zk_case *c) {
  zk_gating_params p = gating_params(c);
  return zk_top2_gating_softmax(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), &p);
}
static void ref_gating(zk_case *c) {
  zk_ref_topk_gating(c->val[0], c->present[1] ? c->val[1] : NULL, c->ref[2], c->ref[3], c->R, c->D, c->K,
                     c->s[1] == ZK_GATING_SIGMOID, c->s[2] != 0, c->s[3] == ZK_GATING_SELECT_ONLY, (float)c->s[4]);
}

#define GATING_T                                                                     \
  {{"logits", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_CUSTOM, 0, 0},         \
   {"expert_bias", ZK_IN, ZK_SHAPE_VEC, ZK_DT_PARAM, 1, 0, ZK_DIST_CUSTOM, 0, 0},    \
   {"weights", ZK_OUT, ZK_SHAPE_ROWS_K, ZK_DT_F32, 0, ZK_TOL_ROW, 0, 0, 0},          \
   {"indices", ZK_OUT, ZK_SHAPE_ROWS_K, ZK_DT_U32, 0, ZK_TOL_EXACT, 0, 0, 0}}
#define GATING_BAD_OPTIONS                                                                                   \
  {1, 2, ZK_ERR_ARG}, {1, -1, ZK_ERR_ARG}, {3, 2, ZK_ERR_ARG}, {4, NAN, ZK_ERR_ARG}, {4, INFINITY, ZK_ERR_ARG}, \
      {4, -INFINITY, ZK_ERR_ARG}

/* ============================================================= dispatch
 * Scalars: s[0] K, s[1] E, s[2] the ids (enum ids_fill). */
enum ids_fill { IDS_RANDOM, IDS_SAME_PER_TOKEN, IDS_FEW_EXPERTS };

static int64_t pairs_of(const zk_case *c) { return (c->one_d ? 1 : c->R) * (int64_t)c->s[0]; }

static void dispatch_layout(const zk_case *c, int k, zk_layout *L) {
  int64_t N = c->one_d ? 1 : c->R, K = (int64_t)c->s[0], E = (int64_t)c->s[1];
  const char *name = c->test->t[k].name;
  int lead = !c->one_d;
  L->ndim = lead + 1, L->dims[0] = N;
  if (!strcmp(name, "x")) L->dims[lead] = c->D;
  else if (!strcmp(name, "topk_ids") || !strcmp(name, "inv_idx")) L->dims[lead] = K;
  else if (!strcmp(name, "x_perm")) L->ndim = 2, L->dims[0] = N * K, L->dims[1] = c->D;
  else if (!strcmp(name, "expert_offsets")) L->ndim = 1, L->dims[0] = E + 1, L->compact = 1, L->any_larger = 1;
  else L->ndim = 1, L->dims[0] = N * K, L->compact = 1; /* src_idx */
}

static void dispatch_fill(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  if (zk_dtype_is_float(c->tdtype[k])) {
    for (int64_t i = 0; i < n; i++) v[i] = zk_rand_normal(&rng);
    return;
  }
  int64_t K = (int64_t)c->s[0], E = (int64_t)c->s[1];
  for (int64_t i = 0; i < n; i++) {
    uint64_t u = zk_rand_u64(&rng);
    switch ((enum ids_fill)c->s[2]) {
      case IDS_SAME_PER_TOKEN: v[i] = i % K ? v[i - i % K] : (double)(u % (uint64_t)E); break;
      case IDS_FEW_EXPERTS: v[i] = (double)((u % 3) * (uint64_t)(E / 3 + 1) % (uint64_t)E); break;
      default: v[i] = (double)(u % (uint64_t)E);
    }
  }
}

static zk_status call_dispatch(zk_ctx *ctx, zk_case *c) {
  return zk_moe_dispatch(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5));
}
static void ref_dispatch(zk_case *c) {
  zk_ref_moe_dispatch(c->val[0], c->val[1], c->present[2] ? c->ref[2] : NULL, c->ref[3], c->ref[4],
                      c->present[5] ? c->ref[5] : NULL, c->one_d ? 1 : c->R, (int64_t)c->s[0], c->D,
                      (int64_t)c->s[1]);
}
static int64_t bad_expert(const zk_case *c) { return (int64_t)c->s[1]; }
static int64_t bad_negative(const zk_case *c) { return (void)c, -1; }

/* ============================================================== combine
 * Scalars: s[0] K, s[1] the unreferenced rows of y_perm (P = N·K + s[1]). */

static void combine_layout(const zk_case *c, int k, zk_layout *L) {
  int64_t N = c->one_d ? 1 : c->R, K = (int64_t)c->s[0], D = c->D;
  const char *name = c->test->t[k].name;
  int lead = !c->one_d;
  L->dims[0] = N;
  if (!strcmp(name, "expert_out") || !strcmp(name, "dexpert")) {
    L->ndim = lead + 2, L->dims[lead] = K, L->dims[lead + 1] = D, L->row_dims = 2;
  } else if (!strcmp(name, "y_perm")) {
    L->ndim = 2, L->dims[0] = N * K + (int64_t)c->s[1], L->dims[1] = D;
  } else if (!strcmp(name, "dy_perm")) {
    L->ndim = 2, L->dims[0] = N * K, L->dims[1] = D;
  } else if (!strcmp(name, "src_idx")) {
    L->ndim = 1, L->dims[0] = N * K, L->compact = 1;
  } else { /* weights, inv_idx, dweights: [N, K]; y, dy: [N, D] */
    int per_pair = !strcmp(name, "weights") || !strcmp(name, "inv_idx") || !strcmp(name, "dweights");
    L->ndim = lead + 1, L->dims[lead] = per_pair ? K : D;
  }
}

/* A random permutation of [0, m) into p[0 .. n), n <= m. */
static void random_injection(uint64_t *rng, double *p, int64_t n, int64_t m) {
  int64_t *all = malloc((size_t)(m ? m : 1) * sizeof *all);
  for (int64_t i = 0; i < m; i++) all[i] = i;
  for (int64_t i = 0; i < n; i++) {
    int64_t j = i + (int64_t)(zk_rand_u64(rng) % (uint64_t)(m - i)), t = all[i];
    all[i] = all[j], all[j] = t;
    p[i] = (double)all[i];
  }
  free(all);
}

static void combine_fill(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  const char *name = c->test->t[k].name;
  int64_t NK = pairs_of(c);
  if (!strcmp(name, "inv_idx")) random_injection(&rng, v, n, NK + (int64_t)c->s[1]);
  else if (!strcmp(name, "src_idx")) random_injection(&rng, v, n, NK);
  else
    for (int64_t i = 0; i < n; i++) v[i] = zk_rand_normal(&rng);
}

/* expert_out's rows: t[0]; rows[n, k] = the y_perm row of pair (n, k). */
static double *inverse_of_src(const zk_case *c, int slot) {
  int64_t NK = pairs_of(c);
  double *rows = malloc((size_t)(NK ? NK : 1) * sizeof *rows);
  for (int64_t p = 0; p < NK; p++) rows[(int64_t)c->val[slot][p]] = (double)p;
  return rows;
}

static int64_t N_of(const zk_case *c) { return c->one_d ? 1 : c->R; }

static zk_status call_combine(zk_ctx *ctx, zk_case *c) { return zk_moe_combine(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2)); }
static void ref_combine(zk_case *c) {
  zk_ref_moe_combine(c->val[0], c->val[1], NULL, c->ref[2], c->refabs[2], N_of(c), (int64_t)c->s[0], c->D);
}
static zk_status call_combine_grad(zk_ctx *ctx, zk_case *c) {
  return zk_moe_combine_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4));
}
static void ref_combine_grad(zk_case *c) {
  zk_ref_moe_combine_grad(c->val[0], c->val[1], NULL, c->val[2], c->present[3] ? c->ref[3] : NULL,
                          c->present[4] ? c->ref[4] : NULL, c->refabs[4], N_of(c), (int64_t)c->s[0], c->D);
}
static zk_status call_permuted(zk_ctx *ctx, zk_case *c) {
  return zk_moe_combine_permuted(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3));
}
static void ref_permuted(zk_case *c) {
  zk_ref_moe_combine(c->val[0], c->present[1] ? c->val[1] : NULL, c->val[2], c->ref[3], c->refabs[3], N_of(c),
                     (int64_t)c->s[0], c->D);
}
static zk_status call_permuted_grad(zk_ctx *ctx, zk_case *c) {
  return zk_moe_combine_permuted_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5),
                                      (int64_t)c->s[0]);
}
static void ref_permuted_grad(zk_case *c) {
  double *rows = inverse_of_src(c, 2);
  zk_ref_moe_combine_grad(c->val[0], c->present[1] ? c->val[1] : NULL, rows, c->val[3],
                          c->present[4] ? c->ref[4] : NULL, c->present[5] ? c->ref[5] : NULL, c->refabs[5], N_of(c),
                          (int64_t)c->s[0], c->D);
  free(rows);
}
static int64_t bad_row_p(const zk_case *c) { return pairs_of(c) + (int64_t)c->s[1]; }
static int64_t bad_pair(const zk_case *c) { return pairs_of(c); }

/* --------------------------------------------- central differences (grads) */

typedef struct combine_fd {
  int64_t N, K, D;
  const double *rows;
} combine_fd;

/* x = [expert rows (N·K·D), weights (N·K)] -> y [N, D]. */
static void combine_fd_forward(const double *x, double *y, const void *ctx) {
  const combine_fd *f = ctx;
  zk_ref_moe_combine(x, x + f->N * f->K * f->D, f->rows, y, NULL, f->N, f->K, f->D);
}

static double fd_combine_rows(uint64_t seed, int permuted) {
  enum { N = 3, K = 4, D = 5, NX = N * K * D + N * K };
  double x[NX], dy[N * D], dx[NX], rows[N * K];
  for (int i = 0; i < NX; i++) x[i] = zk_rand_normal(&seed);
  for (int i = 0; i < N * D; i++) dy[i] = zk_rand_normal(&seed);
  random_injection(&seed, rows, N * K, N * K);
  combine_fd f = {N, K, D, permuted ? rows : NULL};
  zk_ref_moe_combine_grad(x, x + N * K * D, f.rows, dy, dx, dx + N * K * D, NULL, N, K, D);
  return zk_fd_vjp_error(combine_fd_forward, &f, x, NX, N * D, dy, dx);
}
static double fd_combine(uint64_t seed) { return fd_combine_rows(seed, 0); }
static double fd_permuted(uint64_t seed) { return fd_combine_rows(seed, 1); }

/* ============================================================ descriptors */

#define T_(name, role, dt, opt, tol) {name, role, ZK_SHAPE_CUSTOM, dt, opt, tol, ZK_DIST_CUSTOM, 0, 0}
#define DISPATCH_COMMON .layout = dispatch_layout, .fill = dispatch_fill
#define COMBINE_COMMON .layout = combine_layout, .fill = combine_fill

enum { OP_TOPK, OP_TOP2, OP_DISPATCH, OP_COMBINE, OP_PERMUTED, OP_COMBINE_GRAD, OP_PERMUTED_GRAD, N_OPS };

static const zk_op_test moe_tests[N_OPS] = {
    [OP_TOPK] = {.op = "topk_gating_softmax", .t = GATING_T, .nt = 4, .scalars = {8, 0, 1, 0, 1, LOGITS_GRID},
                 .k_scalar = 1, .call = call_topk, .ref = ref_gating, .fill = gating_fill,
                 .bad = {{0, 0, ZK_ERR_ARG}, {0, 33, ZK_ERR_ARG}, {0, -1, ZK_ERR_ARG}, GATING_BAD_OPTIONS}, .nbad = 9},
    [OP_TOP2] = {.op = "top2_gating_softmax", .t = GATING_T, .nt = 4, .scalars = {2, 0, 1, 0, 1, LOGITS_GRID},
                 .k_scalar = 1, .min_cols = 2, .call = call_top2, .ref = ref_gating, .fill = gating_fill,
                 .bad = {GATING_BAD_OPTIONS}, .nbad = 6},
    [OP_DISPATCH] = {.op = "moe_dispatch",
                     .t = {T_("x", ZK_IN, ZK_DT_CASE, 0, 0), T_("topk_ids", ZK_IN, ZK_DT_INDEX, 0, 0),
                           T_("x_perm", ZK_OUT, ZK_DT_CASE, 1, ZK_TOL_EXACT),
                           T_("expert_offsets", ZK_OUT, ZK_DT_I32, 0, ZK_TOL_EXACT),
                           T_("src_idx", ZK_OUT, ZK_DT_I32, 0, ZK_TOL_EXACT),
                           T_("inv_idx", ZK_OUT, ZK_DT_I32, 1, ZK_TOL_EXACT)},
                     .nt = 6, .scalars = {2, 8, IDS_RANDOM}, .call = call_dispatch, .ref = ref_dispatch,
                     .bad_index = {{1, 0, bad_expert, "an expert id = E"}, {1, -1, bad_negative, "a negative id"}},
                     .nbad_index = 2, DISPATCH_COMMON},
    [OP_COMBINE] = {.op = "moe_combine",
                    .t = {T_("expert_out", ZK_IN, ZK_DT_CASE, 0, 0), T_("weights", ZK_IN, ZK_DT_PARAM, 0, 0),
                          T_("y", ZK_OUT, ZK_DT_CASE, 0, ZK_TOL_ACC)},
                    .nt = 3, .scalars = {2}, .call = call_combine, .ref = ref_combine, COMBINE_COMMON},
    [OP_PERMUTED] = {.op = "moe_combine_permuted",
                     .t = {T_("y_perm", ZK_IN, ZK_DT_CASE, 0, 0), T_("weights", ZK_IN, ZK_DT_PARAM, 1, 0),
                           T_("inv_idx", ZK_IN, ZK_DT_I32, 0, 0), T_("y", ZK_OUT, ZK_DT_CASE, 0, ZK_TOL_ACC)},
                     .nt = 4, .scalars = {2, 3}, .call = call_permuted, .ref = ref_permuted,
                     .bad_index = {{2, 0, bad_row_p, "an inv_idx = P"}, {2, -1, bad_negative, "a negative inv_idx"}},
                     .nbad_index = 2, COMBINE_COMMON},
    [OP_COMBINE_GRAD] = {.op = "moe_combine_grad",
                         .t = {T_("expert_out", ZK_IN, ZK_DT_CASE, 0, 0), T_("weights", ZK_IN, ZK_DT_PARAM, 0, 0),
                               T_("dy", ZK_IN, ZK_DT_CASE, 0, 0), T_("dexpert", ZK_OUT, ZK_DT_CASE, 1, ZK_TOL_GRAD),
                               T_("dweights", ZK_OUT, ZK_DT_PARAM, 1, ZK_TOL_GRAD_ACC)},
                         .nt = 5, .scalars = {2}, .call = call_combine_grad, .ref = ref_combine_grad,
                         .fd_check = fd_combine, COMBINE_COMMON},
    [OP_PERMUTED_GRAD] = {.op = "moe_combine_permuted_grad",
                          .t = {T_("y_perm", ZK_IN, ZK_DT_CASE, 0, 0), T_("weights", ZK_IN, ZK_DT_PARAM, 1, 0),
                                T_("src_idx", ZK_IN, ZK_DT_I32, 0, 0), T_("dy", ZK_IN, ZK_DT_CASE, 0, 0),
                                T_("dy_perm", ZK_OUT, ZK_DT_CASE, 1, ZK_TOL_GRAD),
                                T_("dweights", ZK_OUT, ZK_DT_PARAM, 1, ZK_TOL_GRAD_ACC)},
                          .nt = 6, .scalars = {2, 3}, .call = call_permuted_grad, .ref = ref_permuted_grad,
                          .fd_check = fd_permuted, .bad = {{0, 0, ZK_ERR_ARG}, {0, 3, ZK_ERR_SHAPE}}, .nbad = 2,
                          .bad_index = {{2, 0, bad_pair, "a src_idx = N·k"}, {2, -1, bad_negative, "a negative src_idx"}},
                          .nbad_index = 2, COMBINE_COMMON},
};

/* ================================================================ extras */

/* op's descriptor with scalar slots replaced (NAN = keep). */
static zk_op_test variant(int op, const double s[8]) {
  zk_op_test t = moe_tests[op];
  for (int i = 0; i < 8; i++)
    if (!isnan(s[i])) t.scalars[i] = s[i];
  return t;
}
#define KEEP NAN

static zk_case_opts opts(zk_backend be, zk_dtype dt, zk_dtype pdt, int64_t R, int64_t D, int strided, uint64_t seed) {
  zk_case_opts o = {be, dt, pdt, R, D, strided, 0, seed, -1, -1, 0, strided};
  return o;
}

/* Every E and k of §14.1, the scores, bias modes, norms and dtypes in turn. */
static int extra_gating_sizes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t Es[] = {1, 2, 8, 60, 64, 128, 144, 160, 256, 288, 384, 512, 1024, 4096};
  static const int64_t ks[] = {1, 2, 4, 6, 8, 32};
  uint64_t rng = zk_test_seed() ^ 0x6a7e;
  int turn = 0;
  for (size_t e = 0; e < sizeof Es / sizeof Es[0]; e++)
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
      if (ks[i] > Es[e]) continue;
      turn++;
      double s[8] = {(double)ks[i], turn % 2, (turn / 2) % 2, (turn / 4) % 2, turn % 3 ? 1.0 : 2.5, KEEP, KEEP, KEEP};
      zk_op_test t = variant(OP_TOPK, s);
      zk_case_opts o = opts(be, all_dtypes[turn % 3], all_dtypes[(turn / 3) % 3], 7, Es[e], turn % 5 == 0,
                            zk_rand_u64(&rng));
      o.absent = turn % 4 == 3 ? 1 : -1;
      if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
    }
  return 0;
}

/* DeepSeek-V3 without group limits: σ scores, bias for selection only,
 * renormalised, routed_scale 2.5; and Mixtral / GPT-OSS: no bias, softmax,
 * norm: the weights are the softmax over the selected logits. */
static int extra_gating_models(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  double ds[8] = {8, ZK_GATING_SIGMOID, 1, ZK_GATING_SELECT_ONLY, 2.5, KEEP, KEEP, KEEP};
  zk_op_test t = variant(OP_TOPK, ds);
  for (int d = 0; d < 3; d++)
    if (zk_run_case(&t, ctx, &(zk_case_opts){be, all_dtypes[d], ZK_F32, 33, 256, d == 1, 0, 11 + d, -1, -1}, msg,
                    cap))
      return 1;
  double mx[8] = {2, ZK_GATING_SOFTMAX, 1, 0, 1, KEEP, KEEP, KEEP};
  t = variant(OP_TOPK, mx);
  zk_case c;
  zk_case_opts o = {be, ZK_BF16, ZK_F32, 65, 8, 0, 0, 21, 1, -1};
  if (zk_run_case_kept(&t, ctx, &o, &c, msg, cap)) return zk_case_free(&c), 1;
  int fail = 0;
  for (int64_t r = 0; r < 65 && !fail; r++) {
    const double *x = c.val[0] + r * 8;
    double a = x[(int64_t)c.got[3][2 * r]], b = x[(int64_t)c.got[3][2 * r + 1]];
    double wa = 1.0 / (1.0 + exp(b - a));
    if (fabs(c.got[2][2 * r] - wa) > 1e-4 * wa + 1e-6)
      fail = zk_fail_at(msg, cap, &c, 2, 2 * r, "not the softmax over the two selected logits");
  }
  zk_case_free(&c);
  return fail;
}

/* All-equal logits: indices 0..k-1 and weights 1/k; weight sums: 1 with
 * norm, below 1 for softmax without it. */
static int extra_gating_equal_and_sums(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  for (int norm = 0; norm < 2; norm++) {
    double s[8] = {6, ZK_GATING_SOFTMAX, norm, 0, 1, LOGITS_EQUAL, KEEP, KEEP};
    zk_op_test t = variant(OP_TOPK, s);
    zk_case c;
    zk_case_opts o = {be, ZK_F16, ZK_F32, 5, 60, 0, 0, 3, 1, -1};
    if (zk_run_case_kept(&t, ctx, &o, &c, msg, cap)) return zk_case_free(&c), 1;
    int fail = 0;
    for (int64_t i = 0; i < 5 * 6 && !fail; i++) {
      double want = norm ? 1.0 / 6 : 1.0 / 60;
      if (c.got[3][i] != (double)(i % 6)) fail = zk_fail_at(msg, cap, &c, 3, i, "all-equal logits: not 0..k-1");
      else if (fabs(c.got[2][i] - want) > 1e-6) fail = zk_fail_at(msg, cap, &c, 2, i, "all-equal logits: not 1/k");
    }
    zk_case_free(&c);
    if (fail) return 1;
    s[FILL_SLOT] = LOGITS_GRID;
    t = variant(OP_TOPK, s);
    o.R = 40, o.D = 64, o.dtype = ZK_BF16;
    if (zk_run_case_kept(&t, ctx, &o, &c, msg, cap)) return zk_case_free(&c), 1;
    for (int64_t r = 0; r < 40 && !fail; r++) {
      double sum = 0;
      for (int i = 0; i < 6; i++) sum += c.got[2][r * 6 + i];
      if (norm ? fabs(sum - 1) > 1e-5 : !(sum < 1))
        fail = zk_fail_at(msg, cap, &c, 2, r * 6, norm ? "weights do not sum to 1" : "weights sum to 1 or more");
    }
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* NaN, ±Inf and all -Inf rows, for both scores, with and without norm;
 * 33 experts and 512 (CUDA: the candidate filter of wide rows). */
static int extra_gating_edges(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t Es[] = {33, 512};
  for (int m = 0; m < 16; m++) {
    double s[8] = {4, m % 2, (m / 2) % 2, (m / 4) % 2, 1, LOGITS_EDGE, KEEP, KEEP};
    zk_op_test t = variant(OP_TOPK, s);
    if (zk_run_case(&t, ctx, &(zk_case_opts){be, all_dtypes[m % 3], ZK_F32, 12, Es[m / 8], m % 2, 0, 40 + m, -1, -1},
                    msg, cap))
      return 1;
  }
  return 0;
}

/* 16-bit logits of 128 or 192 experts (8-byte spans on CUDA), a decode
 * row and a batch, with a bias of each dtype and none, contiguous and
 * strided rows. */
static int extra_gating_16bit_spans(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t Es[] = {128, 192}, Rs[] = {1, 40};
  for (int m = 0; m < 32; m++) {
    double s[8] = {8, m % 2, 1, (m / 2) % 2, 1, KEEP, KEEP, KEEP};
    zk_op_test t = variant(OP_TOPK, s);
    zk_case_opts o = opts(be, m % 4 < 2 ? ZK_BF16 : ZK_F16, all_dtypes[(m / 4) % 3], Rs[(m / 8) % 2],
                          Es[(m / 16) % 2], m % 3 == 0, 70 + m);
    o.absent = m % 6 == 5 ? 1 : -1;
    if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
  }
  return 0;
}

/* More tied selection scores than the CPU's selection filter keeps as
 * candidates (all-equal logits, E = 1024, no bias): its fallback scan. */
static int extra_gating_many_ties(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  for (int m = 0; m < 4; m++) {
    double s[8] = {m < 2 ? 8 : 32, m % 2, 1, 0, 1, LOGITS_EQUAL, KEEP, KEEP};
    zk_op_test t = variant(OP_TOPK, s);
    if (zk_run_case(&t, ctx, &(zk_case_opts){be, all_dtypes[m % 3], ZK_F32, 6, 1024, 0, 0, 90 + m, 1, -1}, msg, cap))
      return 1;
  }
  return 0;
}

/* Top-2 equals top-k with k = 2 bit for bit (ties included), and E < 2 is ARG. */
static int extra_top2(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t Es[] = {2, 3, 33, 256};
  for (size_t e = 0; e < 4; e++)
    for (int fill = LOGITS_GRID; fill <= LOGITS_EQUAL; fill++) {
      double s[8] = {2, e % 2, 1, (e / 2) % 2, 1, fill, KEEP, KEEP};
      zk_op_test t2 = variant(OP_TOP2, s), tk = variant(OP_TOPK, s);
      zk_case a, b;
      zk_case_opts o = {be, all_dtypes[e % 3], ZK_F32, 50, Es[e], 0, 0, 77 + e, -1, -1};
      int fail = zk_run_case_kept(&t2, ctx, &o, &a, msg, cap);
      if (!fail) fail = zk_run_case_kept(&tk, ctx, &o, &b, msg, cap);
      else zk_case_init(&b, &tk, &o);
      if (!fail && (memcmp(a.host[2], b.host[2], a.bytes[2]) || memcmp(a.host[3], b.host[3], a.bytes[3])))
        fail = 1, snprintf(msg, cap, "top2 and topk(k = 2) differ at E = %lld", (long long)Es[e]);
      zk_case_free(&a);
      zk_case_free(&b);
      if (fail) return 1;
    }
  zk_case c;
  zk_case_opts o = {be, ZK_F32, ZK_F32, 3, 1, 0, 0, 5, -1, -1};
  double s[8] = {1, KEEP, KEEP, KEEP, KEEP, KEEP, KEEP, KEEP};
  zk_op_test t = variant(OP_TOP2, s);
  if (zk_case_setup(&c, &t, &o, msg, cap)) return 1;
  zk_status st = zk_case_run(&c, ctx);
  int fail = st != ZK_ERR_ARG;
  if (fail) snprintf(msg, cap, "top2 with E = 1 gave %s, expected ZK_ERR_ARG", zk_status_name(st));
  zk_case_free(&c);
  return fail;
}

/* E ∈ {1, 8, 128, 1024} × K ∈ {1, 2, 8}, ids int32 / int64 / uint32, with
 * random ids, one expert per token in every slot, and few experts used
 * (the rest have empty segments); N ∈ {0, 1, 33, 300}. */
static int extra_dispatch_shapes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t Es[] = {1, 8, 128, 1024}, Ks[] = {1, 2, 8}, Ns[] = {0, 1, 33, 300};
  uint64_t rng = zk_test_seed() ^ 0xd15;
  int turn = 0;
  for (size_t e = 0; e < 4; e++)
    for (size_t k = 0; k < 3; k++)
      for (int fill = IDS_RANDOM; fill <= IDS_FEW_EXPERTS; fill++) {
        turn++;
        double s[8] = {(double)Ks[k], (double)Es[e], fill, KEEP, KEEP, KEEP, KEEP, KEEP};
        zk_op_test t = variant(OP_DISPATCH, s);
        if (turn % 3 == 2) t.t[1].dtype = ZK_DT_U32;
        zk_case_opts o = opts(be, all_dtypes[turn % 3], ZK_F32, Ns[turn % 4], 1 + 37 * (turn % 3), turn % 2,
                              zk_rand_u64(&rng));
        o.index64 = turn % 3 == 1;
        if (zk_run_case(&t, ctx, &o, msg, cap)) return 1;
      }
  return 0;
}

/* The CUDA dispatch's other shapes: more experts than its shared-memory
 * counters hold (E = 4096), the benchmark's 8192 tokens × K = 8 over 128
 * experts (512 chunks of 128 pairs), and few experts over many pairs
 * (40000 × 8 over 8: more than 1024 chunks of 256, so chunks of 512, and
 * rows of counts that take a scan warp three passes, the last partial). */
static int extra_dispatch_large(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t Es[] = {4096, 128, 8}, Ns[] = {300, 8192, 40000};
  for (int i = 0; i < 3; i++) {
    double s[8] = {8, (double)Es[i], IDS_RANDOM, KEEP, KEEP, KEEP, KEEP, KEEP};
    zk_op_test t = variant(OP_DISPATCH, s);
    if (zk_run_case(&t, ctx, &(zk_case_opts){be, all_dtypes[i], ZK_F32, Ns[i], 5, 0, 0, 500 + (uint64_t)i, -1, -1},
                    msg, cap))
      return 1;
  }
  return 0;
}

/* Writes b's float input k from a's output j (both compact, one dtype). */
static int copy_tensor(zk_case *b, int k, const zk_case *a, int j) {
  memcpy(b->host[k], a->host[j], b->bytes[k]);
  memcpy(b->val[k], a->got[j], (size_t)zk_case_numel(b, k) * sizeof(double));
  return b->backend == ZK_BACKEND_CUDA && zk_dev_upload(b->dev[k], b->host[k], b->bytes[k]);
}

/* dispatch -> combine_permuted with unit weights gives K·x. */
static int extra_round_trip(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t Ks[] = {1, 2, 8};
  for (int i = 0; i < 3; i++) {
    int64_t N = 45, D = 70, K = Ks[i];
    double sd[8] = {(double)K, 16, IDS_RANDOM, KEEP, KEEP, KEEP, KEEP, KEEP}, sp[8] = {(double)K, 0, KEEP, KEEP,
                                                                                       KEEP, KEEP, KEEP, KEEP};
    zk_op_test td = variant(OP_DISPATCH, sd), tp = variant(OP_PERMUTED, sp);
    zk_case a, b;
    zk_case_opts o = {be, all_dtypes[i], ZK_F32, N, D, 0, 0, 100 + (uint64_t)i, -1, -1};
    if (zk_run_case_kept(&td, ctx, &o, &a, msg, cap)) return zk_case_free(&a), 1;
    o.absent = 1; /* no weights: ones */
    if (zk_case_setup(&b, &tp, &o, msg, cap)) return zk_case_free(&a), 1;
    int fail = copy_tensor(&b, 0, &a, 2) || copy_tensor(&b, 2, &a, 5);
    if (!fail) fail = zk_case_run_checked(&b, ctx, msg, cap);
    for (int64_t n = 0; n < N && !fail; n++)
      for (int64_t d = 0; d < D && !fail; d++) {
        double want = zk_round_to((double)K * a.val[0][n * D + d], all_dtypes[i]), got = b.got[3][n * D + d];
        if (fabs(got - want) > 1e-2 * fabs(want) + 1e-6)
          fail = zk_fail_at(msg, cap, &b, 3, n * D + d, "the round trip does not give K·x");
      }
    zk_case_free(&a);
    zk_case_free(&b);
    if (fail) return 1;
  }
  return 0;
}

/* combine for K ∈ {0, 1, 2, 8, 32} (K = 0 gives y = 0), bf16 experts with
 * f32 weights, and the gradient at each K. */
static int extra_combine_k(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t Ks[] = {0, 1, 2, 8, 32};
  uint64_t rng = zk_test_seed() ^ 0xc0b;
  for (size_t k = 0; k < 5; k++)
    for (int op = OP_COMBINE; op <= OP_PERMUTED_GRAD; op++) {
      if (Ks[k] == 0 && op != OP_COMBINE) continue;
      double s[8] = {(double)Ks[k], KEEP, KEEP, KEEP, KEEP, KEEP, KEEP, KEEP};
      zk_op_test t = variant(op, s);
      zk_case_opts mixed = opts(be, ZK_BF16, ZK_F32, 19, 257, (int)k % 2, zk_rand_u64(&rng));
      zk_case_opts wide = opts(be, all_dtypes[k % 3], all_dtypes[(k + 1) % 3], 3, 4096, 0, zk_rand_u64(&rng));
      if (zk_run_case(&t, ctx, &mixed, msg, cap) || zk_run_case(&t, ctx, &wide, msg, cap)) return 1;
    }
  return 0;
}

/* Stores v as element i (flat, compact) of f32 input k, in storage, on
 * the device and in c->val. */
static int set_f32(zk_case *c, int k, int64_t i, double v) {
  ((float *)c->host[k])[i] = (float)v;
  c->val[k][i] = v;
  return c->backend == ZK_BACKEND_CUDA && zk_dev_upload(c->dev[k], c->host[k], c->bytes[k]);
}

/* A zero weight times an Inf or NaN expert output is NaN (no skipping). */
static int extra_combine_zero_times_inf(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  zk_op_test t = moe_tests[OP_COMBINE];
  zk_case c;
  zk_case_opts o = {be, ZK_F32, ZK_F32, 2, 3, 0, 0, 9, -1, -1};
  if (zk_case_setup(&c, &t, &o, msg, cap)) return 1;
  /* weights [2, 2]: token 0's slot 1 is 0; its expert row holds Inf, NaN, 1. */
  int fail = set_f32(&c, 1, 1, 0) || set_f32(&c, 0, 3, INFINITY) || set_f32(&c, 0, 4, NAN) || set_f32(&c, 0, 5, 1);
  if (!fail) fail = zk_case_run_checked(&c, ctx, msg, cap);
  if (!fail && !(isnan(c.got[2][0]) && isnan(c.got[2][1]) && !isnan(c.got[2][2])))
    fail = zk_fail_at(msg, cap, &c, 2, 0, "0·Inf and 0·NaN must give NaN");
  zk_case_free(&c);
  return fail;
}

/* combine_permuted equals combine on the un-permuted rows, bit for bit. */
static int extra_permuted_equals_combine(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  for (int d = 0; d < 3; d++) {
    int64_t N = 20, K = 3 + d, D = 300;
    double s[8] = {(double)K, 0, KEEP, KEEP, KEEP, KEEP, KEEP, KEEP};
    zk_op_test tc = variant(OP_COMBINE, s), tp = variant(OP_PERMUTED, s);
    zk_case a, b;
    zk_case_opts o = {be, all_dtypes[d], all_dtypes[(d + 2) % 3], N, D, 0, 0, 300 + (uint64_t)d, -1, -1};
    if (zk_run_case_kept(&tc, ctx, &o, &a, msg, cap)) return zk_case_free(&a), 1;
    if (zk_case_setup(&b, &tp, &o, msg, cap)) return zk_case_free(&a), 1;
    /* y_perm[inv[n, k]] = expert_out[n, k]; the same weights. */
    size_t es = (size_t)zk_dtype_size(b.tdtype[0]);
    for (int64_t q = 0; q < N * K; q++) {
      int64_t p = (int64_t)b.val[2][q];
      memcpy((char *)b.host[0] + (size_t)(p * D) * es, (char *)a.host[0] + (size_t)(q * D) * es, (size_t)D * es);
      memcpy(b.val[0] + p * D, a.val[0] + q * D, (size_t)D * sizeof(double));
    }
    memcpy(b.host[1], a.host[1], b.bytes[1]);
    memcpy(b.val[1], a.val[1], (size_t)(N * K) * sizeof(double));
    int fail = be == ZK_BACKEND_CUDA && (zk_dev_upload(b.dev[0], b.host[0], b.bytes[0]) ||
                                         zk_dev_upload(b.dev[1], b.host[1], b.bytes[1]));
    if (!fail) fail = zk_case_run_checked(&b, ctx, msg, cap);
    if (!fail && memcmp(a.host[2], b.host[3], a.bytes[2]))
      fail = 1, snprintf(msg, cap, "combine_permuted differs from combine after a permutation (%s)",
                         zk_dtype_name(all_dtypes[d]));
    zk_case_free(&a);
    zk_case_free(&b);
    if (fail) return 1;
  }
  return 0;
}

/* A src_idx value given twice (so another is missing) is ZK_ERR_INDEX. */
static int extra_repeated_src(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (be == ZK_BACKEND_CUDA) return 0; /* CUDA: unspecified (spec §0 skips only range faults) */
  zk_case c;
  zk_case_opts o = {be, ZK_F32, ZK_F32, 5, 33, 0, 0, 17, -1, -1};
  if (zk_case_setup(&c, &moe_tests[OP_PERMUTED_GRAD], &o, msg, cap)) return 1;
  int fail = zk_case_set_index(&c, 2, 7, (int64_t)c.val[2][2]);
  zk_status st = fail ? ZK_OK : zk_case_run(&c, ctx);
  if (!fail && st != ZK_ERR_INDEX)
    fail = 1, snprintf(msg, cap, "a repeated src_idx gave %s, expected ZK_ERR_INDEX", zk_status_name(st));
  for (int64_t i = 0; !fail && i < zk_case_numel(&c, 4); i++)
    if (!isnan(c.got[4][i])) fail = zk_fail_at(msg, cap, &c, 4, i, "written by a rejected call");
  zk_case_free(&c);
  return fail;
}

static const zk_extra_test moe_extras[] = {
    {"gating_sizes", extra_gating_sizes},
    {"gating_models", extra_gating_models},
    {"gating_equal_and_sums", extra_gating_equal_and_sums},
    {"gating_edges", extra_gating_edges},
    {"gating_many_ties", extra_gating_many_ties},
    {"gating_16bit_spans", extra_gating_16bit_spans},
    {"top2", extra_top2},
    {"dispatch_shapes", extra_dispatch_shapes},
    {"dispatch_large", extra_dispatch_large},
    {"dispatch_round_trip", extra_round_trip},
    {"combine_k", extra_combine_k},
    {"combine_zero_times_inf", extra_combine_zero_times_inf},
    {"permuted_equals_combine", extra_permuted_equals_combine},
    {"permuted_grad_repeated_src", extra_repeated_src},
};

const zk_family_tests zk_tests_moe = {"moe", moe_tests, N_OPS, moe_extras, sizeof moe_extras / sizeof moe_extras[0]};
