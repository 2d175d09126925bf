/* Test descriptors and extras of the rope family (spec §7).
 *
 * Cases are N-D (the harness's layout hook): from the sweep's R and D,
 *   apply_rope*      x [2, ⌈R/2⌉, D] (two groups of S = ⌈R/2⌉ positions;
 *                    1-D cases: [R, D]), tables [S + 3, h], offset 2;
 *   apply_gqa_rope*  q [2, S, 2, D], k [2, S, 1, D], positions [2, S];
 *   cache updates    q [R, 2, D], k, v [R, 1, D], positions [R], caches
 *                    [R, Smax = 3, 1, D] or paged [NB = 3R + 2, BS = 4, 1, D]
 *                    with block_table [R, 3] (distinct blocks, two unused).
 * The rotary half width h is D/2 in compact cases and D/4 (partial rotary,
 * R = D/2) in strided ones; tables hold real angles θ(p, i) = p·10000^(-i/h).
 * zkern bench takes the bar shape: 8192 tokens × 32 heads (8 KV heads) ×
 * 128. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/rope.h>
#include "../src/core/dtype.h"
#include "../src/ref/rope.h"
#include "harness/harness.h"

/* ------------------------------------------------------------ case shapes */

typedef enum rope_kind { APPLY, GQA, CACHE, PAGED } rope_kind;

static rope_kind kind_of(const zk_op_test *t) {
  if (!strncmp(t->op, "apply_gqa", 9)) return GQA;
  if (!strncmp(t->op, "apply", 5)) return APPLY;
  return strncmp(t->op, "paged", 5) ? CACHE : PAGED;
}

static int interleaved_op(const zk_op_test *t) { return strstr(t->op, "interleaved") != NULL; }
static int grad_op(const zk_op_test *t) { return strstr(t->op, "_grad") != NULL; }

/* Scalar slots: s[0] = offset, s[1] = interleaved; s[2] > 0 overrides the
 * table rows P, s[3] > 0 the paged block size (extras). */
typedef struct rope_dims {
  int64_t B, S, H, HKV, D, h, P;
  int64_t slots;   /* Smax, or the paged block size */
  int64_t MB, NB;  /* paged: blocks per sequence, blocks in the cache */
} rope_dims;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Heads a token in the many_heads extra (0: the sweep's 2 query heads, 1
 * KV head, B = 2 for apply_rope): the CUDA kernel serves several heads of
 * a token per thread, so full and partial groups need more heads. */
static int64_t many_heads;

static rope_dims dims_of(const zk_case *c) {
  rope_kind kind = kind_of(c->test);
  rope_dims d = {0};
  d.D = c->D;
  d.h = c->strided ? max64(1, c->D / 4) : c->D / 2;
  d.H = c->bench ? 32 : many_heads ? many_heads : 2;
  d.HKV = c->bench ? 8 : many_heads ? many_heads / 3 : 1;
  if (kind == APPLY) {
    d.B = c->bench ? 32 : c->one_d ? 1 : many_heads ? many_heads : 2;
    d.S = c->bench || c->one_d ? c->R : (c->R + 1) / 2;
    d.P = d.S + 3;
  } else if (kind == GQA) {
    d.B = c->bench ? 1 : 2;
    d.S = c->bench ? c->R : (c->R + 1) / 2;
    d.P = d.S + 3;
  } else if (kind == CACHE) {
    d.B = c->R;
    d.slots = 3;
    d.P = d.slots + 1;
  } else {
    d.B = c->R;
    d.slots = c->s[3] > 0 ? (int64_t)c->s[3] : 4;
    d.MB = c->bench ? 1 : 3;
    d.NB = d.B * d.MB + 2;
    d.P = d.MB * d.slots + 1;
  }
  if (c->s[2] > 0) d.P = (int64_t)c->s[2];
  return d;
}

/* Positions a case's tokens use: [0, P), or [0, min(Smax, P)), or the
 * pages of the block table. */
static int64_t position_limit(const zk_case *c) {
  rope_dims d = dims_of(c);
  switch (kind_of(c->test)) {
    case CACHE: return d.slots < d.P ? d.slots : d.P;
    case PAGED: return d.MB * d.slots < d.P ? d.MB * d.slots : d.P;
    default: return d.P;
  }
}

static void set_dims(zk_layout *L, int row_dims, int compact, int ndim, const int64_t *dims) {
  L->ndim = ndim;
  L->row_dims = row_dims;
  L->compact = compact;
  memcpy(L->dims, dims, (size_t)ndim * sizeof *dims);
}

static int named(const zk_case *c, int k, const char *a, const char *b) {
  return !strcmp(c->test->t[k].name, a) || (b && !strcmp(c->test->t[k].name, b));
}

static void rope_layout(const zk_case *c, int k, zk_layout *L) {
  rope_dims d = dims_of(c);
  rope_kind kind = kind_of(c->test);
  int64_t S = d.S, B = d.B, D = d.D;
  if (named(c, k, "cos", "sin")) {
    set_dims(L, 1, 0, 2, (int64_t[]){d.P, d.h});
  } else if (kind == APPLY) {
    if (c->one_d) set_dims(L, 1, 0, 2, (int64_t[]){S, D});
    else set_dims(L, 1, 0, 3, (int64_t[]){B, S, D});
  } else if (named(c, k, "positions", NULL)) {
    if (kind == GQA) set_dims(L, 1, 1, 2, (int64_t[]){B, S});
    else set_dims(L, 1, 1, 1, (int64_t[]){B});
  } else if (named(c, k, "block_table", NULL)) {
    set_dims(L, 1, 1, 2, (int64_t[]){B, d.MB});
    L->free_last = 1;
  } else if (named(c, k, "k_cache", "v_cache")) {
    if (kind == CACHE) set_dims(L, 2, 1, 4, (int64_t[]){B, d.slots, d.HKV, D});
    else set_dims(L, 2, 1, 4, (int64_t[]){d.NB, d.slots, d.HKV, D});
  } else {
    /* q, k, v and their outputs and gradients: rows of heads. */
    int64_t heads = c->test->t[k].name[0] == 'q' || !strncmp(c->test->t[k].name, "dq", 2) ? d.H : d.HKV;
    if (kind == GQA) set_dims(L, 2, 0, 4, (int64_t[]){B, S, heads, D});
    else set_dims(L, 2, 0, 3, (int64_t[]){B, heads, D});
  }
}

