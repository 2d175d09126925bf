// Mixture-of-experts routing, dispatch and combine on CUDA (spec §14).
//
// Gating: one warp per token for E <= 1024, the logits and the bias in
// registers (PER lane, coalesced or as 16- or 8-byte spans), softmax (e^x by
// ex2.approx, one reciprocal of the sum) or σ, then each lane sorts its
// best few order keys once and k rounds take the warp maximum of the lanes'
// heads (the spec's total order, ties to the lower index); the winner pops
// its head.  Lane r keeps the r-th winner.  When the raw weight is the
// selection score it is the winning key's value, summed in selection order
// as the rounds go, and the weights come out in selection order; otherwise
// lane r recomputes its score from the logit, the k weights are normalised
// by a warp sum and each lane finds its place by counting larger keys.
// Longer rows take a block per token that recomputes the scores on each
// round.
//
// Dispatch: a stable counting sort over chunks of DISPATCH_CHUNK pairs or
// more (few enough that experts × chunks stays small).  (1) One warp per
// chunk walks its pairs in order, 32 at a time, and counts them per
// expert in its own counters in shared memory (__match_any_sync groups the
// lanes of one expert; the lowest lane adds the group's size), written out
// expert-major, counts[e][chunk]; (2) a warp per expert scans its row of
// counts in place (chunk c's count becomes the pairs of e in the chunks
// before c) and writes the expert's total; (3) the warps walk their chunks
// again in the same order, each starting its counter of e at the totals of
// the experts before e (a warp sum over E; chunk 0's warp writes them out
// as the offsets) + the scanned count, each pair taking its counter + its
// rank among the earlier lanes of its expert: ascending expert, then pair
// index, on every run.  (4) A block
// per token reads x's row once and writes it to the K rows its pairs took,
// with 16-byte vectors where aligned (integer copies, so bitwise): x is
// read once, not K times.  A bad id is counted nowhere: its pair is skipped (row -1), the
// flag raised, and rows p >= expert_offsets[E] are left alone.
//
// Combine (both layouts): a block per token row; each thread owns 16-byte
// units of the row and sums the K weighted units in increasing k from +0
// (fmaf).  The gradients: a block per (token, slot) pair (catalog) or per
// permuted row: dexpert = w·dy unit by unit, and dweights one fixed block
// sum of dy·E.  No float atomics anywhere.
//
// Entry points follow the slots of src/api/moe.c.
#include "common.cuh"

