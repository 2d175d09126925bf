/* DLTensor checks at the API boundary: dtype, device, layout, shapes.
 * Each check names the op and the offending value in the context's message. */
#include <inttypes.h>
#include <stdio.h>
#include "internal.h"
#include "tensor.h"

int zk_dtype_size(zk_dtype t) {
  switch (t) {
    case ZK_F32: case ZK_I32: case ZK_U32: return 4;
    case ZK_F16: case ZK_BF16: return 2;
    case ZK_I64: return 8;
    case ZK_U8: case ZK_I8: return 1;
    default: return 0;
  }
}

const char *zk_dtype_name(zk_dtype t) {
  static const char *names[] = {"f32", "f16", "bf16", "int32", "int64", "uint8", "uint32", "int8"};
  return t >= 0 && t < ZK_DTYPE_COUNT ? names[t] : "invalid";
}

zk_dtype zk_dtype_of(DLDataType t) {
  if (t.lanes != 1) return ZK_DTYPE_INVALID;
  switch (t.code) {
    case kDLFloat: return t.bits == 32 ? ZK_F32 : t.bits == 16 ? ZK_F16 : ZK_DTYPE_INVALID;
    case kDLBfloat: return t.bits == 16 ? ZK_BF16 : ZK_DTYPE_INVALID;
    case kDLInt: return t.bits == 32 ? ZK_I32 : t.bits == 64 ? ZK_I64 : t.bits == 8 ? ZK_I8 : ZK_DTYPE_INVALID;
    case kDLUInt: return t.bits == 8 ? ZK_U8 : t.bits == 32 ? ZK_U32 : ZK_DTYPE_INVALID;
    case ZK_DLPACK_BOOL: return t.bits == 8 ? ZK_U8 : ZK_DTYPE_INVALID;
    default: return ZK_DTYPE_INVALID;
  }
}

static const char *device_name(DLDeviceType t) {
  switch (t) {
    case kDLCPU: return "cpu";
    case kDLCUDA: return "cuda";
    case kDLCUDAHost: return "cuda_host";
    case kDLCUDAManaged: return "cuda_managed";
    default: return "an unsupported device";
  }
}

static int on_ctx_device(const zk_ctx *ctx, DLDevice d) {
  if (ctx->device.device_type == kDLCPU) return d.device_type == kDLCPU || d.device_type == kDLCUDAHost;
  return (d.device_type == kDLCUDA || d.device_type == kDLCUDAManaged) &&
         d.device_id == ctx->device.device_id;
}

