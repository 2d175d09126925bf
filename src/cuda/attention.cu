// Attention on CUDA (spec §6).
//
// The row ops are ops of the softmax row engine (softmax_rows.cuh): one
// read of each input, one write, a fixed-order reduction per row.
// masked_softmax and scale_mask_softmax are its forward softmax with a side
// policy (ScaleMask) that loads the row's mask bits beside each chunk of x
// (mask row r mod M) and turns every masked entry into -Inf with a select
// before any arithmetic, and every kept one into scale·x; so a NaN under
// the mask is never read into the max or the sum, masked outputs come out
// as exact zeros, and a row whose kept entries hold a NaN or +Inf gives NaN
// at the kept entries and 0 at the masked ones (the CPU's rule).
// logsumexp is the log_softmax state written once per row (ROW_OUT), its
// grad the softmax forward times the row's dy; the masked grads are the
// softmax VJP, with a scale.
//
// paged_attention (decode): one CTA per (sequence, KV head, head pass,
// split of the context).  The split is a fixed token range (its length P
// depends on the shapes only), so the result does not depend on the
// device's size.  A CTA first stages the split's block ids in shared
// memory, checking each (a bad one raises the context's error flag, and
// nothing is written for that sequence), then its groups of NL lanes walk
// the tokens: a lane holds CPL 16-byte chunks of the head dim of K and V
// (read once for the G query heads of the KV head that the CTA serves), the
// group's lanes sum the dot products by shuffles, and each group keeps an
// online softmax per query head (running max, rescaled sum, rescaled
// accumulator) in f32.  The groups merge in a fixed tree (shuffles within a
// warp, then warps in order through shared memory).  A sequence whose
// context fits one split writes its output directly; longer ones leave
// unnormalised partials (m, l, acc) in the context's workspace and a small
// combine kernel merges the splits in order.  The common decode shapes
// (16-bit D = 64, 80, 128 or f32 D = 64, with 4 or 8 query heads a KV
// head) take paged_scatter_kernel instead, which reduce-scatters a step's
// partial dots across the lanes so that each lane runs the online softmax
// of one (token, head), and where HKV is a multiple of 8 and the grid
// keeps 256 CTAs serves the 8 KV heads of whole cache rows in one CTA (so
// it reads contiguous rows); its combine is a programmatic dependent
// launch on sm_90.  Head dims, head groups or
// rows the vector kernel does not cover (D·GP > 1024, unaligned caches)
// run a plain kernel: one CTA per (sequence, query head), tiles of 256
// tokens with the scores in shared memory and the accumulator in the
// workspace, the same online softmax.
//
// Bad context lengths or block ids follow the family convention of the
// CUDA backend (rope.cu): the work item is skipped, nothing is read out of
// bounds, the context's error flag is raised, and zk_ctx_synchronize
// returns ZK_ERR_INDEX.  Here the item is the whole sequence: its outputs
// are left as they were.
#include <type_traits>
#include <utility>

#include "softmax_rows.cuh"

namespace {

// ------------------------------------------------------------ row ops

// z = scale·x where the mask keeps (nonzero byte), -Inf where it does not.
// MASK = false: no mask, every entry kept (scale_mask_softmax with NULL).
//
// A mask of M rows under R = n·M score rows (n > 1) is walked mask row by
// mask row: the kernel's i-th row is row (i mod n)·M + ⌊i / n⌋, so the n
// rows that read mask row q run side by side and all but the first find
// it in L2.  In row order they come M rows apart: at 8192 x 4096 with
// M = 1024, 32 MB of x and y (f32; 16 MB bf16) stream through L2 between
// two reads of a mask row, enough to evict it, and masked f32 took
// 10.6 us more than softmax (run 3), the time of 8 reads of the mask
// from DRAM.
template <bool MASK>
struct ScaleMask : RowOpBase {
  const uint8_t *mask;
  int64_t mask_stride, mask_rows;
  float scale;
  uint32_t mask_repeats;  // n, or 1 for rows in order
  bool mask_vec;          // mask rows allow one W-byte load per chunk
  struct Row {
    const uint8_t *m;  // the row's mask row
  };
  template <int W>
  struct Bits {
    typename std::conditional<(W > 4), uint64_t, uint32_t>::type b;  // byte e = element e's keep
  };
  __device__ __forceinline__ Row row(int64_t r) const {
    return {MASK ? mask + (r % mask_rows) * mask_stride : nullptr};
  }
  __device__ __forceinline__ int64_t walk(int64_t i) const {
    if (!MASK || mask_repeats == 1) return i;
    const uint32_t j = (uint32_t)i, q = j / mask_repeats;  // 32 bits: host-checked
    return (int64_t)(j - q * mask_repeats) * mask_rows + q;
  }
  template <int W>
  __device__ __forceinline__ void load(Bits<W> &bits, const Row &row, int64_t chunk) const {
    if constexpr (MASK) {
      const uint8_t *p = row.m + chunk * W;
      if constexpr (W == 8) {
        if (mask_vec) {
          bits.b = *reinterpret_cast<const uint64_t *>(p);
          return;
        }
      } else if constexpr (W == 4) {
        if (mask_vec) {
          bits.b = *reinterpret_cast<const uint32_t *>(p);
          return;
        }
      }
      bits.b = 0;
#pragma unroll
      for (int e = 0; e < W; e++) bits.b |= (decltype(bits.b))p[e] << (8 * e);
    }
  }
  template <int W>
  __device__ __forceinline__ bool keep(const Bits<W> &bits, int e) const {
    if constexpr (MASK) return ((bits.b >> (8 * e)) & 0xffu) != 0;
    else return true;
  }
  template <int W, int K>
  __device__ __forceinline__ void apply(const Bits<W> &bits, float (&v)[K], int at) const {
#pragma unroll
    for (int e = 0; e < W; e++) v[at + e] = keep<W>(bits, e) ? scale * v[at + e] : -INFINITY;
  }

  // Packed rows: a dropped element becomes the infinity that scale turns
  // into -Inf (so not for scale 0), selected a pair of elements at a time
  // from the mask bytes without unpacking either.
  bool packed_ok() const { return scale != 0.0f; }
  __device__ __forceinline__ float z(float x) const { return scale * x; }
  template <typename T>
  __device__ __forceinline__ uint32_t dropped_pair() const { return zk_inf_pair<T>(scale > 0.0f); }
  template <int W, typename T>
  __device__ __forceinline__ void apply_packed(const Bits<W> &bits, zk_vec<T> &c) const {
    static_assert(W == 8 && sizeof(T) == 2, "a 16-byte chunk of 16-bit elements");
    if constexpr (MASK) {
      const uint32_t dropped = dropped_pair<T>();
      uint32_t w[4] = {c.raw.x, c.raw.y, c.raw.z, c.raw.w};
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const uint32_t m = (uint32_t)(bits.b >> (32 * h));
        const uint32_t kept = ((m & 0x7f7f7f7fu) + 0x7f7f7f7fu) | m;  // bit 7 of a byte: nonzero
#pragma unroll
        for (int p = 0; p < 2; p++) {
          // Bytes 2p, 2p+1's bit 7 spread over the pair's two halves.
          uint32_t keep16;
          asm("prmt.b32 %0, %1, 0, %2;" : "=r"(keep16) : "r"(kept), "r"(p ? 0xbbaau : 0x9988u));
          uint32_t &x = w[2 * h + p];
          x = (x & keep16) | (dropped & ~keep16);
        }
      }
      c.raw = make_uint4(w[0], w[1], w[2], w[3]);
    }
  }
};

template <bool MASK>
using MaskedSoftmax = SoftmaxFwd<false, ScaleMask<MASK>>;

// logsumexp: the log_softmax state, one value a row in y's own dtype.  A
// non-finite row max (NaN, +Inf, or -Inf for an all -Inf or empty row) is
// the value itself.
struct Lse : SoftmaxFwd<true> {
  static constexpr bool ROW_OUT = true;
  void *y;
  int64_t y_stride;
  zk_dtype y_dtype;
  struct Out {
    float v;
  };
  __device__ __forceinline__ Out finish(Pair total, Pair, const Row &) const {
    const float m = total.a;
    if (!(m > -INFINITY && m < INFINITY)) return {m};
    return {m + logf(total.b)};  // S >= 1
  }
  __device__ __forceinline__ void store_row(const Out &o, int64_t r) const {
    zk_st_param(y, y_dtype, r * y_stride, o.v);
  }
};

