// The image family on CUDA (spec §15), NHWC.
//
// Both kernels coalesce along the contiguous channel dimension: a thread
// owns E adjacent channels of one output column (E = one 16-byte vector
// when C and the data allow it, else 1), consecutive threads take
// consecutive channel groups and then columns, so a warp reads and writes
// contiguous memory.
//
// resize_bilinear: one output row (n, oy) per grid row; its source rows and
// λy are uniform, the source columns and λx come from the shared f32
// coordinate code (zk_resize_coord), so both backends use the same weights.
// Each output vector reads four input vectors (L1/L2 hits for neighbours):
// DRAM sees about one read of x and one write of y.  Upscales in y take
// resize_up_kernel, which blends each source row horizontally once for
// all the output rows of a band that read it.
//
// depthwise_conv_3x3: a thread walks a tile of kTile output rows of one
// column, keeping the 3x3 input window in registers and its 9 weights (and
// bias) in registers too: each step loads one new input row's three
// columns (the neighbours' loads hit L1), so DRAM sees about one read of x
// and one write of y.  Taps outside the image are left out; the others are
// summed in order ky, kx, then the bias.  Where channels come in 16-byte
// vectors, conv_staged_kernel walks the same way from input rows staged in
// shared memory by asynchronous copies, for more bytes in flight.
//
// Entry points follow the slots of src/api/image.c.
#include <type_traits>

#include "common.cuh"

namespace {

// ------------------------------------------------------------ resize

struct ResizeParams {
  const void *x;
  void *y;
  int64_t N, H, W, C, OH, OW;
  float sy, sx;
  int align;
};

template <typename T, int E>
__global__ void __launch_bounds__(256) resize_kernel(ResizeParams p) {
  const int64_t CV = p.C / E, per_row = p.OW * CV;
  const bool narrow = per_row < ((int64_t)1 << 31);
  for (int64_t row = blockIdx.y; row < p.N * p.OH; row += gridDim.y) {
    const int64_t n = row / p.OH, oy = row - n * p.OH;
    int64_t y0, y1;
    float ly;
    zk_resize_coord(oy, p.sy, p.align, p.H, &y0, &y1, &ly);
    const T *r0 = (const T *)p.x + (n * p.H + y0) * p.W * p.C, *r1 = (const T *)p.x + (n * p.H + y1) * p.W * p.C;
    T *out = (T *)p.y + row * p.OW * p.C;
    for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < per_row; q += (int64_t)gridDim.x * blockDim.x) {
      const int64_t ox = narrow ? (int64_t)((uint32_t)q / (uint32_t)CV) : q / CV, c0 = (q - ox * CV) * E;
      int64_t x0, x1;
      float lx;
      zk_resize_coord(ox, p.sx, p.align, p.W, &x0, &x1, &lx);
      float a0[E], a1[E], b0[E], b1[E], o[E];
      zk_ld_span<T, E>(r0 + x0 * p.C + c0, a0);
      zk_ld_span<T, E>(r0 + x1 * p.C + c0, a1);
      zk_ld_span<T, E>(r1 + x0 * p.C + c0, b0);
      zk_ld_span<T, E>(r1 + x1 * p.C + c0, b1);
      const float wx0 = 1.0f - lx, wy0 = 1.0f - ly;
#pragma unroll
      for (int e = 0; e < E; e++) o[e] = wy0 * (wx0 * a0[e] + lx * a1[e]) + ly * (wx0 * b0[e] + lx * b1[e]);
      zk_st_span<T, E>(out + ox * p.C + c0, o);
    }
  }
}

// Upscaling in y: consecutive output rows share source rows (a 2x upscale
// reads each source row for about four output rows, two as y0 and two as
// y1), so the horizontal blend of a source row, h = (1-λx)·v0 + λx·v1, is
// worth making once and reusing.  A block walks a band of kResizeBand
// output rows of one image; a thread keeps one output column's blends of
// the two source rows the current output row reads (h0 of y0, h1 of y1)
// and makes a new one only when the band moves to a new source row: at 2x
// about one blend of two vector loads every two output rows, where
// resize_kernel loads and converts four vectors for every output vector
// (ncu: issue-bound at 68% of copy in bf16).  The column's coordinates
// are computed once a band; the rows' come from a table in shared memory.
// y = (1-λy)·h0 + λy·h1: the same formula and order as resize_kernel.
constexpr int kResizeBand = 16;

struct ResizeRow {
  int y0, y1;    // source rows
  float ly, wy;  // λy and 1 - λy
};

// h = (1-λx)·row[x0] + λx·row[x1] for E channels.
template <typename T, int E>
__device__ __forceinline__ void blend_row(const T *row, int64_t x0, int64_t x1, float wx, float lx, float (&h)[E]) {
  float a[E], b[E];
  zk_ld_span<T, E>(row + x0, a);
  zk_ld_span<T, E>(row + x1, b);
#pragma unroll
  for (int e = 0; e < E; e++) h[e] = wx * a[e] + lx * b[e];
}

