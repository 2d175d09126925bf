// Rotary position embeddings on CUDA (spec §7).
//
// Every op is one or more launches of rope_kernel over "head rows": head h
// of token t of a tensor of tokens × heads × D, at the position its
// addressing gives (offset + t mod S, or positions[t]), writing to row t of
// the output or, for the cache updates, to the token's cache slot.  A unit
// is one 16-byte vector of the input (half rotation: a vector at j and its
// partner at j + R/2; interleaved: a vector of E/2 pairs; the copied tail:
// a vector), or one pair / element where the rows do not allow vectors.  A
// thread serves one unit of G heads of a token: the heads share the
// position, so the table values are loaded once for all of them, and the
// loads of every head are issued before the first rotation (G·32 bytes in
// flight a thread, one index computation per G heads).  A thread block is
// (units of a head) × (groups of G heads); the x extent follows the head's
// unit count, so a 128-wide bf16 head is 8 threads.  One pass: every
// element is read and written once; the table rows come through L1/L2.  A V
// row is the same launch with no rotary columns (a copy).  apply_rope's
// rows [B, S, D] are seen as S tokens of B heads (rows s, S + s, ... share
// position offset + s), so they too share their table loads.
//
// Positions and block ids are checked per token: a bad one skips the
// token's head rows and raises the context's error flag (ZK_ERR_INDEX at
// the next zk_ctx_synchronize); nothing is read or written out of bounds.
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
    p = a.offset + (t - zk_idiv(t, a.seq) * a.seq);
    return true;
  }
  p = a.pos64 ? ((const int64_t *)a.pos)[t] : (int64_t)((const int32_t *)a.pos)[t];
  if (p < 0 || p >= a.limit) return false;
  if (a.block_table) {
    int64_t lb = zk_idiv(p, a.slots);
    if (lb >= a.mb) return false;
    int64_t blk = a.block_table[t * a.mb + lb];
    if (blk < 0 || blk >= a.nb) return false;
    slot = blk * a.slots + (p - lb * a.slots);
  } else if (a.slots) {
    slot = t * a.slots + p;
  }
  return true;
}

// One tensor of a launch: q, k (rotated) or v (copied) of a call.  A
// launch serves up to three, each from its own range of blocks, so a call
// is one launch with one ramp and one drain rather than one per tensor.
struct RopePart {
  const void *in;
  void *out;
  int64_t in_stride, out_stride;  // elements from one token (slot) row to the next
  int64_t in_head, out_head;      // elements from one head of a token to the next
  int64_t heads, half;            // half = R/2; 0 = a copy (V rows)
  bool to_slot;                   // output row = the addressing's slot, else t
  bool tokens_fastest;            // rope_lean_kernel: thread rows walk the tokens of a head group first (set at launch)
  int64_t rows;                   // thread rows: tokens × ⌈heads / G⌉ (set at launch)
  unsigned first_block;           // the part's blocks start here (set at launch)
};

struct RopeJob {
  RopePart part[3];
  int parts;
  int64_t tokens, D;
  const void *cos, *sin;
  zk_dtype tab;
  int64_t cos_stride, sin_stride; // elements from one table row to the next
  bool tab_vec;                   // table spans aligned for vector loads
  float sign;                     // +1 forward, -1 the VJP (rotation by -θ)
  Addressing at;
  int *error_flag;
};

// Token t and first head h0 of thread row w of a part (G heads a row).
// The rows walk whichever of the part's two dimensions lies closer in
// memory first, so that a block's accesses are a few contiguous runs: the
// head groups of a token where a token's heads sit side by side (gqa's
// [B, S, H, D]), the tokens of a head group where heads are whole
// sequences apart (apply's [B, S, D] as S tokens of B heads, 2 MB apart
// at the bar shape).  There a block of 32 bf16 rows reads 4 runs of 8 KB
// (4 heads × 32 tokens) where it read 32 runs of 1 KB, and touches 8
// pages of 2 MB (x and y) where it touched 64.
__device__ __forceinline__ void token_and_head(const RopePart &pt, int64_t tokens, int G, int64_t w, int64_t &t,
                                               int64_t &h0) {
  if (pt.tokens_fastest) {
    int64_t g = zk_idiv(w, tokens);
    t = w - g * tokens;
    h0 = g * G;
  } else {
    const int64_t groups = (pt.heads + G - 1) / G;
    t = zk_idiv(w, groups);
    h0 = (w - t * groups) * G;
  }
}

