// The CUDA softmax row engine (spec §2, reused by the attention family's
// masked softmaxes and logsumexp, spec §6): one kernel that folds each row
// into a per-thread state, reduces the states over the row's group of
// threads in a fixed tree and writes the outputs from registers.
//
// A *group* of threads owns a row: a few lanes of a warp for short rows
// (several rows per block), a whole block for longer ones, and on sm_90 a
// whole thread-block cluster for the longest.  Each thread loads its share
// of the row (16-byte vectors when every view allows, coalesced scalars
// otherwise) into registers, folds it into a per-thread state, the group
// combines the states in a fixed tree, and the thread writes its outputs
// from the registers it still holds: DRAM sees one read of each input and
// one write.  Rows beyond what a cluster holds are walked in tiles: a first
// pass folds every tile, a second re-reads the tiles in reverse order (the
// most recently read first, so from L1/L2) and writes.
//
// Forward state: the online pair (m, Σ e^(x-m)) over the thread's elements,
// merged across threads by rescaling to the larger max, so one reduction
// gives both statistics.  softmax keeps e^(x - m_thread) in registers and
// scales it by e^(m_thread - M)/S: one exp per element.
//
// Every element is read by the thread that later writes it, before any
// write of it, so y = x (forward) and dx = dy (grads) aliases are safe.
// Reduction order depends only on the shape: same bits on every run.
#ifndef ZK_CUDA_SOFTMAX_ROWS_CUH
#define ZK_CUDA_SOFTMAX_ROWS_CUH

#include <cooperative_groups.h>
#include <type_traits>

#include "common.cuh"