namespace {

#define MAX_K 32
#define GATING_WARPS 8           // warps (tokens) per block on the warp path
#define GATING_WARP_MAX_E 1024   // longer rows take the block path
#define GATING_BLOCK 256
#define DISPATCH_CHUNK 128       // pairs per counting-sort chunk, at least: 4 tiles, a short walk a warp
#define DISPATCH_COUNTS_MAX 65536  // counts (experts × chunks), at most: each scatter warp sums E totals
#define DISPATCH_CHUNKS_MAX 1024   // chunks, at most: a scan warp's row of counts
#define DISPATCH_SCAN_WARPS 8      // experts (warps) per scan block
#define DISPATCH_WARPS 4         // chunks (warps) per walk block
#define DISPATCH_SMEM_E 2048     // experts whose counters fit shared memory (4 warps × 8 KB)
#define ROW_THREADS 256

// ------------------------------------------------------------ shuffles

__device__ __forceinline__ uint64_t shfl_xor_u64(uint64_t v, int o) {
  uint32_t lo = __shfl_xor_sync(0xffffffffu, (uint32_t)v, o), hi = __shfl_xor_sync(0xffffffffu, (uint32_t)(v >> 32), o);
  return (uint64_t)hi << 32 | lo;
}
__device__ __forceinline__ uint64_t shfl_u64(uint64_t v, int lane) {
  uint32_t lo = __shfl_sync(0xffffffffu, (uint32_t)v, lane), hi = __shfl_sync(0xffffffffu, (uint32_t)(v >> 32), lane);
  return (uint64_t)hi << 32 | lo;
}

// max that keeps NaN (a NaN logit makes the whole softmax row NaN).
__device__ __forceinline__ float nan_max(float a, float b) { return (a != a || a > b) ? a : b; }

__device__ __forceinline__ float warp_nan_max(float v) {
#pragma unroll
  for (int o = 16; o; o >>= 1) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// The (key, raw) pair with the largest key over the warp; every lane gets it.
__device__ __forceinline__ void warp_best(uint64_t &key, float &raw) {
#pragma unroll
  for (int o = 16; o; o >>= 1) {
    uint64_t k2 = shfl_xor_u64(key, o);
    float r2 = __shfl_xor_sync(0xffffffffu, raw, o);
    if (k2 > key) key = k2, raw = r2;
  }
}

struct GatingJob {
  const void *logits;
  int64_t x_stride, rows, E, k;
  const void *bias;  // NULL: none
  zk_dtype bias_dtype;
  float *weights;
  uint32_t *indices;
  int64_t w_stride, i_stride;
  bool bias_vec;  // bias spans readable as zk_ld_param_span's vectors (aligned)
  bool sigmoid, norm, select_only;
  float scale;
};

// Lane `lane`'s r-th winner (index e, raw weight) -> normalised, scaled and
// written at its place in descending weight order.  Lanes >= k hold nothing.
// sum: Σ raw over the k winners.  in_order: the weights already come in
// selection order (see gating_warp_kernel), so lane r's place is r.
__device__ __forceinline__ void finish_token(const GatingJob &j, int64_t row, int lane, uint32_t e, float raw,
                                             float sum, bool in_order) {
  bool mine = lane < j.k;
  float w = (j.norm ? raw / (sum + 1e-20f) : raw) * j.scale;
  int place = lane;
  if (!in_order) {
    uint64_t key = mine ? zk_rank_key(w, e) : 0;
    place = 0;
    for (int o = 0; o < j.k; o++) place += shfl_u64(key, o) > key;
  }
  if (mine) {
    j.weights[row * j.w_stride + place] = w;
    j.indices[row * j.i_stride + place] = e;
  }
}

// Element i of a lane's registers is expert (i·32 + lane) (V = 1) or,
// with spans of V elements, (i/V·32 + lane)·V + i%V.
// 32-bit: the warp path serves E <= GATING_WARP_MAX_E.
template <int V>
__device__ __forceinline__ int expert_of(int i, int lane) {
  return ((i / V) * 32 + lane) * V + i % V;
}

// A lane's best M selection keys, largest first, equal keys in ascending
// expert order, with their experts; empty entries have the key 0, below
// every real key.
template <int M>
struct LaneBest {
  uint32_t key[M], e[M];

  // Refills with the lane's best M of key[] (element i: expert_of<V>(i,
  // lane)), keeping only those ranked after `bound` (a zk_rank_key) when
  // BOUNDED.  Elements come in ascending expert order and go behind every
  // entry with an equal key, so ties stay in expert order.
  template <int PER, int V, bool BOUNDED>
  __device__ __forceinline__ void refill(const uint32_t (&keys)[PER], int lane, uint64_t bound) {
#pragma unroll
    for (int m = 0; m < M; m++) key[m] = 0, e[m] = 0;
#pragma unroll
    for (int i = 0; i < PER; i++) {
      const uint32_t k = keys[i], x = (uint32_t)expert_of<V>(i, lane);
      if (BOUNDED && ((uint64_t)k << 32 | ~x) >= bound) continue;
#pragma unroll
      for (int m = M - 1; m > 0; m--) {  // downwards: entry m - 1 is still the old one
        if (k > key[m - 1]) key[m] = key[m - 1], e[m] = e[m - 1];
        else if (k > key[m]) key[m] = k, e[m] = x;
      }
      if (k > key[0]) key[0] = k, e[0] = x;
    }
  }

  __device__ __forceinline__ void pop() {
#pragma unroll
    for (int m = 0; m + 1 < M; m++) key[m] = key[m + 1], e[m] = e[m + 1];
    key[M - 1] = 0;
  }
};

// The k-th largest of the 32 lanes' values (k in 1..32), in every lane: a
// bitonic sort of the warp, descending, then lane k - 1's value.
__device__ __forceinline__ uint32_t warp_kth_largest(uint32_t v, int lane, int k) {
#pragma unroll
  for (int size = 2; size <= 32; size <<= 1) {
#pragma unroll
    for (int stride = size >> 1; stride; stride >>= 1) {
      const uint32_t other = __shfl_xor_sync(0xffffffffu, v, stride);
      // Runs of `size` lanes alternate direction; the last one descends.
      const bool keep_max = ((lane & size) == 0) == ((lane & stride) == 0);
      v = keep_max ? max(v, other) : min(v, other);
    }
  }
  return __shfl_sync(0xffffffffu, v, k - 1);
}

// Wide rows (PER >= 8 keys a lane): the k winners from a few candidates.
// The floor is the k-th largest of the lanes' maxima: those k maxima are
// k distinct experts at or above it, so every winner is too.  The experts
// at or above the floor (typically k plus a few) are gathered one a lane,
// lane by lane, and the rounds run over them as the sorted-lane path
// does (largest key first, equal keys by the lower expert): the same
// winners in the same order, from ~5 instructions an expert instead of an
// insertion into each lane's sorted M.  Returns false, with nothing
// chosen, when more than 32 experts reach the floor (ties): the caller
// then takes the sorted-lane path.
template <int PER, int V>
__device__ __forceinline__ bool select_candidates(const uint32_t (&key)[PER], int lane, int64_t k, uint32_t &my_e,
                                                  uint32_t &my_key, float *sum) {
  __shared__ uint32_t cand_key[GATING_WARPS][32], cand_e[GATING_WARPS][32];
  uint32_t lane_max = 0;
#pragma unroll
  for (int i = 0; i < PER; i++) lane_max = max(lane_max, key[i]);
  // At least 1: key 0 marks an empty slot, never a candidate.
  const uint32_t floor_key = max(warp_kth_largest(lane_max, lane, (int)k), 1u);
  int mine = 0;
#pragma unroll
  for (int i = 0; i < PER; i++) mine += key[i] >= floor_key;
  const int total = (int)__reduce_add_sync(0xffffffffu, (unsigned)mine);
  if (total > 32) return false;
  const int warp = threadIdx.x >> 5, first = zk_warp_inclusive_sum(mine) - mine;
  uint32_t *keys_at = &cand_key[warp][first], *experts_at = &cand_e[warp][first];
#pragma unroll
  for (int i = 0; i < PER; i++)
    if (key[i] >= floor_key) *keys_at++ = key[i], *experts_at++ = (uint32_t)expert_of<V>(i, lane);
  __syncwarp();
  uint32_t ck = lane < total ? cand_key[warp][lane] : 0u, ce = lane < total ? cand_e[warp][lane] : 0u;
  for (int r = 0; r < k; r++) {
    const uint32_t hi = __reduce_max_sync(0xffffffffu, ck);
    const uint32_t lo = __reduce_max_sync(0xffffffffu, ck == hi ? ~ce : 0u);
    if (lane == r) my_e = ~lo, my_key = hi;
    if (sum) *sum += zk_order_key_value(hi);
    if (ck == hi && ~ce == lo) ck = 0;
  }
  return true;
}

template <typename T, int PER, int V, int M>
__global__ void __launch_bounds__(GATING_WARPS * 32) gating_warp_kernel(GatingJob j) {
  int lane = threadIdx.x & 31;
  int64_t row = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= j.rows) return;
  const int E = (int)j.E;  // <= GATING_WARP_MAX_E
  const T *x = (const T *)j.logits + row * j.x_stride;
  // The logits and the bias are loaded together, so that a decode call
  // waits for memory once, not twice.
  float s[PER], b[PER];
#pragma unroll
  for (int i = 0; i < PER; i += V) {
    const int e = expert_of<V>(i, lane);
    if (V > 1 && e < E) {
      float part[V];
      zk_ld_span<T, V>(x + e, part);
#pragma unroll
      for (int t = 0; t < V; t++) s[i + t] = part[t];
    } else {
#pragma unroll
      for (int t = 0; t < V; t++) s[i + t] = e + t < E ? zk_ld(x + e + t) : -INFINITY;
    }
    if (j.bias) {
      float part[V];
      if (V > 1 && e < E) {
        zk_ld_param_span<V>(j.bias, j.bias_dtype, e, j.bias_vec, part);
      } else {
#pragma unroll
        for (int t = 0; t < V; t++) part[t] = e + t < E ? zk_ld_param(j.bias, j.bias_dtype, e + t) : 0.0f;
      }
#pragma unroll
      for (int t = 0; t < V; t++) b[i + t] = part[t];
    }
  }
  // The softmax: the row maximum as one integer max-reduction of its order
  // key (NaN above +Inf, as nan_max), e^(x - m) by one ex2.approx
  // (zk_exp_shifted: within ROW), and one reciprocal of the sum instead of
  // a division an expert.
  float m = 0.0f, inv_sum = 1.0f;
  if (j.sigmoid) {
#pragma unroll
    for (int i = 0; i < PER; i++) s[i] = zk_sigmoid_f(s[i]);
  } else {
    float lane_m = -INFINITY;
#pragma unroll
    for (int i = 0; i < PER; i++)
      if (expert_of<V>(i, lane) < E) lane_m = nan_max(lane_m, s[i]);
    m = zk_order_key_value(__reduce_max_sync(0xffffffffu, zk_order_key(lane_m)));
    float part = 0.0f;
#pragma unroll
    for (int i = 0; i < PER; i++) {
      s[i] = expert_of<V>(i, lane) < E ? zk_exp_shifted(s[i], m) : 0.0f;
      part += s[i];
    }
    inv_sum = 1.0f / zk_warp_sum(part);
#pragma unroll
    for (int i = 0; i < PER; i++) s[i] *= inv_sum;
  }
  // Each expert's selection key (zk_order_key of the score, plus the bias
  // where there is one), once.  Keys of real experts are never 0 (-Inf's
  // order key is not), so 0 marks a lane's empty slots.
  uint32_t key[PER];
#pragma unroll
  for (int i = 0; i < PER; i++) {
    key[i] = expert_of<V>(i, lane) < E ? zk_order_key(j.bias ? s[i] + b[i] : s[i]) : 0;
  }
  // Each lane sorts its best M once; a round is then one warp maximum over
  // the lanes' heads (two hardware max-reductions: the keys, then the
  // complemented experts of the lanes holding the largest key, so ties go
  // to the lower expert) and the winning lane pops its head.  A lane that
  // runs out refills from the keys after its last winner.  Lane r keeps
  // the r-th winner.  When the raw weight is the selection score (no bias
  // subtracted back out) each winner's raw is its key's value: every lane
  // sums them as they come, in selection order (the CPU's order).
  const bool raw_is_sel = !j.bias || !j.select_only;
  uint32_t my_e = 0, my_key = 0;
  float sum = 0.0f;
  // Wide rows try the few candidates above a floor first (select_candidates).
  if (!(PER >= 8 && select_candidates<PER, V>(key, lane, j.k, my_e, my_key, raw_is_sel ? &sum : nullptr))) {
    LaneBest<M> best;
    best.template refill<PER, V, false>(key, lane, 0);
    for (int r = 0; r < j.k; r++) {
      const uint32_t hi = __reduce_max_sync(0xffffffffu, best.key[0]);
      const uint32_t lo = __reduce_max_sync(0xffffffffu, best.key[0] == hi ? ~best.e[0] : 0u);
      if (lane == r) my_e = ~lo, my_key = hi;
      if (raw_is_sel) sum += zk_order_key_value(hi);
      if (best.key[0] == hi && ~best.e[0] == lo) {
        best.pop();
        if (best.key[0] == 0 && r + 1 < j.k) best.template refill<PER, V, true>(key, lane, (uint64_t)hi << 32 | lo);
      }
    }
  }
  float my_raw = 0.0f;
  bool in_order = false;
  if (raw_is_sel) {
    if (lane < j.k) my_raw = zk_order_key_value(my_key);
    // The weights raw·(1/(sum + 1e-20))·scale then fall in selection order
    // (equal raws: lower expert first) whenever that factor is positive
    // and finite: no ranking needed.
    in_order = j.scale > 0.0f && (!j.norm || (sum + 1e-20f > 0.0f && sum < INFINITY));
  } else {
    // select_only with a bias: the winners' scores from their logits
    // again, by the same expressions as above (the same bits).
    if (lane < j.k) {
      const float v = zk_ld(x + my_e);
      my_raw = j.sigmoid ? zk_sigmoid_f(v) : zk_exp_shifted(v, m) * inv_sum;
    }
    sum = zk_warp_sum(my_raw);
  }
  finish_token(j, row, lane, my_e, my_raw, sum, in_order);
}

// Any E: a block per token, the scores recomputed from the logits on each
// of the k rounds (the rows are short enough to stay in L1/L2).
template <typename T>
__global__ void __launch_bounds__(GATING_BLOCK) gating_block_kernel(GatingJob j) {
  __shared__ float scratch[33];
  __shared__ uint64_t keys[GATING_BLOCK / 32];
  __shared__ float raws[GATING_BLOCK / 32];
  int64_t row = blockIdx.x;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const T *x = (const T *)j.logits + row * j.x_stride;
  float m = -INFINITY, sum = 1.0f;
  if (!j.sigmoid) {
    for (int64_t e = threadIdx.x; e < j.E; e += blockDim.x) m = nan_max(m, zk_ld(x + e));
    m = warp_nan_max(m);
    __syncthreads();
    if (lane == 0) scratch[warp] = m;
    __syncthreads();
    m = lane < (int)(blockDim.x >> 5) ? scratch[lane] : -INFINITY;
    m = warp_nan_max(m);
    float part = 0.0f;
    for (int64_t e = threadIdx.x; e < j.E; e += blockDim.x) part += expf(zk_ld(x + e) - m);
    sum = zk_block_sum(part, scratch);
  }
  uint64_t prev = ~(uint64_t)0;
  uint32_t my_e = 0;
  float my_raw = 0.0f;
  for (int r = 0; r < j.k; r++) {
    uint64_t best = 0;
    float raw = 0.0f;
    for (int64_t e = threadIdx.x; e < j.E; e += blockDim.x) {
      float v = zk_ld(x + e), s = j.sigmoid ? zk_sigmoid_f(v) : expf(v - m) / sum;
      float sel = j.bias ? s + zk_ld_param(j.bias, j.bias_dtype, e) : s;
      uint64_t key = zk_rank_key(sel, (uint32_t)e);
      if ((r == 0 || key < prev) && key > best) best = key, raw = j.select_only ? s : sel;
    }
    warp_best(best, raw);
    __syncthreads();
    if (lane == 0) keys[warp] = best, raws[warp] = raw;
    __syncthreads();
    best = lane < (int)(blockDim.x >> 5) ? keys[lane] : 0;
    raw = lane < (int)(blockDim.x >> 5) ? raws[lane] : 0.0f;
    warp_best(best, raw);
    prev = best;
    if (lane == r) my_e = ~(uint32_t)best, my_raw = raw;
  }
  if (warp == 0) finish_token(j, row, lane, my_e, my_raw, zk_warp_sum(lane < j.k ? my_raw : 0.0f), false);
}

// M: the lane's sorted candidates, 4 (k = 8 over 32 lanes rarely puts a
// fifth winner on one lane) or all of them when fewer.  Up to GATING_WARPS
// tokens a block, fewer when that leaves SMs idle: a decode batch's few
// warps then run on as many SMs, not two or three to one.
template <typename T, int PER, int V>
zk_status launch_warp_gating(const GatingJob &j, int sm_count, cudaStream_t stream) {
  int warps = GATING_WARPS;
  while (warps > 1 && j.rows < (int64_t)warps * sm_count) warps /= 2;
  gating_warp_kernel<T, PER, V, (PER < 4 ? PER : 4)><<<zk_div_up(j.rows, warps), warps * 32, 0, stream>>>(j);
  return ZK_OK;
}

// PER registers a lane: the smallest power of two covering E/32.
template <typename T, int V>
zk_status gating_warp(const GatingJob &j, int sm_count, cudaStream_t stream) {
  int64_t per = (j.E + 31) / 32;
  if (per <= 1 && V == 1) return launch_warp_gating<T, 1, 1>(j, sm_count, stream);
  if (per <= 2 && V <= 2) return launch_warp_gating<T, 2, V>(j, sm_count, stream);
  if (per <= 4 && V <= 4) return launch_warp_gating<T, 4, V>(j, sm_count, stream);
  if (per <= 8) return launch_warp_gating<T, 8, V>(j, sm_count, stream);
  if (per <= 16) return launch_warp_gating<T, 16, V>(j, sm_count, stream);
  return launch_warp_gating<T, 32, V>(j, sm_count, stream);
}

// Spans of V experts (V·sizeof(T) bytes, aligned as zk_ld_span needs); the
// bias in spans of V too, one access each where its address allows.
template <typename T, int V>
zk_status gating_span(const GatingJob &j, int sm_count, cudaStream_t stream) {
  GatingJob jv = j;
  const int bias_es = j.bias ? zk_dtype_size(j.bias_dtype) : 1;
  jv.bias_vec = j.bias && (uintptr_t)j.bias % (uintptr_t)zk_span_align(V * bias_es, bias_es) == 0;
  return gating_warp<T, V>(jv, sm_count, stream);
}

template <typename T>
zk_status gating_typed(const GatingJob &j, const zk_rows *x, int sm_count, cudaStream_t stream) {
  constexpr int V = zk_vec<T>::EPV;
  if (j.E > GATING_WARP_MAX_E) {
    gating_block_kernel<T><<<(unsigned)j.rows, GATING_BLOCK, 0, stream>>>(j);
    return ZK_OK;
  }
  // 16-byte vectors when every row is aligned and holds whole vectors; the
  // bias then in spans of V experts, vectors where its address allows.
  if (zk_rows_vec_ok(x) && j.E >= 32 * V) return gating_span<T, V>(j, sm_count, stream);
  // Otherwise 16-bit rows of 128 experts or more in spans of 4 (8 bytes):
  // a decode row of 128 is then one load of logits and one of bias a lane,
  // as in f32, not four scalar loads of each.
  constexpr int V8 = 8 / (int)sizeof(T);
  if (V8 > 1 && V8 < V && j.E >= 32 * V8 && zk_rows_aligned(x, 8) && (x->cols * (int64_t)sizeof(T)) % 8 == 0)
    return gating_span<T, V8>(j, sm_count, stream);
  return gating_warp<T, 1>(j, sm_count, stream);
}

zk_status gating(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const zk_rows *x = &a->t[0];
  GatingJob j = {x->data, x->stride, x->rows, x->cols, a->i[0], a->t[1].data, a->t[1].dtype,
                 (float *)a->t[2].data, (uint32_t *)a->t[3].data, a->t[2].stride, a->t[3].stride, false,
                 a->i[1] == 1, a->i[2] != 0, a->i[3] == 1, a->f[0]};
  const int sms = zk_cuda(ctx)->sm_count;
  switch (x->dtype) {
    case ZK_F32: s = gating_typed<float>(j, x, sms, stream); break;
    case ZK_F16: s = gating_typed<__half>(j, x, sms, stream); break;
    default: s = gating_typed<__nv_bfloat16>(j, x, sms, stream); break;
  }
  return s != ZK_OK ? s : ZK_CUDA_LAUNCHED(call);
}

// ------------------------------------------------------------- dispatch

struct DispatchJob {
  const void *ids;
  zk_dtype id_dtype;
  int64_t id_stride, N, K, E, chunk, chunks;
  int *counts;    // [E, chunks]: pairs of each expert in each chunk, then (scanned) its first row there
  int *counters;  // [chunks, E] warp counters in device memory when E is too large for shared memory, else NULL
  int *totals;    // [E]: the pairs of each expert
  int32_t *offsets, *src, *inv;
  int64_t inv_stride;
  int32_t *row_of;  // [N·K]: each pair's row of x_perm, -1 for a bad id
  int *error_flag;
};

__device__ __forceinline__ int64_t id_at(const DispatchJob &j, int64_t q) {
  int64_t n = zk_idiv(q, j.K), i = n * j.id_stride + (q - n * j.K);
  switch (j.id_dtype) {
    case ZK_U32: return ((const uint32_t *)j.ids)[i];
    case ZK_I64: return ((const int64_t *)j.ids)[i];
    default: return ((const int32_t *)j.ids)[i];
  }
}

// Lane `lane`'s ids of the WALK_TILES tiles of 32 pairs from t (-1 past q1).
#define WALK_TILES (DISPATCH_CHUNK / 32)
__device__ __forceinline__ void load_ids(const DispatchJob &j, int64_t t, int64_t q1, int lane,
                                         int64_t (&ids)[WALK_TILES]) {
#pragma unroll
  for (int b = 0; b < WALK_TILES; b++) {
    const int64_t q = t + b * 32 + lane;
    ids[b] = q < q1 ? id_at(j, q) : -1;
  }
}

// Chunk `chunk`'s first row of each expert e into its counters: the pairs
// of the experts before e (the exclusive sum of the totals: every warp
// sums the E totals itself, cheap next to its chunk as E·chunks is
// bounded, where a separate kernel would cost a launch and a wait) + those
// of e in the chunks before (the scanned counts).  Chunk 0's warp writes
// the expert offsets.
__device__ __forceinline__ void start_counters(const DispatchJob &j, int64_t chunk, int lane, int *mine) {
  int carry = 0;  // the totals of the experts before e0
#pragma unroll 4
  for (int64_t e0 = 0; e0 < j.E; e0 += 32) {
    const int64_t e = e0 + lane;
    const int total = e < j.E ? j.totals[e] : 0, in_chunks_before = e < j.E ? j.counts[e * j.chunks + chunk] : 0;
    const int incl = zk_warp_inclusive_sum(total), first = carry + incl - total;
    if (e < j.E) {
      mine[e] = first + in_chunks_before;
      if (chunk == 0) j.offsets[e] = first;
    }
    carry += __shfl_sync(0xffffffffu, incl, 31);
  }
  if (chunk == 0 && lane == 0) j.offsets[j.E] = carry;
}

// One warp per chunk of j.chunk pairs, in order, its E counters in shared
// memory (or j.counters).  SCATTER = false counts the pairs of each expert
// into counts[e][chunk]; SCATTER = true starts each counter at the chunk's
// first row of e (start_counters) and gives each pair its counter + its
// rank among the earlier lanes of the tile with the same expert.
template <bool SCATTER>
__global__ void dispatch_walk_kernel(DispatchJob j) {
  extern __shared__ int warp_counters[];
  zk_wait_for_primary_grid();   // the second walk is a dependent launch: the scan's counts first
  zk_allow_dependent_launch();  // the next kernel's CTAs may be scheduled now (they wait for this grid)
  const int64_t warp = threadIdx.x >> 5, chunk = (int64_t)blockIdx.x * (blockDim.x >> 5) + warp;
  if (chunk >= j.chunks) return;
  const int lane = threadIdx.x & 31;
  int *mine = j.counters ? j.counters + chunk * j.E : warp_counters + warp * j.E;
  const int64_t q0 = chunk * j.chunk, q1 = min(q0 + j.chunk, j.N * j.K);
  // The ids of WALK_TILES tiles loaded at once (a whole chunk at the usual
  // sizes), the first batch before the counters: the walk then waits for
  // memory once a batch, not once a tile.
  int64_t ids[WALK_TILES];
  load_ids(j, q0, q1, lane, ids);
  if (SCATTER) start_counters(j, chunk, lane, mine);
  else
    for (int64_t e = lane; e < j.E; e += 32) mine[e] = 0;
  __syncwarp();
  for (int64_t g = q0; g < q1; g += 32 * WALK_TILES) {
    if (g != q0) load_ids(j, g, q1, lane, ids);
#pragma unroll
    for (int b = 0; b < WALK_TILES; b++) {  // unrolled: ids[] stays in registers
      const int64_t t = g + b * 32, q = t + lane, e = ids[b];
      if (t >= q1) break;
      bool bad = q < q1 && (e < 0 || e >= j.E);
      if (bad && !SCATTER) atomicOr(j.error_flag, 1);
      int64_t group = bad || q >= q1 ? -1 - (int64_t)lane : e;  // skipped lanes stay alone
      unsigned peers = __match_any_sync(0xffffffffu, (unsigned long long)group);
      int rank = __popc(peers & ((1u << lane) - 1)), size = __popc(peers), base = 0;
      if (group >= 0) {
        base = mine[e];
        if (SCATTER) {
          int p = base + rank;
          j.src[p] = (int32_t)q;
          j.row_of[q] = p;
          if (j.inv) {
            int64_t n = zk_idiv(q, j.K);
            j.inv[n * j.inv_stride + (q - n * j.K)] = p;
          }
        }
      } else if (SCATTER && q < q1) {
        j.row_of[q] = -1;
      }
      __syncwarp();  // every lane has read its expert's count before the leaders move it
      if (group >= 0 && rank == 0) mine[e] = base + size;
      __syncwarp();
    }
  }
  if (!SCATTER)
    for (int64_t e = lane; e < j.E; e += 32) j.counts[e * j.chunks + chunk] = mine[e];
}

// A warp per expert e: the exclusive prefix sums of its row of counts, in
// place (counts[e][c] becomes the pairs of e in the chunks before c), and
// its total.  Rows are read coalesced, SCAN_TILES tiles of 32 at once; the
// tiles' scans are independent, only their carries chain.  (One block
// scanning all E·chunks counts flat took ~37 µs at 32768 counts: a thread's
// 16 counts at a 64-byte stride made each warp access 16 L1 wavefronts,
// all on one SM.)
#define SCAN_TILES 8
__global__ void __launch_bounds__(DISPATCH_SCAN_WARPS * 32) dispatch_scan_kernel(DispatchJob j) {
  zk_wait_for_primary_grid();  // a dependent launch: the first walk's counts first
  zk_allow_dependent_launch();
  const int lane = threadIdx.x & 31;
  const int64_t e = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (e >= j.E) return;
  int *row = j.counts + e * j.chunks, carry = 0;
  for (int64_t c0 = 0; c0 < j.chunks; c0 += 32 * SCAN_TILES) {
    int count[SCAN_TILES], incl[SCAN_TILES];
#pragma unroll
    for (int t = 0; t < SCAN_TILES; t++) {
      const int64_t c = c0 + t * 32 + lane;
      count[t] = c < j.chunks ? row[c] : 0;
    }
#pragma unroll
    for (int t = 0; t < SCAN_TILES; t++) incl[t] = zk_warp_inclusive_sum(count[t]);
#pragma unroll
    for (int t = 0; t < SCAN_TILES; t++) {
      const int64_t c = c0 + t * 32 + lane;
      if (c < j.chunks) row[c] = carry + incl[t] - count[t];
      carry += __shfl_sync(0xffffffffu, incl[t], 31);
    }
  }
  if (lane == 0) j.totals[e] = carry;
}

// A block per token n: x_perm[row_of[n·K + k]] = x[n] for each of its K
// pairs with a row (rows of bad ids are -1: skipped).  Each thread loads
// COPY_UNROLL units of the row (read once: no L1 allocation) before it
// stores any, so that many loads are in flight, not one a thread.  The
// K copies are streaming stores (evict-first): 8× the bytes read, never
// read back here, they should not push x's next rows and row_of out of L2.
#define COPY_UNROLL 4
template <typename U>
__global__ void __launch_bounds__(ROW_THREADS) copy_rows_kernel(const char *__restrict__ x, int64_t x_stride,
                                                                char *__restrict__ out, int64_t out_stride,
                                                                const int32_t *__restrict__ row_of, int64_t K,
                                                                int64_t units) {
  const int64_t n = blockIdx.x;
  const U *from = (const U *)(x + n * x_stride);
  const int32_t *rows = row_of + n * K;
  bool waited = false;
  for (int64_t u0 = threadIdx.x; u0 < units; u0 += (int64_t)blockDim.x * COPY_UNROLL) {
    U v[COPY_UNROLL];
#pragma unroll
    for (int t = 0; t < COPY_UNROLL; t++) {
      const int64_t u = u0 + (int64_t)t * blockDim.x;
      if (u < units) v[t] = __ldcs(from + u);
    }
    // A dependent launch: the rows come from the second walk, so wait for
    // it here, after the first loads.  x is the op's input, final before
    // the first walk began (which this kernel follows), so its first
    // loads run ahead, under the walk's tail.
    if (!waited) zk_wait_for_primary_grid(), waited = true;
    for (int64_t k = 0; k < K; k++) {
      const int32_t p = rows[k];
      if (p < 0) continue;
      U *to = (U *)(out + p * out_stride);
#pragma unroll
      for (int t = 0; t < COPY_UNROLL; t++) {
        const int64_t u = u0 + (int64_t)t * blockDim.x;
        if (u < units) __stcs(to + u, v[t]);
      }
    }
  }
  if (!waited) zk_wait_for_primary_grid();  // every CTA waits: the op ends after the walk
}

// Threads for a row of `units`: one pass of COPY_UNROLL units each where
// the row allows (8 KB of bf16: 128 threads, so more tokens an SM), whole
// warps, at most ROW_THREADS.
static unsigned copy_threads(int64_t units) {
  int64_t t = (zk_div_up(units, COPY_UNROLL) + 31) / 32 * 32;
  return (unsigned)(t < 32 ? 32 : t > ROW_THREADS ? ROW_THREADS : t);
}

zk_status dispatch(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const zk_rows *x = &a->t[0], *ids = &a->t[1], *x_perm = &a->t[2], *inv = &a->t[5];
  int64_t N = ids->rows, K = ids->cols, E = a->t[3].cols - 1, NK = N * K;
  // Chunks of DISPATCH_CHUNK pairs or more: enough warps to spread the
  // walks over the chip, few enough counts ([E, chunks]) for the scan and
  // the scatter warps' sums of the totals.
  int64_t chunk = DISPATCH_CHUNK;
  while (chunk < NK && (E * zk_div_up(NK, chunk) > DISPATCH_COUNTS_MAX || zk_div_up(NK, chunk) > DISPATCH_CHUNKS_MAX))
    chunk *= 2;
  int64_t chunks = (NK + chunk - 1) / chunk;
  DispatchJob j = {ids->data, ids->dtype, ids->stride, N, K, E, chunk, chunks,
                   NULL, NULL, NULL,  // counts, counters, totals: in the workspace, below
                   (int32_t *)a->t[3].data, (int32_t *)a->t[4].data, (int32_t *)inv->data, inv->stride,
                   NULL, zk_cuda(ctx)->error_flag};
  if (!chunks) {  // no pairs: every expert's segment is empty
    ZK_CUDA_TRY(call, cudaMemsetAsync(j.offsets, 0, (size_t)(E + 1) * sizeof(int32_t), stream));
    return ZK_OK;
  }
  // The warps' counters live in shared memory up to DISPATCH_SMEM_E
  // experts, else in the workspace.
  const bool shared = E <= DISPATCH_SMEM_E;
  // Workspace: the counts, the totals, the pairs' rows, then any device
  // counters.
  size_t count_bytes = (size_t)(chunks * E) * sizeof(int), total_bytes = (size_t)E * sizeof(int);
  size_t row_bytes = (size_t)NK * sizeof(int32_t), counter_bytes = shared ? 0 : count_bytes;
  j.counts = (int *)zk_cuda_workspace(ctx, call, count_bytes + total_bytes + row_bytes + counter_bytes, &s);
  if (!j.counts) return s;
  j.totals = j.counts + chunks * E;
  j.row_of = (int32_t *)(j.totals + E);
  if (!shared) j.counters = (int *)(j.row_of + NK);
  const int warps = DISPATCH_WARPS;
  const unsigned walk_blocks = zk_div_up(chunks, warps);
  const size_t smem = shared ? (size_t)warps * (size_t)E * sizeof(int) : 0;
  // The kernels after the first are dependent launches (common.cuh): each
  // one's launch and start overlap the tail of the one before, a few µs a
  // boundary that the short index kernels would otherwise pay in full.
  dispatch_walk_kernel<false><<<walk_blocks, warps * 32, smem, stream>>>(j);
  if (E > 0)  // E = 0: every id is bad, the offsets one 0
    zk_launch_dependent(ctx, dispatch_scan_kernel, dim3(zk_div_up(E, DISPATCH_SCAN_WARPS)),
                        dim3(DISPATCH_SCAN_WARPS * 32), 0, stream, j);
  zk_launch_dependent(ctx, dispatch_walk_kernel<true>, dim3(walk_blocks), dim3(warps * 32), smem, stream, j);
  if (zk_present(x_perm) && x->cols > 0) {
    int es = zk_dtype_size(x->dtype);
    int64_t bytes = x->cols * es;
    const char *xs = (const char *)x->data;
    char *out = (char *)x_perm->data;
    const int64_t xs_stride = x->stride * es, out_stride = x_perm->stride * es;
    if (zk_rows_vec_ok(x) && zk_rows_vec_ok(x_perm))
      zk_launch_dependent(ctx, copy_rows_kernel<uint4>, dim3((unsigned)N), dim3(copy_threads(bytes / 16)), 0, stream,
                          xs, xs_stride, out, out_stride, (const int32_t *)j.row_of, K, bytes / 16);
    else if (es == 4)
      zk_launch_dependent(ctx, copy_rows_kernel<uint32_t>, dim3((unsigned)N), dim3(copy_threads(bytes / 4)), 0, stream,
                          xs, xs_stride, out, out_stride, (const int32_t *)j.row_of, K, bytes / 4);
    else
      zk_launch_dependent(ctx, copy_rows_kernel<uint16_t>, dim3((unsigned)N), dim3(copy_threads(bytes / 2)), 0, stream,
                          xs, xs_stride, out, out_stride, (const int32_t *)j.row_of, K, bytes / 2);
  }
  return ZK_CUDA_LAUNCHED(call);
}

// -------------------------------------------------------------- combine

struct CombineJob {
  const void *src;           // expert_out [N, K·D] or y_perm [P, D]
  int64_t src_stride, src_rows;
  const void *weights;       // NULL: ones
  zk_dtype w_dtype;
  int64_t w_stride;
  const int32_t *rows;       // inv_idx (permuted), NULL: catalog layout
  int64_t rows_stride;
  void *y;
  int64_t y_stride, N, K, D;
  int *error_flag;
};

// y_n = Σ_k w_{n,k}·row(n, k), U elements a thread-step (16 bytes or 1).
template <typename T, int U>
__global__ void __launch_bounds__(ROW_THREADS) combine_kernel(CombineJob j) {
  int64_t n = blockIdx.x;
  for (int64_t d = (int64_t)threadIdx.x * U; d < j.D; d += (int64_t)blockDim.x * U) {
    float acc[U];
#pragma unroll
    for (int t = 0; t < U; t++) acc[t] = 0.0f;
    for (int64_t k = 0; k < j.K; k++) {
      const T *row;
      if (j.rows) {
        int64_t p = j.rows[n * j.rows_stride + k];
        if (p < 0 || p >= j.src_rows) {
          if (d == (int64_t)threadIdx.x * U) atomicOr(j.error_flag, 1);
          continue;
        }
        row = (const T *)j.src + p * j.src_stride;
      } else {
        row = (const T *)j.src + n * j.src_stride + k * j.D;
      }
      float w = j.weights ? zk_ld_param(j.weights, j.w_dtype, n * j.w_stride + k) : 1.0f, v[U];
      zk_ld_span<T, U>(row + d, v);
#pragma unroll
      for (int t = 0; t < U; t++) acc[t] = fmaf(w, v[t], acc[t]);
    }
    zk_st_span<T, U>((T *)j.y + n * j.y_stride + d, acc);
  }
}

template <typename T>
zk_status combine_typed(const CombineJob &j, bool vec, cudaStream_t stream) {
  constexpr int V = zk_vec<T>::EPV;
  if (vec) combine_kernel<T, V><<<(unsigned)j.N, ROW_THREADS, 0, stream>>>(j);
  else combine_kernel<T, 1><<<(unsigned)j.N, ROW_THREADS, 0, stream>>>(j);
  return ZK_OK;
}

// Every row the kernel reads or writes 16-byte aligned, whole vectors.
static bool vec_rows(const zk_rows *src, const zk_rows *y, int64_t D) {
  int es = zk_dtype_size(y->dtype);
  return zk_rows_vec_ok(src) && zk_rows_vec_ok(y) && (D * es) % 16 == 0;
}

zk_status combine(zk_ctx *ctx, const zk_call *call, const zk_rows *src, const zk_rows *w, const zk_rows *rows,
                  const zk_rows *y, int64_t K) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  CombineJob j = {src->data, src->stride, src->rows, w->data, w->dtype, w->stride,
                  rows ? (const int32_t *)rows->data : NULL, rows ? rows->stride : 0, y->data, y->stride,
                  y->rows, K, y->cols, zk_cuda(ctx)->error_flag};
  bool vec = vec_rows(src, y, y->cols);
  switch (y->dtype) {
    case ZK_F32: s = combine_typed<float>(j, vec, stream); break;
    case ZK_F16: s = combine_typed<__half>(j, vec, stream); break;
    default: s = combine_typed<__nv_bfloat16>(j, vec, stream); break;
  }
  return s != ZK_OK ? s : ZK_CUDA_LAUNCHED(call);
}