/* ----------------------------------------------------------------- inputs */

static uint64_t fill_seed(const zk_case *c, int k) { return c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k; }

static double angle(int64_t p, int64_t i, int64_t h) { return (double)p * pow(10000.0, -(double)i / (double)h); }

/* cos, sin: real angles; positions: random in range, with the first token
 * at 0 and the last at the limit - 1 (p_b ∈ {0, Smax - 1}); block_table:
 * distinct blocks in random order; anything else N(0, 1). */
static void rope_fill(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = fill_seed(c, k);
  int64_t cols = c->cols[k];
  if (named(c, k, "cos", "sin")) {
    int is_cos = named(c, k, "cos", NULL);
    for (int64_t e = 0; e < n; e++) {
      double th = angle(e / cols, e % cols, cols);
      v[e] = is_cos ? cos(th) : sin(th);
    }
  } else if (named(c, k, "positions", NULL)) {
    int64_t limit = position_limit(c);
    for (int64_t e = 0; e < n; e++) v[e] = (double)(zk_rand_u64(&rng) % (uint64_t)limit);
    if (n > 0) v[0] = 0;
    if (n > 1) v[n - 1] = (double)(limit - 1);
  } else if (named(c, k, "block_table", NULL)) {
    rope_dims d = dims_of(c);
    int64_t *perm = malloc((size_t)max64(d.NB, 1) * sizeof *perm);
    for (int64_t b = 0; b < d.NB; b++) perm[b] = b;
    for (int64_t b = d.NB - 1; b > 0; b--) {
      int64_t o = (int64_t)(zk_rand_u64(&rng) % (uint64_t)(b + 1)), t = perm[b];
      perm[b] = perm[o], perm[o] = t;
    }
    for (int64_t e = 0; e < n; e++) v[e] = (double)perm[e];
    free(perm);
  } else {
    for (int64_t e = 0; e < n; e++) v[e] = zk_rand_normal(&rng);
  }
}

/* --------------------------------------------------------- calls and refs */

static int64_t offset_of(const zk_case *c) { return (int64_t)c->s[0]; }
static int interleaved_of(const zk_case *c) { return interleaved_op(c->test) || c->s[1] != 0; }
static zk_ref_rope_pairs pairs_of(const zk_case *c) {
  return interleaved_of(c) ? ZK_REF_ROPE_INTERLEAVED : ZK_REF_ROPE_HALF;
}
static int dir_of(const zk_case *c) { return grad_op(c->test) ? -1 : 1; }

static zk_status call_apply(zk_ctx *ctx, zk_case *c) {
  zk_status (*fn)(zk_ctx *, const DLTensor *, const DLTensor *, const DLTensor *, DLTensor *, int64_t) =
      interleaved_op(c->test) ? (grad_op(c->test) ? zk_apply_rope_interleaved_grad : zk_apply_rope_interleaved)
                              : (grad_op(c->test) ? zk_apply_rope_grad : zk_apply_rope);
  return fn(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), offset_of(c));
}

static void ref_apply(zk_case *c) {
  rope_dims d = dims_of(c);
  int64_t rows = c->rows[0], *pos = malloc((size_t)max64(rows, 1) * sizeof *pos);
  for (int64_t r = 0; r < rows; r++) pos[r] = offset_of(c) + r % d.S;
  zk_ref_rope(pairs_of(c), dir_of(c), c->val[0], c->ref[3], c->refabs[3], rows, d.D, pos, c->val[1], c->val[2], d.h);
  free(pos);
}

static zk_status call_gqa(zk_ctx *ctx, zk_case *c) {
  if (grad_op(c->test))
    return zk_apply_gqa_rope_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), ZT(c, 6),
                                  offset_of(c), interleaved_of(c));
  return zk_apply_gqa_rope(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), ZT(c, 6), offset_of(c),
                           interleaved_of(c));
}

/* The position of each head row of a tensor of `heads` heads a token. */
static int64_t *head_positions(const zk_case *c, int64_t tokens, int64_t heads, const double *positions) {
  rope_dims d = dims_of(c);
  int64_t *pos = malloc((size_t)max64(tokens * heads, 1) * sizeof *pos);
  for (int64_t t = 0; t < tokens; t++)
    for (int64_t hh = 0; hh < heads; hh++)
      pos[t * heads + hh] = positions ? (int64_t)positions[t] : offset_of(c) + t % d.S;
  return pos;
}

/* Rotated heads: input slot `in` into output slot `out` (rows = tokens). */
static void ref_heads(zk_case *c, int in, int out, int64_t heads, const double *positions, int cos_slot) {
  rope_dims d = dims_of(c);
  int64_t tokens = c->rows[in], *pos = head_positions(c, tokens, heads, positions);
  zk_ref_rope(pairs_of(c), dir_of(c), c->val[in], c->ref[out], c->refabs[out], tokens * heads, d.D, pos,
              c->val[cos_slot], c->val[cos_slot + 1], d.h);
  free(pos);
}

static void ref_gqa(zk_case *c) {
  rope_dims d = dims_of(c);
  const double *positions = c->present[4] ? c->val[4] : NULL;
  ref_heads(c, 0, 5, d.H, positions, 2);
  if (c->present[1]) ref_heads(c, 1, 6, d.HKV, positions, 2);
}

enum { DQ = 0, DK, DV, DCOS, DSIN, DPOS };  /* decode-step slots */

static zk_status call_cache(zk_ctx *ctx, zk_case *c) {
  return zk_rope_and_cache_update(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), ZT(c, 6),
                                  ZT(c, 7), ZT(c, 8), interleaved_of(c));
}