void zk_format_shape(const DLTensor *t, char *buf, size_t cap) {
  size_t n = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < t->ndim && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, i ? ", %" PRId64 : "%" PRId64, t->shape[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int64_t dim_stride(const DLTensor *t, int i) {
  if (t->strides) return t->strides[i];
  int64_t s = 1;
  for (int k = i + 1; k < t->ndim; k++) s *= t->shape[k];
  return s;
}

zk_status zk_take(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output) {
  if (!t) return zk_fail(c, ZK_ERR_ARG, "%s is NULL", name);
  zk_dtype dt = zk_dtype_of(t->dtype);
  if (dt == ZK_DTYPE_INVALID)
    return zk_fail(c, ZK_ERR_DTYPE, "%s has an unsupported dtype (code %u, %u bits, %u lanes)", name,
                   t->dtype.code, t->dtype.bits, t->dtype.lanes);
  if (!on_ctx_device(c->ctx, t->device))
    return zk_fail(c, ZK_ERR_DEVICE, "%s is on %s:%d, the context is on %s:%d", name,
                   device_name(t->device.device_type), t->device.device_id,
                   device_name(c->ctx->device.device_type), c->ctx->device.device_id);
  if (t->ndim < 0 || (t->ndim > 0 && !t->shape))
    return zk_fail(c, ZK_ERR_SHAPE, "%s has ndim %d and no shape", name, t->ndim);

  int64_t cols = t->ndim ? t->shape[t->ndim - 1] : 1, rows = 1;
  for (int i = 0; i < t->ndim; i++) {
    if (t->shape[i] < 0) return zk_fail(c, ZK_ERR_SHAPE, "%s has a negative dimension %d", name, i);
    if (i < t->ndim - 1) rows *= t->shape[i];
  }
  out->dtype = dt;
  out->rows = rows;
  out->cols = cols;
  out->stride = cols;
  if (rows == 0 || cols == 0) {  /* empty: nothing is read or written, layout is moot */
    out->data = (char *)t->data + t->byte_offset;
    return ZK_OK;
  }
  if (!t->data) return zk_fail(c, ZK_ERR_ARG, "%s has a NULL data pointer", name);

  if (cols > 1 && dim_stride(t, t->ndim - 1) != 1)
    return zk_fail(c, ZK_ERR_LAYOUT, "%s's last dimension has stride %" PRId64 ", must be 1", name,
                   dim_stride(t, t->ndim - 1));
  /* The leading dims must act as one dim of R rows with a single stride. */
  int64_t stride = cols, expect = 0;
  int leading = 0;
  for (int i = t->ndim - 2; i >= 0; i--) {
    if (t->shape[i] == 1) continue;
    int64_t s = dim_stride(t, i);
    if (!leading++) {
      stride = s;
    } else if (s != expect) {
      return zk_fail(c, ZK_ERR_LAYOUT,
                     "%s's leading dimensions do not collapse to one row stride (dim %d has stride %" PRId64
                     ", expected %" PRId64 ")",
                     name, i, s, expect);
    }
    expect = s * t->shape[i];
  }
  if (stride < 0 || (output && rows > 1 && stride < cols))
    return zk_fail(c, ZK_ERR_LAYOUT, "%s has row stride %" PRId64 " for rows of %" PRId64 " elements",
                   name, stride, cols);
  out->stride = stride;
  char *p = (char *)t->data + t->byte_offset;
  if ((uintptr_t)p % (uintptr_t)zk_dtype_size(dt))
    return zk_fail(c, ZK_ERR_LAYOUT, "%s's data is not aligned to its %d-byte elements", name,
                   zk_dtype_size(dt));
  out->data = p;
  return ZK_OK;
}

/* Views t as [leading..., product of the row dims] after checking that the
 * row dims are compact, then takes that view. */
#define ZK_MAX_NDIM 16
zk_status zk_take_row_dims(const zk_call *c, const char *name, const DLTensor *t, int row_dims, zk_rows *out,
                           int output) {
  if (row_dims <= 1 || !t || t->ndim < row_dims || !t->shape) return zk_take(c, name, t, out, output);
  if (t->ndim > ZK_MAX_NDIM) return zk_fail(c, ZK_ERR_SHAPE, "%s has %d dimensions, at most %d", name, t->ndim, ZK_MAX_NDIM);
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] < 0) return zk_fail(c, ZK_ERR_SHAPE, "%s has a negative dimension %d", name, i);
  int lead = t->ndim - row_dims;
  int64_t shape[ZK_MAX_NDIM], strides[ZK_MAX_NDIM], cols = 1;
  for (int i = lead; i < t->ndim; i++) cols *= t->shape[i];
  /* Row dims of size 1 have no meaningful stride; an empty row is moot. */
  for (int64_t i = t->ndim - 1, expect = 1; cols > 0 && t->strides && i >= lead; expect *= t->shape[i--])
    if (t->shape[i] != 1 && t->strides[i] != expect)
      return zk_fail(c, ZK_ERR_LAYOUT,
                     "%s's row (its last %d dimensions) is not compact: dim %d has stride %" PRId64
                     ", expected %" PRId64,
                     name, row_dims, (int)i, t->strides[i], expect);
  for (int i = 0; i < lead; i++) shape[i] = t->shape[i], strides[i] = dim_stride(t, i);
  shape[lead] = cols;
  strides[lead] = 1;
  DLTensor view = *t;
  view.ndim = lead + 1;
  view.shape = shape;
  view.strides = strides;
  return zk_take(c, name, &view, out, output);
}