namespace {
// A reduction state: two floats whose meaning belongs to the op.
struct Pair {
  float a, b;
};

__device__ __forceinline__ Pair shfl_xor(Pair p, int o) {
  return {__shfl_xor_sync(0xffffffffu, p.a, o), __shfl_xor_sync(0xffffffffu, p.b, o)};
}

// Two 16-bit infinities of T (f16 or bf16) in one word, -Inf when negative.
template <typename T>
__device__ __forceinline__ uint32_t zk_inf_pair(bool negative) {
  const uint32_t inf = std::is_same<T, __half>::value ? 0x7c007c00u : 0x7f807f80u;
  return negative ? inf | 0x80008000u : inf;
}

// ------------------------------------------------------------------- ops
// Op interface (an Op is passed to the kernel by value, so it may carry
// per-launch parameters): NIN inputs; kmax(W) = elements a thread holds per
// input (chunks of W; at 1024 threads a thread has 64 registers, and each
// chunk also costs its address and bounds test, so scalars get fewer);
// neutral(k) = the value of input k that leaves the state unchanged (pads
// the chunks past the row end); identity(); accumulate(state, values of one
// tile), which may rewrite the values for output<true>; combine(a, b), made
// bitwise commutative (no FMA contraction across its two terms) so every
// lane of a shuffle tree ends with the same bits; finish(row total, own
// state, row) -> Out; output<CACHED, W>(Out, values, bits, j) with CACHED =
// the values are the ones accumulate left, not a reload.
//
// Side data beside the inputs (RowOpBase is the "none" of every hook):
// row(r) -> Row, what the op needs of row r (a mask row, a per-row
// scalar), taken once per row; Bits<W>, what it keeps per chunk of W
// elements; load<W>(bits, row, chunk) issues the chunk's side loads with
// the inputs' loads; apply<W>(bits, values of input 0, at) rewrites a
// loaded chunk before accumulate sees it (the masked softmaxes' scale and
// -Inf at masked entries); keep<W>(bits, e) is that chunk's keep bit.
// ROW_OUT ops write one value per row through store_row(Out, r) (first
// thread of the group) instead of a row of outputs.  walk(i) -> the row
// that the kernel takes i-th (a permutation of the rows, for the order in
// which rows meet their side data; each row's arithmetic is unchanged).
//
// Packed 16-bit rows (PACKABLE ops, see softmax_rows_kernel): z(x) is what
// apply makes of a kept element; apply_packed<W>(bits, chunk) rewrites every
// dropped element of a chunk, still in storage form, to the bits of
// dropped_pair<T>() (two elements), whose z is -Inf; those bits also pad the
// chunks past the row end.  packed_ok() (host): the launch's parameters
// allow it.
struct RowOpBase {
  static constexpr bool ROW_OUT = false;
  static constexpr bool PACKABLE = false;
  struct Row {};
  template <int W>
  struct Bits {};
  __device__ __forceinline__ Row row(int64_t) const { return {}; }
  __device__ __forceinline__ int64_t walk(int64_t i) const { return i; }
  template <int W, class R>  // R: the op's Row, which may hide this one
  __device__ __forceinline__ void load(Bits<W> &, const R &, int64_t) const {}
  template <int W, int K>
  __device__ __forceinline__ void apply(const Bits<W> &, float (&)[K], int) const {}
  template <int W>
  __device__ __forceinline__ bool keep(const Bits<W> &, int) const { return true; }
  __device__ __forceinline__ float z(float x) const { return x; }
  template <int W, typename T>
  __device__ __forceinline__ void apply_packed(const Bits<W> &, zk_vec<T> &) const {}
  template <typename T>
  __device__ __forceinline__ uint32_t dropped_pair() const { return zk_inf_pair<T>(true); }
  bool packed_ok() const { return true; }
};

// softmax (LOG = false) and log_softmax: state (m, s), s = Σ e^(x-m).
// Side: RowOpBase, or the masked softmaxes' scale and mask (attention.cu):
// a row holding a NaN or +Inf keeps exact zeros at its masked entries.
template <bool LOG, class Side = RowOpBase>
struct SoftmaxFwd : Side {
  static constexpr int NIN = 1;
  static constexpr bool PACKABLE = true;
  static constexpr int kmax(int W) { return W == 1 ? 8 : W == 8 ? 32 : 16; }
  struct Out {
    float m, k, c;  // row max; 1/S (softmax) or log S (log_softmax); own scale
    float fill;
    bool filled;    // the whole row is `fill` (edge rows)
  };
  static __device__ __forceinline__ float neutral(int) { return -INFINITY; }
  static __device__ __forceinline__ Pair identity() { return {-INFINITY, 0.0f}; }
  // e^(m - to) for m <= to; exactly 1 when equal (also both -Inf: no NaN).
  // Through ex2 (a select, not expf's branches): the group reduction
  // rescales twice a combine, 10-15 combines a row, which cost as much
  // issue as a 16-bit thread's 32 elements.
  static __device__ __forceinline__ float rescale(float m, float to) {
    return m == to ? 1.0f : zk_exp_shifted(m, to);
  }
  static __device__ __forceinline__ Pair combine(Pair x, Pair y) {
    float m = zk_fmax_nan(x.a, y.a);
    return {m, __fmul_rn(x.b, rescale(x.a, m)) + __fmul_rn(y.b, rescale(y.a, m))};
  }
  template <int K>
  static __device__ __forceinline__ void accumulate(Pair &st, float (&v)[1][K]) {
    float m = st.a;
#pragma unroll
    for (int k = 0; k < K; k++) m = zk_fmax_nan(m, v[0][k]);
    const float shift = m == -INFINITY ? 0.0f : m;  // all -Inf so far: every e is 0, not NaN
    float s = st.b * rescale(st.a, m);
#pragma unroll
    for (int k = 0; k < K; k++) {
      float e = zk_exp_shifted(v[0][k], shift);  // ex2: expf made 16-bit rows issue-bound
      s += e;
      if (!LOG) v[0][k] = e;
    }
    st = {m, s};
  }
  __device__ __forceinline__ Out finish(Pair total, Pair own, const typename Side::Row &) const {
    Out o = {};
    const float m = total.a;
    if (m == -INFINITY) {  // entirely -Inf: a fully masked row
      o.filled = true;
      o.fill = LOG ? -INFINITY : 0.0f;
    } else if (!(m < INFINITY)) {  // a NaN or +Inf in the row
      o.filled = true;
      o.fill = NAN;
    } else {
      o.m = m;
      // S >= 1: the max contributes e^0.
      o.k = LOG ? logf(total.b) : 1.0f / total.b;
      // Own values are e^(x - m_own): rescaled to the row max.  A thread
      // whose elements are all -Inf holds zeros (and e^(-m) could overflow).
      o.c = own.a == -INFINITY ? 0.0f : zk_exp_f(own.a - m) * o.k;
    }
    return o;
  }
  template <bool CACHED, int W, int K, class B>
  __device__ __forceinline__ float output(const Out &o, const float (&v)[1][K], const B &bits, int j) const {
    if (o.filled) return filled_output<W>(o, bits[j / W], j % W);
    if (LOG) return (v[0][j] - o.m) - o.k;
    return CACHED ? v[0][j] * o.c : zk_exp_shifted(v[0][j], o.m) * o.k;
  }
  // An edge row's element e of a chunk: NaN rows keep exact zeros where the
  // side drops the element.
  template <int W>
  __device__ __forceinline__ float filled_output(const Out &o, const typename Side::template Bits<W> &bits,
                                                 int e) const {
    return o.fill != o.fill && !this->template keep<W>(bits, e) ? 0.0f : o.fill;
  }

