// Reductions on CUDA (spec §8).
//
// sum, mean, max, var, std and argmax are one row reduction each
// (row_reduce.cuh: a warp or a block per row, 16-byte loads, a fixed
// shuffle tree), differing only in the state they fold:
//   sum/mean  f32 sum, or (kahan) a Neumaier (sum, compensation) pair per
//             thread, pairs combined with the same compensation;
//   max       the NaN-propagating maximum (an exact copy of an element);
//   var/std   (n, mean, M2) on x - x0 (x0 = the row's first element, so a
//             mean of 1e4 with a small spread loses nothing): each 16-byte
//             chunk's own mean and M2, merged into the thread's and threads
//             merged by Chan's formula; a constant row gives 0;
//   argmax    the largest zk_rank_key (src/common/zk_math.h), which encodes
//             the total order and the lower-index tie rule.
// topk is a block per row, or a warp per 16-bit row of 16-byte vectors
// (topk_warp_kernel).  For k <= 64 on rows of up to 4096 elements (the
// tuned case) the row is read once and filtered down to a few more than k
// candidates, ranked among themselves (see topk_filter_kernel).
// Otherwise, and on the filter's rare overflow, a radix select over the same 64-bit keys finds the k-th key T (8 bits a
// pass, stopping once a bin holds exactly the keys still wanted), the keys
// >= T are collected (exactly k: keys are distinct), and each is written
// at its rank among them.
#include "row_reduce.cuh"

namespace {

struct OneValue {  // a per-row output of any float dtype (or uint32 for argmax)
  void *data;
  int64_t stride;
  zk_dtype dtype;
  __device__ __forceinline__ void put(int64_t r, float v) const { zk_st_param(data, dtype, r * stride, v); }
};

__device__ __forceinline__ float max_nan(float a, float b) { return (a > b || a != a) ? a : b; }

// Neumaier: the rounding error of t = a + b.
__device__ __forceinline__ float two_sum_error(float a, float b, float t) {
  return fabsf(a) >= fabsf(b) ? __fadd_rn(__fsub_rn(a, t), b) : __fadd_rn(__fsub_rn(b, t), a);
}

struct SumOp {
  struct State {
    float s, c;
  };
  OneValue y;
  int64_t cols;
  bool kahan, mean;
  __device__ State identity() const { return {0.0f, 0.0f}; }
  __device__ State start(float) const { return identity(); }
  template <int E>
  __device__ void fold(State &st, const float (&v)[E], int64_t) const {
#pragma unroll
    for (int e = 0; e < E; e++) {
      if (kahan) {
        float t = __fadd_rn(st.s, v[e]);
        st.c = __fadd_rn(st.c, two_sum_error(st.s, v[e], t));
        st.s = t;
      } else {
        st.s += v[e];
      }
    }
  }
  __device__ State combine(const State &a, const State &b) const {
    float t = __fadd_rn(a.s, b.s);
    if (!kahan) return {t, 0.0f};
    return {t, __fadd_rn(__fadd_rn(a.c, b.c), two_sum_error(a.s, b.s, t))};
  }
  __device__ void finish(const State &st, int64_t r, int tid, int) const {
    if (tid) return;
    // An Inf or NaN sum leaves a NaN compensation (Inf - Inf): the sum says it.
    float s = kahan && isfinite(st.s) ? st.s + st.c : st.s;
    y.put(r, mean ? s / (float)cols : s);  // D = 0: 0/0 = NaN
  }
};

struct MaxOp {
  struct State {
    float m;
  };
  OneValue y;
  __device__ State identity() const { return {-INFINITY}; }
  __device__ State start(float) const { return identity(); }
  template <int E>
  __device__ void fold(State &st, const float (&v)[E], int64_t) const {
#pragma unroll
    for (int e = 0; e < E; e++) st.m = max_nan(st.m, v[e]);
  }
  __device__ State combine(const State &a, const State &b) const { return {max_nan(a.m, b.m)}; }
  __device__ void finish(const State &st, int64_t r, int tid, int) const {
    if (!tid) y.put(r, st.m);
  }
};

struct VarOp {
  struct State {
    float n, mean, m2, shift;
  };
  OneValue y;
  int64_t cols;
  int ddof;
  float eps;
  bool std_dev;
  __device__ State identity() const { return {0.0f, 0.0f, 0.0f, 0.0f}; }
  __device__ State start(float x0) const { return {0.0f, 0.0f, 0.0f, x0}; }
  // The chunk's own (E, mean, M2), exact enough over E <= 8 values, merged
  // by Chan's formula: one division a chunk, where Welford's per element
  // made var issue-bound at 37% of the copy rate.  E = 1 is Welford's step.
  template <int E>
  __device__ void fold(State &st, const float (&v)[E], int64_t) const {
    float d[E], sum = 0.0f;
#pragma unroll
    for (int e = 0; e < E; e++) sum += d[e] = v[e] - st.shift;
    const float mean_b = sum * (1.0f / E), n = st.n + (float)E;  // E a power of two: exact
    float m2_b = 0.0f;
#pragma unroll
    for (int e = 0; e < E; e++) m2_b = __fmaf_rn(d[e] - mean_b, d[e] - mean_b, m2_b);
    const float delta = mean_b - st.mean, wb = __fdiv_rn((float)E, n);
    st.m2 = __fadd_rn(__fadd_rn(st.m2, m2_b), __fmul_rn(__fmul_rn(delta, delta), __fmul_rn(st.n, wb)));
    st.mean = __fadd_rn(st.mean, __fmul_rn(delta, wb));
    st.n = n;
  }
  __device__ State combine(const State &a, const State &b) const {
    if (b.n == 0.0f) return a;
    if (a.n == 0.0f) return b;
    float n = a.n + b.n, delta = b.mean - a.mean, wb = __fdiv_rn(b.n, n);
    float m2 = __fadd_rn(__fadd_rn(a.m2, b.m2), __fmul_rn(__fmul_rn(delta, delta), __fmul_rn(a.n, wb)));
    return {n, __fadd_rn(a.mean, __fmul_rn(delta, wb)), m2, a.shift};
  }
  __device__ void finish(const State &st, int64_t r, int tid, int) const {
    if (tid) return;
    float var = cols - ddof <= 0 ? NAN : st.m2 / (float)(cols - ddof);
    y.put(r, std_dev ? sqrtf(var + eps) : var);
  }
};

struct ArgmaxOp {
  struct State {
    unsigned long long key;  // 0 is below every element's key
  };
  uint32_t *idx;
  int64_t stride;
  __device__ State identity() const { return {0ull}; }
  __device__ State start(float) const { return identity(); }
  // The chunk's first largest by float compares (a NaN above all, the
  // lower index on ties), then one key a chunk.
  template <int E>
  __device__ void fold(State &st, const float (&v)[E], int64_t j) const {
    float best = v[0];
    int at = 0;
#pragma unroll
    for (int e = 1; e < E; e++)
      if (v[e] > best || (v[e] != v[e] && best == best)) best = v[e], at = e;
    unsigned long long k = zk_rank_key(best, (uint32_t)(j + at));
    st.key = k > st.key ? k : st.key;
  }
  __device__ State combine(const State &a, const State &b) const { return a.key >= b.key ? a : b; }
  __device__ void finish(const State &st, int64_t r, int tid, int) const {
    if (!tid) idx[r * stride] = ~(uint32_t)st.key;
  }
};

template <class Op>
static zk_status reduce(zk_ctx *ctx, const zk_call *call, const zk_rows *x, const Op &op) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  cudaError_t err;
  switch (x->dtype) {
    case ZK_F32: err = zk_reduce_rows<float>(ctx, stream, x, op); break;
    case ZK_F16: err = zk_reduce_rows<__half>(ctx, stream, x, op); break;
    default: err = zk_reduce_rows<__nv_bfloat16>(ctx, stream, x, op); break;
  }
  return zk_cuda_check(call, err, "kernel launch");
}

