/* float64 reference of the transformer family (spec §4). */
#ifndef ZK_REF_TRANSFORMER_H
#define ZK_REF_TRANSFORMER_H
#include <stdint.h>

/* Philox4x32-10 written from spec §4.0, independently of src/common: ctr
 * (4 words) is replaced by the output block under key (k0, k1). */
void zk_ref_philox4x32_10(uint32_t ctr[4], uint32_t k0, uint32_t k1);
/* The 24-bit draw (w >> 8) of flat element i of the dropout stream. */
uint32_t zk_ref_dropout_draw(uint64_t seed, uint64_t offset, uint64_t i);
/* 1 when element i is kept at drop probability p (p as the f32 the kernels use). */
int zk_ref_dropout_keep(float p, uint64_t seed, uint64_t offset, uint64_t i);
/* The f32 scale 1/(1-p) of kept elements. */
float zk_ref_dropout_scale(float p);

#endif