// logsumexp grad: dx = dy·e^(x - lse), the softmax of x times the row's
// dy (any float dtype).  lse = -Inf (all -Inf row) gives 0; a NaN row NaN;
// a +Inf row e^(x - Inf): NaN at the +Inf entries, 0 elsewhere (times dy).
struct LseGrad : SoftmaxFwd<false> {
  static constexpr bool PACKABLE = false;  // its own output
  const void *dy;
  int64_t dy_stride;
  zk_dtype dy_dtype;
  struct Row {
    float dy;
  };
  enum { NORMAL, ZERO, NAN_ROW, INF_ROW };
  struct Out {
    float m, k, c, dy;
    int mode;
  };
  __device__ __forceinline__ Row row(int64_t r) const { return {zk_ld_param(dy, dy_dtype, r * dy_stride)}; }
  __device__ __forceinline__ Out finish(Pair total, Pair own, const Row &row) const {
    Out o = {};
    const float m = total.a;
    o.m = m;
    o.dy = row.dy;
    if (m == -INFINITY) {
      o.mode = ZERO;
    } else if (m != m) {
      o.mode = NAN_ROW;
    } else if (m == INFINITY) {
      o.mode = INF_ROW;
      // Own values are e^(x - m_own): exactly e^(x - Inf) when m_own = +Inf;
      // otherwise every own x is below +Inf and e^(x - Inf) = 0.
      o.c = own.a == INFINITY ? 1.0f : 0.0f;
    } else {
      o.mode = NORMAL;
      o.k = 1.0f / total.b;  // S >= 1
      o.c = own.a == -INFINITY ? 0.0f : zk_exp_f(own.a - m) * o.k;
    }
    return o;
  }
  template <bool CACHED, int W, int K, class B>
  __device__ __forceinline__ float output(const Out &o, const float (&v)[1][K], const B &, int j) const {
    switch (o.mode) {
      case ZERO: return 0.0f;
      case NAN_ROW: return NAN;
      case INF_ROW: return o.dy * (CACHED ? v[0][j] * o.c : zk_exp_f(v[0][j] - o.m));
      default: return o.dy * (CACHED ? v[0][j] * o.c : zk_exp_f(v[0][j] - o.m) * o.k);
    }
  }
};

template <bool MASK>
zk_status masked_forward(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  MaskedSoftmax<MASK> op = {};
  op.scale = a->f[0];
  op.mask_repeats = 1;
  if (MASK) {
    const zk_rows *m = &a->t[1];
    const int W = 16 / zk_dtype_size(a->t[0].dtype);  // x's chunk width in the vector path
    op.mask = (const uint8_t *)m->data;
    op.mask_stride = m->stride;
    op.mask_rows = m->rows;
    op.mask_vec = (uintptr_t)m->data % (uintptr_t)W == 0 && (m->rows <= 1 || m->stride % W == 0);
    const int64_t rows = a->t[0].rows;
    const bool walk_by_mask = m->rows > 1 && m->rows < rows && rows % m->rows == 0 && rows <= INT32_MAX;
    op.mask_repeats = walk_by_mask ? (uint32_t)(rows / m->rows) : 1;
  }
  const zk_rows *in[] = {&a->t[0]};
  return run(ctx, call, in, &a->t[2], op);
}

// ------------------------------------------------------- paged attention

constexpr int PAGED_THREADS = 256, PAGED_WARPS = PAGED_THREADS / 32;
constexpr int PAGED_MAX_PART = 4096;       // tokens of one split at most
constexpr int PAGED_MAX_GD = 1024;         // GP·D of the vector kernel's merge buffer
constexpr int GENERIC_TILE = PAGED_THREADS;

struct PagedParams {
  const void *q;
  void *out;
  zk_dtype q_dtype;                 // q and out
  int64_t q_stride, out_stride;     // elements from one sequence to the next
  const void *kc, *vc;
  const int32_t *tables, *lens;
  int64_t table_stride, MB;
  int64_t B, H, HKV, G, D, BS, NB;
  float scale;
  int lanes;                        // NL: lanes per token, a power of two <= 32
  int passes;                       // head passes per KV head: ceil(G / GP)
  int64_t part, splits;             // tokens per split (P); splits of MB·BS (S)
  float *ws_m, *ws_l, *ws_acc;      // partials [B, H, S] (m, l) and [B, H, S, D] (acc)
  int *error_flag;
};

__device__ __forceinline__ bool bad_length(const PagedParams &p, int64_t L) { return L < 0 || L > p.MB * p.BS; }

// e^(m - to) for m <= to; exactly 1 when equal (both -Inf included).
__device__ __forceinline__ float rescale(float m, float to) { return m == to ? 1.0f : zk_exp_f(m - to); }

template <typename T, int E>
__device__ __forceinline__ void clear(zk_chunk<T, E> &c) {
  if constexpr (E > 1) c.raw = make_uint4(0, 0, 0, 0);
  else c.set(0, 0.0f);
}

// CPL chunks of E elements, kept raw (converted where used: half the
// registers of f32): chunk sub + c·NL of a row; chunks past the row (n
// chunks) are zeros.
template <typename T, int E, int CPL>
__device__ __forceinline__ void load_chunks(zk_chunk<T, E> (&v)[CPL], const T *row, int sub, int nl, int64_t n) {
#pragma unroll
  for (int c = 0; c < CPL; c++) {
    if (sub + c * nl < n) v[c].load(row + (int64_t)(sub + c * nl) * E);
    else clear(v[c]);
  }
}

// 16 bytes global -> shared without passing through registers; with
// bytes = 0 the destination is zero-filled and nothing is read.
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int bytes) {
  const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(bytes));
}
// The same into a shared-memory address (32-bit) plus a constant offset,
// which the instruction takes as an immediate.
template <int OFFSET>
__device__ __forceinline__ void cp_async16_at(unsigned dst, const void *src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0+%3], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes), "n"(OFFSET));
}
// base + a·b, 32 × 32 -> 64 bits, as one wide multiply-add (the compiler
// does not see that a loop-invariant factor fits 32 bits).
__device__ __forceinline__ const char *mad_wide(uint32_t a, uint32_t b, const char *base) {
  uint64_t r;
  asm("mad.wide.u32 %0, %1, %2, %3;" : "=l"(r) : "r"(a), "r"(b), "l"(base));
  return reinterpret_cast<const char *>(r);
}
// f(std::integral_constant<int, k>{}) for k = 0 .. N-1: k usable where a
// constant is needed (an instruction's immediate).
template <typename F, int... K>
__device__ __forceinline__ void unrolled_impl(F &&f, std::integer_sequence<int, K...>) {
  (f(std::integral_constant<int, K>{}), ...);
}
template <int N, typename F>
__device__ __forceinline__ void unrolled(F &&f) {
  unrolled_impl(f, std::make_integer_sequence<int, N>{});
}

// The vector kernel's K/V stages: steps of the token walk in flight per
// thread (cp.async into shared memory), so a CTA keeps several steps'
// loads outstanding without holding them in registers.  Each thread reads
// back only the 16-byte chunks it copied itself (consecutive threads,
// consecutive chunks: no bank conflicts), so the pipeline needs no
// barrier, only each thread's wait.  Four stages where a step is small
// (two tokens of one chunk a lane: D·2 bytes <= 256), else two.
template <int TT, int CPL>
__host__ __device__ constexpr int paged_stages() { return TT * CPL <= 2 ? 4 : 2; }
template <int E, int TT, int CPL>
constexpr size_t paged_stage_bytes() {
  return E > 1 ? (size_t)paged_stages<TT, CPL>() * 2 * TT * CPL * PAGED_THREADS * 16 : 0;
}
// Tokens a group loads per step, by the registers they take.
template <int E, int CPL, int GP>
__host__ __device__ constexpr int paged_tokens_per_step() { return GP * CPL * E <= 16 ? 4 : 2; }

// The work item of a split CTA: one split of one (sequence, KV head, head
// pass), GP query heads from h0 (gn of them in this pass).
struct PagedItem {
  int64_t b, kvh, split, L, t_begin, t_end, nsplit, h0;
  int gn;
};

// The part of the item that the block index alone gives (no load): the
// sequence, KV heads, query heads and the split's first token.
__device__ __forceinline__ void paged_item_place(const PagedParams &p, int gp, PagedItem &it, int kvc = 1) {
  int64_t item = blockIdx.x;
  const int64_t kv_ctas = p.HKV / kvc;
  it.kvh = item % kv_ctas * kvc;
  item /= kv_ctas;
  const int pass = (int)(item % p.passes);
  item /= p.passes;
  it.split = item % p.splits;
  it.b = item / p.splits;
  it.t_begin = it.split * p.part;
  const int g0 = pass * gp;
  it.h0 = it.kvh * p.G + g0;
  it.gn = (int)(p.G - g0 < gp ? p.G - g0 : gp);
}

// The rest, from the sequence's length: false when the CTA has nothing
// to do (a bad length, which raises the error flag, or a split past the
// sequence's context).
__device__ __forceinline__ bool paged_item_length(const PagedParams &p, PagedItem &it) {
  it.L = p.lens[it.b];
  if (bad_length(p, it.L)) {
    if (threadIdx.x == 0) atomicOr(p.error_flag, 1);
    return false;
  }
  if (it.split > 0 && it.t_begin >= it.L) return false;  // past this sequence's context
  it.t_end = it.L < it.t_begin + p.part ? it.L : it.t_begin + p.part;
  it.nsplit = it.L == 0 ? 1 : (it.L + p.part - 1) / p.part;
  return true;
}

