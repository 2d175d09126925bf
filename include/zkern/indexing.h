/* Gather and scatter with a fused add (spec §16).
 *
 * idx is a compact [M] int32 or int64 tensor; every value must lie in
 * [0, N) (negative values are not wrapped), else ZK_ERR_INDEX: on the CPU
 * before anything is written, on CUDA through the context's error flag at
 * the next zk_ctx_synchronize. */
#ifndef ZKERN_INDEXING_H
#define ZKERN_INDEXING_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* src [N, D], other [M, D], y [M, D] one float dtype:
 * y[i] = round_T(f32(src[idx[i]]) + f32(other[i])).  Bitwise. */
zk_status zk_fused_gather_add(zk_ctx *ctx, const DLTensor *src, const DLTensor *idx, const DLTensor *other,
                              DLTensor *y);

/* updates [M, D] float, y [N, D] any float dtype (f32 recommended):
 * y[n] = round_T(start + Σ_{i: idx[i] = n, ascending i} f32(updates[i])),
 * a sequential f32 sum, start = +0 or, with accumulate, f32(y_old[n]).
 * Rows never referenced become 0 (or stay as they were with accumulate).
 * With deterministic (the default) the result is bitwise reproducible;
 * deterministic = 0 only lets CUDA use f32 atomics (the CPU ignores it). */
zk_status zk_fused_scatter_add(zk_ctx *ctx, const DLTensor *idx, const DLTensor *updates, DLTensor *y,
                               int accumulate, int deterministic);

#ifdef __cplusplus
}
#endif
#endif
