// Prefix sums on CUDA (spec §18): a block per row, the row walked in tiles
// of SCAN_THREADS x EPT elements in the scan direction.  Each thread loads
// its EPT consecutive elements (two 16-byte vectors) and scans them
// serially, the threads' totals are scanned across the
// block (warp shuffles, then the warps' totals by warp 0), and y = carry +
// (thread prefix + own running sum); the carry adds each tile's total in
// order.  The structure depends on D and the dtype only, so results are
// the same on every run.  A thread writes only the elements it read, so
// y = x works; NaN and Inf reach every later prefix through the carry.
#include "common.cuh"

namespace {

#define SCAN_THREADS 256

struct ScanParams {
  const void *x;
  void *y;
  int64_t x_stride, y_stride, rows, cols;
  bool exclusive, reverse;
};

// Inclusive scan over the warp (Hillis-Steele on shuffles).
__device__ __forceinline__ float warp_inclusive_scan(float v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    float up = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += up;
  }
  return v;
}

// The exclusive prefix of the lane below (0 for lane 0): a shift, not
// incl - v, which would turn an Inf into NaN for the elements before it.
__device__ __forceinline__ float shift_up(float incl) {
  float below = __shfl_up_sync(0xffffffffu, incl, 1);
  return (threadIdx.x & 31) ? below : 0.0f;
}

// Exclusive scan of v over the block; *total gets the block's sum.
__device__ __forceinline__ float block_exclusive_scan(float v, float *warp_sums, float *total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const float incl = warp_inclusive_scan(v), excl = shift_up(incl);
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    const float wi = warp_inclusive_scan(lane < warps ? warp_sums[lane] : 0.0f), we = shift_up(wi);
    __syncwarp();
    warp_sums[lane] = we;  // exclusive prefix of each warp
    if (lane == 31) warp_sums[32] = wi;
  }
  __syncthreads();
  *total = warp_sums[32];
  return warp_sums[warp] + excl;
}

// Elements a thread scans serially: two 16-byte vectors' worth.
template <typename T>
struct Tile {
  static constexpr int EPT = 32 / (int)sizeof(T), SIZE = SCAN_THREADS * EPT;
};

// The EPT elements at positions i0 .. i0+EPT-1 of the tile at base (in the
// scan direction), 0 past the row.  VEC: whole tiles in 16-byte vectors,
// read backwards for reverse (the rows are then a multiple of EPT long, so
// the reversed run is as aligned as the forward one).
template <typename T, bool VEC>
__device__ __forceinline__ void load_run(const ScanParams &p, const T *x, int64_t base, int i0, int n,
                                         float (&v)[Tile<T>::EPT]) {
  constexpr int EPT = Tile<T>::EPT, E = zk_vec<T>::EPV;
  if (VEC && i0 + EPT <= n) {
    const T *at = p.reverse ? x + (p.cols - base - i0 - EPT) : x + base + i0;
#pragma unroll
    for (int c = 0; c < EPT / E; c++) {
      zk_vec<T> q;
      q.load(at + c * E);
      // Constant indices in both branches: a runtime one would put v in
      // local memory (it did: cumsum fell to 30% of the copy rate).
      if (p.reverse) {
#pragma unroll
        for (int e = 0; e < E; e++) v[EPT - 1 - (c * E + e)] = q.get(e);
      } else {
#pragma unroll
        for (int e = 0; e < E; e++) v[c * E + e] = q.get(e);
      }
    }
    return;
  }
#pragma unroll
  for (int e = 0; e < EPT; e++) {
    const int i = i0 + e;
    v[e] = i < n ? zk_ld(x + (p.reverse ? p.cols - 1 - (base + i) : base + i)) : 0.0f;
  }
}