// The CTA's item; false when it has nothing to do (a bad length, which
// raises the error flag, or a split past the sequence's context).  A CTA
// serves kvc consecutive KV heads from kvh (1, or a whole cache row: see
// the scatter kernel).  The KV heads vary fastest: the HKV / kvc CTAs that
// together read whole cache rows (each a kvc/HKV slice of every token's
// row) are dispatched back to back and walk in step, so each row's pieces
// reach the memory controllers close together instead of some waves apart.
__device__ __forceinline__ bool paged_item(const PagedParams &p, int gp, PagedItem &it, int kvc = 1) {
  paged_item_place(p, gp, it, kvc);
  return paged_item_length(p, it);
}

// After each thread checked its share of the split's block ids: true (the
// CTA must stop) when any was bad, with the error flag raised and, for a
// sequence of several splits, a marker the combine kernel reads as "write
// nothing" (for the pass's heads of each of the CTA's kvc KV heads).  A
// barrier.
__device__ __forceinline__ bool paged_block_ids_bad(const PagedParams &p, const PagedItem &it, int bad, int kvc = 1) {
  if (!__syncthreads_or(bad)) return false;
  if (threadIdx.x == 0) atomicOr(p.error_flag, 1);
  if (it.nsplit > 1 && (int)threadIdx.x < kvc * it.gn) {
    const int64_t h = it.h0 + (int64_t)(threadIdx.x / it.gn) * p.G + threadIdx.x % it.gn;
    p.ws_l[(it.b * p.H + h) * p.splits + it.split] = -1.0f;
  }
  return true;
}

// The lane's share of the pass's query heads: chunks sub + c·nl of each
// head (zeros past the row or the pass's heads), and a cleared state.
template <int E, int CPL, int GP>
__device__ __forceinline__ void paged_init(const PagedParams &p, const PagedItem &it, int sub, int nl,
                                           float (&q)[GP][CPL * E], float (&acc)[GP][CPL * E]) {
  const int64_t nchunks = E > 1 ? p.D / E : p.D;
#pragma unroll
  for (int g = 0; g < GP; g++)
#pragma unroll
    for (int c = 0; c < CPL; c++)
#pragma unroll
      for (int e = 0; e < E; e++) {
        const int64_t d = (int64_t)(sub + c * nl) * E + e;
        const bool ok = g < it.gn && sub + c * nl < nchunks;
        q[g][c * E + e] = ok ? zk_ld_param(p.q, p.q_dtype, it.b * p.q_stride + (it.h0 + g) * p.D + d) : 0.0f;
        acc[g][c * E + e] = 0.0f;
      }
}

// The end of a split: every group's online softmax state (m, l, and the
// accumulator of its lanes' chunks, the same in each lane of a group for m
// and l) merged in a fixed tree, per KV head of the CTA (group grp serves
// KV head it.kvh + grp % KVC): shuffles between the groups of a warp that
// serve the same KV head, then NR rows of KVC such states in order through
// shared memory (buf: NR·KVC·GP·D floats, free once the barrier at its
// start has passed; red_m, red_l: NR·KVC rows of GP); then the output, or
// the split's partials for the combine kernel.  KVC = 1: NR = PAGED_WARPS
// rows, one a warp.
template <int E, int CPL, int GP, int KVC = 1, int NR = PAGED_WARPS>
__device__ __forceinline__ void paged_merge_store(const PagedParams &p, const PagedItem &it, float (&m)[GP],
                                                  float (&l)[GP], float (&acc)[GP][CPL * E], float *buf,
                                                  float (*red_m)[GP], float (*red_l)[GP]) {
  constexpr int NV = CPL * E;
  const int nl = p.lanes, lane = threadIdx.x & 31, warp = threadIdx.x >> 5, sub = lane & (nl - 1);
  const int64_t nchunks = E > 1 ? p.D / E : p.D;
  // Merge the groups of a warp that serve one KV head: lanes sub, sub +
  // nl·KVC, ... hold one chunk.
  for (int o = nl * KVC; o < 32; o <<= 1) {
#pragma unroll
    for (int g = 0; g < GP; g++) {
      const float mo = __shfl_xor_sync(0xffffffffu, m[g], o), lo = __shfl_xor_sync(0xffffffffu, l[g], o);
      const float M = fmaxf(m[g], mo), w = rescale(m[g], M), wo = rescale(mo, M);
      l[g] = __fmul_rn(l[g], w) + __fmul_rn(lo, wo);
#pragma unroll
      for (int i = 0; i < NV; i++) {
        const float ao = __shfl_xor_sync(0xffffffffu, acc[g][i], o);
        acc[g][i] = __fmul_rn(acc[g][i], w) + __fmul_rn(ao, wo);
      }
      m[g] = M;
    }
  }
  __syncthreads();  // what buf aliases is read no more
  // The groups left in a warp (the first `kept`) take slots warp·kept + j:
  // row slot / KVC, KV head slot % KVC (= grp % KVC).
  const int groups_in_warp = 32 / nl, kept = groups_in_warp < KVC ? groups_in_warp : KVC;
  const int64_t head_span = GP * p.D;  // floats of one KV head's states in a row of buf
  if (lane < nl * kept) {
    const int slot = warp * kept + lane / nl, row = slot / KVC, kl = slot % KVC;
    float *dst = buf + (int64_t)slot * head_span;  // row·KVC + kl
#pragma unroll
    for (int g = 0; g < GP; g++) {
      if (sub == 0) red_m[row * KVC + kl][g] = m[g], red_l[row * KVC + kl][g] = l[g];
#pragma unroll
      for (int c = 0; c < CPL; c++)
#pragma unroll
        for (int e = 0; e < E; e++) {
          const int64_t d = (int64_t)(sub + c * nl) * E + e;
          if (sub + c * nl < nchunks) dst[g * p.D + d] = acc[g][c * E + e];
        }
    }
  }
  __syncthreads();
  // The rows in order; thread per (KV head, head, element).
  const int span = it.gn * (int)p.D;
  for (int idx = threadIdx.x; idx < KVC * span; idx += PAGED_THREADS) {
    const int kl = idx / span, r = idx - kl * span, g = r / (int)p.D;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < NR; w++) M = fmaxf(M, red_m[w * KVC + kl][g]);
    float num = 0.0f, den = 0.0f;
#pragma unroll
    for (int w = 0; w < NR; w++) {
      const float f = rescale(red_m[w * KVC + kl][g], M);
      num += buf[(w * KVC + kl) * head_span + r] * f;
      den += red_l[w * KVC + kl][g] * f;
    }
    const int64_t h = it.h0 + (int64_t)kl * p.G + g, bh = it.b * p.H + h, d = r - (int64_t)g * p.D;
    if (it.nsplit == 1) {
      // L = 0: zeros (den = 0 is never divided by).
      zk_st_param(p.out, p.q_dtype, it.b * p.out_stride + h * p.D + d, it.L > 0 ? num * (1.0f / den) : 0.0f);
    } else {
      p.ws_acc[(bh * p.splits + it.split) * p.D + d] = num;
      if (d == 0) p.ws_m[bh * p.splits + it.split] = M, p.ws_l[bh * p.splits + it.split] = den;
    }
  }
}

