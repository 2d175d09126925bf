// Helpers of block-per-row kernels: the block size for a row length, and
// the dropout draws of one thread.
#ifndef ZK_CUDA_ROWS_CUH
#define ZK_CUDA_ROWS_CUH

#include "common.cuh"

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
