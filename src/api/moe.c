/* Public entry points of the moe family (spec §14): boundary checks, then
 * dispatch.  Backend slots, in signature order:
 *   topk_gating_softmax, top2_gating_softmax
 *       t[0] = logits [R, E], t[1] = expert_bias [E] (optional), t[2] = weights [R, k] f32,
 *       t[3] = indices [R, k] uint32; i[0] = k, i[1] = score, i[2] = norm_topk_prob,
 *       i[3] = bias_mode; f[0] = routed_scale
 *   moe_dispatch
 *       t[0] = x [N, D], t[1] = topk_ids [N, K], t[2] = x_perm [N·K, D] (optional),
 *       t[3] = expert_offsets (one row of E + 1), t[4] = src_idx (one row of N·K),
 *       t[5] = inv_idx [N, K] (optional)
 *   moe_combine            t[0] = expert_out [N, K·D], t[1] = weights [N, K], t[2] = y [N, D]; i[0] = K
 *   moe_combine_grad       t[0] = expert_out, t[1] = weights, t[2] = dy [N, D], t[3] = dexpert [N, K·D]
 *                          (optional), t[4] = dweights [N, K] (optional); i[0] = K
 *   moe_combine_permuted   t[0] = y_perm [P, D], t[1] = weights [N, K] (optional), t[2] = inv_idx [N, K],
 *                          t[3] = y [N, D]
 *   moe_combine_permuted_grad
 *       t[0] = y_perm [P, D], t[1] = weights [N, k] (optional), t[2] = src_idx (one row of N·k),
 *       t[3] = dy [N, D], t[4] = dy_perm [N·k, D] (optional), t[5] = dweights [N, k] (optional); i[0] = k
 * Index values are checked by the backend (the CPU scans them first). */
#include <inttypes.h>
#include <zkern/moe.h>
#include "../core/tensor.h"

/* The most experts one token may pick (spec §14.1). */
#define MAX_TOPK 32

/* t's dims are ref's first `lead` dims followed by the tail dims. */
static zk_status expect_dims(const zk_call *call, const char *name, const DLTensor *t, const char *ref_name,
                             const DLTensor *ref, int lead, const int64_t *tail, int ntail, const char *what) {
  int ok = lead >= 0 && t->ndim == lead + ntail;
  for (int i = 0; ok && i < lead; i++) ok = t->shape[i] == ref->shape[i];
  for (int i = 0; ok && i < ntail; i++) ok = t->shape[lead + i] == tail[i];
  if (ok) return ZK_OK;
  char a[160], b[160];
  zk_format_shape(t, a, sizeof a);
  zk_format_shape(ref, b, sizeof b);
  return zk_fail(call, ZK_ERR_SHAPE, "%s has shape %s, must be %s (%s is %s)", name, a, what, ref_name, b);
}

/* A 1-D compact int32 tensor; n < 0: any length. */
static zk_status take_i32_vector(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out, int output,
                                 int64_t n, const char *what) {
  ZK_CHECK(zk_take(call, name, t, out, output));
  ZK_CHECK(zk_expect_dtype(call, name, out, ZK_I32));
  if (t->ndim != 1 || (n >= 0 && t->shape[0] != n)) {
    char a[160];
    zk_format_shape(t, a, sizeof a);
    return zk_fail(call, ZK_ERR_SHAPE, "%s has shape %s, must be %s", name, a, what);
  }
  return zk_expect_compact(call, name, t);
}

/* A [rows, cols] float tensor of dtype like (when given). */
static zk_status take_matrix(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out, int output,
                             int64_t rows, int64_t cols, const char *what) {
  ZK_CHECK(zk_take(call, name, t, out, output));
  ZK_CHECK(zk_expect_float(call, name, out));
  if (t->ndim == 2 && (rows < 0 || t->shape[0] == rows) && t->shape[1] == cols) return ZK_OK;
  char a[160];
  zk_format_shape(t, a, sizeof a);
  return zk_fail(call, ZK_ERR_SHAPE, "%s has shape %s, must be %s", name, a, what);
}

