"""What the sweep's export scripts share: exporting one model to a test-data folder (model.onnx and
test_data_set_0 with ONNX Runtime's outputs, optionally a float64 torch reference) and the loop that exports
it with each exporter and prints one line per folder. Each script passes its own output folder."""
import os, time
import numpy as np, torch, onnx, onnxruntime as ort
from onnx import numpy_helper


def save(out, name, model, args, input_names, dynamo, opset=None, ref64=None):
    """Exports into out/name, runs ORT and writes the folder; ref64: a float64 twin of model, run on args cast to
    float64 (written as ref64_K.npy, the reference that decides between two engines that differ in half precision)."""
    d = os.path.join(out, name)
    if os.path.exists(os.path.join(d, "test_data_set_0")): return "cached"
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    model.eval()
    t = time.time()
    with torch.no_grad():
        kw = dict(input_names=input_names, dynamo=dynamo)
        if opset: kw["opset_version"] = opset
        torch.onnx.export(model, args, path, **kw)
    m = onnx.load(path, load_external_data=True)
    onnx.save(m, path)  # one file: the dynamo exporter writes weights beside it
    for f in os.listdir(d):
        if f.endswith(".data"): os.remove(os.path.join(d, f))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)}
    outs = sess.run(None, feeds)
    ds = os.path.join(d, "test_data_set_0"); os.makedirs(ds, exist_ok=True)
    for k, i in enumerate(sess.get_inputs()):
        open(os.path.join(ds, f"input_{k}.pb"), "wb").write(numpy_helper.from_array(feeds[i.name], i.name).SerializeToString())
    for k, (o, v) in enumerate(zip(sess.get_outputs(), outs)):
        open(os.path.join(ds, f"output_{k}.pb"), "wb").write(numpy_helper.from_array(np.asarray(v), o.name).SerializeToString())
    if ref64 is not None:
        ref64.eval()
        with torch.no_grad():
            r = ref64(*tuple(a.double() if a.is_floating_point() else a for a in args))
        for k, v in enumerate([r] if isinstance(r, torch.Tensor) else list(flatten(r))):
            np.save(os.path.join(d, f"ref64_{k}.npy"), v.numpy())
    ops = sorted({(n.domain + ":" if n.domain else "") + n.op_type for n in m.graph.node})
    types = sorted({onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type) for i in list(m.graph.input) + list(m.graph.output)})
    return f"ok {time.time()-t:.0f}s opset {[o.version for o in m.opset_import if o.domain in ('', 'ai.onnx')]} io {types} ops {' '.join(ops)}"


def flatten(x):
    """The tensors of a model's nested outputs (tuples, lists, dicts), in order."""
    if isinstance(x, torch.Tensor): yield x
    elif isinstance(x, (list, tuple)):
        for y in x: yield from flatten(y)
    elif isinstance(x, dict):
        for y in x.values(): yield from flatten(y)


def run(out, name, fn, dynamos=(False, True), opset=None, suffix=""):
    """Exports fn()'s (model, args, input names[, float64 twin]) with each exporter (TorchScript: -ts, dynamo: -dyn),
    printing one line per folder; a failed export is a line too, not an abort."""
    for dyn in dynamos:
        tag = name + ("-dyn" if dyn else "-ts") + suffix
        try:
            model, args, names, *rest = fn()
            r = save(out, tag, model, args, names, dyn, opset=opset, ref64=rest[0] if rest else None)
        except Exception as e:
            r = "EXPORT-FAIL " + type(e).__name__ + ": " + str(e).strip().split("\n")[0][:200]
        print(tag, r, flush=True)