// One split of one (sequence, KV head, head pass): GP query heads.
// E: elements of a chunk (16 bytes of Tkv, or 1); CPL: chunks per lane.
// Up to 4 heads, two CTAs an SM (128 registers): twice the loads in flight.
template <typename Tkv, int E, int CPL, int GP>
__global__ void __launch_bounds__(PAGED_THREADS, GP <= 4 ? 2 : 1) paged_split_kernel(PagedParams p) {
  constexpr int NV = CPL * E;                            // elements of a lane's share of a row
  constexpr int TT = paged_tokens_per_step<E, CPL, GP>();
  constexpr int ST = paged_stages<TT, CPL>();
  // Block ids during the token walk, then the warps' states for the merge.
  __shared__ union {
    int32_t blk[PAGED_MAX_PART + 2];
    float acc[PAGED_WARPS][PAGED_MAX_GD];
  } sm;
  __shared__ float red_m[PAGED_WARPS][GP], red_l[PAGED_WARPS][GP];

  PagedItem it;
  if (!paged_item(p, GP, it)) return;
  const int64_t t_begin = it.t_begin, t_end = it.t_end, kvh = it.kvh;

  // The split's block ids, checked before any is used.
  const int64_t kb0 = t_begin / p.BS, nkb = t_end > t_begin ? (t_end - 1) / p.BS - kb0 + 1 : 0;
  int bad = 0;
  for (int64_t i = threadIdx.x; i < nkb; i += PAGED_THREADS) {
    const int32_t blk = p.tables[it.b * p.table_stride + kb0 + i];
    bad |= blk < 0 || blk >= p.NB;
    sm.blk[i] = blk;
  }
  if (paged_block_ids_bad(p, it, bad)) return;

  const int nl = p.lanes, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int sub = lane & (nl - 1), grp = (int)threadIdx.x / nl, groups = PAGED_THREADS / nl;
  const int64_t nchunks = E > 1 ? p.D / E : p.D;
  float q[GP][NV], acc[GP][NV], m[GP], l[GP];
  paged_init<E, CPL, GP>(p, it, sub, nl, q, acc);
#pragma unroll
  for (int g = 0; g < GP; g++) m[g] = -INFINITY, l[g] = 0.0f;

  const Tkv *kc = (const Tkv *)p.kc, *vc = (const Tkv *)p.vc;
  const int64_t slot_elems = p.HKV * p.D;
  // Steps are uniform over a warp (its shuffles): a step runs while the
  // warp's first group has a token; tokens at or past t_end are masked.
  const int64_t step = (int64_t)groups * TT, warp_first = (int64_t)(warp * (32 / nl)) * TT;
  const int64_t nsteps = t_end - t_begin > warp_first ? (t_end - t_begin - warp_first + step - 1) / step : 0;
  extern __shared__ uint4 stage_buf[];  // [stage][k, v][token][chunk][thread]
  auto stage_at = [&](int64_t i, int kv, int k, int c) -> uint4 * {
    return stage_buf + ((((int)(i % ST) * 2 + kv) * TT + k) * CPL + c) * PAGED_THREADS + threadIdx.x;
  };
  // Step i's chunks of this thread, K and V, into their stage (tokens past
  // the split and chunks past the row are zero-filled, nothing read).
  auto issue = [&](int64_t i) {
    const int64_t t0 = t_begin + i * step + (int64_t)grp * TT;
#pragma unroll
    for (int k = 0; k < TT; k++) {
      const int64_t t = t0 + k;
      const bool live = t < t_end;
      const int64_t off = live ? ((int64_t)sm.blk[t / p.BS - kb0] * p.BS + t % p.BS) * slot_elems + kvh * p.D : 0;
#pragma unroll
      for (int c = 0; c < CPL; c++) {
        const int ch = sub + c * nl;
        const int bytes = live && ch < nchunks ? 16 : 0;
        const int64_t at = bytes ? off + (int64_t)ch * E : 0;
        cp_async16(stage_at(i, 0, k, c), kc + at, bytes);
        cp_async16(stage_at(i, 1, k, c), vc + at, bytes);
      }
    }
  };
  if constexpr (E > 1)
#pragma unroll
    for (int i = 0; i < ST - 1; i++) {
      if (i < nsteps) issue(i);
      zk_cp_async_commit();  // empty groups past the end keep the count uniform
    }

  for (int64_t i = 0; i < nsteps; i++) {
    const int64_t t0 = t_begin + i * step + (int64_t)grp * TT;
    zk_chunk<Tkv, E> kf[TT][CPL], vf[TT][CPL];
    if constexpr (E > 1) {
      // Step i + ST - 1 takes the stage step i - 1 used (this thread's own
      // reads, done); then step i's group is the oldest outstanding.
      if (i + ST - 1 < nsteps) issue(i + ST - 1);
      zk_cp_async_commit();
      zk_cp_async_wait<ST - 1>();
#pragma unroll
      for (int k = 0; k < TT; k++)
#pragma unroll
        for (int c = 0; c < CPL; c++) kf[k][c].raw = *stage_at(i, 0, k, c), vf[k][c].raw = *stage_at(i, 1, k, c);
    } else {
#pragma unroll
      for (int k = 0; k < TT; k++) {
        const int64_t t = t0 + k;
        if (t < t_end) {
          const int64_t slot = (int64_t)sm.blk[t / p.BS - kb0] * p.BS + t % p.BS;
          const int64_t off = slot * slot_elems + kvh * p.D;
          load_chunks<Tkv, E, CPL>(kf[k], kc + off, sub, nl, nchunks);
          load_chunks<Tkv, E, CPL>(vf[k], vc + off, sub, nl, nchunks);
        } else {
#pragma unroll
          for (int c = 0; c < CPL; c++) clear(kf[k][c]), clear(vf[k][c]);
        }
      }
    }
    float s[TT][GP];
#pragma unroll
    for (int k = 0; k < TT; k++)
#pragma unroll
      for (int g = 0; g < GP; g++) {
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < NV; i++) dot += q[g][i] * kf[k][i / E].get(i % E);
        s[k][g] = dot;
      }
    for (int o = nl / 2; o; o >>= 1)
#pragma unroll
      for (int k = 0; k < TT; k++)
#pragma unroll
        for (int g = 0; g < GP; g++) s[k][g] += __shfl_xor_sync(0xffffffffu, s[k][g], o);
#pragma unroll
    for (int g = 0; g < GP; g++) {
      float tmax = -INFINITY;
#pragma unroll
      for (int k = 0; k < TT; k++) {
        s[k][g] = t0 + k < t_end ? p.scale * s[k][g] : -INFINITY;
        tmax = fmaxf(tmax, s[k][g]);
      }
      const float mn = tmax > m[g] ? tmax : m[g];
      if (mn == -INFINITY) continue;  // no token of this group yet
      const float alpha = zk_exp_f(m[g] - mn);  // 0 on the first step (m = -Inf)
      float pk[TT], psum = 0.0f;
#pragma unroll
      for (int k = 0; k < TT; k++) {
        pk[k] = zk_exp_f(s[k][g] - mn);  // masked tokens: e^(-Inf) = 0
        psum += pk[k];
      }
      l[g] = l[g] * alpha + psum;
#pragma unroll
      for (int i = 0; i < NV; i++) {
        float a = acc[g][i] * alpha;
#pragma unroll
        for (int k = 0; k < TT; k++) a += pk[k] * vf[k][i / E].get(i % E);
        acc[g][i] = a;
      }
      m[g] = mn;
    }
  }

  paged_merge_store<E, CPL, GP>(p, it, m, l, acc, &sm.acc[0][0], red_m, red_l);
}

// The reduce-scatter kernel, for the common decode shapes (16-byte chunks,
// one a lane, GP·TT = NL): a group's NL lanes walk TT tokens a step, and
// each lane's partial dots (TT tokens × GP heads) are summed over the
// group by a reduce-scatter, so that lane sub ends holding the whole dot of
// token sub / GP with head sub % GP (NL - 1 shuffles a step instead of
// log2(NL) per dot), and the softmax runs once per (token, head): the lane
// keeps the running max and a partial sum of its head (the same max in the
// TT lanes of a head), two exponentials a step, and the group's lanes
// fetch each weight by a shuffle for the accumulator.  The split's token
// slots are computed once (shared memory, one division a token) instead of
// per lane and token.
template <int NL, int GP>
__host__ __device__ constexpr int scatter_tokens() { return NL / GP; }
// Block ids a thread loads beside the sequence's length, before it is
// known: the split's first SCATTER_EARLY · 256 tokens (every split of 512
// and 1024 tokens: b64 × 4096 and b1 × 32768).
constexpr int SCATTER_EARLY = 4;
template <int TT>
__host__ __device__ constexpr int scatter_stages() { return TT >= 4 ? 3 : 4; }
// [stage][k, v][token][thread] 16-byte chunks; the merge buffer aliases it.
template <int TT>
__host__ __device__ constexpr size_t scatter_stage_bytes() { return (size_t)scatter_stages<TT>() * 2 * TT * PAGED_THREADS * 16; }
// Dynamic shared memory: the split's token slots (int32), then the stages.
template <int TT>
size_t scatter_smem_bytes(int64_t part) { return (size_t)part * 4 + scatter_stage_bytes<TT>(); }

// KV heads a CTA serves (KVC): 1, or SCATTER_ROW_HEADS, the whole row of a
// token where HKV is 8 (at the bar's bf16 D = 128: 2 KB).  A group of NL
// lanes serves KV head grp % KVC at token lane grp / KVC: a warp reads the
// adjacent slices of 32 / NL KV heads, and a step the whole rows of STEP =
// GROUPS / KVC · TT consecutive tokens (8 at the bar's shape: within one
// block of 16 tokens, 16 KB contiguous of K and of V), where a CTA of one
// KV head reads 256-byte slices 2 KB apart and relies on the other KV
// heads' CTAs to read the rest of each row at about the same time.
constexpr int SCATTER_ROW_HEADS = 8;
// Rows of the merge buffer: the groups a warp keeps after merging those of
// one KV head, KVC to a row.
template <int NL, int KVC>
__host__ __device__ constexpr int scatter_merge_rows() {
  return PAGED_WARPS * (32 / NL < KVC ? 32 / NL : KVC) / KVC;
}
// The merge buffer (rows × KVC KV heads × GP heads × D <= NL·E floats)
// aliases the stages: only shapes where it fits take KVC > 1.
template <int E, int NL, int GP, int KVC>
__host__ __device__ constexpr bool scatter_merge_fits() {
  return (size_t)scatter_merge_rows<NL, KVC>() * KVC * GP * NL * E * sizeof(float) <=
         scatter_stage_bytes<scatter_tokens<NL, GP>()>();
}

