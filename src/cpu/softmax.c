/* Softmax on the CPU (spec §2): one row per task through zk_cpu_for_rows.
 *
 * Forward, per row: the fixed-order max, then e^(x-m) into scratch with its
 * fixed-order (chunked) sum, then the output (softmax: scaled and rounded
 * straight into the tensor, zk_cpu_store_scaled).  An f32 row is read and
 * written in place (zk_cpu_view and zk_cpu_target point into the tensors);
 * an f16/bf16 row is converted into one scratch buffer that serves as the
 * input and as log_softmax's output.  Either way the row stays in L1/L2
 * across the passes, so DRAM sees one read and one write per element.
 * Every loop reads element j of its inputs before writing element j of its
 * output, which makes the exact aliases (y = x forward, dx = dy backward)
 * safe.
 *
 * The cost is the exp: at 8192 x 4096 on two cores the row passes are
 * compute-bound on the exponential (zk_exp_nonpos_f), not on DRAM. */
#include <math.h>
#include "softmax.h"

/* Second scratch buffer of a row: 64-byte aligned after the first. */
static inline int64_t second_buffer(int64_t n) { return (n + 15) & ~(int64_t)15; }

ZK_HOT static void fill_row(float *y, int64_t n, float v) {
  for (int64_t j = 0; j < n; j++) y[j] = v;
}

/* e[j] = e^(x[j] - m); e may be x. */
ZK_HOT static void exp_shifted(float *e, const float *x, float m, int64_t n) {
  for (int64_t j = 0; j < n; j++) e[j] = zk_exp_nonpos_f(x[j] - m);
}

/* y[j] = (x[j] - m) - ls, as the spec writes it (not x - (m + ls)). */
ZK_HOT static void log_row(float *y, const float *x, float m, float ls, int64_t n) {
  for (int64_t j = 0; j < n; j++) y[j] = (x[j] - m) - ls;
}

typedef struct fwd_job {
  const zk_rows *x, *y;
  int log_form;
} fwd_job;

/* The edge rules of §2.1/§2.2 from the row max m (zk_cpu_max gives NaN when
 * the row holds a NaN): all -Inf -> 0 (softmax) or -Inf (log_softmax); a
 * NaN or +Inf -> NaN.  Returns 0 when m is finite and the row needs work. */
static int edge_row(float *y, int64_t n, float m, int log_form) {
  if (m == -INFINITY) {
    fill_row(y, n, log_form ? -INFINITY : 0.0f);
    return 1;
  }
  if (!(m < INFINITY)) {
    fill_row(y, n, NAN);
    return 1;
  }
  return 0;
}

/* The exp pass runs in chunks.  Each chunk's sum is taken while the chunk
 * is in L1, and the row sum is the sum of the chunk sums: still a fixed
 * order, and its relative error stays near 1e-6 at D = 262 145, where one
 * 16-lane pass over the row drifts to 1e-5 (enough to break ROW's NMSE).
 * After each chunk, the same part of the next row of x (to read) and of y
 * (to write) is prefetched, so that row's DRAM traffic overlaps this row's
 * arithmetic instead of stalling the next max pass. */
#define EXP_CHUNK 512

static inline int64_t chunks_of(int64_t n) { return (n + EXP_CHUNK - 1) / EXP_CHUNK; }

#if defined(__GNUC__)
#define PREFETCH(p, for_write) __builtin_prefetch((p), (for_write))
#else
#define PREFETCH(p, for_write) ((void)(p))
#endif

/* The row after this one; x is NULL for the last row. */
typedef struct next_row {
  const char *x, *y;
  int64_t elem;  /* bytes per element (x and y share the dtype) */
} next_row;

static void prefetch_chunk(const next_row *next, int64_t j, int64_t k) {
  if (!next->x) return;
  for (int64_t b = j * next->elem; b < (j + k) * next->elem; b += 64) {
    PREFETCH(next->x + b, 0);
    PREFETCH(next->y + b, 1);
  }
}

/* e = e^(x - m); returns Σe by chunks (partial: chunks_of(n) floats). */
static float exp_sum_row(float *e, const float *x, float m, int64_t n, float *partial, const next_row *next) {
  for (int64_t c = 0, j = 0; j < n; c++, j += EXP_CHUNK) {
    int64_t k = n - j < EXP_CHUNK ? n - j : EXP_CHUNK;
    exp_shifted(e + j, x + j, m, k);
    partial[c] = zk_cpu_sum(e + j, k);
    prefetch_chunk(next, j, k);
  }
  return zk_cpu_sum(partial, chunks_of(n));
}

float zk_cpu_exp_sum(float *e, const float *x, float m, int64_t n, float *partial) {
  static const next_row none = {NULL, NULL, 0};
  return exp_sum_row(e, x, m, n, partial, &none);
}

int64_t zk_cpu_exp_sum_partials(int64_t n) { return chunks_of(n); }

