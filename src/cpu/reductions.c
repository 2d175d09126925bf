/* Reductions on the CPU (spec §8): one row per task through zk_cpu_for_rows.
 *
 * A row is viewed as f32 (an f32 row in place, an f16/bf16 row converted
 * once into the thread's scratch) and reduced in an order fixed by D alone:
 * 16 lanes over blocks of ZK_PAIRWISE_BLOCK elements, the blocks added in a
 * pairwise tree (zk_cpu_pairwise).  The kahan mode instead keeps a
 * (sum, compensation) pair per lane over the whole row and adds the lanes'
 * pairs in a fixed tree with the same compensation.  topk orders elements
 * by one key, zk_rank_key (src/common/zk_math.h), that encodes the spec's
 * total order and the lower-index tie rule, so comparisons are plain
 * integer compares. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu.h"

#define LANES 16

/* Writes one f32 result as element r of the per-row output y. */
static void put_value(const zk_rows *y, int64_t r, float v) { zk_cpu_store(y, r, 0, 1, &v); }

/* ------------------------------------------------------------ sum, mean */

typedef struct kahan_pair {
  float s, c; /* running sum, and what its roundings lost */
} kahan_pair;

/* Neumaier's step: t = a + b, and the rounding error of that addition. */
static inline float two_sum_error(float a, float b, float t) {
  return fabsf(a) >= fabsf(b) ? (a - t) + b : (b - t) + a;
}

static inline kahan_pair kahan_combine(kahan_pair a, kahan_pair b) {
  float t = a.s + b.s;
  return (kahan_pair){t, (a.c + b.c) + two_sum_error(a.s, b.s, t)};
}

ZK_HOT static float kahan_sum(const float *v, int64_t n) {
  float s[LANES] = {0}, c[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
      float x = v[i + l], t = s[l] + x;
      c[l] += two_sum_error(s[l], x, t);
      s[l] = t;
    }
  for (int l = 0; i < n; i++, l++) {
    float t = s[l] + v[i];
    c[l] += two_sum_error(s[l], v[i], t);
    s[l] = t;
  }
  kahan_pair p[LANES];
  for (int l = 0; l < LANES; l++) p[l] = (kahan_pair){s[l], c[l]};
  for (int w = LANES / 2; w; w >>= 1)
    for (int l = 0; l < w; l++) p[l] = kahan_combine(p[l], p[l + w]);
  /* An Inf or NaN sum leaves a NaN compensation (Inf - Inf): the sum says it. */
  return isfinite(p[0].s) ? p[0].s + p[0].c : p[0].s;
}

typedef struct row_job {
  const zk_rows *x, *y, *idx;
  int64_t k;    /* topk */
  int flag;     /* kahan (sum, mean) or ddof (var, std) */
  float eps;    /* std */
  int op;       /* which reduction */
} row_job;

enum { RED_SUM, RED_MEAN, RED_MAX, RED_VAR, RED_STD, RED_ARGMAX, RED_TOPK };

static float row_sum(const float *v, int64_t n, int kahan) {
  return kahan ? kahan_sum(v, n) : zk_cpu_sum_pairwise(v, n);
}

/* ------------------------------------------------------------- var, std
 * Two passes over the row (in cache after the first) on the shifted data
 * d = x - x0, which is exact for nearby values: their mean m = Σd/D, then
 * Σ(d - m)².  m is rounded at the scale of the spread, not of the data, so
 * a mean of 1e4 with a spread of 1e-2 loses nothing; a constant row gives
 * exactly 0. */

typedef struct shift {
  float x0, m;
} shift;

ZK_HOT static float block_sum_shifted(const float *v, int64_t n, const void *arg) {
  const float x0 = ((const shift *)arg)->x0;
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += v[i + l] - x0;
  for (int l = 0; i < n; i++, l++) acc[l] += v[i] - x0;
  for (int w = LANES / 2; w; w >>= 1)
    for (int l = 0; l < w; l++) acc[l] += acc[l + w];
  return acc[0];
}

