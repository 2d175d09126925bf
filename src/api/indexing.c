/* Public entry points of the indexing family (spec §16): boundary checks,
 * then dispatch.  Backend slots, in signature order:
 *   fused_gather_add    t[0] = src [N, D], t[1] = idx (one row of M), t[2] = other [M, D], t[3] = y [M, D]
 *   fused_scatter_add   t[0] = idx (one row of M), t[1] = updates [M, D], t[2] = y [N, D]
 *                       i[0] = accumulate, i[1] = deterministic
 * Index values are checked by the backend (the CPU scans them first). */
#include <inttypes.h>
#include <zkern/indexing.h>
#include "../core/tensor.h"

/* idx [M]: int32 or int64, compact. */
static zk_status take_idx(const zk_call *call, const DLTensor *idx, zk_rows *out) {
  ZK_CHECK(zk_take(call, "idx", idx, out, 0));
  ZK_CHECK(zk_expect_index(call, "idx", out, 0));
  ZK_CHECK(zk_expect_ndim(call, "idx", idx, 1, "[M]"));
  return zk_expect_compact(call, "idx", idx);
}

/* A [rows, cols] float tensor; rows < 0 or cols < 0: any. */
static zk_status take_matrix(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out, int output,
                             int64_t rows, int64_t cols, const char *what) {
  ZK_CHECK(zk_take(call, name, t, out, output));
  ZK_CHECK(zk_expect_float(call, name, out));
  if (t->ndim == 2 && (rows < 0 || t->shape[0] == rows) && (cols < 0 || t->shape[1] == cols)) return ZK_OK;
  char a[160];
  zk_format_shape(t, a, sizeof a);
  return zk_fail(call, ZK_ERR_SHAPE, "%s has shape %s, must be %s", name, a, what);
}

zk_status zk_fused_gather_add(zk_ctx *ctx, const DLTensor *src, const DLTensor *idx, const DLTensor *other,
                              DLTensor *y) {
  ZK_BEGIN(fused_gather_add);
  zk_args args = {.op = ZK_OP_fused_gather_add};
  ZK_CHECK(take_matrix(call, "src", src, &args.t[0], 0, -1, -1, "[N, D]"));
  ZK_CHECK(take_idx(call, idx, &args.t[1]));
  int64_t M = idx->shape[0], D = src->shape[1];
  ZK_CHECK(take_matrix(call, "other", other, &args.t[2], 0, M, D, "[M, D] (idx's M, src's D)"));
  ZK_CHECK(zk_expect_same_dtype(call, "other", &args.t[2], "src", &args.t[0]));
  ZK_CHECK(take_matrix(call, "y", y, &args.t[3], 1, M, D, "[M, D] (idx's M, src's D)"));
  ZK_CHECK(zk_expect_same_dtype(call, "y", &args.t[3], "src", &args.t[0]));
  if (M == 0) return ZK_OK;
  return zk_dispatch(call, &args); /* D = 0 still has its indices checked */
}

zk_status zk_fused_scatter_add(zk_ctx *ctx, const DLTensor *idx, const DLTensor *updates, DLTensor *y,
                               int accumulate, int deterministic) {
  ZK_BEGIN(fused_scatter_add);
  zk_args args = {.op = ZK_OP_fused_scatter_add};
  ZK_CHECK(take_idx(call, idx, &args.t[0]));
  int64_t M = idx->shape[0];
  ZK_CHECK(take_matrix(call, "updates", updates, &args.t[1], 0, M, -1, "[M, D] (idx's M)"));
  ZK_CHECK(take_matrix(call, "y", y, &args.t[2], 1, -1, updates->shape[1], "[N, D] (updates' D)"));
  args.i[0] = accumulate != 0;
  args.i[1] = deterministic != 0;
  /* M = 0 still zeroes y (without accumulate); an empty y still has its
   * indices checked (N = 0 makes every index out of range). */
  if (M == 0 && (accumulate || args.t[2].rows == 0 || args.t[2].cols == 0)) return ZK_OK;
  return zk_dispatch(call, &args);
}
