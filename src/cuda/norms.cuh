// The CUDA row-normalisation engine, shared by the norms and transformer
// families (the counterpart of src/cpu/norms.h).
#ifndef ZK_CUDA_NORMS_CUH
#define ZK_CUDA_NORMS_CUH

#include "common.cuh"

enum zk_cuda_norm_kind { ZK_CUDA_RMS = 0, ZK_CUDA_LAYER = 1 };

struct zk_cuda_norm_fwd {
  zk_cuda_norm_kind kind;
  const zk_rows *x;
  const zk_rows *x2;              // normalise h = round(x + x2); NULL = none
  const zk_rows *y;
  const zk_rows *h;               // stored h; NULL = not stored
  const zk_rows *weight, *bias;   // NULL or absent = none
  float eps;
  const zk_dropout_cfg *drop;     // NULL = none
};

struct zk_cuda_norm_bwd {
  zk_cuda_norm_kind kind;
  const zk_rows *x;
  const zk_rows *x2;              // recompute h = round(x + x2); NULL = none
  const zk_rows *dy;
  const zk_rows *dh;              // added to dx; NULL or absent = none
  const zk_rows *dx;              // NULL or absent = not computed
  const zk_rows *weight;          // NULL = 1
  const zk_rows *dweight, *dbias; // NULL or absent = not computed
  float eps;
  const zk_dropout_cfg *drop;
};

zk_status zk_cuda_norm_forward(zk_ctx *ctx, const zk_call *call, const zk_cuda_norm_fwd *f);
zk_status zk_cuda_norm_backward(zk_ctx *ctx, const zk_call *call, const zk_cuda_norm_bwd *b);

// The second step of a sum over rows through per-block partials (dweight,
// dbias): dst[j] = Σ_b partial[b·D + j] over the partial rows b < blocks,
// in f32 and in a fixed order (eight contiguous ranges of b, each summed in
// order, then the range sums in order), rounded once into dst's dtype;
// blocks = 0 writes zeros.  The bits depend on (blocks, D) only: no atomics.
zk_status zk_cuda_column_sums(const zk_call *call, cudaStream_t stream, const float *partial, int64_t blocks,
                              int64_t D, const zk_rows *dst);

#endif
