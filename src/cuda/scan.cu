// Prefix sums on CUDA (spec §18): a block per row, the row walked in tiles
// of SCAN_THREADS x SCAN_EPT elements in the scan direction.  A tile is
// loaded into shared memory (coalesced), each thread scans its SCAN_EPT
// consecutive elements serially, the threads' totals are scanned across the
// block (warp shuffles, then the warps' totals by warp 0), and y = carry +
// (thread prefix + own running sum); the carry adds each tile's total in
// order.  The structure depends on D only, so results are the same on every
// run.  A tile is read completely before any of it is written, so y = x
// works; NaN and Inf reach every later prefix through the carry.
//
// When a thread's SCAN_EPT elements are one aligned 16-byte span (16-bit
// rows, D a multiple of SCAN_EPT, aligned rows), the thread loads its run
// straight into registers (reversed in registers for reverse scans) and
// the next tile's run is loaded before this one is scanned: no shared
// tile, no per-element index arithmetic.  The additions are the same, in
// the same order, so both paths give the same bits.
#include "common.cuh"

namespace {

#define SCAN_THREADS 256
#define SCAN_EPT 8
#define SCAN_TILE (SCAN_THREADS * SCAN_EPT)
// Tile position i sits at pad(i): one spare word every 32, so a thread's
// run (stride SCAN_EPT words apart across a warp) falls in 32 distinct
// banks; unpadded it was an 8-way bank conflict on every access, which held
// cumsum to 80% (f32) and 41% (bf16) of the copy rate.
#define SCAN_PADDED (SCAN_TILE + SCAN_TILE / 32)
__device__ __forceinline__ int pad(int i) { return i + (i >> 5); }

struct ScanParams {
  const void *x;
  void *y;
  int64_t x_stride, y_stride, rows, cols;
  bool exclusive, reverse;
};

// The exclusive prefix of the lane below (0 for lane 0): a shift, not
// incl - v, which would turn an Inf into NaN for the elements before it.
__device__ __forceinline__ float shift_up(float incl) {
  float below = __shfl_up_sync(0xffffffffu, incl, 1);
  return (threadIdx.x & 31) ? below : 0.0f;
}

// Exclusive scan of v over the block; *total gets the block's sum.
// warp_sums: 33 floats, not touched again by this thread after the
// second barrier (callers reusing it sooner need a barrier or a second
// buffer).
__device__ __forceinline__ float block_exclusive_scan(float v, float *warp_sums, float *total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const float incl = zk_warp_inclusive_sum(v), excl = shift_up(incl);
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    const float wi = zk_warp_inclusive_sum(lane < warps ? warp_sums[lane] : 0.0f), we = shift_up(wi);
    __syncwarp();
    warp_sums[lane] = we;  // exclusive prefix of each warp
    if (lane == 31) warp_sums[32] = wi;
  }
  __syncthreads();
  *total = warp_sums[32];
  return warp_sums[warp] + excl;
}

template <typename T>
__global__ void __launch_bounds__(SCAN_THREADS) cumsum_kernel(ScanParams p) {
  __shared__ float tile[SCAN_PADDED];
  __shared__ float warp_sums[33];
  const int tid = threadIdx.x;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const T *x = (const T *)p.x + r * p.x_stride;
    T *y = (T *)p.y + r * p.y_stride;
    float carry = 0.0f;
    for (int64_t base = 0; base < p.cols; base += SCAN_TILE) {
      const int n = p.cols - base < SCAN_TILE ? (int)(p.cols - base) : SCAN_TILE;
      // Position i of the tile is element base + i in the scan direction.
      for (int i = tid; i < n; i += SCAN_THREADS) {
        const int64_t j = p.reverse ? p.cols - 1 - (base + i) : base + i;
        tile[pad(i)] = zk_ld(x + j);
      }
      __syncthreads();
      float run = 0.0f, before[SCAN_EPT], after[SCAN_EPT];
#pragma unroll
      for (int e = 0; e < SCAN_EPT; e++) {
        const int i = tid * SCAN_EPT + e;
        before[e] = run;
        run += i < n ? tile[pad(i)] : 0.0f;
        after[e] = run;
      }
      float total;
      const float prefix = block_exclusive_scan(run, warp_sums, &total);
#pragma unroll
      for (int e = 0; e < SCAN_EPT; e++) {
        const int i = tid * SCAN_EPT + e;
        if (i < n) tile[pad(i)] = carry + (prefix + (p.exclusive ? before[e] : after[e]));
      }
      __syncthreads();
      for (int i = tid; i < n; i += SCAN_THREADS) {
        const int64_t j = p.reverse ? p.cols - 1 - (base + i) : base + i;
        zk_st(y + j, tile[pad(i)]);
      }
      carry += total;
      __syncthreads();  // the tile and warp_sums are reused
    }
  }
}

