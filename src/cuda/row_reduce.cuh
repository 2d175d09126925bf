// A generic row reduction for CUDA: a group of threads (a warp for short
// rows, several rows per block; a whole block for longer ones) folds each
// row into one state and hands the row total to every thread of the group.
//
// The order is fixed by the shape: thread t of a group of G takes the
// row's 16-byte chunks t, t + G, t + 2G, ... (elements t, t + G, ... when
// the rows are not vector-aligned), folding each element in column order;
// then lanes combine with shfl_down in a fixed tree, warps' results are
// combined by warp 0 in warp order, and the total is broadcast.  combine(a,
// b) always gets the state of the lower lanes first, so it needs no
// commutativity.  Same inputs and shape, same bits on every run.
//
// Op interface (device, copyable; State trivially copyable, a multiple of
// 4 bytes):
//   typedef ... State;
//   State identity() const;                            // neutral (threads past the row)
//   State start(float x0) const;                       // a thread's state before its first element (x0 = the row's first)
//   template <int E> void fold(State &s, const float (&v)[E], int64_t j) const;
//     // elements j .. j+E-1 of the row (one 16-byte chunk, or E = 1): a
//     // chunk at a time, so an op can pay its costly step (a division, a
//     // rescale, a key) once a chunk rather than once an element
//   State combine(const State &a, const State &b) const;
//   void finish(const State &total, int64_t r, int tid, int group) const;
//     // every thread of the group, with the row total
#ifndef ZK_CUDA_ROW_REDUCE_CUH
#define ZK_CUDA_ROW_REDUCE_CUH

#include "common.cuh"
#include "rows.cuh"

struct zk_reduce_view {
  const void *data;
  int64_t stride, rows, cols;
};

// A state moved across lanes word by word: shfl(word) is one 32-bit
// shuffle (down by an offset, or from a lane).
template <typename S, typename F>
__device__ __forceinline__ S zk_shfl_words(const S &s, F shfl) {
  static_assert(sizeof(S) % 4 == 0, "states are whole 32-bit words");
  constexpr int N = sizeof(S) / 4;
  union {
    S s;
    uint32_t w[N];
  } in, out;
  in.s = s;
#pragma unroll
  for (int i = 0; i < N; i++) out.w[i] = shfl(in.w[i]);
  return out.s;
}

template <typename S>
__device__ __forceinline__ S zk_shfl_down_state(const S &s, int offset) {
  return zk_shfl_words(s, [=](uint32_t w) { return __shfl_down_sync(0xffffffffu, w, offset); });
}

template <typename S>
__device__ __forceinline__ S zk_shfl_state(const S &s, int lane) {
  return zk_shfl_words(s, [=](uint32_t w) { return __shfl_sync(0xffffffffu, w, lane); });
}

// Chunks a thread loads before folding them: loads in flight per thread.
#define ZK_REDUCE_UNROLL 4

// One row's elements of this thread folded into st.  VEC: 16-byte chunks.
template <typename T, bool VEC, class Op>
__device__ __forceinline__ void zk_fold_row(const Op &op, typename Op::State &st, const T *row, int64_t cols, int tid,
                                            int group) {
  constexpr int E = VEC ? zk_vec<T>::EPV : 1;
  const int64_t chunks = cols / E;
  for (int64_t q0 = tid; q0 < chunks; q0 += (int64_t)group * ZK_REDUCE_UNROLL) {
    zk_vec<T> v[ZK_REDUCE_UNROLL];
    T s[ZK_REDUCE_UNROLL];
#pragma unroll
    for (int u = 0; u < ZK_REDUCE_UNROLL; u++) {
      const int64_t q = q0 + (int64_t)u * group;
      if (q < chunks) {
        if (VEC) v[u].load(row + q * E);
        else s[u] = row[q];
      }
    }
#pragma unroll
    for (int u = 0; u < ZK_REDUCE_UNROLL; u++) {
      const int64_t q = q0 + (int64_t)u * group;
      if (q >= chunks) break;
      float f[E];
#pragma unroll
      for (int e = 0; e < E; e++) f[e] = VEC ? v[u].get(e) : zk_type<T>::load(s[u]);
      op.fold(st, f, q * E);
    }
  }
}