static OneValue one_value(const zk_rows *y) { return {y->data, y->stride, y->dtype}; }

// ------------------------------------------------------------------- topk

#define TOPK_THREADS 256
#define TOPK_STAGED_MAX 4096  // rows up to this length keep their keys in shared memory
#define TOPK_SHARED_K 1024    // k up to this keeps its candidates in shared memory
#define TOPK_FILTER_ROW 4096  // filter path: the longest row (held in registers)
#define TOPK_FILTER_K 64      // filter path: the largest k
#define TOPK_FILTER_CAP 1024  // filter path: candidates kept in shared memory
#define TOPK_FILTER_LIST 8    // filter path: the most thread maxima a warp lists for the floor

struct TopkParams {
  const void *x;
  int64_t x_stride, rows, cols, k;
  void *values;
  int64_t v_stride;
  uint32_t *indices;
  int64_t i_stride;
  unsigned long long *spill;  // k > TOPK_SHARED_K: k candidates per block
};

struct TopkRadixShared {
  unsigned hist[256];
  unsigned long long prefix;
  long long want;
  bool exact;
  unsigned count;
};

template <typename T>
__device__ __forceinline__ unsigned long long key_at(const T *row, const unsigned long long *staged, int64_t j) {
  return staged ? staged[j] : zk_rank_key(zk_ld(row + j), (uint32_t)j);
}

// Radix select, run by warp 0: the bin of this pass (bits shift..shift+7)
// holding the want-th largest key among those matching the prefix; lane l
// owns bins 255-8l down to 248-8l.  Every lane returns the bin, with *want
// set to the rank within it and *exact to whether the bin holds exactly
// *want keys (then all keys >= the new prefix are the k wanted).
__device__ __forceinline__ int pick_bin(const unsigned *hist, long long *want, bool *exact) {
  const int lane = threadIdx.x & 31;
  unsigned own = 0;
#pragma unroll
  for (int b = 0; b < 8; b++) own += hist[255 - 8 * lane - b];
  const long long incl = zk_warp_inclusive_sum((long long)own);  // over lanes (bins in descending order)
  const int owner = __ffs(__ballot_sync(0xffffffffu, incl >= *want)) - 1;
  long long w = *want - __shfl_sync(0xffffffffu, incl - (long long)own, owner);
  int bin = 0, is_exact = 0;
  if (lane == owner) {
    for (int b = 0; b < 8; b++) {
      const int at = 255 - 8 * lane - b;
      if ((long long)hist[at] >= w) {
        bin = at;
        is_exact = (long long)hist[at] == w;
        break;
      }
      w -= hist[at];
    }
  }
  *want = __shfl_sync(0xffffffffu, w, owner);
  *exact = __shfl_sync(0xffffffffu, is_exact, owner) != 0;
  return __shfl_sync(0xffffffffu, bin, owner);
}

