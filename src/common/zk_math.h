/* Scalar math shared by the CPU backend and the CUDA backend: the
 * activation functions and their derivatives (spec §1) and the Philox
 * counter RNG of dropout (spec §4.0).  Everything is f32, written once,
 * compiled as host code by the C compiler and as host+device code by nvcc,
 * so both backends evaluate the same formulas. */
#ifndef ZK_COMMON_MATH_H
#define ZK_COMMON_MATH_H

#include <stdint.h>

#ifdef __CUDACC__
#define ZK_HD __host__ __device__ __forceinline__
#else
#include <math.h>
#define ZK_HD static inline
#endif

/* ------------------------------------------------------------------ bf16 */

/* bf16 is stored as the top 16 bits of an f32.  f32 -> bf16 rounds to
 * nearest even, overflows to ±Inf and keeps NaN (quietened): the same bits
 * on both backends, which the bitwise kernels (dropout) rely on. */
ZK_HD float zk_bf16_bits_to_f32(uint16_t h) {
  union { uint32_t u; float f; } v;
  v.u = (uint32_t)h << 16;
  return v.f;
}

ZK_HD uint16_t zk_f32_to_bf16_bits(float f) {
  union { uint32_t u; float f; } v;
  v.f = f;
  uint32_t u = v.u;
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

/* ------------------------------------------------------------------- exp */

/* e^x in f32.  CUDA uses the accurate expf.  On the CPU, glibc's expf is a
 * scalar call that no loop vectorizes, which makes softmax, silu and gelu
 * compute-bound; this branch-free version vectorizes (selects, no calls):
 * Cody-Waite reduction x = n·ln2 + r, a degree-7 polynomial for e^r
 * (Cephes' expf coefficients, within 2 ulp over the whole range), and 2^n
 * applied in two steps so subnormal results come out right.  NaN, ±Inf,
 * overflow to +Inf and underflow to 0 follow IEEE. */
ZK_HD float zk_exp_f(float x) {
#ifdef __CUDA_ARCH__
  return expf(x);
#else
  float xc = x < -104.0f ? -104.0f : x > 88.75f ? 88.75f : x;
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  int32_t ni = (int32_t)n, n1 = ni / 2, n2 = ni - n1;
  union { uint32_t u; float f; } s1, s2;
  s1.u = (uint32_t)(n1 + 127) << 23;
  s2.u = (uint32_t)(n2 + 127) << 23;
  float y = p * s1.f * s2.f;
  y = x > 88.72283935546875f ? (float)INFINITY : y;
  return x != x ? x + x : y;
#endif
}

/* ------------------------------------------------------------ activations */

/* exp's VJP dy·e^x as (dy·e^(x/2))·e^(x/2): e^x alone overflows f32 for
 * x > 88.7 even where the product is finite (dy = 0.2 at x = 89). */
ZK_HD float zk_exp_grad_f(float x, float dy) {
  float h = zk_exp_f(0.5f * x);
  return dy * h * h;
}

/* 1/d, correctly rounded, for d in [1, 2] or NaN (σ's 1 + e^(-|x|)).  On
 * CUDA, 1.0f/d is the reciprocal's fast path (MUFU.RCP and one Newton
 * step) behind a range check and a slow-path call that such d never takes;
 * those cost as much as the rest of σ and keep the compiler from
 * interleaving elements, so the device runs the fast path alone: the same
 * bits as 1.0f/d. */
ZK_HD float zk_rcp_1to2_f(float d) {
#ifdef __CUDA_ARCH__
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(d));
  return fmaf(r, fmaf(-d, r, 1.0f), r);
#else
  return 1.0f / d;
#endif
}

/* σ(x) from e^(-|x|): no overflow, -Inf -> 0, +Inf -> 1, NaN -> NaN. */
ZK_HD float zk_sigmoid_f(float x) {
  float e = zk_exp_f(-fabsf(x));
  float s = zk_rcp_1to2_f(1.0f + e);
  return x >= 0.0f ? s : e * s;
}

/* σ'(x) = σ(x)(1-σ(x)) = σ(|x|)·σ(-|x|), from one e^(-|x|): 1 - σ(x)
 * would cancel for large x. */
ZK_HD float zk_sigmoid_deriv_f(float x) {
  float e = zk_exp_f(-fabsf(x));
  float s = zk_rcp_1to2_f(1.0f + e);
  return e * s * s;
}

