/* Mixture-of-experts routing, dispatch and combine on the CPU (spec §14).
 *
 * Gating: one task per token row.  The scores are one vectorised pass
 * (softmax: fixed-order max and sum, then one IEEE division per expert;
 * or σ), the k best selection scores are those of topk_lastdim's floor
 * filter (zk_cpu_topk_keys: 64-bit rank keys, zk_rank_key: the spec's
 * total order, ties to the lower index), and the k weights are sorted by
 * the same keys.
 *
 * Dispatch: the expert ids are scanned first (ZK_ERR_INDEX before anything
 * is written); then a stable counting sort (histogram, exclusive scan,
 * scatter in pair order) gives the offsets, src_idx and inv_idx, and the
 * rows of x are copied into x_perm in parallel, byte for byte.
 *
 * Combine (both layouts): tasks of one chunk of one token row, summing the
 * K weighted rows in increasing k from +0.  The gradients run a task per
 * token row (catalog layout) or per permuted row, so each dot product of
 * dweights is one fixed-order reduction over its whole row.
 *
 * Entry points follow the slots of src/api/moe.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "cpu.h"

#define MAX_K 32

/* Element (r, j) of an integer tensor (uint32, int32 or int64). */
static inline int64_t int_at(const zk_rows *t, int64_t r, int64_t j) {
  int64_t i = r * t->stride + j;
  switch (t->dtype) {
    case ZK_U32: return ((const uint32_t *)t->data)[i];
    case ZK_I64: return ((const int64_t *)t->data)[i];
    default: return ((const int32_t *)t->data)[i];
  }
}

/* Every element of t in [0, n), else ZK_ERR_INDEX naming the first bad one. */
static zk_status check_range(const zk_call *call, const char *name, const zk_rows *t, int64_t n) {
  for (int64_t r = 0; r < t->rows; r++)
    for (int64_t j = 0; j < t->cols; j++) {
      int64_t v = int_at(t, r, j);
      if (v < 0 || v >= n)
        return zk_fail(call, ZK_ERR_INDEX, "%s[%" PRId64 ", %" PRId64 "] = %" PRId64 " is outside [0, %" PRId64 ")",
                       name, r, j, v, n);
    }
  return ZK_OK;
}

static int64_t chunks_of(int64_t cols) { return cols > 0 ? (cols + ZK_CHUNK - 1) / ZK_CHUNK : 1; }
static int64_t width_of(int64_t cols) { return cols < ZK_CHUNK ? cols : ZK_CHUNK; }

/* -------------------------------------------------------------- gating */

typedef struct gating_job {
  const zk_rows *logits, *weights, *indices;
  const float *bias; /* NULL: none */
  int64_t k;
  int sigmoid, norm, select_only;
  float scale;
} gating_job;

/* The scores s, and with a bias the selection scores sel = s + bias in the
 * same pass (the last pass over the row before the selection). */
ZK_HOT static void softmax_scores(const float *restrict x, const float *restrict bias, float *restrict s,
                                  float *restrict sel, int64_t n) {
  float m = zk_cpu_max(x, n);
  for (int64_t j = 0; j < n; j++) s[j] = zk_exp_nonpos_f(x[j] - m);
  float sum = zk_cpu_sum(s, n);
  if (bias)
    for (int64_t j = 0; j < n; j++) s[j] = s[j] / sum, sel[j] = s[j] + bias[j];
  else
    for (int64_t j = 0; j < n; j++) s[j] = s[j] / sum;
}

ZK_HOT static void sigmoid_scores(const float *restrict x, const float *restrict bias, float *restrict s,
                                  float *restrict sel, int64_t n) {
  if (bias)
    for (int64_t j = 0; j < n; j++) s[j] = zk_sigmoid_f(x[j]), sel[j] = s[j] + bias[j];
  else
    for (int64_t j = 0; j < n; j++) s[j] = zk_sigmoid_f(x[j]);
}

/* Inserts key into best[0 .. *have) (descending), keeping at most k. */
static inline void offer(uint64_t *best, int64_t *have, int64_t k, uint64_t key) {
  int64_t i = *have < k ? (*have)++ : k - 1;
  while (i > 0 && best[i - 1] < key) best[i] = best[i - 1], i--;
  best[i] = key;
}

static inline float selection_score(const float *s, const float *bias, int64_t j) {
  return bias ? s[j] + bias[j] : s[j];
}

#define GATING_CANDIDATES 256

