/* Rotary position embeddings on the CPU (spec §7).
 *
 * Every op rotates heads of D values with one row of the cos/sin tables:
 * rotate_head below, on f32 views (an f32 tensor in place, f16/bf16 rows
 * converted once into scratch; the copied tail round-trips exactly).
 *
 * apply_rope[_interleaved][_grad] see a row (one head) per position, and
 * the rows sharing a position lie S apart.  A work item is a block of
 * POS_BLOCK positions × a block of GROUP_BLOCK row groups: its table rows
 * are converted once and serve every group, and each group reads
 * POS_BLOCK consecutive rows.  apply_gqa_rope and the cache updates see a
 * token a row ([H·D]); a work item is a token: its table rows are
 * converted once and serve all of its heads.  Index inputs are scanned
 * before anything is written (ZK_ERR_INDEX). */
#include <inttypes.h>
#include <string.h>
#include "../core/tensor.h"
#include "cpu.h"

/* --------------------------------------------------------- one head */

typedef struct rope_cfg {
  int64_t D, h;       /* head dim, rotary half width (R = 2h) */
  int interleaved;
  float sign;         /* +1 rotates by θ, -1 by -θ (the VJP) */
} rope_cfg;

/* Pairs (j, j + h) with column j.  y may be x: each pair is read before it
 * is written, and no pair overlaps another. */
ZK_HOT static void rotate_half(float *y, const float *x, const float *c, const float *s, float sign, int64_t h) {
#pragma omp simd
  for (int64_t j = 0; j < h; j++) {
    float a = x[j], b = x[j + h], sj = sign * s[j];
    y[j] = a * c[j] - b * sj;
    y[j + h] = a * sj + b * c[j];
  }
}

/* Pairs (2i, 2i + 1) with column i; y may be x. */
ZK_HOT static void rotate_interleaved(float *y, const float *x, const float *c, const float *s, float sign,
                                      int64_t h) {
#pragma omp simd
  for (int64_t i = 0; i < h; i++) {
    float a = x[2 * i], b = x[2 * i + 1], si = sign * s[i];
    y[2 * i] = a * c[i] - b * si;
    y[2 * i + 1] = a * si + b * c[i];
  }
}

/* f16 and bf16 heads rotated straight from storage, converting in
 * registers: staging them through f32 buffers costs as much as the math. */
#define ROTATE_16BIT(T, LOAD, STORE)                                                                         \
  ZK_HOT static void rotate_half_##T(uint16_t *y, const uint16_t *x, const float *c, const float *s,         \
                                     float sign, int64_t h) {                                                \
    _Pragma("omp simd") for (int64_t j = 0; j < h; j++) {                                                    \
      float a = LOAD(x[j]), b = LOAD(x[j + h]), sj = sign * s[j];                                            \
      y[j] = STORE(a * c[j] - b * sj);                                                                       \
      y[j + h] = STORE(a * sj + b * c[j]);                                                                   \
    }                                                                                                        \
  }                                                                                                          \
  ZK_HOT static void rotate_interleaved_##T(uint16_t *y, const uint16_t *x, const float *c, const float *s,  \
                                            float sign, int64_t h) {                                         \
    _Pragma("omp simd") for (int64_t i = 0; i < h; i++) {                                                    \
      float a = LOAD(x[2 * i]), b = LOAD(x[2 * i + 1]), si = sign * s[i];                                    \
      y[2 * i] = STORE(a * c[i] - b * si);                                                                   \
      y[2 * i + 1] = STORE(a * si + b * c[i]);                                                               \
    }                                                                                                        \
  }
ROTATE_16BIT(bf16, zk_bf16_to_f32, zk_f32_to_bf16)
ROTATE_16BIT(f16, zk_f16_to_f32, zk_f32_to_f16)

