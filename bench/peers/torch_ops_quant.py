"""Dequantisation ops (spec §12) for torch_compare.py, at a few hundred MB:
8192 x 8192 codes with per-group scales (g = 128, f32 scales), into bf16
and f32.  torch has no native dequantize of these layouts: eager and
torch.compile run the plain composition (codes to f32, times the expanded
scale, one rounding), the formula zkern implements."""
import ctypes

import torch
import torch.nn.functional as F

G = 128
SHAPES = [(8192, 8192, torch.bfloat16), (8192, 8192, torch.float32)]


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts if t is not None)


def make_int8(R, D, dt):
    return dict(x=torch.randint(-128, 128, (R, D), device="cuda", dtype=torch.int8),
                s=torch.rand(R, D // G, device="cuda") * 0.02,
                y=torch.empty(R, D, device="cuda", dtype=dt))


def make_int4(R, D, dt):
    # D logical values per row: D / 2 bytes.
    return dict(x=torch.randint(0, 256, (R, D // 2), device="cuda", dtype=torch.uint8),
                s=torch.rand(R, D // G, device="cuda") * 0.02,
                zp=torch.full((R, D // G), 8.0, device="cuda"),
                y=torch.empty(R, D, device="cuda", dtype=dt))


def int8_ref(io, silu=False):
    R, D = io["x"].shape
    v = (io["x"].view(R, D // G, G).float() * io["s"][..., None]).view(R, D)
    return (F.silu(v) if silu else v).to(io["y"].dtype)


def int4_ref(io):
    R, Dp = io["x"].shape
    x = io["x"]
    q = torch.stack([x & 15, x >> 4], -1).view(R, 2 * Dp).float()  # value 2i: low nibble of byte i
    q = q.view(R, 2 * Dp // G, G)
    return ((q - io["zp"][..., None]) * io["s"][..., None]).view(R, 2 * Dp).to(io["y"].dtype)


def int8_entry(name, silu):
    return dict(
        make=make_int8,
        zk=lambda z, io: z.call(name, [io["x"], io["s"], io["y"]], [ctypes.c_int64(G)]),
        torch=lambda io: int8_ref(io, silu),
        comp=lambda io: int8_ref(io, silu),
        bytes=lambda io: nbytes(io["x"], io["s"], io["y"]),
        shapes=SHAPES)


OPS = {
    "dequantize_int8": int8_entry("dequantize_int8", False),
    "dequantize_silu_int8": int8_entry("dequantize_silu_int8", True),
    "dequantize_int4": dict(
        make=make_int4,
        zk=lambda z, io: z.call("dequantize_int4", [io["x"], io["s"], io["zp"], io["y"]],
                                [ctypes.c_int64(G), ctypes.c_int(0)]),
        torch=int4_ref,
        comp=int4_ref,
        bytes=lambda io: nbytes(io["x"], io["s"], io["zp"], io["y"]),
        shapes=SHAPES),
}
