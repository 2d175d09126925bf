/* Public entry points of the rope family (spec §7): boundary checks, then
 * dispatch.  Backend slots, in signature order:
 *   apply_rope[_interleaved][_grad]   t = x|dy, cos, sin, y|dx
 *   apply_gqa_rope[_grad]             t = q|dq_out, k|dk_out, cos, sin, positions, q_out|dq, k_out|dk
 *   rope_and_cache_update             t = q, k, v, cos, sin, positions, k_cache, v_cache, q_out
 *   paged_rope_and_cache_update       t = q, k, v, cos, sin, positions, block_table, k_cache, v_cache, q_out
 * Rotated tensors are rows of tokens: cols = heads·D (apply_rope: one head
 * a row).  Caches are rows of slots: [B·Smax | NB·BS, HKV·D].
 * Scalars: i[0] = offset (apply ops), slots per sequence (cache update) or
 * block size (paged); i[1] = interleaved; i[2] = D, the head dim; i[3] = S,
 * the sequence length (apply ops: token t sits at offset + t mod S). */
#include <inttypes.h>
#include <zkern/rope.h>
#include "../core/tensor.h"

/* cos and sin: [P, R/2] float tables of one shape and dtype, 2 <= R <= D. */
static zk_status take_tables(const zk_call *call, const DLTensor *cos, const DLTensor *sin, int64_t D, zk_rows *c,
                             zk_rows *s) {
  ZK_CHECK(zk_take(call, "cos", cos, c, 0));
  ZK_CHECK(zk_expect_float(call, "cos", c));
  ZK_CHECK(zk_expect_ndim(call, "cos", cos, 2, "[P, R/2]"));
  ZK_CHECK(zk_take(call, "sin", sin, s, 0));
  ZK_CHECK(zk_expect_same_dtype(call, "sin", s, "cos", c));
  ZK_CHECK(zk_expect_same_shape(call, "sin", sin, "cos", cos));
  if (c->cols < 1 || 2 * c->cols > D)
    return zk_fail(call, ZK_ERR_SHAPE, "the rotary width R = 2 x %" PRId64 " (cos columns) must be in [2, D = %" PRId64 "]",
                   c->cols, D);
  return ZK_OK;
}

static zk_status expect_offset(const zk_call *call, int64_t offset) {
  if (offset >= 0) return ZK_OK;
  return zk_fail(call, ZK_ERR_ARG, "offset is %" PRId64 ", must be >= 0", offset);
}

/* Positions offset .. offset + S - 1 must be rows of the tables. */
static zk_status expect_span(const zk_call *call, int64_t offset, int64_t S, int64_t P) {
  if (offset <= P && S <= P - offset) return ZK_OK;
  return zk_fail(call, ZK_ERR_SHAPE, "offset %" PRId64 " + S %" PRId64 " exceeds the %" PRId64 " table positions",
                 offset, S, P);
}

/* ------------------------------------------------------------ apply_rope */

