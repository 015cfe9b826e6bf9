"""Exports real architectures with random weights to ONNX as test-data folders (model.onnx, test_data_set_0 with
ONNX Runtime's outputs), for `./sluice test-data` and `./sluice bench`: models the zoo has not seen, written the way
users export them (torch.onnx, both the TorchScript exporter and the dynamo exporter).

Needs python3 with torch, onnx, onnxruntime, onnxscript, and timm / transformers for those families (a venv; not
part of the build). Output goes to $SWEEP_OUT (default /tmp/sweep)/models.
"""
# a YOLOv8-like detector (C2f, SPPF, DFL head, box decoding) written out here
import os, sys, warnings; warnings.filterwarnings("ignore")
import numpy as np, torch, torch.nn as nn, onnx, onnxruntime as ort
from onnx import numpy_helper
torch.manual_seed(0)
def conv(c1, c2, k=1, s=1): return nn.Sequential(nn.Conv2d(c1, c2, k, s, k // 2, bias=False), nn.BatchNorm2d(c2), nn.SiLU())
class Bottleneck(nn.Module):
    def __init__(s, c, sc=True): super().__init__(); s.a = conv(c, c, 3); s.b = conv(c, c, 3); s.sc = sc
    def forward(s, x): y = s.b(s.a(x)); return x + y if s.sc else y
class C2f(nn.Module):
    def __init__(s, c1, c2, n=1, sc=False):
        super().__init__(); s.c = c2 // 2; s.cv1 = conv(c1, 2 * s.c); s.cv2 = conv((2 + n) * s.c, c2); s.m = nn.ModuleList(Bottleneck(s.c, sc) for _ in range(n))
    def forward(s, x):
        y = list(s.cv1(x).split((s.c, s.c), 1)); y.extend(m(y[-1]) for m in s.m); return s.cv2(torch.cat(y, 1))
class SPPF(nn.Module):
    def __init__(s, c1, c2): super().__init__(); c = c1 // 2; s.cv1 = conv(c1, c); s.cv2 = conv(c * 4, c2); s.m = nn.MaxPool2d(5, 1, 2)
    def forward(s, x): x = s.cv1(x); y1 = s.m(x); y2 = s.m(y1); return s.cv2(torch.cat((x, y1, y2, s.m(y2)), 1))
class DFL(nn.Module):
    def __init__(s, c1=16): super().__init__(); s.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False); s.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1); s.c1 = c1
    def forward(s, x): b, _, a = x.shape; return s.conv(x.view(b, 4, s.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)
class Yolo(nn.Module):
    def __init__(s, nc=80, w=(16, 32, 64, 128, 256)):
        super().__init__()
        s.b0 = nn.Sequential(conv(3, w[0], 3, 2), conv(w[0], w[1], 3, 2), C2f(w[1], w[1], 1, True))
        s.b1 = nn.Sequential(conv(w[1], w[2], 3, 2), C2f(w[2], w[2], 2, True))
        s.b2 = nn.Sequential(conv(w[2], w[3], 3, 2), C2f(w[3], w[3], 2, True))
        s.b3 = nn.Sequential(conv(w[3], w[4], 3, 2), C2f(w[4], w[4], 1, True), SPPF(w[4], w[4]))
        s.up = nn.Upsample(None, 2, "nearest")
        s.h1 = C2f(w[4] + w[3], w[3]); s.h2 = C2f(w[3] + w[2], w[2]); s.d1 = conv(w[2], w[2], 3, 2); s.h3 = C2f(w[2] + w[3], w[3]); s.d2 = conv(w[3], w[3], 3, 2); s.h4 = C2f(w[3] + w[4], w[4])
        s.nc = nc; s.reg = 16; s.no = nc + 4 * s.reg
        s.cv2 = nn.ModuleList(nn.Sequential(conv(c, 64, 3), conv(64, 64, 3), nn.Conv2d(64, 4 * s.reg, 1)) for c in (w[2], w[3], w[4]))
        s.cv3 = nn.ModuleList(nn.Sequential(conv(c, 80, 3), conv(80, 80, 3), nn.Conv2d(80, nc, 1)) for c in (w[2], w[3], w[4]))
        s.dfl = DFL(s.reg); s.strides = (8, 16, 32)
    def forward(s, x):
        p3 = s.b1(s.b0(x)); p4 = s.b2(p3); p5 = s.b3(p4)
        h1 = s.h1(torch.cat((s.up(p5), p4), 1)); h2 = s.h2(torch.cat((s.up(h1), p3), 1))
        h3 = s.h3(torch.cat((s.d1(h2), h1), 1)); h4 = s.h4(torch.cat((s.d2(h3), p5), 1))
        xs = [torch.cat((s.cv2[i](f), s.cv3[i](f)), 1) for i, f in enumerate((h2, h3, h4))]
        anchors, strides = [], []
        for f, st in zip(xs, s.strides):
            _, _, h, w = f.shape
            sy, sx = torch.meshgrid(torch.arange(h, dtype=torch.float) + 0.5, torch.arange(w, dtype=torch.float) + 0.5, indexing="ij")
            anchors.append(torch.stack((sx, sy), -1).view(-1, 2)); strides.append(torch.full((h * w, 1), float(st)))
        anchors = torch.cat(anchors).transpose(0, 1).unsqueeze(0); strides = torch.cat(strides).transpose(0, 1)
        x_cat = torch.cat([xi.view(xs[0].shape[0], s.no, -1) for xi in xs], 2)
        box, cls = x_cat.split((s.reg * 4, s.nc), 1)
        d = s.dfl(box); lt, rb = d.chunk(2, 1); x1y1 = anchors - lt; x2y2 = anchors + rb
        dbox = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        return torch.cat((dbox, cls.sigmoid()), 1)
if __name__ == "__main__":  # export_more.py imports Yolo for its half-precision run
    m = Yolo().eval()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1); mod.running_var.uniform_(0.5, 1.5); mod.weight.data.uniform_(0.5, 1.0)
    x = torch.randn(1, 3, 320, 320)
    for dyn in (False, True):
        d = os.environ.get("SWEEP_OUT", "/tmp/sweep") + f"/models/yolov8like-{'dyn' if dyn else 'ts'}"; os.makedirs(d, exist_ok=True); p = d + "/model.onnx"
        with torch.no_grad(): torch.onnx.export(m, (x,), p, input_names=["images"], output_names=["output0"], dynamo=dyn, **({} if dyn else {"opset_version": 17}))
        mm = onnx.load(p, load_external_data=True); onnx.save(mm, p)
        s = ort.InferenceSession(p, providers=["CPUExecutionProvider"]); out = s.run(None, {"images": x.numpy()})
        ds = d + "/test_data_set_0"; os.makedirs(ds, exist_ok=True)
        open(ds + "/input_0.pb", "wb").write(numpy_helper.from_array(x.numpy(), "images").SerializeToString())
        open(ds + "/output_0.pb", "wb").write(numpy_helper.from_array(out[0], "output0").SerializeToString())
        print(d, "ok", sorted({n.op_type for n in mm.graph.node}))