  // Packed rows: the state of NC chunks in storage form, folded a chunk at
  // a time (online: the sum rescaled when a chunk raises the max), so that
  // only one chunk's f32 values are alive (a max pass then a sum pass let
  // the compiler keep every converted value between them).
  template <typename T, int NC>
  __device__ __forceinline__ Pair accumulate_packed(const zk_vec<T> (&c)[NC]) const {
    constexpr int V = zk_vec<T>::EPV;
    float m = -INFINITY, s = 0.0f;
#pragma unroll
    for (int i = 0; i < NC; i++) {
      float z[V], cm = m;
#pragma unroll
      for (int e = 0; e < V; e++) {
        z[e] = this->z(c[i].get(e));
        cm = zk_fmax_nan(cm, z[e]);
      }
      const float shift = cm == -INFINITY ? 0.0f : cm;  // all -Inf so far: every e is 0, not NaN
      if (i > 0) s *= rescale(m, cm);
#pragma unroll
      for (int e = 0; e < V; e++) s += zk_exp_shifted(z[e], shift);
      m = cm;
    }
    return {m, s};
  }
  // The output of stored element x in a row that is not an edge row (never
  // NaN: z <= m, both below +Inf).
  __device__ __forceinline__ float output_packed(const Out &o, float x) const {
    if (LOG) return (this->z(x) - o.m) - o.k;
    return zk_exp_shifted(this->z(x), o.m) * o.k;
  }
};

// softmax_grad: inputs y, dy; state a = Σ y·dy.  SCALED (the attention
// family's scale_mask_softmax_grad): dx = scale·y·(dy - Σ y·dy).
template <bool SCALED = false>
struct SoftmaxGrad : RowOpBase {
  float scale;
  static constexpr int NIN = 2;
  static constexpr int kmax(int W) { return W == 1 ? 4 : W == 8 ? 16 : 8; }
  struct Out {
    float dot;
  };
  static __device__ __forceinline__ float neutral(int) { return 0.0f; }
  static __device__ __forceinline__ Pair identity() { return {0.0f, 0.0f}; }
  static __device__ __forceinline__ Pair combine(Pair x, Pair y) { return {x.a + y.a, 0.0f}; }
  template <int K>
  static __device__ __forceinline__ void accumulate(Pair &st, float (&v)[2][K]) {
#pragma unroll
    for (int k = 0; k < K; k++) st.a += v[0][k] * v[1][k];
  }
  __device__ __forceinline__ Out finish(Pair total, Pair, const Row &) const { return {total.a}; }
  template <bool CACHED, int W, int K, class B>
  __device__ __forceinline__ float output(const Out &o, const float (&v)[2][K], const B &, int j) const {
    if (SCALED) return (scale * v[0][j]) * (v[1][j] - o.dot);
    return v[0][j] * (v[1][j] - o.dot);
  }
};

// ------------------------------------------------------------- row access

// One tile of a thread: chunks first + i·width (i < K/W) of each input
// (pointers at the tile's first element, chunk0 its chunk index in the
// row), as f32, with the op's side bits; chunks at or past `limit` read as
// Op::neutral.  Offsets within a tile fit in 32 bits.  All loads are
// issued before any is converted.
template <class Op, typename T, int W, int K>
__device__ __forceinline__ void load_tile(const Op &op, const typename Op::Row &row, float (&v)[Op::NIN][K],
                                          typename Op::template Bits<W> (&bits)[K / W],
                                          const T *const (&in)[Op::NIN], int64_t chunk0, int first, int width,
                                          int limit) {
  constexpr int NIN = Op::NIN, NC = K / W;
  zk_chunk<T, W> raw[NIN][NC];
#pragma unroll
  for (int i = 0; i < NC; i++) {
    const int q = first + i * width;
    if (q < limit) {
#pragma unroll
      for (int k = 0; k < NIN; k++) raw[k][i].load(in[k] + q * W);
      op.template load<W>(bits[i], row, chunk0 + q);
    }
  }
#pragma unroll
  for (int i = 0; i < NC; i++) {
    const bool ok = first + i * width < limit;
#pragma unroll
    for (int k = 0; k < NIN; k++)
#pragma unroll
      for (int e = 0; e < W; e++) v[k][i * W + e] = ok ? raw[k][i].get(e) : Op::neutral(k);
    if (ok) op.template apply<W>(bits[i], v[0], i * W);
  }
}

// Writes out[(first + i·width)·W + e] = f(i·W + e), for the chunks
// load_tile read.
template <typename T, int W, int K, typename F>
__device__ __forceinline__ void store_tile(T *out, int first, int width, int limit, F f) {
  constexpr int NC = K / W;
#pragma unroll
  for (int i = 0; i < NC; i++) {
    const int q = first + i * width;
    if (q >= limit) continue;
    zk_chunk<T, W> c;
    float y[W];
#pragma unroll
    for (int e = 0; e < W; e++) y[e] = f(i * W + e);
    if constexpr (W > 1) zk_vec_set_all(static_cast<zk_vec<T> &>(c), y);  // packed rounding where it exists
    else c.set(0, y[0]);
    c.store(out + q * W);
  }
}

// Packed rows: chunks first + i·width of a 16-bit row kept in storage form
// (NC 16-byte vectors: half the registers of their f32 values), the side's
// dropped elements already rewritten; chunks at or past `limit` hold the
// op's dropped bits.
template <class Op, typename T, int NC>
__device__ __forceinline__ void load_packed(const Op &op, const typename Op::Row &row, zk_vec<T> (&c)[NC],
                                            const T *in, int64_t chunk0, int first, int width, int limit) {
  constexpr int W = zk_vec<T>::EPV;
  typename Op::template Bits<W> bits[NC];
#pragma unroll
  for (int i = 0; i < NC; i++) {
    const int q = first + i * width;
    if (q < limit) {
      c[i].load(in + q * W);
      op.template load<W>(bits[i], row, chunk0 + q);
    } else {
      const uint32_t d = op.template dropped_pair<T>();
      c[i].raw = make_uint4(d, d, d, d);
    }
  }
#pragma unroll
  for (int i = 0; i < NC; i++)
    if (first + i * width < limit) op.template apply_packed<W>(bits[i], c[i]);
}

// Writes the outputs of the chunks load_packed read.  An edge row (rare)
// reloads its side bits for the zeros of dropped elements.
template <class Op, typename T, int NC>
__device__ __forceinline__ void store_packed(const Op &op, const typename Op::Out &o, const typename Op::Row &row,
                                             const zk_vec<T> (&c)[NC], T *out, int64_t chunk0, int first, int width,
                                             int limit) {
  constexpr int W = zk_vec<T>::EPV;
#pragma unroll
  for (int i = 0; i < NC; i++) {
    const int q = first + i * width;
    if (q >= limit) continue;
    zk_vec<T> y;
    float f[W];
    if (o.filled) {
      typename Op::template Bits<W> bits;
      op.template load<W>(bits, row, chunk0 + q);
#pragma unroll
      for (int e = 0; e < W; e++) f[e] = op.template filled_output<W>(o, bits, e);
      zk_vec_set_all(y, f);
    } else {
#pragma unroll
      for (int e = 0; e < W; e++) f[e] = op.output_packed(o, c[i].get(e));
      zk_vec_set_nan_free(y, f);
    }
    y.store(out + q * W);
  }
}

// ------------------------------------------------------------ group reduce

// The row total of every thread's state, in a fixed tree: a butterfly over
// the group's lanes; then (block groups) over the warps' results through
// red[]; then (clusters) over the blocks' results in rank order, read from
// each block's cross[parity] in distributed shared memory.  cross is double
// buffered by row parity: a block rewrites cross[p] two rows later, after
// the cluster barrier of the row between, which every block reaches only
// once it has read the row's values.
template <class Op>
__device__ __forceinline__ Pair group_reduce(Pair st, int G, int C, Pair *red, Pair *cross, int parity) {
  const int width = G < 32 ? G : 32;
#pragma unroll
  for (int o = 16; o; o >>= 1)
    if (o < width) st = Op::combine(st, shfl_xor(st, o));
  if (G <= 32) return st;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();  // red[] may still be read by the previous row's reduction
  if (lane == 0) red[warp] = st;
  __syncthreads();
  st = lane < warps ? red[lane] : Op::identity();
#pragma unroll
  for (int o = 16; o; o >>= 1) st = Op::combine(st, shfl_xor(st, o));
  if (C == 1) return st;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cooperative_groups::cluster_group cluster = cooperative_groups::this_cluster();
  if (threadIdx.x == 0) cross[parity] = st;
  cluster.sync();
  st = lane < C ? *cluster.map_shared_rank(&cross[parity], (unsigned)lane) : Op::identity();
#pragma unroll
  for (int o = 16; o; o >>= 1) st = Op::combine(st, shfl_xor(st, o));
#else
  (void)cross, (void)parity;
#endif
  return st;
}

struct RowsParams {
  const void *in[2];
  int64_t in_stride[2];
  void *out;
  int64_t out_stride;
  int64_t rows, cols;
  int group;    // threads per row in a block: <= 32 = lanes (several rows per block), else blockDim.x
  int cluster;  // blocks per row: 1, or the cluster size (blocks c·C .. c·C+C-1 form cluster c)
};

// K elements per thread and input, in chunks of W.  ONE_TILE: the row fits
// the group's registers (host-checked), so the values stay put between the
// reduction and the output.  MAXT: the largest block it is launched with
// (WARP_TILES_THREADS for the warp-tiles plan, which may then use more
// registers a thread).  PACKED (one-tile 16-bit vector rows of a PACKABLE
// op): the values stay in storage form between the reduction and the
// output and are converted again where used, since K f32 values alive
// across the reduction held 16-bit rows to 5 blocks an SM (89 registers).
template <class Op, typename T, int W, int K, bool ONE_TILE, int MAXT = (ONE_TILE ? 512 : 1024), bool PACKED = false>
__global__ void __launch_bounds__(MAXT) softmax_rows_kernel(RowsParams p, Op op) {
  static_assert(K % W == 0, "whole chunks per thread");
  static_assert(!PACKED || ((ONE_TILE || Op::ROW_OUT) && Op::NIN == 1 && sizeof(T) == 2 && W == zk_vec<T>::EPV),
                "packed rows: 16-bit vectors of one input, in one tile unless nothing is re-read");
  constexpr int NIN = Op::NIN, NC = K / W;
  __shared__ Pair red[32];
  __shared__ Pair cross[2];
  const int G = p.group, C = p.cluster;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  if (C > 1) __trap();  // the host launches clusters only on devices that run this code as sm_90+
#endif
  const bool lanes_mode = G <= 32;
  const int sub = lanes_mode ? (int)threadIdx.x / G : 0;
  const int tid = lanes_mode ? (int)threadIdx.x % G : (int)threadIdx.x;
  const int rows_per_block = lanes_mode ? (int)blockDim.x / G : 1;
  const int rank = (int)(blockIdx.x % (unsigned)C);
  const int width = G * C;           // threads per row
  const int first = rank * G + tid;  // this thread's first chunk in a tile
  const int64_t nchunks = p.cols / W;
  const int64_t tile = (int64_t)width * NC;  // chunks per tile
  const int64_t tiles = ONE_TILE ? 1 : (nchunks + tile - 1) / tile;
  int parity = 0;
  // Uniform over the block and the cluster: every thread runs every
  // iteration (shuffles and barriers), rows past the end only skip memory.
  for (int64_t base = (int64_t)(blockIdx.x / C) * rows_per_block; base < p.rows;
       base += (int64_t)(gridDim.x / C) * rows_per_block, parity ^= 1) {
    const int64_t i = base + sub;
    const bool valid = i < p.rows;
    const int64_t rr = op.walk(valid ? i : base);
    // Tile t: its input and output pointers, and its chunk count (0 for a
    // row past the end).
    auto tile_at = [&](int64_t t, const T *(&in)[NIN], T *&out) {
      const int64_t c0 = t * tile;
#pragma unroll
      for (int k = 0; k < NIN; k++) in[k] = (const T *)p.in[k] + rr * p.in_stride[k] + c0 * W;
      out = Op::ROW_OUT ? nullptr : (T *)p.out + rr * p.out_stride + c0 * W;
      const int64_t left = nchunks - c0;
      return valid ? (int)(left < tile ? left : tile) : 0;
    };
    const T *in[NIN];
    T *out;
    const typename Op::Row row = op.row(rr);
    if constexpr (PACKED && !Op::ROW_OUT) {
      const int limit = tile_at(0, in, out);
      zk_vec<T> c[NC];
      load_packed<Op, T, NC>(op, row, c, in[0], 0, first, width, limit);
      const Pair own = op.accumulate_packed(c);
      const typename Op::Out o = op.finish(group_reduce<Op>(own, G, C, red, cross, parity), own, row);
      store_packed<Op, T, NC>(op, o, row, c, out, 0, first, width, limit);
      continue;
    }
    float v[NIN][K];
    typename Op::template Bits<W> bits[NC];
    Pair own = Op::identity();
    for (int64_t t = 0; t < tiles; t++) {
      const int limit = tile_at(t, in, out);
      if constexpr (PACKED) {  // a row value: each tile folded from its storage form, then dropped
        zk_vec<T> c[NC];
        load_packed<Op, T, NC>(op, row, c, in[0], t * tile, first, width, limit);
        own = Op::combine(own, op.accumulate_packed(c));
      } else {
        load_tile<Op, T, W, K>(op, row, v, bits, in, t * tile, first, width, limit);
        op.accumulate(own, v);
      }
    }
    const typename Op::Out o = op.finish(group_reduce<Op>(own, G, C, red, cross, parity), own, row);
    if constexpr (Op::ROW_OUT) {
      if (valid && first == 0) op.store_row(o, rr);
    } else {
      for (int64_t t = tiles - 1; t >= 0; t--) {
        const int limit = tile_at(t, in, out);
        if (!ONE_TILE) load_tile<Op, T, W, K>(op, row, v, bits, in, t * tile, first, width, limit);
        store_tile<T, W, K>(out, first, width, limit,
                            [&](int j) { return op.template output<ONE_TILE, W>(o, v, bits, j); });
      }
    }
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // No block may leave while another can still read its cross[].
  if (C > 1) cooperative_groups::this_cluster().sync();
#endif
}

// ------------------------------------------------------------------ launch

// How a row is spread: K elements per thread and input, `group` threads of
// a block (<= 32: lanes, `threads`/group rows per block), `cluster` blocks.
// warp_tiles: a warp per row, walked in tiles (see plan_rows).
struct Plan {
  int k, group, cluster, threads;
  bool one_tile, warp_tiles;
};

// The warp-tiles plan's block: four rows, one a warp.
#define WARP_TILES_THREADS 128
// Rows it takes: up to this many tiles of 32·kmax elements, when there are
// at least WARP_TILES_MIN_ROWS of them (about 32 an SM on an H100; a
// count of the shape, not of the device, so the bits do not depend on it).
#define WARP_TILES_MAX 8
#define WARP_TILES_MIN_ROWS 4096

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int round_warps(int64_t t) { return (int)((t + 31) / 32 * 32); }

// The instantiated K values: W (one chunk), 4 (scalars), kmax.
static int pick_k(int64_t need, int W, int kmax) {
  if (need <= W) return W;
  if (W == 1 && need <= 4) return 4;
  return kmax;
}

// Rows up to 32·kmax elements: a warp or fewer lanes each, as few elements
// per lane as the instantiated K allow.  Longer rows: kmax elements per
// thread, in one block of at most 512 threads; then on sm_90 a cluster of
// 2-8 such blocks; then tiles (cluster of 8 on sm_90, one block of 1024
// threads elsewhere).  Blocks of <= 512 threads keep two or more blocks per
// SM, so one block's reduction overlaps another's loads; the one-tile
// kernel is bounded at 512 threads so that 16-bit rows can keep 4 vectors
// a thread in registers (kmax 32) without spilling.
//
// warp_tiles (rows of up to WARP_TILES_MAX tiles, enough of them to fill
// the device): a warp per row instead of a block, the row walked in tiles
// of 32·kmax elements.  A warp needs no barrier, and many more rows are in
// flight an SM than the block plan's few 90-register blocks; an op with a
// row of outputs would have to re-read its tiles, so launch() takes this
// plan for row-value ops only.
static Plan plan_rows(int64_t D, int W, int kmax, bool clusters, bool warp_tiles) {
  const int64_t chunks = D / W;
  if (D <= 32 * (int64_t)kmax) {
    int k = pick_k(ceil_div(D, 32), W, kmax);
    int lanes = 1;
    while (lanes < 32 && (int64_t)lanes * (k / W) < chunks) lanes *= 2;
    return {k, lanes, 1, 128, true, false};
  }
  if (warp_tiles && D <= WARP_TILES_MAX * 32 * (int64_t)kmax)
    return {kmax, 32, 1, WARP_TILES_THREADS, false, true};
  const int64_t threads = ceil_div(chunks, kmax / W);
  if (threads <= 512) return {kmax, round_warps(threads), 1, round_warps(threads), true, false};
  if (clusters) {
    for (int c = 2; c <= 8; c *= 2)
      if (threads <= 512 * c) {
        int g = round_warps(ceil_div(threads, c));
        return {kmax, g, c, g, true, false};
      }
    return {kmax, 1024, 8, 1024, false, false};
  }
  return {kmax, 1024, 1, 1024, false, false};
}

static bool clusters_supported(zk_ctx *ctx) {
  int v = 0;
  if (cudaDeviceGetAttribute(&v, cudaDevAttrClusterLaunch, zk_cuda(ctx)->device) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return v != 0;
}

template <class Op>
using rows_kernel_fn = void (*)(RowsParams, Op);

// packed: the op and the launch allow packed rows (16-bit vector rows of
// a PACKABLE op whose parameters allow it); taken for one-tile plans of
// kmax elements a thread in one block, and for the warp-tiles plan (a row
// value: its 71 registers held 7 blocks an SM, a 2.2-wave grid at 8192 x
// 4096).
template <class Op, typename T, int W>
static rows_kernel_fn<Op> kernel_for(const Plan &pl, bool packed) {
  constexpr int KMAX = Op::kmax(W);
  if constexpr (Op::PACKABLE && sizeof(T) == 2 && W == zk_vec<T>::EPV) {
    if constexpr (!Op::ROW_OUT)
      if (packed && pl.one_tile && pl.cluster == 1 && pl.k == KMAX)
        return softmax_rows_kernel<Op, T, W, KMAX, true, 512, true>;
    if constexpr (Op::ROW_OUT)
      if (packed && pl.warp_tiles) return softmax_rows_kernel<Op, T, W, KMAX, false, WARP_TILES_THREADS, true>;
  }
  if constexpr (Op::ROW_OUT)
    if (pl.warp_tiles) return softmax_rows_kernel<Op, T, W, KMAX, false, WARP_TILES_THREADS>;
  if (!pl.one_tile) return softmax_rows_kernel<Op, T, W, KMAX, false>;
  if (pl.k <= W) return softmax_rows_kernel<Op, T, W, W, true>;
  if (W == 1 && pl.k <= 4) return softmax_rows_kernel<Op, T, W, (W == 1 ? 4 : W), true>;
  return softmax_rows_kernel<Op, T, W, KMAX, true>;
}

template <class Op, typename T>
static cudaError_t launch_plan(const Plan &pl, RowsParams p, const Op &op, bool vec, cudaStream_t stream) {
  constexpr int E = zk_vec<T>::EPV;
  const bool packed = vec && sizeof(T) == 2 && op.packed_ok();
  rows_kernel_fn<Op> kernel = vec ? kernel_for<Op, T, E>(pl, packed) : kernel_for<Op, T, 1>(pl, false);
  p.group = pl.group;
  p.cluster = pl.cluster;
  const int rows_per_block = pl.group <= 32 ? pl.threads / pl.group : 1;
  int64_t units = ceil_div(p.rows, rows_per_block);  // blocks, or clusters
  if (units > ((int64_t)1 << 20)) units = (int64_t)1 << 20;
  const unsigned grid = (unsigned)(units * pl.cluster);
  if (pl.cluster == 1) {
    kernel<<<grid, pl.threads, 0, stream>>>(p, op);
    return cudaGetLastError();
  }
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3((unsigned)pl.threads);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = (unsigned)pl.cluster;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  cudaError_t err = cudaLaunchKernelEx(&cfg, kernel, p, op);
  cudaGetLastError();  // the error (if any) is returned, not left for later calls
  return err;
}

template <class Op, typename T>
static zk_status launch(zk_ctx *ctx, const zk_call *call, cudaStream_t stream, const RowsParams &p, const Op &op,
                        bool vec) {
  const int W = vec ? zk_vec<T>::EPV : 1;
  const int kmax = Op::kmax(W);
  // Only rows past one block's reach ask the device about clusters.
  const bool clusters = p.cols > 512 * (int64_t)kmax && clusters_supported(ctx);
  // Warp tiles for row-value ops (logsumexp: nothing to re-read) with rows
  // enough to fill the device.  Measured at 8192 x 4096 on the H100:
  // logsumexp 67 -> 87% (f32) and 46 -> 67% (bf16) of the copy rate; the
  // ops writing a row (softmax, masked softmax) lost 5-30% to the re-read.
  const bool warp_tiles = Op::ROW_OUT && p.rows >= WARP_TILES_MIN_ROWS;
  const Plan pl = plan_rows(p.cols, W, kmax, clusters, warp_tiles);
  cudaError_t err = launch_plan<Op, T>(pl, p, op, vec, stream);
  // A device that cannot co-schedule the cluster (a small partition, say)
  // runs the plan without clusters instead.
  if (err != cudaSuccess && pl.cluster > 1)
    err = launch_plan<Op, T>(plan_rows(p.cols, W, kmax, false, false), p, op, vec, stream);
  return zk_cuda_check(call, err, "kernel launch");
}

// Runs Op over rows: inputs in[] (one dtype, the shape of out), output out.
// A ROW_OUT op writes through its own store_row: out is unused (NULL), the
// rows are in[0]'s, and rows of zero elements still run (their value).
template <class Op>
static zk_status run(zk_ctx *ctx, const zk_call *call, const zk_rows *const (&in)[Op::NIN], const zk_rows *out,
                     const Op &op = Op()) {
  cudaStream_t stream;
  {
    zk_status s = zk_cuda_enter(ctx, call, &stream);
    if (s != ZK_OK) return s;
  }
  const zk_rows *shape = Op::ROW_OUT ? in[0] : out;
  RowsParams p = {};
  bool vec = Op::ROW_OUT || zk_rows_vec_ok(out);
  for (int k = 0; k < Op::NIN; k++) {
    p.in[k] = in[k]->data;
    p.in_stride[k] = in[k]->stride;
    vec = vec && zk_rows_vec_ok(in[k]);
  }
  if (!Op::ROW_OUT) {
    p.out = out->data;
    p.out_stride = out->stride;
  }
  p.rows = shape->rows;
  p.cols = shape->cols;
  if (p.rows == 0 || (p.cols == 0 && !Op::ROW_OUT)) return ZK_OK;
  switch (shape->dtype) {
    case ZK_F32: return launch<Op, float>(ctx, call, stream, p, op, vec);
    case ZK_F16: return launch<Op, __half>(ctx, call, stream, p, op, vec);
    default: return launch<Op, __nv_bfloat16>(ctx, call, stream, p, op, vec);
  }
}

}  // namespace

#endif
