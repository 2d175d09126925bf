/* Gather-add and scatter-add on the CPU (spec §16).
 *
 * Both scan idx first and return ZK_ERR_INDEX before anything is written.
 * Gather-add is one f32 addition per element, tasks of one row chunk each.
 * bf16 rows are converted, added and rounded in one loop (the same f32
 * operations and bits: the conversion is exact), where the views took a
 * pass over L1 each and left bf16 no faster than f32 for half the bytes.  (A software prefetch
 * of the next gathered row or update was tried as well: slower in f32,
 * no better in bf16.)
 * Scatter-add never lets two threads touch one output element: a stable
 * counting sort groups the updates by destination row (ascending i within
 * a row), and each task owns one chunk of one destination row, adding its
 * updates in that order.  The f32 operation sequence per element is thus
 * the contract's sequential sum, fixed by idx alone: bitwise reproducible
 * and independent of the thread count (deterministic = 0 changes nothing
 * here).  Splitting rows into column chunks keeps the worst case (every
 * index equal) parallel too.
 *
 * Entry points follow the slots of src/api/indexing.c. */
#include <inttypes.h>
#include <stdlib.h>
#include "cpu.h"

static inline int64_t idx_at(const zk_rows *idx, int64_t i) {
  return idx->dtype == ZK_I64 ? ((const int64_t *)idx->data)[i] : ((const int32_t *)idx->data)[i];
}

/* Every index in [0, n), else ZK_ERR_INDEX naming the first bad one. */
static zk_status check_indices(const zk_call *call, const zk_rows *idx, int64_t n) {
  for (int64_t i = 0; i < idx->cols; i++) {
    int64_t v = idx_at(idx, i);
    if (v < 0 || v >= n)
      return zk_fail(call, ZK_ERR_INDEX, "idx[%" PRId64 "] = %" PRId64 " is outside [0, %" PRId64 ")", i, v, n);
  }
  return ZK_OK;
}

static int64_t chunks_of(int64_t cols) { return (cols + ZK_CHUNK - 1) / ZK_CHUNK; }
static int64_t width_of(int64_t cols) { return cols < ZK_CHUNK ? cols : ZK_CHUNK; }

/* ------------------------------------------------------------ gather-add */

typedef struct gather_job {
  const zk_rows *src, *idx, *other, *y;
  int64_t per_row;
} gather_job;

ZK_HOT static void add_chunk(float *restrict y, const float *restrict a, const float *restrict b, int64_t n) {
  for (int64_t k = 0; k < n; k++) y[k] = a[k] + b[k];
}

ZK_HOT static void add_chunk_bf16(uint16_t *restrict y, const uint16_t *restrict a, const uint16_t *restrict b,
                                  int64_t n) {
  for (int64_t k = 0; k < n; k++) y[k] = zk_f32_to_bf16(zk_bf16_to_f32(a[k]) + zk_bf16_to_f32(b[k]));
}

static void gather_task(int64_t task, float *scratch, const void *arg) {
  const gather_job *g = arg;
  int64_t i = task / g->per_row, j = (task % g->per_row) * ZK_CHUNK, D = g->y->cols;
  int64_t n = D - j < ZK_CHUNK ? D - j : ZK_CHUNK;
  int64_t from = idx_at(g->idx, i);
  if (g->y->dtype == ZK_BF16) { /* src, other and y share the dtype */
    add_chunk_bf16((uint16_t *)zk_row_ptr(g->y, i, j), (const uint16_t *)zk_row_ptr(g->src, from, j),
                   (const uint16_t *)zk_row_ptr(g->other, i, j), n);
    return;
  }
  const float *s = zk_cpu_view(g->src, from, j, n, scratch);
  const float *o = zk_cpu_view(g->other, i, j, n, scratch + ZK_CHUNK);
  float *y = zk_cpu_target(g->y, i, j, scratch + 2 * ZK_CHUNK);
  add_chunk(y, s, o, n);
  zk_cpu_commit(g->y, i, j, n, y);
}