/* tanh'(x) = 1 - tanh²x. */
ZK_HD float zk_tanh_deriv_f(float x) {
  float t = tanhf(x);
  return 1.0f - t * t;
}

ZK_HD float zk_silu_f(float x) { return x * zk_sigmoid_f(x); }

ZK_HD float zk_silu_deriv_f(float x) {
  float s = zk_sigmoid_f(x);
  return s * (1.0f + x * (1.0f - s));
}

#define ZK_GELU_C0 0.7978845608028654f /* sqrt(2/pi) */
#define ZK_GELU_C1 0.044715f

/* gelu_tanh(x) = ½x(1 + tanh u) = x·σ(2u): no cancellation for x << 0. */
ZK_HD float zk_gelu_tanh_f(float x) {
  float u = ZK_GELU_C0 * (x + ZK_GELU_C1 * x * x * x);
  return x * zk_sigmoid_f(2.0f * u);
}

ZK_HD float zk_gelu_tanh_deriv_f(float x) {
  float x2 = x * x;
  float u = ZK_GELU_C0 * (x + ZK_GELU_C1 * x2 * x);
  float t = tanhf(u);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * ZK_GELU_C0 * (1.0f + 3.0f * ZK_GELU_C1 * x2);
}

/* log1p(e^z) without overflow: max(z, 0) + log1p(e^-|z|). */
ZK_HD float zk_log1p_exp_f(float z) { return fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z))); }

/* PyTorch's thresholded softplus: x where beta·x > threshold. */
ZK_HD float zk_softplus_f(float x, float beta, float threshold) {
  float z = beta * x;
  return z > threshold ? x : zk_log1p_exp_f(z) / beta;
}

ZK_HD float zk_softplus_deriv_f(float x, float beta, float threshold) {
  float z = beta * x;
  return z > threshold ? 1.0f : zk_sigmoid_f(z);
}

ZK_HD float zk_mish_f(float x) { return x * tanhf(zk_softplus_f(x, 1.0f, 20.0f)); }

ZK_HD float zk_mish_deriv_f(float x) {
  float t = tanhf(zk_softplus_f(x, 1.0f, 20.0f));
  return t + x * zk_sigmoid_f(x) * (1.0f - t * t);
}

/* relu(NaN) = NaN, so no fmaxf. */
ZK_HD float zk_relu_f(float x) { return x <= 0.0f ? 0.0f : x; }

/* relu's VJP selects rather than multiplies: dy where x > 0, else 0 (also
 * at x = 0 and for NaN x, whatever dy holds). */
ZK_HD float zk_relu_grad_f(float x, float dy) { return x > 0.0f ? dy : 0.0f; }

ZK_HD float zk_elu_f(float x, float alpha) { return x > 0.0f ? x : alpha * expm1f(x); }

ZK_HD float zk_elu_deriv_f(float x, float alpha) { return x > 0.0f ? 1.0f : alpha * expf(x); }

/* ------------------------------------------------------- Philox4x32-10 */

#define ZK_PHILOX_M0 0xD2511F53u
#define ZK_PHILOX_M1 0xCD9E8D57u
#define ZK_PHILOX_W0 0x9E3779B9u
#define ZK_PHILOX_W1 0xBB67AE85u

/* Ten rounds on counter c with key (k0, k1); the result replaces c. */
ZK_HD void zk_philox4x32_10(uint32_t c[4], uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)ZK_PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)ZK_PHILOX_M1 * c[2];
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0;
    uint32_t n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
    uint32_t n3 = (uint32_t)p0;
    c[0] = n0, c[1] = n1, c[2] = n2, c[3] = n3;
    k0 += ZK_PHILOX_W0;
    k1 += ZK_PHILOX_W1;
  }
}

/* The four 24-bit draws for counters n = 4·block .. 4·block+3 of the
 * dropout stream (spec §4.0): draw[n & 3] = word[n & 3] >> 8. */
ZK_HD void zk_dropout_draws(uint64_t seed, uint64_t block, uint32_t draw[4]) {
  uint32_t c[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0u, 0u};
  zk_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
  for (int k = 0; k < 4; k++) draw[k] = c[k] >> 8;
}

/* Dropped iff u = draw·2^-24 < p, compared exactly in f32. */
ZK_HD int zk_dropout_drops(uint32_t draw, float p) { return (float)draw * 5.9604644775390625e-8f < p; }

#endif
