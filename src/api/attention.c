/* Public entry points of the attention family (spec §6): boundary checks,
 * then dispatch.  Backend slots, in signature order:
 *   logsumexp_lastdim            t = x, y (one value a row)
 *   logsumexp_lastdim_grad       t = x, dy (one value a row), dx
 *   masked_softmax, scale_mask_softmax
 *                                t = x, mask (absent: keep all), y; f[0] = scale
 *   masked_softmax_grad, scale_mask_softmax_grad
 *                                t = y, dy, dx; f[0] = scale
 *   paged_attention              t = q, k_cache, v_cache, block_tables, context_lens, out;
 *                                f[0] = scale; i[0] = H, i[1] = HKV, i[2] = D, i[3] = BS
 *   attention_tile_proto         t = q, k, s
 * q and out are rows of sequences (cols = H·D); the caches are rows of
 * slots ([NB·BS, HKV·D]); block_tables has rows of MB entries. */
#include <inttypes.h>
#include <math.h>
#include <zkern/attention.h>
#include "../core/tensor.h"

/* ------------------------------------------------------------- logsumexp */

zk_status zk_logsumexp_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y) {
  ZK_BEGIN(logsumexp_lastdim);
  zk_args a = {.op = ZK_OP_logsumexp_lastdim};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_reduced(call, "y", y, &a.t[1], 1, "x", x, 1));
  ZK_CHECK(zk_expect_float(call, "y", &a.t[1]));
  /* Rows of zero elements still get their value, -Inf. */
  if (a.t[0].rows == 0) return ZK_OK;
  return zk_dispatch(call, &a);
}

zk_status zk_logsumexp_lastdim_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx) {
  ZK_BEGIN(logsumexp_lastdim_grad);
  zk_args a = {.op = ZK_OP_logsumexp_lastdim_grad};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_reduced(call, "dy", dy, &a.t[1], 0, "x", x, 1));
  ZK_CHECK(zk_expect_float(call, "dy", &a.t[1]));
  ZK_CHECK(zk_take_like(call, "dx", dx, &a.t[2], 1, "x", x, &a.t[0]));
  if (zk_no_rows(&a.t[0])) return ZK_OK;
  return zk_dispatch(call, &a);
}

/* ------------------------------------------------------ masked softmaxes */

/* mask [M, D] bool/uint8 beside x's R rows of D: M >= 1 divides R. */
static zk_status take_mask(const zk_call *call, const DLTensor *mask, const zk_rows *x, zk_rows *out) {
  ZK_CHECK(zk_take(call, "mask", mask, out, 0));
  ZK_CHECK(zk_expect_dtype(call, "mask", out, ZK_U8));
  if (out->cols != x->cols)
    return zk_fail(call, ZK_ERR_SHAPE, "mask rows have %" PRId64 " elements, x rows have %" PRId64, out->cols,
                   x->cols);
  if (out->rows < 1 || x->rows % out->rows)
    return zk_fail(call, ZK_ERR_SHAPE, "mask has %" PRId64 " rows, which must be >= 1 and divide x's %" PRId64,
                   out->rows, x->rows);
  return ZK_OK;
}

static zk_status expect_finite_scale(const zk_call *call, float scale) {
  if (isfinite(scale)) return ZK_OK;
  return zk_fail(call, ZK_ERR_ARG, "scale is %g, must be finite", (double)scale);
}

static zk_status masked_forward(const zk_call *call, zk_op_id op, const DLTensor *x, const DLTensor *mask,
                                DLTensor *y, float scale) {
  zk_args a = {.op = op};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  if (mask || op == ZK_OP_masked_softmax) ZK_CHECK(take_mask(call, mask, &a.t[0], &a.t[1]));
  ZK_CHECK(zk_take_like(call, "y", y, &a.t[2], 1, "x", x, &a.t[0]));
  ZK_CHECK(expect_finite_scale(call, scale));
  a.f[0] = scale;
  if (zk_no_rows(&a.t[0])) return ZK_OK;
  return zk_dispatch(call, &a);
}

static zk_status masked_backward(const zk_call *call, zk_op_id op, const DLTensor *y, const DLTensor *dy,
                                 DLTensor *dx, float scale) {
  zk_args a = {.op = op};
  ZK_CHECK(zk_take_input(call, "y", y, &a.t[0], 1));
  ZK_CHECK(zk_take_like(call, "dy", dy, &a.t[1], 0, "y", y, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "dx", dx, &a.t[2], 1, "y", y, &a.t[0]));
  ZK_CHECK(expect_finite_scale(call, scale));
  a.f[0] = scale;
  if (zk_no_rows(&a.t[0])) return ZK_OK;
  return zk_dispatch(call, &a);
}

zk_status zk_masked_softmax(zk_ctx *ctx, const DLTensor *x, const DLTensor *mask, DLTensor *y) {
  ZK_BEGIN(masked_softmax);
  return masked_forward(call, ZK_OP_masked_softmax, x, mask, y, 1.0f);
}

zk_status zk_masked_softmax_grad(zk_ctx *ctx, const DLTensor *y, const DLTensor *dy, DLTensor *dx) {
  ZK_BEGIN(masked_softmax_grad);
  return masked_backward(call, ZK_OP_masked_softmax_grad, y, dy, dx, 1.0f);
}

