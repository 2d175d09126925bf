// Rotary position embeddings on CUDA (spec §7).
//
// Every op is one or more launches of rope_kernel over "head rows": token t
// of a tensor of tokens × heads × D, at the position its addressing gives
// (offset + t mod S, or positions[t]), writing to row t of the output or,
// for the cache updates, to the token's cache slot.  A thread block is
// (units of a head) × (head rows): a unit is one 16-byte vector of the
// input (half rotation: a vector at j and its partner at j + R/2;
// interleaved: a vector of E/2 pairs; the copied tail: a vector), or one
// pair / element where the rows do not allow vectors.  The block's x extent
// follows the head's unit count, so a 128-wide bf16 head is 8 threads and
// a block covers 32 heads.  One pass: every element is read and written
// once; the table rows come through L1/L2, shared by all heads of a
// position.  A V row is the same launch with no rotary columns (a copy).
//
// Positions and block ids are checked per head row: a bad one skips that
// row and raises the context's error flag (ZK_ERR_INDEX at the next
// zk_ctx_synchronize); nothing is read or written out of bounds.
#include <type_traits>
#include "common.cuh"

namespace {

// Where token t sits and where its output row goes.
struct Addressing {
  const void *pos;            // positions (int32 / int64), or null: p = offset + t mod seq
  bool pos64;
  int64_t offset, seq;
  int64_t limit;              // with positions: valid p in [0, limit)
  int64_t slots;              // 0: row t; per-sequence caches: t·slots + p
  const int32_t *block_table; // paged: block_table[t·mb + p / slots]·slots + p mod slots
  int64_t mb, nb;
};

// p and the output slot of token t; false for an index out of range.
__device__ __forceinline__ bool resolve(const Addressing &a, int64_t t, int64_t &p, int64_t &slot) {
  slot = t;
  if (!a.pos) {
    p = a.offset + t % a.seq;
    return true;
  }
  p = a.pos64 ? ((const int64_t *)a.pos)[t] : (int64_t)((const int32_t *)a.pos)[t];
  if (p < 0 || p >= a.limit) return false;
  if (a.block_table) {
    int64_t lb = p / a.slots;
    if (lb >= a.mb) return false;
    int64_t blk = a.block_table[t * a.mb + lb];
    if (blk < 0 || blk >= a.nb) return false;
    slot = blk * a.slots + p % a.slots;
  } else if (a.slots) {
    slot = t * a.slots + p;
  }
  return true;
}

struct RopeJob {
  const void *in;
  void *out;
  int64_t in_stride, out_stride;  // elements from one token (slot) row to the next
  int64_t tokens, heads, D, half; // half = R/2; 0 = a copy (V rows)
  const void *cos, *sin;
  zk_dtype tab;
  int64_t cos_stride, sin_stride; // elements from one table row to the next
  bool tab_vec;                   // table spans aligned for vector loads
  float sign;                     // +1 forward, -1 the VJP (rotation by -θ)
  bool to_slot;                   // output row = the addressing's slot, else t
  Addressing at;
  int *error_flag;
};

// E: elements of a unit (16 bytes of Ti), or 1 on the scalar path.
template <typename Ti, typename To, bool INTERLEAVED, int E>
__global__ void rope_kernel(RopeJob j) {
  int64_t hr = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  if (hr >= j.tokens * j.heads) return;
  int64_t t = hr / j.heads, hh = hr - t * j.heads, p, slot;
  if (!resolve(j.at, t, p, slot)) {
    if (threadIdx.x == 0) atomicOr(j.error_flag, 1);
    return;
  }
  const Ti *x = (const Ti *)j.in + t * j.in_stride + hh * j.D;
  To *y = (To *)j.out + (j.to_slot ? slot : t) * j.out_stride + hh * j.D;
  int tab_bytes = j.tab == ZK_F32 ? 4 : 2;
  const void *cr = (const char *)j.cos + p * j.cos_stride * tab_bytes;
  const void *sr = (const char *)j.sin + p * j.sin_stride * tab_bytes;
  // Scalar: a unit is a pair.  Vectors: half rotation pairs E at a time,
  // interleaved holds E/2 pairs in a unit.
  int64_t rot_units = E == 1 ? j.half : (INTERLEAVED ? 2 * j.half / E : j.half / E);
  int64_t tail_units = (j.D - 2 * j.half) / E, units = rot_units + tail_units;
  for (int64_t u = threadIdx.x; u < units; u += blockDim.x) {
    if (u >= rot_units) {  // the copied tail: bit for bit when the dtypes match
      int64_t e = 2 * j.half + (u - rot_units) * E;
      if constexpr (std::is_same<Ti, To>::value && E > 1) {
        zk_vec<Ti> v;
        v.load(x + e);
        v.store(y + e);
      } else if constexpr (std::is_same<Ti, To>::value) {
        y[e] = x[e];
      } else {
        float v[E];
        zk_ld_span<Ti, E>(x + e, v);
        zk_st_span<To, E>(y + e, v);
      }
      continue;
    }
    if constexpr (INTERLEAVED && E > 1) {
      constexpr int NP = E / 2;
      float v[E], c[NP], s[NP];
      zk_ld_span<Ti, E>(x + u * E, v);
      zk_ld_param_span<NP>(cr, j.tab, u * NP, j.tab_vec, c);
      zk_ld_param_span<NP>(sr, j.tab, u * NP, j.tab_vec, s);
#pragma unroll
      for (int q = 0; q < NP; q++) {
        float a = v[2 * q], b = v[2 * q + 1], sq = j.sign * s[q];
        v[2 * q] = a * c[q] - b * sq;
        v[2 * q + 1] = a * sq + b * c[q];
      }
      zk_st_span<To, E>(y + u * E, v);
    } else {
      // E pairs: (ja + k, jb + k) with columns col + k.
      int64_t ja = INTERLEAVED ? 2 * u : u * E, jb = INTERLEAVED ? 2 * u + 1 : u * E + j.half;
      constexpr int N = INTERLEAVED ? 1 : E;
      float a[N], b[N], c[N], s[N];
      zk_ld_span<Ti, N>(x + ja, a);
      zk_ld_span<Ti, N>(x + jb, b);
      zk_ld_param_span<N>(cr, j.tab, INTERLEAVED ? u : u * E, j.tab_vec && E > 1, c);
      zk_ld_param_span<N>(sr, j.tab, INTERLEAVED ? u : u * E, j.tab_vec && E > 1, s);
#pragma unroll
      for (int k = 0; k < N; k++) {
        float av = a[k], bv = b[k], sk = j.sign * s[k];
        a[k] = av * c[k] - bv * sk;
        b[k] = av * sk + bv * c[k];
      }
      zk_st_span<To, N>(y + ja, a);
      zk_st_span<To, N>(y + jb, b);
    }
  }
}

bool aligned(const void *p, int64_t stride_elems, int elem_bytes, int align) {
  return (uintptr_t)p % (uintptr_t)align == 0 && (stride_elems * elem_bytes) % align == 0;
}

template <typename Ti, typename To, bool INTERLEAVED>
zk_status launch_typed(zk_ctx *ctx, const zk_call *call, RopeJob j) {
  constexpr int E = 16 / (int)sizeof(Ti);
  int si = (int)sizeof(Ti), so = (int)sizeof(To), ts = zk_dtype_size(j.tab);
  int out_align = zk_span_align(E * so, so), tab_span = (INTERLEAVED ? E / 2 : E) * ts;
  bool vec = j.D % E == 0 && (INTERLEAVED ? 2 * j.half : j.half) % E == 0 &&
             aligned(j.in, j.tokens > 1 ? j.in_stride : 0, si, 16) && aligned(j.out, j.out_stride, so, out_align);
  j.tab_vec = aligned(j.cos, j.cos_stride, ts, zk_span_align(tab_span, ts)) &&
              aligned(j.sin, j.sin_stride, ts, zk_span_align(tab_span, ts));
  int64_t units = vec ? (INTERLEAVED ? 2 * j.half : j.half) / E + (j.D - 2 * j.half) / E
                      : j.half + (j.D - 2 * j.half);
  // Launch shape from the head length: x covers a head's units (a power
  // of two up to 256), y as many heads as fit in 256 threads.
  int bx = 1;
  while (bx < units && bx < 256) bx *= 2;
  dim3 block(bx, 256 / bx);
  int64_t rows = j.tokens * j.heads, grid = (rows + block.y - 1) / block.y;
  if (rows == 0) return ZK_OK;
  if (grid > 0x7fffffff) return zk_fail(call, ZK_ERR_UNSUPPORTED, "%lld head rows are too many for one launch", (long long)rows);
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  if (vec) rope_kernel<Ti, To, INTERLEAVED, E><<<(unsigned)grid, block, 0, stream>>>(j);
  else rope_kernel<Ti, To, INTERLEAVED, 1><<<(unsigned)grid, block, 0, stream>>>(j);
  return ZK_CUDA_LAUNCHED(call);
}

template <typename Ti, typename To>
zk_status launch_pairs(zk_ctx *ctx, const zk_call *call, const RopeJob &j, bool interleaved) {
  return interleaved ? launch_typed<Ti, To, true>(ctx, call, j) : launch_typed<Ti, To, false>(ctx, call, j);
}

template <typename Ti>
zk_status launch_out(zk_ctx *ctx, const zk_call *call, const RopeJob &j, zk_dtype out, bool interleaved) {
  switch (out) {
    case ZK_F32: return launch_pairs<Ti, float>(ctx, call, j, interleaved);
    case ZK_F16: return launch_pairs<Ti, __half>(ctx, call, j, interleaved);
    default: return launch_pairs<Ti, __nv_bfloat16>(ctx, call, j, interleaved);
  }
}

zk_status launch(zk_ctx *ctx, const zk_call *call, const RopeJob &j, zk_dtype in, zk_dtype out, bool interleaved) {
  switch (in) {
    case ZK_F32: return launch_out<float>(ctx, call, j, out, interleaved);
    case ZK_F16: return launch_out<__half>(ctx, call, j, out, interleaved);
    default: return launch_out<__nv_bfloat16>(ctx, call, j, out, interleaved);
  }
}

// A job rotating `in` (tokens × heads·D) into `out` with the tables.
RopeJob job_of(zk_ctx *ctx, const zk_rows *in, const zk_rows *out, const zk_rows *cos, const zk_rows *sin, int64_t D,
               bool grad, const Addressing &at) {
  RopeJob j;
  j.in = in->data;
  j.out = out->data;
  j.in_stride = in->stride;
  j.out_stride = out->stride;
  j.tokens = in->rows;
  j.D = D;
  j.heads = in->cols / D;
  j.half = cos->cols;
  j.cos = cos->data;
  j.sin = sin->data;
  j.tab = cos->dtype;
  j.cos_stride = cos->stride;
  j.sin_stride = sin->stride;
  j.tab_vec = false;
  j.sign = grad ? -1.0f : 1.0f;
  j.to_slot = false;
  j.at = at;
  j.error_flag = zk_cuda(ctx)->error_flag;
  return j;
}

Addressing positions_at(const zk_rows *pos, int64_t limit) {
  Addressing a = {};
  a.pos = pos->data;
  a.pos64 = pos->dtype == ZK_I64;
  a.limit = limit;
  return a;
}

zk_status apply_rows(zk_ctx *ctx, const zk_call *call, const zk_args *a, bool interleaved, bool grad) {
  Addressing at = {};
  at.offset = a->i[0];
  at.seq = a->i[3];
  RopeJob j = job_of(ctx, &a->t[0], &a->t[3], &a->t[1], &a->t[2], a->t[0].cols, grad, at);
  return launch(ctx, call, j, a->t[0].dtype, a->t[3].dtype, interleaved);
}

zk_status gqa(zk_ctx *ctx, const zk_call *call, const zk_args *a, bool grad) {
  Addressing at = {};
  if (zk_present(&a->t[4])) at = positions_at(&a->t[4], a->t[2].rows);
  at.offset = a->i[0];
  at.seq = a->i[3];
  bool inter = a->i[1] != 0;
  int64_t D = a->i[2];
  zk_status s = launch(ctx, call, job_of(ctx, &a->t[0], &a->t[5], &a->t[2], &a->t[3], D, grad, at), a->t[0].dtype,
                       a->t[5].dtype, inter);
  if (s != ZK_OK || !zk_present(&a->t[1])) return s;
  return launch(ctx, call, job_of(ctx, &a->t[1], &a->t[6], &a->t[2], &a->t[3], D, grad, at), a->t[1].dtype,
                a->t[6].dtype, inter);
}

// q -> q_out, rot(k) -> k_cache slot, v -> v_cache slot (three launches of
// one pass each).  Slots: 0 q, 1 k, 2 v, 3 cos, 4 sin; caches kc, vc.
zk_status decode_step(zk_ctx *ctx, const zk_call *call, const zk_args *a, const Addressing &at, int kc, int vc,
                      int q_out) {
  bool inter = a->i[1] != 0;
  int64_t D = a->i[2];
  const zk_rows *cos = &a->t[3], *sin = &a->t[4];
  zk_status s = launch(ctx, call, job_of(ctx, &a->t[0], &a->t[q_out], cos, sin, D, false, at), a->t[0].dtype,
                       a->t[q_out].dtype, inter);
  if (s != ZK_OK) return s;
  RopeJob k = job_of(ctx, &a->t[1], &a->t[kc], cos, sin, D, false, at);
  k.to_slot = true;
  s = launch(ctx, call, k, a->t[1].dtype, a->t[kc].dtype, inter);
  if (s != ZK_OK) return s;
  RopeJob v = job_of(ctx, &a->t[2], &a->t[vc], cos, sin, D, false, at);
  v.to_slot = true;
  v.half = 0;
  return launch(ctx, call, v, a->t[2].dtype, a->t[vc].dtype, inter);
}

}  // namespace

