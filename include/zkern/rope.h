/* Rotary position embeddings (spec §7).
 *
 * cos and sin are [P, R/2] tables (row = position, column i = frequency
 * index; any float dtype, the same for both): zkern never computes angles.
 * The rotary width R = 2·columns must satisfy 2 <= R <= D; elements
 * R..D-1 of each head are copied unchanged (partial rotary).  A pair (a, b)
 * at position p with c = cos[p, i], s = sin[p, i] becomes
 * (a·c - b·s, a·s + b·c) in f32, rounded once.  Half rotation (NeoX) pairs
 * (j, j + R/2) with column j; interleaved (GPT-J) pairs (2i, 2i+1) with
 * column i.  The grads rotate by -θ: (c·ga + s·gb, -s·ga + c·gb).
 *
 * Out-of-range positions and block ids are ZK_ERR_INDEX: on the CPU before
 * anything is written, on CUDA through the context's error flag at the
 * next zk_ctx_synchronize (the bad token is skipped). */
#ifndef ZKERN_ROPE_H
#define ZKERN_ROPE_H
#include <stdint.h>
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* x, y [..., S, D] (rank >= 2): row r of the flattened leading dims sits at
 * position offset + (r mod S); needs offset >= 0 and offset + S <= P.
 * Half rotation.  alias x ok. */
zk_status zk_apply_rope(zk_ctx *ctx, const DLTensor *x, const DLTensor *cos, const DLTensor *sin, DLTensor *y,
                        int64_t offset);
/* dx = the rotation of dy by -θ.  alias dy ok. */
zk_status zk_apply_rope_grad(zk_ctx *ctx, const DLTensor *dy, const DLTensor *cos, const DLTensor *sin, DLTensor *dx,
                             int64_t offset);

/* As zk_apply_rope with interleaved pairs. */
zk_status zk_apply_rope_interleaved(zk_ctx *ctx, const DLTensor *x, const DLTensor *cos, const DLTensor *sin,
                                    DLTensor *y, int64_t offset);
zk_status zk_apply_rope_interleaved_grad(zk_ctx *ctx, const DLTensor *dy, const DLTensor *cos, const DLTensor *sin,
                                         DLTensor *dx, int64_t offset);

/* Query and key heads of a GQA layer, token-major: q, q_out [B, S, H, D]
 * (row [H, D]: a slice of a fused QKV projection works), k, k_out
 * [B, S, HKV, D] with H % HKV == 0 (optional together), positions [B, S]
 * int32/int64 compact (optional).  Token (b, s) sits at positions[b, s],
 * or offset + s without positions.  interleaved: 0 half rotation, else
 * interleaved pairs.  alias q ok (q_out), alias k ok (k_out). */
zk_status zk_apply_gqa_rope(zk_ctx *ctx, const DLTensor *q, const DLTensor *k, const DLTensor *cos,
                            const DLTensor *sin, const DLTensor *positions, DLTensor *q_out, DLTensor *k_out,
                            int64_t offset, int interleaved);
/* dq, dk: the rotations of dq_out, dk_out by -θ (alias ok). */
zk_status zk_apply_gqa_rope_grad(zk_ctx *ctx, const DLTensor *dq_out, const DLTensor *dk_out, const DLTensor *cos,
                                 const DLTensor *sin, const DLTensor *positions, DLTensor *dq, DLTensor *dk,
                                 int64_t offset, int interleaved);

/* Decode step: q, q_out [B, H, D]; k, v [B, HKV, D]; positions [B]
 * int32/int64; k_cache, v_cache [B, Smax, HKV, D] compact, updated in
 * place (any float dtype, the same for both).  With p = positions[b]:
 * q_out[b] = rot(q[b], p), k_cache[b, p] = rot(k[b], p) and
 * v_cache[b, p] = v[b] (rounded into the cache dtype); no other cache
 * element is read or written.  p outside [0, min(Smax, P)) -> INDEX.
 * alias q ok. */
zk_status zk_rope_and_cache_update(zk_ctx *ctx, const DLTensor *q, const DLTensor *k, const DLTensor *v,
                                   const DLTensor *cos, const DLTensor *sin, const DLTensor *positions,
                                   DLTensor *k_cache, DLTensor *v_cache, DLTensor *q_out, int interleaved);

/* As zk_rope_and_cache_update into paged caches k_cache, v_cache
 * [NB, BS, HKV, D]: token b writes block block_table[b, p / BS] ([B, MB]
 * int32, compact) at slot p mod BS.  p outside [0, P), p / BS >= MB or a
 * block id outside [0, NB) -> INDEX. */
zk_status zk_paged_rope_and_cache_update(zk_ctx *ctx, const DLTensor *q, const DLTensor *k, const DLTensor *v,
                                         const DLTensor *cos, const DLTensor *sin, const DLTensor *positions,
                                         const DLTensor *block_table, DLTensor *k_cache, DLTensor *v_cache,
                                         DLTensor *q_out, int interleaved);

#ifdef __cplusplus
}
#endif
#endif
