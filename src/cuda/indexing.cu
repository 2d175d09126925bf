// Gather-add and scatter-add on CUDA (spec §16).
//
// fused_gather_add: one grid-stride loop over (output row, 16-byte unit):
// the unit's row index is read (idx stays in L1/L2), then the src unit and
// the other unit, one f32 addition per element (__fadd_rn: bitwise, as on
// the CPU), one rounding.  A bad index skips its row (spec §0: that row's
// outputs are left unspecified; here they stay untouched) and raises the
// context's error flag, which zk_ctx_synchronize reports as ZK_ERR_INDEX.
//
// fused_scatter_add, deterministic (the default): the contract is the
// sequential f32 sum over ascending i per destination row, so the work is
// regrouped by destination instead of racing on it:
//   1. keys: key[i] = idx[i] (a bad index gets the key N, sorting last,
//      and raises both the context's flag and a flag of this call), val[i] = i;
//   2. CUB's radix sort of the (key, i) pairs over the bits N needs; the
//      sort is stable, so each row's updates stay in ascending i;
//   3. first[n] = the number of keys below n (one pass over the sorted
//      keys: each position writes the rows it starts);
//   4. one work item per (destination row, 16-byte unit of updates) sums
//      its updates in sorted order, starting from +0 or f32(y_old), and
//      rounds once.  Every element is written by one thread, with the
//      CPU's operation sequence: the bits match the CPU's on every run.
// Keys, values, first[] and the sort's scratch come from the context's
// device workspace.  Step 4 reads the call's flag first and writes nothing
// when an index was bad.  The all-equal worst case serialises each column
// over M updates (inherent in the sequential order); step 4 keeps four
// update rows in flight per thread to hide their latency.
//
// deterministic = false with an f32 y: the call's flag from an index scan,
// y zeroed (without accumulate) and one f32 atomicAdd per update element;
// the order of the additions is then the hardware's (ACC).  An f16 / bf16 y
// always takes the deterministic path (spec: atomics for f32 y only).
//
// Entry points follow the slots of src/api/indexing.c.
#include <limits.h>
#include <cub/device/device_radix_sort.cuh>
#include "common.cuh"

namespace {

__device__ __forceinline__ int64_t idx_at(const void *idx, bool i64, int64_t i) {
  return i64 ? ((const int64_t *)idx)[i] : (int64_t)((const int32_t *)idx)[i];
}

__device__ __forceinline__ void raise_flags(int *ctx_flag, int *call_flag) {
  atomicOr(ctx_flag, 1);
  if (call_flag) atomicOr(call_flag, 1);
}

// Every index in [0, N), else the flags (D = 0 or N = 0: nothing else to do;
// the atomic scatter's first step).
__global__ void check_kernel(const void *idx, bool i64, int64_t M, int64_t N, int *ctx_flag, int *call_flag) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < M; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t v = idx_at(idx, i64, i);
    if (v < 0 || v >= N) raise_flags(ctx_flag, call_flag);
  }
}

zk_status launch_check(zk_ctx *ctx, const zk_call *call, const zk_rows *idx, int64_t N, int *call_flag) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  int64_t M = idx->cols;
  if (M == 0) return ZK_OK;
  const int threads = 256;
  check_kernel<<<zk_grid_for(ctx, M, threads), threads, 0, stream>>>(idx->data, idx->dtype == ZK_I64, M, N,
                                                                      zk_cuda(ctx)->error_flag, call_flag);
  return ZK_CUDA_LAUNCHED(call);
}

// ------------------------------------------------------------ gather-add

struct GatherJob {
  const void *src, *idx, *other;
  void *y;
  bool i64;
  int64_t src_stride, other_stride, y_stride;
  int64_t M, N, D;
  int *error_flag;
};