// Row r's k largest (the whole block): the radix select finds the k-th key
// T, the keys >= T are collected in cand (exactly k: keys are distinct),
// and each is written at its rank among them.  Keys come from staged (the
// row's keys in shared memory) or, when it is null, from the row itself.
template <typename T>
__device__ void topk_radix_row(const TopkParams &p, int64_t r, const unsigned long long *staged,
                               unsigned long long *cand, TopkRadixShared &s) {
  const int tid = threadIdx.x, nt = blockDim.x;
  const T *row = (const T *)p.x + r * p.x_stride;
  if (tid == 0) s.prefix = 0, s.want = p.k, s.exact = false;
  unsigned long long mask = 0;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = tid; b < 256; b += nt) s.hist[b] = 0;
    __syncthreads();
    const unsigned long long prefix = s.prefix;
    if (s.exact) break;  // every key >= prefix is taken, and they are exactly k
    for (int64_t j = tid; j < p.cols; j += nt) {
      const unsigned long long kk = key_at(row, staged, j);
      if ((kk & mask) == prefix) atomicAdd(&s.hist[(kk >> shift) & 255], 1u);
    }
    __syncthreads();
    if (tid < 32) {
      long long want = s.want;
      bool exact = false;
      const int bin = pick_bin(s.hist, &want, &exact);
      if (tid == 0) {
        s.prefix = prefix | (unsigned long long)bin << shift;
        s.want = want;
        s.exact = exact;
      }
    }
    mask |= 255ull << shift;
    __syncthreads();
  }
  const unsigned long long T_key = s.prefix;
  if (tid == 0) s.count = 0;
  __syncthreads();
  for (int64_t j = tid; j < p.cols; j += nt) {
    const unsigned long long kk = key_at(row, staged, j);
    if (kk >= T_key) cand[atomicAdd(&s.count, 1u)] = kk;
  }
  __syncthreads();
  T *values = (T *)p.values + r * p.v_stride;
  uint32_t *indices = p.indices + r * p.i_stride;
  for (int64_t i = tid; i < p.k; i += nt) {
    const unsigned long long ki = cand[i];
    int64_t rank = 0;
    for (int64_t c = 0; c < p.k; c++) rank += cand[c] > ki;
    const uint32_t j = ~(uint32_t)ki;
    values[rank] = row[j];
    indices[rank] = j;
  }
  __syncthreads();  // shared state is reused by the next row
}

template <typename T>
__global__ void __launch_bounds__(TOPK_THREADS) topk_radix_kernel(TopkParams p, bool staged_rows) {
  extern __shared__ unsigned long long staged_keys[];
  __shared__ unsigned long long cand_shared[TOPK_SHARED_K];
  __shared__ TopkRadixShared s;
  unsigned long long *cand = p.k > TOPK_SHARED_K ? p.spill + (int64_t)blockIdx.x * p.k : cand_shared;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    if (staged_rows) {
      const T *row = (const T *)p.x + r * p.x_stride;
      for (int64_t j = threadIdx.x; j < p.cols; j += blockDim.x) staged_keys[j] = zk_rank_key(zk_ld(row + j), (uint32_t)j);
    }
    topk_radix_row<T>(p, r, staged_rows ? staged_keys : nullptr, cand, s);
  }
}

// The largest element of a chunk (a NaN if it holds one: a row's maximum
// must rank its NaNs first), one of its own values.  (16-bit vectors take
// topk_warp_kernel, which folds their pairs packed: vector_max_key16.)
template <typename T, int W>
__device__ __forceinline__ float chunk_max(const zk_chunk<T, W> &c) {
  float m = c.get(0);
#pragma unroll
  for (int e = 1; e < W; e++) m = zk_fmax_nan(m, c.get(e));
  return m;
}

// The value F such that !(x < F) holds exactly for the x whose order key is
// at least floor_key (the inverse of zk_order_key), so the filter compares
// raw values.  Every NaN passes !(x < F).  floor_key 0 (keep every element)
// gives -Inf; a NaN floor gives +Inf, which also keeps the +Infs: a
// superset of the k largest is all the filter needs.
__device__ __forceinline__ float floor_value(uint32_t floor_key) {
  if (floor_key == 0) return -INFINITY;
  if (floor_key == 0xffffffffu) return INFINITY;
  return zk_order_key_value(floor_key);
}

// A filter candidate's rank key: a larger key ranks first, the lower
// index on ties.  f32 rows take the 64-bit zk_rank_key.  16-bit rows (the
// filter's rows have fewer than 2^16 elements) take a 32-bit key, the
// element's 16-bit order key over its complemented 16-bit index: the n^2
// ranking then reads four keys a 16-byte broadcast and compares each in
// one instruction.
template <typename T>
struct TopkCandidate {
  using Key = unsigned long long;
  static __device__ __forceinline__ Key key(const T *row, uint32_t j) { return zk_rank_key(zk_ld(row + j), j); }
  static __device__ __forceinline__ uint32_t index(Key key) { return ~(uint32_t)key; }
};
static_assert(TOPK_FILTER_ROW <= 65536, "16-bit candidate keys hold a 16-bit index");
// zk_order_key's map on the 16-bit storage bits (for bf16 the high half of
// the f32 key), in integer operations only: NaN above all, ±0 equal,
// negatives complemented.  Both 16-bit formats are sign-magnitude with
// every exponent bit set for the infinities and NaNs.
template <typename T16>
struct Format16;
template <>
struct Format16<__half> {
  static constexpr uint32_t INF_BITS = 0x7c00u;
  using Pair = __half2;
};
template <>
struct Format16<__nv_bfloat16> {
  static constexpr uint32_t INF_BITS = 0x7f80u;
  using Pair = __nv_bfloat162;
};
// (Selects, not branches: the warp kernel computes a key for every vector
// and candidate, and early returns compiled to divergent branches.)
template <typename T16>
__device__ __forceinline__ uint32_t order_key16(uint32_t bits) {
  const uint32_t magnitude = bits & 0x7fffu;
  const uint32_t key = (bits ^ ((bits & 0x8000u) ? 0xffffu : 0x8000u)) & 0xffffu;
  return magnitude > Format16<T16>::INF_BITS ? 0xffffu : magnitude == 0 ? 0x8000u : key;
}
template <typename T16>
struct TopkCandidate16 {
  using Key = uint32_t;
  static __device__ __forceinline__ Key key_of(uint32_t bits, uint32_t j) {
    return order_key16<T16>(bits) << 16 | (~j & 0xffffu);
  }
  static __device__ __forceinline__ Key key(const T16 *row, uint32_t j) {
    return key_of(reinterpret_cast<const unsigned short *>(row)[j], j);
  }
  static __device__ __forceinline__ uint32_t index(Key key) { return ~key & 0xffffu; }
};
template <>
struct TopkCandidate<__half> : TopkCandidate16<__half> {};
template <>
struct TopkCandidate<__nv_bfloat16> : TopkCandidate16<__nv_bfloat16> {};

