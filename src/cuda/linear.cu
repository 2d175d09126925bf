// Linear layers with a fused epilogue on CUDA (spec §10).
//
// The GEMM is cuBLASLt: CUBLAS_COMPUTE_32F (plain FP32 for f32 inputs, no
// TF32; f32 accumulation for f16/bf16), A/B in the inputs' dtype and the
// result z in f32, never rounded before the epilogue.  Row-major z[M, N] =
// x[M, K]·w[N, K]ᵀ is column-major zᵀ = op(A)·B with A = w (stored K × N,
// ld = w's row stride, transposed) and B = x (stored K × M, ld = x's row
// stride).  Row strides BLAS cannot take (0 or below K) are compacted first.
//
// The epilogue is our own pass over z, in f32 with the shared math of
// zk_math.h and one rounding into y: silu / gelu_tanh of z + bias, or
// RMSNorm (a block per row: a fixed-order sum of z², then z·r·γ).
// cuBLASLt's GELU epilogue is not used: its documentation does not say
// which GELU it computes nor how accurately, the spec asks for gelu_tanh
// with the accurate tanh, and tried on the H100 (GELU_BIAS into a bf16 y)
// it failed the linear suite's ACC tolerance.  z is y itself when y is f32, else
// f32 scratch of up to 256 MB; larger outputs go in chunks of rows.
//
// The cuBLASLt handle lives in the context (made on first use, destroyed
// with it); its workspace, the z chunk and compacted operands are one
// block of the context's device workspace.  Every cuBLASLt status is
// checked and reported as ZK_ERR_BACKEND.
//
// Entry points follow the slots of src/api/linear.c.
#include <cublasLt.h>
#include "common.cuh"

namespace {

enum class Epilogue { silu, gelu, rmsnorm };

constexpr size_t kLtWorkspace = (size_t)32 << 20;  // cuBLASLt's recommendation for Hopper
constexpr int64_t kZBudget = (int64_t)256 << 20;    // f32 z scratch of one chunk of rows
constexpr int kThreads = 256;

zk_status lt_check(const zk_call *call, cublasStatus_t s, const char *what) {
  if (s == CUBLAS_STATUS_SUCCESS) return ZK_OK;
  return zk_fail(call, ZK_ERR_BACKEND, "cuBLASLt error in %s: %s", what, cublasLtGetStatusString(s));
}
#define ZK_LT_TRY(call, expr)                                    \
  do {                                                           \
    zk_status zk_lt_s_ = lt_check((call), (expr), #expr);        \
    if (zk_lt_s_ != ZK_OK) return zk_lt_s_;                      \
  } while (0)

// Returns a failed status to the caller.
#define ZK_PASS(expr)                          \
  do {                                         \
    zk_status zk_pass_s_ = (expr);             \
    if (zk_pass_s_ != ZK_OK) return zk_pass_s_; \
  } while (0)

void release_handle(void *h) { cublasLtDestroy((cublasLtHandle_t)h); }

zk_status lt_handle(zk_ctx *ctx, const zk_call *call, cublasLtHandle_t *out) {
  zk_cuda_state *st = zk_cuda(ctx);
  if (!st->blas) {
    cublasLtHandle_t h;
    ZK_LT_TRY(call, cublasLtCreate(&h));
    st->blas = h;
    st->blas_release = release_handle;
  }
  *out = (cublasLtHandle_t)st->blas;
  return ZK_OK;
}

cudaDataType_t cuda_type(zk_dtype t) {
  return t == ZK_F16 ? CUDA_R_16F : t == ZK_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

// The largest power of two (at most 256) dividing the address: what
// cuBLASLt may assume of a pointer.
uint32_t alignment_of(const void *p) {
  uintptr_t a = (uintptr_t)p;
  uint32_t al = 256;
  while (al > 1 && a % al) al >>= 1;
  return al;
}

// ------------------------------------------------------------ kernels

// dst [rows, cols] compact = src rows at stride (any stride >= 0).
template <typename T>
__global__ void compact_kernel(const T *src, int64_t stride, T *dst, int64_t rows, int64_t cols) {
  int64_t n = rows * cols;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = i / cols, j = i - r * cols;
    dst[i] = src[r * stride + j];
  }
}

struct ActJob {
  const float *z;
  int64_t ldz;
  void *y;
  int64_t ldy;
  const void *bias;  // null: no bias
  zk_dtype bias_t;
  int64_t rows, N;
};

template <Epilogue E>
__device__ __forceinline__ float activate(float v) {
  if constexpr (E == Epilogue::silu) return zk_silu_f(v);
  else return zk_gelu_tanh_f(v);
}

// y = act(z + bias): V consecutive elements a thread (V = 4 where z and y
// rows allow the vector access, else 1), grid-stride over the rows.
template <typename T, Epilogue E, int V>
__global__ void act_kernel(ActJob j) {
  int64_t per_row = j.N / V, n = j.rows * per_row;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = i / per_row, c = (i - r * per_row) * V;
    float v[V], b[V];
    zk_ld_span<float, V>(j.z + r * j.ldz + c, v);
    if (j.bias) {
      zk_ld_param_span<V>(j.bias, j.bias_t, c, V > 1, b);
#pragma unroll
      for (int k = 0; k < V; k++) v[k] += b[k];
    }
#pragma unroll
    for (int k = 0; k < V; k++) v[k] = activate<E>(v[k]);
    zk_st_span<T, V>((T *)j.y + r * j.ldy + c, v);
  }
}

struct NormJob {
  const float *z;
  int64_t ldz;
  void *y;
  int64_t ldy;
  const void *gamma;
  zk_dtype gamma_t;
  int64_t N;
  float eps;
};

// One block a row: Σz² in a fixed order (each thread its columns in
// order, then the block's fixed tree), r = (Σz²/N + eps)^-1/2, y = z·r·γ.
template <typename T>
__global__ void rmsnorm_kernel(NormJob j) {
  __shared__ float scratch[33];
  int64_t r = blockIdx.x;
  const float *z = j.z + r * j.ldz;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < j.N; c += blockDim.x) ss += z[c] * z[c];
  ss = zk_block_sum(ss, scratch);
  float inv = 1.0f / sqrtf(ss * (1.0f / (float)j.N) + j.eps);
  T *y = (T *)j.y + r * j.ldy;
  for (int64_t c = threadIdx.x; c < j.N; c += blockDim.x)
    zk_st(y + c, z[c] * inv * zk_ld_param(j.gamma, j.gamma_t, c));
}