template <typename T, int E>
__global__ void __launch_bounds__(256) resize_up_kernel(ResizeParams p) {
  __shared__ ResizeRow band_rows[kResizeBand];
  const int64_t CV = p.C / E, per_row = p.OW * CV, bands = (p.OH + kResizeBand - 1) / kResizeBand;
  const int64_t in_row = p.W * p.C, out_row = p.OW * p.C;
  const bool narrow = per_row < ((int64_t)1 << 31);
  for (int64_t t = blockIdx.y; t < p.N * bands; t += gridDim.y) {
    const int64_t n = t / bands, oy0 = (t - n * bands) * kResizeBand;
    const int rows = p.OH - oy0 < kResizeBand ? (int)(p.OH - oy0) : kResizeBand;
    __syncthreads();  // every thread is done with the previous band's table
    if (threadIdx.x < rows) {
      int64_t y0, y1;
      float ly;
      zk_resize_coord(oy0 + threadIdx.x, p.sy, p.align, p.H, &y0, &y1, &ly);
      band_rows[threadIdx.x] = {(int)y0, (int)y1, ly, 1.0f - ly};
    }
    __syncthreads();
    const T *img = (const T *)p.x + n * p.H * in_row;
    T *out = (T *)p.y + (n * p.OH + oy0) * out_row;
    for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < per_row; q += (int64_t)gridDim.x * blockDim.x) {
      const int64_t ox = narrow ? (int64_t)((uint32_t)q / (uint32_t)CV) : q / CV, c0 = (q - ox * CV) * E;
      int64_t x0, x1;
      float lx;
      zk_resize_coord(ox, p.sx, p.align, p.W, &x0, &x1, &lx);
      x0 = x0 * p.C + c0, x1 = x1 * p.C + c0;
      const float wx = 1.0f - lx;
      float h0[E], h1[E];
      int held0 = -1, held1 = -1;  // the source rows h0 and h1 blend
      T *o = out + ox * p.C + c0;
      for (int k = 0; k < rows; k++, o += out_row) {
        const ResizeRow r = band_rows[k];  // the same for the whole block: no divergence
        if (r.y0 != held0) {
          if (r.y0 == held1) {
#pragma unroll
            for (int e = 0; e < E; e++) h0[e] = h1[e];
          } else {
            blend_row<T, E>(img + r.y0 * in_row, x0, x1, wx, lx, h0);
          }
          held0 = r.y0;
        }
        if (r.y1 != held1) {
          if (r.y1 == held0) {
#pragma unroll
            for (int e = 0; e < E; e++) h1[e] = h0[e];
          } else {
            blend_row<T, E>(img + r.y1 * in_row, x0, x1, wx, lx, h1);
          }
          held1 = r.y1;
        }
        float v[E];
#pragma unroll
        for (int e = 0; e < E; e++) v[e] = r.wy * h0[e] + r.ly * h1[e];
        zk_st_span<T, E>(o, v);
      }
    }
  }
}

template <typename T, int E>
void launch_resize(zk_ctx *ctx, cudaStream_t stream, const ResizeParams &p) {
  const int threads = 256;
  int64_t per_row = p.OW * (p.C / E), gx = (per_row + threads - 1) / threads;
  // Enough blocks in flight to fill the chip, no more (grid-stride loops).
  int64_t cap = (int64_t)zk_cuda(ctx)->sm_count * 64;
  if (p.OH > p.H && p.H < INT32_MAX) {
    int64_t bands = p.N * ((p.OH + kResizeBand - 1) / kResizeBand), gy = bands < 65535 ? bands : 65535;
    if (gx * gy > cap) gy = cap / gx > 0 ? cap / gx : 1;
    resize_up_kernel<T, E><<<dim3((unsigned)gx, (unsigned)gy), threads, 0, stream>>>(p);
    return;
  }
  int64_t rows = p.N * p.OH, gy = rows < 65535 ? rows : 65535;
  if (gx * gy > cap) gx = cap / gy > 0 ? cap / gy : 1;
  resize_kernel<T, E><<<dim3((unsigned)gx, (unsigned)gy), threads, 0, stream>>>(p);
}

// ------------------------------------------------------------ depthwise 3x3

constexpr int kTile = 16;  // output rows a thread walks

struct ConvParams {
  const void *x, *w, *bias;
  void *y;
  zk_dtype wt, bt;
  int64_t w_stride;  // elements from one [ky][kx] row of w to the next
  int64_t N, H, W, C;
  bool w_vec, b_vec;  // parameter spans aligned for vector loads
};

// One input row's three columns j-1, j, j+1 (those inside the image).
template <typename T, int E>
__device__ __forceinline__ void load_row(const T *row, int64_t j, int64_t C, const bool (&col_ok)[3],
                                         float (&v)[3][E]) {
#pragma unroll
  for (int kx = 0; kx < 3; kx++)
    if (col_ok[kx]) zk_ld_span<T, E>(row + (j + kx - 1) * C, v[kx]);
}

// Channels c0 .. c0+E-1's nine taps (w[ky*3 + kx]) and bias (b, unread
// when there is none), held by a thread for all the rows it walks.
template <int E>
__device__ __forceinline__ void load_taps(const ConvParams &p, int64_t c0, float (&w)[9][E], float (&b)[E]) {
#pragma unroll
  for (int k = 0; k < 9; k++) zk_ld_param_span<E>(p.w, p.wt, k * p.w_stride + c0, p.w_vec, w[k]);
  if (p.bias) zk_ld_param_span<E>(p.bias, p.bt, c0, p.b_vec, b);
}