ZK_HOT static float block_sum_squares(const float *v, int64_t n, const void *arg) {
  const float x0 = ((const shift *)arg)->x0, m = ((const shift *)arg)->m;
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) {
      float d = (v[i + l] - x0) - m;
      acc[l] += d * d;
    }
  for (int l = 0; i < n; i++, l++) {
    float d = (v[i] - x0) - m;
    acc[l] += d * d;
  }
  for (int w = LANES / 2; w; w >>= 1)
    for (int l = 0; l < w; l++) acc[l] += acc[l + w];
  return acc[0];
}

static float row_var(const float *v, int64_t n, int ddof) {
  if (n - ddof <= 0) return NAN;
  shift s = {v[0], 0.0f};
  s.m = zk_cpu_pairwise(block_sum_shifted, v, n, &s) / (float)n;
  return zk_cpu_pairwise(block_sum_squares, v, n, &s) / (float)(n - ddof);
}

/* -------------------------------------------------------- argmax, topk */

/* First index of the maximum, in two vectorised passes: the maximum m
 * (zk_cpu_max: a NaN if the row holds one), then the first element equal to
 * it (±0 compare equal, as the spec's tie rule wants; an all -Inf row gives
 * 0), found a block at a time so that only the block holding it is scanned
 * element by element.  A NaN maximum is answered by the first NaN. */
#define ARGMAX_BLOCK 64

ZK_HOT static int block_holds(const float *v, int64_t n, float m) {
  int hit = 0;
  for (int64_t j = 0; j < n; j++) hit |= v[j] == m;
  return hit;
}

static int64_t argmax_row(const float *v, int64_t n) {
  float m = zk_cpu_max(v, n);
  if (m != m) {
    for (int64_t k = 0; k < n; k++)
      if (v[k] != v[k]) return k;
  }
  for (int64_t b = 0; b < n; b += ARGMAX_BLOCK) {
    int64_t len = n - b < ARGMAX_BLOCK ? n - b : ARGMAX_BLOCK;
    if (!block_holds(v + b, len, m)) continue;
    for (int64_t k = b; k < b + len; k++)
      if (v[k] == m) return k;
  }
  return 0;
}

/* Up to this k the row goes through the floor filter below (falling back
 * to one scan against a sorted list of the k best keys so far); beyond it
 * every key is sorted. */
#define TOPK_LIST_MAX 64

/* Inserts key into best[0 .. *have) (descending), keeping at most k. */
static inline void keep_best(uint64_t *best, int64_t *have, int64_t k, uint64_t key) {
  if (*have == k && key <= best[k - 1]) return;
  int64_t at = *have < k ? (*have)++ : k - 1;
  while (at > 0 && best[at - 1] < key) best[at] = best[at - 1], at--;
  best[at] = key;
}

/* The k best keys so far, in descending order. */
typedef struct topk_list {
  uint64_t *best;
  int64_t k, have;
  float floor_value; /* the k-th best value once the list is full */
} topk_list;

static void topk_offer(topk_list *t, const float *v, int64_t j) {
  keep_best(t->best, &t->have, t->k, zk_rank_key(v[j], (uint32_t)j));
  if (t->have == t->k) t->floor_value = v[~(uint32_t)t->best[t->k - 1]];
}

/* One pass over the row.  Once the list is full, most elements lose to
 * its k-th value by value alone, so blocks of 16 are first tested with one
 * vectorizable compare each (!(x < floor) also passes NaN and ties, which
 * take the exact key path); only blocks with a candidate are offered.
 * The floor rises slowly at the start of a row, so this is the fallback of
 * the filter below. */
