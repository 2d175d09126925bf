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
 * compute-bound; these branch-free versions vectorize (selects, no calls).
 *
 * x = n·ln2 + r: n = round(x·log2 e) by adding 1.5·2^23 + bias, whose low
 * mantissa bits then hold n + bias, so that shifting them into the exponent
 * field gives 2^(n + bias - 127) in one instruction; r by Cody-Waite (ln2 in
 * two parts, exact first product); e^r by a degree-6 polynomial, 1 + r +
 * c2·r² + ... + c6·r⁶ (minimax relative error 3e-9 on |r| <= ln2/2).  The
 * bias keeps that power of two normal, 2^(n ± 24), and the constant 2^∓24
 * that completes it is one more product: one rounding, so results in the
 * subnormal range and overflow to +Inf come out as IEEE has them without a
 * select.  NaN passes through every step.  Largest error against double
 * over all f32 inputs: zk_exp_f 0.91 ulp with FMA contraction,
 * zk_exp_nonpos_f 0.88 (x <= 0), both 1.18 without (the Cephes version
 * before them: 1.01, with twice the instructions). */
#ifndef __CUDA_ARCH__
/* p(r)·unit·2^(n + bias - 127) for xc in [-104, 89] (or NaN).  unit is a
 * power of two folded into the coefficients, so it costs nothing. */
static inline float zk_exp_core_(float xc, float bias, float unit) {
  float shifter = 12582912.0f + bias; /* 1.5·2^23: t's ulp is 1 */
  float t = xc * 1.44269504088896341f + shifter;
  float n = t - shifter;
  float r = xc - n * 0.693359375f; /* exact: 9 significant bits times |n| <= 151 */
  r = r - n * -2.12194440e-4f;
  float p = 1.381460228e-3f * unit;
  p = p * r + 8.368715644e-3f * unit;
  p = p * r + 4.166838899e-2f * unit;
  p = p * r + 1.666652113e-1f * unit;
  p = p * r + 4.999999404e-1f * unit;
  p = p * r + unit;
  p = p * r + unit;
  union { uint32_t u; float f; } scale;
  scale.f = t;
  scale.u <<= 23; /* the low 9 bits of t, n + bias in [1, 254], become the exponent */
  return p * scale.f;
}
#endif

/* e^x for x <= 0 (or NaN), the exponentials of softmax (x - max) and of
 * σ (-|x|): the full range's work without the positive side's select.
 * -Inf gives 0.  (Correct up to x = 71 too; garbage beyond.) */
ZK_HD float zk_exp_nonpos_f(float x) {
#ifdef __CUDA_ARCH__
  return expf(x);
#else
  float xc = x < -104.0f ? -104.0f : x; /* e^-104 rounds to 0; NaN stays */
  return zk_exp_core_(xc, 151.0f, 0x1p-24f);
#endif
}

ZK_HD float zk_exp_f(float x) {
#ifdef __CUDA_ARCH__
  return expf(x);
#else
  float xc = x < -104.0f ? -104.0f : x > 89.0f ? 89.0f : x; /* e^89 overflows; NaN stays */
  int positive = xc > 0.0f;
  float y = zk_exp_core_(xc, positive ? 103.0f : 151.0f, 1.0f);
  return y * (positive ? 0x1p24f : 0x1p-24f);
#endif
}

/* The other transcendentals of the activations, in the same style: CUDA
 * calls the accurate library function, the CPU evaluates a branch-free
 * version (selects, no calls) that loops vectorize.  All handle ±0, ±Inf,
 * NaN and subnormals as the library functions do.  Largest error against
 * double over all 2^32 f32 inputs, with and without FMA contraction:
 * zk_log_f 0.83 ulp, zk_log1p_f 1.44, zk_expm1_f 1.89, zk_tanh_f 1.33
 * (glibc's tanhf: 2.19), measured with the Cephes zk_exp_f (1.01 ulp);
 * with the current zk_exp_f and FMA contraction: zk_expm1_f 1.52,
 * zk_tanh_f 1.36. */

/* ln x: x = 2^e·m with m in [√½, √2) (subnormals scaled by 2^23 first),
 * then Cephes' logf polynomial in m - 1 and e·ln2 in two parts. */
ZK_HD float zk_log_f(float x) {
#ifdef __CUDA_ARCH__
  return logf(x);
#else
  int sub = x < 1.17549435e-38f; /* also x <= 0: the result is selected below */
  union { float f; uint32_t u; } v;
  v.f = sub ? x * 8388608.0f : x;
  int32_t e = (int32_t)(v.u >> 23) - 126 - (sub ? 23 : 0);
  v.u = (v.u & 0x007fffffu) | 0x3f000000u; /* m in [0.5, 1) */
  int low = v.f < 0.70710678118654752f;
  e = low ? e - 1 : e;
  float r = low ? v.f + v.f - 1.0f : v.f - 1.0f;
  float z = r * r;
  float p = 7.0376836292e-2f;
  p = p * r - 1.1514610310e-1f;
  p = p * r + 1.1676998740e-1f;
  p = p * r - 1.2420140846e-1f;
  p = p * r + 1.4249322787e-1f;
  p = p * r - 1.6668057665e-1f;
  p = p * r + 2.0000714765e-1f;
  p = p * r - 2.4999993993e-1f;
  p = p * r + 3.3333331174e-1f;
  float fe = (float)e;
  float y = p * r * z - 2.12194440e-4f * fe - 0.5f * z;
  y = r + y + 0.693359375f * fe;
  y = x == (float)INFINITY ? x : y;
  y = x == 0.0f ? -(float)INFINITY : y;
  y = x < 0.0f ? (float)NAN : y;
  return x != x ? x + x : y;
#endif
}