// Sums each of the NL values v over the NL lanes of a group and leaves lane
// sub with the total of value sub.  Each round (xor offsets NL/2 .. 1)
// halves what a lane holds: it keeps the upper half where its offset bit is
// set, else the lower, and adds the partner's copy of it; the other half
// goes to the partner.
template <int HALF, int N>
__device__ __forceinline__ void reduce_scatter_rounds(float (&v)[N], int sub) {
  if constexpr (HALF > 0) {
    const bool upper = sub & HALF;  // the offset of this round is HALF
#pragma unroll
    for (int j = 0; j < HALF; j++) {
      const float keep = upper ? v[j + HALF] : v[j], send = upper ? v[j] : v[j + HALF];
      v[j] = keep + __shfl_xor_sync(0xffffffffu, send, HALF);
    }
    reduce_scatter_rounds<HALF / 2>(v, sub);
  }
}
template <int NL>
__device__ __forceinline__ float reduce_scatter(float (&v)[NL], int sub) {
  reduce_scatter_rounds<NL / 2>(v, sub);
  return v[0];
}

template <typename Tkv, int E, int NL, int GP, int KVC>
__global__ void __launch_bounds__(PAGED_THREADS, GP <= 4 ? 2 : 1) paged_scatter_kernel(PagedParams p) {
  constexpr int TT = scatter_tokens<NL, GP>(), ST = scatter_stages<TT>();
  constexpr int GROUPS = PAGED_THREADS / NL, STEP = GROUPS / KVC * TT;  // tokens a CTA walks per step
  constexpr int NR = scatter_merge_rows<NL, KVC>();
  static_assert(E > 1 && TT >= 1 && TT * GP == NL, "one (token, head) dot a lane");
  static_assert(GROUPS % KVC == 0 && 512 % STEP == 0, "whole token lanes; a split is whole steps");
  static_assert(scatter_merge_fits<E, NL, GP, KVC>(), "the merge buffer fits");
  __shared__ float red_m[NR * KVC][GP], red_l[NR * KVC][GP];
  extern __shared__ uint4 dyn[];
  int32_t *slot_of = reinterpret_cast<int32_t *>(dyn);  // [part]
  uint4 *stage_buf = dyn + p.part / 4;                   // part: a multiple of 512

  PagedItem it;
  paged_item_place(p, GP, it, KVC);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, sub = lane & (NL - 1), grp = threadIdx.x / NL;
  const int kv_lane = grp % KVC, tok_lane = grp / KVC;  // the group's KV head (from it.kvh) and token lane
  // The prologue's loads in one round trip (a one-wave grid pays it once,
  // unhidden; it was the length, then q and the block table): the block
  // ids of the thread's first SCATTER_EARLY tokens of the split, read
  // before the length is known (any token of the table's width is inside
  // it; those past the length are not used), q, which needs no block id,
  // and the length.
  int32_t early_blk[SCATTER_EARLY];
  const int64_t table_tokens = p.MB * p.BS;
#pragma unroll
  for (int u = 0; u < SCATTER_EARLY; u++) {
    const int64_t t = it.t_begin + threadIdx.x + u * PAGED_THREADS;
    early_blk[u] = t < it.t_begin + p.part && t < table_tokens ? p.tables[it.b * p.table_stride + zk_idiv(t, p.BS)] : 0;
  }
  float q[GP][E], acc[GP][E];
  {
    PagedItem group_it = it;  // the group's KV head's heads
    group_it.h0 += (int64_t)kv_lane * p.G;
    paged_init<E, 1, GP>(p, group_it, sub, NL, q, acc);
  }
  if (!paged_item_length(p, it)) return;
  const int ntok = (int)(it.t_end - it.t_begin);

  // The slot of each of the split's tokens, its block id checked before
  // any is used (the host made sure slots fit in 31 bits); up to the last
  // step's end (part is a multiple of STEP), slot 0: masked tokens then
  // point inside the cache, and a step's slots are one aligned vector.
  const int padded = (ntok + STEP - 1) / STEP * STEP;
  int bad = 0;
  auto checked_slot = [&](int j, int32_t blk) -> int32_t {
    if (j >= ntok) return 0;
    const int64_t t = it.t_begin + j;
    bad |= blk < 0 || blk >= p.NB;
    return (int32_t)((int64_t)blk * p.BS + (t - zk_idiv(t, p.BS) * p.BS));
  };
#pragma unroll
  for (int u = 0; u < SCATTER_EARLY; u++) {
    const int j = threadIdx.x + u * PAGED_THREADS;
    if (j < padded) slot_of[j] = checked_slot(j, early_blk[u]);
  }
  for (int j = threadIdx.x + SCATTER_EARLY * PAGED_THREADS; j < padded; j += PAGED_THREADS)
    slot_of[j] = checked_slot(j, j < ntok ? p.tables[it.b * p.table_stride + zk_idiv(it.t_begin + j, p.BS)] : 0);
  if (paged_block_ids_bad(p, it, bad, KVC)) return;

  const bool has_chunk = sub < p.D / E;
  float m_own = -INFINITY, l_own = 0.0f;  // of head sub % GP, over token slot sub / GP

  // A token's chunk of this lane: the slot times the row bytes (one wide
  // multiply-add, the host made sure a row's bytes fit in 32 bits) on the
  // lane's base; a lane past the row reads nothing but stays on chunk 0.
  const uint32_t row_bytes = (uint32_t)(p.HKV * p.D * (int64_t)sizeof(Tkv));
  const int64_t lane_bytes = ((it.kvh + kv_lane) * p.D + (has_chunk ? (int64_t)sub * E : 0)) * (int64_t)sizeof(Tkv);
  const char *k_lane = (const char *)p.kc + lane_bytes, *v_lane = (const char *)p.vc + lane_bytes;
  // Steps are uniform over a warp (its shuffles): a step runs while the
  // warp's first group (its lowest token lane) has a token; tokens at or
  // past the split's end are masked.
  const int warp_first = warp * (32 / NL) / KVC * TT;
  const int nsteps = ntok > warp_first ? (ntok - warp_first + STEP - 1) / STEP : 0;
  auto stage_at = [&](int stage, int kv, int k) -> uint4 * {
    return stage_buf + ((stage * 2 + kv) * TT + k) * PAGED_THREADS + threadIdx.x;
  };
  constexpr int CHUNK_STRIDE = PAGED_THREADS * 16, STAGE_BYTES = 2 * TT * CHUNK_STRIDE;  // bytes in stage_buf
  const unsigned stage0 = (unsigned)__cvta_generic_to_shared(stage_buf + threadIdx.x);
  struct alignas(4 * TT) StepSlots {
    int32_t v[TT];
  };
  // Step i's chunks of this thread, K and V, into a stage (tokens past the
  // split and chunks past the row are zero-filled, nothing read).  Each
  // thread reads back only what it copied: no barrier.
  auto issue = [&](int i, int stage) {
    const int j0 = i * STEP + tok_lane * TT;
    const StepSlots slots = *reinterpret_cast<const StepSlots *>(slot_of + j0);
    const unsigned dst = stage0 + stage * STAGE_BYTES;
    const int live = has_chunk ? ntok - j0 : 0;  // this lane's tokens k < live are read
    unrolled<TT>([&](auto kk) {
      constexpr int k = decltype(kk)::value;
      const int bytes = k < live ? 16 : 0;
      cp_async16_at<k * CHUNK_STRIDE>(dst, mad_wide((uint32_t)slots.v[k], row_bytes, k_lane), bytes);
      cp_async16_at<(TT + k) * CHUNK_STRIDE>(dst, mad_wide((uint32_t)slots.v[k], row_bytes, v_lane), bytes);
    });
  };
#pragma unroll
  for (int i = 0; i < ST - 1; i++) {
    if (i < nsteps) issue(i, i);
    zk_cp_async_commit();  // empty groups past the end keep the count uniform
  }

  int stage = 0;  // i mod ST
  for (int i = 0; i < nsteps; i++) {
    // Step i + ST - 1 takes the stage step i - 1 used (this thread's own
    // reads, done); then step i's group is the oldest outstanding.
    if (i + ST - 1 < nsteps) issue(i + ST - 1, stage == 0 ? ST - 1 : stage - 1);
    zk_cp_async_commit();
    zk_cp_async_wait<ST - 1>();

    float part[NL];  // part[k·GP + g]: this lane's share of token k's dot with head g
#pragma unroll
    for (int k = 0; k < TT; k++) {
      zk_chunk<Tkv, E> kf;
      kf.raw = *stage_at(stage, 0, k);
#pragma unroll
      for (int g = 0; g < GP; g++) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < E; e++) dot += q[g][e] * kf.get(e);
        part[k * GP + g] = dot;
      }
    }
    const float dot = reduce_scatter<NL>(part, sub);
    const float s = i * STEP + tok_lane * TT + sub / GP < ntok ? p.scale * dot : -INFINITY;
    float tmax = s;  // over the TT lanes of this head