template <typename T, int E>
__global__ void __launch_bounds__(256) conv_kernel(ConvParams p) {
  const int64_t CV = p.C / E, per_row = p.W * CV, tiles = (p.H + kTile - 1) / kTile;
  const bool narrow = per_row < ((int64_t)1 << 31);
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < per_row; q += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = narrow ? (int64_t)((uint32_t)q / (uint32_t)CV) : q / CV, c0 = (q - j * CV) * E;
    float w[9][E], b[E];
    load_taps<E>(p, c0, w, b);
    const bool col_ok[3] = {j > 0, true, j + 1 < p.W};
    for (int64_t t = blockIdx.y; t < p.N * tiles; t += gridDim.y) {
      const int64_t n = t / tiles, i0 = (t - n * tiles) * kTile;
      const int64_t i1 = i0 + kTile < p.H ? i0 + kTile : p.H;
      const T *img = (const T *)p.x + n * p.H * p.W * p.C + c0;
      T *out = (T *)p.y + n * p.H * p.W * p.C + c0;
      auto row_at = [&](int64_t i) { return img + i * p.W * p.C; };
      // Output row i from input rows i-1, i, i+1 (above, mid, below),
      // first loading row i+2 into `ahead`, so two rows of loads are in
      // flight while one is computed.  Taps in order (ky, kx), each a fused
      // multiply-add into f32, then the bias (spec 15.2's order).
      auto step = [&](int64_t i, const float (&above)[3][E], const float (&mid)[3][E], const float (&below)[3][E],
                      float (&ahead)[3][E]) {
        if (i + 2 < p.H && i + 1 < i1) load_row<T, E>(row_at(i + 2), j, p.C, col_ok, ahead);
        const bool row_ok[3] = {i > 0, true, i + 1 < p.H};
        const float(*win[3])[E] = {above, mid, below};
        float acc[E];
#pragma unroll
        for (int e = 0; e < E; e++) acc[e] = 0.0f;
#pragma unroll
        for (int ky = 0; ky < 3; ky++)
#pragma unroll
          for (int kx = 0; kx < 3; kx++) {
            if (!row_ok[ky] || !col_ok[kx]) continue;
#pragma unroll
            for (int e = 0; e < E; e++) acc[e] = __fmaf_rn(win[ky][kx][e], w[ky * 3 + kx][e], acc[e]);
          }
        if (p.bias) {
#pragma unroll
          for (int e = 0; e < E; e++) acc[e] += b[e];
        }
        if constexpr (sizeof(T) == 2 && E == 4) zk_st4_packed(out + (i * p.W + j) * p.C, acc);
        else zk_st_span<T, E>(out + (i * p.W + j) * p.C, acc);
      };
      float r0[3][E], r1[3][E], r2[3][E], r3[3][E];
      if (i0 > 0) load_row<T, E>(row_at(i0 - 1), j, p.C, col_ok, r0);
      load_row<T, E>(row_at(i0), j, p.C, col_ok, r1);
      if (i0 + 1 < p.H) load_row<T, E>(row_at(i0 + 1), j, p.C, col_ok, r2);
      if constexpr (sizeof(T) == 2) {
        // 16-bit: the four rows' roles rotate by unrolling (renaming, not
        // register moves): measured 28 -> 37% of copy in bf16, where the
        // loop issued ~180 instructions per output span, a quarter of them
        // window copies.  In f32 the same unrolling fell from 69 to 52%.
        for (int64_t i = i0; i < i1; i += 4) {
          step(i, r0, r1, r2, r3);
          if (i + 1 < i1) step(i + 1, r1, r2, r3, r0);
          if (i + 2 < i1) step(i + 2, r2, r3, r0, r1);
          if (i + 3 < i1) step(i + 3, r3, r0, r1, r2);
        }
      } else {
        for (int64_t i = i0; i < i1; i++) {
          step(i, r0, r1, r2, r3);
#pragma unroll
          for (int kx = 0; kx < 3; kx++)
#pragma unroll
            for (int e = 0; e < E; e++) r0[kx][e] = r1[kx][e], r1[kx][e] = r2[kx][e], r2[kx][e] = r3[kx][e];
        }
      }
    }
  }
}

// 8 bytes of channels a thread (four 16-bit channels, or two of f32): the
// same sums in the same order, walked by input row.  Input row r,
// converted once, gives output r-1 its last taps (ky = 2; r-1 is then
// stored), output r its ky = 1 and output r+1 its first (ky = 0), each
// accumulator still summing ky, then kx, then the bias.  So a thread
// holds three accumulators (12 floats) where the output-row walk held a
// window of four rows (48), and the rows in flight stay packed (8 bytes a
// column): kAhead rows are loaded ahead where the output-row walk had one
// (ncu, bf16 at 128 registers: 25% occupancy, latency-bound at 33% of
// DRAM).  f32 takes the same walk with two channels a thread:
// conv_kernel's four (36 weights and a window of 48 floats, 124
// registers, one row ahead) stayed at 71% of copy, and the walk with four
// f32 channels took 172 registers (134 for the partial tiles alone).  At
// two, the weights are 18 registers and a column is the same 8 bytes as in
// 16-bit, so the walk's slots are unchanged.
constexpr int kAhead = 3;  // = the accumulators' rotation, so both rotate by renaming

// Channels a thread of the input-row walk: one 8-byte column.
template <typename T>
constexpr int kWalkChannels = 8 / (int)sizeof(T);

