"""The second sweep of real architectures (random weights, no downloads) as test-data folders (model.onnx,
test_data_set_0 with ONNX Runtime's outputs), for `./sluice test-data`: families the first sweep (export_models.py)
lacked, decoders with and without past_key_values, full encoder-decoder forwards, other opsets, and half precision.

Needs the sweep venv (torch, timm, transformers, onnxruntime, onnxscript). Output goes to $SWEEP_OUT (default
/tmp/sweep2)/models. Half-precision folders also hold ref64_K.npy: the same model run by torch in float64 on the same
(fp16-rounded) inputs, the reference that decides whether Sluice or ORT is closer where they differ (compare_half.py).
"""
# usage: export_more.py decoders|dynpast|encdec|vision|timm|tv|opsets|half|mixed [NAME...]
import os, sys, time, copy, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch, onnx, onnxruntime as ort
from onnx import numpy_helper
torch.manual_seed(0)
OUT = os.environ.get("SWEEP_OUT", "/tmp/sweep2") + "/models"
os.makedirs(OUT, exist_ok=True)


import sweep_io


def run(name, fn, dynamos=(False, True), opset=None, suffix=""):
    sweep_io.run(OUT, name, fn, dynamos, opset=opset, suffix=suffix)


def hf():
    import transformers as T
    return T


def small(cfg_cls, **kw):
    return cfg_cls(**kw)


def decoder_specs():
    T = hf()
    common = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, vocab_size=1000)
    return {
        "gpt-neox": lambda: T.GPTNeoXModel(T.GPTNeoXConfig(**common)),
        "phi": lambda: T.PhiModel(T.PhiConfig(**common, partial_rotary_factor=0.5)),
        "gemma": lambda: T.GemmaModel(T.GemmaConfig(**common, num_key_value_heads=1, head_dim=32)),
        "mistral": lambda: T.MistralModel(T.MistralConfig(**common, num_key_value_heads=2, sliding_window=8)),
        "falcon": lambda: T.FalconModel(T.FalconConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=1000, alibi=False, multi_query=True)),
        "bloom": lambda: T.BloomModel(T.BloomConfig(hidden_size=128, n_layer=2, n_head=4, vocab_size=1000)),
        "opt": lambda: T.OPTModel(T.OPTConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, ffn_dim=256, vocab_size=1000, word_embed_proj_dim=128)),
    }


class DecoderNoPast(torch.nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, ids, mask): return s.m(input_ids=ids, attention_mask=mask, use_cache=False, return_dict=False)[0]