zk_status zk_cpu_fused_gather_add(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, fused_gather_add);
  zk_status st = check_indices(call, &a->t[1], a->t[0].rows);
  if (st != ZK_OK) return st;
  gather_job g = {&a->t[0], &a->t[1], &a->t[2], &a->t[3], chunks_of(a->t[3].cols)};
  if (a->t[3].cols == 0) return ZK_OK;
  return zk_cpu_for_rows(ctx, call, a->t[3].rows * g.per_row, width_of(a->t[3].cols), 3 * ZK_CHUNK, gather_task, &g);
}

/* ----------------------------------------------------------- scatter-add */

typedef struct scatter_job {
  const zk_rows *updates, *y;
  const int64_t *first; /* [N + 1]: row n's updates are order[first[n] .. first[n + 1]) */
  const int64_t *order; /* [M]: update indices grouped by row, ascending within a row */
  int64_t per_row;
  int accumulate;
} scatter_job;

ZK_HOT static void accumulate_chunk(float *restrict acc, const float *restrict u, int64_t n) {
  for (int64_t k = 0; k < n; k++) acc[k] += u[k];
}

ZK_HOT static void accumulate_chunk_bf16(float *restrict acc, const uint16_t *restrict u, int64_t n) {
  for (int64_t k = 0; k < n; k++) acc[k] += zk_bf16_to_f32(u[k]);
}

static void scatter_task(int64_t task, float *scratch, const void *arg) {
  const scatter_job *s = arg;
  int64_t row = task / s->per_row, j = (task % s->per_row) * ZK_CHUNK, D = s->y->cols;
  int64_t n = D - j < ZK_CHUNK ? D - j : ZK_CHUNK;
  float *acc = zk_cpu_target(s->y, row, j, scratch);
  if (!s->accumulate) {
    for (int64_t k = 0; k < n; k++) acc[k] = 0.0f; /* start = +0 */
  } else if (acc == scratch) {
    zk_cpu_load(s->y, row, j, n, acc); /* start = f32(y_old); f32 y is already in place */
  }
  for (int64_t e = s->first[row]; e < s->first[row + 1]; e++) {
    if (s->updates->dtype == ZK_BF16)
      accumulate_chunk_bf16(acc, (const uint16_t *)zk_row_ptr(s->updates, s->order[e], j), n);
    else
      accumulate_chunk(acc, zk_cpu_view(s->updates, s->order[e], j, n, scratch + ZK_CHUNK), n);
  }
  zk_cpu_commit(s->y, row, j, n, acc);
}

zk_status zk_cpu_fused_scatter_add(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, fused_scatter_add);
  const zk_rows *idx = &a->t[0], *y = &a->t[2];
  int64_t M = idx->cols, N = y->rows, D = y->cols;
  zk_status st = check_indices(call, idx, N);
  if (st != ZK_OK) return st;
  if (D == 0 || N == 0) return ZK_OK;
  int64_t *first = calloc((size_t)N + 1, sizeof *first), *order = malloc((size_t)(M ? M : 1) * sizeof *order);
  if (!first || !order) {
    free(first), free(order);
    return zk_fail(call, ZK_ERR_OOM, "cannot allocate the destination order of %" PRId64 " updates", M);
  }
  /* Stable counting sort by destination row. */
  for (int64_t i = 0; i < M; i++) first[idx_at(idx, i) + 1]++;
  for (int64_t n = 0; n < N; n++) first[n + 1] += first[n];
  for (int64_t i = 0; i < M; i++) {
    int64_t row = idx_at(idx, i);
    order[first[row]++] = i;
  }
  /* first[n] now ends row n; shift back so it starts it. */
  for (int64_t n = N; n > 0; n--) first[n] = first[n - 1];
  first[0] = 0;
  scatter_job s = {&a->t[1], y, first, order, chunks_of(D), (int)a->i[0]};
  st = zk_cpu_for_rows(ctx, call, N * s.per_row, width_of(D), 2 * ZK_CHUNK, scatter_task, &s);
  free(first);
  free(order);
  return st;
}