// The group's total, on every thread of the group.  red: 32 states of
// shared memory (block groups).
template <class Op>
__device__ __forceinline__ typename Op::State zk_group_total(const Op &op, typename Op::State st, int group,
                                                             typename Op::State *red) {
  typedef typename Op::State S;
  const int width = group < 32 ? group : 32, lane = threadIdx.x & 31;
  const int base = lane - lane % width;  // the group's first lane within the warp
  for (int o = width / 2; o; o >>= 1) {
    S other = zk_shfl_down_state(st, o);
    if (lane - base + o < width) st = op.combine(st, other);
  }
  st = zk_shfl_state(st, base);
  if (group <= 32) return st;
  const int warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();  // red[] may still be read for the previous row
  if (lane == 0) red[warp] = st;
  __syncthreads();
  if (warp == 0) {
    st = lane < warps ? red[lane] : op.identity();
    for (int o = 16; o; o >>= 1) {
      S other = zk_shfl_down_state(st, o);
      if (lane + o < 32) st = op.combine(st, other);
    }
    if (lane == 0) red[32] = st;
  }
  __syncthreads();
  return red[32];
}

// group = threads per row (a power of two <= 32, or blockDim.x).
template <typename T, bool VEC, class Op>
__global__ void __launch_bounds__(1024) zk_reduce_rows_kernel(zk_reduce_view x, int group, Op op) {
  typedef typename Op::State S;
  __shared__ S red[33];
  const bool lanes = group <= 32;
  const int tid = lanes ? (int)threadIdx.x % group : (int)threadIdx.x;
  const int per_block = lanes ? (int)blockDim.x / group : 1;
  const int sub = lanes ? (int)threadIdx.x / group : 0;
  // Uniform over the block: every thread runs every iteration (barriers).
  for (int64_t base = (int64_t)blockIdx.x * per_block; base < x.rows; base += (int64_t)gridDim.x * per_block) {
    const int64_t r = base + sub;
    S st = op.identity();
    if (r < x.rows && x.cols > 0) {
      const T *row = (const T *)x.data + r * x.stride;
      st = op.start(zk_ld(row));
      zk_fold_row<T, VEC>(op, st, row, x.cols, tid, group);
    }
    st = zk_group_total(op, st, group, red);
    if (r < x.rows) op.finish(st, r, tid, group);
  }
}

// Threads per row: a group of lanes for short rows, a warp up to 2048
// chunks (32 KiB), else a block sized by zk_row_threads.  A warp per row
// needs no barrier, so a warp goes straight on to its next row's loads;
// a block per row stalls on the barriers of its tree once a row, which
// cost 8192 x 4096 sums 30% of the copy rate.  With many long rows
// (ZK_REDUCE_MANY_ROWS or more) a block is at most 256 threads: several
// blocks an SM then overlap one another's barriers and tails, where one
// 1024-thread block of ~60 registers held the SM alone.  Measured on the
// H100, softmax_cross_entropy at 4096 x 128256: bf16 at 1024 / 512 / 256
// threads 76 / 94 / 97% of the copy rate, f32 101-102% at 512 and 256.
// The group depends on the shape only, so results stay the same bits.
#define ZK_REDUCE_MANY_ROWS 1024
static inline int zk_reduce_group(int64_t rows, int64_t cols, int elem_bytes) {
  const int64_t chunks = (cols * elem_bytes + 15) / 16;
  if (chunks <= 64) {
    int g = 1;
    while (g < 32 && g * 2 <= chunks) g *= 2;
    return g;
  }
  if (chunks <= 2048) return 32;
  const int block = zk_row_threads(cols, elem_bytes);
  return rows >= ZK_REDUCE_MANY_ROWS && block > 256 ? 256 : block;
}

// Launches Op over the rows of x (T = x's storage type).
template <typename T, class Op>
static cudaError_t zk_reduce_rows(zk_ctx *ctx, cudaStream_t stream, const zk_rows *x, const Op &op) {
  zk_reduce_view v = {x->data, x->stride, x->rows, x->cols};
  const bool vec = zk_rows_vec_ok(x);
  const int group = zk_reduce_group(x->rows, x->cols, (int)sizeof(T));
  const int threads = group <= 32 ? 256 : group, per_block = group <= 32 ? threads / group : 1;
  int64_t blocks = (x->rows + per_block - 1) / per_block;
  const int64_t cap = (int64_t)zk_cuda(ctx)->sm_count * 32;
  if (blocks > cap) blocks = cap;
  if (blocks < 1) blocks = 1;
  if (vec) zk_reduce_rows_kernel<T, true><<<(unsigned)blocks, threads, 0, stream>>>(v, group, op);
  else zk_reduce_rows_kernel<T, false><<<(unsigned)blocks, threads, 0, stream>>>(v, group, op);
  return cudaGetLastError();
}

#endif