class DecoderWithPast(torch.nn.Module):
    """One decoding step of 3 tokens after a past of P: inputs ids, mask (P+3), then per layer key, value."""
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, ids, mask, *past):
        from transformers import DynamicCache
        cache = DynamicCache([(past[2 * i], past[2 * i + 1]) for i in range(len(past) // 2)], config=s.m.config)
        pos = torch.arange(past[0].shape[2], past[0].shape[2] + ids.shape[1]).unsqueeze(0)
        kw = dict(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True, return_dict=True)
        if "position_ids" in s.m.forward.__code__.co_varnames: kw["position_ids"] = pos
        o = s.m(**kw)
        outs = [o.last_hidden_state]
        for layer in o.past_key_values.layers: outs += [layer.keys, layer.values]
        return tuple(outs)


def export_decoders(names):
    specs = decoder_specs()
    for n in names or specs:
        def plain(n=n):
            m = specs[n]()
            ids = torch.randint(0, 1000, (2, 16)); mask = torch.ones(2, 16, dtype=torch.int64); mask[1, 11:] = 0
            return DecoderNoPast(m), (ids, mask), ["input_ids", "attention_mask"]
        run(n, plain)

        def past(n=n):
            m = specs[n]().eval()
            p = 5
            with torch.no_grad():
                o = m(input_ids=torch.randint(0, 1000, (1, p)), use_cache=True, return_dict=True)
            kv = []
            for layer in o.past_key_values.layers: kv += [layer.keys.clone(), layer.values.clone()]
            ids = torch.randint(0, 1000, (1, 3)); mask = torch.ones(1, p + 3, dtype=torch.int64)
            names_ = ["input_ids", "attention_mask"] + [f"past_{i // 2}_{'kv'[i % 2]}" for i in range(len(kv))]
            return DecoderWithPast(m), (ids, mask, *kv), names_
        run(n + "-past", past)


def export_dynpast(names):
    """Decoders with past_key_values and dynamic axes (TorchScript exporter, opset 17): one session, several past
    lengths and step sizes, some longer than Mistral's sliding window (8), batch 2 with left padding."""
    specs = decoder_specs()
    for n in names or specs:
        name = n + "-past-dynaxes"
        d = os.path.join(OUT, name)
        try:
            m = specs[n]().eval()
            with torch.no_grad():
                o = m(input_ids=torch.randint(0, 1000, (1, 5)), use_cache=True, return_dict=True)
            kv = []
            for layer in o.past_key_values.layers: kv += [layer.keys.clone(), layer.values.clone()]
            names_ = ["input_ids", "attention_mask"] + [f"past_{i // 2}_{'kv'[i % 2]}" for i in range(len(kv))]
            axes = {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "t"}}
            for nm in names_[2:]: axes[nm] = {0: "b", 2: "p"}
            os.makedirs(d, exist_ok=True); path = os.path.join(d, "model.onnx")
            with torch.no_grad():
                torch.onnx.export(DecoderWithPast(m), (torch.randint(0, 1000, (1, 3)), torch.ones(1, 8, dtype=torch.int64), *kv), path,
                                  input_names=names_, dynamic_axes=axes, dynamo=False, opset_version=17)
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            r = np.random.default_rng(3)
            for si, (b, p, s_) in enumerate([(1, 5, 3), (2, 12, 1), (1, 0 + 9, 6), (2, 3, 4)]):
                feeds = {"input_ids": r.integers(0, 1000, (b, s_)).astype(np.int64), "attention_mask": np.ones((b, p + s_), np.int64)}
                if b > 1: feeds["attention_mask"][1, :2] = 0  # left padding of the second row
                for nm, t in zip(names_[2:], kv):
                    shp = list(t.shape); shp[0] = b; shp[2] = p
                    feeds[nm] = r.standard_normal(shp).astype(np.float32)
                outs = sess.run(None, feeds)
                ds = os.path.join(d, f"test_data_set_{si}"); os.makedirs(ds, exist_ok=True)
                for k, nm in enumerate(names_):
                    open(os.path.join(ds, f"input_{k}.pb"), "wb").write(numpy_helper.from_array(feeds[nm], nm).SerializeToString())
                for k, (oo, v) in enumerate(zip(sess.get_outputs(), outs)):
                    open(os.path.join(ds, f"output_{k}.pb"), "wb").write(numpy_helper.from_array(np.asarray(v), oo.name).SerializeToString())
            print(name, "ok", flush=True)
        except Exception as e:
            print(name, "EXPORT-FAIL", type(e).__name__, str(e).strip().split("\n")[0][:200], flush=True)


def export_encdec(names):
    T = hf()
    specs = {
        "bart": lambda: T.BartModel(T.BartConfig(d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                                                  encoder_ffn_dim=256, decoder_ffn_dim=256, vocab_size=1000, max_position_embeddings=64)),
        "t5": lambda: T.T5Model(T.T5Config(d_model=128, num_layers=2, num_heads=4, d_ff=256, d_kv=32, vocab_size=1000)),
        "whisper": lambda: T.WhisperModel(T.WhisperConfig(d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                                                          encoder_ffn_dim=256, decoder_ffn_dim=256, vocab_size=1000, num_mel_bins=80, max_source_positions=50, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
                                                          max_target_positions=32)),
        "marian": lambda: T.MarianModel(T.MarianConfig(d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                                                        encoder_ffn_dim=256, decoder_ffn_dim=256, vocab_size=1000, max_position_embeddings=64, pad_token_id=0, decoder_start_token_id=0)),
    }

    class Seq2Seq(torch.nn.Module):
        def __init__(s, m): super().__init__(); s.m = m
        def forward(s, ids, mask, dec):
            return s.m(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, use_cache=False, return_dict=False)[0]

    class Speech(torch.nn.Module):
        def __init__(s, m): super().__init__(); s.m = m
        def forward(s, feats, dec): return s.m(input_features=feats, decoder_input_ids=dec, use_cache=False, return_dict=False)[0]

    for n in names or specs:
        def fn(n=n):
            m = specs[n]()
            dec = torch.randint(1, 1000, (2, 7))
            if n == "whisper": return Speech(m), (torch.randn(2, 80, 100), dec), ["input_features", "decoder_input_ids"]
            ids = torch.randint(1, 1000, (2, 12)); mask = torch.ones(2, 12, dtype=torch.int64); mask[1, 9:] = 0
            return Seq2Seq(m), (ids, mask, dec), ["input_ids", "attention_mask", "decoder_input_ids"]
        run(n, fn)


def vision_specs():
    T = hf()
    return {
        "swinv2": (lambda: T.Swinv2Model(T.Swinv2Config(image_size=64, patch_size=4, embed_dim=32, depths=[1, 1], num_heads=[2, 4], window_size=4)), 64),
        "beit": (lambda: T.BeitModel(T.BeitConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, image_size=64, patch_size=8,
                                                  use_relative_position_bias=True)), 64),
        "dinov2": (lambda: T.Dinov2Model(T.Dinov2Config(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, image_size=64, patch_size=8)), 64),
        "mobilevit-hf": (lambda: T.MobileViTModel(T.MobileViTConfig(image_size=64, hidden_sizes=[48, 64, 80], neck_hidden_sizes=[16, 16, 24, 48, 64, 80, 320])), 64),
        "deit-hf": (lambda: T.DeiTModel(T.DeiTConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, image_size=64, patch_size=8)), 64),
        "detr": (lambda: T.DetrForObjectDetection(T.DetrConfig(use_pretrained_backbone=False, backbone="resnet18", use_timm_backbone=True, d_model=64, encoder_layers=1,
                                                                decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
                                                                decoder_ffn_dim=128, num_queries=20)), 128),
        "yolos": (lambda: T.YolosForObjectDetection(T.YolosConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, image_size=[64, 64],
                                                                    patch_size=8, num_detection_tokens=10)), 64),
        "levit-hf": (lambda: T.LevitModel(T.LevitConfig(image_size=64)), 64),
    }