/* --------------------------------------------------------------- gating */

static zk_status gating(const zk_call *call, zk_op_id op, const DLTensor *logits, const DLTensor *expert_bias,
                        DLTensor *weights, DLTensor *indices, int64_t k, const zk_gating_params *params) {
  zk_gating_params p = ZK_GATING_PARAMS_DEFAULT;
  if (params) p = *params;
  zk_args a = {.op = op};
  ZK_CHECK(zk_take_input(call, "logits", logits, &a.t[0], 1));
  int64_t E = a.t[0].cols;
  ZK_CHECK(zk_take_param(call, "expert_bias", expert_bias, &a.t[1], 1, E, "logits' last dimension E"));
  int64_t kmax = E < MAX_TOPK ? E : MAX_TOPK;
  if (op == ZK_OP_top2_gating_softmax && E < 2)
    return zk_fail(call, ZK_ERR_ARG, "E = %" PRId64 " experts, top-2 gating needs at least 2", E);
  if (k < 1 || k > kmax)
    return zk_fail(call, ZK_ERR_ARG, "k is %" PRId64 ", must be in [1, %" PRId64 "] (min(E, %d))", k, kmax,
                   MAX_TOPK);
  if (p.score != ZK_GATING_SOFTMAX && p.score != ZK_GATING_SIGMOID)
    return zk_fail(call, ZK_ERR_ARG, "score is %d, must be ZK_GATING_SOFTMAX or ZK_GATING_SIGMOID", p.score);
  if (p.bias_mode != ZK_GATING_SELECT_AND_WEIGHT && p.bias_mode != ZK_GATING_SELECT_ONLY)
    return zk_fail(call, ZK_ERR_ARG, "bias_mode is %d, must be select_and_weight or select_only", p.bias_mode);
  if (!(p.routed_scale == p.routed_scale) || p.routed_scale > 3.4e38f || p.routed_scale < -3.4e38f)
    return zk_fail(call, ZK_ERR_ARG, "routed_scale is %g, must be finite", (double)p.routed_scale);
  ZK_CHECK(zk_take(call, "weights", weights, &a.t[2], 1));
  ZK_CHECK(zk_expect_dtype(call, "weights", &a.t[2], ZK_F32));
  ZK_CHECK(zk_expect_last_dim_is(call, "weights", weights, "logits", logits, k));
  ZK_CHECK(zk_take(call, "indices", indices, &a.t[3], 1));
  ZK_CHECK(zk_expect_dtype(call, "indices", &a.t[3], ZK_U32));
  ZK_CHECK(zk_expect_last_dim_is(call, "indices", indices, "logits", logits, k));
  a.i[0] = k;
  a.i[1] = p.score;
  a.i[2] = p.norm_topk_prob != 0;
  a.i[3] = p.bias_mode;
  a.f[0] = p.routed_scale;
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_topk_gating_softmax(zk_ctx *ctx, const DLTensor *logits, const DLTensor *expert_bias, DLTensor *weights,
                                 DLTensor *indices, int64_t k, const zk_gating_params *params) {
  ZK_BEGIN(topk_gating_softmax);
  return gating(call, ZK_OP_topk_gating_softmax, logits, expert_bias, weights, indices, k, params);
}

zk_status zk_top2_gating_softmax(zk_ctx *ctx, const DLTensor *logits, const DLTensor *expert_bias, DLTensor *weights,
                                 DLTensor *indices, const zk_gating_params *params) {
  ZK_BEGIN(top2_gating_softmax);
  return gating(call, ZK_OP_top2_gating_softmax, logits, expert_bias, weights, indices, 2, params);
}

/* ------------------------------------------------------------- dispatch */

zk_status zk_moe_dispatch(zk_ctx *ctx, const DLTensor *x, const DLTensor *topk_ids, DLTensor *x_perm,
                          DLTensor *expert_offsets, DLTensor *src_idx, DLTensor *inv_idx) {
  ZK_BEGIN(moe_dispatch);
  zk_args a = {.op = ZK_OP_moe_dispatch};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take(call, "topk_ids", topk_ids, &a.t[1], 0));
  zk_dtype id = a.t[1].dtype;
  if (id != ZK_U32 && id != ZK_I32 && id != ZK_I64)
    return zk_fail(call, ZK_ERR_DTYPE, "topk_ids has dtype %s, must be uint32, int32 or int64", zk_dtype_name(id));
  int64_t N = a.t[0].rows, D = a.t[0].cols, K = a.t[1].cols;
  ZK_CHECK(expect_dims(call, "topk_ids", topk_ids, "x", x, x->ndim - 1, &K, 1, "x's leading dims, then K"));
  if (N * K >= ((int64_t)1 << 31))
    return zk_fail(call, ZK_ERR_SHAPE, "N·K = %" PRId64 " pairs, must be below 2^31", N * K);
  if (x_perm) {
    ZK_CHECK(take_matrix(call, "x_perm", x_perm, &a.t[2], 1, N * K, D, "[N·K, D] (x's rows × topk_ids' K, x's D)"));
    ZK_CHECK(zk_expect_same_dtype(call, "x_perm", &a.t[2], "x", &a.t[0]));
  }
  ZK_CHECK(take_i32_vector(call, "expert_offsets", expert_offsets, &a.t[3], 1, -1, "[E + 1]"));
  if (a.t[3].cols < 1) return zk_fail(call, ZK_ERR_SHAPE, "expert_offsets is empty, must be [E + 1]");
  ZK_CHECK(take_i32_vector(call, "src_idx", src_idx, &a.t[4], 1, N * K, "[N·K]"));
  if (inv_idx) {
    ZK_CHECK(zk_take(call, "inv_idx", inv_idx, &a.t[5], 1));
    ZK_CHECK(zk_expect_dtype(call, "inv_idx", &a.t[5], ZK_I32));
    ZK_CHECK(zk_expect_same_shape(call, "inv_idx", inv_idx, "topk_ids", topk_ids));
  }
  /* N = 0 still writes expert_offsets (all 0). */
  return zk_dispatch(call, &a);
}