template <typename T, bool VEC>
__device__ __forceinline__ void store_run(const ScanParams &p, T *y, int64_t base, int i0, int n,
                                          const float (&v)[Tile<T>::EPT]) {
  constexpr int EPT = Tile<T>::EPT, E = zk_vec<T>::EPV;
  if (VEC && i0 + EPT <= n) {
    T *at = p.reverse ? y + (p.cols - base - i0 - EPT) : y + base + i0;
#pragma unroll
    for (int c = 0; c < EPT / E; c++) {
      float w[E];
      if (p.reverse) {
#pragma unroll
        for (int e = 0; e < E; e++) w[e] = v[EPT - 1 - (c * E + e)];
      } else {
#pragma unroll
        for (int e = 0; e < E; e++) w[e] = v[c * E + e];
      }
      zk_vec<T> q;
      zk_vec_set_all(q, w);
      q.store(at + c * E);
    }
    return;
  }
#pragma unroll
  for (int e = 0; e < EPT; e++) {
    const int i = i0 + e;
    if (i < n) zk_st(y + (p.reverse ? p.cols - 1 - (base + i) : base + i), v[e]);
  }
}

// Each thread reads its run straight from global memory (consecutive
// threads, consecutive 16-byte vectors), so no tile goes through shared
// memory: staging it there cost an 8-way bank conflict a read.
template <typename T, bool VEC>
__global__ void __launch_bounds__(SCAN_THREADS) cumsum_kernel(ScanParams p) {
  constexpr int EPT = Tile<T>::EPT, SIZE = Tile<T>::SIZE;
  __shared__ float warp_sums[33];
  const int i0 = threadIdx.x * EPT;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const T *x = (const T *)p.x + r * p.x_stride;
    T *y = (T *)p.y + r * p.y_stride;
    float carry = 0.0f;
    for (int64_t base = 0; base < p.cols; base += SIZE) {
      const int n = p.cols - base < SIZE ? (int)(p.cols - base) : SIZE;
      float v[EPT], run = 0.0f;
      load_run<T, VEC>(p, x, base, i0, n, v);  // the whole run is read before any of it is written
#pragma unroll
      for (int e = 0; e < EPT; e++) run += v[e];
      float total;
      const float prefix = block_exclusive_scan(run, warp_sums, &total);
      run = 0.0f;
#pragma unroll
      for (int e = 0; e < EPT; e++) {
        const float before = run;
        run += v[e];
        v[e] = carry + (prefix + (p.exclusive ? before : run));
      }
      store_run<T, VEC>(p, y, base, i0, n, v);
      carry += total;
      __syncthreads();  // warp_sums is reused
    }
  }
}

template <typename T>
static zk_status launch(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const zk_rows *x = &a->t[0], *y = &a->t[1];
  ScanParams p = {x->data, y->data, x->stride, y->stride, x->rows, x->cols, a->i[0] != 0, a->i[1] != 0};
  const int64_t cap = (int64_t)zk_cuda(ctx)->sm_count * 16;
  const unsigned blocks = (unsigned)(x->rows < cap ? x->rows : cap);
  if (zk_rows_vec_ok(x) && zk_rows_vec_ok(y)) cumsum_kernel<T, true><<<blocks, SCAN_THREADS, 0, stream>>>(p);
  else cumsum_kernel<T, false><<<blocks, SCAN_THREADS, 0, stream>>>(p);
  return ZK_CUDA_LAUNCHED(call);
}

static zk_status cumsum(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  switch (a->t[0].dtype) {
    case ZK_F32: return launch<float>(ctx, call, a);
    case ZK_F16: return launch<__half>(ctx, call, a);
    default: return launch<__nv_bfloat16>(ctx, call, a);
  }
}

}  // namespace

// Slots: t[0] = x (dy), t[1] = y (dx); i[0] = exclusive, i[1] = reverse (the
// grad's already flipped by src/api/scan.c).
extern "C" zk_status zk_cuda_cumsum_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, cumsum_lastdim);
  return cumsum(ctx, call, a);
}

extern "C" zk_status zk_cuda_cumsum_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, cumsum_grad);
  return cumsum(ctx, call, a);
}