#pragma unroll
    for (int o = GP; o < NL; o <<= 1) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, o));
    const float mn = fmaxf(m_own, tmax);
    const float alpha = rescale(m_own, mn);                      // 1 while the max holds
    const float w = s == -INFINITY ? 0.0f : zk_exp_f(s - mn);   // masked tokens: 0, even before any max
    l_own = l_own * alpha + w;
    m_own = mn;
    // Rescaling by exactly 1 changes no bit: skipped unless a max of the
    // warp moved (after the first steps, rarely).
    if (__any_sync(0xffffffffu, alpha != 1.0f)) {
#pragma unroll
      for (int g = 0; g < GP; g++) {
        const float a = __shfl_sync(0xffffffffu, alpha, g, NL);  // lane g: token 0 of head g
#pragma unroll
        for (int e = 0; e < E; e++) acc[g][e] *= a;
      }
    }
#pragma unroll
    for (int k = 0; k < TT; k++) {
      zk_chunk<Tkv, E> vf;
      vf.raw = *stage_at(stage, 1, k);
#pragma unroll
      for (int g = 0; g < GP; g++) {
        const float wk = __shfl_sync(0xffffffffu, w, k * GP + g, NL);
#pragma unroll
        for (int e = 0; e < E; e++) acc[g][e] += wk * vf.get(e);
      }
    }
    stage = stage + 1 == ST ? 0 : stage + 1;
  }
  zk_cp_async_wait<0>();  // nothing of this thread's still lands in what the merge buffer aliases
  zk_allow_dependent_launch();  // the combine's CTAs may take free slots during the merges

  // Every lane of the group gets each head's state: the max (the same in
  // the head's TT lanes) and the sum of the head's partial sums.
  float m[GP], l[GP];
#pragma unroll
  for (int o = GP; o < NL; o <<= 1) l_own += __shfl_xor_sync(0xffffffffu, l_own, o);
#pragma unroll
  for (int g = 0; g < GP; g++) {
    m[g] = __shfl_sync(0xffffffffu, m_own, g, NL);
    l[g] = __shfl_sync(0xffffffffu, l_own, g, NL);
  }
  paged_merge_store<E, 1, GP, KVC, NR>(p, it, m, l, acc, reinterpret_cast<float *>(stage_buf), red_m, red_l);
}

// The splits of one (sequence, query head) merged in order: out = Σ w_s
// acc_s / Σ w_s l_s with w_s = e^(m_s - max m).  Sequences of one split
// were written by the split kernel; a bad length or a split that saw a
// bad block id (l = -1) leaves the output as it was.  A few KB a pair,
// read from L2 right after the split grid: latency-bound, so one warp per
// (pair, slice of 32 elements), no barrier, and every load of the first
// AHEAD splits (their rows; (m, l) of the first 32) issued at once, beside
// the length they are masked by (the workspace holds p.splits splits a
// pair, so the loads past the sequence's own splits stay inside it; their
// stale values are never used): one round trip to L2 for up to AHEAD
// splits, where a warp per pair took the length, then (m, l), then
// batches of 8 splits' rows, one after the other.  AHEAD is 8 where
// p.splits <= 8 (b64 × 4096: 61 registers, 4 CTAs an SM, where 32 take
// 74 and 3), else 32.  Lane j reads split j's (m, l) (its weight then
// broadcast by shuffles) and element slice·32 + j of each split's row
// (coalesced).  Fixed orders, shapes only: each element's sum over the
// splits ascending; den by lane (its splits ascending), then
// zk_warp_sum's tree: the same bits whatever AHEAD.
constexpr int COMBINE_WARPS = 8, COMBINE_THREADS = 32 * COMBINE_WARPS;

template <int AHEAD>  // splits whose rows a lane loads at once (one element each)
__global__ void __launch_bounds__(COMBINE_THREADS) paged_combine_kernel(PagedParams p) {
  // Launched early (programmatic): wait for the splits' partials before
  // anything else, so that no CTA finishes ahead of the split kernel, even
  // one whose sequence has a single split and nothing to combine.
  zk_wait_for_primary_grid();
  const int lane = threadIdx.x & 31;
  const int64_t slices = (p.D + 31) / 32;
  const int64_t unit = (int64_t)blockIdx.x * COMBINE_WARPS + (threadIdx.x >> 5);  // (b·H + h)·slices + slice
  if (unit >= p.B * p.H * slices) return;
  const int64_t bh = zk_idiv(unit, slices), d = (unit - bh * slices) * 32 + lane, b = zk_idiv(bh, p.H);
  const int64_t L = p.lens[b];
  const int64_t base = bh * p.splits;
  const float *ws_m = p.ws_m + base, *ws_l = p.ws_l + base, *ws_acc = p.ws_acc + base * p.D + d;
  const bool has_d = d < p.D;
  const int first = (int)(p.splits < 32 ? p.splits : 32), ahead = first < AHEAD ? first : AHEAD;
  const float m_first = lane < first ? ws_m[lane] : -INFINITY, l_first = lane < first ? ws_l[lane] : 0.0f;
  float a[AHEAD];  // element d of splits s0 + j
#pragma unroll
  for (int j = 0; j < AHEAD; j++) a[j] = j < ahead && has_d ? ws_acc[(int64_t)j * p.D] : 0.0f;
  if (bad_length(p, L)) return;
  const int64_t nsplit = (L + p.part - 1) / p.part;
  if (nsplit <= 1) return;

  // Max and bad marker over the splits (the first chunk's from the
  // registers).
  float M = -INFINITY;
  bool bad = false;
  for (int64_t s = lane; s < nsplit; s += 32) {
    const float ms = s == lane ? m_first : ws_m[s], ls = s == lane ? l_first : ws_l[s];
    bad |= ls < 0.0f;
    M = fmaxf(M, ms);  // a max: the same in any order
  }
  if (__any_sync(0xffffffffu, bad)) return;
#pragma unroll
  for (int o = 16; o; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));

  // The weight of split s0 + lane, and its term of den (lanes past the
  // splits: 0).
  auto weigh = [&](int64_t s0, float &den_lane) {
    const int64_t s = s0 + lane;
    if (s >= nsplit) return 0.0f;
    const float ms = s0 == 0 ? m_first : ws_m[s], ls = s0 == 0 ? l_first : ws_l[s];
    const float w = rescale(ms, M);
    den_lane += ls * w;
    return w;
  };
  float den = 0.0f;
  const float w0 = weigh(0, den);
  for (int64_t s0 = 32; s0 < nsplit; s0 += 32) weigh(s0, den);
  den = zk_warp_sum(den);
  const float inv = 1.0f / den;

  float num = 0.0f;
  for (int64_t s0 = 0; s0 < nsplit; s0 += AHEAD) {
    float den_again = 0.0f;  // counted above
    const float w_lane = s0 == 0 ? w0 : weigh(s0, den_again);
    const int n = (int)(nsplit - s0 < AHEAD ? nsplit - s0 : AHEAD);
    if (s0 > 0) {
#pragma unroll
      for (int j = 0; j < AHEAD; j++) a[j] = j < n && has_d ? ws_acc[(s0 + j) * p.D] : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < AHEAD; j++) {
      const float w = __shfl_sync(0xffffffffu, w_lane, j);
      if (j < n) num += a[j] * w;
    }
  }
  if (has_d) zk_st_param(p.out, p.q_dtype, b * p.out_stride + (bh - b * p.H) * p.D + d, num * inv);
}