ZK_HOT static void topk_scan(const float *v, int64_t n, int64_t k, uint64_t *best) {
  topk_list t = {best, k, 0, -INFINITY};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    if (t.have == k) {
      int any = 0;
      const float f = t.floor_value;
#pragma omp simd reduction(| : any)
      for (int l = 0; l < 16; l++) any |= !(v[j + l] < f);
      if (!any) continue;
    }
    for (int l = 0; l < 16; l++)
      if (t.have < k || !(v[j + l] < t.floor_value)) topk_offer(&t, v, j + l);
  }
  for (; j < n; j++)
    if (t.have < k || !(v[j] < t.floor_value)) topk_offer(&t, v, j);
}

/* The floor filter (k <= TOPK_LIST_MAX).  Pass 1 takes the maximum of
 * each of G groups of the row (G = 2k rounded up to a power of two, at
 * most 64; element j in group j mod G), ignoring NaN, and F = the largest
 * of them that at least k of them reach: they are distinct elements, so
 * at least k elements reach F, and every one of the k best does (a group
 * of NaNs alone has maximum -Inf, which is no element, but F = -Inf lets
 * every element through).  Pass 2, over the row in L1/L2, keeps the
 * elements with !(x < F): NaN or x >= F, i.e. order key >=
 * zk_order_key(F) (±0 are equal both ways).  That is little more than k
 * elements of normal data, whose rank keys alone are ranked.  Both passes
 * are one compare an element, vectorized.  A row with more than cap
 * candidates (ties at F) takes topk_scan. */
#define FILTER_BLOCK 64 /* elements a step; also the lanes of pass 1 */
#define TOPK_CANDIDATES 512

ZK_HOT static float topk_floor(const float *v, int64_t n, int64_t k) {
  float lane_max[FILTER_BLOCK];
  for (int l = 0; l < FILTER_BLOCK; l++) lane_max[l] = -INFINITY;
  int64_t j = 0;
  for (; j + FILTER_BLOCK <= n; j += FILTER_BLOCK)
    for (int l = 0; l < FILTER_BLOCK; l++) lane_max[l] = v[j + l] > lane_max[l] ? v[j + l] : lane_max[l];
  for (int l = 0; j < n; j++, l++) lane_max[l] = v[j] > lane_max[l] ? v[j] : lane_max[l];
  int64_t groups = 2;
  while (groups < 2 * k && groups < FILTER_BLOCK) groups *= 2;
  for (int64_t w = FILTER_BLOCK / 2; w >= groups; w /= 2)
    for (int64_t l = 0; l < w; l++) lane_max[l] = lane_max[l + w] > lane_max[l] ? lane_max[l + w] : lane_max[l];
  /* F: the largest group maximum that at least k group maxima reach. */
  int32_t reach[FILTER_BLOCK] = {0};
  for (int64_t i = 0; i < groups; i++)
    for (int64_t l = 0; l < groups; l++) reach[l] += lane_max[i] >= lane_max[l];
  float floor = -INFINITY;
  for (int64_t l = 0; l < groups; l++) floor = reach[l] >= k && lane_max[l] > floor ? lane_max[l] : floor;
  return floor;
}

/* The rank keys of the elements with !(x < floor), in index order; -1
 * when there are more than cap.  A block of FILTER_BLOCK elements is
 * skipped after one vector test; in a block with a candidate the tests
 * become bytes (0 or 1) read eight at a time, the set bytes of a nonzero
 * word found by counting trailing zeros (byte i is bits 8i.. of the word
 * on a little-endian machine). */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "topk_candidates reads bytes as little-endian words");
ZK_HOT static int64_t topk_candidates(const float *v, int64_t n, float floor, uint64_t *cand, int64_t cap) {
  int64_t have = 0;
  for (int64_t j = 0; j < n; j += FILTER_BLOCK) {
    int width = n - j < FILTER_BLOCK ? (int)(n - j) : FILTER_BLOCK;
    uint8_t hit[FILTER_BLOCK] = {0};
    if (width == FILTER_BLOCK) {
      int any = 0;
#pragma omp simd reduction(| : any)
      for (int l = 0; l < FILTER_BLOCK; l++) any |= !(v[j + l] < floor);
      if (!any) continue;
      for (int l = 0; l < FILTER_BLOCK; l++) hit[l] = !(v[j + l] < floor);
    } else {
      for (int l = 0; l < width; l++) hit[l] = !(v[j + l] < floor);
    }
    for (int w = 0; w < FILTER_BLOCK; w += 8) {
      uint64_t bytes;
      memcpy(&bytes, hit + w, 8);
      for (; bytes; bytes &= bytes - 1) {
        if (have == cap) return -1;
        int64_t at = j + w + (__builtin_ctzll(bytes) >> 3);
        cand[have++] = zk_rank_key(v[at], (uint32_t)at);
      }
    }
  }
  return have;
}

