"""RoPE ops for torch_compare.py (spec §7), at the bar shape: 8192 tokens ×
32 query heads (8 KV heads) × 128, bf16 and f32.

torch has no native RoPE op: eager and torch.compile both run the plain
rotate-half (or interleaved) composition in f32 with one rounding, the
formula zkern implements.  Tables are [P, 64] cos/sin of the activations'
dtype.  The cache update writes 8192 decode tokens (one per sequence) into
[B, Smax, HKV, D] caches in place (index_put_ at (b, p_b))."""
import ctypes

import torch

TOKENS, H, HKV, D, SMAX = 8192, 32, 8, 128, 4


def tables(P, dt):
    inv = 10000.0 ** (-torch.arange(0, D // 2, device="cuda", dtype=torch.float64) / (D // 2))
    ang = torch.arange(P, device="cuda", dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).to(dt), torch.sin(ang).to(dt)


def rot_half(x, c, s):
    """x [..., S, heads, D] or [..., S, D]-like, c/s broadcastable [..., h]."""
    xf, h = x.float(), x.shape[-1] // 2
    a, b = xf[..., :h], xf[..., h:]
    c, s = c.float(), s.float()
    return torch.cat([a * c - b * s, a * s + b * c], -1).to(x.dtype)


def rot_interleaved(x, c, s):
    xf = x.float()
    a, b = xf[..., 0::2], xf[..., 1::2]
    c, s = c.float(), s.float()
    return torch.stack([a * c - b * s, a * s + b * c], -1).flatten(-2).to(x.dtype)


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts if t is not None)


def make_apply(_, __, dt):
    # x [H, S, D]: row r at position r mod S (offset 0).
    c, s = tables(TOKENS, dt)
    x = torch.randn(H, TOKENS, D, device="cuda", dtype=dt)
    return dict(x=x, c=c, s=s, y=torch.empty_like(x))


def make_gqa(_, __, dt):
    c, s = tables(TOKENS, dt)
    q = torch.randn(1, TOKENS, H, D, device="cuda", dtype=dt)
    k = torch.randn(1, TOKENS, HKV, D, device="cuda", dtype=dt)
    pos = torch.arange(TOKENS, device="cuda", dtype=torch.int32).reshape(1, TOKENS)
    return dict(q=q, k=k, c=c, s=s, pos=pos, qo=torch.empty_like(q), ko=torch.empty_like(k))


def make_cache(_, __, dt):
    c, s = tables(SMAX, dt)
    q = torch.randn(TOKENS, H, D, device="cuda", dtype=dt)
    k = torch.randn(TOKENS, HKV, D, device="cuda", dtype=dt)
    v = torch.randn(TOKENS, HKV, D, device="cuda", dtype=dt)
    pos = torch.randint(0, SMAX, (TOKENS,), device="cuda", dtype=torch.int32)
    kc = torch.zeros(TOKENS, SMAX, HKV, D, device="cuda", dtype=dt)
    return dict(q=q, k=k, v=v, c=c, s=s, pos=pos, kc=kc, vc=torch.zeros_like(kc), qo=torch.empty_like(q))


def gqa_ref(io, rot):
    c, s = io["c"][None, :, None, :], io["s"][None, :, None, :]  # [1, S, 1, h]
    return rot(io["q"], c, s), rot(io["k"], c, s)


def cache_ref(io):
    p = io["pos"].long()
    c, s = io["c"][p][:, None, :], io["s"][p][:, None, :]  # [B, 1, h]
    b = torch.arange(p.numel(), device="cuda")
    io["kc"][b, p] = rot_half(io["k"], c, s)
    io["vc"][b, p] = io["v"]
    return rot_half(io["q"], c, s)


def decode_bytes(io):
    tok = io["q"].shape[0]
    row = io["c"].shape[-1] * io["c"].element_size()
    return (nbytes(io["q"], io["k"], io["v"], io["pos"], io["qo"]) + 2 * tok * row
            + 2 * io["k"].numel() * io["kc"].element_size())


SHAPES = [(TOKENS, D, torch.bfloat16), (TOKENS, D, torch.float32)]

OPS = {
    "apply_rope": dict(
        make=make_apply,
        zk=lambda z, io: z.call("apply_rope", [io["x"], io["c"], io["s"], io["y"]], [ctypes.c_int64(0)]),
        torch=lambda io: rot_half(io["x"], io["c"], io["s"]),
        comp=lambda io: rot_half(io["x"], io["c"], io["s"]),
        bytes=lambda io: nbytes(io["x"], io["c"], io["s"], io["y"]),
        shapes=SHAPES),
    "apply_rope_interleaved": dict(
        make=make_apply,
        zk=lambda z, io: z.call("apply_rope_interleaved", [io["x"], io["c"], io["s"], io["y"]],
                                [ctypes.c_int64(0)]),
        torch=lambda io: rot_interleaved(io["x"], io["c"], io["s"]),
        comp=lambda io: rot_interleaved(io["x"], io["c"], io["s"]),
        bytes=lambda io: nbytes(io["x"], io["c"], io["s"], io["y"]),
        shapes=SHAPES),
    "apply_gqa_rope": dict(
        make=make_gqa,
        zk=lambda z, io: z.call("apply_gqa_rope", [io["q"], io["k"], io["c"], io["s"], io["pos"], io["qo"], io["ko"]],
                                [ctypes.c_int64(0), ctypes.c_int(0)]),
        torch=lambda io: gqa_ref(io, rot_half),
        comp=lambda io: gqa_ref(io, rot_half),
        bytes=lambda io: nbytes(io["q"], io["k"], io["c"], io["s"], io["pos"], io["qo"], io["ko"]),
        shapes=SHAPES),
    "rope_and_cache_update": dict(
        make=make_cache,
        zk=lambda z, io: z.call("rope_and_cache_update",
                                [io["q"], io["k"], io["v"], io["c"], io["s"], io["pos"], io["kc"], io["vc"], io["qo"]],
                                [ctypes.c_int(0)]),
        torch=cache_ref,
        comp=cache_ref,
        bytes=decode_bytes,
        shapes=SHAPES),
}