/* A head of a 16-bit tensor into a head of the same dtype (y may be x). */
static void rotate_head_16bit(const rope_cfg *k, zk_dtype t, uint16_t *y, const uint16_t *x, const float *c,
                              const float *s) {
  if (t == ZK_BF16) (k->interleaved ? rotate_interleaved_bf16 : rotate_half_bf16)(y, x, c, s, k->sign, k->h);
  else (k->interleaved ? rotate_interleaved_f16 : rotate_half_f16)(y, x, c, s, k->sign, k->h);
  if (y != x) memcpy(y + 2 * k->h, x + 2 * k->h, (size_t)(k->D - 2 * k->h) * sizeof *y);
}

static int same_16bit(const zk_rows *x, const zk_rows *y) { return x->dtype == y->dtype && x->dtype != ZK_F32; }

static void rotate_head(const rope_cfg *k, float *y, const float *x, const float *c, const float *s) {
  if (k->interleaved) rotate_interleaved(y, x, c, s, k->sign, k->h);
  else rotate_half(y, x, c, s, k->sign, k->h);
  if (y != x) memcpy(y + 2 * k->h, x + 2 * k->h, (size_t)(k->D - 2 * k->h) * sizeof(float));
}

/* Rotates the heads of row r of x into row `out_row` of y, all at one
 * table row (c, s).  buf: 2·x->cols floats. */
static void rotate_row(const rope_cfg *k, const zk_rows *x, int64_t r, const zk_rows *y, int64_t out_row,
                       const float *c, const float *s, float *buf) {
  int64_t n = x->cols;
  if (same_16bit(x, y)) {
    for (int64_t j = 0; j < n; j += k->D)
      rotate_head_16bit(k, x->dtype, (uint16_t *)zk_row_ptr(y, out_row, j), (const uint16_t *)zk_row_ptr(x, r, j), c, s);
    return;
  }
  const float *in = zk_cpu_view(x, r, 0, n, buf);
  float *out = zk_cpu_target(y, out_row, 0, buf + n);
  for (int64_t j = 0; j < n; j += k->D) rotate_head(k, out + j, in + j, c, s);
  zk_cpu_commit(y, out_row, 0, n, out);
}

static rope_cfg cfg_of(const zk_args *a, const zk_rows *cos, int grad) {
  rope_cfg k = {a->i[2], cos->cols, (int)a->i[1], grad ? -1.0f : 1.0f};
  return k;
}

/* ------------------------------------------------------------ apply_rope */

#define POS_BLOCK 64
#define GROUP_BLOCK 32

typedef struct apply_job {
  rope_cfg k;
  const zk_rows *x, *cos, *sin, *y;
  int64_t offset, S, groups, pos_blocks;
} apply_job;

static void apply_item(int64_t item, float *scratch, const void *arg) {
  const apply_job *j = arg;
  int64_t h = j->k.h, s0 = (item % j->pos_blocks) * POS_BLOCK, g0 = (item / j->pos_blocks) * GROUP_BLOCK;
  int64_t ns = j->S - s0 < POS_BLOCK ? j->S - s0 : POS_BLOCK;
  int64_t g1 = j->groups - g0 < GROUP_BLOCK ? j->groups : g0 + GROUP_BLOCK;
  const float *c[POS_BLOCK], *s[POS_BLOCK];
  for (int64_t i = 0; i < ns; i++) {
    c[i] = zk_cpu_view(j->cos, j->offset + s0 + i, 0, h, scratch + i * h);
    s[i] = zk_cpu_view(j->sin, j->offset + s0 + i, 0, h, scratch + (POS_BLOCK + i) * h);
  }
  float *buf = scratch + 2 * POS_BLOCK * h;
  /* Compact f32 or mixed-dtype rows of a group are one span, converted in
   * one go; other rows go one by one (16-bit ones convert in registers). */
  int64_t D = j->k.D;
  int whole = j->x->stride == D && j->y->stride == D && !same_16bit(j->x, j->y);
  for (int64_t g = g0; g < g1; g++) {
    int64_t r0 = g * j->S + s0;
    if (!whole) {
      for (int64_t i = 0; i < ns; i++) rotate_row(&j->k, j->x, r0 + i, j->y, r0 + i, c[i], s[i], buf);
      continue;
    }
    const float *in = zk_cpu_view(j->x, r0, 0, ns * D, buf);
    float *out = zk_cpu_target(j->y, r0, 0, buf + POS_BLOCK * D);
    for (int64_t i = 0; i < ns; i++) rotate_head(&j->k, out + i * D, in + i * D, c[i], s[i]);
    zk_cpu_commit(j->y, r0, 0, ns * D, out);
  }
}