// Heads of a token a thread serves.  Half rotation has two vectors a head
// in a unit, interleaved one, so interleaved serves twice the heads for the
// same bytes in flight (G·32 bytes) and about the same registers.
template <bool INTERLEAVED>
constexpr int kHeadsPerThread = INTERLEAVED ? 8 : 4;

// The copied tail, one unit of the first nh of G heads: all loads, then
// all stores; bit for bit when the dtypes match.
template <typename Ti, typename To, int E, int G>
__device__ __forceinline__ void copy_unit(const Ti *x, int64_t in_head, To *y, int64_t out_head, int nh) {
  zk_chunk<Ti, E> v[G];
#pragma unroll
  for (int h = 0; h < G; h++)
    if (h < nh) v[h].load(x + h * in_head);
#pragma unroll
  for (int h = 0; h < G; h++) {
    if (h >= nh) break;
    if constexpr (std::is_same<Ti, To>::value && E > 1) {
      zk_st16_global(y + h * out_head, v[h].raw);
    } else if constexpr (std::is_same<Ti, To>::value) {
      v[h].store(y + h * out_head);
    } else {
      float f[E];
#pragma unroll
      for (int k = 0; k < E; k++) f[k] = v[h].get(k);
      zk_st_span<To, E, true>(y + h * out_head, f);
    }
  }
}

// E: elements of a unit (16 bytes of Ti), or 1 on the scalar path.  Thread
// row w of a part (its block's rank in the part · blockDim.y + threadIdx.y)
// serves token w / groups, heads from (w mod groups)·G.  The job is a
// __grid_constant__ so that the block's part is read in place, not copied
// to local memory by the run-time index.
template <typename Ti, typename To, bool INTERLEAVED, int E>
__global__ void __launch_bounds__(256) rope_kernel(const __grid_constant__ RopeJob j) {
  constexpr int G = kHeadsPerThread<INTERLEAVED>;
  int i = 0;
  while (i + 1 < j.parts && blockIdx.x >= j.part[i + 1].first_block) i++;
  const RopePart &pt = j.part[i];
  const int64_t groups = (pt.heads + G - 1) / G;  // thread rows a token
  int64_t w = (int64_t)(blockIdx.x - pt.first_block) * blockDim.y + threadIdx.y;
  if (w >= pt.rows) return;
  int64_t t = zk_idiv(w, groups), h0 = (w - t * groups) * G, p, slot;
  if (!resolve(j.at, t, p, slot)) {
    if (threadIdx.x == 0) atomicOr(j.error_flag, 1);
    return;
  }
  const int nh = pt.heads - h0 < G ? (int)(pt.heads - h0) : G;
  const Ti *x = (const Ti *)pt.in + t * pt.in_stride + h0 * pt.in_head;
  To *y = (To *)pt.out + (pt.to_slot ? slot : t) * pt.out_stride + h0 * pt.out_head;
  int tab_bytes = j.tab == ZK_F32 ? 4 : 2;
  const void *cr = (const char *)j.cos + p * j.cos_stride * tab_bytes;
  const void *sr = (const char *)j.sin + p * j.sin_stride * tab_bytes;
  // Scalar: a unit is a pair.  Vectors: half rotation pairs E at a time,
  // interleaved holds E/2 pairs in a unit.
  int64_t rot_units = E == 1 ? pt.half : (INTERLEAVED ? 2 * pt.half / E : pt.half / E);
  int64_t tail_units = (j.D - 2 * pt.half) / E, units = rot_units + tail_units;
  for (int64_t u = threadIdx.x; u < units; u += blockDim.x) {
    if (u >= rot_units) {
      int64_t e = 2 * pt.half + (u - rot_units) * E;
      copy_unit<Ti, To, E, G>(x + e, pt.in_head, y + e, pt.out_head, nh);
      continue;
    }
    if constexpr (INTERLEAVED && E > 1) {
      constexpr int NP = E / 2;
      zk_chunk<Ti, E> v[G];
#pragma unroll
      for (int h = 0; h < G; h++)
        if (h < nh) v[h].load(x + h * pt.in_head + u * E);
      float c[NP], s[NP];
      zk_ld_param_span<NP>(cr, j.tab, u * NP, j.tab_vec, c);
      zk_ld_param_span<NP>(sr, j.tab, u * NP, j.tab_vec, s);
#pragma unroll
      for (int q = 0; q < NP; q++) s[q] *= j.sign;  // exact: the sign is ±1
#pragma unroll
      for (int h = 0; h < G; h++) {
        if (h >= nh) break;
        float f[E];
#pragma unroll
        for (int q = 0; q < NP; q++) {
          float a = v[h].get(2 * q), b = v[h].get(2 * q + 1);
          f[2 * q] = a * c[q] - b * s[q];
          f[2 * q + 1] = a * s[q] + b * c[q];
        }
        zk_st_span<To, E, true>(y + h * pt.out_head + u * E, f);
      }
    } else {
      // N pairs: (ja + k, jb + k) with columns col + k.
      int64_t ja = INTERLEAVED ? 2 * u : u * E, jb = INTERLEAVED ? 2 * u + 1 : u * E + pt.half;
      constexpr int N = INTERLEAVED ? 1 : E;
      zk_chunk<Ti, N> ra[G], rb[G];
#pragma unroll
      for (int h = 0; h < G; h++)
        if (h < nh) {
          ra[h].load(x + h * pt.in_head + ja);
          rb[h].load(x + h * pt.in_head + jb);
        }
      float c[N], s[N];
      zk_ld_param_span<N>(cr, j.tab, INTERLEAVED ? u : u * E, j.tab_vec && E > 1, c);
      zk_ld_param_span<N>(sr, j.tab, INTERLEAVED ? u : u * E, j.tab_vec && E > 1, s);
#pragma unroll
      for (int k = 0; k < N; k++) s[k] *= j.sign;  // exact: the sign is ±1
#pragma unroll
      for (int h = 0; h < G; h++) {
        if (h >= nh) break;
        float a[N], b[N];
#pragma unroll
        for (int k = 0; k < N; k++) {
          float av = ra[h].get(k), bv = rb[h].get(k);
          a[k] = av * c[k] - bv * s[k];
          b[k] = av * s[k] + bv * c[k];
        }
        zk_st_span<To, N, true>(y + h * pt.out_head + ja, a);
        zk_st_span<To, N, true>(y + h * pt.out_head + jb, b);
      }
    }
  }
}