// The candidates' ranks (n distinct keys in shared memory, 16-byte
// aligned): each rank is the count of larger keys, n^2 compares a row
// (k = 50: ~55 candidates), read a 16-byte broadcast at a time.  Thread
// `first` of `step` takes candidates first, first + step, ...; a candidate
// ranked below k is written at its rank.
template <typename T>
__device__ __forceinline__ void write_ranked(const typename TopkCandidate<T>::Key *keys, unsigned n, unsigned first,
                                             unsigned step, const T *row, T *values, uint32_t *indices, int64_t k) {
  using Key = typename TopkCandidate<T>::Key;
  constexpr unsigned KEYS_A_READ = 16 / sizeof(Key);
  union KeyVector {
    uint4 raw;
    Key key[KEYS_A_READ];
  };
  for (unsigned i = first; i < n; i += step) {
    const Key ki = keys[i];
    unsigned rank = 0;
    unsigned c = 0;
    for (; c + KEYS_A_READ <= n; c += KEYS_A_READ) {
      KeyVector some;
      some.raw = *reinterpret_cast<const uint4 *>(keys + c);
#pragma unroll
      for (unsigned e = 0; e < KEYS_A_READ; e++) rank += some.key[e] > ki;
    }
    for (; c < n; c++) rank += keys[c] > ki;
    if (rank < k) {
      const uint32_t j = TopkCandidate<T>::index(ki);
      values[rank] = row[j];
      indices[rank] = j;
    }
  }
}

// The filter path, for k <= TOPK_FILTER_K and rows of at most
// TOPK_FILTER_ROW elements, TOPK_THREADS threads a row (PER = ROW /
// TOPK_THREADS elements a thread; 128 threads for 16-bit rows measured
// slower, 38% of the copy rate against 46%): one read of the row into
// registers, kept raw (W elements a chunk: a 16-byte vector, or one
// element), then a floor F with at least k elements >= F, found cheaply:
// each warp lists its L = min(ceil(k / warps) + 1, TOPK_FILTER_LIST)
// largest thread maxima (L rounds of a warp maximum), and F is the largest
// listed value that at least k listed values reach.  Listed values are
// distinct elements, so at least k elements are >= F; warps·L >= k, so F
// exists.  On N(0, 1) rows of 4096 this leaves ~58 candidates at k = 50
// and ~9 at k = 8, where the smallest of the warps' ceil(k / warps)-th
// maxima left ~98 and ~23 (the ranking is n^2).  Elements cost a maximum
// and one float compare against F each (no order key an element: the
// 16-bit rows were issue-bound on it); only the candidates, read again
// from the row (a cache hit), get their rank keys (TopkCandidate), go to
// shared memory and are ranked among themselves.  A row with more than
// TOPK_FILTER_CAP candidates (many ties at F: an all-equal row) takes the
// radix select, reading the row again.
// Blocks an SM the filter kernel's registers allow, each the most that
// compiles without spilling: f32 vector rows fit 48 registers (five
// blocks), scalar rows (odd lengths) 64.  With no minimum ptxas spent
// 68-72.  (16-bit vector rows take topk_warp_kernel.)
template <typename T, bool VEC>
constexpr int topk_filter_min_blocks() {
  return !VEC ? 4 : 5;
}

