// Row access for block-per-row kernels: a block walks one row with 16-byte
// vectors (VEC) or with coalesced scalars, handing each element to a
// functor as f32.  Used by the norm engine and the other row families.
#ifndef ZK_CUDA_ROWS_CUH
#define ZK_CUDA_ROWS_CUH

#include "common.cuh"

// Visits every element of a row once: f(j, value).
template <typename T, bool VEC, typename F>
__device__ __forceinline__ void zk_row_each(const T *row, int64_t D, F f) {
  if (VEC) {
    constexpr int E = zk_vec<T>::EPV;
    for (int64_t q = threadIdx.x; q * E < D; q += blockDim.x) {
      zk_vec<T> v;
      v.load(row + q * E);
#pragma unroll
      for (int e = 0; e < E; e++) f(q * E + e, v.get(e));
    }
  } else {
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) f(j, zk_ld(row + j));
  }
}

// Writes out[j] = g(j) for a row, vectorized like zk_row_each.
template <typename T, bool VEC, typename G>
__device__ __forceinline__ void zk_row_write(T *out, int64_t D, G g) {
  if (VEC) {
    constexpr int E = zk_vec<T>::EPV;
    for (int64_t q = threadIdx.x; q * E < D; q += blockDim.x) {
      zk_vec<T> v;
#pragma unroll
      for (int e = 0; e < E; e++) v.set(e, g(q * E + e));
      v.store(out + q * E);
    }
  } else {
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) zk_st(out + j, g(j));
  }
}

// Threads per block for a row of D elements: enough 16-byte vectors in
// flight, a multiple of 32, at most 1024.
static inline int zk_row_threads(int64_t D, int elem_bytes) {
  int64_t vecs = (D * elem_bytes + 15) / 16;
  int64_t t = (vecs + 1) / 2;  // about two vectors per thread per pass
  if (t < 32) t = 32;
  if (t > 1024) t = 1024;
  return (int)((t + 31) / 32 * 32);
}

// Dropout draws of one thread, regenerated only when element n moves to a
// new Philox block (4 elements share one).
struct zk_drop_stream {
  uint64_t seed, block;
  uint32_t draw[4];
  bool valid;
  __device__ __forceinline__ uint32_t at(uint64_t n) {
    if (!valid || (n >> 2) != block) {
      block = n >> 2;
      zk_dropout_draws(seed, block, draw);
      valid = true;
    }
    // Constant indices only: a dynamic draw[n & 3] would put the stream
    // (and whatever holds it) in local memory.
    unsigned k = (unsigned)(n & 3);
    return k == 0 ? draw[0] : k == 1 ? draw[1] : k == 2 ? draw[2] : draw[3];
  }
};

#endif