// Word i (elements 2i, 2i + 1) of a 16-byte vector held in registers
// (i a compile-time constant once unrolled).
__device__ __forceinline__ uint32_t &word(uint4 &r, int i) { return i == 0 ? r.x : i == 1 ? r.y : i == 2 ? r.z : r.w; }

// Element k (0 low, 1 high) of a word of two 16-bit values, widened.
template <typename T>
__device__ __forceinline__ float widen(uint32_t w, int k) {
  return zk_bits16_to_f32<T>(w >> (16 * k));
}

// Two values rounded to a word of T: the bits of zk_vec_set_all (bf16
// NaN through the shared conversion), a pair at a time.
template <typename T>
__device__ __forceinline__ uint32_t narrow_pair(float lo, float hi) {
  if constexpr (std::is_same<T, __half>::value) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
  } else {
    if (lo != lo || hi != hi) return zk_f32_to_bf16_bits(lo) | (uint32_t)zk_f32_to_bf16_bits(hi) << 16;
    return zk_bf16x2_bits(lo, hi);
  }
}

// N words (2N 16-bit elements) at p as one access: 16 bytes (N = 4) or 8.
template <typename T, int N>
__device__ __forceinline__ void load_words(const T *p, uint32_t (&w)[N]) {
  static_assert(N == 4 || N == 2, "a 16- or 8-byte span");
  if constexpr (N == 4) {
    uint4 r = *reinterpret_cast<const uint4 *>(p);
    w[0] = r.x, w[1] = r.y, w[2] = r.z, w[3] = r.w;
  } else {
    uint2 r = *reinterpret_cast<const uint2 *>(p);
    w[0] = r.x, w[1] = r.y;
  }
}