template <typename T, bool VEC>
__global__ void __launch_bounds__(TOPK_THREADS, topk_filter_min_blocks<T, VEC>()) topk_filter_kernel(TopkParams p) {
  constexpr int NT = TOPK_THREADS, PER = TOPK_FILTER_ROW / NT, WARPS = NT / 32;
  static_assert(PER <= 32, "a thread's candidates are one 32-bit mask");
  // 16: read a vector at a time; the radix select takes it as 64-bit keys.
  __shared__ __align__(16) unsigned long long cand[TOPK_FILTER_CAP];
  using Key = typename TopkCandidate<T>::Key;
  Key *const keys = reinterpret_cast<Key *>(cand);
  __shared__ __align__(16) uint32_t listed[WARPS * TOPK_FILTER_LIST];  // 16: read four at a time
  __shared__ uint32_t floor_shared;
  __shared__ TopkRadixShared s;
  constexpr int W = VEC ? zk_vec<T>::EPV : 1;  // elements a chunk (one load)
  constexpr int LOADS = PER / W;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  // A warp's list length: ceil(k / WARPS) <= TOPK_FILTER_LIST, so WARPS * L >= k.
  const int L = (int)min((p.k + WARPS - 1) / WARPS + 1, (int64_t)TOPK_FILTER_LIST), n_listed = WARPS * L;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const T *row = (const T *)p.x + r * p.x_stride;
    // Chunk l holds columns (l*NT + tid)*W ..+W-1: each load of the warp
    // reads one contiguous span.  Chunks past the row are never read.
    zk_chunk<T, W> chunk[LOADS];
#pragma unroll
    for (int l = 0; l < LOADS; l++) {
      const int64_t c0 = ((int64_t)l * NT + tid) * W;
      if (c0 < p.cols) chunk[l].load(row + c0);
    }
    float thread_max = -INFINITY;
#pragma unroll
    for (int l = 0; l < LOADS; l++)
      if (((int64_t)l * NT + tid) * W < p.cols) thread_max = zk_fmax_nan(thread_max, chunk_max(chunk[l]));
    // 0: no element (a thread past a short row); every element's key is > 0.
    uint32_t top = (int64_t)tid * W < p.cols ? zk_order_key(thread_max) : 0u;
    // The warp's L largest thread maxima, descending: L rounds of taking
    // the largest out (one lane holding it drops to 0).  Lane i keeps the
    // i-th.
    uint32_t mine = 0;
    for (int i = 0; i < L; i++) {
      const uint32_t m = __reduce_max_sync(0xffffffffu, top);
      const unsigned holders = __ballot_sync(0xffffffffu, top == m);
      if (lane == __ffs(holders) - 1) top = 0;
      if (lane == i) mine = m;
    }
    if (lane < L) listed[warp * L + lane] = mine;
    if (tid == 0) s.count = 0;
    __syncthreads();
    // Warp 0: the largest listed key that at least k listed keys reach
    // (lane l tries entries l and l + 32).  Keys 0 (no element) are below
    // every real key and reach nothing; 0 as the floor keeps every element
    // (a short row).
    if (warp == 0) {
      const uint32_t a = lane < n_listed ? listed[lane] : 0u, b = lane + 32 < n_listed ? listed[lane + 32] : 0u;
      int reach_a = 0, reach_b = 0;
      for (int c = 0; c < n_listed; c += 4) {  // n_listed is a multiple of WARPS
        const uint4 four = *reinterpret_cast<const uint4 *>(listed + c);
        reach_a += (four.x >= a) + (four.y >= a) + (four.z >= a) + (four.w >= a);
        reach_b += (four.x >= b) + (four.y >= b) + (four.z >= b) + (four.w >= b);
      }
      const uint32_t best = max(reach_a >= p.k ? a : 0u, reach_b >= p.k ? b : 0u);
      const uint32_t floor_key = __reduce_max_sync(0xffffffffu, best);
      if (lane == 0) floor_shared = floor_key;
    }
    __syncthreads();
    const float F = floor_value(floor_shared);
    uint32_t keep = 0;  // bit l*W + e: element e of chunk l is a candidate
#pragma unroll
    for (int l = 0; l < LOADS; l++)
      if (((int64_t)l * NT + tid) * W < p.cols)
#pragma unroll
        for (int e = 0; e < W; e++) keep |= (uint32_t)!(chunk[l].get(e) < F) << (l * W + e);
    while (keep) {
      const int b = __ffs(keep) - 1;
      keep &= keep - 1;
      const uint32_t j = (uint32_t)(((b / W) * NT + tid) * W + b % W);
      const unsigned at = atomicAdd(&s.count, 1u);
      if (at < TOPK_FILTER_CAP) keys[at] = TopkCandidate<T>::key(row, j);
    }
    __syncthreads();
    const unsigned n = s.count;
    if (n > TOPK_FILTER_CAP) {
      __syncthreads();  // every thread has read s.count before the radix select resets it
      topk_radix_row<T>(p, r, nullptr, cand, s);
      continue;
    }
    T *values = (T *)p.values + r * p.v_stride;
    uint32_t *indices = p.indices + r * p.i_stride;
    write_ranked<T>(keys, n, tid, NT, row, values, indices, p.k);
    __syncthreads();  // cand and s are reused by the next row
  }
}

// ------------------------------------------- topk, a warp a 16-bit row
// For 16-bit rows of whole 16-byte vectors, k <= TOPK_FILTER_K and rows of
// at most TOPK_FILTER_ROW elements.  The block kernel's per-row fixed
// costs (its barriers, the floor's two steps, a tail where few threads
// rank) outweighed its 16 elements a thread on these 8 KB rows (64% of the
// copy rate at k = 8, 43% at k = 50); a warp owns a row here and meets no
// block barrier.
//
// The grid is persistent: warp w takes rows w, w + W, ... (W warps in the
// grid), and its rows pass through two shared-memory stages, filled by
// 16-byte cp.async copies: row r + W is in flight while row r is worked
// on, and row r + 2W is issued as soon as row r's stage is free.  (With a
// row a warp read into registers, every warp of a wave loaded, then
// worked, then ended together: DRAM idled through each row's dependent
// chain of floor, rereads and ranking, 44% busy at k = 50.)
//
// A row: lane l takes vectors l, l + 32, ..., keeps each vector's maximum
// as a 16-bit order key, and lists its TOPK_WARP_LIST largest.  The floor
// is the k-th largest listed key, found two bits at a time (warp counts);
// at least k elements reach it (listed maxima are distinct elements).
// Only vectors whose maximum reaches the floor are read again and their
// elements compared with it: on N(0, 1) rows of 4096 (simulated) ~51
// vectors and ~54 candidates at k = 50, ~8 and ~8 at k = 8, as tight as
// the k-th of all 512 maxima.  Candidates are appended to the warp's
// shared list and ranked by the warp: sorted (write_sorted64) or counted
// (write_ranked).  More than TOPK_WARP_CAP candidates (ties at the floor:
// an all-equal row) take a warp radix select over the row.  The work a
// row is dependent chains of shared-memory reads and warp collectives
// with 3 warps a scheduler, so it is kept to few instructions: packed
// compares, selects for branches, no lockstep steps.
#define TOPK_WARP_WARPS 4  // warps a block: 3 blocks an SM fit their stages
#define TOPK_WARP_CAP 256  // candidates a warp keeps; also its radix select's 256 bins
#define TOPK_WARP_LIST 4   // vector maxima a lane lists for the floor (32 * 4 >= TOPK_FILTER_K)
static_assert(32 * TOPK_WARP_LIST >= TOPK_FILTER_K, "the lanes list at least k keys");
static_assert(TOPK_FILTER_K <= 64, "write_sorted64 writes the k first of 64");

// One warp's shared memory: two row stages and the candidate list.
struct TopkWarpShared {
  uint4 stage[2][TOPK_FILTER_ROW * 2 / 16];
  uint32_t keys[TOPK_WARP_CAP];  // 16-byte aligned: ranked four keys a read
  unsigned count;                // candidates found (may pass TOPK_WARP_CAP)
};
constexpr size_t TOPK_WARP_SMEM = TOPK_WARP_WARPS * sizeof(TopkWarpShared);