def export_vision(names):
    specs = vision_specs()

    class Pix(torch.nn.Module):
        def __init__(s, m): super().__init__(); s.m = m
        def forward(s, x):
            o = s.m(pixel_values=x, return_dict=False)
            return tuple(t for t in o if isinstance(t, torch.Tensor))

    for n in names or specs:
        def fn(n=n):
            mk, size = specs[n]
            return Pix(mk()), (torch.randn(1, 3, size, size),), ["pixels"]
        run(n, fn)


def export_timm(names):
    import timm
    for n in names:
        def fn(n=n):
            m = timm.create_model(n, pretrained=False)
            size = m.pretrained_cfg.get("input_size", (3, 224, 224)) if hasattr(m, "pretrained_cfg") else (3, 224, 224)
            return m, (torch.randn(1, *size),), ["pixels"]
        run(n, fn)


def export_tv(names):
    import torchvision.models as tvm
    for n in names:
        def fn(n=n):
            m = getattr(tvm, n)(weights=None)
            size = 299 if n == "inception_v3" else 224
            return m, (torch.randn(1, 3, size, size),), ["pixels"]
        run("tv-" + n, fn)


def export_opsets(names):
    """The same models at opsets the first sweep did not use: 13 with the TorchScript exporter, 20/23 with dynamo."""
    import timm
    T = hf()
    mk = {
        "resnet18": lambda: (timm.create_model("resnet18"), (torch.randn(1, 3, 224, 224),), ["pixels"]),
        "mobilenetv3_small_100": lambda: (timm.create_model("mobilenetv3_small_100"), (torch.randn(1, 3, 224, 224),), ["pixels"]),
        "vit_tiny_patch16_224": lambda: (timm.create_model("vit_tiny_patch16_224"), (torch.randn(1, 3, 224, 224),), ["pixels"]),
        "bert": lambda: text(T.BertModel(T.BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, vocab_size=1000))),
        "gpt2": lambda: text(T.GPT2Model(T.GPT2Config(n_embd=128, n_layer=2, n_head=4, vocab_size=1000))),
        "llama": lambda: text(T.LlamaModel(T.LlamaConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=256, vocab_size=1000))),
    }
    def eager(f):
        # opset 13 has no scaled_dot_product_attention export: Hugging Face's eager attention (MatMul, Softmax)
        def g():
            m, *rest = f()
            inner = getattr(m, "m", m)
            if hasattr(inner, "set_attn_implementation"): inner.set_attn_implementation("eager")
            return (m, *rest)
        return g
    for n in names or mk:
        run(n, eager(mk[n]), dynamos=(False,), opset=13, suffix="-op13")
        run(n, mk[n], dynamos=(True,), opset=20, suffix="-op20")
        run(n, mk[n], dynamos=(True,), opset=23, suffix="-op23")


