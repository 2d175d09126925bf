// Shared machinery of the CUDA backend: dtype traits and 16-byte vector
// access, block and warp reductions in a fixed order, launch helpers, error
// checking, the per-context state.  Kernels are templates over the storage
// dtype inside .cu files; entry points are extern "C" zk_cuda_<op>.
#ifndef ZK_CUDA_COMMON_CUH
#define ZK_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include <type_traits>

#include "../common/zk_math.h"
#include "../core/internal.h"

// ------------------------------------------------------------- context state

struct zk_cuda_state {
  cudaStream_t stream;
  int device;
  int sm_count;
  int cc_major;  // compute capability: 9 and up take programmatic dependent launches
  int max_threads_per_sm;
  size_t l2_bytes;
  int *error_flag;       // device int: set by kernels that see a bad index
  void *workspace;       // device scratch, grown on demand
  size_t workspace_size;
  void *blas;                        // cuBLASLt handle of the linear family, made on first use
  void (*blas_release)(void *blas);  // destroys it with the context (set with blas)
};

static inline zk_cuda_state *zk_cuda(zk_ctx *ctx) { return (zk_cuda_state *)ctx->cuda; }

// Makes the context's device current; returns its stream.
zk_status zk_cuda_enter(zk_ctx *ctx, const zk_call *call, cudaStream_t *stream);

// Device scratch from the context (stream-ordered reuse: one call at a time
// per context).  NULL after recording ZK_ERR_OOM / ZK_ERR_BACKEND.
void *zk_cuda_workspace(zk_ctx *ctx, const zk_call *call, size_t bytes, zk_status *status);

// Programmatic dependent launch (sm_90).  A kernel launched through
// zk_launch_dependent may be scheduled while the kernel ahead of it on the
// stream is still running, so that its launch and its CTAs' start overlap
// that kernel's tail.  A CTA of it calls zk_wait_for_primary_grid()
// before it touches memory that the kernels ahead write (inputs final
// before the op's first kernel may be read first); the wait holds it until
// the kernel ahead has finished and its writes are visible.  Every CTA
// waits, also one with nothing to do (its wait comes before any early
// return), so that the dependent grid never ends before the one ahead.  The
// kernel ahead may call zk_allow_dependent_launch() to let the dependent's
// CTAs be scheduled before its own end.  Elsewhere (or where the attribute
// is refused) the launch is an ordinary one and both calls do nothing.
__device__ __forceinline__ void zk_allow_dependent_launch() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void zk_wait_for_primary_grid() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
// Asynchronous 16-byte copies global -> shared (cp.async, sm_80+): a
// thread's copies form groups by commit; wait<N> returns once at most N of
// its groups are in flight (a barrier then makes every thread's visible).
// The "memory" clobbers keep the compiler from moving shared-memory
// accesses across them.
__device__ __forceinline__ void zk_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int PENDING>
__device__ __forceinline__ void zk_cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING) : "memory");
}
// 16 bytes global -> shared (dst: a shared-memory address, as
// __cvta_generic_to_shared gives it).
__device__ __forceinline__ void zk_cp_async16(unsigned dst, const void *src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src) : "memory");
}

// Raises KERNEL's dynamic shared memory limit to `bytes` (over the default
// 48 KB) on its first launch; the attribute is idempotent, so two threads
// racing on the flag only set it twice.
template <auto KERNEL>
inline void zk_raise_smem_limit(size_t bytes) {
  static bool raised = false;
  if (!raised) {
    cudaFuncSetAttribute(KERNEL, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    raised = true;
  }
}

template <typename... P, typename... A>
static inline void zk_launch_dependent(zk_ctx *ctx, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                                       cudaStream_t stream, A... args) {
  if (zk_cuda(ctx)->cc_major >= 9) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    if (cudaLaunchKernelEx(&cfg, kernel, args...) == cudaSuccess) return;
    cudaGetLastError();  // a refused attribute: the ordinary launch instead
  }
  kernel<<<grid, block, smem, stream>>>(args...);
}

