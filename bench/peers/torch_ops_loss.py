"""zkern's softmax cross-entropy beside PyTorch (loaded by
torch_compare.py): the forward on the performance bar's shape 4096 x 128256
bf16 (a Llama-3 vocabulary), reduction none, plus its fused grad."""
import ctypes

import torch
import torch.nn.functional as F

BAR = [(4096, 128256, torch.bfloat16)]
NONE, IGNORE, EPS = 0, -100, 0.0


def make(R, C, dt):
    return dict(z=torch.randn(R, C, device="cuda", dtype=dt),
                t=torch.randint(0, C, (R,), device="cuda", dtype=torch.int64),
                loss=torch.empty(R, device="cuda", dtype=torch.float32),
                dloss=torch.randn(R, device="cuda", dtype=torch.float32),
                dz=torch.empty(R, C, device="cuda", dtype=dt))


def ce(io):
    return F.cross_entropy(io["z"].float(), io["t"], reduction="none", ignore_index=IGNORE, label_smoothing=EPS)


def ce_grad(io):
    z = io["z"].float().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(z, io["t"], reduction="none"), z, io["dloss"])
    return g.to(io["z"].dtype)


SCALARS = [ctypes.c_int(NONE), ctypes.c_int64(IGNORE), ctypes.c_float(EPS)]

OPS = {
    "softmax_cross_entropy": dict(
        make=make,
        zk=lambda z, io: z.call("softmax_cross_entropy", [io["z"], io["t"], io["loss"]], SCALARS),
        torch=ce, comp=ce,
        bytes=lambda io: sum(t.numel() * t.element_size() for t in (io["z"], io["t"], io["loss"])),
        shapes=BAR),
    "softmax_cross_entropy_grad": dict(
        make=make,
        zk=lambda z, io: z.call("softmax_cross_entropy_grad", [io["z"], io["t"], io["dloss"], io["dz"]], SCALARS),
        torch=ce_grad, comp=ce_grad,
        bytes=lambda io: sum(t.numel() * t.element_size() for t in (io["z"], io["t"], io["dloss"], io["dz"])),
        shapes=BAR),
}