static zk_status call_paged(zk_ctx *ctx, zk_case *c) {
  return zk_paged_rope_and_cache_update(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), ZT(c, 5), ZT(c, 6),
                                        ZT(c, 7), ZT(c, 8), ZT(c, 9), interleaved_of(c));
}

/* The cache slot (row of [slots·N, HKV·D]) token b writes at position p. */
static int64_t ref_slot(const zk_case *c, int64_t b, int64_t p) {
  rope_dims d = dims_of(c);
  if (kind_of(c->test) == CACHE) return b * d.slots + p;
  return (int64_t)c->val[6][b * d.MB + p / d.slots] * d.slots + p % d.slots;
}

/* q_out = rot(q); the K and V rows land in their slots (the rest of each
 * cache keeps its input values, as the harness set the reference up). */
static void ref_decode(zk_case *c, int kc, int vc, int q_out) {
  rope_dims d = dims_of(c);
  int64_t B = d.B, w = d.HKV * d.D;
  ref_heads(c, DQ, q_out, d.H, c->val[DPOS], DCOS);
  double *k = malloc((size_t)max64(B * w, 1) * sizeof *k), *kabs = malloc((size_t)max64(B * w, 1) * sizeof *kabs);
  int64_t *pos = head_positions(c, B, d.HKV, c->val[DPOS]);
  zk_ref_rope(pairs_of(c), 1, c->val[DK], k, kabs, B * d.HKV, d.D, pos, c->val[DCOS], c->val[DSIN], d.h);
  for (int64_t b = 0; b < B; b++) {
    int64_t slot = ref_slot(c, b, (int64_t)c->val[DPOS][b]);
    memcpy(c->ref[kc] + slot * w, k + b * w, (size_t)w * sizeof *k);
    memcpy(c->refabs[kc] + slot * w, kabs + b * w, (size_t)w * sizeof *k);
    memcpy(c->ref[vc] + slot * w, c->val[DV] + b * w, (size_t)w * sizeof *k);
  }
  free(k);
  free(kabs);
  free(pos);
}

static void ref_cache(zk_case *c) { ref_decode(c, 6, 7, 8); }
static void ref_paged(zk_case *c) { ref_decode(c, 7, 8, 9); }

/* Bench bytes of a decode step: q, q_out, k, v, positions and the block
 * table once, a table row per token, and only the cache slots written. */
static double decode_bytes(const zk_case *c) {
  rope_dims d = dims_of(c);
  double b = 0;
  for (int k = 0; k < c->test->nt; k++) {
    double es = zk_dtype_size(c->tdtype[k]);
    if (named(c, k, "cos", "sin")) b += (double)d.B * (double)d.h * es;
    else if (named(c, k, "k_cache", "v_cache")) b += (double)d.B * (double)d.HKV * (double)d.D * es;
    else b += (double)zk_case_numel(c, k) * es;
  }
  return b;
}

/* ------------------------------------------------------- bad index values */

static int64_t table_rows(const zk_case *c) { return dims_of(c).P; }
static int64_t minus_one(const zk_case *c) { (void)c; return -1; }
static int64_t cache_slots(const zk_case *c) { return dims_of(c).slots; }
static int64_t past_block_table(const zk_case *c) { return dims_of(c).MB * dims_of(c).slots; }
static int64_t cache_blocks(const zk_case *c) { return dims_of(c).NB; }

/* ------------------------------------------------------ central differences */

typedef struct rope_fd {
  zk_ref_rope_pairs pairs;
  int64_t rows, D, h;
  const int64_t *pos;
  const double *cos, *sin;
} rope_fd;

static void rope_fd_forward(const double *x, double *y, const void *ctx) {
  const rope_fd *f = ctx;
  zk_ref_rope(f->pairs, 1, x, y, NULL, f->rows, f->D, f->pos, f->cos, f->sin, f->h);
}

/* The VJP (rotation by -θ) against central differences of the forward,
 * with random angles, positions and a partial rotary width. */
static double fd_rope(uint64_t seed, zk_ref_rope_pairs pairs) {
  enum { ROWS = 5, D = 9, H = 3, P = 4 };
  double x[ROWS * D], dy[ROWS * D], dx[ROWS * D], c[P * H], s[P * H];
  int64_t pos[ROWS];
  for (int i = 0; i < ROWS * D; i++) x[i] = zk_rand_normal(&seed), dy[i] = zk_rand_normal(&seed);
  for (int i = 0; i < P * H; i++) {
    double th = zk_rand_uniform(&seed, -3.2, 3.2);
    c[i] = cos(th), s[i] = sin(th);
  }
  for (int r = 0; r < ROWS; r++) pos[r] = (int64_t)(zk_rand_u64(&seed) % P);
  rope_fd f = {pairs, ROWS, D, H, pos, c, s};
  zk_ref_rope(pairs, -1, dy, dx, NULL, ROWS, D, pos, c, s, H);
  return zk_fd_vjp_error(rope_fd_forward, &f, x, ROWS * D, ROWS * D, dy, dx);
}

static double fd_half(uint64_t seed) { return fd_rope(seed, ZK_REF_ROPE_HALF); }
static double fd_interleaved(uint64_t seed) { return fd_rope(seed, ZK_REF_ROPE_INTERLEAVED); }
static double fd_both(uint64_t seed) { return fmax(fd_half(seed), fd_interleaved(seed ^ 0x5bd1e995)); }

/* ---------------------------------------------------------------- descriptors */

#define HEADS(name, opt) {name, ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_CASE, opt, 0, ZK_DIST_CUSTOM, 0, 0}
#define TABLE(name) {name, ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_PARAM, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define INDEX(name, opt) {name, ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_INDEX, opt, 0, ZK_DIST_CUSTOM, 0, 0}
#define BLOCKS {"block_table", ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_I32, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define OUT(name, opt, tol) {name, ZK_OUT, ZK_SHAPE_CUSTOM, ZK_DT_CASE, opt, tol, 0, 0, 0}
#define CACHE_T(name, tol) {name, ZK_INOUT, ZK_SHAPE_CUSTOM, ZK_DT_PARAM, 0, tol, ZK_DIST_CUSTOM, 0, 0}
#define BAR .bench_rows = 8192, .bench_cols = 128
#define COMMON .layout = rope_layout, .fill = rope_fill, .min_cols = 2, BAR

