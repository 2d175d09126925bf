/* The CPU backend's shared machinery (see cpu.h). */
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include "cpu.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* bf16 <-> f32 vectorizes as written (a shift; integer rounding with a
 * select).  f16 <-> f32 does not: gcc 12 converts _Float16 one element at a
 * time (a vcvtph2ps per element with F16C, a libgcc call without).  Where
 * the CPU has F16C, the f16 rows take the same instructions eight lanes at
 * a time (vcvtps2ph with imm 4 rounds by MXCSR, as the scalar conversion
 * does): the same bits, about 8x fewer instructions.  The tail stays
 * scalar, in the clone (ZK_HOT) that the CPU picks. */
#if ZK_INTRINSICS
__attribute__((target("avx,f16c"))) static int64_t load_f16_x8(const uint16_t *src, int64_t n, float *dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
  return i;
}
__attribute__((target("avx,f16c"))) static int64_t store_f16_x8(uint16_t *dst, int64_t n, const float *src) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_CUR_DIRECTION));
  return i;
}
#endif

ZK_HOT static void load_f16(const uint16_t *src, int64_t n, float *dst) {
  int64_t i = 0;
#if ZK_INTRINSICS
  if (__builtin_cpu_supports("f16c")) i = load_f16_x8(src, n, dst);
#endif
  for (; i < n; i++) dst[i] = zk_f16_to_f32(src[i]);
}
ZK_HOT static void load_bf16(const uint16_t *src, int64_t n, float *dst) {
  for (int64_t i = 0; i < n; i++) dst[i] = zk_bf16_to_f32(src[i]);
}
ZK_HOT static void store_f16(uint16_t *dst, int64_t n, const float *src) {
  int64_t i = 0;
#if ZK_INTRINSICS
  if (__builtin_cpu_supports("f16c")) i = store_f16_x8(dst, n, src);
#endif
  for (; i < n; i++) dst[i] = zk_f32_to_f16(src[i]);
}
ZK_HOT static void store_bf16(uint16_t *dst, int64_t n, const float *src) {
  for (int64_t i = 0; i < n; i++) dst[i] = zk_f32_to_bf16(src[i]);
}

/* k·src[i], one f32 product each, then the dtype's rounding. */
ZK_HOT static void store_f32_scaled(float *dst, int64_t n, const float *src, float k) {
  for (int64_t i = 0; i < n; i++) dst[i] = src[i] * k;
}
ZK_HOT static void store_bf16_scaled(uint16_t *dst, int64_t n, const float *src, float k) {
  for (int64_t i = 0; i < n; i++) dst[i] = zk_f32_to_bf16(src[i] * k);
}

void zk_cpu_load(const zk_rows *t, int64_t r, int64_t j, int64_t n, float *dst) {
  void *p = zk_row_ptr(t, r, j);
  switch (t->dtype) {
    case ZK_F32: memcpy(dst, p, (size_t)n * 4); break;
    case ZK_F16: load_f16(p, n, dst); break;
    case ZK_BF16: load_bf16(p, n, dst); break;
    default: break;
  }
}

void zk_cpu_store(const zk_rows *t, int64_t r, int64_t j, int64_t n, const float *src) {
  void *p = zk_row_ptr(t, r, j);
  switch (t->dtype) {
    case ZK_F32: if (p != (const void *)src) memmove(p, src, (size_t)n * 4); break;
    case ZK_F16: store_f16(p, n, src); break;
    case ZK_BF16: store_bf16(p, n, src); break;
    default: break;
  }
}

void zk_cpu_store_scaled(const zk_rows *t, int64_t r, int64_t j, int64_t n, const float *src, float k,
                         float *buf) {
  void *p = zk_row_ptr(t, r, j);
  switch (t->dtype) {
    case ZK_F32: store_f32_scaled(p, n, src, k); break;
    case ZK_BF16: store_bf16_scaled(p, n, src, k); break;
    case ZK_F16: /* the F16C stores take whole vectors: scaled into buf first */
      store_f32_scaled(buf, n, src, k);
      store_f16(p, n, buf);
      break;
    default: break;
  }
}

const float *zk_cpu_view(const zk_rows *t, int64_t r, int64_t j, int64_t n, float *buf) {
  if (t->dtype == ZK_F32) return (const float *)zk_row_ptr(t, r, j);
  zk_cpu_load(t, r, j, n, buf);
  return buf;
}