/* Scratch of a row: the selection's candidates (first: 8-byte aligned),
 * the logits in f32, the scores and the selection scores (with a bias). */
static int64_t gating_scratch(int64_t E) { return 3 * E + 2 * GATING_CANDIDATES; }

static void gating_row(int64_t r, float *scratch, const void *arg) {
  const gating_job *g = arg;
  int64_t E = g->logits->cols, k = g->k;
  uint64_t *candidates = (uint64_t *)scratch;
  const float *x = zk_cpu_view(g->logits, r, 0, E, scratch + 2 * GATING_CANDIDATES);
  float *s = scratch + 2 * GATING_CANDIDATES + E, *sel = s + E;
  if (g->sigmoid) sigmoid_scores(x, g->bias, s, sel, E);
  else softmax_scores(x, g->bias, s, sel, E);
  /* The k best selection scores. */
  uint64_t best[MAX_K];
  zk_cpu_topk_keys(g->bias ? sel : s, E, k, best, candidates, GATING_CANDIDATES);
  float raw[MAX_K], sum = 0.0f;
  for (int64_t i = 0; i < k; i++) {
    uint32_t e = ~(uint32_t)best[i];
    raw[i] = g->select_only ? s[e] : selection_score(s, g->bias, e);
    sum += raw[i];
  }
  /* The weights, sorted by the same total order, ties to the lower index. */
  uint64_t order[MAX_K];
  int64_t n = 0;
  for (int64_t i = 0; i < k; i++) {
    float w = (g->norm ? raw[i] / (sum + 1e-20f) : raw[i]) * g->scale;
    offer(order, &n, k, zk_rank_key(w, ~(uint32_t)best[i]));
    raw[i] = w;
  }
  float *wout = (float *)zk_row_ptr(g->weights, r, 0);
  uint32_t *iout = (uint32_t *)zk_row_ptr(g->indices, r, 0);
  for (int64_t i = 0; i < k; i++) {
    uint32_t e = ~(uint32_t)order[i];
    int64_t at = 0;
    while (~(uint32_t)best[at] != e) at++;
    wout[i] = raw[at];
    iout[i] = e;
  }
}

static zk_status gating(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  float *bias = zk_cpu_param_f32(&a->t[1]);
  if (zk_present(&a->t[1]) && !bias) return zk_fail(call, ZK_ERR_OOM, "cannot convert expert_bias to f32");
  gating_job g = {&a->t[0], &a->t[2], &a->t[3], bias, a->i[0], a->i[1] == 1, (int)a->i[2], a->i[3] == 1, a->f[0]};
  int64_t E = a->t[0].cols;
  zk_status st = zk_cpu_for_rows(ctx, call, a->t[0].rows, E, gating_scratch(E), gating_row, &g);
  free(bias);
  return st;
}

zk_status zk_cpu_topk_gating_softmax(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, topk_gating_softmax);
  return gating(ctx, call, a);
}

zk_status zk_cpu_top2_gating_softmax(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, top2_gating_softmax);
  return gating(ctx, call, a);
}

/* ------------------------------------------------------------ dispatch */

typedef struct copy_job {
  const zk_rows *x, *x_perm;
  const int32_t *src;
  int64_t K;
  size_t row_bytes;
} copy_job;

static void copy_row(int64_t p, float *scratch, const void *arg) {
  const copy_job *c = arg;
  (void)scratch;
  memcpy(zk_row_ptr(c->x_perm, p, 0), zk_row_ptr(c->x, c->src[p] / c->K, 0), c->row_bytes);
}

zk_status zk_cpu_moe_dispatch(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, moe_dispatch);
  const zk_rows *x = &a->t[0], *ids = &a->t[1], *x_perm = &a->t[2], *inv = &a->t[5];
  int64_t N = ids->rows, K = ids->cols, E = a->t[3].cols - 1;
  zk_status st = check_range(call, "topk_ids", ids, E);
  if (st != ZK_OK) return st;
  int32_t *cursor = malloc((size_t)(E > 0 ? E : 1) * sizeof *cursor);
  if (!cursor) return zk_fail(call, ZK_ERR_OOM, "cannot allocate the counts of %" PRId64 " experts", E);
  /* Histogram into offsets[e + 1], exclusive scan, then each pair takes the
   * next row of its expert in pair order: stable. */
  int32_t *offsets = a->t[3].data, *src = a->t[4].data;
  memset(offsets, 0, (size_t)(E + 1) * sizeof *offsets);
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++) offsets[int_at(ids, n, k) + 1]++;
  for (int64_t e = 0; e < E; e++) offsets[e + 1] += offsets[e];
  memcpy(cursor, offsets, (size_t)E * sizeof *cursor);
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++) {
      int32_t p = cursor[int_at(ids, n, k)]++;
      src[p] = (int32_t)(n * K + k);
      if (zk_present(inv)) ((int32_t *)inv->data)[n * inv->stride + k] = p;
    }
  free(cursor);
  if (!zk_present(x_perm) || x->cols == 0) return ZK_OK;
  copy_job c = {x, x_perm, src, K, (size_t)(x->cols * zk_dtype_size(x->dtype))};
  return zk_cpu_for_rows(ctx, call, N * K, x->cols, 0, copy_row, &c);
}

