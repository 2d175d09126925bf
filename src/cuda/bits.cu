// Bit packing on CUDA (spec §13).  Both ops are one grid-stride launch
// over the packed side: first whole vector units (pack: 128 input bytes ->
// one 16-byte store of 16 packed bytes; unpack: 4 packed bytes -> two
// 16-byte stores of 32 values), then the tail one packed byte (pack) or
// one value (unpack) per work item.  Where the data is not aligned for the
// vectors, every work item is a tail item.  Each output byte is written by
// exactly one thread: the result is exact and cannot depend on scheduling.
//
// Entry points follow the slots of src/api/bits.c.
#include "common.cuh"

namespace {

// Bit k of the result = (byte k of w != 0), k = 0..3 (little endian: byte
// 0 is the lowest).  __vcmpne4 gives 0xff per nonzero byte; the mask keeps
// bit k in byte k, and the multiply sums the four bytes into the top one
// (no carries: the bits are distinct).
__device__ __forceinline__ uint32_t nonzero_nibble(uint32_t w) {
  return ((__vcmpne4(w, 0u) & 0x08040201u) * 0x01010101u) >> 24;
}

// One packed byte from 8 input bytes held in two words.
__device__ __forceinline__ uint32_t pack_byte(uint32_t lo, uint32_t hi) {
  return nonzero_nibble(lo) | nonzero_nibble(hi) << 4;
}

// The 4 low bits of nib spread to the low bit of each byte (bit k -> bit
// 8k): the multiply places copies at k + 7s, s = 0..3, all distinct, and
// the mask keeps the ones at 8k.
__device__ __forceinline__ uint32_t spread_nibble(uint32_t nib) { return (nib * 0x00204081u) & 0x01010101u; }

// Output bytes [0, 16·units) by vectors, then bytes [16·units, bytes) one
// each.  n: input bytes (the last packed byte may be partial).
__global__ void pack_kernel(const uint8_t *x, uint8_t *y, int64_t n, int64_t units, int64_t bytes) {
  int64_t total = units + (bytes - 16 * units);
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (int64_t)gridDim.x * blockDim.x) {
    if (q < units) {
      const uint4 *src = reinterpret_cast<const uint4 *>(x + q * 128);
      uint32_t w[4];
#pragma unroll
      for (int k = 0; k < 4; k++) {  // word k: packed bytes 4k .. 4k+3 from 32 input bytes
        uint4 a = src[2 * k], b = src[2 * k + 1];
        w[k] = pack_byte(a.x, a.y) | pack_byte(a.z, a.w) << 8 | pack_byte(b.x, b.y) << 16 | pack_byte(b.z, b.w) << 24;
      }
      *reinterpret_cast<uint4 *>(y + q * 16) = make_uint4(w[0], w[1], w[2], w[3]);
    } else {
      int64_t i = 16 * units + (q - units), e0 = 8 * i, left = n - e0;
      unsigned b = 0;
      for (int k = 0; k < 8 && k < left; k++) b |= (unsigned)(x[e0 + k] != 0) << k;  // padding bits stay 0
      y[i] = (uint8_t)b;
    }
  }
}

// Values [0, 32·units) by vectors, then values [32·units, count) one each.
__global__ void unpack_kernel(const uint8_t *x, uint8_t *y, int64_t count, int64_t units) {
  int64_t total = units + (count - 32 * units);
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (int64_t)gridDim.x * blockDim.x) {
    if (q < units) {
      uint32_t packed = *reinterpret_cast<const uint32_t *>(x + 4 * q);
      uint32_t w[8];
#pragma unroll
      for (int k = 0; k < 4; k++) {
        uint32_t b = packed >> (8 * k) & 0xffu;
        w[2 * k] = spread_nibble(b & 15u);
        w[2 * k + 1] = spread_nibble(b >> 4);
      }
      uint4 *dst = reinterpret_cast<uint4 *>(y + 32 * q);
      dst[0] = make_uint4(w[0], w[1], w[2], w[3]);
      dst[1] = make_uint4(w[4], w[5], w[6], w[7]);
    } else {
      int64_t e = 32 * units + (q - units);
      y[e] = (uint8_t)((x[e >> 3] >> (e & 7)) & 1u);
    }
  }
}

bool aligned(const void *p, int a) { return (uintptr_t)p % (uintptr_t)a == 0; }

}  // namespace

extern "C" zk_status zk_cuda_pack_bits(zk_ctx *ctx, const zk_args *args) {
  ZK_CUDA_CALL(ctx, pack_bits);
  const uint8_t *x = (const uint8_t *)args->t[0].data;
  uint8_t *y = (uint8_t *)args->t[1].data;
  int64_t n = args->i[0], bytes = (n + 7) / 8;
  int64_t units = aligned(x, 16) && aligned(y, 16) ? n / 128 : 0;
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  pack_kernel<<<zk_grid_for(ctx, units + (bytes - 16 * units), threads), threads, 0, stream>>>(x, y, n, units, bytes);
  return ZK_CUDA_LAUNCHED(call);
}

extern "C" zk_status zk_cuda_unpack_bits(zk_ctx *ctx, const zk_args *args) {
  ZK_CUDA_CALL(ctx, unpack_bits);
  const uint8_t *x = (const uint8_t *)args->t[0].data;
  uint8_t *y = (uint8_t *)args->t[1].data;
  int64_t count = args->i[0];
  int64_t units = aligned(x, 4) && aligned(y, 16) ? count / 32 : 0;
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  unpack_kernel<<<zk_grid_for(ctx, units + (count - 32 * units), threads), threads, 0, stream>>>(x, y, count, units);
  return ZK_CUDA_LAUNCHED(call);
}