// ------------------------------------------------------------ gradients

struct GradJob {
  const void *src;            // expert_out [N, K·D] or y_perm [P, D]
  int64_t src_stride;
  const void *weights;        // NULL: ones
  zk_dtype w_dtype;
  int64_t w_stride;
  const void *dy;
  int64_t dy_stride;
  void *dsrc;                 // dexpert / dy_perm, NULL: not computed
  int64_t dsrc_stride;
  void *dw;                   // dweights, NULL: not computed
  zk_dtype dw_dtype;
  int64_t dw_stride;
  const int32_t *perm;        // src_idx (permuted), NULL: catalog layout
  int64_t K, D, pairs;
  int *error_flag;
};

// A block per pair b: catalog (n, j) = (b / K, b mod K), its row the j-th
// of expert_out's row n; permuted (n, j) from src_idx[b], its row b.
template <typename T, int U>
__global__ void __launch_bounds__(ROW_THREADS) pair_grad_kernel(GradJob g) {
  __shared__ float scratch[33];
  int64_t b = blockIdx.x, q = g.perm ? g.perm[b] : b;
  if (q < 0 || q >= g.pairs) {
    if (threadIdx.x == 0) atomicOr(g.error_flag, 1);
    return;
  }
  int64_t n = q / g.K, jj = q - n * g.K;
  int64_t row = g.perm ? b : n, col0 = g.perm ? 0 : jj * g.D;
  const T *e = (const T *)g.src + row * g.src_stride + col0, *dy = (const T *)g.dy + n * g.dy_stride;
  T *out = g.dsrc ? (T *)g.dsrc + row * g.dsrc_stride + col0 : NULL;
  float w = g.weights ? zk_ld_param(g.weights, g.w_dtype, n * g.w_stride + jj) : 1.0f, dot = 0.0f;
  for (int64_t d = (int64_t)threadIdx.x * U; d < g.D; d += (int64_t)blockDim.x * U) {
    float v[U], o[U];
    zk_ld_span<T, U>(dy + d, v);
    if (out) {
#pragma unroll
      for (int t = 0; t < U; t++) o[t] = w * v[t];
      zk_st_span<T, U>(out + d, o);
    }
    if (g.dw) {
      float x[U];
      zk_ld_span<T, U>(e + d, x);
#pragma unroll
      for (int t = 0; t < U; t++) dot = fmaf(v[t], x[t], dot);
    }
  }
  if (g.dw) {
    dot = zk_block_sum(dot, scratch);
    if (threadIdx.x == 0) zk_st_param(g.dw, g.dw_dtype, n * g.dw_stride + jj, dot);
  }
}