template <typename T, bool VEC>
__global__ void gather_kernel(GatherJob j) {
  constexpr int E = VEC ? zk_vec<T>::EPV : 1;
  int64_t per_row = j.D / E, total = j.M * per_row;
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (int64_t)gridDim.x * blockDim.x) {
    int64_t i = zk_idiv(q, per_row), j0 = (q - i * per_row) * E;
    int64_t n = idx_at(j.idx, j.i64, i);
    if (n < 0 || n >= j.N) {
      if (j0 == 0) atomicOr(j.error_flag, 1);  // once per row
      continue;
    }
    const T *s = (const T *)j.src + n * j.src_stride + j0;
    const T *o = (const T *)j.other + i * j.other_stride + j0;
    T *y = (T *)j.y + i * j.y_stride + j0;
    if constexpr (VEC) {
      zk_vec<T> a, b, out;
      a.load(s);
      b.load(o);
      float v[E];
#pragma unroll
      for (int k = 0; k < E; k++) v[k] = __fadd_rn(a.get(k), b.get(k));
      zk_vec_set_all(out, v);
      out.store(y);
    } else {
      zk_st(y, __fadd_rn(zk_ld(s), zk_ld(o)));
    }
  }
}

template <typename T>
zk_status launch_gather(zk_ctx *ctx, const zk_call *call, const GatherJob &j, bool vec) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  if (vec) {
    gather_kernel<T, true><<<zk_grid_for(ctx, j.M * (j.D / zk_vec<T>::EPV), threads), threads, 0, stream>>>(j);
  } else {
    gather_kernel<T, false><<<zk_grid_for(ctx, j.M * j.D, threads), threads, 0, stream>>>(j);
  }
  return ZK_CUDA_LAUNCHED(call);
}

// ----------------------------------------------------------- scatter-add

// Step 1: sort keys and values; a bad index sorts last (key N).  A thread
// loads KEYS_PER_THREAD indices (a grid's width apart, coalesced) before it
// writes any, so that 2^20 indices take one wave of one DRAM round trip
// rather than several waves of one index a thread.
constexpr int KEYS_PER_THREAD = 4;
__global__ void keys_kernel(const void *idx, bool i64, int64_t M, int64_t N, uint32_t *keys, uint32_t *vals,
                            int *ctx_flag, int *call_flag) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i0 < M; i0 += KEYS_PER_THREAD * stride) {
    int64_t v[KEYS_PER_THREAD];
#pragma unroll
    for (int r = 0; r < KEYS_PER_THREAD; r++) {
      int64_t i = i0 + r * stride;
      v[r] = i < M ? idx_at(idx, i64, i) : 0;
    }
#pragma unroll
    for (int r = 0; r < KEYS_PER_THREAD; r++) {
      int64_t i = i0 + r * stride;
      if (i >= M) break;
      bool ok = v[r] >= 0 && v[r] < N;
      if (!ok) raise_flags(ctx_flag, call_flag);
      keys[i] = (uint32_t)(ok ? v[r] : N);
      vals[i] = (uint32_t)i;
    }
  }
}

// Step 3: first[n] = the number of sorted keys below n, n = 0 .. N.  Sorted
// position k (0 .. M) is the first of every row in (key[k-1], key[k]]
// (key[-1] = -1, key[M] = N), so one pass over the keys writes each entry
// once: coalesced reads in place of a binary search per row (log2 M
// dependent loads).  Most ranges hold one row or none; a lane writes a
// short range itself, and a whole warp writes a long one (a run of rows no
// index names) 32 entries a store, so no thread walks a long run alone.
__global__ void first_kernel(const uint32_t *keys, int64_t M, int64_t N, uint32_t *first) {
  constexpr int LONG_RANGE = 32;
  zk_allow_dependent_launch();  // the summing kernel may be scheduled (it waits for this grid's end)
  const int lane = threadIdx.x & 31;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  // The warp's lanes hold consecutive k and leave the loop together.
  for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k - lane <= M; k += stride) {
    int64_t lo = 1, hi = 0;  // empty past k = M
    if (k <= M) {
      lo = k == 0 ? 0 : (int64_t)keys[k - 1] + 1;
      hi = k == M ? N : (int64_t)keys[k];
    }
    bool long_range = hi - lo >= LONG_RANGE;
    if (!long_range)
      for (int64_t n = lo; n <= hi; n++) first[n] = (uint32_t)k;
    for (unsigned todo = __ballot_sync(0xffffffffu, long_range); todo; todo &= todo - 1) {
      int src = __ffs(todo) - 1;
      int64_t a = __shfl_sync(0xffffffffu, lo, src), b = __shfl_sync(0xffffffffu, hi, src);
      uint32_t v = (uint32_t)__shfl_sync(0xffffffffu, k, src);
      for (int64_t n = a + lane; n <= b; n += 32) first[n] = v;
    }
  }
}