/* Scratch: [n] the converted row (x, then y), [n] e, the chunk sums. */
static int64_t forward_scratch(int64_t n) { return 2 * second_buffer(n) + chunks_of(n); }

static void forward_row(int64_t r, float *scratch, const void *arg) {
  const fwd_job *job = arg;
  int64_t n = job->x->cols;
  const float *x = zk_cpu_view(job->x, r, 0, n, scratch);
  float *y = zk_cpu_target(job->y, r, 0, scratch);
  float *e = scratch + second_buffer(n), *partial = e + second_buffer(n);
  int last = r + 1 == job->x->rows;
  next_row next = {last ? NULL : zk_row_ptr(job->x, r + 1, 0), last ? NULL : zk_row_ptr(job->y, r + 1, 0),
                   zk_dtype_size(job->x->dtype)};
  float m = zk_cpu_max(x, n);
  if (!edge_row(y, n, m, job->log_form)) {
    float s = exp_sum_row(e, x, m, n, partial, &next);
    if (!job->log_form) { /* s >= 1: the max contributes e^0 */
      zk_cpu_store_scaled(job->y, r, 0, n, e, 1.0f / s, y);
      return;
    }
    log_row(y, x, m, logf(s), n);
  }
  zk_cpu_commit(job->y, r, 0, n, y);
}

static zk_status forward(zk_ctx *ctx, const zk_call *call, const zk_args *a, int log_form) {
  fwd_job job = {&a->t[0], &a->t[1], log_form};
  int64_t n = a->t[0].cols;
  return zk_cpu_for_rows(ctx, call, a->t[0].rows, n, forward_scratch(n), forward_row, &job);
}

/* ------------------------------------------------------------- backward
 * One pass each: Σ dy·y (or Σ dy), then dx.  Unlike the forward sum, whose
 * relative error scales every output, these reductions' errors enter dx
 * multiplied by y or e^y, so one fixed-order 16-lane pass is accurate
 * enough at any D. */

/* dx[j] = scale·(y[j]·(dy[j] - dot)); dx may be dy.  scale = 1 is exact:
 * softmax_grad's results do not change with the factor. */
ZK_HOT static void softmax_vjp_row(float *dx, const float *y, const float *dy, float dot, float scale, int64_t n) {
  for (int64_t j = 0; j < n; j++) dx[j] = scale * (y[j] * (dy[j] - dot));
}

/* dx[j] = dy[j] - e^(y[j])·s; dx may be dy. */
ZK_HOT static void log_softmax_vjp_row(float *dx, const float *y, const float *dy, float s, int64_t n) {
  for (int64_t j = 0; j < n; j++) dx[j] = dy[j] - zk_exp_f(y[j]) * s;
}

typedef struct bwd_job {
  const zk_rows *y, *dy, *dx;
  int log_form;
  float scale; /* softmax form only */
} bwd_job;

static void backward_row(int64_t r, float *scratch, const void *arg) {
  const bwd_job *job = arg;
  int64_t n = job->y->cols;
  float *buf = scratch + second_buffer(n);
  const float *y = zk_cpu_view(job->y, r, 0, n, scratch);
  const float *dy = zk_cpu_view(job->dy, r, 0, n, buf);
  float *dx = zk_cpu_target(job->dx, r, 0, buf); /* dy's buffer when converting */
  if (!job->log_form) {
    softmax_vjp_row(dx, y, dy, zk_cpu_dot(dy, y, n), job->scale, n);
  } else if (zk_cpu_max(y, n) == -INFINITY) {
    fill_row(dx, n, 0.0f); /* fully masked row: its forward was constant */
  } else {
    log_softmax_vjp_row(dx, y, dy, zk_cpu_sum(dy, n), n);
  }
  zk_cpu_commit(job->dx, r, 0, n, dx);
}

static zk_status backward(zk_ctx *ctx, const zk_call *call, const zk_args *a, int log_form, float scale) {
  bwd_job job = {&a->t[0], &a->t[1], &a->t[2], log_form, scale};
  int64_t n = a->t[0].cols;
  return zk_cpu_for_rows(ctx, call, a->t[0].rows, n, 2 * second_buffer(n), backward_row, &job);
}

/* ------------------------------------------------------- entry points
 * Slots follow the public signatures in include/zkern/softmax.h. */

zk_status zk_cpu_softmax_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, softmax_lastdim);
  return forward(ctx, call, a, 0);
}

zk_status zk_cpu_log_softmax_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, log_softmax_lastdim);
  return forward(ctx, call, a, 1);
}

zk_status zk_cpu_softmax_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, softmax_grad);
  return backward(ctx, call, a, 0, 1.0f);
}

zk_status zk_cpu_log_softmax_lastdim_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, log_softmax_lastdim_grad);
  return backward(ctx, call, a, 1, 1.0f);
}

zk_status zk_cpu_softmax_vjp(zk_ctx *ctx, const zk_call *call, const zk_args *a, float scale) {
  return backward(ctx, call, a, 0, scale);
}