/* -------------------------------------------------------------- combine */

/* expert_out [..., K, D] and weights [..., K]: slots 0 and 1; K out. */
static zk_status take_experts(const zk_call *call, zk_args *a, const DLTensor *expert_out, const DLTensor *weights,
                              int64_t *K) {
  if (!expert_out) return zk_fail(call, ZK_ERR_ARG, "expert_out is NULL");
  if (expert_out->ndim < 2) {
    char s[160];
    zk_format_shape(expert_out, s, sizeof s);
    return zk_fail(call, ZK_ERR_SHAPE, "expert_out has shape %s, must be [..., K, D]", s);
  }
  ZK_CHECK(zk_take_row_dims(call, "expert_out", expert_out, 2, &a->t[0], 0));
  ZK_CHECK(zk_expect_float(call, "expert_out", &a->t[0]));
  *K = expert_out->shape[expert_out->ndim - 2];
  ZK_CHECK(zk_take(call, "weights", weights, &a->t[1], 0));
  ZK_CHECK(zk_expect_float(call, "weights", &a->t[1]));
  return expect_dims(call, "weights", weights, "expert_out", expert_out, expert_out->ndim - 1, NULL, 0,
                     "expert_out's dims without D");
}

/* A [..., D] tensor: expert_out's leading dims, then its D. */
static zk_status take_token_rows(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out, int output,
                                 const DLTensor *expert_out, const zk_rows *e) {
  ZK_CHECK(zk_take(call, name, t, out, output));
  ZK_CHECK(zk_expect_same_dtype(call, name, out, "expert_out", e));
  int64_t D = expert_out->shape[expert_out->ndim - 1];
  return expect_dims(call, name, t, "expert_out", expert_out, expert_out->ndim - 2, &D, 1,
                     "expert_out's dims without K");
}