// Blocks of 256 an SM the walk's registers are held to (128 registers).
// 16-bit takes 128 either way; f32 at two channels takes 118, and at 3
// blocks (80 registers) spilled 128 bytes in the unrolled full tile.
constexpr int kWalkBlocksPerSm = 2;

// One column's channels of the walk, in storage form, as f32.
template <typename T>
__device__ __forceinline__ void unpack_column(uint2 raw, float (&v)[kWalkChannels<T>]) {
  if constexpr (std::is_same<T, __nv_bfloat16>::value) {
    // A bf16 value is the high half of its f32: the low element of a word
    // by a shift, the high one by a mask, one instruction each (the
    // element-wise load extracts the high one, then shifts it).
    const uint32_t words[2] = {raw.x, raw.y};
#pragma unroll
    for (int h = 0; h < 2; h++) {
      v[2 * h] = __uint_as_float(words[h] << 16);
      v[2 * h + 1] = __uint_as_float(words[h] & 0xffff0000u);
    }
    return;
  }
  union {
    uint2 raw;
    T e[kWalkChannels<T>];
  } u = {raw};
#pragma unroll
  for (int e = 0; e < kWalkChannels<T>; e++) v[e] = zk_type<T>::load(u.e[e]);
}

// One output column of the walk as one 8-byte store (16-bit pairs
// converted two at a time).
template <typename T>
__device__ __forceinline__ void store_column(T *p, const float (&v)[kWalkChannels<T>]) {
  if constexpr (sizeof(T) == 2) zk_st4_packed(p, v);
  else zk_st_span<T, kWalkChannels<T>>(p, v);
}

// A full tile of conv_rows_kernel (kTile output rows i0 .. i0+kTile-1, the
// bulk of a large image): its kTile + 2 input-row steps unrolled, so the
// accumulators and the row slots rotate by renaming and only the first
// and last steps depend on the image's top (row i0-1 missing) and bottom
// (row i0+kTile missing).  No tap is tested: a thread at the left or
// right edge never loads the missing column (its slots stay 0) and holds
// 0 weights for it (zero_missing_columns), and a missing bias is 0.
// Adding 0·0 or 0 leaves a sum unchanged, NaN and Inf included (the
// weights are 0, not the missing inputs' products with them): the values
// of conv_rows_kernel's walk, which leaves those taps out; only a sum that
// underflowed to -0 comes out +0.  row: row i0 at the thread's column
// and channels; out likewise.
template <typename T>
__device__ __forceinline__ void conv_rows_full_tile(const T *row, T *out, int64_t C, int64_t row_stride, bool top,
                                                    bool bottom, const bool (&col_ok)[3],
                                                    const float (&w)[9][kWalkChannels<T>],
                                                    const float (&b)[kWalkChannels<T>]) {
  constexpr int E = kWalkChannels<T>, kSteps = kTile + 2;  // input rows i0-1 .. i0+kTile
  static_assert(kAhead == 3, "slot s % 3 holds step s's row");
  using Packed = uint2;
  auto fetch = [&](const T *r, Packed(&slot)[3]) {
#pragma unroll
    for (int kx = 0; kx < 3; kx++)
      if (col_ok[kx]) slot[kx] = *reinterpret_cast<const Packed *>(r + (kx - 1) * C);
  };
  Packed ring[kAhead][3] = {};
  if (!top) fetch(row - row_stride, ring[0]);
  fetch(row, ring[1]);
  fetch(row + row_stride, ring[2]);
  const T *ahead = row + 2 * row_stride;  // step 3's row
  float acc[3][E];                         // output row i0 + m in acc[m % 3]
#pragma unroll
  for (int s = 0; s < kSteps; s++) {
    float v[3][E];
#pragma unroll
    for (int kx = 0; kx < 3; kx++) unpack_column<T>(ring[s % kAhead][kx], v[kx]);
    if (s + kAhead < kSteps) {
      if (s + kAhead < kSteps - 1 || !bottom) fetch(ahead, ring[s % kAhead]);
      ahead += row_stride;
    }
    const bool present = s == 0 ? !top : s == kSteps - 1 ? !bottom : true;
    // Row i0-1+s: ky = 0 of output s, ky = 1 of output s-1, ky = 2 of
    // output s-2 (outputs counted from i0), which is then complete.
#pragma unroll
    for (int ky = 0; ky < 3; ky++) {
      const int m = s - ky;
      if (m < 0 || m >= kTile) continue;
      if (ky == 0) {
#pragma unroll
        for (int e = 0; e < E; e++) acc[m % 3][e] = 0.0f;
      }
      if (present) {
#pragma unroll
        for (int kx = 0; kx < 3; kx++)
#pragma unroll
          for (int e = 0; e < E; e++) acc[m % 3][e] = __fmaf_rn(v[kx][e], w[ky * 3 + kx][e], acc[m % 3][e]);
      }
      if (ky == 2) {
#pragma unroll
        for (int e = 0; e < E; e++) acc[m % 3][e] += b[e];
        store_column(out, acc[m % 3]);
        out += row_stride;
      }
    }
  }
}

// For conv_rows_full_tile: 0 weights for the columns outside the image.
template <int E>
__device__ __forceinline__ void zero_missing_columns(const bool (&col_ok)[3], float (&w)[9][E]) {
#pragma unroll
  for (int k = 0; k < 9; k++)
    if (!col_ok[k % 3]) {
#pragma unroll
      for (int e = 0; e < E; e++) w[k][e] = 0.0f;
    }
}

