// Bit packing on CUDA (spec §13).  Both ops are one grid-stride launch
// over the packed side: first whole vector units, then the tail one packed
// byte (pack) or one value (unpack) per work item.  A unit is one 16-byte
// access of the unpacked side (pack: 16 input bytes -> 2 packed bytes;
// unpack: 2 packed bytes -> 16 values), so a warp's 16-byte accesses cover
// one contiguous 512-byte run, and the packed side is read or written in
// contiguous 64-byte runs.  Where the data is not aligned for the units,
// every work item is a tail item.  Each output byte is written by exactly
// one thread: the result is exact and cannot depend on scheduling.
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

// Output bytes [0, 2·units) by units, then bytes [2·units, bytes) one
// each.  n: input bytes (the last packed byte may be partial).
__global__ void pack_kernel(const uint8_t *x, uint8_t *y, int64_t n, int64_t units, int64_t bytes) {
  int64_t total = units + (bytes - 2 * units);
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (int64_t)gridDim.x * blockDim.x) {
    if (q < units) {
      uint4 a = *reinterpret_cast<const uint4 *>(x + 16 * q);
      *reinterpret_cast<uint16_t *>(y + 2 * q) = (uint16_t)(pack_byte(a.x, a.y) | pack_byte(a.z, a.w) << 8);
    } else {
      int64_t i = 2 * units + (q - units), e0 = 8 * i, left = n - e0;
      unsigned b = 0;
      for (int k = 0; k < 8 && k < left; k++) b |= (unsigned)(x[e0 + k] != 0) << k;  // padding bits stay 0
      y[i] = (uint8_t)b;
    }
  }
}

// Values [0, 16·units) by units, then values [16·units, count) one each.
__global__ void unpack_kernel(const uint8_t *x, uint8_t *y, int64_t count, int64_t units) {
  int64_t total = units + (count - 16 * units);
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (int64_t)gridDim.x * blockDim.x) {
    if (q < units) {
      uint32_t packed = *reinterpret_cast<const uint16_t *>(x + 2 * q);
      *reinterpret_cast<uint4 *>(y + 16 * q) =
          make_uint4(spread_nibble(packed & 15u), spread_nibble(packed >> 4 & 15u), spread_nibble(packed >> 8 & 15u),
                     spread_nibble(packed >> 12));
    } else {
      int64_t e = 16 * units + (q - units);
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
  int64_t units = aligned(x, 16) && aligned(y, 2) ? n / 16 : 0;
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  pack_kernel<<<zk_grid_for(ctx, units + (bytes - 2 * units), threads), threads, 0, stream>>>(x, y, n, units, bytes);
  return ZK_CUDA_LAUNCHED(call);
}

extern "C" zk_status zk_cuda_unpack_bits(zk_ctx *ctx, const zk_args *args) {
  ZK_CUDA_CALL(ctx, unpack_bits);
  const uint8_t *x = (const uint8_t *)args->t[0].data;
  uint8_t *y = (uint8_t *)args->t[1].data;
  int64_t count = args->i[0];
  int64_t units = aligned(x, 2) && aligned(y, 16) ? count / 16 : 0;
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  unpack_kernel<<<zk_grid_for(ctx, units + (count - 16 * units), threads), threads, 0, stream>>>(x, y, count, units);
  return ZK_CUDA_LAUNCHED(call);
}