#if ZK_INTRINSICS
/* topk_candidates with AVX-512: a block's 64 tests are four mask compares
 * (!(x < F) is "not less than", true for NaN), joined into one 64-bit
 * word, so a block without a candidate costs one test of that word.  The
 * portable version's vectorized any-reduction paid a horizontal OR a
 * block, and was half of a bf16 row's time at k = 8. */
__attribute__((target("avx512f"))) static int64_t topk_candidates_avx512(const float *v, int64_t n, float floor,
                                                                        uint64_t *cand, int64_t cap) {
  const __m512 f = _mm512_set1_ps(floor);
  int64_t have = 0, j = 0;
  for (; j < n; j += FILTER_BLOCK) {
    uint64_t hits;
    if (n - j >= FILTER_BLOCK) {
      hits = (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(v + j), f, _CMP_NLT_UQ) |
             (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(v + j + 16), f, _CMP_NLT_UQ) << 16 |
             (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(v + j + 32), f, _CMP_NLT_UQ) << 32 |
             (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(v + j + 48), f, _CMP_NLT_UQ) << 48;
    } else {
      hits = 0;
      for (int64_t l = 0; l < n - j; l++) hits |= (uint64_t)!(v[j + l] < floor) << l;
    }
    for (; hits; hits &= hits - 1) {
      if (have == cap) return -1;
      const int64_t at = j + __builtin_ctzll(hits);
      cand[have++] = zk_rank_key(v[at], (uint32_t)at);
    }
  }
  return have;
}
#endif

/* Up to this many candidates are ranked by counting (each one's rank is
 * the number of larger keys: found^2 compares, vectorized, no branch to
 * mispredict); more (ties at the floor) are inserted into the sorted list
 * one at a time (found·k moves at most). */
#define TOPK_COUNTED 128

/* best[rank] for the candidates of rank below k (keys are distinct, so
 * the ranks are 0 .. found - 1, each once). */
ZK_HOT static void topk_rank_counted(const uint64_t *cand, int64_t found, int64_t k, uint64_t *best) {
  for (int64_t i = 0; i < found; i++) {
    const uint64_t key = cand[i];
    int64_t rank = 0;
    for (int64_t j = 0; j < found; j++) rank += cand[j] > key;
    if (rank < k) best[rank] = key;
  }
}

/* The k (<= TOPK_LIST_MAX) best rank keys of v[0 .. n), descending, into
 * best; cand has room for cap rank keys.  Also the selection of the MoE
 * gating (src/cpu/moe.c). */
void zk_cpu_topk_keys(const float *v, int64_t n, int64_t k, uint64_t *best, uint64_t *cand, int64_t cap) {
  const float floor = topk_floor(v, n, k);
  int64_t found;
#if ZK_INTRINSICS
  if (__builtin_cpu_supports("avx512f")) found = topk_candidates_avx512(v, n, floor, cand, cap);
  else
#endif
    found = topk_candidates(v, n, floor, cand, cap);
  if (found < 0) {
    topk_scan(v, n, k, best);
    return;
  }
  if (found <= TOPK_COUNTED) {
    topk_rank_counted(cand, found, k, best);
    return;
  }
  int64_t have = 0;
  for (int64_t i = 0; i < found; i++) keep_best(best, &have, k, cand[i]);
}

static int by_key_descending(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x < y) - (x > y);
}