/* ln(1 + x) as ln w - ((w - 1) - x)/w with w = 1 + x rounded: the second
 * term puts back what rounding w lost. */
ZK_HD float zk_log1p_f(float x) {
#ifdef __CUDA_ARCH__
  return log1pf(x);
#else
  float w = 1.0f + x;
  float y = zk_log_f(w) - ((w - 1.0f) - x) / w;
  y = w == 1.0f ? x : y; /* |x| below half an ulp of 1 (and ±0) */
  y = x == (float)INFINITY ? x : y;
  return x == -1.0f ? -(float)INFINITY : y;
#endif
}

/* e^x - 1: the Taylor series to x^11 for |x| < 1, where e^x - 1 would
 * cancel, e^x - 1 beyond. */
ZK_HD float zk_expm1_f(float x) {
#ifdef __CUDA_ARCH__
  return expm1f(x);
#else
  float p = 1.0f / 39916800.0f;
  p = p * x + 1.0f / 3628800.0f;
  p = p * x + 1.0f / 362880.0f;
  p = p * x + 1.0f / 40320.0f;
  p = p * x + 1.0f / 5040.0f;
  p = p * x + 1.0f / 720.0f;
  p = p * x + 1.0f / 120.0f;
  p = p * x + 1.0f / 24.0f;
  p = p * x + 1.0f / 6.0f;
  p = p * x + 0.5f;
  float small = x * (1.0f + x * p); /* x·(...) keeps -0 */
  return fabsf(x) < 1.0f ? small : zk_exp_f(x) - 1.0f;
#endif
}

/* tanh x: Cephes' tanhf, an odd polynomial for |x| < 0.625, else
 * ±(1 - 2/(e^2|x| + 1)), which reaches ±1 as e^2|x| overflows. */
ZK_HD float zk_tanh_f(float x) {
#ifdef __CUDA_ARCH__
  return tanhf(x);
#else
  float a = fabsf(x);
  float big = copysignf(1.0f - 2.0f / (zk_exp_f(2.0f * a) + 1.0f), x);
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  return a < 0.625f ? p * z * x + x : big;
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
  float e = zk_exp_nonpos_f(-fabsf(x));
  float s = zk_rcp_1to2_f(1.0f + e);
  return x >= 0.0f ? s : e * s;
}

/* σ'(x) = σ(x)(1-σ(x)) = σ(|x|)·σ(-|x|), from one e^(-|x|): 1 - σ(x)
 * would cancel for large x. */
ZK_HD float zk_sigmoid_deriv_f(float x) {
  float e = zk_exp_nonpos_f(-fabsf(x));
  float s = zk_rcp_1to2_f(1.0f + e);
  return e * s * s;
}

/* tanh'(x) = 1 - tanh²x. */
ZK_HD float zk_tanh_deriv_f(float x) {
  float t = zk_tanh_f(x);
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
  float t = zk_tanh_f(u);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * ZK_GELU_C0 * (1.0f + 3.0f * ZK_GELU_C1 * x2);
}

/* log1p(e^z) without overflow: max(z, 0) + log1p(e^-|z|) (a select, not
 * fmaxf, so loops vectorize; NaN z gives NaN through the second term). */
ZK_HD float zk_log1p_exp_f(float z) { return (z > 0.0f ? z : 0.0f) + zk_log1p_f(zk_exp_nonpos_f(-fabsf(z))); }

/* PyTorch's thresholded softplus: x where beta·x > threshold. */
ZK_HD float zk_softplus_f(float x, float beta, float threshold) {
  float z = beta * x;
  return z > threshold ? x : zk_log1p_exp_f(z) / beta;
}

ZK_HD float zk_softplus_deriv_f(float x, float beta, float threshold) {
  float z = beta * x;
  return z > threshold ? 1.0f : zk_sigmoid_f(z);
}

ZK_HD float zk_mish_f(float x) { return x * zk_tanh_f(zk_softplus_f(x, 1.0f, 20.0f)); }

ZK_HD float zk_mish_deriv_f(float x) {
  float t = zk_tanh_f(zk_softplus_f(x, 1.0f, 20.0f));
  return t + x * zk_sigmoid_f(x) * (1.0f - t * t);
}

/* relu(NaN) = NaN, so no fmaxf. */
ZK_HD float zk_relu_f(float x) { return x <= 0.0f ? 0.0f : x; }