// Checks a CUDA runtime call or the last launch; on failure records
// "zk_<op>: CUDA error: <string>" and returns ZK_ERR_BACKEND.
zk_status zk_cuda_check(const zk_call *call, cudaError_t err, const char *what);
#define ZK_CUDA_TRY(call, expr)                                       \
  do {                                                                \
    zk_status zk_cuda_s_ = zk_cuda_check((call), (expr), #expr);      \
    if (zk_cuda_s_ != ZK_OK) return zk_cuda_s_;                       \
  } while (0)
#define ZK_CUDA_LAUNCHED(call) zk_cuda_check((call), cudaGetLastError(), "kernel launch")

#define ZK_CUDA_CALL(ctx, opname) \
  zk_call call_ = {ctx, "zk_" #opname}; \
  const zk_call *call = &call_

// ------------------------------------------------------------------ dtypes

template <typename T> struct zk_type;
template <> struct zk_type<float> {
  static __device__ __forceinline__ float load(float v) { return v; }
  static __device__ __forceinline__ float store(float v) { return v; }
};
template <> struct zk_type<__half> {
  static __device__ __forceinline__ float load(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half store(float v) { return __float2half_rn(v); }
};
// bf16 through the shared bit conversion, so both backends round alike.
template <> struct zk_type<__nv_bfloat16> {
  static __device__ __forceinline__ float load(__nv_bfloat16 v) {
    return zk_bf16_bits_to_f32(__bfloat16_as_ushort(v));
  }
  static __device__ __forceinline__ __nv_bfloat16 store(float v) {
    return __ushort_as_bfloat16(zk_f32_to_bf16_bits(v));
  }
};

// A 16-bit element's value from its storage bits (the low 16 of `bits`):
// for elements taken out of a packed word or vector.
template <typename T16>
__device__ __forceinline__ float zk_bits16_to_f32(uint32_t bits) {
  static_assert(sizeof(T16) == 2, "f16 or bf16");
  const unsigned short b = (unsigned short)bits;
  if constexpr (std::is_same<T16, __half>::value) return zk_type<T16>::load(__ushort_as_half(b));
  else return zk_type<T16>::load(__ushort_as_bfloat16(b));
}
template <typename T> __device__ __forceinline__ float zk_ld(const T *p) { return zk_type<T>::load(*p); }
template <typename T> __device__ __forceinline__ void zk_st(T *p, float v) { *p = zk_type<T>::store(v); }

// A parameter vector element of any float dtype (the dtype is uniform per
// launch, so the branch costs nothing inside a warp).
__device__ __forceinline__ float zk_ld_param(const void *p, zk_dtype t, int64_t j) {
  switch (t) {
    case ZK_F16: return __half2float(((const __half *)p)[j]);
    case ZK_BF16: return zk_bf16_bits_to_f32(((const uint16_t *)p)[j]);
    default: return ((const float *)p)[j];
  }
}
__device__ __forceinline__ void zk_st_param(void *p, zk_dtype t, int64_t j, float v) {
  switch (t) {
    case ZK_F16: ((__half *)p)[j] = __float2half_rn(v); break;
    case ZK_BF16: ((uint16_t *)p)[j] = zk_f32_to_bf16_bits(v); break;
    default: ((float *)p)[j] = v; break;
  }
}

// 16 bytes of T: EPV elements loaded and stored as one vector.
template <typename T> struct zk_vec {
  static constexpr int EPV = 16 / sizeof(T);
  union {
    uint4 raw;
    T e[EPV];
  };
  __device__ __forceinline__ void load(const T *p) { raw = *reinterpret_cast<const uint4 *>(p); }
  __device__ __forceinline__ void store(T *p) const { *reinterpret_cast<uint4 *>(p) = raw; }
  __device__ __forceinline__ float get(int k) const { return zk_type<T>::load(e[k]); }
  __device__ __forceinline__ void set(int k, float v) { e[k] = zk_type<T>::store(v); }
};

// W consecutive elements moved as one access: a 16-byte vector, or (W = 1)
// one element; kept in storage form until converted (get).
template <typename T, int W>
struct zk_chunk : zk_vec<T> {
  static_assert(W == zk_vec<T>::EPV, "a vector chunk is 16 bytes");
};
template <typename T>
struct zk_chunk<T, 1> {
  T e;
  __device__ __forceinline__ void load(const T *p) { e = *p; }
  __device__ __forceinline__ void store(T *p) const { *p = e; }
  __device__ __forceinline__ float get(int) const { return zk_type<T>::load(e); }
  __device__ __forceinline__ void set(int, float v) { e = zk_type<T>::store(v); }
};

// Rounds a whole vector's values at once: the same bits as set(k, v[k])
// for every k.
template <typename T>
__device__ __forceinline__ void zk_vec_set_all(zk_vec<T> &out, const float (&v)[zk_vec<T>::EPV]) {
#pragma unroll
  for (int k = 0; k < zk_vec<T>::EPV; k++) out.set(k, v[k]);
}

// bf16: the shared bit conversion costs about eight integer instructions
// an element, enough to make silu or gelu in bf16 issue-bound rather than
// memory-bound.  The hardware's packed round-to-nearest-even (one
// instruction per pair, no flush of subnormals, overflow to ±Inf) gives
// the same bits for every value but NaN, whose payload only the shared
// conversion fixes.  lo goes to the low half.  sm_80 and later.
__device__ __forceinline__ uint32_t zk_bf16x2_bits(float lo, float hi) {
  uint32_t w = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(w) : "f"(hi), "f"(lo));
#else
  w = zk_f32_to_bf16_bits(lo) | (uint32_t)zk_f32_to_bf16_bits(hi) << 16;
#endif
  return w;
}

// zk_vec_set_all for values the caller knows hold no NaN: bf16 takes the
// packed conversion without testing.
template <typename T>
__device__ __forceinline__ void zk_vec_set_nan_free(zk_vec<T> &out, const float (&v)[zk_vec<T>::EPV]) {
  zk_vec_set_all(out, v);
}
__device__ __forceinline__ void zk_vec_set_nan_free(zk_vec<__nv_bfloat16> &out, const float (&v)[8]) {
  out.raw = make_uint4(zk_bf16x2_bits(v[0], v[1]), zk_bf16x2_bits(v[2], v[3]), zk_bf16x2_bits(v[4], v[5]),
                       zk_bf16x2_bits(v[6], v[7]));
}

// A vector holding a NaN takes the shared conversion.
__device__ __forceinline__ void zk_vec_set_all(zk_vec<__nv_bfloat16> &out, const float (&v)[8]) {
  bool nan = false;
#pragma unroll
  for (int k = 0; k < 8; k++) nan |= v[k] != v[k];
  if (!nan) {
    zk_vec_set_nan_free(out, v);
    return;
  }
#pragma unroll
  for (int k = 0; k < 8; k++) out.set(k, v[k]);
}

// E consecutive elements as f32 and back: 16-byte vectors when the span
// is a multiple of 16 bytes, one 8-byte access when it is 8 bytes, scalars
// otherwise.  p must be aligned to that access width.
template <typename T, int E>
__device__ __forceinline__ void zk_ld_span(const T *p, float (&v)[E]) {
  constexpr int BYTES = E * (int)sizeof(T);
  if constexpr (BYTES % 16 == 0) {
    constexpr int V = zk_vec<T>::EPV;
#pragma unroll
    for (int w = 0; w < E / V; w++) {
      zk_vec<T> x;
      x.load(p + w * V);
#pragma unroll
      for (int k = 0; k < V; k++) v[w * V + k] = x.get(k);
    }
  } else if constexpr (BYTES == 8) {
    union {
      uint2 raw;
      T e[E];
    } u;
    u.raw = *reinterpret_cast<const uint2 *>(p);
#pragma unroll
    for (int k = 0; k < E; k++) v[k] = zk_type<T>::load(u.e[k]);
  } else {
#pragma unroll
    for (int k = 0; k < E; k++) v[k] = zk_ld(p + k);
  }
}

// One 16-byte vector of global memory stored as one plain (weak)
// st.global.v4.  In some large kernels (rope's) zk_vec's store comes out
// as four 4-byte stores (the union's copy is split and not merged back),
// each warp instruction then writing a quarter of every sector it touches;
// __stcg / __stwb would make it a strong store (STG.E.128.STRONG.GPU / .SM).
__device__ __forceinline__ void zk_st16_global(void *p, uint4 raw) {
  asm volatile("st.global.v4.u32 [%0], {%1, %2, %3, %4};" ::"l"(p), "r"(raw.x), "r"(raw.y), "r"(raw.z), "r"(raw.w)
               : "memory");
}

// ONE_ACCESS: each 16-byte vector through zk_st16_global (p in global
// memory), for the kernels whose zk_vec stores the compiler splits.
template <typename T, int E, bool ONE_ACCESS = false>
__device__ __forceinline__ void zk_st_span(T *p, const float (&v)[E]) {
  constexpr int BYTES = E * (int)sizeof(T);
  if constexpr (BYTES % 16 == 0) {
    constexpr int V = zk_vec<T>::EPV;
#pragma unroll
    for (int w = 0; w < E / V; w++) {
      float part[V];
#pragma unroll
      for (int k = 0; k < V; k++) part[k] = v[w * V + k];
      zk_vec<T> x;
      zk_vec_set_all(x, part);
      if constexpr (ONE_ACCESS) zk_st16_global(p + w * V, x.raw);
      else x.store(p + w * V);
    }
  } else if constexpr (BYTES == 8) {
    union {
      uint2 raw;
      T e[E];
    } u;
#pragma unroll
    for (int k = 0; k < E; k++) u.e[k] = zk_type<T>::store(v[k]);
    *reinterpret_cast<uint2 *>(p) = u.raw;
  } else {
#pragma unroll
    for (int k = 0; k < E; k++) zk_st(p + k, v[k]);
  }
}

// max that returns NaN when either operand is NaN, in one instruction
// (max.NaN, sm_80 and later).
__device__ __forceinline__ float zk_fmax_nan(float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  float r;
  asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
#else
  return (a > b || a != a) ? a : b;
#endif
}

// Elements j .. j+E-1 of a parameter table of any float dtype (uniform per
// launch): one span access when vec (aligned as zk_ld_span needs), else
// element by element.
template <int E>
__device__ __forceinline__ void zk_ld_param_span(const void *p, zk_dtype t, int64_t j, bool vec, float (&v)[E]) {
  if (vec) {
    switch (t) {
      case ZK_F16: zk_ld_span<__half, E>((const __half *)p + j, v); return;
      case ZK_BF16: zk_ld_span<__nv_bfloat16, E>((const __nv_bfloat16 *)p + j, v); return;
      default: zk_ld_span<float, E>((const float *)p + j, v); return;
    }
  }
#pragma unroll
  for (int k = 0; k < E; k++) v[k] = zk_ld_param(p, t, j + k);
}

// The access width zk_ld_span / zk_st_span use for a span of `bytes`
// (elements of elem_bytes each): what addresses must be aligned to.
static inline int zk_span_align(int bytes, int elem_bytes) {
  return bytes % 16 == 0 ? 16 : bytes == 8 ? 8 : elem_bytes;
}

// True when every row of t starts on a 16-byte boundary, so rows can be
// read with 16-byte vectors (row length a multiple of the vector width).
static inline bool zk_rows_vec_ok(const zk_rows *t) {
  int es = zk_dtype_size(t->dtype);
  return ((uintptr_t)t->data % 16 == 0) && ((t->stride * es) % 16 == 0 || t->rows <= 1) &&
         ((t->cols * es) % 16 == 0);
}

// e^(x - m) as 2^((x - m)·log2 e): an add, a multiply and one ex2.approx
// (2 ulp; a subnormal result flushed to 0), where expf costs about eight
// instructions, enough to make a 16-bit row of exponentials issue-bound.
// The rounding of the exponent gives a relative error of about
// |x - m|·2^-23 (2e-6 at e^-20): for sums of exponentials and gradients,
// not for outputs held to an ulp.  x = m gives exactly 1; NaN and the
// infinities come out as from expf(x - m).
__device__ __forceinline__ float zk_exp_shifted(float x, float m) {
  float t = (x - m) * 1.44269504088896341f, r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(t));
  return r;
}

// True when every row of t starts on an `align`-byte boundary (the stride
// of a single row does not matter).  Vector paths check this for each view
// and fall back to narrower accesses when it fails.
static inline bool zk_rows_aligned(const zk_rows *t, int align) {
  int64_t es = zk_dtype_size(t->dtype);
  return (uintptr_t)t->data % (uintptr_t)align == 0 && (t->rows <= 1 || (t->stride * es) % align == 0);
}

// a / b for the non-negative work-item arithmetic of grid-stride loops:
// one 32-bit division when both fit (the usual case), since a 64-bit one
// is a long software sequence.
__device__ __forceinline__ int64_t zk_idiv(int64_t a, int64_t b) {
  if ((((uint64_t)a | (uint64_t)b) >> 32) == 0) return (int64_t)((uint32_t)a / (uint32_t)b);
  return a / b;
}

// ----------------------------------------------------------- reductions
// Fixed shuffle trees: the same inputs give the same bits on every run.

// Inclusive prefix sum over the warp's lanes (Hillis-Steele on shuffles):
// lane l gets v of lanes 0 .. l, in a fixed order.
template <typename T>
__device__ __forceinline__ T zk_warp_inclusive_sum(T v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const T up = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += up;
  }
  return v;
}

