"""Exports real architectures with random weights to ONNX as test-data folders (model.onnx, test_data_set_0 with
ONNX Runtime's outputs), for `./sluice test-data` and `./sluice bench`: models the zoo has not seen, written the way
users export them (torch.onnx, both the TorchScript exporter and the dynamo exporter).

Needs python3 with torch, onnx, onnxruntime, onnxscript, and timm / transformers for those families (a venv; not
part of the build). Output goes to $SWEEP_OUT (default /tmp/sweep)/models.
"""
# usage: export_models.py hf [NAME...] | timm NAME...
import os, sys, json, time, traceback, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch, onnx, onnxruntime as ort
from onnx import numpy_helper
torch.manual_seed(0)
OUT = os.environ.get("SWEEP_OUT", "/tmp/sweep") + "/models"
os.makedirs(OUT, exist_ok=True)

import sweep_io


def run(name, fn, dynamos=(False, True)):
    sweep_io.run(OUT, name, fn, dynamos)


which = sys.argv[1]
if which == "timm":
    import timm
    names = sys.argv[2:]
    for n in names:
        def fn(n=n):
            m = timm.create_model(n, pretrained=False)
            cfg = m.pretrained_cfg if hasattr(m, "pretrained_cfg") else {}
            size = cfg.get("input_size", (3, 224, 224))
            return m, (torch.randn(1, *size),), ["pixels"]
        run(n, fn)
elif which == "hf":
    import transformers as T
    specs = {
      "bert": lambda: T.BertModel(T.BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256)),
      "distilbert": lambda: T.DistilBertModel(T.DistilBertConfig(dim=128, n_layers=2, n_heads=4, hidden_dim=256)),
      "roberta": lambda: T.RobertaModel(T.RobertaConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256)),
      "albert": lambda: T.AlbertModel(T.AlbertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, embedding_size=64)),
      "electra": lambda: T.ElectraModel(T.ElectraConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, embedding_size=64)),
      "deberta-v2": lambda: T.DebertaV2Model(T.DebertaV2Config(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256)),
      "mpnet": lambda: T.MPNetModel(T.MPNetConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256)),
      "gpt2": lambda: T.GPT2Model(T.GPT2Config(n_embd=128, n_layer=2, n_head=4)),
      "llama": lambda: T.LlamaModel(T.LlamaConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=256, vocab_size=1000)),
      "qwen2": lambda: T.Qwen2Model(T.Qwen2Config(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=256, vocab_size=1000)),
      "t5-enc": lambda: T.T5EncoderModel(T.T5Config(d_model=128, num_layers=2, num_heads=4, d_ff=256, d_kv=32)),
      "xlm-roberta": lambda: T.XLMRobertaModel(T.XLMRobertaConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, vocab_size=1000)),
    }
    for n in sys.argv[2:] or specs:
        def fn(n=n):
            inner = specs[n]()
            inner.config.use_cache = False
            class Wrap(torch.nn.Module):
                def __init__(s): super().__init__(); s.m = inner
                def forward(s, ids, mask): return s.m(input_ids=ids, attention_mask=mask, use_cache=False, return_dict=False)[0]
            ids = torch.randint(0, 1000, (2, 16))
            mask = torch.ones(2, 16, dtype=torch.int64); mask[1, 11:] = 0
            return Wrap(), (ids, mask), ["input_ids", "attention_mask"]
        run(n, fn)
    vis = {
      "vit": lambda: T.ViTModel(T.ViTConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, image_size=64, patch_size=8)),
      "whisper-enc": None,
      "wav2vec2": lambda: T.Wav2Vec2Model(T.Wav2Vec2Config(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, conv_dim=(64,64,64), conv_stride=(5,2,2), conv_kernel=(10,3,3), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)),
      "clip-vision": lambda: T.CLIPVisionModel(T.CLIPVisionConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, image_size=64, patch_size=8)),
      "segformer": lambda: T.SegformerModel(T.SegformerConfig(hidden_sizes=[16,32,64,128], num_encoder_blocks=4, depths=[1,1,1,1], decoder_hidden_size=64)),
      "convnextv2": lambda: T.ConvNextV2Model(T.ConvNextV2Config(hidden_sizes=[16,32,64,128], depths=[1,1,1,1])),
    }
    if not sys.argv[2:]:
        for n, f in vis.items():
            if f is None: continue
            def fn(n=n, f=f):
                m = f(); m.config.return_dict = False
                if n == "wav2vec2": return m, (torch.randn(1, 4000),), ["audio"]
                size = 64 if n in ("vit", "clip-vision") else 128
                return m, (torch.randn(1, 3, size, size),), ["pixels"]
            run(n, fn)