// The 16-bit value F with !(x < F) exactly for the x whose order key is
// at least floor_key (as floor_value), as its bits twice (a pair): 0 gives
// -Inf, a NaN floor +Inf.
template <typename T16>
__device__ __forceinline__ uint32_t floor_pair16(uint32_t floor_key) {
  constexpr uint32_t INF = Format16<T16>::INF_BITS;
  const uint32_t bits = floor_key == 0         ? 0x8000u | INF
                        : floor_key == 0xffffu ? INF
                        : (floor_key & 0x8000u) ? floor_key & 0x7fffu
                                                : ~floor_key & 0xffffu;
  return bits | bits << 16;
}

// Bit e set where element e of a vector of eight 16-bit elements passes
// !(x < F) (F: floor_pair16): four packed unordered compares (a NaN
// passes), their 0xffff halves gathered a byte each, then a bit each.
template <typename T16>
__device__ __forceinline__ uint32_t vector_hits16(const uint4 &raw, uint32_t floor_pair) {
  using T2 = typename Format16<T16>::Pair;
  T2 f;
  memcpy(&f, &floor_pair, sizeof f);
  const T2 *pair = reinterpret_cast<const T2 *>(&raw);
  const uint32_t low = __byte_perm(__hgeu2_mask(pair[0], f), __hgeu2_mask(pair[1], f), 0x6420);
  const uint32_t high = __byte_perm(__hgeu2_mask(pair[2], f), __hgeu2_mask(pair[3], f), 0x6420);
  // Distinct bits a byte, so the multiply sums the bytes into the top one
  // without carries.
  return ((low & 0x08040201u) * 0x01010101u >> 24) | ((high & 0x80402010u) * 0x01010101u >> 24);
}

// Ranks and writes the warp's n <= 64 candidate keys (distinct, in a
// shared list): a bitonic sort across the warp, descending, two keys a
// lane (elements 2·lane and 2·lane + 1; 0 pads, below every key), in 15
// shuffle steps, where write_ranked's n^2 compares took about 600
// instructions a row at k = 50; then ranks 2·lane and 2·lane + 1 are
// written if below k.
template <typename T>
__device__ __forceinline__ void write_sorted64(const uint32_t *keys, unsigned n, const T *row, T *values,
                                               uint32_t *indices, unsigned k) {
  using Cand = TopkCandidate<T>;
  const unsigned lane = threadIdx.x & 31;
  uint32_t a = 2 * lane < n ? keys[2 * lane] : 0u, b = 2 * lane + 1 < n ? keys[2 * lane + 1] : 0u;
#pragma unroll
  for (unsigned size = 2; size <= 64; size <<= 1) {
    // Runs of `size` alternate descending and ascending; the lower element
    // of a pair keeps the larger key in a descending run.
    const bool descending = (2 * lane & size) == 0;
#pragma unroll
    for (unsigned stride = size / 2; stride >= 2; stride >>= 1) {
      const uint32_t pa = __shfl_xor_sync(0xffffffffu, a, stride / 2), pb = __shfl_xor_sync(0xffffffffu, b, stride / 2);
      const bool keep_max = ((lane & stride / 2) == 0) == descending;
      a = keep_max ? max(a, pa) : min(a, pa);
      b = keep_max ? max(b, pb) : min(b, pb);
    }
    const uint32_t larger = max(a, b), smaller = min(a, b);  // stride 1: a and b are a pair
    a = descending ? larger : smaller;
    b = descending ? smaller : larger;
  }
  if (2 * lane < k) {
    const uint32_t j = Cand::index(a);
    values[2 * lane] = row[j];
    indices[2 * lane] = j;
  }
  if (2 * lane + 1 < k) {
    const uint32_t j = Cand::index(b);
    values[2 * lane + 1] = row[j];
    indices[2 * lane + 1] = j;
  }
}

// Element e (0..7) of a vector of eight 16-bit elements, as its bits (word
// selects, so that the vector stays in registers; e may be a run-time
// value).
__device__ __forceinline__ uint32_t element_bits16(const uint4 &raw, int e) {
  const uint32_t word = (e & 4) ? ((e & 2) ? raw.w : raw.z) : ((e & 2) ? raw.y : raw.x);
  return (e & 1) ? word >> 16 : word & 0xffffu;
}

// The order key of a vector's largest element (a NaN if it holds one): its
// four pairs folded packed, then against the pair swapped, so that the low
// half holds the maximum and one key is computed.
template <typename T16>
__device__ __forceinline__ uint32_t vector_max_key16(const uint4 &raw) {
  using T2 = typename Format16<T16>::Pair;
  const T2 *pair = reinterpret_cast<const T2 *>(&raw);
  const T2 m = __hmax2_nan(__hmax2_nan(pair[0], pair[1]), __hmax2_nan(pair[2], pair[3]));
  const T2 both = __hmax2_nan(m, __lowhigh2highlow(m));
  uint32_t bits;
  memcpy(&bits, &both, sizeof bits);
  return order_key16<T16>(bits & 0xffffu);
}

// Row r's k largest by a warp alone: a radix select over the 32-bit
// candidate keys (8 bits a pass, stopping once a bin holds exactly the
// keys still wanted), in buf's 256 bins; then the keys >= the k-th (exactly
// k: keys are distinct) gathered in buf in index order and ranked.
template <typename T>
__device__ void topk_warp_radix_row(const TopkParams &p, const T *row, T *values, uint32_t *indices, uint32_t *buf) {
  using Cand = TopkCandidate<T>;
  const int lane = threadIdx.x & 31;
  uint32_t prefix = 0, mask = 0;
  long long want = p.k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = lane; b < 256; b += 32) buf[b] = 0;
    __syncwarp();
    for (int64_t j = lane; j < p.cols; j += 32) {
      const uint32_t key = Cand::key(row, (uint32_t)j);
      if ((key & mask) == prefix) atomicAdd(&buf[key >> shift & 255], 1u);
    }
    __syncwarp();
    bool exact;
    const int bin = pick_bin(buf, &want, &exact);
    prefix |= (uint32_t)bin << shift;
    mask |= 255u << shift;
    __syncwarp();  // every lane has read the bins before they are reused
    if (exact) break;
  }
  unsigned n = 0;
  for (int64_t j0 = 0; j0 < p.cols; j0 += 32) {
    const int64_t j = j0 + lane;
    const bool take = j < p.cols && Cand::key(row, (uint32_t)j) >= prefix;
    const unsigned takers = __ballot_sync(0xffffffffu, take);
    if (take) buf[n + __popc(takers & ((1u << lane) - 1))] = Cand::key(row, (uint32_t)j);
    n += __popc(takers);
  }
  __syncwarp();
  write_ranked<T>(buf, n, lane, 32, row, values, indices, p.k);
}