zk_status zk_scale_mask_softmax(zk_ctx *ctx, const DLTensor *x, const DLTensor *mask, DLTensor *y, float scale) {
  ZK_BEGIN(scale_mask_softmax);
  return masked_forward(call, ZK_OP_scale_mask_softmax, x, mask, y, scale);
}

zk_status zk_scale_mask_softmax_grad(zk_ctx *ctx, const DLTensor *y, const DLTensor *dy, DLTensor *dx, float scale) {
  ZK_BEGIN(scale_mask_softmax_grad);
  return masked_backward(call, ZK_OP_scale_mask_softmax_grad, y, dy, dx, scale);
}

/* ------------------------------------------------------- paged attention */

static zk_status shape_error(const zk_call *call, const char *name, const DLTensor *t, const char *what) {
  char s[160];
  zk_format_shape(t, s, sizeof s);
  return zk_fail(call, ZK_ERR_SHAPE, "%s has shape %s, must be %s", name, s, what);
}

/* An int32 index tensor of ndim dims whose first dim is B. */
static zk_status take_index(const zk_call *call, const char *name, const DLTensor *t, int ndim, int64_t B,
                            const char *what, zk_rows *out) {
  ZK_CHECK(zk_take(call, name, t, out, 0));
  ZK_CHECK(zk_expect_index(call, name, out, 1));
  ZK_CHECK(zk_expect_ndim(call, name, t, ndim, what));
  if (t->shape[0] != B) return shape_error(call, name, t, what);
  return ZK_OK;
}

zk_status zk_paged_attention(zk_ctx *ctx, const DLTensor *q, const DLTensor *k_cache, const DLTensor *v_cache,
                             const DLTensor *block_tables, const DLTensor *context_lens, DLTensor *out, float scale) {
  ZK_BEGIN(paged_attention);
  zk_args a = {.op = ZK_OP_paged_attention};
  ZK_CHECK(zk_take_heads(call, "q", q, 3, "[B, H, D]", &a.t[0], 0));
  int64_t B = q->shape[0], H = q->shape[1], D = q->shape[2];
  const char *cache = "[NB, BS, HKV, D] with q's D and HKV dividing q's H";
  ZK_CHECK(zk_take_heads(call, "k_cache", k_cache, 4, cache, &a.t[1], 0));
  ZK_CHECK(zk_expect_compact(call, "k_cache", k_cache));
  int64_t HKV = k_cache->shape[2];
  if (k_cache->shape[3] != D || HKV < 1 || H % HKV) return shape_error(call, "k_cache", k_cache, cache);
  ZK_CHECK(zk_take_heads(call, "v_cache", v_cache, 4, "k_cache's shape", &a.t[2], 0));
  ZK_CHECK(zk_expect_compact(call, "v_cache", v_cache));
  ZK_CHECK(zk_expect_same_dtype(call, "v_cache", &a.t[2], "k_cache", &a.t[1]));
  ZK_CHECK(zk_expect_same_shape(call, "v_cache", v_cache, "k_cache", k_cache));
  ZK_CHECK(take_index(call, "block_tables", block_tables, 2, B, "[B, MB] with q's B", &a.t[3]));
  ZK_CHECK(take_index(call, "context_lens", context_lens, 1, B, "[B] with q's B", &a.t[4]));
  ZK_CHECK(zk_expect_compact(call, "context_lens", context_lens));
  ZK_CHECK(zk_take_heads(call, "out", out, 3, "[B, H, D]", &a.t[5], 1));
  ZK_CHECK(zk_expect_same_dtype(call, "out", &a.t[5], "q", &a.t[0]));
  ZK_CHECK(zk_expect_same_shape(call, "out", out, "q", q));
  if (!(isfinite(scale) && scale > 0))
    return zk_fail(call, ZK_ERR_ARG, "scale is %g, must be finite and > 0", (double)scale);
  a.f[0] = scale;
  a.i[0] = H;
  a.i[1] = HKV;
  a.i[2] = D;
  a.i[3] = k_cache->shape[1];
  if (zk_no_rows(&a.t[0])) return ZK_OK;
  return zk_dispatch(call, &a);
}

/* ---------------------------------------------------------- score tile */

#define TILE 16

zk_status zk_attention_tile_proto(zk_ctx *ctx, const DLTensor *q, const DLTensor *k, DLTensor *s) {
  ZK_BEGIN(attention_tile_proto);
  zk_args a = {.op = ZK_OP_attention_tile_proto};
  ZK_CHECK(zk_take_input(call, "q", q, &a.t[0], 1));
  ZK_CHECK(zk_expect_ndim(call, "q", q, 2, "[16, D]"));
  if (q->shape[0] != TILE) return shape_error(call, "q", q, "[16, D]");
  ZK_CHECK(zk_take_like(call, "k", k, &a.t[1], 0, "q", q, &a.t[0]));
  ZK_CHECK(zk_take(call, "s", s, &a.t[2], 1));
  ZK_CHECK(zk_expect_dtype(call, "s", &a.t[2], ZK_F32));
  if (s->ndim != 2 || s->shape[0] != TILE || s->shape[1] != TILE) return shape_error(call, "s", s, "[16, 16]");
  /* D = 0 is an empty sum: s is still written, as zeros. */
  return zk_dispatch(call, &a);
}