// ------------------------------------------------------------ the GEMM

// One f32 GEMM: z[rows, N] (ld ldz) = x rows · wᵀ, x and w in dtype t.
struct Gemm {
  const void *x, *w;
  int64_t ldx, ldw, ldz;
  zk_dtype t;
  int64_t rows, N, K;
  float *z;
  void *lt_ws;
};

// cuBLASLt's descriptors for one call, destroyed on every path.
struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtDescs() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

zk_status run_gemm(const zk_call *call, cublasLtHandle_t h, cudaStream_t stream, const Gemm &g) {
  LtDescs L;
  cublasOperation_t trans = CUBLAS_OP_T, none = CUBLAS_OP_N;
  ZK_LT_TRY(call, cublasLtMatmulDescCreate(&L.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  ZK_LT_TRY(call, cublasLtMatmulDescSetAttribute(L.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof trans));
  ZK_LT_TRY(call, cublasLtMatmulDescSetAttribute(L.op, CUBLASLT_MATMUL_DESC_TRANSB, &none, sizeof none));
  cudaDataType_t in = cuda_type(g.t);
  ZK_LT_TRY(call, cublasLtMatrixLayoutCreate(&L.a, in, (uint64_t)g.K, (uint64_t)g.N, g.ldw));
  ZK_LT_TRY(call, cublasLtMatrixLayoutCreate(&L.b, in, (uint64_t)g.K, (uint64_t)g.rows, g.ldx));
  ZK_LT_TRY(call, cublasLtMatrixLayoutCreate(&L.d, CUDA_R_32F, (uint64_t)g.N, (uint64_t)g.rows, g.ldz));
  ZK_LT_TRY(call, cublasLtMatmulPreferenceCreate(&L.pref));
  size_t ws = kLtWorkspace;
  uint32_t al_a = alignment_of(g.w), al_b = alignment_of(g.x), al_d = alignment_of(g.z);
  ZK_LT_TRY(call, cublasLtMatmulPreferenceSetAttribute(L.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                       sizeof ws));
  ZK_LT_TRY(call, cublasLtMatmulPreferenceSetAttribute(L.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a,
                                                       sizeof al_a));
  ZK_LT_TRY(call, cublasLtMatmulPreferenceSetAttribute(L.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b,
                                                       sizeof al_b));
  ZK_LT_TRY(call, cublasLtMatmulPreferenceSetAttribute(L.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d,
                                                       sizeof al_d));
  ZK_LT_TRY(call, cublasLtMatmulPreferenceSetAttribute(L.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d,
                                                       sizeof al_d));
  cublasLtMatmulHeuristicResult_t best;
  int found = 0;
  ZK_LT_TRY(call, cublasLtMatmulAlgoGetHeuristic(h, L.op, L.a, L.b, L.d, L.d, L.pref, 1, &best, &found));
  if (found < 1)
    return zk_fail(call, ZK_ERR_BACKEND, "cuBLASLt has no algorithm for %s [%lld, %lld] x [%lld, %lld]^T",
                   zk_dtype_name(g.t), (long long)g.rows, (long long)g.K, (long long)g.N, (long long)g.K);
  const float one = 1.0f, zero = 0.0f;  // beta = 0: C (= D) is not read
  ZK_LT_TRY(call, cublasLtMatmul(h, L.op, &one, g.w, L.a, g.x, L.b, &zero, g.z, L.d, g.z, L.d, &best.algo, g.lt_ws,
                                 ws, stream));
  return ZK_OK;
}

// ------------------------------------------------------------ driver

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// An operand cuBLASLt can read in place: row stride >= K (one row: any).
bool lt_readable(const zk_rows *t) { return t->rows <= 1 || t->stride >= t->cols; }

template <typename T>
zk_status compact(zk_ctx *ctx, const zk_call *call, cudaStream_t stream, const zk_rows *t, void *dst) {
  int64_t n = t->rows * t->cols;
  compact_kernel<T><<<zk_grid_for(ctx, n, kThreads), kThreads, 0, stream>>>((const T *)t->data, t->stride, (T *)dst,
                                                                           t->rows, t->cols);
  return ZK_CUDA_LAUNCHED(call);
}

zk_status compact_any(zk_ctx *ctx, const zk_call *call, cudaStream_t stream, const zk_rows *t, void *dst) {
  return zk_dtype_size(t->dtype) == 4 ? compact<float>(ctx, call, stream, t, dst)
                                      : compact<uint16_t>(ctx, call, stream, t, dst);
}

template <typename T>
zk_status launch_epilogue(zk_ctx *ctx, const zk_call *call, cudaStream_t stream, Epilogue e, const zk_args *a,
                          const float *z, int64_t ldz, int64_t m0, int64_t rows) {
  const zk_rows *param = &a->t[2], *y = &a->t[3];
  int64_t N = y->cols, ldy = y->rows <= 1 ? N : y->stride;
  void *y0 = (char *)y->data + m0 * ldy * zk_dtype_size(y->dtype);
  if (e == Epilogue::rmsnorm) {
    NormJob j = {z, ldz, y0, ldy, param->data, param->dtype, N, a->f[0]};
    rmsnorm_kernel<T><<<(unsigned)rows, kThreads, 0, stream>>>(j);
    return ZK_CUDA_LAUNCHED(call);
  }
  ActJob j = {z, ldz, y0, ldy, param->data, param->dtype, rows, N};
  // Four elements a thread where every z, y and bias span is aligned.
  int es = zk_dtype_size(y->dtype);
  bool vec = N % 4 == 0 && ldz % 4 == 0 && (uintptr_t)z % 16 == 0 && (uintptr_t)y0 % (4 * es) == 0 &&
             (ldy * es) % (4 * es) == 0 &&
             (!param->data || (uintptr_t)param->data % (4 * zk_dtype_size(param->dtype)) == 0);
  int64_t items = rows * (vec ? N / 4 : N);
  unsigned grid = zk_grid_for(ctx, items, kThreads);
  if (e == Epilogue::silu) {
    if (vec) act_kernel<T, Epilogue::silu, 4><<<grid, kThreads, 0, stream>>>(j);
    else act_kernel<T, Epilogue::silu, 1><<<grid, kThreads, 0, stream>>>(j);
  } else {
    if (vec) act_kernel<T, Epilogue::gelu, 4><<<grid, kThreads, 0, stream>>>(j);
    else act_kernel<T, Epilogue::gelu, 1><<<grid, kThreads, 0, stream>>>(j);
  }
  return ZK_CUDA_LAUNCHED(call);
}

zk_status epilogue(zk_ctx *ctx, const zk_call *call, cudaStream_t stream, Epilogue e, const zk_args *a,
                   const float *z, int64_t ldz, int64_t m0, int64_t rows) {
  switch (a->t[3].dtype) {
    case ZK_F16: return launch_epilogue<__half>(ctx, call, stream, e, a, z, ldz, m0, rows);
    case ZK_BF16: return launch_epilogue<__nv_bfloat16>(ctx, call, stream, e, a, z, ldz, m0, rows);
    default: return launch_epilogue<float>(ctx, call, stream, e, a, z, ldz, m0, rows);
  }
}

zk_status linear(zk_ctx *ctx, const zk_call *call, const zk_args *a, Epilogue e) {
  const zk_rows *x = &a->t[0], *w = &a->t[1], *y = &a->t[3];
  int64_t M = y->rows, N = y->cols, K = x->cols;
  cudaStream_t stream;
  ZK_PASS(zk_cuda_enter(ctx, call, &stream));
  cublasLtHandle_t h = nullptr;
  if (K > 0) ZK_PASS(lt_handle(ctx, call, &h));

  // z in y when y is f32; else f32 scratch in equal chunks of rows (whole
  // multiples of 128, the GEMM's tile height) of at most kZBudget bytes.
  // Measured on the H100 at 8192 x 4096 x 4096 bf16 (gelu): chunks that
  // fit half the L2 (1408 rows) took 511 µs, 2048 rows 462, 4096 rows 440
  // and one GEMM 436, the plain bf16 GEMM about 365: small GEMMs lose more
  // to wave quantisation than z's trip through DRAM costs.
  bool z_in_y = y->dtype == ZK_F32;
  int64_t ldz = z_in_y ? (y->rows <= 1 ? N : y->stride) : (int64_t)round_up((size_t)N, 4);
  int64_t chunk = M;
  if (!z_in_y) {
    int64_t total = M * ldz * 4;
    int64_t chunks = (total + kZBudget - 1) / kZBudget;
    if (chunks > 1) chunk = (int64_t)round_up((size_t)((M + chunks - 1) / chunks), 128);
    if (chunk > M) chunk = M;
  }
  bool pack_x = K > 0 && !lt_readable(x), pack_w = K > 0 && !lt_readable(w);
  size_t es = (size_t)zk_dtype_size(x->dtype);
  size_t lt_bytes = K > 0 ? kLtWorkspace : 0;
  size_t x_bytes = pack_x ? round_up((size_t)(M * K) * es, 256) : 0;
  size_t w_bytes = pack_w ? round_up((size_t)(N * K) * es, 256) : 0;
  size_t z_bytes = z_in_y ? 0 : round_up((size_t)(chunk * ldz) * 4, 256);
  char *ws = nullptr;
  if (lt_bytes + x_bytes + w_bytes + z_bytes) {
    zk_status s;
    ws = (char *)zk_cuda_workspace(ctx, call, lt_bytes + x_bytes + w_bytes + z_bytes, &s);
    if (!ws) return s;
  }
  Gemm g = {x->data, w->data, x->rows <= 1 ? K : x->stride, w->rows <= 1 ? K : w->stride, ldz, x->dtype, 0, N, K,
            nullptr, ws};
  if (pack_x) {
    ZK_PASS(compact_any(ctx, call, stream, x, ws + lt_bytes));
    g.x = ws + lt_bytes, g.ldx = K;
  }
  if (pack_w) {
    ZK_PASS(compact_any(ctx, call, stream, w, ws + lt_bytes + x_bytes));
    g.w = ws + lt_bytes + x_bytes, g.ldw = K;
  }
  float *z_scratch = z_in_y ? nullptr : (float *)(ws + lt_bytes + x_bytes + w_bytes);
  for (int64_t m0 = 0; m0 < M; m0 += chunk) {
    int64_t rows = M - m0 < chunk ? M - m0 : chunk;
    float *z = z_in_y ? (float *)y->data + m0 * ldz : z_scratch;
    if (K == 0) {
      ZK_CUDA_TRY(call, cudaMemset2DAsync(z, (size_t)ldz * 4, 0, (size_t)N * 4, (size_t)rows, stream));
    } else {
      g.x = (const char *)(pack_x ? ws + lt_bytes : x->data) + m0 * g.ldx * (int64_t)es;
      g.rows = rows, g.z = z;
      ZK_PASS(run_gemm(call, h, stream, g));
    }
    ZK_PASS(epilogue(ctx, call, stream, e, a, z, ldz, m0, rows));
  }
  return ZK_OK;
}

}  // namespace

extern "C" zk_status zk_cuda_fused_linear_bias_silu(zk_ctx *ctx, const zk_args *args) {
  ZK_CUDA_CALL(ctx, fused_linear_bias_silu);
  return linear(ctx, call, args, Epilogue::silu);
}

extern "C" zk_status zk_cuda_fused_linear_bias_gelu(zk_ctx *ctx, const zk_args *args) {
  ZK_CUDA_CALL(ctx, fused_linear_bias_gelu);
  return linear(ctx, call, args, Epilogue::gelu);
}

extern "C" zk_status zk_cuda_fused_linear_rmsnorm(zk_ctx *ctx, const zk_args *args) {
  ZK_CUDA_CALL(ctx, fused_linear_rmsnorm);
  return linear(ctx, call, args, Epilogue::rmsnorm);
}