float *zk_cpu_target(const zk_rows *t, int64_t r, int64_t j, float *buf) {
  return t->dtype == ZK_F32 ? (float *)zk_row_ptr(t, r, j) : buf;
}

void zk_cpu_commit(const zk_rows *t, int64_t r, int64_t j, int64_t n, const float *target) {
  if (t->dtype != ZK_F32) zk_cpu_store(t, r, j, n, target);
}

static int thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* Small problems run on the calling thread: waking a team costs more. */
static int team_size(const zk_ctx *ctx, int64_t elements) {
  if (elements < (1 << 15)) return 1;
  return ctx->threads;
}

/* Chunk length of the map driver when a view is converted (f16/bf16).  A
 * converted input is read in a burst before fn runs, so memory and compute
 * take turns; in short chunks whose successor's lines are requested before
 * fn runs, the two overlap (silu_mul_residual bf16 on one core: 1.4 -> 0.9
 * ns an element).  f32 views are used in place: those maps take ZK_CHUNK. */
#define CONVERTED_CHUNK 256

static int any_converted(int n, const zk_rows *t) {
  for (int k = 0; k < n; k++)
    if (t[k].dtype != ZK_F32) return 1;
  return 0;
}

/* Asks for the cache lines of n elements of row r from column j. */
static void prefetch(const zk_rows *t, int64_t r, int64_t j, int64_t n) {
  const char *p = zk_row_ptr(t, r, j), *end = p + n * (int64_t)zk_dtype_size(t->dtype);
  for (; p < end; p += 64) __builtin_prefetch(p);
}

void zk_cpu_map(zk_ctx *ctx, int n_out, const zk_rows *out, int n_in, const zk_rows *in, zk_map_fn fn,
                const void *params) {
  const zk_rows *shape = n_out ? &out[0] : &in[0];
  int64_t rows = shape->rows, cols = shape->cols;
  if (rows == 0 || cols == 0) return;
  int64_t step = any_converted(n_in, in) || any_converted(n_out, out) ? CONVERTED_CHUNK : ZK_CHUNK;
  int64_t per_row = (cols + step - 1) / step, chunks = rows * per_row;
#pragma omp parallel for schedule(static) num_threads(team_size(ctx, rows * cols))
  for (int64_t c = 0; c < chunks; c++) {
    float buf[2 * ZK_MAP_MAX][ZK_CHUNK];
    int64_t r = c / per_row, j = (c % per_row) * step;
    int64_t n = cols - j < step ? cols - j : step;
    const float *src[ZK_MAP_MAX];
    float *dst[ZK_MAP_MAX];
    for (int k = 0; k < n_in; k++) src[k] = zk_cpu_view(&in[k], r, j, n, buf[k]);
    if (c + 1 < chunks) {
      int64_t r_next = (c + 1) / per_row, j_next = ((c + 1) % per_row) * step;
      int64_t n_next = cols - j_next < step ? cols - j_next : step;
      for (int k = 0; k < n_in; k++)
        if (in[k].dtype != ZK_F32) prefetch(&in[k], r_next, j_next, n_next);
    }
    for (int k = 0; k < n_out; k++) dst[k] = zk_cpu_target(&out[k], r, j, buf[ZK_MAP_MAX + k]);
    fn(dst, src, n, (uint64_t)(r * cols + j), params);
    for (int k = 0; k < n_out; k++) zk_cpu_commit(&out[k], r, j, n, dst[k]);
  }
}

zk_status zk_cpu_for_rows(zk_ctx *ctx, const zk_call *call, int64_t rows, int64_t cols,
                          int64_t scratch_floats, zk_row_fn fn, const void *arg) {
  if (rows == 0) return ZK_OK;
  int team = team_size(ctx, rows * cols);
  if (team > rows) team = (int)rows;
  int64_t per_thread = (scratch_floats + 15) & ~(int64_t)15;
  float *scratch = zk_workspace(ctx, (size_t)(team * per_thread + 16) * sizeof(float));
  if (!scratch) return zk_fail(call, ZK_ERR_OOM, "cannot allocate %lld bytes of scratch",
                               (long long)(team * per_thread * 4));
#pragma omp parallel num_threads(team)
  {
    float *mine = scratch + thread_id() * per_thread;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) fn(r, mine, arg);
  }
  return ZK_OK;
}

float *zk_cpu_param_f32(const zk_rows *p) {
  if (!zk_present(p)) return NULL;
  float *dst = malloc((size_t)(p->cols ? p->cols : 1) * sizeof(float));
  if (dst) zk_cpu_load(p, 0, 0, p->cols, dst);
  return dst;
}

