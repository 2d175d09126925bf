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

static rope_dims dims_of(const zk_case *c) {
  rope_kind kind = kind_of(c->test);
  rope_dims d = {0};
  d.D = c->D;
  d.h = c->strided ? max64(1, c->D / 4) : c->D / 2;
  d.H = c->bench ? 32 : 2;
  d.HKV = c->bench ? 8 : 1;
  if (kind == APPLY) {
    d.B = c->bench ? 32 : c->one_d ? 1 : 2;
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

const zk_family_tests zk_tests_rope = {"rope", rope_tests, N_OPS, NULL, 0};