zk_status zk_expect_ndim(const zk_call *c, const char *name, const DLTensor *t, int ndim, const char *what) {
  if (t->ndim == ndim) return ZK_OK;
  char a[160];
  zk_format_shape(t, a, sizeof a);
  return zk_fail(c, ZK_ERR_SHAPE, "%s has shape %s, must be %s", name, a, what);
}

zk_status zk_expect_compact(const zk_call *c, const char *name, const DLTensor *t) {
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] == 0) return ZK_OK; /* empty: layout is moot */
  int64_t expect = 1;
  for (int i = t->ndim - 1; t->strides && i >= 0; i--) {
    if (t->shape[i] != 1 && t->strides[i] != expect)
      return zk_fail(c, ZK_ERR_LAYOUT, "%s must be compact: dim %d has stride %" PRId64 ", expected %" PRId64, name,
                     i, t->strides[i], expect);
    expect *= t->shape[i];
  }
  return ZK_OK;
}

zk_status zk_expect_index(const zk_call *c, const char *name, const zk_rows *t, int int32_only) {
  if (t->dtype == ZK_I32 || (t->dtype == ZK_I64 && !int32_only)) return ZK_OK;
  return zk_fail(c, ZK_ERR_DTYPE, "%s has dtype %s, must be int32%s", name, zk_dtype_name(t->dtype),
                 int32_only ? "" : " or int64");
}

zk_status zk_take_opt(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output) {
  if (!t) {
    *out = (zk_rows){0};
    out->dtype = ZK_DTYPE_INVALID;
    return ZK_OK;
  }
  return zk_take(c, name, t, out, output);
}

zk_status zk_expect_float(const zk_call *c, const char *name, const zk_rows *t) {
  if (zk_dtype_is_float(t->dtype)) return ZK_OK;
  return zk_fail(c, ZK_ERR_DTYPE, "%s has dtype %s, must be f32, f16 or bf16", name, zk_dtype_name(t->dtype));
}

zk_status zk_expect_same_dtype(const zk_call *c, const char *name, const zk_rows *t, const char *ref_name,
                               const zk_rows *ref) {
  if (t->dtype == ref->dtype) return ZK_OK;
  return zk_fail(c, ZK_ERR_DTYPE, "%s has dtype %s, %s has %s", name, zk_dtype_name(t->dtype), ref_name,
                 zk_dtype_name(ref->dtype));
}

zk_status zk_expect_same_shape(const zk_call *c, const char *name, const DLTensor *t, const char *ref_name,
                               const DLTensor *ref) {
  int same = t->ndim == ref->ndim;
  for (int i = 0; same && i < t->ndim; i++) same = t->shape[i] == ref->shape[i];
  if (same) return ZK_OK;
  char a[160], b[160];
  zk_format_shape(t, a, sizeof a);
  zk_format_shape(ref, b, sizeof b);
  return zk_fail(c, ZK_ERR_SHAPE, "%s has shape %s, %s has %s", name, a, ref_name, b);
}

zk_status zk_expect_last_dim(const zk_call *c, const char *name, const DLTensor *t, const char *ref_name,
                             const DLTensor *ref, int64_t num, int64_t den) {
  int same = t->ndim == ref->ndim && t->ndim >= 1;
  for (int i = 0; same && i < t->ndim - 1; i++) same = t->shape[i] == ref->shape[i];
  int64_t want = ref->ndim ? ref->shape[ref->ndim - 1] * num / den : 0;
  if (same && t->shape[t->ndim - 1] == want) return ZK_OK;
  char a[160], b[160];
  zk_format_shape(t, a, sizeof a);
  zk_format_shape(ref, b, sizeof b);
  return zk_fail(c, ZK_ERR_SHAPE, "%s has shape %s, expected %s's %s with last dimension %" PRId64, name, a,
                 ref_name, b, want);
}