#define APPLY_ENTRY(name, interleaved, grad)                                  \
  extern "C" zk_status zk_cuda_##name(zk_ctx *ctx, const zk_args *a) {        \
    ZK_CUDA_CALL(ctx, name);                                                  \
    return apply_rows(ctx, call, a, interleaved, grad);                       \
  }
APPLY_ENTRY(apply_rope, false, false)
APPLY_ENTRY(apply_rope_grad, false, true)
APPLY_ENTRY(apply_rope_interleaved, true, false)
APPLY_ENTRY(apply_rope_interleaved_grad, true, true)

extern "C" zk_status zk_cuda_apply_gqa_rope(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, apply_gqa_rope);
  return gqa(ctx, call, a, false);
}

extern "C" zk_status zk_cuda_apply_gqa_rope_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, apply_gqa_rope_grad);
  return gqa(ctx, call, a, true);
}

extern "C" zk_status zk_cuda_rope_and_cache_update(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, rope_and_cache_update);
  int64_t smax = a->i[0], P = a->t[3].rows;
  Addressing at = positions_at(&a->t[5], smax < P ? smax : P);
  at.slots = smax;
  return decode_step(ctx, call, a, at, 6, 7, 8);
}

extern "C" zk_status zk_cuda_paged_rope_and_cache_update(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, paged_rope_and_cache_update);
  int64_t bs = a->i[0];
  Addressing at = positions_at(&a->t[5], a->t[3].rows);
  at.slots = bs;
  at.block_table = (const int32_t *)a->t[6].data;
  at.mb = a->t[6].cols;
  at.nb = a->t[7].rows / bs;
  return decode_step(ctx, call, a, at, 7, 8, 9);
}
