"""Bit packing (spec §13) for torch_compare.py: 2^28 bool values (256 MB)
packed into 32 MB, and back.  torch has no packbits: eager and
torch.compile run the composition (shift each of 8 values to its bit and
sum; shift and mask to unpack), little bit order as in zkern."""
import ctypes

import torch

N_VALUES = 1 << 28
SHAPES = [(N_VALUES // 8, 8, torch.bool)]  # R x D = the value count


def shifts():
    return torch.arange(8, device="cuda", dtype=torch.int32)


def pack_ref(io):
    bits = io["x"].view(-1, 8).to(torch.int32) << shifts()
    return bits.sum(-1, dtype=torch.int32).to(torch.uint8)


def unpack_ref(io):
    return ((io["p"].to(torch.int32)[:, None] >> shifts()) & 1).view(-1).to(torch.bool)


def make_pack(R, D, _):
    return dict(x=torch.rand(R * D, device="cuda") < 0.5,
                y=torch.empty((R * D + 7) // 8, device="cuda", dtype=torch.uint8))


def make_unpack(R, D, _):
    return dict(p=torch.randint(0, 256, ((R * D + 7) // 8,), device="cuda", dtype=torch.uint8),
                y=torch.empty(R * D, device="cuda", dtype=torch.bool))


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts)


OPS = {
    "pack_bits": dict(
        make=make_pack,
        zk=lambda z, io: z.call("pack_bits", [io["x"], io["y"]]),
        torch=pack_ref,
        comp=pack_ref,
        bytes=lambda io: nbytes(io["x"], io["y"]),
        shapes=SHAPES),
    "unpack_bits": dict(
        make=make_unpack,
        zk=lambda z, io: z.call("unpack_bits", [io["p"], io["y"]], [ctypes.c_int64(io["y"].numel())]),
        torch=unpack_ref,
        comp=unpack_ref,
        bytes=lambda io: nbytes(io["p"], io["y"]),
        shapes=SHAPES),
}
