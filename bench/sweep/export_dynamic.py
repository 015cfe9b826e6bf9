"""Exports real architectures with random weights to ONNX as test-data folders (model.onnx, test_data_set_0 with
ONNX Runtime's outputs), for `./sluice test-data` and `./sluice bench`: models the zoo has not seen, written the way
users export them (torch.onnx, both the TorchScript exporter and the dynamo exporter).

Needs python3 with torch, onnx, onnxruntime, onnxscript, and timm / transformers for those families (a venv; not
part of the build). Output goes to $SWEEP_OUT (default /tmp/sweep)/dynmodels.
"""
# dynamic axes: several input shapes per model, one session
import os, warnings; warnings.filterwarnings("ignore")
import numpy as np, torch, onnx, onnxruntime as ort
from onnx import numpy_helper
import transformers as T
torch.manual_seed(0)
OUT=os.environ.get("SWEEP_OUT", "/tmp/sweep") + "/dynmodels"
def emit(name, model, args, names, dyn_axes, sets):
    d=os.path.join(OUT,name); os.makedirs(d,exist_ok=True); p=os.path.join(d,"model.onnx")
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, args, p, input_names=names, output_names=["out"], dynamic_axes=dyn_axes, dynamo=False, opset_version=17)
    s=ort.InferenceSession(p, providers=["CPUExecutionProvider"])
    for i,feeds in enumerate(sets):
        outs=s.run(None, feeds); ds=os.path.join(d,f"test_data_set_{i}"); os.makedirs(ds,exist_ok=True)
        for k,n in enumerate(names): open(os.path.join(ds,f"input_{k}.pb"),"wb").write(numpy_helper.from_array(feeds[n],n).SerializeToString())
        for k,(o,v) in enumerate(zip(s.get_outputs(),outs)): open(os.path.join(ds,f"output_{k}.pb"),"wb").write(numpy_helper.from_array(np.asarray(v),o.name).SerializeToString())
    print(name, "ok", [o.version for o in onnx.load(p).opset_import])
class Wrap(torch.nn.Module):
    def __init__(s,m): super().__init__(); s.m=m
    def forward(s, ids, mask): return s.m(input_ids=ids, attention_mask=mask, use_cache=False, return_dict=False)[0]
def text_sets():
    r=np.random.default_rng(1); out=[]
    for b,l in [(2,16),(1,7),(3,33),(1,1)]:
        ids=r.integers(0,1000,(b,l)).astype(np.int64); m=np.ones((b,l),np.int64)
        if b>1: m[-1, l//2:]=0
        out.append({"input_ids":ids,"attention_mask":m})
    return out
for name,mk in {"bert":lambda: T.BertModel(T.BertConfig(hidden_size=128,num_hidden_layers=2,num_attention_heads=4,intermediate_size=256,vocab_size=1000)),
                "llama":lambda: T.LlamaModel(T.LlamaConfig(hidden_size=128,num_hidden_layers=2,num_attention_heads=4,num_key_value_heads=2,intermediate_size=256,vocab_size=1000)),
                "gpt2":lambda: T.GPT2Model(T.GPT2Config(n_embd=128,n_layer=2,n_head=4,vocab_size=1000))}.items():
    try:
        emit(name+"-dynaxes", Wrap(mk()), (torch.randint(0,1000,(2,16)), torch.ones(2,16,dtype=torch.int64)), ["input_ids","attention_mask"],
             {"input_ids":{0:"b",1:"s"},"attention_mask":{0:"b",1:"s"},"out":{0:"b",1:"s"}}, text_sets())
    except Exception as e: print(name, "FAIL", str(e)[:200])
import timm
r=np.random.default_rng(2)
for n in ["resnet18","mobilenetv3_small_100","convnext_atto","efficientnet_b0"]:
    try:
        emit(n+"-dynaxes", timm.create_model(n), (torch.randn(1,3,224,224),), ["pixels"], {"pixels":{0:"b",2:"h",3:"w"},"out":{0:"b"}},
             [{"pixels":r.standard_normal((1,3,224,224)).astype(np.float32)},{"pixels":r.standard_normal((2,3,160,192)).astype(np.float32)},{"pixels":r.standard_normal((3,3,97,131)).astype(np.float32)}])
    except Exception as e: print(n, "FAIL", str(e)[:200])