// The span path (see the top): thread t owns tile positions t*SCAN_EPT ..
// t*SCAN_EPT + SCAN_EPT-1, i.e. one aligned span of the row (read
// backwards when reverse).  warp_sums alternates between two buffers by
// tile, so a tile's reads of one never race the next tile's writes.
template <typename T>
__global__ void __launch_bounds__(SCAN_THREADS) cumsum_span_kernel(ScanParams p) {
  __shared__ float warp_sums[2][33];
  const int tid = threadIdx.x;
  const int own = tid * SCAN_EPT;  // the thread's first tile position
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const T *x = (const T *)p.x + r * p.x_stride;
    T *y = (T *)p.y + r * p.y_stride;
    // The span holding tile positions base + own .., or null past the row.
    auto span_at = [&](int64_t base) -> int64_t {
      const int64_t first = base + own;  // positions are whole spans (D % SCAN_EPT == 0)
      if (first >= p.cols) return -1;
      return p.reverse ? p.cols - SCAN_EPT - first : first;
    };
    float next[SCAN_EPT];
    int64_t at = span_at(0);
    if (at >= 0) zk_ld_span<T, SCAN_EPT>(x + at, next);
    float carry = 0.0f;
    int buf = 0;
    for (int64_t base = 0; base < p.cols; base += SCAN_TILE, buf ^= 1) {
      float cur[SCAN_EPT];
      const int64_t cur_at = at;
#pragma unroll
      for (int e = 0; e < SCAN_EPT; e++) cur[e] = cur_at >= 0 ? next[p.reverse ? SCAN_EPT - 1 - e : e] : 0.0f;
      at = span_at(base + SCAN_TILE);  // the next tile's loads fly while this one is scanned
      if (at >= 0) zk_ld_span<T, SCAN_EPT>(x + at, next);
      float run = 0.0f, out[SCAN_EPT];
#pragma unroll
      for (int e = 0; e < SCAN_EPT; e++) {
        const float before = run;
        run += cur[e];
        out[e] = p.exclusive ? before : run;
      }
      float total;
      const float prefix = block_exclusive_scan(run, warp_sums[buf], &total);
      if (cur_at >= 0) {
        float span[SCAN_EPT];
#pragma unroll
        for (int e = 0; e < SCAN_EPT; e++) span[p.reverse ? SCAN_EPT - 1 - e : e] = carry + (prefix + out[e]);
        zk_st_span<T, SCAN_EPT>(y + cur_at, span);
      }
      carry += total;
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
  // The span path for 16-bit rows only: an f32 run is two vectors, every
  // warp access then covers half of each 32-byte sector, and it measured
  // 32% of the copy rate against the shared tile's 87%.
  if (sizeof(T) == 2 && x->cols % SCAN_EPT == 0 && zk_rows_vec_ok(x) && zk_rows_vec_ok(y))
    cumsum_span_kernel<T><<<blocks, SCAN_THREADS, 0, stream>>>(p);
  else
    cumsum_kernel<T><<<blocks, SCAN_THREADS, 0, stream>>>(p);
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