/* ------------------------------------------------------------- combine */

/* acc[i] += w·v[i] (FMA allowed). */
ZK_HOT static void add_scaled(float *restrict acc, float w, const float *restrict v, int64_t n) {
  for (int64_t i = 0; i < n; i++) acc[i] += w * v[i];
}

/* The same from a bf16 row, converted in the loop (exactly), where a view
 * took an L1 pass of its own. */
ZK_HOT static void add_scaled_bf16(float *restrict acc, float w, const uint16_t *restrict v, int64_t n) {
  for (int64_t i = 0; i < n; i++) acc[i] += w * zk_bf16_to_f32(v[i]);
}

ZK_HOT static void scale_into(float *restrict out, float w, const float *restrict v, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = w * v[i];
}

/* y_n = Σ_k w_{n,k}·row(n, k), chunk by chunk.  rows NULL: the catalog
 * layout (expert_out row n, columns k·D ..); else the permuted layout
 * (src row rows[n, k]).  weights NULL: ones. */
typedef struct combine_job {
  const zk_rows *src, *weights, *rows, *y;
  int64_t K, per_row;
} combine_job;

static void combine_task(int64_t task, float *scratch, const void *arg) {
  const combine_job *c = arg;
  int64_t n = task / c->per_row, j = (task % c->per_row) * ZK_CHUNK, D = c->y->cols, K = c->K;
  int64_t len = D - j < ZK_CHUNK ? D - j : ZK_CHUNK;
  float *acc = zk_cpu_target(c->y, n, j, scratch), *w = scratch + ZK_CHUNK, *buf = w + MAX_K;
  for (int64_t i = 0; i < len; i++) acc[i] = 0.0f;
  for (int64_t k0 = 0; k0 < K; k0 += MAX_K) {
    int64_t kn = K - k0 < MAX_K ? K - k0 : MAX_K;
    if (zk_present(c->weights)) zk_cpu_load(c->weights, n, k0, kn, w);
    for (int64_t k = k0; k < k0 + kn; k++) {
      const int64_t r = c->rows ? int_at(c->rows, n, k) : n, col = c->rows ? j : k * D + j;
      const float wk = zk_present(c->weights) ? w[k - k0] : 1.0f;
      if (c->src->dtype == ZK_BF16)
        add_scaled_bf16(acc, wk, (const uint16_t *)zk_row_ptr(c->src, r, col), len);
      else
        add_scaled(acc, wk, zk_cpu_view(c->src, r, col, len, buf), len);
    }
  }
  zk_cpu_commit(c->y, n, j, len, acc);
}

static zk_status combine(zk_ctx *ctx, const zk_call *call, const zk_rows *src, const zk_rows *weights,
                         const zk_rows *rows, const zk_rows *y, int64_t K) {
  combine_job c = {src, weights, rows, y, K, chunks_of(y->cols)};
  if (y->cols == 0) return ZK_OK;
  return zk_cpu_for_rows(ctx, call, y->rows * c.per_row, width_of(y->cols) * (K + 1), 2 * ZK_CHUNK + MAX_K,
                         combine_task, &c);
}

zk_status zk_cpu_moe_combine(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, moe_combine);
  return combine(ctx, call, &a->t[0], &a->t[1], NULL, &a->t[2], a->i[0]);
}

zk_status zk_cpu_moe_combine_permuted(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, moe_combine_permuted);
  zk_status st = check_range(call, "inv_idx", &a->t[2], a->t[0].rows);
  if (st != ZK_OK) return st;
  return combine(ctx, call, &a->t[0], &a->t[1], &a->t[2], &a->t[3], a->t[2].cols);
}