template <typename T>
__global__ void __launch_bounds__(256, kWalkBlocksPerSm) conv_rows_kernel(ConvParams p) {
  constexpr int E = kWalkChannels<T>;
  using Packed = uint2;  // one column's channels
  const int64_t CV = p.C / E, per_row = p.W * CV, tiles = (p.H + kTile - 1) / kTile;
  const bool narrow = per_row < ((int64_t)1 << 31);
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < per_row; q += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = narrow ? (int64_t)((uint32_t)q / (uint32_t)CV) : q / CV, c0 = (q - j * CV) * E;
    float w[9][E], b[E] = {};
    load_taps<E>(p, c0, w, b);
    const bool col_ok[3] = {j > 0, true, j + 1 < p.W};
    zero_missing_columns<E>(col_ok, w);  // the walk below skips those taps anyway
    for (int64_t t = blockIdx.y; t < p.N * tiles; t += gridDim.y) {
      // Row numbers in 32 bits (the host sends H < 2^31 - kTile only).
      const int64_t n = t / tiles, row_stride = p.W * p.C;
      const int H = (int)p.H, i0 = (int)(t - n * tiles) * kTile, i1 = i0 + kTile < H ? i0 + kTile : H;
      const T *img = (const T *)p.x + (n * p.H * p.W + j) * p.C + c0;
      T *out = (T *)p.y + (n * p.H * p.W + j) * p.C + c0;
      if (i1 - i0 == kTile) {
        conv_rows_full_tile<T>(img + i0 * row_stride, out + i0 * row_stride, p.C, row_stride, i0 == 0, i1 == H, col_ok,
                               w, b);
        continue;
      }
      // Row r's three columns into slot, for the rows the tile reads.
      auto fetch = [&](int r, Packed (&slot)[3]) {
        if (r < 0 || r >= H || r > i1) return;
        const T *row = img + r * row_stride;
#pragma unroll
        for (int kx = 0; kx < 3; kx++)
          if (col_ok[kx]) slot[kx] = *reinterpret_cast<const Packed *>(row + (kx - 1) * p.C);
      };
      // Input row r (in slot): done = output r-1, mid = output r,
      // fresh = output r+1.
      auto step = [&](int r, float (&done)[E], float (&mid)[E], float (&fresh)[E], Packed (&slot)[3]) {
        float v[3][E];
        const bool have = r >= 0 && r < H;
#pragma unroll
        for (int kx = 0; kx < 3; kx++) unpack_column<T>(slot[kx], v[kx]);
        fetch(r + kAhead, slot);
#pragma unroll
        for (int e = 0; e < E; e++) fresh[e] = 0.0f;
        if (have) {
#pragma unroll
          for (int kx = 0; kx < 3; kx++) {
            if (!col_ok[kx]) continue;
#pragma unroll
            for (int e = 0; e < E; e++) {
              done[e] = __fmaf_rn(v[kx][e], w[6 + kx][e], done[e]);
              mid[e] = __fmaf_rn(v[kx][e], w[3 + kx][e], mid[e]);
              fresh[e] = __fmaf_rn(v[kx][e], w[kx][e], fresh[e]);
            }
          }
        }
        if (r - 1 >= i0) {  // r <= i1, so r-1 is a row of the tile
          if (p.bias) {
#pragma unroll
            for (int e = 0; e < E; e++) done[e] += b[e];
          }
          store_column(out + (r - 1) * row_stride, done);
        }
      };
      float a0[E] = {}, a1[E] = {}, a2[E] = {};
      Packed s0[3], s1[3], s2[3];
      fetch(i0 - 1, s0);
      fetch(i0, s1);
      fetch(i0 + 1, s2);
      for (int r = i0 - 1; r <= i1; r += 3) {
        step(r, a0, a1, a2, s0);
        if (r + 1 <= i1) step(r + 1, a1, a2, a0, s1);
        if (r + 2 <= i1) step(r + 2, a2, a0, a1, s2);
      }
    }
  }
}

// The staged walk, for bandwidth: the walk above, but a block stages its
// input in shared memory with 16-byte cp.async copies issued steps ahead
// of their use, so each SM keeps tens of KB of loads in flight without
// holding them in registers (the register walk keeps ≈ 12 KB an SM in
// 8-byte loads at 2 blocks an SM, and measured 70% of copy).  A block
// owns kStageCols output columns x one 128-byte chunk of channels (64
// 16-bit or 32 f32 channels: a warp's copies fill whole 128-byte lines)
// and walks a band of kStageBand output rows of one image.  Its input
// rows, with a halo column on either side, pass through a ring of
// kStageRing rows: kStageRowsPerStep rows a step, kStageStepsAhead steps
// copied ahead, one barrier a step.  Out-of-image columns and channels
// past C are zeroed once in every ring row (never copied); rows outside
// the image are never copied nor read.  A thread owns one column and 8 bytes
// of channels (kWalkChannels), as in conv_rows_kernel, and reads each
// input row's three columns once from shared memory: the same sums in the
// same order (ky, kx, then the bias), with 0 weights for the missing
// columns (their staged inputs are 0 too) and a missing bias 0, as in
// conv_rows_full_tile: the same values, but for a -0 sum.
constexpr int kStageCols = 16;                         // output columns a block
constexpr int kChunkBytes = 128;                       // channel bytes a block
constexpr int kChunkVecs = kChunkBytes / 16;           // its 16-byte copies a column
constexpr int kUnitsPerChunk = kChunkBytes / 8;        // 8-byte threads a column
constexpr int kRingCols = kStageCols + 2;              // with the halo columns
constexpr int kStageThreads = kStageCols * kUnitsPerChunk;
constexpr int kStageRowsPerStep = 3;                   // = the accumulators' rotation (renaming)
constexpr int kStageStepsAhead = 3;                    // steps whose copies are in flight
constexpr int kStageRing = 16;                         // input rows held
constexpr int kStageBand = 64;                         // output rows a block
constexpr int kStageCopies = kStageRowsPerStep * kRingCols * kChunkVecs;  // 16-byte copies a step
static_assert((kStageStepsAhead + 1) * kStageRowsPerStep <= kStageRing,
              "the copies of a step never land on rows still to be read");
