// Elementwise driver of the CUDA backend (the counterpart of zk_cpu_map):
// NIN inputs and NOUT outputs sharing rows × cols, each with its own row
// stride and one storage dtype T.  A grid-stride loop over 16-byte vectors
// when every view allows it, over elements otherwise.  The functor gets
// f32 values and the element's (row, column):
//   struct Op { __device__ void operator()(float (&out)[NOUT],
//                                          const float (&in)[NIN],
//                                          int64_t r, int64_t j) const; };
// Element (r, j) of every input is read before any output of it is
// written, by the same thread, so exact aliases are safe.
#ifndef ZK_CUDA_MAP_CUH
#define ZK_CUDA_MAP_CUH

#include "common.cuh"

struct zk_map_view {
  void *data;
  int64_t stride;
};

template <int NIN, int NOUT>
struct zk_map_params {
  zk_map_view in[NIN], out[NOUT];
  int64_t rows, cols;
};

template <typename T, int NIN, int NOUT, bool VEC, typename Op>
__global__ void zk_map_kernel(zk_map_params<NIN, NOUT> p, Op op) {
  constexpr int E = VEC ? zk_vec<T>::EPV : 1;
  int64_t per_row = p.cols / E, total = p.rows * per_row;
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (int64_t)gridDim.x * blockDim.x) {
    // One row (a flattened tensor) needs no 64-bit division.
    int64_t r = 0;
    if (p.rows != 1) r = q / per_row;
    int64_t j0 = (q - r * per_row) * E;
    float in[E][NIN];
#pragma unroll
    for (int k = 0; k < NIN; k++) {
      const T *src = (const T *)p.in[k].data + r * p.in[k].stride + j0;
      if (VEC) {
        zk_vec<T> v;
        v.load(src);
#pragma unroll
        for (int e = 0; e < E; e++) in[e][k] = v.get(e);
      } else {
        in[0][k] = zk_ld(src);
      }
    }
    float out[E][NOUT];
#pragma unroll
    for (int e = 0; e < E; e++) op(out[e], in[e], r, j0 + e);
#pragma unroll
    for (int k = 0; k < NOUT; k++) {
      T *dst = (T *)p.out[k].data + r * p.out[k].stride + j0;
      if constexpr (VEC) {
        float w[E];
#pragma unroll
        for (int e = 0; e < E; e++) w[e] = out[e][k];
        zk_vec<T> v;
        zk_vec_set_all(v, w);
        v.store(dst);
      } else {
        zk_st(dst, out[0][k]);
      }
    }
  }
}

template <typename T, int NIN, int NOUT, typename Op>
zk_status zk_cuda_map_typed(zk_ctx *ctx, const zk_call *call, const zk_map_params<NIN, NOUT> &p, bool vec,
                            const Op &op) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  if (vec) {
    unsigned grid = zk_grid_for(ctx, p.rows * (p.cols / zk_vec<T>::EPV), threads);
    zk_map_kernel<T, NIN, NOUT, true><<<grid, threads, 0, stream>>>(p, op);
  } else {
    unsigned grid = zk_grid_for(ctx, p.rows * p.cols, threads);
    zk_map_kernel<T, NIN, NOUT, false><<<grid, threads, 0, stream>>>(p, op);
  }
  return ZK_CUDA_LAUNCHED(call);
}

// Runs op over in[] -> out[] (all of out[0]'s dtype, rows and cols).
template <int NIN, int NOUT, typename Op>
zk_status zk_cuda_map(zk_ctx *ctx, const zk_call *call, const zk_rows *const (&in)[NIN],
                      const zk_rows *const (&out)[NOUT], const Op &op) {
  zk_map_params<NIN, NOUT> p;
  bool vec = true;
  for (int k = 0; k < NIN; k++) {
    p.in[k].data = in[k]->data;
    p.in[k].stride = in[k]->stride;
    vec = vec && zk_rows_vec_ok(in[k]);
  }
  for (int k = 0; k < NOUT; k++) {
    p.out[k].data = out[k]->data;
    p.out[k].stride = out[k]->stride;
    vec = vec && zk_rows_vec_ok(out[k]);
  }
  p.rows = out[0]->rows;
  p.cols = out[0]->cols;
  if (p.rows == 0 || p.cols == 0) return ZK_OK;
  switch (out[0]->dtype) {
    case ZK_F32: return zk_cuda_map_typed<float>(ctx, call, p, vec, op);
    case ZK_F16: return zk_cuda_map_typed<__half>(ctx, call, p, vec, op);
    default: return zk_cuda_map_typed<__nv_bfloat16>(ctx, call, p, vec, op);
  }
}

// zk_cuda_map for ops that ignore the element's position (r, j).  When every
// view is compact the tensors are one row of R·D elements: the vector path
// then needs only the total length to be a multiple of the vector width, and
// a long tensor whose length is not runs its aligned prefix vectorized and
// the last few elements in a second, scalar launch.  Flattening keeps exact
// aliases exact, and the prefix and the tail are disjoint.
template <int NIN, int NOUT, typename Op>
zk_status zk_cuda_flat_map(zk_ctx *ctx, const zk_call *call, const zk_rows *const (&in)[NIN],
                           const zk_rows *const (&out)[NOUT], const Op &op) {
  // Below this many elements a second launch costs more than the scalar path saves.
  constexpr int64_t kSplitMin = int64_t(1) << 20;
  zk_rows part[NIN + NOUT];
  const zk_rows *pin[NIN], *pout[NOUT];
  bool flat = true, aligned = true;
  for (int k = 0; k < NIN + NOUT; k++) {
    part[k] = k < NIN ? *in[k] : *out[k - NIN];
    flat = flat && (part[k].rows <= 1 || part[k].stride == part[k].cols);
    aligned = aligned && (uintptr_t)part[k].data % 16 == 0;
  }
  if (!flat) return zk_cuda_map(ctx, call, in, out, op);
  for (int k = 0; k < NIN; k++) pin[k] = &part[k];
  for (int k = 0; k < NOUT; k++) pout[k] = &part[NIN + k];
  int64_t n = out[0]->rows * out[0]->cols, es = zk_dtype_size(out[0]->dtype), epv = 16 / es;
  int64_t head = (aligned && n >= kSplitMin) ? n / epv * epv : n;
  for (zk_rows &v : part) v.rows = 1, v.cols = v.stride = head;
  zk_status s = zk_cuda_map(ctx, call, pin, pout, op);
  if (s != ZK_OK || head == n) return s;
  for (zk_rows &v : part) v.data = (char *)v.data + head * es, v.cols = v.stride = n - head;
  return zk_cuda_map(ctx, call, pin, pout, op);
}

#endif