/* relu's VJP selects rather than multiplies: dy where x > 0, else 0 (also
 * at x = 0 and for NaN x, whatever dy holds). */
ZK_HD float zk_relu_grad_f(float x, float dy) { return x > 0.0f ? dy : 0.0f; }

ZK_HD float zk_elu_f(float x, float alpha) { return x > 0.0f ? x : alpha * zk_expm1_f(x); }

ZK_HD float zk_elu_deriv_f(float x, float alpha) { return x > 0.0f ? 1.0f : alpha * zk_exp_f(x); }

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

/* ------------------------------------------------ argmax / topk order */

/* The total order of argmax and topk (spec §8.6) as an unsigned key:
 * NaN > +Inf > finite > -Inf, ±0 equal, all NaNs equal. */
ZK_HD uint32_t zk_order_key(float x) {
  union { float f; uint32_t u; } v;
  v.f = x;
  if (x != x) return 0xffffffffu;
  if (x == 0.0f) return 0x80000000u;
  return (v.u >> 31) ? ~v.u : v.u | 0x80000000u;
}

/* The float a key of zk_order_key came from: a NaN's key gives a NaN,
 * the key of ±0 gives +0. */
ZK_HD float zk_order_key_value(uint32_t key) {
  union { uint32_t u; float f; } v;
  v.u = (key & 0x80000000u) ? key & 0x7fffffffu : ~key;
  return v.f;
}

/* Element j's rank: a larger key ranks first, and equal values rank the
 * lower index first (the complemented index in the low word).  Keys are
 * distinct within a row; the index is ~(uint32_t)key. */
ZK_HD uint64_t zk_rank_key(float x, uint32_t j) { return (uint64_t)zk_order_key(x) << 32 | (uint32_t)~j; }

/* One row's cross-entropy with label smoothing (spec §11):
 * lse - (1-ε)·z_t - (ε/C)·Σz, evaluated as (lse - z_t) + ε·(z_t - Σz/C)
 * where everything is finite: the usual loss, then a smoothing term that is
 * a difference of like values, so nothing large cancels and C = 1 gives
 * exactly 0.  With an infinite value the literal form, leaving out a term
 * whose weight is 0 (ε = 1 with z_t = -Inf is finite, as in PyTorch). */
ZK_HD float zk_cross_entropy_row(float lse, float zt, float zsum, float eps, int64_t C) {
  if (isfinite(lse) && isfinite(zt) && isfinite(zsum)) {
    float loss = lse - zt;
    if (eps > 0.0f) loss += eps * (zt - zsum / (float)C);
    return loss;
  }
  float loss = lse;
  if (eps < 1.0f) loss -= (1.0f - eps) * zt;
  if (eps > 0.0f) loss -= eps / (float)C * zsum;
  return loss;
}

/* ------------------------------------------------------- depth gate (§5.2) */

/* roundf (halves away from zero).  CUDA calls roundf; the CPU version is
 * branch-free so loops vectorize: t = the integer part (|v| < 2^23, else v
 * is already an integer), plus 1 where the exact fraction |v| - t is at
 * least one half.  NaN stays NaN. */
ZK_HD float zk_round_half_away_f(float v) {
#ifdef __CUDA_ARCH__
  return roundf(v);
#else
  float a = fabsf(v);
  int small = a < 8388608.0f; /* false for NaN */
  float t = (float)(int32_t)(small ? a : 0.0f);
  float r = t + (a - t >= 0.5f ? 1.0f : 0.0f);
  return copysignf(small ? r : a, v);
#endif
}

/* The depth gate: k·σ(x), or (ste) clamp(roundf(k·σ(x)), 1, k), written so
 * that NaN stays NaN.  k = k_max as f32. */
ZK_HD float zk_depth_gate_f(float x, float k, int ste) {
  float v = k * zk_sigmoid_f(x);
  if (!ste) return v;
  v = zk_round_half_away_f(v);
  v = v < 1.0f ? 1.0f : v;
  return v > k ? k : v;
}

/* ------------------------------------------------ bilinear resize (§15.1) */

/* The f32 scale of one axis: in/out (half-pixel centres) or (in-1)/(out-1)
 * (align corners; 0 when out = 1). */
ZK_HD float zk_resize_scale_f(int64_t in, int64_t out, int align_corners) {
  if (!align_corners) return (float)in / (float)out;
  return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
}

/* Output index dst's source coordinate, clamped at 0: i0 = ⌊src⌋, i1 =
 * min(i0 + 1, in - 1), λ = src - i0. */
ZK_HD void zk_resize_coord(int64_t dst, float scale, int align_corners, int64_t in, int64_t *i0, int64_t *i1,
                           float *lambda) {
  float src = align_corners ? (float)dst * scale : ((float)dst + 0.5f) * scale - 0.5f;
  src = src > 0.0f ? src : 0.0f;
  int64_t lo = (int64_t)src; /* src >= 0: truncation is the floor */
  lo = lo < in - 1 ? lo : in - 1;
  *i0 = lo;
  *i1 = lo + 1 < in ? lo + 1 : lo;
  *lambda = src - (float)lo;
}

#endif