/* At most about 2M floats of partial sums, blocks of at least 16 rows. */
typedef struct colsum_plan {
  int64_t rows_per_block;
  int64_t blocks;
} colsum_plan;

static colsum_plan plan_colsums(int64_t rows, int64_t cols) {
  int64_t max_blocks = cols > 0 ? (1 << 21) / cols : 1;
  if (max_blocks < 1) max_blocks = 1;
  if (max_blocks > 1024) max_blocks = 1024;
  int64_t per = (rows + max_blocks - 1) / max_blocks;
  if (per < 16) per = 16;
  colsum_plan plan = {per, rows > 0 ? (rows + per - 1) / per : 0};
  return plan;
}

ZK_HOT static void add_into(float *acc, const float *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) acc[i] += v[i];
}

zk_status zk_cpu_for_row_blocks(zk_ctx *ctx, const zk_call *call, int64_t rows, int64_t cols,
                                int64_t scratch_floats, int n_sums, zk_block_fn fn, const void *arg,
                                float **sums) {
  colsum_plan plan = plan_colsums(rows, cols);
  int team = team_size(ctx, rows * cols);
  if (team > plan.blocks) team = plan.blocks > 0 ? (int)plan.blocks : 1;
  int64_t per_thread = (scratch_floats + 15) & ~(int64_t)15;
  int64_t per_block = ((int64_t)n_sums * cols + 15) & ~(int64_t)15;
  size_t floats = (size_t)(team * per_thread + plan.blocks * per_block + 16);
  float *scratch = zk_workspace(ctx, floats * sizeof(float));
  if (!scratch) return zk_fail(call, ZK_ERR_OOM, "cannot allocate %zu bytes of scratch", floats * 4);
  float *partials = scratch + team * per_thread;
  memset(partials, 0, (size_t)(plan.blocks * per_block) * sizeof(float));
#pragma omp parallel num_threads(team)
  {
    float *mine = scratch + thread_id() * per_thread;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < plan.blocks; b++) {
      int64_t r0 = b * plan.rows_per_block, r1 = r0 + plan.rows_per_block;
      fn(r0, r1 < rows ? r1 : rows, mine, partials + b * per_block, arg);
    }
  }
  for (int k = 0; k < n_sums; k++) {
    if (!sums[k]) continue;
    memset(sums[k], 0, (size_t)cols * sizeof(float));
    for (int64_t b = 0; b < plan.blocks; b++) add_into(sums[k], partials + b * per_block + k * cols, cols);
  }
  return ZK_OK;
}

/* ------------------------------------------------------- row primitives */

#define LANES 16

static float fold_lanes(float *acc) {
  for (int w = LANES / 2; w; w >>= 1)
    for (int l = 0; l < w; l++) acc[l] += acc[l + w];
  return acc[0];
}

ZK_HOT float zk_cpu_sum(const float *v, int64_t n) {
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += v[i + l];
  for (int l = 0; i < n; i++, l++) acc[l] += v[i];
  return fold_lanes(acc);
}

ZK_HOT float zk_cpu_dot(const float *a, const float *b, int64_t n) {
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += a[i + l] * b[i + l];
  for (int l = 0; i < n; i++, l++) acc[l] += a[i] * b[i];
  return fold_lanes(acc);
}

/* A NaN anywhere makes the result NaN, the first NaN of v (the comparisons
 * alone would drop it).  Each lane counts its NaNs with a select, so a row
 * holding ±Inf (a masked row's -Inf) stays on the vector path; only a row
 * that really holds a NaN is scanned again for the first one. */
ZK_HOT float zk_cpu_max(const float *v, int64_t n) {
  float acc[LANES], nans[LANES];
  for (int l = 0; l < LANES; l++) acc[l] = -INFINITY, nans[l] = 0.0f;
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    /* gcc leaves this select scalar unless told the lanes are independent
     * (about 6x slower); each lane's operations are unchanged. */
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
      float x = v[i + l];
      acc[l] = x > acc[l] ? x : acc[l];
      nans[l] += x == x ? 0.0f : 1.0f;
    }
  for (int l = 0; i < n; i++, l++) {
    acc[l] = v[i] > acc[l] ? v[i] : acc[l];
    nans[l] += v[i] == v[i] ? 0.0f : 1.0f;
  }
  float m = acc[0], found = 0.0f;
  for (int l = 0; l < LANES; l++) {
    m = acc[l] > m ? acc[l] : m;
    found += nans[l];
  }
  if (found > 0.0f) {
    for (int64_t k = 0; k < n; k++)
      if (v[k] != v[k]) return v[k];
  }
  return m;
}