static_assert((kStageRing & (kStageRing - 1)) == 0, "ring rows by a mask");
static_assert(kStageThreads == 256, "one unit a thread");

// Blocks of 256 an SM the staged walk is held to (36.9 KB of shared
// memory a block allows 6): 16-bit 3 (80 registers; 96 unbounded, and at
// 4 blocks, 64, it spills 56 bytes), f32 4 (63 registers, no spill).
template <typename T>
constexpr int kStagedBlocksPerSm = sizeof(T) == 4 ? 4 : 3;

// Image rows the staged walk takes, in bytes: a copy's offset from its
// step's first row (three rows) stays in 32 bits.
constexpr int64_t kStagedRowBytesMax = (int64_t)1 << 30;

// The staged walk's blocks: chunk fastest, then column tile (neighbouring
// tiles, which share halo columns, run side by side), band, image.
struct StagedGrid {
  int chunks, col_tiles, bands;
};

template <typename T>
__global__ void __launch_bounds__(kStageThreads, kStagedBlocksPerSm<T>) conv_staged_kernel(ConvParams p, StagedGrid g) {
  constexpr int E = kWalkChannels<T>;
  __shared__ __align__(16) unsigned char ring[kStageRing][kRingCols][kChunkBytes];
  uint32_t blk = blockIdx.x;
  const int chunk = (int)(blk % g.chunks);
  blk /= g.chunks;
  const int tile = (int)(blk % g.col_tiles);
  blk /= g.col_tiles;
  const int band = (int)(blk % g.bands), n = (int)(blk / g.bands);
  const int H = (int)p.H, W = (int)p.W, i0 = band * kStageBand, i1 = min(i0 + kStageBand, H);
  const int j0 = tile * kStageCols, rows = i1 - i0 + 2;  // input rows i0-1 .. i1
  const int64_t pixel_bytes = p.C * (int64_t)sizeof(T);
  const int chunk_bytes = (int)min((int64_t)kChunkBytes, pixel_bytes - chunk * kChunkBytes);
  const char *img = (const char *)p.x + (int64_t)n * H * W * pixel_bytes + chunk * kChunkBytes;

  // A thread's copies are the same (row of the step, column, vector) at
  // every step: each keeps its byte offset from the step's first row (32
  // bits: the host sends rows under 2^30 bytes) and its shared-memory
  // address in ring row 0, so a copy issues a row test, two address sums
  // and the copy (the first form recomputed a 64-bit address from the row
  // number: ≈ 30 instructions a copy).  Step s's input rows (local
  // q = s·R + t, image row i0-1+q) go to ring row q % kStageRing; one
  // commit group a step, also an empty one.  Columns outside the image and
  // channels past C are the same 16-byte cells of every ring row: they are
  // zeroed once, below, and never copied.
  constexpr int kCopiesPerThread = (kStageCopies + kStageThreads - 1) / kStageThreads;
  constexpr int kRingRowBytes = kRingCols * kChunkBytes;
  const int64_t row_bytes = (int64_t)W * pixel_bytes;
  const unsigned ring_base = (unsigned)__cvta_generic_to_shared(ring);
  const int row_end = min(i1 + 1, H);  // image rows i0-1 .. row_end-1 are copied
  unsigned copy_src[kCopiesPerThread], copy_dst[kCopiesPerThread];
  int copy_row[kCopiesPerThread];    // the copy's row of the step
  bool copy_live[kCopiesPerThread];  // a copy of image data (not a zero cell, not past the step)
#pragma unroll
  for (int k = 0; k < kCopiesPerThread; k++) {
    const int v = threadIdx.x + k * kStageThreads;
    const int col = v / kChunkVecs % kRingCols, vec = v % kChunkVecs, jj = j0 - 1 + col;
    copy_live[k] = v < kStageCopies && jj >= 0 && jj < W && vec * 16 < chunk_bytes;
    copy_row[k] = v / (kRingCols * kChunkVecs);
    copy_dst[k] = ring_base + col * kChunkBytes + vec * 16;
    copy_src[k] = copy_live[k] ? (unsigned)(copy_row[k] * row_bytes + jj * pixel_bytes) + vec * 16 : 0;
  }
  if (j0 == 0 || j0 + kStageCols >= W || chunk_bytes < kChunkBytes) {
    // The zero cells of every ring row (ordered before the first reads by
    // the loop's first barrier; the copies write other cells).
    for (int v = threadIdx.x; v < kStageRing * kRingCols * kChunkVecs; v += kStageThreads) {
      const int col = v / kChunkVecs % kRingCols, vec = v % kChunkVecs, jj = j0 - 1 + col;
      if (jj < 0 || jj >= W || vec * 16 >= chunk_bytes)
        *reinterpret_cast<uint4 *>(&ring[v / (kRingCols * kChunkVecs)][col][vec * 16]) = make_uint4(0, 0, 0, 0);
    }
  }
  auto copy_step = [&](int s) {
    const char *step_rows = img + (int64_t)(i0 - 1 + s * kStageRowsPerStep) * row_bytes;  // uniform
#pragma unroll
    for (int k = 0; k < kCopiesPerThread; k++) {
      const int q = s * kStageRowsPerStep + copy_row[k];
      if (copy_live[k] && (unsigned)(i0 - 1 + q) < (unsigned)row_end)
        zk_cp_async16(copy_dst[k] + (q & (kStageRing - 1)) * kRingRowBytes, step_rows + copy_src[k]);
    }
    zk_cp_async_commit();
  };

  const int col = threadIdx.x / kUnitsPerChunk, unit = threadIdx.x % kUnitsPerChunk, j = j0 + col;
  const int64_t c0 = (int64_t)chunk * (kChunkBytes / (int)sizeof(T)) + unit * E;
  const bool active = j < W && c0 < p.C;  // C·size a multiple of 16: c0 < C covers the unit
  float w[9][E] = {}, b[E] = {};
  if (active) {
    const bool col_ok[3] = {j > 0, true, j + 1 < W};
    load_taps<E>(p, c0, w, b);
    zero_missing_columns<E>(col_ok, w);
  }
  const int64_t row_stride = (int64_t)W * p.C;  // elements
  T *out = (T *)p.y + ((int64_t)n * H + i0) * row_stride + (int64_t)j * p.C + c0;  // output row i0

  // Local input row q: done = output q-2 (stored), mid = q-1, fresh = q
  // (outputs counted from i0), as in conv_rows_kernel's step.  Checked:
  // whether row q may lie outside the image or before the first store;
  // the steps between a band's first and last take the unchecked form.
  // A thread's 8 bytes of a ring row's column are at threadIdx.x·8 (col
  // · kChunkBytes + unit · 8).
  const unsigned char *cells = &ring[0][0][0] + threadIdx.x * 8;
  auto row_step = [&](int q, bool checked, float(&done)[E], float(&mid)[E], float(&fresh)[E]) {
#pragma unroll
    for (int e = 0; e < E; e++) fresh[e] = 0.0f;
    if (!checked || (unsigned)(i0 - 1 + q) < (unsigned)H) {  // the same for the whole block
      const unsigned char *px = cells + (q & (kStageRing - 1)) * kRingRowBytes;
#pragma unroll
      for (int kx = 0; kx < 3; kx++) {
        float v[E];
        unpack_column<T>(*reinterpret_cast<const uint2 *>(px + kx * kChunkBytes), v);
#pragma unroll
        for (int e = 0; e < E; e++) {
          done[e] = __fmaf_rn(v[e], w[6 + kx][e], done[e]);
          mid[e] = __fmaf_rn(v[e], w[3 + kx][e], mid[e]);
          fresh[e] = __fmaf_rn(v[e], w[kx][e], fresh[e]);
        }
      }
    }
    if (!checked || q >= 2) {  // q < rows, so output q-2 is a row of the band
#pragma unroll
      for (int e = 0; e < E; e++) done[e] += b[e];
      store_column(out, done);
      out += row_stride;
    }
  };

  const int steps = (rows + kStageRowsPerStep - 1) / kStageRowsPerStep;
#pragma unroll
  for (int s = 0; s < kStageStepsAhead; s++) copy_step(s);
  float a0[E] = {}, a1[E] = {}, a2[E] = {};
  for (int s = 0; s < steps; s++) {
    zk_cp_async_wait<kStageStepsAhead - 1>();  // this thread's copies of step s
    __syncthreads();                      // everyone's; and step s-1's rows are read
    copy_step(s + kStageStepsAhead);
    if (!active) continue;
    const int q = s * kStageRowsPerStep;
    if (q >= 2 && q + 2 < rows && i0 + q + 1 < H) {  // rows i0-1+q .. i0+q+1 all in the image, all stored
      row_step(q, false, a0, a1, a2);
      row_step(q + 1, false, a1, a2, a0);
      row_step(q + 2, false, a2, a0, a1);
      continue;
    }
    row_step(q, true, a0, a1, a2);
    if (q + 1 < rows) row_step(q + 1, true, a1, a2, a0);
    if (q + 2 < rows) row_step(q + 2, true, a2, a0, a1);
  }
}

