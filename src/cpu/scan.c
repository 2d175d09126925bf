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
#include <string.h>
#include "cpu.h"

#define SCAN_BLOCK 1024

/* Within a block the running sum advances a vector of 16 at a time: the
 * vector's own prefix by a shift-and-add ladder (lane i gains lane i - s for
 * s = 1, 2, 4, 8), plus the block's sum so far in every lane.  The chain
 * from one vector to the next is one add and one broadcast, where a scalar
 * walk pays an add's latency per element.  The lanes' partial sums round in
 * another order than one element at a time, within ACC like any order; a
 * NaN or Inf reaches only its own and later lanes, as in a walk. */
#if defined(__GNUC__) && !defined(__clang__)
#define SCAN_VECTORS 1 /* __builtin_shuffle is gcc's; other compilers walk one element at a time */
#else
#define SCAN_VECTORS 0
#endif
#define SCAN_LANES 16
#if SCAN_VECTORS
typedef float scan_vec __attribute__((vector_size(SCAN_LANES * sizeof(float))));
typedef int32_t scan_mask __attribute__((vector_size(SCAN_LANES * sizeof(int32_t))));

/* Lane i takes lane i - s, or 0 (a lane of the zero operand) below s. */
#define SCAN_SHIFT(s)                                                                                     \
  (scan_mask) {                                                                                           \
    0 < s ? 16 : 0 - s, 1 < s ? 17 : 1 - s, 2 < s ? 18 : 2 - s, 3 < s ? 19 : 3 - s, 4 < s ? 20 : 4 - s,   \
        5 < s ? 21 : 5 - s, 6 < s ? 22 : 6 - s, 7 < s ? 23 : 7 - s, 8 < s ? 24 : 8 - s,                   \
        9 < s ? 25 : 9 - s, 10 < s ? 26 : 10 - s, 11 < s ? 27 : 11 - s, 12 < s ? 28 : 12 - s,             \
        13 < s ? 29 : 13 - s, 14 < s ? 30 : 14 - s, 15 < s ? 31 : 15 - s                                  \
  }
static const scan_mask scan_reversed = {15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
static const scan_mask scan_last = {15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15};
#endif

/* The block of len elements that starts at x[0] (reverse: ends at x[0],
 * walked downwards): y_j = carry + the block's running sum at j (before
 * x_j when exclusive).  Returns the block's total. */
ZK_HOT static float scan_block(float *y, const float *x, int64_t len, float carry, int exclusive, int reverse) {
  int64_t k = 0;
  float local = 0.0f;
#if SCAN_VECTORS
  const scan_vec zero = {0}, carry_v = zero + carry;
  scan_vec run = zero; /* the block's sum so far, in every lane */
  for (; k + SCAN_LANES <= len; k += SCAN_LANES) {
    const float *src = reverse ? x - k - (SCAN_LANES - 1) : x + k;
    scan_vec v;
    memcpy(&v, src, sizeof v);
    if (reverse) v = __builtin_shuffle(v, scan_reversed);
    v += __builtin_shuffle(v, zero, SCAN_SHIFT(1));
    v += __builtin_shuffle(v, zero, SCAN_SHIFT(2));
    v += __builtin_shuffle(v, zero, SCAN_SHIFT(4));
    v += __builtin_shuffle(v, zero, SCAN_SHIFT(8));
    scan_vec inclusive = run + v;
    /* exclusive: lane i takes lane i - 1's sum, lane 0 the sum before the vector */
    scan_vec out = carry_v + (exclusive ? __builtin_shuffle(inclusive, run, SCAN_SHIFT(1)) : inclusive);
    run = __builtin_shuffle(inclusive, scan_last);
    if (reverse) out = __builtin_shuffle(out, scan_reversed);
    memcpy(reverse ? y - k - (SCAN_LANES - 1) : y + k, &out, sizeof out);
  }
  local = run[0];
#endif
  for (; k < len; k++) { /* the tail, one element at a time */
    int64_t j = reverse ? -k : k;
    float v = x[j];
    if (exclusive) y[j] = carry + local;
    local += v;
    if (!exclusive) y[j] = carry + local;
  }
  return local;
}

/* y_j = Σ x over j's range, walking from the start (or, reverse, the end),
 * block by block with the carry summed over the block totals in order. */
static void scan_row(float *y, const float *x, int64_t n, int exclusive, int reverse) {
  float carry = 0.0f;
  for (int64_t done = 0; done < n; done += SCAN_BLOCK) {
    int64_t len = n - done < SCAN_BLOCK ? n - done : SCAN_BLOCK, at = reverse ? n - 1 - done : done;
    carry += scan_block(y + at, x + at, len, carry, exclusive, reverse);
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
