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

/* Blocks whose running sums are walked side by side: each block's chain of
 * dependent adds is as slow as the add's latency, so independent chains
 * interleaved keep the adder busy (about 3x on a 4-block row). */
#define SCAN_CHAINS 4 /* local_prefixes is called for 1 .. 4 below */

/* The running sums within `chains` blocks of len elements each, side by
 * side: block c starts at first[c] and walks by step (±1).  y gets the
 * block-local prefix (before x_j when exclusive), total[c] the block's
 * sum.  Inlined with a constant `chains`, so the sums live in registers. */
static inline __attribute__((always_inline)) void local_prefixes(float *y, const float *x, const int64_t *first,
                                                                 int chains, int64_t len, int64_t step, int exclusive,
                                                                 float *total) {
  float local[SCAN_CHAINS] = {0};
  for (int64_t k = 0; k < len; k++)
    for (int c = 0; c < chains; c++) {
      int64_t j = first[c] + k * step;
      float v = x[j];
      if (exclusive) y[j] = local[c];
      local[c] += v;
      if (!exclusive) y[j] = local[c];
    }
  for (int c = 0; c < chains; c++) total[c] = local[c];
}

ZK_HOT static void add_carry(float *y, int64_t n, float carry) {
  for (int64_t j = 0; j < n; j++) y[j] = carry + y[j];
}

/* y_j = Σ x over j's range, walking from the start (or, reverse, the end):
 * first the local prefixes of up to SCAN_CHAINS blocks (independent of each
 * other), then y_j = carry + local_j with the carry summed over the block
 * totals in order: the same adds, on the same operands, as one walk. */
static void scan_row(float *y, const float *x, int64_t n, int exclusive, int reverse) {
  int64_t step = reverse ? -1 : 1;
  float carry = 0.0f;
  for (int64_t done = 0; done < n;) {
    int64_t full = (n - done) / SCAN_BLOCK, len = full > 0 ? SCAN_BLOCK : n - done;
    int chains = full > SCAN_CHAINS ? SCAN_CHAINS : full > 0 ? (int)full : 1;
    int64_t first[SCAN_CHAINS];
    float total[SCAN_CHAINS];
    for (int c = 0; c < chains; c++) first[c] = reverse ? n - 1 - done - c * len : done + c * len;
    switch (chains) { /* a constant count for each call, so the sums stay in registers */
      case 4: local_prefixes(y, x, first, 4, len, step, exclusive, total); break;
      case 3: local_prefixes(y, x, first, 3, len, step, exclusive, total); break;
      case 2: local_prefixes(y, x, first, 2, len, step, exclusive, total); break;
      default: local_prefixes(y, x, first, 1, len, step, exclusive, total); break;
    }
    for (int c = 0; c < chains; c++) {
      add_carry(y + (reverse ? n - done - (c + 1) * len : done + c * len), len, carry);
      carry += total[c];
    }
    done += chains * len;
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