// Issues this lane's copies of row r (if there is one) into a stage, as
// one cp.async group (empty past the last row, so every lane's group count
// stays the same).
template <typename T>
__device__ __forceinline__ void topk_stage_row(const TopkParams &p, int64_t r, int vectors, uint4 *stage) {
  if (r < p.rows) {
    const uint4 *src = reinterpret_cast<const uint4 *>((const T *)p.x + r * p.x_stride);
    const unsigned dst = (unsigned)__cvta_generic_to_shared(stage);
    for (int v = threadIdx.x & 31; v < vectors; v += 32) zk_cp_async16(dst + v * 16u, src + v);
  }
  zk_cp_async_commit();
}

template <typename T>
__global__ void __launch_bounds__(TOPK_WARP_WARPS * 32, 3) topk_warp_kernel(TopkParams p) {
  static_assert(sizeof(T) == 2, "16-bit rows");
  constexpr int EPV = zk_vec<T>::EPV, LOADS = TOPK_FILTER_ROW / EPV / 32;
  using Cand = TopkCandidate<T>;
  extern __shared__ uint4 topk_warp_smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  TopkWarpShared &sh = reinterpret_cast<TopkWarpShared *>(topk_warp_smem)[warp];
  const int vectors = (int)(p.cols / EPV);
  const unsigned k = (unsigned)p.k;  // <= TOPK_FILTER_K
  const int64_t warps = (int64_t)gridDim.x * TOPK_WARP_WARPS;
  int64_t r = (int64_t)blockIdx.x * TOPK_WARP_WARPS + warp;
  topk_stage_row<T>(p, r, vectors, sh.stage[0]);
  topk_stage_row<T>(p, r + warps, vectors, sh.stage[1]);
  for (int s = 0; r < p.rows; r += warps, s ^= 1) {
    zk_cp_async_wait<1>();  // this lane's copies of row r have landed
    __syncwarp();           // and every lane's
    if (lane == 0) sh.count = 0;
    const uint4 *row_vectors = sh.stage[s];
    const T *row = reinterpret_cast<const T *>(row_vectors);
    // Each vector's maximum key (0: no vector; every element's key is > 0;
    // 16 bits, two a register, vector 2i in the low half), and the lane's
    // TOPK_WARP_LIST largest, descending (an insertion).
    uint32_t vector_keys[LOADS / 2] = {}, listed[TOPK_WARP_LIST] = {};
#pragma unroll
    for (int l = 0; l < LOADS; l++) {
      // Past the row the stage holds stale bytes: read anyway, keyed 0.
      const uint32_t key = vector_max_key16<T>(row_vectors[l * 32 + lane]);
      uint32_t carry = l * 32 + lane < vectors ? key : 0u;
      vector_keys[l / 2] |= carry << (l % 2 * 16);
#pragma unroll
      for (int i = 0; i < TOPK_WARP_LIST; i++) {
        const uint32_t larger = max(listed[i], carry);
        carry = min(listed[i], carry);
        listed[i] = larger;
      }
    }
    // The largest key that at least k listed keys reach, two bits at a time
    // from the top (the three trials' counts are independent: eight
    // dependent warp reductions where a bit a step took sixteen); 0 (every
    // element a candidate) when fewer than k are listed (a short row).
    uint32_t floor_key = 0;
#pragma unroll
    for (int b = 14; b >= 0; b -= 2) {
      unsigned reach[3] = {0, 0, 0};
#pragma unroll
      for (int t = 0; t < 3; t++)
#pragma unroll
        for (int i = 0; i < TOPK_WARP_LIST; i++) reach[t] += listed[i] >= (floor_key | (t + 1u) << b);
      const unsigned c1 = __reduce_add_sync(0xffffffffu, reach[0]), c2 = __reduce_add_sync(0xffffffffu, reach[1]),
                     c3 = __reduce_add_sync(0xffffffffu, reach[2]);
      floor_key |= (c3 >= k ? 3u : c2 >= k ? 2u : c1 >= k ? 1u : 0u) << b;  // c1 >= c2 >= c3
    }
    const uint32_t floor_pair = floor_pair16<T>(floor_key);
    const uint32_t least = max(floor_key, 1u);  // a floor of 0 takes every vector there is, none past the row
    uint32_t pending = 0;  // bit l: vector l * 32 + lane reaches the floor
#pragma unroll
    for (int l = 0; l < LOADS; l++) pending |= (uint32_t)((vector_keys[l / 2] >> (l % 2 * 16) & 0xffffu) >= least) << l;
    // Each lane reads its own pending vectors again and appends their
    // candidates at the warp's shared count: no step in lockstep, no scan
    // (the list's order does not matter: it is sorted or ranked by count,
    // so the result is the same whatever order the atomics take).
    __syncwarp();  // lane 0's reset of the count is seen
    while (pending) {
      const int l = __ffs(pending) - 1;
      pending &= pending - 1;
      const uint4 v = row_vectors[l * 32 + lane];
      uint32_t hits = vector_hits16<T>(v, floor_pair);
      if (hits) {
        unsigned at = atomicAdd(&sh.count, (unsigned)__popc(hits));
        const uint32_t first = (uint32_t)(l * 32 + lane) * EPV;
        for (; hits; hits &= hits - 1, at++) {
          const int e = __ffs(hits) - 1;
          if (at < TOPK_WARP_CAP) sh.keys[at] = Cand::key_of(element_bits16(v, e), first + e);
        }
      }
    }
    __syncwarp();
    const unsigned n = sh.count;
    T *values = (T *)p.values + r * p.v_stride;
    uint32_t *indices = p.indices + r * p.i_stride;
    if (n > TOPK_WARP_CAP)
      topk_warp_radix_row<T>(p, row, values, indices, sh.keys);
    else if (n > 32 && n <= 64)  // up to 32, write_ranked's one candidate a lane is cheaper
      write_sorted64<T>(sh.keys, n, row, values, indices, k);
    else
      write_ranked<T>(sh.keys, n, lane, 32, row, values, indices, p.k);
    __syncwarp();  // every lane is done with stage s and the keys
    topk_stage_row<T>(p, r + 2 * warps, vectors, sh.stage[s]);
  }
}