zk_status zk_moe_combine(zk_ctx *ctx, const DLTensor *expert_out, const DLTensor *weights, DLTensor *y) {
  ZK_BEGIN(moe_combine);
  zk_args a = {.op = ZK_OP_moe_combine};
  int64_t K = 0;
  ZK_CHECK(take_experts(call, &a, expert_out, weights, &K));
  ZK_CHECK(take_token_rows(call, "y", y, &a.t[2], 1, expert_out, &a.t[0]));
  a.i[0] = K;
  /* K = 0 still writes y = 0. */
  return zk_dispatch_rows(call, &a, &a.t[2], 0);
}

zk_status zk_moe_combine_grad(zk_ctx *ctx, const DLTensor *expert_out, const DLTensor *weights, const DLTensor *dy,
                              DLTensor *dexpert, DLTensor *dweights) {
  ZK_BEGIN(moe_combine_grad);
  zk_args a = {.op = ZK_OP_moe_combine_grad};
  int64_t K = 0;
  ZK_CHECK(take_experts(call, &a, expert_out, weights, &K));
  ZK_CHECK(take_token_rows(call, "dy", dy, &a.t[2], 0, expert_out, &a.t[0]));
  if (dexpert) {
    ZK_CHECK(zk_take_row_dims(call, "dexpert", dexpert, 2, &a.t[3], 1));
    ZK_CHECK(zk_expect_same_dtype(call, "dexpert", &a.t[3], "expert_out", &a.t[0]));
    ZK_CHECK(zk_expect_same_shape(call, "dexpert", dexpert, "expert_out", expert_out));
  }
  if (dweights) {
    ZK_CHECK(zk_take(call, "dweights", dweights, &a.t[4], 1));
    ZK_CHECK(zk_expect_same_dtype(call, "dweights", &a.t[4], "weights", &a.t[1]));
    ZK_CHECK(zk_expect_same_shape(call, "dweights", dweights, "weights", weights));
  }
  a.i[0] = K;
  /* D = 0 still writes dweights = 0; K = 0 leaves nothing to write. */
  if (a.t[0].rows == 0 || K == 0 || (!dexpert && !dweights)) return ZK_OK;
  return zk_dispatch(call, &a);
}

/* ----------------------------------------------------- combine, permuted */

/* weights? [..., K] like idx (any float). */
static zk_status take_pair_weights(const zk_call *call, const DLTensor *weights, zk_rows *out, const char *idx_name,
                                   const DLTensor *idx) {
  ZK_CHECK(zk_take_opt(call, "weights", weights, out, 0));
  if (!weights) return ZK_OK;
  ZK_CHECK(zk_expect_float(call, "weights", out));
  return zk_expect_same_shape(call, "weights", weights, idx_name, idx);
}

zk_status zk_moe_combine_permuted(zk_ctx *ctx, const DLTensor *y_perm, const DLTensor *weights,
                                  const DLTensor *inv_idx, DLTensor *y) {
  ZK_BEGIN(moe_combine_permuted);
  zk_args a = {.op = ZK_OP_moe_combine_permuted};
  ZK_CHECK(zk_take_input(call, "y_perm", y_perm, &a.t[0], 2));
  ZK_CHECK(zk_expect_ndim(call, "y_perm", y_perm, 2, "[P, D]"));
  ZK_CHECK(zk_take(call, "inv_idx", inv_idx, &a.t[2], 0));
  ZK_CHECK(zk_expect_dtype(call, "inv_idx", &a.t[2], ZK_I32));
  if (inv_idx->ndim < 1) return zk_fail(call, ZK_ERR_SHAPE, "inv_idx is 0-d, must be [..., K]");
  ZK_CHECK(take_pair_weights(call, weights, &a.t[1], "inv_idx", inv_idx));
  ZK_CHECK(zk_take(call, "y", y, &a.t[3], 1));
  ZK_CHECK(zk_expect_same_dtype(call, "y", &a.t[3], "y_perm", &a.t[0]));
  ZK_CHECK(expect_dims(call, "y", y, "inv_idx", inv_idx, inv_idx->ndim - 1, &a.t[0].cols, 1,
                       "inv_idx's leading dims, then y_perm's D"));
  /* D = 0 still has its indices checked. */
  if (a.t[3].rows == 0) return ZK_OK;
  return zk_dispatch(call, &a);
}