struct ScatterJob {
  const void *updates;
  void *y;
  int64_t u_stride, y_stride;
  int64_t N, D;
  const uint32_t *first;  // null: no updates (M = 0, or the atomic path's zeroing)
  const uint32_t *order;  // update rows sorted by destination, ascending i within one
  bool accumulate;
  const int *call_flag;   // nonzero: an index was bad, write nothing (null: none)
};

// E values of update row i at column j0 as f32.
template <typename Tu, int E, bool VEC>
__device__ __forceinline__ void load_update(const ScatterJob &j, uint32_t i, int64_t j0, float (&u)[E]) {
  const Tu *p = (const Tu *)j.updates + (int64_t)i * j.u_stride + j0;
  if constexpr (VEC) {
    zk_ld_span<Tu, E>(p, u);
  } else {
#pragma unroll
    for (int k = 0; k < E; k++) u[k] = zk_ld(p + k);
  }
}

// Step 4: one work item per (destination row, unit of E columns).
template <typename Tu, typename Ty, bool VEC>
__global__ void scatter_rows_kernel(ScatterJob j) {
  constexpr int E = VEC ? zk_vec<Tu>::EPV : 1;
  constexpr int BATCH = 4;  // update rows in flight per thread
  zk_wait_for_primary_grid();  // a dependent launch: first[], order[] and the flag come from the kernels ahead
  if (j.call_flag && *j.call_flag) return;
  int64_t per_row = j.D / E, total = j.N * per_row;
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (int64_t)gridDim.x * blockDim.x) {
    int64_t n = zk_idiv(q, per_row), j0 = (q - n * per_row) * E;
    int64_t e = 0, end = 0;
    if (j.first) e = j.first[n], end = j.first[n + 1];
    if (j.accumulate && e == end) continue;  // y_old stays as it is, bit for bit
    Ty *y = (Ty *)j.y + n * j.y_stride + j0;
    float acc[E];
    if (j.accumulate) {
      if constexpr (VEC) {
        zk_ld_span<Ty, E>(y, acc);
      } else {
#pragma unroll
        for (int k = 0; k < E; k++) acc[k] = zk_ld(y + k);
      }
    } else {
#pragma unroll
      for (int k = 0; k < E; k++) acc[k] = 0.0f;  // start = +0
    }
    for (; e + BATCH <= end; e += BATCH) {  // loads first, then the additions in order
      float u[BATCH][E];
#pragma unroll
      for (int b = 0; b < BATCH; b++) load_update<Tu, E, VEC>(j, j.order[e + b], j0, u[b]);
#pragma unroll
      for (int b = 0; b < BATCH; b++)
#pragma unroll
        for (int k = 0; k < E; k++) acc[k] = __fadd_rn(acc[k], u[b][k]);
    }
    for (; e < end; e++) {
      float u[E];
      load_update<Tu, E, VEC>(j, j.order[e], j0, u);
#pragma unroll
      for (int k = 0; k < E; k++) acc[k] = __fadd_rn(acc[k], u[k]);
    }
    if constexpr (VEC) {
      zk_st_span<Ty, E>(y, acc);
    } else {
#pragma unroll
      for (int k = 0; k < E; k++) zk_st(y + k, acc[k]);
    }
  }
}

template <typename Tu, typename Ty>
zk_status launch_rows_typed(zk_ctx *ctx, const zk_call *call, const ScatterJob &j, bool vec) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  // Launched as a dependent of the index kernels, so that its launch and
  // first CTAs overlap their tail.
  if (vec) {
    unsigned grid = zk_grid_for(ctx, j.N * (j.D / zk_vec<Tu>::EPV), threads);
    zk_launch_dependent(ctx, scatter_rows_kernel<Tu, Ty, true>, dim3(grid), dim3(threads), 0, stream, j);
  } else {
    unsigned grid = zk_grid_for(ctx, j.N * j.D, threads);
    zk_launch_dependent(ctx, scatter_rows_kernel<Tu, Ty, false>, dim3(grid), dim3(threads), 0, stream, j);
  }
  return ZK_CUDA_LAUNCHED(call);
}

