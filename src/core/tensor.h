/* Boundary checks used by the API files (src/api/<family>.c).  Each returns
 * ZK_OK or records a message naming the op and the value, and returns the
 * error; API functions run every check before dispatching, so a rejected
 * call writes nothing. */
#ifndef ZK_CORE_TENSOR_H
#define ZK_CORE_TENSOR_H

#include "internal.h"

/* DLPack's kDLBool (newer headers) is type code 6. */
#define ZK_DLPACK_BOOL 6

/* A required tensor as rows of its last dimension: checks NULL, dtype
 * known, device, last-dim contiguity, one leading row stride, alignment.
 * output: rows of an output must not overlap (stride >= row size). */
zk_status zk_take(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output);
/* As zk_take, but NULL is allowed: out->data is then NULL. */
zk_status zk_take_opt(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output);

zk_status zk_expect_float(const zk_call *c, const char *name, const zk_rows *t);
zk_status zk_expect_same_dtype(const zk_call *c, const char *name, const zk_rows *t, const char *ref_name,
                               const zk_rows *ref);
/* Exactly the same shape. */
zk_status zk_expect_same_shape(const zk_call *c, const char *name, const DLTensor *t, const char *ref_name,
                               const DLTensor *ref);
/* ref's shape with the last dimension scaled by num/den (swiglu: 1/2). */
zk_status zk_expect_last_dim(const zk_call *c, const char *name, const DLTensor *t, const char *ref_name,
                             const DLTensor *ref, int64_t num, int64_t den);
/* A 1-D [n] parameter vector; what says what n is ("x's last dimension"). */
zk_status zk_expect_vector(const zk_call *c, const char *name, const DLTensor *t, int64_t n,
                           const char *what);
zk_status zk_expect_eps(const zk_call *c, float eps);
/* Validates p and forms the f32 scale of spec §4.0. */
zk_status zk_make_dropout(const zk_call *c, float p, uint64_t seed, uint64_t offset, zk_dropout_cfg *out);

void zk_format_shape(const DLTensor *t, char *buf, size_t cap);

/* Chains checks: ZK_CHECK(expr) returns from the API function on failure. */
#define ZK_CHECK(expr)                \
  do {                                \
    zk_status zk_check_s_ = (expr);   \
    if (zk_check_s_ != ZK_OK) return zk_check_s_; \
  } while (0)

/* Opens an API function: NULL context -> ZK_ERR_ARG; declares `call`. */
#define ZK_BEGIN(opname)                        \
  if (!ctx) return ZK_ERR_ARG;                  \
  zk_call call_ = {ctx, "zk_" #opname};         \
  const zk_call *call = &call_;                 \
  ctx->error[0] = 0

#endif

/* Row ops need at least one dimension (the row). */
zk_status zk_expect_rank(const zk_call *c, const char *name, const DLTensor *t, int min_ndim);
/* True when the call has no work: no rows or empty rows. */
static inline int zk_no_rows(const zk_rows *t) { return t->rows == 0 || t->cols == 0; }

/* ------------------------------------------------ helpers of the API files
 * The shapes of check every family repeats. */

/* The first activation tensor of a call: float, at least min_ndim dims. */
zk_status zk_take_input(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int min_ndim);
/* A tensor shaped and typed exactly like ref (an output when output). */
zk_status zk_take_like(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output,
                       const char *ref_name, const DLTensor *ref, const zk_rows *aref);
/* As zk_take_like, but NULL is allowed (an absent optional tensor). */
zk_status zk_take_like_opt(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output,
                           const char *ref_name, const DLTensor *ref, const zk_rows *aref);
/* A [n] float parameter in its own dtype; NULL allowed when opt. */
zk_status zk_take_param(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int opt, int64_t n,
                        const char *what);
/* An optional [n] parameter gradient in its parameter's dtype (any float
 * when the parameter is not an argument of the call: param NULL). */
zk_status zk_take_param_grad(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int64_t n,
                             const char *what, const char *param_name, const zk_rows *param);
/* A tensor whose row is its last row_dims dims (spec "row [H, D]"): cols =
 * the product of the row dims, which must be compact row-major; rows = the
 * product of the leading dims, which collapse to one stride as in zk_take.
 * row_dims = 1 is zk_take. */
zk_status zk_take_row_dims(const zk_call *c, const char *name, const DLTensor *t, int row_dims, zk_rows *out,
                           int output);
/* Exactly ndim dimensions (SHAPE otherwise); what names the layout ("[B, S, H, D]"). */
zk_status zk_expect_ndim(const zk_call *c, const char *name, const DLTensor *t, int ndim, const char *what);
/* A float tensor of exactly ndim dims whose row is its last two ([heads,
 * D]: rope's and attention's q, k, caches); what names the layout. */
zk_status zk_take_heads(const zk_call *c, const char *name, const DLTensor *t, int ndim, const char *what,
                        zk_rows *out, int output);
/* A fully compact tensor (the spec's "(c)": caches, index tensors). */
zk_status zk_expect_compact(const zk_call *c, const char *name, const DLTensor *t);
/* An index tensor: int32 or int64 (int32 only when int32_only). */
zk_status zk_expect_index(const zk_call *c, const char *name, const zk_rows *t, int int32_only);
/* Dispatch unless there is nothing to do: no rows or empty rows.  With
 * sums over rows ([D] parameter gradients) rows == 0 still runs (sums 0). */
zk_status zk_dispatch_rows(const zk_call *c, zk_args *a, const zk_rows *x, int has_row_sums);

/* ------------------------------------------- reduced and per-row tensors
 * Reductions and losses write one value per row of a reference tensor. */

/* A tensor of ref's shape without its last dimension (x.shape[:-1]; 0-d
 * for a 1-D ref), or, when keepdim_ok, with that dimension as 1.  The view
 * has one element per row: rows = R, cols = 1, stride = the stride between
 * rows' values. */
zk_status zk_take_reduced(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output,
                          const char *ref_name, const DLTensor *ref, int keepdim_ok);
/* A single value: shape [] or [1]. */
zk_status zk_take_scalar(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output);
/* ref's leading dims with a last dimension of n (topk's [..., k]). */
zk_status zk_expect_last_dim_is(const zk_call *c, const char *name, const DLTensor *t, const char *ref_name,
                                const DLTensor *ref, int64_t n);
/* Exactly dtype want (index outputs). */
zk_status zk_expect_dtype(const zk_call *c, const char *name, const zk_rows *t, zk_dtype want);