// Any D, any G, any alignment: one CTA per (sequence, query head), tiles
// of 256 tokens (a warp per token's dot product, scores in shared memory),
// the accumulator in the workspace ([B, H, D] f32, each element owned by
// one thread), the same online softmax as the CPU's per block.
template <typename Tkv>
__global__ void __launch_bounds__(PAGED_THREADS) paged_generic_kernel(PagedParams p, float *acc_ws) {
  __shared__ float s[GENERIC_TILE], pr[GENERIC_TILE];
  __shared__ int64_t slot_of[GENERIC_TILE];
  __shared__ int bad;
  const int64_t b = blockIdx.x / p.H, h = blockIdx.x % p.H, kvh = h / p.G;
  const int64_t L = p.lens[b];
  if (bad_length(p, L)) {
    if (threadIdx.x == 0) atomicOr(p.error_flag, 1);
    return;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t q0 = b * p.q_stride + h * p.D;
  float *acc = acc_ws + (b * p.H + h) * p.D;
  for (int64_t d = threadIdx.x; d < p.D; d += PAGED_THREADS) acc[d] = 0.0f;
  if (threadIdx.x == 0) bad = 0;
  const Tkv *kc = (const Tkv *)p.kc, *vc = (const Tkv *)p.vc;
  float m = -INFINITY, l = 0.0f;
  for (int64_t t0 = 0; t0 < L; t0 += GENERIC_TILE) {
    const int n = (int)(L - t0 < GENERIC_TILE ? L - t0 : GENERIC_TILE);
    __syncthreads();  // bad's reset, and the previous tile's s/pr/slot_of reads, are done
    for (int tt = warp; tt < n; tt += PAGED_WARPS) {
      const int64_t t = t0 + tt;
      const int32_t blk = p.tables[b * p.table_stride + t / p.BS];
      if (blk < 0 || blk >= p.NB) {  // uniform over the warp
        if (lane == 0) bad = 1;
        continue;
      }
      const int64_t slot = (int64_t)blk * p.BS + t % p.BS;
      const Tkv *k = kc + (slot * p.HKV + kvh) * p.D;
      float dot = 0.0f;
      for (int64_t d = lane; d < p.D; d += 32) dot += zk_ld_param(p.q, p.q_dtype, q0 + d) * zk_ld(k + d);
      dot = zk_warp_sum(dot);
      if (lane == 0) s[tt] = p.scale * dot, slot_of[tt] = slot;
    }
    __syncthreads();
    if (bad) {  // uniform: read after the barrier
      if (threadIdx.x == 0) atomicOr(p.error_flag, 1);
      return;
    }
    float tmax = -INFINITY;
    for (int tt = 0; tt < n; tt++) tmax = fmaxf(tmax, s[tt]);
    const float mn = tmax > m ? tmax : m, alpha = zk_exp_f(m - mn);
    if ((int)threadIdx.x < n) pr[threadIdx.x] = zk_exp_f(s[threadIdx.x] - mn);
    __syncthreads();
    float psum = 0.0f;
    for (int tt = 0; tt < n; tt++) psum += pr[tt];
    l = l * alpha + psum;
    for (int64_t d = threadIdx.x; d < p.D; d += PAGED_THREADS) {
      float a = acc[d] * alpha;
      for (int tt = 0; tt < n; tt++) a += pr[tt] * zk_ld(vc + (slot_of[tt] * p.HKV + kvh) * p.D + d);
      acc[d] = a;
    }
    m = mn;
  }
  const float inv = L > 0 ? 1.0f / l : 0.0f;
  for (int64_t d = threadIdx.x; d < p.D; d += PAGED_THREADS)
    zk_st_param(p.out, p.q_dtype, b * p.out_stride + h * p.D + d, L > 0 ? acc[d] * inv : 0.0f);
}

int pow2_at_least(int64_t n) {
  int v = 1;
  while (v < n && v < 32) v *= 2;
  return v;
}

// A paged kernel's launch with its dynamic shared memory (the K/V stages;
// over the default 48 KB, so the limit is raised once, to max_bytes).
template <auto KERNEL>
void launch_with_smem(cudaStream_t stream, const PagedParams &p, unsigned grid, size_t max_bytes, size_t bytes) {
  zk_raise_smem_limit<KERNEL>(max_bytes);
  KERNEL<<<grid, PAGED_THREADS, bytes, stream>>>(p);
}

template <typename Tkv, int E, int CPL, int GP>
void launch_split_gp(cudaStream_t stream, const PagedParams &p, unsigned grid) {
  constexpr size_t bytes = paged_stage_bytes<E, paged_tokens_per_step<E, CPL, GP>(), CPL>();
  launch_with_smem<paged_split_kernel<Tkv, E, CPL, GP>>(stream, p, grid, bytes, bytes);
}

// The reduce-scatter kernel's shapes: NL lanes of one chunk each, GP heads
// a pass, TT = NL / GP tokens a step.
bool scatter_covers(int nl, int gp) { return (nl == 8 || nl == 16) && (gp == 4 || gp == 8); }

template <typename Tkv, int E, int NL, int GP, int KVC>
void launch_scatter_kvc(cudaStream_t stream, const PagedParams &p, unsigned grid) {
  constexpr int TT = scatter_tokens<NL, GP>();
  launch_with_smem<paged_scatter_kernel<Tkv, E, NL, GP, KVC>>(stream, p, grid, scatter_smem_bytes<TT>(PAGED_MAX_PART),
                                                              scatter_smem_bytes<TT>(p.part));
}

// A CTA serves a whole cache row's SCATTER_ROW_HEADS KV heads where HKV is
// a multiple of it, the merge buffer fits, and the grid still has 256 CTAs
// (a fixed count, shapes only: about a wave of two an SM on an H100; b64 ×
// 4096: 512); else one KV head (b1 × 32768: 256 CTAs of one).  units: the
// (sequence, KV head, head pass) count.
template <typename Tkv, int E, int NL, int GP>
void launch_scatter_gp(cudaStream_t stream, const PagedParams &p, int64_t units) {
  constexpr int ROW = SCATTER_ROW_HEADS;
  if constexpr (scatter_merge_fits<E, NL, GP, ROW>()) {
    if (p.HKV % ROW == 0 && units / ROW * p.splits >= 256) {
      launch_scatter_kvc<Tkv, E, NL, GP, ROW>(stream, p, (unsigned)(units / ROW * p.splits));
      return;
    }
  }
  launch_scatter_kvc<Tkv, E, NL, GP, 1>(stream, p, (unsigned)(units * p.splits));
}

template <typename Tkv, int E>
zk_status launch_scatter(const zk_call *call, cudaStream_t stream, const PagedParams &p, int gp, int64_t units) {
  if (p.lanes == 16) {
    if (gp == 4) launch_scatter_gp<Tkv, E, 16, 4>(stream, p, units);
    else launch_scatter_gp<Tkv, E, 16, 8>(stream, p, units);
  } else {
    if (gp == 4) launch_scatter_gp<Tkv, E, 8, 4>(stream, p, units);
    else launch_scatter_gp<Tkv, E, 8, 8>(stream, p, units);
  }
  return ZK_CUDA_LAUNCHED(call);
}

// GP heads a pass.  Two chunks a lane means D > 32·E, so GP·D <= 1024
// leaves GP <= 1024 / (32·E + 1): only those are instantiated.
template <typename Tkv, int E, int CPL>
zk_status launch_split(const zk_call *call, cudaStream_t stream, const PagedParams &p, int gp, unsigned grid) {
  constexpr int GPMAX = CPL == 1 ? 8 : PAGED_MAX_GD / (32 * E + 1) >= 4 ? 4 : 2;
  if (gp > GPMAX) return zk_fail(call, ZK_ERR_UNSUPPORTED, "no kernel for %d heads of this D", gp);
  switch (gp) {
    case 1: launch_split_gp<Tkv, E, CPL, 1>(stream, p, grid); break;
    case 2: launch_split_gp<Tkv, E, CPL, 2>(stream, p, grid); break;
    case 4:
      if constexpr (GPMAX >= 4) launch_split_gp<Tkv, E, CPL, 4>(stream, p, grid);
      break;
    default:
      if constexpr (GPMAX >= 8) launch_split_gp<Tkv, E, CPL, 8>(stream, p, grid);
      break;
  }
  return ZK_CUDA_LAUNCHED(call);
}

// The combine kernel, on sm_90 as a programmatic dependent launch: its
// CTAs are scheduled once every split CTA has passed its token walk (or
// exited) and wait in the kernel for the split grid's end, so its launch
// latency and the split CTAs' merges overlap (a small grid's few µs).
void launch_combine(zk_ctx *ctx, cudaStream_t stream, const PagedParams &p) {
  const int64_t warps = p.B * p.H * ((p.D + 31) / 32);  // a warp a (sequence, head, slice of 32 elements)
  const dim3 grid(zk_div_up(warps, COMBINE_WARPS)), block(COMBINE_THREADS);
  if (p.splits <= 8) zk_launch_dependent(ctx, paged_combine_kernel<8>, grid, block, 0, stream, p);
  else zk_launch_dependent(ctx, paged_combine_kernel<32>, grid, block, 0, stream, p);
}

template <typename Tkv>
zk_status paged(zk_ctx *ctx, const zk_call *call, PagedParams p, bool vec) {
  cudaStream_t stream;
  zk_status st = zk_cuda_enter(ctx, call, &stream);
  if (st != ZK_OK) return st;
  constexpr int EV = zk_vec<Tkv>::EPV;
  // The vector kernel: a lane holds CPL <= 2 chunks (scalar rows: 1), and
  // GP heads of D fit the merge buffer.
  const int64_t chunks = vec ? p.D / EV : p.D;
  p.lanes = pow2_at_least(chunks);
  const int64_t cpl = (chunks + p.lanes - 1) / p.lanes;
  int gp = pow2_at_least(p.G < 8 ? p.G : 8);
  if (gp > 8) gp = 8;
  while (gp > 1 && gp * p.D > PAGED_MAX_GD) gp /= 2;
  const bool fast = p.D >= 1 && gp * p.D <= PAGED_MAX_GD && cpl <= (vec ? 2 : 1);
  if (!fast) {
    const int64_t blocks = p.B * p.H;
    if (blocks > 0x7fffffff) return zk_fail(call, ZK_ERR_UNSUPPORTED, "%lld sequence heads are too many", (long long)blocks);
    float *acc = (float *)zk_cuda_workspace(ctx, call, (size_t)blocks * (size_t)(p.D > 0 ? p.D : 1) * sizeof(float), &st);
    if (!acc) return st;
    paged_generic_kernel<Tkv><<<(unsigned)blocks, PAGED_THREADS, 0, stream>>>(p, acc);
    return ZK_CUDA_LAUNCHED(call);
  }
  p.passes = (int)((p.G + gp - 1) / gp);
  // Split length by the shapes alone: 512 tokens, doubled (up to 4096)
  // while more than 4096 CTAs would run.  A grid of at most 1024 CTAs
  // (about four waves of two an SM) takes 1024 where that still leaves 256
  // full splits: so few waves run in step, each paying the CTAs' fixed
  // costs (block ids, q, the pipeline's fill, the merge) at once, and
  // 16-step CTAs pay them half as often (batch 1, context 32768: 512 CTAs
  // -> 256).
  const int64_t ctx_max = p.MB * p.BS;
  const int64_t units = p.B * p.HKV * p.passes;
  p.part = 512;
  auto splits_of = [&](int64_t part) { return ctx_max > part ? (ctx_max + part - 1) / part : 1; };
  while (p.part < PAGED_MAX_PART && units * splits_of(p.part) > 4096) p.part *= 2;
  if (units * splits_of(512) <= 1024 && units * (ctx_max / 1024) >= 256) p.part = 1024;
  p.splits = splits_of(p.part);
  const int64_t grid = units * p.splits;
  if (grid > 0x7fffffff) return zk_fail(call, ZK_ERR_UNSUPPORTED, "%lld attention splits are too many", (long long)grid);
  if (p.splits > 1) {
    const size_t bhs = (size_t)p.B * (size_t)p.H * (size_t)p.splits;
    float *ws = (float *)zk_cuda_workspace(ctx, call, bhs * (size_t)(p.D + 2) * sizeof(float), &st);
    if (!ws) return st;
    p.ws_m = ws;
    p.ws_l = ws + bhs;
    p.ws_acc = ws + 2 * bhs;
  }
  const bool scatter_fits = p.NB * p.BS <= INT32_MAX && p.HKV * p.D * (int64_t)sizeof(Tkv) <= UINT32_MAX;  // slots, row bytes
  if (vec && cpl == 1 && scatter_covers(p.lanes, gp) && scatter_fits) {
    st = launch_scatter<Tkv, EV>(call, stream, p, gp, units);
  } else if (vec) {
    st = cpl == 1 ? launch_split<Tkv, EV, 1>(call, stream, p, gp, (unsigned)grid)
                  : launch_split<Tkv, EV, 2>(call, stream, p, gp, (unsigned)grid);
  } else {
    st = launch_split<Tkv, 1, 1>(call, stream, p, gp, (unsigned)grid);
  }
  if (st != ZK_OK || p.splits == 1) return st;
  launch_combine(ctx, stream, p);
  return ZK_CUDA_LAUNCHED(call);
}

// ---------------------------------------------------------- score tile

// s[r, c] = Σ_d q[r, d]·k[c, d]: a thread per score, in f32.
template <typename T>
__global__ void __launch_bounds__(256) tile_kernel(const T *q, int64_t qs, const T *k, int64_t ks, float *s,
                                                   int64_t ss, int64_t D) {
  const int r = threadIdx.x / 16, c = threadIdx.x % 16;
  float acc = 0.0f;
  for (int64_t d = 0; d < D; d++) acc += zk_ld(q + r * qs + d) * zk_ld(k + c * ks + d);
  s[r * ss + c] = acc;
}

}  // namespace

