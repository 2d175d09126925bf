/* Public entry points of the reductions family (spec §8): boundary checks,
 * then dispatch.  Backend slots: t[0] = x, t[1] = y (topk: values),
 * t[2] = topk's indices; i[0] = kahan (sum, mean), ddof (var, std) or k
 * (topk); f[0] = eps (std). */
#include <inttypes.h>
#include <zkern/reductions.h>
#include "../core/tensor.h"

/* x, and y of shape x.shape[:-1] (or keepdim) with one value per row.
 * y_dtype: the dtype y must have, or ZK_DTYPE_INVALID for any float. */
static zk_status take_row_values(const zk_call *call, zk_args *a, const DLTensor *x, DLTensor *y, const char *y_name,
                                 zk_dtype y_dtype) {
  ZK_CHECK(zk_take_input(call, "x", x, &a->t[0], 1));
  ZK_CHECK(zk_take_reduced(call, y_name, y, &a->t[1], 1, "x", x, 1));
  if (y_dtype == ZK_DTYPE_INVALID) return zk_expect_float(call, y_name, &a->t[1]);
  return zk_expect_dtype(call, y_name, &a->t[1], y_dtype);
}

/* Rows of zero elements still get their value (sum 0, mean/var NaN). */
static zk_status dispatch_rows(const zk_call *call, zk_args *a) {
  if (a->t[0].rows == 0) return ZK_OK;
  return zk_dispatch(call, a);
}

static zk_status expect_nonempty_rows(const zk_call *call, const zk_rows *x) {
  if (x->cols > 0) return ZK_OK;
  return zk_fail(call, ZK_ERR_SHAPE, "x has rows of 0 elements; the reduction has no value there");
}

static zk_status expect_ddof(const zk_call *call, int ddof) {
  if (ddof == 0 || ddof == 1) return ZK_OK;
  return zk_fail(call, ZK_ERR_ARG, "ddof is %d, must be 0 or 1", ddof);
}

static zk_status sum_like(const zk_call *call, zk_op_id op, const DLTensor *x, DLTensor *y, int kahan) {
  zk_args a = {.op = op};
  ZK_CHECK(take_row_values(call, &a, x, y, "y", ZK_DTYPE_INVALID));
  a.i[0] = kahan != 0;
  return dispatch_rows(call, &a);
}

zk_status zk_sum_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int kahan) {
  ZK_BEGIN(sum_lastdim);
  return sum_like(call, ZK_OP_sum_lastdim, x, y, kahan);
}

zk_status zk_mean_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int kahan) {
  ZK_BEGIN(mean_lastdim);
  return sum_like(call, ZK_OP_mean_lastdim, x, y, kahan);
}

zk_status zk_max_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y) {
  ZK_BEGIN(max_lastdim);
  zk_args a = {.op = ZK_OP_max_lastdim};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_reduced(call, "y", y, &a.t[1], 1, "x", x, 1));
  ZK_CHECK(zk_expect_same_dtype(call, "y", &a.t[1], "x", &a.t[0]));
  ZK_CHECK(expect_nonempty_rows(call, &a.t[0]));
  return dispatch_rows(call, &a);
}

static zk_status var_like(const zk_call *call, zk_op_id op, const DLTensor *x, DLTensor *y, int ddof, float eps) {
  zk_args a = {.op = op};
  ZK_CHECK(take_row_values(call, &a, x, y, "y", ZK_DTYPE_INVALID));
  ZK_CHECK(expect_ddof(call, ddof));
  ZK_CHECK(zk_expect_eps(call, eps));
  a.i[0] = ddof;
  a.f[0] = eps;
  return dispatch_rows(call, &a);
}

zk_status zk_var_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int ddof) {
  ZK_BEGIN(var_lastdim);
  return var_like(call, ZK_OP_var_lastdim, x, y, ddof, 0.0f);
}

zk_status zk_std_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int ddof, float eps) {
  ZK_BEGIN(std_lastdim);
  return var_like(call, ZK_OP_std_lastdim, x, y, ddof, eps);
}

/* Indices are uint32: rows longer than that cannot be indexed. */
static zk_status expect_indexable_rows(const zk_call *call, const zk_rows *x) {
  if (x->cols <= (int64_t)UINT32_MAX) return ZK_OK;
  return zk_fail(call, ZK_ERR_SHAPE, "x has rows of %" PRId64 " elements, uint32 indices reach %" PRIu32,
                 x->cols, UINT32_MAX);
}

zk_status zk_argmax_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *idx) {
  ZK_BEGIN(argmax_lastdim);
  zk_args a = {.op = ZK_OP_argmax_lastdim};
  ZK_CHECK(take_row_values(call, &a, x, idx, "idx", ZK_U32));
  ZK_CHECK(expect_nonempty_rows(call, &a.t[0]));
  ZK_CHECK(expect_indexable_rows(call, &a.t[0]));
  return dispatch_rows(call, &a);
}

zk_status zk_topk_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *values, DLTensor *indices, int64_t k) {
  ZK_BEGIN(topk_lastdim);
  zk_args a = {.op = ZK_OP_topk_lastdim};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(expect_indexable_rows(call, &a.t[0]));
  if (k < 1 || k > a.t[0].cols)
    return zk_fail(call, ZK_ERR_ARG, "k is %" PRId64 ", must be in [1, %" PRId64 "] (x's last dimension)", k,
                   a.t[0].cols);
  ZK_CHECK(zk_take(call, "values", values, &a.t[1], 1));
  ZK_CHECK(zk_expect_same_dtype(call, "values", &a.t[1], "x", &a.t[0]));
  ZK_CHECK(zk_expect_last_dim_is(call, "values", values, "x", x, k));
  ZK_CHECK(zk_take(call, "indices", indices, &a.t[2], 1));
  ZK_CHECK(zk_expect_dtype(call, "indices", &a.t[2], ZK_U32));
  ZK_CHECK(zk_expect_last_dim_is(call, "indices", indices, "x", x, k));
  a.i[0] = k;
  return dispatch_rows(call, &a);
}
