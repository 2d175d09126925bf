/* Host-side conversions between the stored float formats and f32.
 * bf16 is stored as its 16 bits; f32 -> bf16 rounds to nearest even, keeps
 * NaN (quietened) and overflows to ±Inf.  f16 goes through _Float16, which
 * the compilers we build with provide on x86-64 and aarch64. */
#ifndef ZK_CORE_DTYPE_H
#define ZK_CORE_DTYPE_H

#include <stdint.h>
#include <string.h>
#include "../common/zk_math.h"

static inline float zk_bf16_to_f32(uint16_t h) { return zk_bf16_bits_to_f32(h); }
static inline uint16_t zk_f32_to_bf16(float f) { return zk_f32_to_bf16_bits(f); }

static inline float zk_f16_to_f32(uint16_t h) {
  _Float16 v;
  memcpy(&v, &h, 2);
  return (float)v;
}

static inline uint16_t zk_f32_to_f16(float f) {
  _Float16 v = (_Float16)f;
  uint16_t h;
  memcpy(&h, &v, 2);
  return h;
}

#endif