#define APPLY_TEST(name, x, y, tol, fd)                                                          \
  {.op = name, .t = {HEADS(x, 0), TABLE("cos"), TABLE("sin"), OUT(y, 0, tol)}, .nt = 4,        \
   .scalars = {2}, .call = call_apply, .ref = ref_apply, .fd_check = fd, .alias_of = {[3] = 1}, \
   .bad = {{0, -1, ZK_ERR_ARG}, {0, 4, ZK_ERR_SHAPE}}, .nbad = 2, COMMON}

/* k and k_out are absent together (optional group 2). */
#define GQA_TEST(name, q, k, q_out, k_out, tol, fd)                                                            \
  {.op = name,                                                                                                 \
   .t = {HEADS(q, 0), HEADS(k, 2), TABLE("cos"), TABLE("sin"), INDEX("positions", 1), OUT(q_out, 0, tol),      \
         OUT(k_out, 2, tol)},                                                                                  \
   .nt = 7, .scalars = {2}, .call = call_gqa, .ref = ref_gqa, .fd_check = fd, .alias_of = {[5] = 1, [6] = 2}, \
   .bad = {{0, -1, ZK_ERR_ARG}}, .nbad = 1,                                                                    \
   .bad_index = {{4, 0, table_rows, "a position >= P"}, {4, -1, minus_one, "a negative position"}},           \
   .nbad_index = 2, .max_cols = 4097, COMMON}

static const zk_op_test rope_tests[] = {
    APPLY_TEST("apply_rope", "x", "y", ZK_TOL_ACC, NULL),
    APPLY_TEST("apply_rope_interleaved", "x", "y", ZK_TOL_ACC, NULL),
    GQA_TEST("apply_gqa_rope", "q", "k", "q_out", "k_out", ZK_TOL_ACC, NULL),
    {.op = "rope_and_cache_update",
     .t = {HEADS("q", 0), HEADS("k", 0), HEADS("v", 0), TABLE("cos"), TABLE("sin"), INDEX("positions", 0),
           CACHE_T("k_cache", ZK_TOL_ACC), CACHE_T("v_cache", ZK_TOL_EXACT), OUT("q_out", 0, ZK_TOL_ACC)},
     .nt = 9,
     .call = call_cache,
     .ref = ref_cache,
     .alias_of = {[8] = 1},
     .bad_index = {{5, 0, cache_slots, "a position >= Smax"}, {5, -1, minus_one, "a negative position"}},
     .nbad_index = 2,
     .max_cols = 4097,
     .min_bytes = decode_bytes,
     COMMON},
    {.op = "paged_rope_and_cache_update",
     .t = {HEADS("q", 0), HEADS("k", 0), HEADS("v", 0), TABLE("cos"), TABLE("sin"), INDEX("positions", 0), BLOCKS,
           CACHE_T("k_cache", ZK_TOL_ACC), CACHE_T("v_cache", ZK_TOL_EXACT), OUT("q_out", 0, ZK_TOL_ACC)},
     .nt = 10,
     .call = call_paged,
     .ref = ref_paged,
     .alias_of = {[9] = 1},
     .bad_index = {{5, 0, table_rows, "a position >= P"},
                   {5, 0, past_block_table, "a position past the block table"},
                   {6, 0, cache_blocks, "a block id >= NB"},
                   {6, 0, minus_one, "a negative block id"}},
     .nbad_index = 4,
     .max_cols = 4097,
     .min_bytes = decode_bytes,
     COMMON},
    APPLY_TEST("apply_rope_grad", "dy", "dx", ZK_TOL_GRAD_ACC, fd_half),
    APPLY_TEST("apply_rope_interleaved_grad", "dy", "dx", ZK_TOL_GRAD_ACC, fd_interleaved),
    GQA_TEST("apply_gqa_rope_grad", "dq_out", "dk_out", "dq", "dk", ZK_TOL_GRAD_ACC, fd_both),
};
#define N_OPS ((int)(sizeof rope_tests / sizeof rope_tests[0]))


/* ================================================================ extras
 * The "Tests must check" items of spec §7 beyond the sweep (which covers
 * ACC against float64, in-place aliases, partial rotary, random positions,
 * p_b ∈ {0, Smax - 1}, untouched cache bytes, bad indices and both index
 * dtypes). */

static const zk_dtype all_dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

/* A copy of op's descriptor with scalars s[0..3] replaced where given (NAN = keep). */
static zk_op_test variant(const char *op, double offset, double interleaved, double table_rows, double block) {
  zk_op_test t = *zk_find_test(op);
  double v[4] = {offset, interleaved, table_rows, block};
  for (int i = 0; i < 4; i++)
    if (!isnan(v[i])) t.scalars[i] = v[i];
  return t;
}

static int run(const zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt, int64_t R, int64_t D, int strided,
               uint64_t seed, char *msg, size_t cap) {
  zk_case_opts o = {be, dt, dt, R, D, strided, 0, seed, -1, -1, 0, 0};
  return zk_run_case(t, ctx, &o, msg, cap);
}

/* S ∈ {1, 7, 128} (R = 2S rows in two groups), and decode at offset P - 1. */
static int extra_sequence_lengths(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"apply_rope", "apply_rope_interleaved", "apply_rope_grad", "apply_gqa_rope"};
  static const int64_t S[] = {1, 7, 128};
  for (int o = 0; o < 4; o++)
    for (int d = 0; d < 3; d++) {
      zk_op_test t = variant(ops[o], NAN, NAN, NAN, NAN);
      for (int i = 0; i < 3; i++)
        if (run(&t, ctx, be, all_dtypes[d], 2 * S[i], 64, i == 1, 11 + (uint64_t)i, msg, cap)) return 1;
      /* S = 1 at the last table row: P = 4, offset 3. */
      zk_op_test last = variant(ops[o], 3, NAN, NAN, NAN);
      if (run(&last, ctx, be, all_dtypes[d], 2, 64, 0, 17, msg, cap)) return 1;
    }
  return 0;
}