static zk_status apply_rows(zk_ctx *ctx, const zk_call *call, const zk_args *a, int interleaved, int grad) {
  apply_job j = {cfg_of(a, &a->t[1], grad), &a->t[0], &a->t[1], &a->t[2], &a->t[3], a->i[0], a->i[3], 0, 0};
  j.k.interleaved = interleaved;
  j.groups = j.x->rows / j.S;
  j.pos_blocks = (j.S + POS_BLOCK - 1) / POS_BLOCK;
  int64_t items = j.pos_blocks * ((j.groups + GROUP_BLOCK - 1) / GROUP_BLOCK);
  return zk_cpu_for_rows(ctx, call, items, POS_BLOCK * GROUP_BLOCK * j.k.D, 2 * POS_BLOCK * (j.k.h + j.k.D),
                         apply_item, &j);
}

#define APPLY_ENTRY(name, interleaved, grad)                 \
  zk_status zk_cpu_##name(zk_ctx *ctx, const zk_args *a) {   \
    ZK_CPU_CALL(ctx, name);                                  \
    return apply_rows(ctx, call, a, interleaved, grad);      \
  }
APPLY_ENTRY(apply_rope, 0, 0)
APPLY_ENTRY(apply_rope_grad, 0, 1)
APPLY_ENTRY(apply_rope_interleaved, 1, 0)
APPLY_ENTRY(apply_rope_interleaved_grad, 1, 1)

/* ------------------------------------------------------- tokens of heads */

/* A token-major job: token t (a row of q and k) sits at position p(t); q
 * goes to row t of q_out, k and v to row slot(t, p) of k_out and v_out
 * (the token itself, or a cache slot).  v is copied, not rotated. */
typedef struct token_job {
  rope_cfg k;
  const zk_rows *q, *q_out, *kk, *k_out, *v, *v_out, *cos, *sin;
  const zk_rows *pos;          /* NULL: p = offset + t mod S */
  int64_t offset, S;
  int64_t limit;               /* positions must lie in [0, limit) */
  int64_t slots;               /* per-sequence caches: slot = t·slots + p */
  const zk_rows *block_table;  /* paged caches: slot = block·slots + p mod slots */
  int64_t blocks;              /* NB */
} token_job;

static int64_t index_at(const zk_rows *t, int64_t i) {
  const char *p = t->data;
  return t->dtype == ZK_I64 ? ((const int64_t *)p)[i] : ((const int32_t *)p)[i];
}

static int64_t position_of(const token_job *j, int64_t t) {
  return j->pos ? index_at(j->pos, t) : j->offset + t % j->S;
}

/* Where token t at position p writes k and v. */
static int64_t slot_of(const token_job *j, int64_t t, int64_t p) {
  if (j->block_table) return index_at(j->block_table, t * j->block_table->cols + p / j->slots) * j->slots + p % j->slots;
  if (j->slots) return t * j->slots + p;
  return t;
}

/* Every index the job will use, before anything is written. */
static zk_status check_indices(const zk_call *call, const token_job *j, int64_t tokens) {
  for (int64_t t = 0; j->pos && t < tokens; t++) {
    int64_t p = index_at(j->pos, t);
    if (p < 0 || p >= j->limit)
      return zk_fail(call, ZK_ERR_INDEX, "positions[%" PRId64 "] = %" PRId64 " is outside [0, %" PRId64 ")", t, p,
                     j->limit);
    if (!j->block_table) continue;
    int64_t mb = j->block_table->cols, lb = p / j->slots;
    if (lb >= mb)
      return zk_fail(call, ZK_ERR_INDEX,
                     "positions[%" PRId64 "] = %" PRId64 " falls in logical block %" PRId64
                     ", block_table has %" PRId64 " a sequence",
                     t, p, lb, mb);
    int64_t blk = index_at(j->block_table, t * mb + lb);
    if (blk < 0 || blk >= j->blocks)
      return zk_fail(call, ZK_ERR_INDEX, "block_table[%" PRId64 ", %" PRId64 "] = %" PRId64 " is outside [0, %" PRId64 ")",
                     t, lb, blk, j->blocks);
  }
  return ZK_OK;
}