zk_status zk_expect_vector(const zk_call *c, const char *name, const DLTensor *t, int64_t n,
                           const char *what) {
  if (t->ndim == 1 && t->shape[0] == n) return ZK_OK;
  char a[160];
  zk_format_shape(t, a, sizeof a);
  return zk_fail(c, ZK_ERR_SHAPE, "%s has shape %s, must be [%" PRId64 "] (%s)", name, a, n, what);
}

zk_status zk_expect_eps(const zk_call *c, float eps) {
  if (eps >= 0.0f && eps <= 3.4e38f) return ZK_OK;
  return zk_fail(c, ZK_ERR_ARG, "eps is %g, must be finite and >= 0", (double)eps);
}

zk_status zk_make_dropout(const zk_call *c, float p, uint64_t seed, uint64_t offset, zk_dropout_cfg *out) {
  if (!(p >= 0.0f && p <= 1.0f)) return zk_fail(c, ZK_ERR_ARG, "p is %g, must be in [0, 1]", (double)p);
  out->p = p;
  out->scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  out->seed = seed;
  out->offset = offset;
  return ZK_OK;
}

zk_status zk_expect_rank(const zk_call *c, const char *name, const DLTensor *t, int min_ndim) {
  if (t->ndim >= min_ndim) return ZK_OK;
  return zk_fail(c, ZK_ERR_SHAPE, "%s has %d dimensions, needs at least %d", name, t->ndim, min_ndim);
}

zk_status zk_take_input(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int min_ndim) {
  ZK_CHECK(zk_take(c, name, t, out, 0));
  ZK_CHECK(zk_expect_float(c, name, out));
  return zk_expect_rank(c, name, t, min_ndim);
}

zk_status zk_take_like(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output,
                       const char *ref_name, const DLTensor *ref, const zk_rows *aref) {
  ZK_CHECK(zk_take(c, name, t, out, output));
  ZK_CHECK(zk_expect_same_dtype(c, name, out, ref_name, aref));
  return zk_expect_same_shape(c, name, t, ref_name, ref);
}

zk_status zk_take_like_opt(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output,
                           const char *ref_name, const DLTensor *ref, const zk_rows *aref) {
  if (!t) return zk_take_opt(c, name, t, out, output);
  return zk_take_like(c, name, t, out, output, ref_name, ref, aref);
}

zk_status zk_take_param(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int opt, int64_t n,
                        const char *what) {
  if (opt && !t) return zk_take_opt(c, name, t, out, 0);
  ZK_CHECK(zk_take(c, name, t, out, 0));
  ZK_CHECK(zk_expect_float(c, name, out));
  return zk_expect_vector(c, name, t, n, what);
}

zk_status zk_take_param_grad(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int64_t n,
                             const char *what, const char *param_name, const zk_rows *param) {
  if (!t) return zk_take_opt(c, name, t, out, 1);
  ZK_CHECK(zk_take(c, name, t, out, 1));
  ZK_CHECK(zk_expect_vector(c, name, t, n, what));
  if (param && zk_present(param)) return zk_expect_same_dtype(c, name, out, param_name, param);
  return zk_expect_float(c, name, out);
}

zk_status zk_dispatch_rows(const zk_call *c, zk_args *a, const zk_rows *x, int has_row_sums) {
  if (x->cols == 0 || (x->rows == 0 && !has_row_sums)) return ZK_OK;
  return zk_dispatch(c, a);
}

/* ------------------------------------------- reduced and per-row outputs */

/* The dims of t as a stack of one-element rows: t viewed with a trailing
 * dim of 1 appended, so zk_take collapses all of t's dims into the rows. */