template <typename Tu>
zk_status launch_rows_out(zk_ctx *ctx, const zk_call *call, const ScatterJob &j, zk_dtype ty, bool vec) {
  switch (ty) {
    case ZK_F32: return launch_rows_typed<Tu, float>(ctx, call, j, vec);
    case ZK_F16: return launch_rows_typed<Tu, __half>(ctx, call, j, vec);
    default: return launch_rows_typed<Tu, __nv_bfloat16>(ctx, call, j, vec);
  }
}

// Step 4 for updates u into y (vectors when both views allow E = 16 bytes
// of updates per unit).
zk_status launch_rows(zk_ctx *ctx, const zk_call *call, const ScatterJob &j, const zk_rows *u, const zk_rows *y) {
  int su = zk_dtype_size(u->dtype), sy = zk_dtype_size(y->dtype), E = 16 / su;
  bool vec = j.D % E == 0 && zk_rows_aligned(u, 16) && zk_rows_aligned(y, zk_span_align(E * sy, sy));
  switch (u->dtype) {
    case ZK_F32: return launch_rows_out<float>(ctx, call, j, y->dtype, vec);
    case ZK_F16: return launch_rows_out<__half>(ctx, call, j, y->dtype, vec);
    default: return launch_rows_out<__nv_bfloat16>(ctx, call, j, y->dtype, vec);
  }
}

// deterministic = false, f32 y: one atomicAdd per update element.
template <typename Tu>
__global__ void scatter_atomic_kernel(const void *idx, bool i64, const Tu *updates, int64_t u_stride, float *y,
                                      int64_t y_stride, int64_t M, int64_t D, const int *call_flag) {
  if (*call_flag) return;
  int64_t total = M * D;
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (int64_t)gridDim.x * blockDim.x) {
    int64_t i = zk_idiv(q, D), c = q - i * D;
    int64_t n = idx_at(idx, i64, i);  // checked by check_kernel
    atomicAdd(y + n * y_stride + c, zk_ld(updates + i * u_stride + c));
  }
}

template <typename Tu>
zk_status launch_atomic(zk_ctx *ctx, const zk_call *call, const zk_rows *idx, const zk_rows *u, const zk_rows *y,
                        const int *call_flag) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  int64_t M = idx->cols, D = y->cols;
  scatter_atomic_kernel<Tu><<<zk_grid_for(ctx, M * D, threads), threads, 0, stream>>>(
      idx->data, idx->dtype == ZK_I64, (const Tu *)u->data, u->stride, (float *)y->data, y->stride, M, D, call_flag);
  return ZK_CUDA_LAUNCHED(call);
}

size_t round_up(size_t n) { return (n + 255) & ~(size_t)255; }

// Device scratch of one scatter call, carved from the context's workspace.
struct ScatterScratch {
  int *call_flag;
  uint32_t *keys[2], *vals[2], *first;
  void *sort_tmp;
  size_t sort_bytes;
};

zk_status scratch_of(zk_ctx *ctx, const zk_call *call, int64_t M, int64_t N, int end_bit, ScatterScratch *w) {
  cub::DoubleBuffer<uint32_t> k(nullptr, nullptr), v(nullptr, nullptr);
  w->sort_bytes = 0;
  if (M > 0)
    ZK_CUDA_TRY(call, cub::DeviceRadixSort::SortPairs(nullptr, w->sort_bytes, k, v, (int)M, 0, end_bit,
                                                      zk_cuda(ctx)->stream));
  size_t flag = round_up(sizeof(int)), arr = round_up((size_t)M * sizeof(uint32_t));
  size_t first = round_up((size_t)(N + 1) * sizeof(uint32_t)), total = flag + 4 * arr + first + w->sort_bytes;
  zk_status s;
  char *base = (char *)zk_cuda_workspace(ctx, call, total, &s);
  if (!base) return s;
  w->call_flag = (int *)base;
  base += flag;
  for (int b = 0; b < 2; b++) {
    w->keys[b] = (uint32_t *)base, base += arr;
    w->vals[b] = (uint32_t *)base, base += arr;
  }
  w->first = (uint32_t *)base;
  base += first;
  w->sort_tmp = w->sort_bytes ? base : nullptr;
  return ZK_OK;
}