/* v's row into a cache slot: a byte copy when the dtypes match, else
 * rounded into the cache's dtype.  buf: v->cols floats. */
static void copy_row(const zk_rows *v, int64_t r, const zk_rows *dst, int64_t slot, float *buf) {
  if (v->dtype == dst->dtype) {
    memcpy(zk_row_ptr(dst, slot, 0), zk_row_ptr(v, r, 0), (size_t)(v->cols * zk_dtype_size(v->dtype)));
    return;
  }
  zk_cpu_load(v, r, 0, v->cols, buf);
  zk_cpu_store(dst, slot, 0, v->cols, buf);
}

static void token_item(int64_t t, float *scratch, const void *arg) {
  const token_job *j = arg;
  int64_t h = j->k.h, p = position_of(j, t);
  const float *c = zk_cpu_view(j->cos, p, 0, h, scratch), *s = zk_cpu_view(j->sin, p, 0, h, scratch + h);
  float *buf = scratch + 2 * h;
  rotate_row(&j->k, j->q, t, j->q_out, t, c, s, buf);
  if (!zk_present(j->kk)) return;
  int64_t slot = slot_of(j, t, p);
  rotate_row(&j->k, j->kk, t, j->k_out, slot, c, s, buf);
  if (j->v) copy_row(j->v, t, j->v_out, slot, buf);
}

static zk_status run_tokens(zk_ctx *ctx, const zk_call *call, const token_job *j) {
  int64_t tokens = j->q->rows, widest = j->q->cols > j->kk->cols ? j->q->cols : j->kk->cols;
  ZK_CHECK(check_indices(call, j, tokens));
  return zk_cpu_for_rows(ctx, call, tokens, j->q->cols + 2 * j->kk->cols, 2 * j->k.h + 2 * widest, token_item, j);
}

static zk_status gqa(zk_ctx *ctx, const zk_call *call, const zk_args *a, int grad) {
  const zk_rows *pos = zk_present(&a->t[4]) ? &a->t[4] : NULL;
  token_job j = {cfg_of(a, &a->t[2], grad), &a->t[0], &a->t[5], &a->t[1], &a->t[6], NULL, NULL, &a->t[2], &a->t[3],
                 pos, a->i[0], a->i[3], a->t[2].rows, 0, NULL, 0};
  return run_tokens(ctx, call, &j);
}

zk_status zk_cpu_apply_gqa_rope(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, apply_gqa_rope);
  return gqa(ctx, call, a, 0);
}

zk_status zk_cpu_apply_gqa_rope_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, apply_gqa_rope_grad);
  return gqa(ctx, call, a, 1);
}

zk_status zk_cpu_rope_and_cache_update(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, rope_and_cache_update);
  int64_t smax = a->i[0], P = a->t[3].rows;
  token_job j = {cfg_of(a, &a->t[3], 0), &a->t[0], &a->t[8], &a->t[1], &a->t[6], &a->t[2], &a->t[7], &a->t[3],
                 &a->t[4], &a->t[5], 0, 1, smax < P ? smax : P, smax, NULL, 0};
  return run_tokens(ctx, call, &j);
}

zk_status zk_cpu_paged_rope_and_cache_update(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, paged_rope_and_cache_update);
  int64_t bs = a->i[0];
  token_job j = {cfg_of(a, &a->t[3], 0), &a->t[0], &a->t[9], &a->t[1], &a->t[7], &a->t[2], &a->t[8], &a->t[3],
                 &a->t[4], &a->t[5], 0, 1, a->t[3].rows, bs, &a->t[6], a->t[7].rows / bs};
  return run_tokens(ctx, call, &j);
}