static void topk_sorted(const float *v, int64_t n, uint64_t *keys) {
  for (int64_t j = 0; j < n; j++) keys[j] = zk_rank_key(v[j], (uint32_t)j);
  qsort(keys, (size_t)n, sizeof *keys, by_key_descending);
}

static void topk_row(const row_job *job, int64_t r, const float *v, uint64_t *keys) {
  int64_t n = job->x->cols, k = job->k;
  if (k <= TOPK_LIST_MAX) zk_cpu_topk_keys(v, n, k, keys, keys + TOPK_LIST_MAX, TOPK_CANDIDATES);
  else topk_sorted(v, n, keys);
  int es = zk_dtype_size(job->x->dtype);
  const char *src = zk_row_ptr(job->x, r, 0);
  char *values = zk_row_ptr(job->y, r, 0);
  uint32_t *indices = (uint32_t *)zk_row_ptr(job->idx, r, 0);
  for (int64_t i = 0; i < k; i++) {
    uint32_t j = ~(uint32_t)keys[i];
    memcpy(values + i * es, src + (int64_t)j * es, (size_t)es); /* an exact copy, in x's dtype */
    indices[i] = j;
  }
}

/* ------------------------------------------------------------ the driver */

/* Scratch of a row: the converted row, then (topk) its keys: the k best
 * and the filter's candidates, or every key of the row. */
static int64_t row_floats(int64_t n) { return (n + 15) & ~(int64_t)15; }

static void reduce_row(int64_t r, float *scratch, const void *arg) {
  const row_job *job = arg;
  int64_t n = job->x->cols;
  const float *v = zk_cpu_view(job->x, r, 0, n, scratch);
  switch (job->op) {
    case RED_SUM: put_value(job->y, r, row_sum(v, n, job->flag)); break;
    case RED_MEAN: put_value(job->y, r, row_sum(v, n, job->flag) / (float)n); break; /* D = 0: NaN */
    case RED_MAX: put_value(job->y, r, zk_cpu_max(v, n)); break;
    case RED_VAR: put_value(job->y, r, row_var(v, n, job->flag)); break;
    case RED_STD: put_value(job->y, r, sqrtf(row_var(v, n, job->flag) + job->eps)); break;
    case RED_ARGMAX: *(uint32_t *)zk_row_ptr(job->y, r, 0) = (uint32_t)argmax_row(v, n); break;
    case RED_TOPK: topk_row(job, r, v, (uint64_t *)(scratch + row_floats(n))); break;
  }
}

static zk_status reduce(zk_ctx *ctx, const zk_call *call, const zk_args *a, int op) {
  row_job job = {&a->t[0], &a->t[1], &a->t[2], a->i[0], (int)a->i[0], a->f[0], op};
  int64_t n = a->t[0].cols;
  int64_t keys = op != RED_TOPK ? 0 : job.k <= TOPK_LIST_MAX ? TOPK_LIST_MAX + TOPK_CANDIDATES : n;
  return zk_cpu_for_rows(ctx, call, a->t[0].rows, n, row_floats(n) + 2 * keys, reduce_row, &job);
}

/* ------------------------------------------------------- entry points
 * Slots follow include/zkern/reductions.h (see src/api/reductions.c). */

#define REDUCTION_ENTRY(name, op)                               \
  zk_status zk_cpu_##name(zk_ctx *ctx, const zk_args *a) {      \
    ZK_CPU_CALL(ctx, name);                                     \
    return reduce(ctx, call, a, op);                            \
  }

REDUCTION_ENTRY(sum_lastdim, RED_SUM)
REDUCTION_ENTRY(mean_lastdim, RED_MEAN)
REDUCTION_ENTRY(max_lastdim, RED_MAX)
REDUCTION_ENTRY(var_lastdim, RED_VAR)
REDUCTION_ENTRY(std_lastdim, RED_STD)
REDUCTION_ENTRY(argmax_lastdim, RED_ARGMAX)
REDUCTION_ENTRY(topk_lastdim, RED_TOPK)