zk_status pair_grads(zk_ctx *ctx, const zk_call *call, const GradJob &g, zk_dtype dt, bool vec, int64_t blocks) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  unsigned grid = (unsigned)blocks;
  switch (dt) {
    case ZK_F32:
      if (vec) pair_grad_kernel<float, 4><<<grid, ROW_THREADS, 0, stream>>>(g);
      else pair_grad_kernel<float, 1><<<grid, ROW_THREADS, 0, stream>>>(g);
      break;
    case ZK_F16:
      if (vec) pair_grad_kernel<__half, 8><<<grid, ROW_THREADS, 0, stream>>>(g);
      else pair_grad_kernel<__half, 1><<<grid, ROW_THREADS, 0, stream>>>(g);
      break;
    default:
      if (vec) pair_grad_kernel<__nv_bfloat16, 8><<<grid, ROW_THREADS, 0, stream>>>(g);
      else pair_grad_kernel<__nv_bfloat16, 1><<<grid, ROW_THREADS, 0, stream>>>(g);
      break;
  }
  return ZK_CUDA_LAUNCHED(call);
}

// 16-byte vectors when every row touched is aligned: the D-element spans
// of src, dy and dsrc.
static bool vec_spans(const zk_rows *src, const zk_rows *dy, const zk_rows *dsrc, int64_t D) {
  int es = zk_dtype_size(dy->dtype);
  if ((D * es) % 16) return false;
  const zk_rows *ts[3] = {src, dy, dsrc};
  for (const zk_rows *t : ts)
    if (zk_present(t) && ((uintptr_t)t->data % 16 || (t->stride * es) % 16)) return false;
  return true;
}

}  // namespace