zk_status scatter(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  const zk_rows *idx = &a->t[0], *u = &a->t[1], *y = &a->t[2];
  int64_t M = idx->cols, N = y->rows, D = y->cols;
  bool accumulate = a->i[0] != 0, deterministic = a->i[1] != 0;
  if (D == 0 || N == 0) return launch_check(ctx, call, idx, N, nullptr);  // nothing to write
  // Keys and update numbers are 32 bits (the key N included), the sort's
  // item count an int.
  if (M > INT_MAX || N >= (int64_t)UINT32_MAX)
    return zk_fail(call, ZK_ERR_UNSUPPORTED,
                   "%lld updates into %lld rows: the CUDA scatter sorts at most %d updates into fewer than %u rows",
                   (long long)M, (long long)N, INT_MAX, UINT32_MAX);
  ScatterJob j = {u->data, y->data, u->stride, y->stride, N, D, nullptr, nullptr, accumulate, nullptr};
  if (M == 0) return launch_rows(ctx, call, j, u, y);  // y = +0 (the API skips M = 0 with accumulate)

  int end_bit = 0;
  while (end_bit < 32 && (N >> end_bit) != 0) end_bit++;  // the bits of the largest key, N
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);  // the device for CUB's query and the workspace
  if (s != ZK_OK) return s;
  bool atomic = !deterministic && y->dtype == ZK_F32;
  ScatterScratch w;  // the atomic path needs only the call's flag
  s = scratch_of(ctx, call, atomic ? 0 : M, atomic ? 0 : N, end_bit, &w);
  if (s != ZK_OK) return s;
  ZK_CUDA_TRY(call, cudaMemsetAsync(w.call_flag, 0, sizeof(int), stream));
  j.call_flag = w.call_flag;
  const int threads = 256;

  if (atomic) {
    s = launch_check(ctx, call, idx, N, w.call_flag);
    if (s == ZK_OK && !accumulate) s = launch_rows(ctx, call, j, u, y);  // zeroes y unless an index was bad
    if (s != ZK_OK) return s;
    switch (u->dtype) {
      case ZK_F32: return launch_atomic<float>(ctx, call, idx, u, y, w.call_flag);
      case ZK_F16: return launch_atomic<__half>(ctx, call, idx, u, y, w.call_flag);
      default: return launch_atomic<__nv_bfloat16>(ctx, call, idx, u, y, w.call_flag);
    }
  }

  keys_kernel<<<zk_grid_for(ctx, zk_div_up(M, KEYS_PER_THREAD), threads), threads, 0, stream>>>(
      idx->data, idx->dtype == ZK_I64, M, N, w.keys[0], w.vals[0], zk_cuda(ctx)->error_flag, w.call_flag);
  ZK_CUDA_TRY(call, cudaGetLastError());
  cub::DoubleBuffer<uint32_t> keys(w.keys[0], w.keys[1]), vals(w.vals[0], w.vals[1]);
  ZK_CUDA_TRY(call, cub::DeviceRadixSort::SortPairs(w.sort_tmp, w.sort_bytes, keys, vals, (int)M, 0, end_bit, stream));
  first_kernel<<<zk_grid_for(ctx, M + 1, threads), threads, 0, stream>>>(keys.Current(), M, N, w.first);
  ZK_CUDA_TRY(call, cudaGetLastError());
  j.first = w.first;
  j.order = vals.Current();
  return launch_rows(ctx, call, j, u, y);
}

}  // namespace

extern "C" zk_status zk_cuda_fused_gather_add(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, fused_gather_add);
  const zk_rows *src = &a->t[0], *idx = &a->t[1], *other = &a->t[2], *y = &a->t[3];
  if (y->cols == 0) return launch_check(ctx, call, idx, src->rows, nullptr);  // D = 0: the indices only
  GatherJob j = {src->data, idx->data, other->data, y->data, idx->dtype == ZK_I64, src->stride, other->stride,
                 y->stride, y->rows, src->rows, y->cols, zk_cuda(ctx)->error_flag};
  bool vec = zk_rows_vec_ok(src) && zk_rows_vec_ok(other) && zk_rows_vec_ok(y);
  switch (y->dtype) {
    case ZK_F32: return launch_gather<float>(ctx, call, j, vec);
    case ZK_F16: return launch_gather<__half>(ctx, call, j, vec);
    default: return launch_gather<__nv_bfloat16>(ctx, call, j, vec);
  }
}

extern "C" zk_status zk_cuda_fused_scatter_add(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, fused_scatter_add);
  return scatter(ctx, call, a);
}
