"""Test-data folders for issue #14's two indivisible pieces (h-inorm): an image-to-image net with InstanceNormalization
(Johnson et al.'s fast style transfer: 9x9 conv, two stride-2 convs, residual blocks, two upsampling convs, all with
InstanceNorm2d), and a float16 GPT-2 whose MLP projection has a long K (n_inner 16384 over n_embd 32: a column block
of 16 columns over all of K is a quarter of that weight, more than a 10% budget holds without a K cut).

Needs the sweep venv. Output goes to $SWEEP_OUT (default /tmp/sweep-inorm)/models.
"""
# usage: export_inorm.py style|style-zeros|gpt2half|gpt2half-relu
import os, sys, copy, warnings
warnings.filterwarnings("ignore")
import torch
sys.path.insert(0, os.path.dirname(__file__))
import sweep_io
torch.manual_seed(0)
OUT = os.environ.get("SWEEP_OUT", "/tmp/sweep-inorm") + "/models"
# the original's reflection pads (a Pad node per conv), or zeros (the conv's own pads): style-zeros
PAD = "reflect"
# GPT-2's tanh GELU (Pow, Tanh, Mul, Add over [2, 16, 16384]), or ReLU: gpt2half-relu
ACT = "gelu_new"
os.makedirs(OUT, exist_ok=True)


class ConvIN(torch.nn.Module):
    def __init__(s, ci, co, k, stride=1, relu=True, up=False):
        super().__init__()
        s.up = up
        s.conv = torch.nn.Conv2d(ci, co, k, stride, k // 2, padding_mode=PAD)
        s.norm = torch.nn.InstanceNorm2d(co, affine=True)
        s.relu = relu

    def forward(s, x):
        if s.up: x = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        y = s.norm(s.conv(x))
        return torch.relu(y) if s.relu else y


class Residual(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.a, s.b = ConvIN(c, c, 3), ConvIN(c, c, 3, relu=False)

    def forward(s, x): return x + s.b(s.a(x))


class StyleNet(torch.nn.Module):
    """Fast style transfer (narrower: 16/32/64 channels, 3 residual blocks)."""
    def __init__(s):
        super().__init__()
        s.body = torch.nn.Sequential(ConvIN(3, 16, 9), ConvIN(16, 32, 3, 2), ConvIN(32, 64, 3, 2),
                                     *[Residual(64) for _ in range(3)],
                                     ConvIN(64, 32, 3, up=True), ConvIN(32, 16, 3, up=True))
        s.out = torch.nn.Conv2d(16, 3, 9, 1, 4, padding_mode=PAD)

    def forward(s, x): return s.out(s.body(x))


def style():
    def fn():
        torch.manual_seed(0)
        m = StyleNet().eval()
        for mod in m.modules():  # scale and bias away from 1 and 0, so that a wrong channel shows
            if isinstance(mod, torch.nn.InstanceNorm2d):
                mod.weight.data.uniform_(0.5, 1.5); mod.bias.data.uniform_(-0.5, 0.5)
        return m, (torch.rand(1, 3, 128, 128) * 255,), ["image"]
    sweep_io.run(OUT, "stylenet" + ("" if PAD == "reflect" else "-" + PAD), fn, dynamos=(False,))


class TextNoPast(torch.nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, ids, mask): return s.m(input_ids=ids, attention_mask=mask, use_cache=False, return_dict=False)[0]


def gpt2half():
    import transformers as T
    def fn():
        torch.manual_seed(0)
        m = TextNoPast(T.GPT2Model(T.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_inner=16384, vocab_size=1000,
                                                   activation_function=ACT))).eval()
        ids = torch.randint(0, 1000, (2, 16)); mask = torch.ones(2, 16, dtype=torch.int64); mask[1, 11:] = 0
        h = copy.deepcopy(m).half()
        return h, (ids, mask), ["input_ids", "attention_mask"], copy.deepcopy(h).double()
    sweep_io.run(OUT, "gpt2-longk" + ("" if ACT == "gelu_new" else "-" + ACT), fn, dynamos=(True,), suffix="-fp16")


if __name__ == "__main__":
    which = sys.argv[1]
    if which == "style-zeros": PAD = "zeros"
    if which == "gpt2half-relu": ACT = "relu"
    {"style": style, "gpt2half": gpt2half}[which.split("-")[0]]()