extern "C" zk_status zk_cuda_topk_gating_softmax(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, topk_gating_softmax);
  return gating(ctx, call, a);
}

extern "C" zk_status zk_cuda_top2_gating_softmax(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, top2_gating_softmax);
  return gating(ctx, call, a);
}

extern "C" zk_status zk_cuda_moe_dispatch(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, moe_dispatch);
  return dispatch(ctx, call, a);
}

extern "C" zk_status zk_cuda_moe_combine(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, moe_combine);
  return combine(ctx, call, &a->t[0], &a->t[1], NULL, &a->t[2], a->i[0]);
}

extern "C" zk_status zk_cuda_moe_combine_permuted(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, moe_combine_permuted);
  return combine(ctx, call, &a->t[0], &a->t[1], &a->t[2], &a->t[3], a->t[2].cols);
}

extern "C" zk_status zk_cuda_moe_combine_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, moe_combine_grad);
  const zk_rows *ex = &a->t[0], *w = &a->t[1], *dy = &a->t[2], *dex = &a->t[3], *dw = &a->t[4];
  int64_t K = a->i[0], D = dy->cols, N = dy->rows;
  GradJob g = {ex->data, ex->stride, w->data, w->dtype, w->stride, dy->data, dy->stride, dex->data, dex->stride,
               dw->data, dw->dtype, dw->stride, NULL, K, D, N * K, zk_cuda(ctx)->error_flag};
  return pair_grads(ctx, call, g, dy->dtype, vec_spans(ex, dy, dex, D), N * K);
}

extern "C" zk_status zk_cuda_moe_combine_permuted_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, moe_combine_permuted_grad);
  const zk_rows *yp = &a->t[0], *w = &a->t[1], *src = &a->t[2], *dy = &a->t[3], *dyp = &a->t[4], *dw = &a->t[5];
  int64_t K = a->i[0], D = dy->cols, M = src->cols;
  GradJob g = {yp->data, yp->stride, w->data, w->dtype, w->stride, dy->data, dy->stride, dyp->data, dyp->stride,
               dw->data, dw->dtype, dw->stride, (const int32_t *)src->data, K, D, M, zk_cuda(ctx)->error_flag};
  return pair_grads(ctx, call, g, dy->dtype, vec_spans(yp, dy, dyp, D), M);
}
