#!/usr/bin/env python3
"""zk_adamw_step against torch.optim.AdamW(foreach=False) on CUDA tensors.

Ten chained steps (t = 1..10, a fresh N(0, 1) gradient each step, m = v = 0
at the start, as torch starts) for several hyperparameter sets (lerp's
second form at beta1 = 0.3 included) and two shapes (a flat 2^20 f32
vector: zkern's 16-byte path; 7 x 4097: its element path).  After every
step it prints the largest ulp difference of p, m and v between zkern and
torch, and checks the spec's parity bound (§17.1: within rtol 2e-6, atol
1e-9 of torch at lr <= 1e-3).  With --fused it also reports the ulps
against AdamW(fused=True), for information.  Exit status 1 when a checked
set leaves the bound.

    python3 bench/peers/adamw_vs_torch.py --lib build-gpu/libzkern.so
"""
import argparse
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_compare import Zkern  # noqa: E402
from torch_ops_optimizers import zk_adamw  # noqa: E402

# (lr, beta1, beta2, eps, weight_decay); the parity bound applies at lr <= 1e-3.
HYPER = [(1e-3, 0.9, 0.999, 1e-8, 1e-2), (1e-3, 0.3, 0.99, 1e-6, 0.1), (3e-4, 0.95, 0.95, 1e-8, 0.0),
         (1e-2, 0.9, 0.999, 1e-8, 1e-2)]
SHAPES = [(1 << 20,), (7, 4097)]
RTOL, ATOL = 2e-6, 1e-9


def ordered(t):
    """f32 values as int64 in float order (+0 and -0 both 0): ulp distance = difference."""
    i = t.contiguous().view(torch.int32).to(torch.int64)
    return torch.where(i < 0, -(i & 0x7FFFFFFF), i)


def max_ulp(a, b):
    return int((ordered(a) - ordered(b)).abs().max())


def run_set(z, hyper, shape, fused, seed):
    lr, b1, b2, eps, wd = hyper
    gen = torch.Generator(device="cuda").manual_seed(seed)
    p0 = torch.randn(shape, device="cuda", generator=gen)
    p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    refs = {}
    for kind in ["foreach"] + (["fused"] if fused else []):
        pt = torch.nn.Parameter(p0.clone())
        opt = torch.optim.AdamW([pt], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                                **({"fused": True} if kind == "fused" else {"foreach": False}))
        refs[kind] = (pt, opt)
    ok = True
    for step in range(1, 11):
        g = torch.randn(shape, device="cuda", generator=gen)
        zk_adamw(z, p, g, m, v, lr=lr, betas=(b1, b2), eps=eps, wd=wd, step=step)
        z.views.clear()  # g is fresh every step: never reuse a cached DLPack view
        s = z.lib.zk_ctx_synchronize(z.ctx)
        if s != 0:
            raise SystemExit(f"zk_ctx_synchronize: status {s}: {z.lib.zk_ctx_last_error(z.ctx).decode()}")
        line = f"  step {step:2}:"
        for kind, (pt, opt) in refs.items():
            pt.grad = g.clone()
            opt.step()
            st = opt.state[pt]
            tp, tm, tv = pt.detach(), st["exp_avg"], st["exp_avg_sq"]
            line += f"  {kind}: ulp p {max_ulp(p, tp):4} m {max_ulp(m, tm):4} v {max_ulp(v, tv):4}"
            if kind == "foreach" and lr <= 1e-3:
                for name, a, b in (("p", p, tp), ("m", m, tm), ("v", v, tv)):
                    bad = ((a - b).abs() > ATOL + RTOL * b.abs()).sum().item()
                    if bad:
                        ok = False
                        line += f" [{name}: {bad} outside rtol {RTOL} atol {ATOL}]"
        print(line)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", required=True)
    ap.add_argument("--fused", action="store_true", help="also compare with AdamW(fused=True)")
    args = ap.parse_args()
    z = Zkern(args.lib)
    z.lib.zk_ctx_synchronize.argtypes = [type(z.ctx)]
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    all_ok = True
    for i, hyper in enumerate(HYPER):
        for shape in SHAPES:
            checked = "checked" if hyper[0] <= 1e-3 else "not checked (lr > 1e-3)"
            print(f"lr {hyper[0]:g} betas ({hyper[1]:g}, {hyper[2]:g}) eps {hyper[3]:g} wd {hyper[4]:g}, "
                  f"shape {list(shape)}, f32, parity bound {checked}")
            all_ok &= run_set(z, hyper, shape, args.fused, 1000 + i)
    print("parity with torch.optim.AdamW(foreach=False): " + ("within the spec's bound" if all_ok else "FAILED"))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