// staged: x and y hold 16-byte vectors of channels (C·size a multiple of
// 16, both aligned), the staged walk's copies.
template <typename T, int E>
void launch_conv(zk_ctx *ctx, cudaStream_t stream, const ConvParams &p, bool staged) {
  if constexpr (E == kWalkChannels<T>) {
    const StagedGrid g = {(int)((p.C * (int64_t)sizeof(T) + kChunkBytes - 1) / kChunkBytes),
                          (int)((p.W + kStageCols - 1) / kStageCols), (int)((p.H + kStageBand - 1) / kStageBand)};
    const int64_t blocks = (int64_t)g.chunks * g.col_tiles * g.bands * p.N;
    const bool fits =
        p.H < INT32_MAX - kStageBand && p.W * p.C * (int64_t)sizeof(T) < kStagedRowBytesMax && blocks < INT32_MAX;
    if (staged && fits) {
      conv_staged_kernel<T><<<(unsigned)blocks, kStageThreads, 0, stream>>>(p, g);
      return;
    }
  }
  const int threads = 256;
  int64_t per_row = p.W * (p.C / E), tiles = p.N * ((p.H + kTile - 1) / kTile);
  int64_t gx = (per_row + threads - 1) / threads, gy = tiles < 65535 ? tiles : 65535;
  int64_t cap = (int64_t)zk_cuda(ctx)->sm_count * 64;
  if (gx * gy > cap) gy = cap / gx > 0 ? cap / gx : 1;
  const dim3 grid((unsigned)gx, (unsigned)gy);
  if constexpr (E == kWalkChannels<T>) {
    if (p.H < INT32_MAX - kTile) {
      conv_rows_kernel<T><<<grid, threads, 0, stream>>>(p);
      return;
    }
  }
  conv_kernel<T, E><<<grid, threads, 0, stream>>>(p);
}