static zk_status rope_rows(const zk_call *call, zk_op_id op, const char *xn, const DLTensor *x, const DLTensor *cos,
                           const DLTensor *sin, const char *yn, DLTensor *y, int64_t offset) {
  zk_args a = {.op = op};
  ZK_CHECK(zk_take_input(call, xn, x, &a.t[0], 2));
  ZK_CHECK(take_tables(call, cos, sin, a.t[0].cols, &a.t[1], &a.t[2]));
  ZK_CHECK(zk_take_like(call, yn, y, &a.t[3], 1, xn, x, &a.t[0]));
  ZK_CHECK(expect_offset(call, offset));
  int64_t S = x->shape[x->ndim - 2];
  ZK_CHECK(expect_span(call, offset, S, cos->shape[0]));
  a.i[0] = offset;
  a.i[2] = a.t[0].cols;
  a.i[3] = S;
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_apply_rope(zk_ctx *ctx, const DLTensor *x, const DLTensor *cos, const DLTensor *sin, DLTensor *y,
                        int64_t offset) {
  ZK_BEGIN(apply_rope);
  return rope_rows(call, ZK_OP_apply_rope, "x", x, cos, sin, "y", y, offset);
}

zk_status zk_apply_rope_grad(zk_ctx *ctx, const DLTensor *dy, const DLTensor *cos, const DLTensor *sin, DLTensor *dx,
                             int64_t offset) {
  ZK_BEGIN(apply_rope_grad);
  return rope_rows(call, ZK_OP_apply_rope_grad, "dy", dy, cos, sin, "dx", dx, offset);
}

zk_status zk_apply_rope_interleaved(zk_ctx *ctx, const DLTensor *x, const DLTensor *cos, const DLTensor *sin,
                                    DLTensor *y, int64_t offset) {
  ZK_BEGIN(apply_rope_interleaved);
  return rope_rows(call, ZK_OP_apply_rope_interleaved, "x", x, cos, sin, "y", y, offset);
}

zk_status zk_apply_rope_interleaved_grad(zk_ctx *ctx, const DLTensor *dy, const DLTensor *cos, const DLTensor *sin,
                                         DLTensor *dx, int64_t offset) {
  ZK_BEGIN(apply_rope_interleaved_grad);
  return rope_rows(call, ZK_OP_apply_rope_interleaved_grad, "dy", dy, cos, sin, "dx", dx, offset);
}

/* ------------------------------------------------------- shared head checks */

/* k's heads beside q's: the same dtype and leading and last dims, and a head
 * count that divides q's. */
static zk_status expect_kv_heads(const zk_call *call, const char *kn, const DLTensor *k, const zk_rows *ak,
                                 const char *qn, const DLTensor *q, const zk_rows *aq) {
  ZK_CHECK(zk_expect_same_dtype(call, kn, ak, qn, aq));
  int n = q->ndim, same = 1;
  for (int i = 0; i < n; i++) same &= i == n - 2 || k->shape[i] == q->shape[i];
  char a[160], b[160];
  zk_format_shape(k, a, sizeof a);
  zk_format_shape(q, b, sizeof b);
  if (!same) return zk_fail(call, ZK_ERR_SHAPE, "%s has shape %s, %s has %s: only the head counts may differ", kn, a, qn, b);
  int64_t H = q->shape[n - 2], HKV = k->shape[n - 2];
  if (HKV < 1 || H % HKV)
    return zk_fail(call, ZK_ERR_SHAPE, "%s has %" PRId64 " heads, which must divide %s's %" PRId64, kn, HKV, qn, H);
  return ZK_OK;
}

/* t has ndim dims, the first n of them ref's. */
static zk_status expect_shape_prefix(const zk_call *call, const char *name, const DLTensor *t, const DLTensor *ref,
                                     int n, int ndim, const char *what) {
  int same = t->ndim == ndim;
  for (int i = 0; same && i < n; i++) same = t->shape[i] == ref->shape[i];
  if (same) return ZK_OK;
  char a[160];
  zk_format_shape(t, a, sizeof a);
  return zk_fail(call, ZK_ERR_SHAPE, "%s has shape %s, must be %s", name, a, what);
}

/* positions: int32/int64, compact, shaped like ref's first n dims. */
static zk_status take_positions(const zk_call *call, const DLTensor *pos, const DLTensor *ref, int n, const char *what,
                                zk_rows *out) {
  ZK_CHECK(zk_take(call, "positions", pos, out, 0));
  ZK_CHECK(zk_expect_index(call, "positions", out, 0));
  ZK_CHECK(zk_expect_compact(call, "positions", pos));
  return expect_shape_prefix(call, "positions", pos, ref, n, n, what);
}

/* ------------------------------------------------------- apply_gqa_rope */

static zk_status gqa(const zk_call *call, zk_op_id op, const char *const names[4], const DLTensor *q,
                     const DLTensor *k, const DLTensor *cos, const DLTensor *sin, const DLTensor *positions,
                     DLTensor *q_out, DLTensor *k_out, int64_t offset, int interleaved) {
  zk_args a = {.op = op};
  ZK_CHECK(zk_take_heads(call, names[0], q, 4, "[B, S, H, D]", &a.t[0], 0));
  if (k) {
    ZK_CHECK(zk_take_heads(call, names[1], k, 4, "[B, S, HKV, D]", &a.t[1], 0));
    ZK_CHECK(expect_kv_heads(call, names[1], k, &a.t[1], names[0], q, &a.t[0]));
  }
  int64_t D = q->shape[3], S = q->shape[1];
  ZK_CHECK(take_tables(call, cos, sin, D, &a.t[2], &a.t[3]));
  if (positions) ZK_CHECK(take_positions(call, positions, q, 2, "[B, S]", &a.t[4]));
  if (!q_out) return zk_fail(call, ZK_ERR_ARG, "%s is NULL", names[2]);
  ZK_CHECK(zk_take_row_dims(call, names[2], q_out, 2, &a.t[5], 1));
  ZK_CHECK(zk_expect_same_dtype(call, names[2], &a.t[5], names[0], &a.t[0]));
  ZK_CHECK(zk_expect_same_shape(call, names[2], q_out, names[0], q));
  if (!k != !k_out)
    return zk_fail(call, ZK_ERR_ARG, "%s is %s while %s is %s: both or neither", names[3], k_out ? "given" : "NULL",
                   names[1], k ? "given" : "NULL");
  if (k) {
    ZK_CHECK(zk_take_row_dims(call, names[3], k_out, 2, &a.t[6], 1));
    ZK_CHECK(zk_expect_same_dtype(call, names[3], &a.t[6], names[1], &a.t[1]));
    ZK_CHECK(zk_expect_same_shape(call, names[3], k_out, names[1], k));
  }
  ZK_CHECK(expect_offset(call, offset));
  if (!positions) ZK_CHECK(expect_span(call, offset, S, cos->shape[0]));
  a.i[0] = offset;
  a.i[1] = interleaved != 0;
  a.i[2] = D;
  a.i[3] = S;
  if (a.t[0].rows == 0) return ZK_OK;
  return zk_dispatch(call, &a);
}

zk_status zk_apply_gqa_rope(zk_ctx *ctx, const DLTensor *q, const DLTensor *k, const DLTensor *cos,
                            const DLTensor *sin, const DLTensor *positions, DLTensor *q_out, DLTensor *k_out,
                            int64_t offset, int interleaved) {
  ZK_BEGIN(apply_gqa_rope);
  static const char *const names[4] = {"q", "k", "q_out", "k_out"};
  return gqa(call, ZK_OP_apply_gqa_rope, names, q, k, cos, sin, positions, q_out, k_out, offset, interleaved);
}

zk_status zk_apply_gqa_rope_grad(zk_ctx *ctx, const DLTensor *dq_out, const DLTensor *dk_out, const DLTensor *cos,
                                 const DLTensor *sin, const DLTensor *positions, DLTensor *dq, DLTensor *dk,
                                 int64_t offset, int interleaved) {
  ZK_BEGIN(apply_gqa_rope_grad);
  static const char *const names[4] = {"dq_out", "dk_out", "dq", "dk"};
  return gqa(call, ZK_OP_apply_gqa_rope_grad, names, dq_out, dk_out, cos, sin, positions, dq, dk, offset,
             interleaved);
}

/* ------------------------------------------------- cache updates (decode) */

/* q, k, v, cos, sin, positions and q_out of both cache updates (slots 0-5
 * and q_out_slot); caches checked by the caller. */
static zk_status take_decode_step(const zk_call *call, zk_args *a, const DLTensor *q, const DLTensor *k,
                                  const DLTensor *v, const DLTensor *cos, const DLTensor *sin,
                                  const DLTensor *positions, DLTensor *q_out, int q_out_slot) {
  ZK_CHECK(zk_take_heads(call, "q", q, 3, "[B, H, D]", &a->t[0], 0));
  ZK_CHECK(zk_take_heads(call, "k", k, 3, "[B, HKV, D]", &a->t[1], 0));
  ZK_CHECK(expect_kv_heads(call, "k", k, &a->t[1], "q", q, &a->t[0]));
  ZK_CHECK(zk_take_heads(call, "v", v, 3, "[B, HKV, D]", &a->t[2], 0));
  ZK_CHECK(zk_expect_same_dtype(call, "v", &a->t[2], "k", &a->t[1]));
  ZK_CHECK(zk_expect_same_shape(call, "v", v, "k", k));
  ZK_CHECK(take_tables(call, cos, sin, q->shape[2], &a->t[3], &a->t[4]));
  ZK_CHECK(take_positions(call, positions, q, 1, "[B]", &a->t[5]));
  ZK_CHECK(zk_take_row_dims(call, "q_out", q_out, 2, &a->t[q_out_slot], 1));
  ZK_CHECK(zk_expect_same_dtype(call, "q_out", &a->t[q_out_slot], "q", &a->t[0]));
  ZK_CHECK(zk_expect_same_shape(call, "q_out", q_out, "q", q));
  a->i[2] = q->shape[2];
  return ZK_OK;
}

/* k_cache, v_cache [N, slots, HKV, D]: float, compact, one dtype, shaped
 * like each other with k's HKV and D (and N = B when per_sequence). */
static zk_status take_caches(const zk_call *call, const DLTensor *k, const DLTensor *kc, const DLTensor *vc,
                             int per_sequence, zk_rows *akc, zk_rows *avc) {
  const char *what = per_sequence ? "[B, Smax, HKV, D] with k's B, HKV and D" : "[NB, BS, HKV, D] with k's HKV and D";
  ZK_CHECK(zk_take_heads(call, "k_cache", kc, 4, what, akc, 1));
  ZK_CHECK(zk_expect_compact(call, "k_cache", kc));
  int same = kc->shape[2] == k->shape[1] && kc->shape[3] == k->shape[2] && (!per_sequence || kc->shape[0] == k->shape[0]);
  if (!same) {
    char a[160], b[160];
    zk_format_shape(kc, a, sizeof a);
    zk_format_shape(k, b, sizeof b);
    return zk_fail(call, ZK_ERR_SHAPE, "k_cache has shape %s, must be %s (k is %s)", a, what, b);
  }
  ZK_CHECK(zk_take_heads(call, "v_cache", vc, 4, what, avc, 1));
  ZK_CHECK(zk_expect_compact(call, "v_cache", vc));
  ZK_CHECK(zk_expect_same_dtype(call, "v_cache", avc, "k_cache", akc));
  return zk_expect_same_shape(call, "v_cache", vc, "k_cache", kc);
}

zk_status zk_rope_and_cache_update(zk_ctx *ctx, const DLTensor *q, const DLTensor *k, const DLTensor *v,
                                   const DLTensor *cos, const DLTensor *sin, const DLTensor *positions,
                                   DLTensor *k_cache, DLTensor *v_cache, DLTensor *q_out, int interleaved) {
  ZK_BEGIN(rope_and_cache_update);
  zk_args a = {.op = ZK_OP_rope_and_cache_update};
  ZK_CHECK(take_decode_step(call, &a, q, k, v, cos, sin, positions, q_out, 8));
  ZK_CHECK(take_caches(call, k, k_cache, v_cache, 1, &a.t[6], &a.t[7]));
  a.i[0] = k_cache->shape[1];
  a.i[1] = interleaved != 0;
  if (a.t[0].rows == 0) return ZK_OK;
  return zk_dispatch(call, &a);
}

zk_status zk_paged_rope_and_cache_update(zk_ctx *ctx, const DLTensor *q, const DLTensor *k, const DLTensor *v,
                                         const DLTensor *cos, const DLTensor *sin, const DLTensor *positions,
                                         const DLTensor *block_table, DLTensor *k_cache, DLTensor *v_cache,
                                         DLTensor *q_out, int interleaved) {
  ZK_BEGIN(paged_rope_and_cache_update);
  zk_args a = {.op = ZK_OP_paged_rope_and_cache_update};
  ZK_CHECK(take_decode_step(call, &a, q, k, v, cos, sin, positions, q_out, 9));
  ZK_CHECK(zk_take(call, "block_table", block_table, &a.t[6], 0));
  ZK_CHECK(zk_expect_index(call, "block_table", &a.t[6], 1));
  ZK_CHECK(zk_expect_compact(call, "block_table", block_table));
  ZK_CHECK(expect_shape_prefix(call, "block_table", block_table, q, 1, 2, "[B, MB] with q's B"));
  ZK_CHECK(take_caches(call, k, k_cache, v_cache, 0, &a.t[7], &a.t[8]));
  if (k_cache->shape[1] < 1) return zk_fail(call, ZK_ERR_SHAPE, "k_cache has block size 0");
  a.i[0] = k_cache->shape[1];
  a.i[1] = interleaved != 0;
  if (a.t[0].rows == 0) return ZK_OK;
  return zk_dispatch(call, &a);
}