def text(m):
    ids = torch.randint(0, 1000, (2, 16)); mask = torch.ones(2, 16, dtype=torch.int64); mask[1, 11:] = 0
    return DecoderNoPast(m), (ids, mask), ["input_ids", "attention_mask"]


def half_specs():
    import timm
    T = hf()
    from export_yolo_like import Yolo  # noqa: the detector-like model of the first sweep
    img = lambda s=224: (torch.randn(1, 3, s, s),)
    return {
        "resnet18": lambda: (timm.create_model("resnet18"), img(), ["pixels"]),
        "efficientnet_b0": lambda: (timm.create_model("efficientnet_b0"), img(), ["pixels"]),
        "convnext_atto": lambda: (timm.create_model("convnext_atto"), img(), ["pixels"]),
        "mobilenetv3_small_100": lambda: (timm.create_model("mobilenetv3_small_100"), img(), ["pixels"]),
        "vit_tiny_patch16_224": lambda: (timm.create_model("vit_tiny_patch16_224"), img(), ["pixels"]),
        "swin_tiny_patch4_window7_224": lambda: (timm.create_model("swin_tiny_patch4_window7_224"), img(), ["pixels"]),
        "yolov8like": lambda: (Yolo(), img(320), ["images"]),
        "bert": lambda: text(T.BertModel(T.BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, vocab_size=1000))),
        "gpt2": lambda: text(T.GPT2Model(T.GPT2Config(n_embd=128, n_layer=2, n_head=4, vocab_size=1000))),
        "llama": lambda: text(T.LlamaModel(T.LlamaConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=256, vocab_size=1000))),
        "t5-enc": lambda: text_enc(T.T5EncoderModel(T.T5Config(d_model=128, num_layers=2, num_heads=4, d_ff=256, d_kv=32, vocab_size=1000))),
    }


class EncoderOnly(torch.nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, ids, mask): return s.m(input_ids=ids, attention_mask=mask, return_dict=False)[0]


def text_enc(m):
    ids = torch.randint(0, 1000, (2, 16)); mask = torch.ones(2, 16, dtype=torch.int64); mask[1, 11:] = 0
    return EncoderOnly(m), (ids, mask), ["input_ids", "attention_mask"]


def export_half(names):
    """model.half() with fp16 inputs, as users export for GPUs; ref64 is the float64 twin of the same (fp16) weights."""
    specs = half_specs()
    for n in names or specs:
        def fn(n=n):
            torch.manual_seed(0)
            m, args, names_ = specs[n]()
            m.eval()
            # random BN statistics so that a wrong BN fold shows
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
            h = copy.deepcopy(m).half()
            r64 = copy.deepcopy(h).double()
            args = tuple(a.half() if a.is_floating_point() else a for a in args)
            return h, args, names_, r64
        run(n, fn, suffix="-fp16")