static zk_status take_as_rows_of_one(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out,
                                     int output) {
  enum { MAX_DIMS = 32 };
  if (t->ndim < 0 || t->ndim >= MAX_DIMS)
    return zk_fail(c, ZK_ERR_SHAPE, "%s has %d dimensions, at most %d are supported", name, t->ndim, MAX_DIMS - 1);
  int64_t shape[MAX_DIMS], strides[MAX_DIMS];
  for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i], strides[i] = dim_stride(t, i);
  shape[t->ndim] = 1;
  strides[t->ndim] = 1;
  DLTensor v = *t;
  v.ndim = t->ndim + 1;
  v.shape = shape;
  v.strides = strides;
  return zk_take(c, name, &v, out, output);
}

static int same_dims(const DLTensor *a, const DLTensor *b, int n) {
  for (int i = 0; i < n; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

zk_status zk_take_reduced(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output,
                          const char *ref_name, const DLTensor *ref, int keepdim_ok) {
  if (!t) return zk_fail(c, ZK_ERR_ARG, "%s is NULL", name);
  int lead = ref->ndim - 1;
  int plain = t->ndim == lead && t->shape && same_dims(t, ref, lead);
  int keepdim = keepdim_ok && t->ndim == ref->ndim && t->shape && same_dims(t, ref, lead) && t->shape[lead] == 1;
  if (plain) return take_as_rows_of_one(c, name, t, out, output);
  /* The dtype, device and layout complaints come first, as for every tensor. */
  ZK_CHECK(zk_take(c, name, t, out, output));
  if (keepdim) return ZK_OK;
  char a[160], b[160];
  zk_format_shape(t, a, sizeof a);
  zk_format_shape(ref, b, sizeof b);
  return zk_fail(c, ZK_ERR_SHAPE, "%s has shape %s, must be %s's %s without its last dimension%s", name, a,
                 ref_name, b, keepdim_ok ? " (or with it as 1)" : "");
}

zk_status zk_take_scalar(const zk_call *c, const char *name, const DLTensor *t, zk_rows *out, int output) {
  ZK_CHECK(zk_take(c, name, t, out, output));
  if (t->ndim == 0 || (t->ndim == 1 && t->shape[0] == 1)) return ZK_OK;
  char a[160];
  zk_format_shape(t, a, sizeof a);
  return zk_fail(c, ZK_ERR_SHAPE, "%s has shape %s, must be [] or [1]", name, a);
}

zk_status zk_expect_last_dim_is(const zk_call *c, const char *name, const DLTensor *t, const char *ref_name,
                                const DLTensor *ref, int64_t n) {
  int lead = ref->ndim - 1;
  if (t->ndim == ref->ndim && lead >= 0 && same_dims(t, ref, lead) && t->shape[lead] == n) return ZK_OK;
  char a[160], b[160];
  zk_format_shape(t, a, sizeof a);
  zk_format_shape(ref, b, sizeof b);
  return zk_fail(c, ZK_ERR_SHAPE, "%s has shape %s, expected %s's %s with last dimension %" PRId64, name, a,
                 ref_name, b, n);
}

zk_status zk_expect_dtype(const zk_call *c, const char *name, const zk_rows *t, zk_dtype want) {
  if (t->dtype == want) return ZK_OK;
  return zk_fail(c, ZK_ERR_DTYPE, "%s has dtype %s, must be %s", name, zk_dtype_name(t->dtype), zk_dtype_name(want));
}

zk_status zk_take_heads(const zk_call *c, const char *name, const DLTensor *t, int ndim, const char *what,
                        zk_rows *out, int output) {
  if (!t) return zk_fail(c, ZK_ERR_ARG, "%s is NULL", name);
  ZK_CHECK(zk_take_row_dims(c, name, t, 2, out, output));
  ZK_CHECK(zk_expect_float(c, name, out));
  return zk_expect_ndim(c, name, t, ndim, what);
}
