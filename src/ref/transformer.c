/* float64 reference of the transformer family (spec §4). */
#include <math.h>
#include "transformer.h"

void zk_ref_philox4x32_10(uint32_t ctr[4], uint32_t k0, uint32_t k1) {
  const uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  for (int round = 0; round < 10; round++) {
    uint64_t a = M0 * ctr[0], b = M1 * ctr[2];
    uint32_t out[4] = {(uint32_t)(b >> 32) ^ ctr[1] ^ k0, (uint32_t)b, (uint32_t)(a >> 32) ^ ctr[3] ^ k1, (uint32_t)a};
    for (int k = 0; k < 4; k++) ctr[k] = out[k];
    if (round < 9) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
  }
}

uint32_t zk_ref_dropout_draw(uint64_t seed, uint64_t offset, uint64_t i) {
  uint64_t n = offset + i;  /* mod 2^64 */
  uint64_t q = n >> 2;
  uint32_t ctr[4] = {(uint32_t)q, (uint32_t)(q >> 32), 0, 0};
  zk_ref_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
  return ctr[n & 3] >> 8;
}

int zk_ref_dropout_keep(float p, uint64_t seed, uint64_t offset, uint64_t i) {
  double u = (double)zk_ref_dropout_draw(seed, offset, i) / 16777216.0;  /* exact */
  return !(u < (double)p);
}

float zk_ref_dropout_scale(float p) { return 1.0f / (1.0f - p); }