/* Both pairings of the GQA ops (and of the cache updates) over a few shapes. */
static int extra_gqa_pairings(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"apply_gqa_rope", "apply_gqa_rope_grad", "rope_and_cache_update",
                              "paged_rope_and_cache_update"};
  for (int o = 0; o < 4; o++)
    for (int d = 0; d < 3; d++) {
      zk_op_test t = variant(ops[o], NAN, 1, NAN, NAN);
      if (run(&t, ctx, be, all_dtypes[d], 9, 64, 0, 21, msg, cap) || run(&t, ctx, be, all_dtypes[d], 5, 33, 1, 22, msg, cap))
        return 1;
    }
  return 0;
}

/* Every op with 9 and 18 query heads (3 and 6 KV heads; apply_rope rows
 * of 9 and 18 batches): groups of heads a thread that are full, partial
 * and single, for every dtype and both the vector and the scalar path.
 * R = 70 (apply: S = 35 positions of each batch) gives more tokens than a
 * CUDA block has thread rows, so where the rows walk the tokens of a head
 * group first (apply's [B, S, D]) blocks start and end inside a group. */
static int extra_many_heads(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"apply_rope", "apply_rope_interleaved", "apply_rope_grad",
                              "apply_rope_interleaved_grad", "apply_gqa_rope", "apply_gqa_rope_grad",
                              "rope_and_cache_update", "paged_rope_and_cache_update"};
  static const int64_t heads[] = {9, 18};
  int fail = 0;
  for (int h = 0; h < 2 && !fail; h++) {
    many_heads = heads[h];
    for (int o = 0; o < 8 && !fail; o++)
      for (int d = 0; d < 3 && !fail; d++) {
        zk_op_test t = variant(ops[o], NAN, NAN, NAN, NAN);
        fail = run(&t, ctx, be, all_dtypes[d], 6, 128, 0, 61 + (uint64_t)(h * 32 + o * 4 + d), msg, cap) ||
               run(&t, ctx, be, all_dtypes[d], 70, 128, 0, 63 + (uint64_t)(h * 32 + o * 4 + d), msg, cap) ||
               run(&t, ctx, be, all_dtypes[d], 5, 33, 1, 62 + (uint64_t)(h * 32 + o * 4 + d), msg, cap);
      }
  }
  many_heads = 0;
  return fail;
}

/* Runs op on a case of R × D whose x values are `x` (NULL: the case's own)
 * and returns the case run (caller frees); 0 on success. */
static const double *fill_source;
static void fill_from_source(zk_case *c, int k, double *v, int64_t n) {
  if (k == 0) memcpy(v, fill_source, (size_t)n * sizeof *v);
  else rope_fill(c, k, v, n);
}

static int run_on(zk_case *c, zk_op_test *t, const char *op, zk_ctx *ctx, zk_backend be, zk_dtype dt, int64_t R,
                  int64_t D, const double *x, double offset, char *msg, size_t cap) {
  *t = variant(op, offset, NAN, NAN, NAN);
  if (x) {
    t->fill = fill_from_source;
    fill_source = x;
  }
  zk_case_opts o = {be, dt, ZK_F32, R, D, 0, 0, 31, -1, -1, 0, 0};
  if (zk_case_setup(c, t, &o, msg, cap)) return 1;
  return zk_case_run_ok(c, ctx, msg, cap);
}

/* Frees a case that may never have been set up (zeroed) or already freed. */
static void drop(zk_case *c) {
  if (c->test) zk_case_free(c);
}

/* The interleaved rotation of x equals the half rotation of its
 * de-interleaved permutation (x[2i] -> i, x[2i+1] -> h + i), permuted back. */
static int extra_interleaved_is_permuted_half(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  for (int d = 0; d < 3; d++) {
    int64_t R = 6, D = 34, h = D / 2, rows = 6;  /* [2, 3, 34] */
    zk_case a = {0}, b = {0};
    zk_op_test ta, tb;
    if (run_on(&a, &ta, "apply_rope_interleaved", ctx, be, all_dtypes[d], R, D, NULL, NAN, msg, cap)) return drop(&a), 1;
    double *perm = malloc((size_t)(rows * D) * sizeof *perm), *want = malloc((size_t)(rows * D) * sizeof *want);
    for (int64_t r = 0; r < rows; r++)
      for (int64_t i = 0; i < h; i++) {
        perm[r * D + i] = a.val[0][r * D + 2 * i];
        perm[r * D + h + i] = a.val[0][r * D + 2 * i + 1];
      }
    int fail = run_on(&b, &tb, "apply_rope", ctx, be, all_dtypes[d], R, D, perm, NAN, msg, cap);
    for (int64_t r = 0; !fail && r < rows; r++)
      for (int64_t i = 0; i < h; i++) {
        want[r * D + 2 * i] = b.got[3][r * D + i];
        want[r * D + 2 * i + 1] = b.got[3][r * D + h + i];
      }
    /* The same f32 operations on the same values: equal up to contraction
     * (ACC bound with the half rotation's result as the reference). */
    if (!fail) {
      a.test->ref(&a);
      memcpy(a.ref[3], want, (size_t)(rows * D) * sizeof *want);
      fail = zk_case_check(&a, msg, cap);
    }
    free(perm);
    free(want);
    drop(&a);
    drop(&b);
    if (fail) return 1;
  }
  return 0;
}

/* rope then its grad (rotation by θ, then by -θ) gives x back; position 0
 * (cos 1, sin 0) is the identity; a rotation keeps every pair's norm. */