// The common case, served by rope_lean_kernel: 16-bit x, output and
// tables of one dtype, the whole head rotated (R = D: no copied tail),
// 16-byte vectors, the output row the token's (no cache slots), at most
// two parts (apply's x; gqa's q and k) and a head of at most 256 units.
// rope_kernel's generality (the unit loop, the tail, mixed dtypes, three
// parts, slots, f32 arrays of whole vectors) costs it about 60 of its 118
// registers: 2 blocks of 256 an SM, and on the H100 no eligible warp 75%
// of the cycles.  Here a thread serves exactly one unit (rope_kernel's) of
// G heads, issues the loads of its x vectors before the position load (x
// is addressed by the token, so they are in bounds whatever the position),
// keeps the table values packed (widened where used) and rotates each word
// of two elements in place, so the inputs' registers hold the outputs.
// Each element's rotation is rope_kernel's expression and its rounding
// zk_vec_set_all's, so the bits are the same.  Its thread rows follow
// token_and_head: apply_rope's walk the tokens of 4 heads first.
//
// Four heads a thread either way: half rotation holds 8 vectors (64
// registers in all: 4 blocks of 256 an SM, twice the warps and the bytes
// in flight of rope_kernel), interleaved 4 (40 registers: 6 blocks; with
// rope_kernel's 8 heads it took 64 and spilled).
constexpr int kLeanHeadsPerThread = 4;
template <bool INTERLEAVED>
constexpr int kLeanBlocksPerSM = INTERLEAVED ? 6 : 4;

template <typename T, bool INTERLEAVED>
__global__ void __launch_bounds__(256, kLeanBlocksPerSM<INTERLEAVED>)
    rope_lean_kernel(const __grid_constant__ RopeJob j) {
  constexpr int E = 8, G = kLeanHeadsPerThread;
  constexpr int V = INTERLEAVED ? 1 : 2;       // vectors of a head in a unit: at j (and j + R/2)
  constexpr int NP = INTERLEAVED ? E / 2 : E;  // pairs of a head in a unit, one table column each
  const RopePart &pt = j.part[j.parts > 1 && blockIdx.x >= j.part[1].first_block ? 1 : 0];
  const int64_t units = INTERLEAVED ? 2 * pt.half / E : pt.half / E;
  int64_t w = (int64_t)(blockIdx.x - pt.first_block) * blockDim.y + threadIdx.y;
  if (w >= pt.rows || threadIdx.x >= units) return;
  int64_t t, h0;
  token_and_head(pt, j.tokens, G, w, t, h0);
  const int nh = pt.heads - h0 < G ? (int)(pt.heads - h0) : G;
  const int64_t col = threadIdx.x * (int64_t)E;  // first element of the unit in a head
  const T *x = (const T *)pt.in + t * pt.in_stride + h0 * pt.in_head + col;
  zk_vec<T> v[G][V];
#pragma unroll
  for (int h = 0; h < G; h++)
    if (h < nh)
#pragma unroll
      for (int k = 0; k < V; k++) v[h][k].load(x + h * pt.in_head + k * pt.half);
  int64_t p, slot;
  if (!resolve(j.at, t, p, slot)) {
    if (threadIdx.x == 0) atomicOr(j.error_flag, 1);
    return;
  }
  // Table words of two values: 8 (4) registers where f32 would take 16
  // (8).  The VJP's -sin flips the sign bits, exactly as multiplying by -1.
  const int64_t tab_col = threadIdx.x * (int64_t)NP;
  const uint32_t sign_bits = j.sign < 0 ? 0x80008000u : 0u;
  uint32_t cw[NP / 2], sw[NP / 2];
  load_words<T, NP / 2>((const T *)j.cos + p * j.cos_stride + tab_col, cw);
  load_words<T, NP / 2>((const T *)j.sin + p * j.sin_stride + tab_col, sw);
#pragma unroll
  for (int q = 0; q < NP / 2; q++) sw[q] ^= sign_bits;
  T *y = (T *)pt.out + t * pt.out_stride + h0 * pt.out_head + col;
#pragma unroll
  for (int h = 0; h < G; h++) {
    if (h >= nh) break;
#pragma unroll
    for (int i = 0; i < 4; i++) {
      if constexpr (INTERLEAVED) {  // word i is pair i: (a, b) at column i
        uint32_t &ab = word(v[h][0].raw, i);
        float a = widen<T>(ab, 0), b = widen<T>(ab, 1);
        float c = widen<T>(cw[i / 2], i % 2), s = widen<T>(sw[i / 2], i % 2);
        ab = narrow_pair<T>(a * c - b * s, a * s + b * c);
      } else {  // pairs 2i, 2i + 1: (a, b) at columns 2i, 2i + 1
        uint32_t &aw = word(v[h][0].raw, i), &bw = word(v[h][1].raw, i);
        float a0 = widen<T>(aw, 0), a1 = widen<T>(aw, 1), b0 = widen<T>(bw, 0), b1 = widen<T>(bw, 1);
        float c0 = widen<T>(cw[i], 0), c1 = widen<T>(cw[i], 1), s0 = widen<T>(sw[i], 0), s1 = widen<T>(sw[i], 1);
        aw = narrow_pair<T>(a0 * c0 - b0 * s0, a1 * c1 - b1 * s1);
        bw = narrow_pair<T>(a0 * s0 + b0 * c0, a1 * s1 + b1 * c1);
      }
    }
#pragma unroll
    for (int k = 0; k < V; k++) zk_st16_global(y + h * pt.out_head + k * pt.half, v[h][k].raw);
  }
}