template <typename T>
static zk_status topk(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const zk_rows *x = &a->t[0], *v = &a->t[1], *ix = &a->t[2];
  TopkParams p = {x->data, x->stride, x->rows, x->cols, a->i[0], v->data, v->stride, (uint32_t *)ix->data,
                  ix->stride, nullptr};
  if (p.k <= TOPK_FILTER_K && p.cols <= TOPK_FILTER_ROW) {
    // Rows of 16-byte vectors: a warp a 16-bit row, a block an f32 row.
    // Others: a block a row, one element a load.  (A block a row: the row
    // is one load per thread and slot, and the blocks of a multiprocessor
    // overlap one another's tails.)
    const unsigned blocks = (unsigned)(x->rows < (1 << 30) ? x->rows : (1 << 30));
    if (p.cols % zk_vec<T>::EPV == 0 && zk_rows_aligned(x, 16)) {
      if constexpr (sizeof(T) == 2) {
        // Persistent: at most the blocks that are resident at once.
        const int64_t warp_blocks = (x->rows + TOPK_WARP_WARPS - 1) / TOPK_WARP_WARPS;
        zk_raise_smem_limit<topk_warp_kernel<T>>(TOPK_WARP_SMEM);
        static int per_sm = 0;  // blocks resident an SM (3 on sm_90; a benign race: the query is idempotent)
        if (per_sm == 0 && (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, topk_warp_kernel<T>,
                                                                           TOPK_WARP_WARPS * 32, TOPK_WARP_SMEM) != cudaSuccess ||
                            per_sm < 1))
          per_sm = 1;
        const int64_t resident = (int64_t)zk_cuda(ctx)->sm_count * per_sm;
        const unsigned grid = (unsigned)(warp_blocks < resident ? warp_blocks : resident);
        topk_warp_kernel<T><<<grid, TOPK_WARP_WARPS * 32, TOPK_WARP_SMEM, stream>>>(p);
      } else {
        topk_filter_kernel<T, true><<<blocks, TOPK_THREADS, 0, stream>>>(p);
      }
    } else {
      topk_filter_kernel<T, false><<<blocks, TOPK_THREADS, 0, stream>>>(p);
    }
    return ZK_CUDA_LAUNCHED(call);
  }
  int64_t blocks = x->rows < (int64_t)zk_cuda(ctx)->sm_count * 8 ? x->rows : (int64_t)zk_cuda(ctx)->sm_count * 8;
  if (p.k > TOPK_SHARED_K) {
    p.spill = (unsigned long long *)zk_cuda_workspace(ctx, call, (size_t)(blocks * p.k) * 8, &s);
    if (!p.spill) return s;
  }
  const bool staged = x->cols <= TOPK_STAGED_MAX;
  const size_t shared = staged ? (size_t)x->cols * 8 : 0;
  topk_radix_kernel<T><<<(unsigned)blocks, TOPK_THREADS, shared, stream>>>(p, staged);
  return ZK_CUDA_LAUNCHED(call);
}

}  // namespace

// ------------------------------------------------------------ entry points
// Slots follow include/zkern/reductions.h (see src/api/reductions.c).

extern "C" zk_status zk_cuda_sum_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, sum_lastdim);
  return reduce(ctx, call, &a->t[0], SumOp{one_value(&a->t[1]), a->t[0].cols, a->i[0] != 0, false});
}

extern "C" zk_status zk_cuda_mean_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, mean_lastdim);
  return reduce(ctx, call, &a->t[0], SumOp{one_value(&a->t[1]), a->t[0].cols, a->i[0] != 0, true});
}

extern "C" zk_status zk_cuda_max_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, max_lastdim);
  return reduce(ctx, call, &a->t[0], MaxOp{one_value(&a->t[1])});
}

extern "C" zk_status zk_cuda_var_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, var_lastdim);
  return reduce(ctx, call, &a->t[0], VarOp{one_value(&a->t[1]), a->t[0].cols, (int)a->i[0], 0.0f, false});
}

extern "C" zk_status zk_cuda_std_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, std_lastdim);
  return reduce(ctx, call, &a->t[0], VarOp{one_value(&a->t[1]), a->t[0].cols, (int)a->i[0], a->f[0], true});
}

extern "C" zk_status zk_cuda_argmax_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, argmax_lastdim);
  return reduce(ctx, call, &a->t[0], ArgmaxOp{(uint32_t *)a->t[1].data, a->t[1].stride});
}

extern "C" zk_status zk_cuda_topk_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, topk_lastdim);
  switch (a->t[0].dtype) {
    case ZK_F32: return topk<float>(ctx, call, a);
    case ZK_F16: return topk<__half>(ctx, call, a);
    default: return topk<__nv_bfloat16>(ctx, call, a);
  }
}
