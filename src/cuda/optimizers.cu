// Optimizer steps on CUDA (spec §17).
//
// adamw_step is one pass: a grid-stride loop over units of 16 bytes of p
// (4 f32 or 8 f16/bf16 parameters) reads p, g, m and v with vector loads
// and writes p, m and v back in place, each element depending on nothing
// but itself.  Rows may have their own strides (p, g, m, v); where a view
// is not 16-byte aligned or D is not a multiple of the unit, every element
// is its own unit.
//
// The element update is torch.optim.AdamW(foreach=False)'s sequence on a
// CUDA tensor, kernel by kernel, so that it matches PyTorch on the GPU as
// the CPU file (built without contraction) matches it on the CPU:
//   p.mul_(f); m.lerp_(g, 1-β1); v.mul_(β2).addcmul_(g, g, 1-β2);
//   d = v.sqrt() / c2 + eps; p.addcdiv_(m, d, -α)
// where PyTorch's CUDA kernels evaluate each a + b·c as one FMA (lerp's by
// contraction, addcmul's and addcdiv's by an explicit fma of b·c or b/c)
// and a division by a host scalar as a multiplication by its f32
// reciprocal.  Spelled with the _rn intrinsics, so the file does not depend
// on the compiler's --fmad setting.  16-bit p: p·f stays in f32 and p is
// rounded once (the spec's round_T), where torch would round p·f first.
//
// Entry points follow the slots of src/api/optimizers.c.
#include "common.cuh"

namespace {

struct AdamwConsts {
  float decay, alpha, c2, eps, b2, w1, w2;  // f[0..3] and f[5..7] of the api file (β1 enters as w1 = 1-β1)
  bool lerp_from_end;                           // torch's lerp takes g - (g - m)·(1 - w1) when w1 = 1-β1 >= 0.5
};

struct AdamwJob {
  void *p;
  const void *g;
  float *m, *v;
  int64_t p_stride, g_stride, m_stride, v_stride;
  int64_t rows, cols;
  AdamwConsts k;
};

__device__ __forceinline__ void adamw_element(const AdamwConsts &k, float &p, float g, float &m, float &v) {
  float diff = __fsub_rn(g, m);
  float m1 = k.lerp_from_end ? __fmaf_rn(-diff, __fsub_rn(1.0f, k.w1), g) : __fmaf_rn(k.w1, diff, m);
  float v1 = __fmaf_rn(k.w2, __fmul_rn(g, g), __fmul_rn(v, k.b2));
  float d = __fadd_rn(__fmul_rn(__fsqrt_rn(v1), __fdiv_rn(1.0f, k.c2)), k.eps);
  p = __fmaf_rn(-k.alpha, __fdiv_rn(m1, d), __fmul_rn(p, k.decay));
  m = m1;
  v = v1;
}

// E elements per unit: 16 bytes of T with VEC, else 1 (the span helpers
// then make single-element accesses).
template <typename T, bool VEC>
__global__ void adamw_kernel(AdamwJob j) {
  constexpr int E = VEC ? zk_vec<T>::EPV : 1;
  int64_t per_row = j.cols / E, total = j.rows * per_row;
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = 0;
    if (j.rows != 1) r = zk_idiv(q, per_row);
    int64_t c = (q - r * per_row) * E;
    T *pp = (T *)j.p + r * j.p_stride + c;
    float *mp = j.m + r * j.m_stride + c, *vp = j.v + r * j.v_stride + c;
    float p[E], g[E], m[E], v[E];
    zk_ld_span<T, E>(pp, p);
    zk_ld_span<T, E>((const T *)j.g + r * j.g_stride + c, g);
    zk_ld_span<float, E>(mp, m);
    zk_ld_span<float, E>(vp, v);
#pragma unroll
    for (int k = 0; k < E; k++) adamw_element(j.k, p[k], g[k], m[k], v[k]);
    zk_st_span<T, E>(pp, p);
    zk_st_span<float, E>(mp, m);
    zk_st_span<float, E>(vp, v);
  }
}

template <typename T>
zk_status launch(zk_ctx *ctx, const zk_call *call, const AdamwJob &j, bool vec) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  if (vec) {
    adamw_kernel<T, true><<<zk_grid_for(ctx, j.rows * (j.cols / zk_vec<T>::EPV), threads), threads, 0, stream>>>(j);
  } else {
    adamw_kernel<T, false><<<zk_grid_for(ctx, j.rows * j.cols, threads), threads, 0, stream>>>(j);
  }
  return ZK_CUDA_LAUNCHED(call);
}

}  // namespace

extern "C" zk_status zk_cuda_adamw_step(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, adamw_step);
  const zk_rows *p = &a->t[0], *g = &a->t[1], *m = &a->t[2], *v = &a->t[3];
  const float *f = a->f;
  AdamwJob j = {p->data, g->data, (float *)m->data, (float *)v->data, p->stride, g->stride, m->stride, v->stride,
                p->rows, p->cols, {f[0], f[1], f[2], f[3], f[5], f[6], f[7], f[6] >= 0.5f}};
  if (j.rows == 0 || j.cols == 0) return ZK_OK;
  int E = 16 / zk_dtype_size(p->dtype);  // m and v spans are then 16 or 32 bytes
  bool vec = j.cols % E == 0 && zk_rows_aligned(p, 16) && zk_rows_aligned(g, 16) && zk_rows_aligned(m, 16) &&
             zk_rows_aligned(v, 16);
  switch (p->dtype) {
    case ZK_F32: return launch<float>(ctx, call, j, vec);
    case ZK_F16: return launch<__half>(ctx, call, j, vec);
    default: return launch<__nv_bfloat16>(ctx, call, j, vec);
  }
}