// Spans of `span` bytes along C when every row of C elements starts on a
// multiple of them.
bool channel_span_ok(const void *data, int64_t C, int es, int span) {
  return (uintptr_t)data % span == 0 && (C * es) % span == 0;
}

// 16-byte vectors along C.
bool channel_vec_ok(const void *data, int64_t C, int es) { return channel_span_ok(data, C, es, 16); }

}  // namespace

extern "C" zk_status zk_cuda_resize_bilinear(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, resize_bilinear);
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  ResizeParams p = {};
  p.x = a->t[0].data, p.y = a->t[1].data;
  p.align = (int)a->i[0];
  p.H = a->i[1], p.W = a->i[2], p.OH = a->i[3], p.C = a->t[0].cols;
  p.N = a->t[0].rows / (p.H * p.W), p.OW = a->t[1].rows / (p.N * p.OH);
  p.sy = zk_resize_scale_f(p.H, p.OH, p.align), p.sx = zk_resize_scale_f(p.W, p.OW, p.align);
  int es = zk_dtype_size(a->t[0].dtype);
  bool vec = channel_vec_ok(p.x, p.C, es) && channel_vec_ok(p.y, p.C, es);
  switch (a->t[0].dtype) {
    case ZK_F32: vec ? launch_resize<float, 4>(ctx, stream, p) : launch_resize<float, 1>(ctx, stream, p); break;
    case ZK_F16: vec ? launch_resize<__half, 8>(ctx, stream, p) : launch_resize<__half, 1>(ctx, stream, p); break;
    default:
      vec ? launch_resize<__nv_bfloat16, 8>(ctx, stream, p) : launch_resize<__nv_bfloat16, 1>(ctx, stream, p);
      break;
  }
  return ZK_CUDA_LAUNCHED(call);
}

extern "C" zk_status zk_cuda_depthwise_conv_3x3(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, depthwise_conv_3x3);
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  ConvParams p = {};
  const zk_rows *x = &a->t[0], *w = &a->t[1], *bias = &a->t[2];
  p.x = x->data, p.y = a->t[3].data;
  p.w = w->data, p.wt = w->dtype, p.w_stride = w->stride;
  p.bias = zk_present(bias) ? bias->data : nullptr, p.bt = bias->dtype;
  p.H = a->i[0], p.W = a->i[1], p.C = x->cols, p.N = x->rows / (p.H * p.W);
  // One 8-byte column a thread: four channels of f16/bf16, two of f32
  // (the input-row walk; see kWalkChannels).  Eight 16-bit channels, a full
  // vector, held a window and nine weights of 72 floats each, 211
  // registers and 1/8 occupancy.
  const int es = zk_dtype_size(x->dtype), E = 8 / es;
  bool vec = channel_span_ok(p.x, p.C, es, 8) && channel_span_ok(p.y, p.C, es, 8);
  // A parameter span of E elements is read as one access when aligned to it.
  int wes = zk_dtype_size(w->dtype), bes = zk_dtype_size(bias->dtype), align = zk_span_align(E * wes, wes);
  p.w_vec = (uintptr_t)w->data % align == 0 && (w->stride * wes) % align == 0;
  p.b_vec = p.bias && (uintptr_t)p.bias % zk_span_align(E * bes, bes) == 0;
  const bool staged = channel_vec_ok(p.x, p.C, es) && channel_vec_ok(p.y, p.C, es);
  switch (x->dtype) {
    case ZK_F32:
      vec ? launch_conv<float, 2>(ctx, stream, p, staged) : launch_conv<float, 1>(ctx, stream, p, false);
      break;
    case ZK_F16:
      vec ? launch_conv<__half, 4>(ctx, stream, p, staged) : launch_conv<__half, 1>(ctx, stream, p, false);
      break;
    default:
      vec ? launch_conv<__nv_bfloat16, 4>(ctx, stream, p, staged)
          : launch_conv<__nv_bfloat16, 1>(ctx, stream, p, false);
      break;
  }
  return ZK_CUDA_LAUNCHED(call);
}