/* ------------------------------------------------------------ gradients */

/* The gradient of one (token n, slot j) pair whose expert output is row
 * `row` of src (columns col0 ..): dsrc (that row; NULL: skip) = w·dy_n and
 * dw[n, j] (NULL: skip) = <dy_n, row>.  dy_n is in scratch already. */
typedef struct grad_job {
  const zk_rows *src, *weights, *dy, *dsrc, *dw, *perm_src; /* perm_src: src_idx (permuted), else NULL */
  int64_t K;
} grad_job;

static void pair_grad(const grad_job *g, const float *dy, float w, int64_t n, int64_t j, int64_t row, int64_t col0,
                      float *buf) {
  int64_t D = g->dy->cols;
  if (zk_present(g->dsrc)) {
    for (int64_t c = 0; c < D; c += ZK_CHUNK) {
      int64_t len = D - c < ZK_CHUNK ? D - c : ZK_CHUNK;
      float *out = zk_cpu_target(g->dsrc, row, col0 + c, buf);
      scale_into(out, w, dy + c, len);
      zk_cpu_commit(g->dsrc, row, col0 + c, len, out);
    }
  }
  if (zk_present(g->dw)) {
    float dot = D ? zk_cpu_dot(dy, zk_cpu_view(g->src, row, col0, D, buf), D) : 0.0f;
    zk_cpu_store(g->dw, n, j, 1, &dot);
  }
}

/* scratch: dy_n (D floats), then a buffer of max(D, ZK_CHUNK). */
static int64_t grad_scratch(int64_t D) { return D + (D > ZK_CHUNK ? D : ZK_CHUNK) + MAX_K; }

static void combine_grad_row(int64_t n, float *scratch, const void *arg) {
  const grad_job *g = arg;
  int64_t D = g->dy->cols;
  float *w = scratch + D, *buf = w + MAX_K;
  const float *dy = zk_cpu_view(g->dy, n, 0, D, scratch);
  for (int64_t k0 = 0; k0 < g->K; k0 += MAX_K) {
    int64_t kn = g->K - k0 < MAX_K ? g->K - k0 : MAX_K;
    zk_cpu_load(g->weights, n, k0, kn, w);
    for (int64_t k = k0; k < k0 + kn; k++) pair_grad(g, dy, w[k - k0], n, k, n, k * D, buf);
  }
}

zk_status zk_cpu_moe_combine_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, moe_combine_grad);
  grad_job g = {&a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], NULL, a->i[0]};
  int64_t D = a->t[2].cols;
  return zk_cpu_for_rows(ctx, call, a->t[2].rows, (D + 1) * g.K, grad_scratch(D), combine_grad_row, &g);
}

static void permuted_grad_row(int64_t p, float *scratch, const void *arg) {
  const grad_job *g = arg;
  int64_t D = g->dy->cols, q = int_at(g->perm_src, 0, p), n = q / g->K, j = q % g->K;
  float w = 1.0f, *buf = scratch + D + MAX_K;
  if (zk_present(g->weights)) zk_cpu_load(g->weights, n, j, 1, &w);
  pair_grad(g, zk_cpu_view(g->dy, n, 0, D, scratch), w, n, j, p, 0, buf);
}

zk_status zk_cpu_moe_combine_permuted_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, moe_combine_permuted_grad);
  const zk_rows *src = &a->t[2];
  int64_t M = src->cols;
  zk_status st = check_range(call, "src_idx", src, M);
  if (st != ZK_OK) return st;
  /* Every pair once: then every output element is written exactly once. */
  unsigned char *seen = calloc((size_t)(M ? M : 1), 1);
  if (!seen) return zk_fail(call, ZK_ERR_OOM, "cannot allocate %" PRId64 " bytes to check src_idx", M);
  for (int64_t p = 0; p < M && st == ZK_OK; p++) {
    int64_t q = int_at(src, 0, p);
    if (seen[q]++) st = zk_fail(call, ZK_ERR_INDEX, "src_idx[%" PRId64 "] = %" PRId64 " appears twice", p, q);
  }
  free(seen);
  if (st != ZK_OK) return st;
  grad_job g = {&a->t[0], &a->t[1], &a->t[3], &a->t[4], &a->t[5], src, a->i[0]};
  int64_t D = a->t[3].cols;
  return zk_cpu_for_rows(ctx, call, M, D + 1, grad_scratch(D), permuted_grad_row, &g);
}
