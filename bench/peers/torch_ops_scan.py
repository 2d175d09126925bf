"""zkern's cumsum beside PyTorch (loaded by torch_compare.py), on the
performance bar's shape 8192 x 4096."""
import ctypes

import torch

BAR = [(8192, 4096, torch.float32), (8192, 4096, torch.bfloat16)]

OPS = {
    "cumsum_lastdim": dict(
        make=lambda R, D, dt: dict(x=torch.randn(R, D, device="cuda", dtype=dt),
                                   y=torch.empty(R, D, device="cuda", dtype=dt)),
        zk=lambda z, io: z.call("cumsum_lastdim", [io["x"], io["y"]], [ctypes.c_int(0), ctypes.c_int(0)]),
        torch=lambda io: torch.cumsum(io["x"], -1),
        comp=lambda io: torch.cumsum(io["x"].float(), -1).to(io["x"].dtype),
        bytes=lambda io: 2 * io["x"].numel() * io["x"].element_size(),
        shapes=BAR),
}