// ------------------------------------------------------------ entry points
// Slots follow src/api/attention.c.

extern "C" zk_status zk_cuda_logsumexp_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, logsumexp_lastdim);
  Lse op = {};
  op.y = a->t[1].data;
  op.y_stride = a->t[1].stride;
  op.y_dtype = a->t[1].dtype;
  const zk_rows *in[] = {&a->t[0]};
  return run(ctx, call, in, nullptr, op);
}

extern "C" zk_status zk_cuda_logsumexp_lastdim_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, logsumexp_lastdim_grad);
  LseGrad op = {};
  op.dy = a->t[1].data;
  op.dy_stride = a->t[1].stride;
  op.dy_dtype = a->t[1].dtype;
  const zk_rows *in[] = {&a->t[0]};
  return run(ctx, call, in, &a->t[2], op);
}

extern "C" zk_status zk_cuda_masked_softmax(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, masked_softmax);
  return masked_forward<true>(ctx, call, a);
}

extern "C" zk_status zk_cuda_scale_mask_softmax(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, scale_mask_softmax);
  return zk_present(&a->t[1]) ? masked_forward<true>(ctx, call, a) : masked_forward<false>(ctx, call, a);
}

extern "C" zk_status zk_cuda_masked_softmax_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, masked_softmax_grad);
  const zk_rows *in[] = {&a->t[0], &a->t[1]};
  return run<SoftmaxGrad<>>(ctx, call, in, &a->t[2]);
}

extern "C" zk_status zk_cuda_scale_mask_softmax_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, scale_mask_softmax_grad);
  SoftmaxGrad<true> op = {};
  op.scale = a->f[0];
  const zk_rows *in[] = {&a->t[0], &a->t[1]};
  return run(ctx, call, in, &a->t[2], op);
}

extern "C" zk_status zk_cuda_paged_attention(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, paged_attention);
  const zk_rows *q = &a->t[0], *kc = &a->t[1], *vc = &a->t[2], *tables = &a->t[3], *lens = &a->t[4],
                *out = &a->t[5];
  PagedParams p = {};
  p.q = q->data;
  p.out = out->data;
  p.q_dtype = q->dtype;
  p.q_stride = q->stride;
  p.out_stride = out->stride;
  p.kc = kc->data;
  p.vc = vc->data;
  p.tables = (const int32_t *)tables->data;
  p.lens = (const int32_t *)lens->data;
  p.table_stride = tables->stride;
  p.MB = tables->cols;
  p.B = q->rows;
  p.H = a->i[0];
  p.HKV = a->i[1];
  p.D = a->i[2];
  p.BS = a->i[3];
  p.G = p.H / p.HKV;
  p.NB = p.BS > 0 ? kc->rows / p.BS : 0;
  p.scale = a->f[0];
  p.lanes = 1;
  p.passes = 1;
  p.part = 1;
  p.splits = 1;
  p.error_flag = zk_cuda(ctx)->error_flag;
  if (p.B == 0) return ZK_OK;
  const int es = zk_dtype_size(kc->dtype);
  const bool vec = (p.D * es) % 16 == 0 && (uintptr_t)kc->data % 16 == 0 && (uintptr_t)vc->data % 16 == 0;
  switch (kc->dtype) {
    case ZK_F32: return paged<float>(ctx, call, p, vec);
    case ZK_F16: return paged<__half>(ctx, call, p, vec);
    default: return paged<__nv_bfloat16>(ctx, call, p, vec);
  }
}

extern "C" zk_status zk_cuda_attention_tile_proto(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, attention_tile_proto);
  cudaStream_t stream;
  zk_status st = zk_cuda_enter(ctx, call, &stream);
  if (st != ZK_OK) return st;
  const zk_rows *q = &a->t[0], *k = &a->t[1], *s = &a->t[2];
  float *sp = (float *)s->data;
  switch (q->dtype) {
    case ZK_F32:
      tile_kernel<float><<<1, 256, 0, stream>>>((const float *)q->data, q->stride, (const float *)k->data, k->stride,
                                                sp, s->stride, q->cols);
      break;
    case ZK_F16:
      tile_kernel<__half><<<1, 256, 0, stream>>>((const __half *)q->data, q->stride, (const __half *)k->data,
                                                 k->stride, sp, s->stride, q->cols);
      break;
    default:
      tile_kernel<__nv_bfloat16><<<1, 256, 0, stream>>>((const __nv_bfloat16 *)q->data, q->stride,
                                                        (const __nv_bfloat16 *)k->data, k->stride, sp, s->stride,
                                                        q->cols);
      break;
  }
  return ZK_CUDA_LAUNCHED(call);
}
