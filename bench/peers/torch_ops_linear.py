"""Linear layers with a fused epilogue (spec §10) for torch_compare.py, at
M = 8192 tokens, N = 4096 outputs, K = 4096 inputs, bf16 and f32 (x [M, K],
w [N, K] in nn.Linear layout, bias or gamma [N] and y [M, N] in x's dtype).
The shape column shows M x N.

fused_linear_bias_silu / fused_linear_bias_gelu: torch eager and
torch.compile run F.linear(x, w, bias) then F.silu / F.gelu(tanh).
fused_linear_rmsnorm: F.linear(x, w) then F.rms_norm(gamma, eps 1e-6).
torch rounds the GEMM output to x's dtype before the epilogue (zkern keeps
z in f32 and rounds once), and may let cuBLAS reduce bf16 in reduced
precision (allow_bf16_reduced_precision_reduction, on by default); f32
runs without TF32 on both sides (torch's default matmul precision, and
zkern's contract).  These are timing comparisons: parity is tested
elsewhere.

"matmul_only" is not a catalog op: both columns run the plain cuBLAS GEMM
x @ w.T (the zkern column with out=y, so no allocation), so the table shows
the GEMM alone beside the fused ops; the issue's target is each fused op
within 10% of this GEMM time.

The bytes are x, w, bias/gamma and y, so the %copy column is meaningless
for these compute-bound ops (a 8192 x 4096 x 4096 GEMM is 275 GFLOP); read
the microsecond columns."""
import ctypes

import torch
import torch.nn.functional as F

EPS = 1e-6
# (M, N, dtype, K)
SHAPES = [(8192, 4096, torch.bfloat16, 4096), (8192, 4096, torch.float32, 4096)]


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts if t is not None)


def make(M, N, dt, K):
    # Scaled so that z = x·wᵀ stays O(1) and the activations are not saturated.
    return dict(x=torch.randn(M, K, device="cuda", dtype=dt),
                w=torch.randn(N, K, device="cuda", dtype=dt) * (K ** -0.5),
                b=torch.randn(N, device="cuda", dtype=dt) * 0.1,
                y=torch.empty(M, N, device="cuda", dtype=dt))


def silu_ref(io):
    return F.silu(F.linear(io["x"], io["w"], io["b"]))


def gelu_ref(io):
    return F.gelu(F.linear(io["x"], io["w"], io["b"]), approximate="tanh")


def rmsnorm_ref(io):
    # gamma is io["b"]: [N] like the bias.
    z = F.linear(io["x"], io["w"])
    return F.rms_norm(z, (z.shape[-1],), io["b"], EPS)


def matmul_ref(io):
    return torch.matmul(io["x"], io["w"].t())


def entry(zk, ref):
    return dict(make=make, zk=zk, torch=ref, comp=ref,
                bytes=lambda io: nbytes(io["x"], io["w"], io["b"], io["y"]), shapes=SHAPES)


OPS = {
    "fused_linear_bias_silu": entry(
        lambda z, io: z.call("fused_linear_bias_silu", [io["x"], io["w"], io["b"], io["y"]]), silu_ref),
    "fused_linear_bias_gelu": entry(
        lambda z, io: z.call("fused_linear_bias_gelu", [io["x"], io["w"], io["b"], io["y"]]), gelu_ref),
    "fused_linear_rmsnorm": entry(
        lambda z, io: z.call("fused_linear_rmsnorm", [io["x"], io["w"], io["b"], io["y"]], [ctypes.c_float(EPS)]),
        rmsnorm_ref),
    # Not a catalog name: cuBLAS's plain GEMM in both columns (zkern has no
    # plain GEMM op), the yardstick for the three fused ops.
    "matmul_only": dict(
        make=make,
        zk=lambda z, io: torch.matmul(io["x"], io["w"].t(), out=io["y"]),
        torch=matmul_ref,
        comp=matmul_ref,
        bytes=lambda io: nbytes(io["x"], io["w"], io["y"]),
        shapes=SHAPES),
}
