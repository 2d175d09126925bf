"""Image kernels (spec §15) for torch_compare.py, on NHWC batches of a few
hundred MB, bf16 and f32.  The shape column shows N x H x W (with the
output size for resize) x C.

resize_bilinear: 16 x 256 x 256 x 64 upscaled 2x to 512 x 512 (bf16: 128
MB in, 512 MB out), and 16 x 512 x 512 x 64 downscaled to 256 x 256, with
align_corners = 0 (half-pixel centres, zkern's default); the non-catalog
entry resize_bilinear_align_corners runs the same with align_corners = 1.
torch eager and torch.compile run F.interpolate(mode="bilinear",
antialias=False, the same align_corners, size = the output size) on
x.permute(0, 3, 1, 2): an NCHW-shaped view whose memory is NHWC
(channels_last), so torch takes its channels-last kernel and writes a
channels-last output.  With size given, torch's scale is in/out, as in
zkern; the semantics are the same (spec §15.1), up to f32 rounding.

depthwise_conv_3x3: 16 x 256 x 256 x 128 (bf16: 256 MB in, 256 MB out),
w [3, 3, C] and bias [C] in x's dtype (torch's conv2d wants one dtype).
torch eager and torch.compile run F.conv2d(groups=C, padding=1) on the
channels-last view, with the weight as w.permute(2, 0, 1)[:, None] ([C, 1,
3, 3], made once in make()), which is the same cross-correlation.

Bytes: x and y (and w, bias for the conv), each once."""
import ctypes

import torch
import torch.nn.functional as F

# (label, C, dtype, N, H, W, OH, OW): the label is what the table prints.
RESIZE = [("16x256x256>512x512", 64, torch.bfloat16, 16, 256, 256, 512, 512),
          ("16x256x256>512x512", 64, torch.float32, 16, 256, 256, 512, 512),
          ("16x512x512>256x256", 64, torch.bfloat16, 16, 512, 512, 256, 256),
          ("16x512x512>256x256", 64, torch.float32, 16, 512, 512, 256, 256)]
# (label, C, dtype, N, H, W)
CONV = [("16x256x256", 128, torch.bfloat16, 16, 256, 256), ("16x256x256", 128, torch.float32, 16, 256, 256)]


def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts if t is not None)


def nchw(x):
    """The NCHW view of an NHWC tensor (channels_last strides, no copy)."""
    return x.permute(0, 3, 1, 2)


def make_resize(label, C, dt, N, H, W, OH, OW):
    return dict(x=torch.randn(N, H, W, C, device="cuda", dtype=dt),
                y=torch.empty(N, OH, OW, C, device="cuda", dtype=dt))


def resize_ref(io, align_corners):
    y = io["y"]
    return F.interpolate(nchw(io["x"]), size=(y.shape[1], y.shape[2]), mode="bilinear",
                         align_corners=align_corners, antialias=False)


def resize_entry(align_corners):
    return dict(
        make=make_resize,
        zk=lambda z, io: z.call("resize_bilinear", [io["x"], io["y"]], [ctypes.c_int(int(align_corners))]),
        torch=lambda io: resize_ref(io, align_corners),
        comp=lambda io: resize_ref(io, align_corners),
        bytes=lambda io: nbytes(io["x"], io["y"]),
        shapes=RESIZE)


def make_conv(label, C, dt, N, H, W):
    w = torch.randn(3, 3, C, device="cuda", dtype=dt) / 3
    return dict(x=torch.randn(N, H, W, C, device="cuda", dtype=dt), w=w,
                wt=w.permute(2, 0, 1).unsqueeze(1).contiguous(memory_format=torch.channels_last),  # [C, 1, 3, 3]
                b=torch.randn(C, device="cuda", dtype=dt) * 0.1,
                y=torch.empty(N, H, W, C, device="cuda", dtype=dt))


def conv_ref(io):
    return F.conv2d(nchw(io["x"]), io["wt"], io["b"], padding=1, groups=io["x"].shape[-1])


OPS = {
    "resize_bilinear": resize_entry(False),
    # Not a catalog name: the same op with align_corners = 1.
    "resize_bilinear_align_corners": resize_entry(True),
    "depthwise_conv_3x3": dict(
        make=make_conv,
        zk=lambda z, io: z.call("depthwise_conv_3x3", [io["x"], io["w"], io["b"], io["y"]]),
        torch=conv_ref,
        comp=conv_ref,
        bytes=lambda io: nbytes(io["x"], io["w"], io["b"], io["y"]),
        shapes=CONV),
}