class MixedBlock(torch.nn.Module):
    """fp16 weights and activations, with LayerNorm, softmax and the residual sum in fp32 through Cast nodes (what
    mixed-precision exports hold): a transformer block written out, plus a conv stem with BN."""
    def __init__(s, d=64, h=4):
        super().__init__()
        s.conv = torch.nn.Conv2d(3, d, 4, 4); s.bn = torch.nn.BatchNorm2d(d)
        s.ln1 = torch.nn.LayerNorm(d); s.qkv = torch.nn.Linear(d, 3 * d); s.proj = torch.nn.Linear(d, d)
        s.ln2 = torch.nn.LayerNorm(d); s.fc1 = torch.nn.Linear(d, 4 * d); s.fc2 = torch.nn.Linear(4 * d, d); s.h = h
    def forward(s, x):
        x = s.bn(s.conv(x)).flatten(2).transpose(1, 2)            # fp16
        res = x.float()
        y = s.ln1.float()(res).to(x.dtype) if False else torch.nn.functional.layer_norm(res, res.shape[-1:], s.ln1.weight.float(), s.ln1.bias.float()).half()
        B, N, D = y.shape
        q, k, v = s.qkv(y).reshape(B, N, 3, s.h, D // s.h).permute(2, 0, 3, 1, 4)
        a = torch.softmax((q @ k.transpose(-1, -2)).float() * (D // s.h) ** -0.5, dim=-1).half()
        y = s.proj((a @ v).transpose(1, 2).reshape(B, N, D))
        res = res + y.float()
        y = torch.nn.functional.layer_norm(res, res.shape[-1:], s.ln2.weight.float(), s.ln2.bias.float()).half()
        y = s.fc2(torch.nn.functional.gelu(s.fc1(y)))
        return (res + y.float()).mean(1)


def export_mixed(names):
    def block():
        torch.manual_seed(0)
        m = MixedBlock().eval()
        m.bn.running_mean.uniform_(-0.2, 0.2); m.bn.running_var.uniform_(0.5, 1.5)
        h = m.half()
        class Wrap64(torch.nn.Module):  # the float64 twin: every cast goes to float64 instead
            def __init__(s, m): super().__init__(); s.m = copy.deepcopy(m).double()
            def forward(s, x):
                mm = s.m
                x = mm.bn(mm.conv(x)).flatten(2).transpose(1, 2)
                res = x
                y = torch.nn.functional.layer_norm(res, res.shape[-1:], mm.ln1.weight, mm.ln1.bias)
                B, N, D = y.shape
                q, k, v = mm.qkv(y).reshape(B, N, 3, mm.h, D // mm.h).permute(2, 0, 3, 1, 4)
                a = torch.softmax((q @ k.transpose(-1, -2)) * (D // mm.h) ** -0.5, dim=-1)
                y = mm.proj((a @ v).transpose(1, 2).reshape(B, N, D))
                res = res + y
                y = torch.nn.functional.layer_norm(res, res.shape[-1:], mm.ln2.weight, mm.ln2.bias)
                y = mm.fc2(torch.nn.functional.gelu(mm.fc1(y)))
                return (res + y).mean(1)
        return h, (torch.randn(2, 3, 32, 32).half(),), ["pixels"], Wrap64(h)
    run("mixed-block", block, suffix="-fp16")

    def autocast_bert():
        # torch.autocast on CPU with float16: fp32 weights, the matmuls in fp16 behind Cast nodes (TorchScript only)
        T = hf()
        torch.manual_seed(0)
        m = T.BertModel(T.BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, vocab_size=1000)).eval()
        class Auto(torch.nn.Module):
            def __init__(s, m): super().__init__(); s.m = m
            def forward(s, ids, mask):
                with torch.autocast("cpu", dtype=torch.float16):
                    return s.m(input_ids=ids, attention_mask=mask, return_dict=False)[0].float()
        class F64(torch.nn.Module):
            def __init__(s, m): super().__init__(); s.m = copy.deepcopy(m).double()
            def forward(s, ids, mask): return s.m(input_ids=ids, attention_mask=mask, return_dict=False)[0]
        ids = torch.randint(0, 1000, (2, 16)); mask = torch.ones(2, 16, dtype=torch.int64); mask[1, 11:] = 0
        return Auto(m), (ids, mask), ["input_ids", "attention_mask"], F64(m)
    run("bert-autocast", autocast_bert, dynamos=(False,), suffix="-mixed")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    which, rest = sys.argv[1], sys.argv[2:]
    {"decoders": export_decoders, "encdec": export_encdec, "vision": export_vision, "timm": export_timm, "tv": export_tv,
     "opsets": export_opsets, "dynpast": export_dynpast, "half": export_half, "mixed": export_mixed}[which](rest)