zk_status zk_moe_combine_permuted_grad(zk_ctx *ctx, const DLTensor *y_perm, const DLTensor *weights,
                                       const DLTensor *src_idx, const DLTensor *dy, DLTensor *dy_perm,
                                       DLTensor *dweights, int64_t k) {
  ZK_BEGIN(moe_combine_permuted_grad);
  zk_args a = {.op = ZK_OP_moe_combine_permuted_grad};
  ZK_CHECK(zk_take_input(call, "y_perm", y_perm, &a.t[0], 2));
  ZK_CHECK(zk_expect_ndim(call, "y_perm", y_perm, 2, "[P, D]"));
  int64_t D = a.t[0].cols;
  if (k < 1) return zk_fail(call, ZK_ERR_ARG, "k is %" PRId64 ", must be >= 1", k);
  ZK_CHECK(zk_take(call, "dy", dy, &a.t[3], 0));
  ZK_CHECK(zk_expect_same_dtype(call, "dy", &a.t[3], "y_perm", &a.t[0]));
  if (dy->ndim < 1 || dy->shape[dy->ndim - 1] != D) {
    char s[160];
    zk_format_shape(dy, s, sizeof s);
    return zk_fail(call, ZK_ERR_SHAPE, "dy has shape %s, must be [..., D] with y_perm's D = %" PRId64, s, D);
  }
  int64_t N = a.t[3].rows;
  if (N > (((int64_t)1 << 31) - 1) / k)
    return zk_fail(call, ZK_ERR_SHAPE, "N·k = %" PRId64 " x %" PRId64 " pairs, must be below 2^31", N, k);
  ZK_CHECK(take_i32_vector(call, "src_idx", src_idx, &a.t[2], 0, N * k, "[N·k] (dy's rows × k)"));
  if (a.t[0].rows < N * k)
    return zk_fail(call, ZK_ERR_SHAPE, "y_perm has %" PRId64 " rows, fewer than N·k = %" PRId64, a.t[0].rows, N * k);
  ZK_CHECK(zk_take_opt(call, "weights", weights, &a.t[1], 0));
  if (weights) {
    ZK_CHECK(zk_expect_float(call, "weights", &a.t[1]));
    ZK_CHECK(expect_dims(call, "weights", weights, "dy", dy, dy->ndim - 1, &k, 1, "dy's leading dims, then k"));
  }
  if (dy_perm) {
    ZK_CHECK(take_matrix(call, "dy_perm", dy_perm, &a.t[4], 1, N * k, D, "[N·k, D] (src_idx's length, y_perm's D)"));
    ZK_CHECK(zk_expect_same_dtype(call, "dy_perm", &a.t[4], "y_perm", &a.t[0]));
  }
  if (dweights) {
    ZK_CHECK(zk_take(call, "dweights", dweights, &a.t[5], 1));
    ZK_CHECK(zk_expect_float(call, "dweights", &a.t[5]));
    if (weights) ZK_CHECK(zk_expect_same_dtype(call, "dweights", &a.t[5], "weights", &a.t[1]));
    ZK_CHECK(expect_dims(call, "dweights", dweights, "dy", dy, dy->ndim - 1, &k, 1, "dy's leading dims, then k"));
  }
  a.i[0] = k;
  /* D = 0 still writes dweights = 0 and checks src_idx. */
  if (N == 0 || (!dy_perm && !dweights)) return ZK_OK;
  return zk_dispatch(call, &a);
}