template <typename T>
constexpr zk_dtype storage_dtype() {
  return std::is_same<T, float>::value ? ZK_F32 : std::is_same<T, __half>::value ? ZK_F16 : ZK_BF16;
}

// p and every stride in between (`steps` of `stride_elems` elements) on an
// `align`-byte boundary.
bool aligned(const void *p, int64_t stride_elems, int64_t steps, int elem_bytes, int align) {
  return (uintptr_t)p % (uintptr_t)align == 0 && (steps <= 1 || (stride_elems * elem_bytes) % align == 0);
}

template <typename Ti, typename To, bool INTERLEAVED>
zk_status launch_typed(zk_ctx *ctx, const zk_call *call, RopeJob j) {
  constexpr int E = 16 / (int)sizeof(Ti), G = kHeadsPerThread<INTERLEAVED>;
  int si = (int)sizeof(Ti), so = (int)sizeof(To), ts = zk_dtype_size(j.tab);
  int out_align = zk_span_align(E * so, so), tab_span = (INTERLEAVED ? E / 2 : E) * ts;
  // Vectors where every part allows them (the scalar path serves any).
  bool vec = j.D % E == 0;
  for (int i = 0; i < j.parts; i++) {
    const RopePart &pt = j.part[i];
    vec = vec && (INTERLEAVED ? 2 * pt.half : pt.half) % E == 0 && aligned(pt.in, pt.in_stride, j.tokens, si, 16) &&
          aligned(pt.in, pt.in_head, pt.heads, si, 16) && aligned(pt.out, pt.out_stride, 2, so, out_align) &&
          aligned(pt.out, pt.out_head, pt.heads, so, out_align);
  }
  j.tab_vec = aligned(j.cos, j.cos_stride, 2, ts, zk_span_align(tab_span, ts)) &&
              aligned(j.sin, j.sin_stride, 2, ts, zk_span_align(tab_span, ts));
  // Launch shape from the first part's head (a rotated one): x covers its
  // units (a power of two up to 256), y as many groups of G heads as fit in
  // 256 threads.  A V part of more units walks them in turns.
  int64_t half = j.part[0].half;
  int64_t units = vec ? (INTERLEAVED ? 2 * half : half) / E + (j.D - 2 * half) / E : half + (j.D - 2 * half);
  int bx = 1;
  while (bx < units && bx < 256) bx *= 2;
  dim3 block(bx, 256 / bx);
  // rope_lean_kernel where the call is its case (16-bit, one dtype, R = D,
  // no slots, at most two parts, a head of at most 256 units).
  constexpr bool lean_types = std::is_same<Ti, To>::value && sizeof(Ti) == 2;
  bool lean = lean_types && vec && j.tab == storage_dtype<Ti>() && j.tab_vec && j.parts <= 2 && units <= 256;
  for (int i = 0; i < j.parts; i++) lean = lean && 2 * j.part[i].half == j.D && !j.part[i].to_slot;
  const int heads_per_thread = lean ? kLeanHeadsPerThread : G;
  int64_t blocks = 0;
  for (int i = 0; i < j.parts; i++) {
    RopePart &pt = j.part[i];
    pt.rows = j.tokens * ((pt.heads + heads_per_thread - 1) / heads_per_thread);
    pt.tokens_fastest = lean && pt.in_head > pt.in_stride;  // rope_kernel: groups first
    pt.first_block = (unsigned)blocks;
    blocks += (pt.rows + block.y - 1) / block.y;
    if (blocks > 0x7fffffff)
      return zk_fail(call, ZK_ERR_UNSUPPORTED, "%lld head rows are too many for one launch", (long long)(j.tokens * pt.heads));
  }
  if (blocks == 0) return ZK_OK;
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  if constexpr (lean_types) {
    if (lean) {
      rope_lean_kernel<Ti, INTERLEAVED><<<(unsigned)blocks, block, 0, stream>>>(j);
      return ZK_CUDA_LAUNCHED(call);
    }
  }
  if (vec) rope_kernel<Ti, To, INTERLEAVED, E><<<(unsigned)blocks, block, 0, stream>>>(j);
  else rope_kernel<Ti, To, INTERLEAVED, 1><<<(unsigned)blocks, block, 0, stream>>>(j);
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

// A job of no parts over `tokens` tokens with the tables.
RopeJob job_of(zk_ctx *ctx, int64_t tokens, const zk_rows *cos, const zk_rows *sin, int64_t D, bool grad,
               const Addressing &at) {
  RopeJob j = {};
  j.tokens = tokens;
  j.D = D;
  j.cos = cos->data;
  j.sin = sin->data;
  j.tab = cos->dtype;
  j.cos_stride = cos->stride;
  j.sin_stride = sin->stride;
  j.sign = grad ? -1.0f : 1.0f;
  j.at = at;
  j.error_flag = zk_cuda(ctx)->error_flag;
  return j;
}

// Adds `in` (tokens × heads·D) rotated (or copied: half = 0) into `out`.
RopePart &add_part(RopeJob &j, const zk_rows *in, const zk_rows *out, int64_t half, bool to_slot) {
  RopePart &pt = j.part[j.parts++];
  pt = RopePart{};
  pt.in = in->data;
  pt.out = out->data;
  pt.in_stride = in->stride;
  pt.out_stride = out->stride;
  pt.in_head = pt.out_head = j.D;
  pt.heads = in->cols / j.D;
  pt.half = half;
  pt.to_slot = to_slot;
  return pt;
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
  const zk_rows *x = &a->t[0], *y = &a->t[3], *cos = &a->t[1];
  RopeJob j = job_of(ctx, x->rows, cos, &a->t[2], x->cols, grad, at);
  RopePart &pt = add_part(j, x, y, cos->cols, false);
  // Rows b·S + s of [B, S, D] as token s, head b: a token's heads share
  // the position, so a thread loads its table values once for G of them.
  int64_t S = at.seq;
  if (S > 0 && x->rows % S == 0) {
    j.tokens = S;
    pt.heads = x->rows / S;
    pt.in_head = S * x->stride;
    pt.out_head = S * y->stride;
  }
  return launch(ctx, call, j, x->dtype, y->dtype, interleaved);
}

// q and k in one launch (k_out has k's dtype, which is q's).
zk_status gqa(zk_ctx *ctx, const zk_call *call, const zk_args *a, bool grad) {
  Addressing at = {};
  if (zk_present(&a->t[4])) at = positions_at(&a->t[4], a->t[2].rows);
  at.offset = a->i[0];
  at.seq = a->i[3];
  const zk_rows *cos = &a->t[2];
  RopeJob j = job_of(ctx, a->t[0].rows, cos, &a->t[3], a->i[2], grad, at);
  add_part(j, &a->t[0], &a->t[5], cos->cols, false);
  if (zk_present(&a->t[1])) add_part(j, &a->t[1], &a->t[6], cos->cols, false);
  return launch(ctx, call, j, a->t[0].dtype, a->t[5].dtype, a->i[1] != 0);
}

// q -> q_out, rot(k) -> k_cache slot, v -> v_cache slot: one pass, in one
// launch when the caches have q's dtype, else two (q; k and v).  Slots: 0
// q, 1 k, 2 v, 3 cos, 4 sin; caches kc, vc.
zk_status decode_step(zk_ctx *ctx, const zk_call *call, const zk_args *a, const Addressing &at, int kc, int vc,
                      int q_out) {
  bool inter = a->i[1] != 0;
  const zk_rows *cos = &a->t[3];
  zk_dtype tq = a->t[0].dtype, tc = a->t[kc].dtype;
  RopeJob j = job_of(ctx, a->t[0].rows, cos, &a->t[4], a->i[2], false, at);
  add_part(j, &a->t[0], &a->t[q_out], cos->cols, false);
  if (tc != tq) {
    zk_status s = launch(ctx, call, j, tq, tq, inter);
    if (s != ZK_OK) return s;
    j.parts = 0;
  }
  add_part(j, &a->t[1], &a->t[kc], cos->cols, true);
  add_part(j, &a->t[2], &a->t[vc], 0, true);
  return launch(ctx, call, j, tq, tc, inter);
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