static int extra_rotation_properties(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[][2] = {{"apply_rope", "apply_rope_grad"},
                                 {"apply_rope_interleaved", "apply_rope_interleaved_grad"}};
  for (int o = 0; o < 2; o++) {
    int64_t R = 40, D = 64, n = 20 * 2 * D, h = D / 2;
    int inter = o == 1;
    zk_case fwd = {0}, back = {0}, zero = {0};
    zk_op_test tf, tb, tz;
    if (run_on(&fwd, &tf, ops[o][0], ctx, be, ZK_F32, R, D, NULL, NAN, msg, cap)) return drop(&fwd), 1;
    int fail = run_on(&back, &tb, ops[o][1], ctx, be, ZK_F32, R, D, fwd.got[3], NAN, msg, cap);
    for (int64_t i = 0; !fail && i < n; i++)
      if (fabs(back.got[3][i] - fwd.val[0][i]) > 1e-5 * (1 + fabs(fwd.val[0][i])))
        fail = snprintf(msg, cap, "%s then %s: element %lld is %.9g, x was %.9g", ops[o][0], ops[o][1], (long long)i,
                        back.got[3][i], fwd.val[0][i]) > 0;
    for (int64_t r = 0; !fail && r < n / D; r++)
      for (int64_t i = 0; i < h; i++) {
        int64_t ja = r * D + (inter ? 2 * i : i), jb = r * D + (inter ? 2 * i + 1 : i + h);
        double before = hypot(fwd.val[0][ja], fwd.val[0][jb]), after = hypot(fwd.got[3][ja], fwd.got[3][jb]);
        if (fabs(after - before) > 1e-5 * (1 + before)) {
          fail = snprintf(msg, cap, "%s: pair %lld of row %lld has norm %.9g, was %.9g", ops[o][0], (long long)i,
                          (long long)r, after, before) > 0;
          break;
        }
      }
    drop(&back);
    /* Offset 0 and S = 1: every row at position 0. */
    if (!fail && !(fail = run_on(&zero, &tz, ops[o][0], ctx, be, ZK_BF16, 2, D, NULL, 0, msg, cap))) {
      for (int64_t i = 0; !fail && i < 2 * D; i++)
        if (zero.got[3][i] != zero.val[0][i])
          fail = snprintf(msg, cap, "%s at position 0: element %lld is %.9g, x is %.9g", ops[o][0], (long long)i,
                          zero.got[3][i], zero.val[0][i]) > 0;
    }
    drop(&zero);
    drop(&fwd);
    if (fail) return 1;
  }
  return 0;
}

/* The copied tail (elements R..D-1, partial rotary in strided cases) is
 * EXACT: bit for bit x, also where q and the caches differ in dtype. */
static int extra_tail_exact(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  for (int i = 0; i < N_OPS; i++) {
    const zk_op_test *t = &rope_tests[i];
    int out = kind_of(t) == APPLY ? 3 : kind_of(t) == GQA ? 5 : t->nt - 1;
    for (int d = 0; d < 3; d++) {
      zk_case c;
      zk_case_opts o = {be, all_dtypes[d], all_dtypes[(d + 1) % 3], 5, 41, 1, 0, 77 + (uint64_t)d, -1, -1, 0, 0};
      if (zk_case_setup(&c, t, &o, msg, cap)) return 1;
      int fail = zk_case_run_ok(&c, ctx, msg, cap);
      rope_dims dm = dims_of(&c);
      for (int64_t e = 0; !fail && e < zk_case_numel(&c, out); e++) {
        int64_t j = e % dm.D;
        if (j >= 2 * dm.h && memcmp(&c.got[out][e], &c.val[0][e], sizeof(double)))
          fail = snprintf(msg, cap, "%s %s: tail element %lld is %.9g, input %.9g", t->op, zk_dtype_name(all_dtypes[d]),
                          (long long)e, c.got[out][e], c.val[0][e]) > 0;
      }
      zk_case_free(&c);
      if (fail) return 1;
    }
  }
  return 0;
}

/* q and k as row-strided views of one fused [B·S, (H + 2·HKV)·D]
 * projection (q at column 0, k at H·D, v after it, untouched), rotated in
 * place; checked against the reference of the compact case. */