float zk_cpu_pairwise(zk_block_sum_fn f, const float *v, int64_t n, const void *arg) {
  if (n <= ZK_PAIRWISE_BLOCK) return f(v, n, arg);
  /* The first half takes a whole number of blocks, at least one: both halves are shorter than n. */
  int64_t half = (n / ZK_PAIRWISE_BLOCK + 1) / 2 * ZK_PAIRWISE_BLOCK;
  return zk_cpu_pairwise(f, v, half, arg) + zk_cpu_pairwise(f, v + half, n - half, arg);
}

static float plain_block_sum(const float *v, int64_t n, const void *arg) {
  (void)arg;
  return zk_cpu_sum(v, n);
}

float zk_cpu_sum_pairwise(const float *v, int64_t n) { return zk_cpu_pairwise(plain_block_sum, v, n, NULL); }

void zk_cpu_round_trip(zk_dtype t, float *v, int64_t n) {
  if (t == ZK_F16) {
    for (int64_t i = 0; i < n; i++) v[i] = zk_f16_to_f32(zk_f32_to_f16(v[i]));
  } else if (t == ZK_BF16) {
    for (int64_t i = 0; i < n; i++) v[i] = zk_bf16_to_f32(zk_f32_to_bf16(v[i]));
  }
}

/* The draws (w >> 8) of Philox blocks q0 .. q0 + nb - 1 (mod 2^62) under
 * seed: zk_dropout_draws (src/common/zk_math.h) for a batch of blocks, as
 * one loop over independent blocks that the compiler vectorizes.  Each
 * 32-bit word lives in a 64-bit lane (masked after every round), so the
 * products are plain 64-bit lane multiplies: with 32-bit lanes gcc widens
 * and narrows around every product, which halves the AVX-512 speed. */
ZK_HOT static void philox_draws(uint64_t seed, uint64_t q0, int64_t nb, uint32_t *draw) {
  const uint64_t lo = 0xffffffffu, q_mask = ((uint64_t)1 << 62) - 1;
  for (int64_t k = 0; k < nb; k++) {
    uint64_t q = (q0 + (uint64_t)k) & q_mask;
    uint64_t c0 = q & lo, c1 = q >> 32, c2 = 0, c3 = 0, k0 = seed & lo, k1 = seed >> 32;
    for (int round = 0; round < 10; round++) {
      uint64_t p0 = c0 * ZK_PHILOX_M0, p1 = c2 * ZK_PHILOX_M1;
      c0 = ((p1 >> 32) ^ c1 ^ k0) & lo;
      c1 = p1 & lo;
      c2 = ((p0 >> 32) ^ c3 ^ k1) & lo;
      c3 = p0 & lo;
      k0 = (k0 + ZK_PHILOX_W0) & lo;
      k1 = (k1 + ZK_PHILOX_W1) & lo;
    }
    draw[4 * k] = (uint32_t)(c0 >> 8);
    draw[4 * k + 1] = (uint32_t)(c1 >> 8);
    draw[4 * k + 2] = (uint32_t)(c2 >> 8);
    draw[4 * k + 3] = (uint32_t)(c3 >> 8);
  }
}

/* Element i uses counter n = start + i (mod 2^64): block n >> 2, word n & 3.
 * Blocks are drawn a batch at a time, then compared in a second loop. */
#define DROPOUT_BLOCKS 256

ZK_HOT void zk_cpu_dropout_keep(const zk_dropout_cfg *d, uint64_t first, int64_t n, uint8_t *keep) {
  uint32_t draw[4 * DROPOUT_BLOCKS];
  uint64_t start = d->offset + first; /* mod 2^64 */
  int64_t i = 0;
  while (i < n) {
    uint64_t c = start + (uint64_t)i;
    int64_t lead = (int64_t)(c & 3), left = n - i;
    int64_t blocks = (lead + left + 3) / 4;
    if (blocks > DROPOUT_BLOCKS) blocks = DROPOUT_BLOCKS;
    philox_draws(d->seed, c >> 2, blocks, draw);
    int64_t m = 4 * blocks - lead < left ? 4 * blocks - lead : left;
    for (int64_t t = 0; t < m; t++) keep[i + t] = !zk_dropout_drops(draw[lead + t], d->p);
    i += m;
  }
}
