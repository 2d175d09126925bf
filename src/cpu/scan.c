/* Prefix sums on the CPU (spec §18): one row per task through
 * zk_cpu_for_rows.  An f32 row is read and written in place; an f16/bf16
 * row is converted into scratch, scanned there and rounded back.  Each
 * element is read before its output is written, so y = x works.  The grad
 * reaches here with the direction already flipped (src/api/scan.c), so it
 * is bitwise the forward.
 *
 * The running total has two levels fixed by D: within a block of
 * SCAN_BLOCK elements a running sum, and across blocks a running carry of
 * the block totals; y_j = carry + (block sum so far).  One f32 total over
 * 2^20 elements drifts by about 3e-5 relative (NMSE above ACC's 1e-10 in
 * f32); the two levels keep each chain short.  A NaN or Inf enters the
 * carry and reaches every later prefix, as IEEE running totals do. */
#include "cpu.h"

#define SCAN_BLOCK 1024

/* One block of n elements at x/y, visited at j, j + step, ...; returns the
 * block's total. */
static float scan_block(float *y, const float *x, int64_t j, int64_t step, int64_t n, float carry, int exclusive) {
  float local = 0.0f;
  if (exclusive) {
    for (int64_t k = 0; k < n; k++, j += step) {
      float v = x[j];
      y[j] = carry + local;
      local += v;
    }
  } else {
    for (int64_t k = 0; k < n; k++, j += step) {
      local += x[j];
      y[j] = carry + local;
    }
  }
  return local;
}

/* y_j = Σ x over j's range, walking from the start (or, reverse, the end). */
static void scan_row(float *y, const float *x, int64_t n, int exclusive, int reverse) {
  int64_t step = reverse ? -1 : 1;
  float carry = 0.0f;
  for (int64_t done = 0; done < n; done += SCAN_BLOCK) {
    int64_t len = n - done < SCAN_BLOCK ? n - done : SCAN_BLOCK;
    carry += scan_block(y, x, reverse ? n - 1 - done : done, step, len, carry, exclusive);
  }
}

typedef struct scan_job {
  const zk_rows *x, *y;
  int exclusive, reverse;
} scan_job;

static void cumsum_row(int64_t r, float *scratch, const void *arg) {
  const scan_job *job = arg;
  int64_t n = job->x->cols;
  const float *x = zk_cpu_view(job->x, r, 0, n, scratch);
  float *y = zk_cpu_target(job->y, r, 0, scratch);
  scan_row(y, x, n, job->exclusive, job->reverse);
  zk_cpu_commit(job->y, r, 0, n, y);
}

static zk_status cumsum(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  scan_job job = {&a->t[0], &a->t[1], (int)a->i[0], (int)a->i[1]};
  return zk_cpu_for_rows(ctx, call, a->t[0].rows, a->t[0].cols, a->t[0].cols, cumsum_row, &job);
}

zk_status zk_cpu_cumsum_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, cumsum_lastdim);
  return cumsum(ctx, call, a);
}

zk_status zk_cpu_cumsum_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, cumsum_grad);
  return cumsum(ctx, call, a);
}