static int extra_fused_qkv(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  for (int d = 0; d < 3; d++) {
    zk_case c;
    zk_case_opts o = {be, all_dtypes[d], all_dtypes[d], 7, 64, 0, 0, 91 + (uint64_t)d, -1, -1, 0, 1};
    const zk_op_test *t = zk_find_test("apply_gqa_rope");
    if (zk_case_setup(&c, t, &o, msg, cap)) return 1;
    rope_dims dm = dims_of(&c);
    int64_t T = dm.B * dm.S, W = (dm.H + 2 * dm.HKV) * dm.D, es = zk_dtype_size(c.dtype);
    size_t bytes = (size_t)(T * W * es);
    char *fused = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) fused[i] = (char)(i * 131 + 7);  /* v: arbitrary, must survive */
    char *before = malloc(bytes);
    for (int64_t tk = 0; tk < T; tk++) {
      memcpy(fused + tk * W * es, (char *)c.host[0] + tk * dm.H * dm.D * es, (size_t)(dm.H * dm.D * es));
      memcpy(fused + (tk * W + dm.H * dm.D) * es, (char *)c.host[1] + tk * dm.HKV * dm.D * es,
             (size_t)(dm.HKV * dm.D * es));
    }
    memcpy(before, fused, bytes);
    void *dev = NULL, *data = fused;
    if (be == ZK_BACKEND_CUDA) {
      if (zk_dev_alloc(&dev, bytes) || zk_dev_upload(dev, fused, bytes)) return snprintf(msg, cap, "device memory") > 0;
      data = dev;
    }
    int64_t qs[4] = {dm.B, dm.S, dm.H, dm.D}, ks[4] = {dm.B, dm.S, dm.HKV, dm.D};
    int64_t str[4] = {dm.S * W, W, dm.D, 1};
    DLTensor q = c.dl[0], k = c.dl[1];
    q.data = data, q.shape = qs, q.strides = str, q.byte_offset = 0;
    k.data = data, k.shape = ks, k.strides = str, k.byte_offset = (uint64_t)(dm.H * dm.D * es);
    zk_status s = zk_apply_gqa_rope(ctx, &q, &k, ZT(&c, 2), ZT(&c, 3), ZT(&c, 4), &q, &k, 0, 0);
    if (s == ZK_OK && be == ZK_BACKEND_CUDA) s = zk_ctx_synchronize(ctx);
    if (be == ZK_BACKEND_CUDA) zk_dev_download(fused, dev, bytes), zk_dev_free(dev);
    int fail = s != ZK_OK;
    if (fail) snprintf(msg, cap, "fused QKV views: %s: %s", zk_status_name(s), zk_ctx_last_error(ctx));
    /* Read the views back into the case's outputs and check them. */
    for (int64_t tk = 0; !fail && tk < T; tk++) {
      memcpy((char *)c.host[5] + tk * dm.H * dm.D * es, fused + tk * W * es, (size_t)(dm.H * dm.D * es));
      memcpy((char *)c.host[6] + tk * dm.HKV * dm.D * es, fused + (tk * W + dm.H * dm.D) * es,
             (size_t)(dm.HKV * dm.D * es));
      int64_t v0 = (dm.H + dm.HKV) * dm.D * es;
      if (memcmp(fused + tk * W * es + v0, before + tk * W * es + v0, (size_t)(dm.HKV * dm.D * es)))
        fail = snprintf(msg, cap, "fused QKV views: v of token %lld was written", (long long)tk) > 0;
    }
    if (!fail) {
      for (int k2 = 5; k2 <= 6; k2++)
        for (int64_t e = 0; e < zk_case_numel(&c, k2); e++) {
          double v;
          if (c.tdtype[k2] == ZK_F32) v = ((float *)c.host[k2])[e];
          else if (c.tdtype[k2] == ZK_F16) v = zk_f16_to_f32(((uint16_t *)c.host[k2])[e]);
          else v = zk_bf16_to_f32(((uint16_t *)c.host[k2])[e]);
          c.got[k2][e] = v;
        }
      c.test->ref(&c);
      fail = zk_case_check(&c, msg, cap);
    }
    free(fused);
    free(before);
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* The spec's paged example: BS = 16, b = 0 at position 10 writes block
 * block_table[0, 0] slot 10; b = 1 at position 20 writes logical block 1,
 * slot 4.  (The harness checks every other cache byte unchanged.) */
static void fill_paged_example(zk_case *c, int k, double *v, int64_t n) {
  rope_fill(c, k, v, n);
  if (named(c, k, "positions", NULL)) v[0] = 10, v[1] = 20;
}

static int extra_paged_example(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  zk_op_test t = variant("paged_rope_and_cache_update", NAN, NAN, NAN, 16);
  t.fill = fill_paged_example;
  zk_case c;
  zk_case_opts o = {be, ZK_BF16, ZK_F32, 2, 64, 0, 0, 5, -1, -1, 0, 0};
  if (zk_case_setup(&c, &t, &o, msg, cap)) return 1;
  int fail = zk_case_run_checked(&c, ctx, msg, cap);
  int64_t w = c.cols[8], mb = c.cols[6];
  int64_t slots[2] = {(int64_t)c.val[6][0] * 16 + 10, (int64_t)c.val[6][mb + 1] * 16 + 4};
  for (int b = 0; !fail && b < 2; b++)
    for (int64_t j = 0; j < w; j++)
      if (c.got[8][slots[b] * w + j] != c.val[2][b * w + j]) {
        fail = snprintf(msg, cap, "paged example: v of token %d is not at cache row %lld", b, (long long)slots[b]) > 0;
        break;
      }
  zk_case_free(&c);
  return fail;
}

/* With fewer table rows than cache slots (P < Smax) the bound is P. */
static int extra_cache_bound_is_min(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  zk_op_test t = variant("rope_and_cache_update", NAN, NAN, 2, NAN);  /* P = 2 < Smax = 3 */
  if (run(&t, ctx, be, ZK_F32, 4, 16, 0, 3, msg, cap)) return 1;
  zk_case c;
  zk_case_opts o = {be, ZK_F32, ZK_F32, 4, 16, 0, 0, 3, -1, -1, 0, 0};
  if (zk_case_setup(&c, &t, &o, msg, cap)) return 1;
  zk_case_set_index(&c, DPOS, 1, 2);  /* < Smax, but no table row */
  zk_status s = t.call(ctx, &c);
  if (s == ZK_OK && be == ZK_BACKEND_CUDA) s = zk_ctx_synchronize(ctx);
  int fail = s != ZK_ERR_INDEX;
  if (fail) snprintf(msg, cap, "position 2 with P = 2 < Smax = 3 gave %s", zk_status_name(s));
  zk_case_free(&c);
  return fail;
}

/* A bad position on CUDA's lean path (16-bit, tables of the same dtype,
 * R = D, 16-byte rows: D = 128 here; the sweep's bad indices are f32): the
 * status is INDEX, and the bad token's rows of q_out and k_out are not
 * written (the CPU writes nothing; CUDA skips that token). */
static int extra_bad_position_16bit(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  for (int d = 1; d < 3; d++) {
    const zk_op_test *t = zk_find_test("apply_gqa_rope");
    zk_case c;
    zk_case_opts o = {be, all_dtypes[d], all_dtypes[d], 6, 128, 0, 0, 41 + (uint64_t)d, -1, -1, 0, 0};
    if (zk_case_setup(&c, t, &o, msg, cap)) return 1;
    const int64_t bad = 4;  /* token (1, 1) of [B = 2, S = 3] */
    zk_case_set_index(&c, 4, bad, table_rows(&c));
    zk_status s = t->call(ctx, &c);
    if (s == ZK_OK && be == ZK_BACKEND_CUDA) s = zk_ctx_synchronize(ctx);
    int fail = s != ZK_ERR_INDEX;
    if (fail) snprintf(msg, cap, "apply_gqa_rope %s, position P at token %lld: %s, expected INDEX",
                       zk_dtype_name(all_dtypes[d]), (long long)bad, zk_status_name(s));
    for (int k = 5; !fail && k <= 6; k++) {
      if (be == ZK_BACKEND_CUDA) zk_dev_download(c.host[k], c.dev[k], c.bytes[k]);
      size_t es = (size_t)zk_dtype_size(c.tdtype[k]), row = (size_t)c.cols[k] * es;
      const unsigned char *r = (const unsigned char *)c.host[k] + (size_t)(bad * c.stride[k]) * es;
      for (size_t b = 0; b < row; b++)
        if (r[b] != 0xFF) {
          fail = snprintf(msg, cap, "apply_gqa_rope %s: %s of the token at a bad position was written",
                          zk_dtype_name(all_dtypes[d]), t->t[k].name) > 0;
          break;
        }
    }
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

/* The op-specific shape and argument errors, each on a fresh case: the
 * status, and nothing written. */
typedef void (*mutate_fn)(zk_case *c);
static void x_rank_1(zk_case *c) { c->dl[0].ndim = 1, c->dl[0].shape = &c->shape[0][2]; }
static void rotary_wider_than_d(zk_case *c) { c->shape[1][1] = c->shape[2][1] = c->D; }
static void heads_not_dividing(zk_case *c) { c->shape[0][2] = c->shape[5][2] = 3, c->shape[1][2] = c->shape[6][2] = 2; }
static void k_out_missing(zk_case *c) { c->present[6] = 0; }
static void k_out_without_k(zk_case *c) { c->present[1] = 0; }
static void offset_past_table(zk_case *c) { c->present[4] = 0, c->s[0] = 4; }
static void positions_not_b_s(zk_case *c) { c->shape[4][1] -= 1; }
static void cache_batch(zk_case *c) { c->shape[6][0] += 1, c->shape[7][0] += 1; }
static void cache_dtypes_differ(zk_case *c) { c->dl[7].dtype = (DLDataType){kDLFloat, c->dl[6].dtype.bits == 16 ? 32 : 16, 1}; }
static void block_size_0(zk_case *c) { c->shape[7][1] = c->shape[8][1] = 0; }

static int extra_shape_errors(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const struct {
    const char *op, *what;
    mutate_fn mutate;
    zk_status want;
  } cases[] = {
      {"apply_rope", "x of rank 1", x_rank_1, ZK_ERR_SHAPE},
      {"apply_rope_interleaved_grad", "R > D", rotary_wider_than_d, ZK_ERR_SHAPE},
      {"apply_gqa_rope", "H % HKV != 0", heads_not_dividing, ZK_ERR_SHAPE},
      {"apply_gqa_rope", "k without k_out", k_out_missing, ZK_ERR_ARG},
      {"apply_gqa_rope_grad", "dk without dk_out", k_out_missing, ZK_ERR_ARG},
      {"apply_gqa_rope", "k_out without k", k_out_without_k, ZK_ERR_ARG},
      {"apply_gqa_rope", "offset + S > P without positions", offset_past_table, ZK_ERR_SHAPE},
      {"apply_gqa_rope", "positions not [B, S]", positions_not_b_s, ZK_ERR_SHAPE},
      {"rope_and_cache_update", "cache B mismatched", cache_batch, ZK_ERR_SHAPE},
      {"rope_and_cache_update", "R > D", rotary_wider_than_d, ZK_ERR_SHAPE},
      {"rope_and_cache_update", "v_cache dtype != k_cache", cache_dtypes_differ, ZK_ERR_DTYPE},
      {"paged_rope_and_cache_update", "block size 0", block_size_0, ZK_ERR_SHAPE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const zk_op_test *t = zk_find_test(cases[i].op);
    zk_case c;
    zk_case_opts o = {be, ZK_F32, ZK_F32, 3, 16, 0, 0, 1, -1, -1, 0, 0};
    if (zk_case_setup(&c, t, &o, msg, cap)) return 1;
    cases[i].mutate(&c);
    zk_status s = t->call(ctx, &c);
    int fail = s != cases[i].want;
    if (fail) snprintf(msg, cap, "%s, %s: %s, expected %s (%s)", cases[i].op, cases[i].what, zk_status_name(s),
                       zk_status_name(cases[i].want), zk_ctx_last_error(ctx));
    for (int k = 0; !fail && k < t->nt; k++) {
      if (!c.present[k] || !zk_is_output(&t->t[k])) continue;
      if (be == ZK_BACKEND_CUDA) zk_dev_download(c.host[k], c.dev[k], c.bytes[k]);
      for (size_t b = 0; b < c.bytes[k]; b++)
        if (((unsigned char *)c.host[k])[b] != (t->t[k].role == ZK_INOUT ? ((unsigned char *)c.initial[k])[b] : 0xFF)) {
          fail = snprintf(msg, cap, "%s, %s: %s was written", cases[i].op, cases[i].what, t->t[k].name) > 0;
          break;
        }
    }
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

static const zk_extra_test rope_extras[] = {
    {"sequence_lengths_and_decode_offset", extra_sequence_lengths},
    {"gqa_and_cache_both_pairings", extra_gqa_pairings},
    {"many_heads", extra_many_heads},
    {"interleaved_is_permuted_half", extra_interleaved_is_permuted_half},
    {"grad_inverts_identity_at_0_norms_kept", extra_rotation_properties},
    {"copied_tail_exact", extra_tail_exact},
    {"gqa_on_fused_qkv_views", extra_fused_qkv},
    {"paged_spec_example", extra_paged_example},
    {"cache_bound_is_min_smax_p", extra_cache_bound_is_min},
    {"bad_position_16bit_rows", extra_bad_position_16bit},
    {"shape_and_argument_errors", extra_shape_errors},
};

const zk_family_tests zk_tests_rope = {"rope", rope_tests, N_OPS, rope_extras,
                                       (int)(sizeof rope_extras / sizeof rope_extras[0])};