__device__ __forceinline__ float zk_warp_sum(float v) {
#pragma unroll
  for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every
// thread gets the result.  scratch: 33 floats of shared memory.
__device__ __forceinline__ float zk_block_sum(float v, float *scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = zk_warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  v = zk_warp_sum(v);
  return v;
}

// ---------------------------------------------------------------- launches

static inline unsigned zk_div_up(int64_t a, int64_t b) { return (unsigned)((a + b - 1) / b); }

// Grid for a grid-stride elementwise kernel: enough blocks to fill the chip.
static inline unsigned zk_grid_for(zk_ctx *ctx, int64_t work_items, int threads) {
  zk_cuda_state *st = zk_cuda(ctx);
  int64_t need = (work_items + threads - 1) / threads;
  int64_t cap = (int64_t)st->sm_count * (st->max_threads_per_sm / threads) * 4;
  if (need > cap) need = cap;
  return (unsigned)(need > 0 ? need : 1);
}

// Four f32 values into four 16-bit elements at p (8-byte aligned) as one
// 8-byte store, converted two at a time (cvt.rn.f16x2.f32,
// cvt.rn.bf16x2.f32) where zk_st_span's 8-byte path converts one value at
// a time (about eight integer instructions a bf16 value).  The same bits
// as zk_st: bf16 takes the shared conversion when a value is NaN, as
// zk_vec_set_all does.
__device__ __forceinline__ void zk_st4_packed(__half *p, const float (&v)[4]) {
  union {
    __half2 h[2];
    uint2 raw;
  } u;
  u.h[0] = __floats2half2_rn(v[0], v[1]);
  u.h[1] = __floats2half2_rn(v[2], v[3]);
  *reinterpret_cast<uint2 *>(p) = u.raw;
}
__device__ __forceinline__ void zk_st4_packed(__nv_bfloat16 *p, const float (&v)[4]) {
  uint2 w = {zk_bf16x2_bits(v[0], v[1]), zk_bf16x2_bits(v[2], v[3])};
  if (v[0] != v[0] || v[1] != v[1] || v[2] != v[2] || v[3] != v[3]) {
    w.x = zk_f32_to_bf16_bits(v[0]) | (uint32_t)zk_f32_to_bf16_bits(v[1]) << 16;
    w.y = zk_f32_to_bf16_bits(v[2]) | (uint32_t)zk_f32_to_bf16_bits(v[3]) << 16;
  }
  *reinterpret_cast<uint2 *>(p) = w;
}

#endif
