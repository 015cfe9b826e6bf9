"""Converts first-sweep folders to float16 the other way users do it, with ONNX Runtime's own converter
(onnxruntime.transformers.float16.convert_float_to_float16, keep_io_types=True: float32 inputs and outputs, fp16
inside, Cast nodes at the boundary and around the ops it keeps in float32), and writes ORT's outputs as the
expected ones. Output: $SWEEP_OUT (default /tmp/sweep2)/models/NAME-ortfp16. Compare with compare_half.py.
"""
# usage: convert_fp16.py SRC_DIR...
import os, sys, shutil, warnings
warnings.filterwarnings("ignore")
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.transformers.float16 import convert_float_to_float16

OUT = os.environ.get("SWEEP_OUT", "/tmp/sweep2") + "/models"
for src in sys.argv[1:]:
    name = os.path.basename(os.path.normpath(src)) + "-ortfp16"
    d = os.path.join(OUT, name)
    try:
        m = onnx.load(os.path.join(src, "model.onnx"))
        h = convert_float_to_float16(m, keep_io_types=True)
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, "model.onnx"); onnx.save(h, p)
        s = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
        ds_src, ds = os.path.join(src, "test_data_set_0"), os.path.join(d, "test_data_set_0")
        os.makedirs(ds, exist_ok=True)
        feeds = {}
        for k, i in enumerate(s.get_inputs()):
            f = os.path.join(ds_src, f"input_{k}.pb"); shutil.copy(f, ds)
            t = onnx.TensorProto(); t.ParseFromString(open(f, "rb").read()); feeds[i.name] = numpy_helper.to_array(t)
        for k, (o, v) in enumerate(zip(s.get_outputs(), s.run(None, feeds))):
            open(os.path.join(ds, f"output_{k}.pb"), "wb").write(numpy_helper.from_array(np.asarray(v), o.name).SerializeToString())
        # the float32 original's outputs stand in for the float64 reference: fp16 error dwarfs float32's
        for k in range(len(s.get_outputs())):
            t = onnx.TensorProto(); t.ParseFromString(open(os.path.join(ds_src, f"output_{k}.pb"), "rb").read())
            np.save(os.path.join(d, f"ref64_{k}.npy"), numpy_helper.to_array(t).astype(np.float64))
        print(name, "ok", sorted({n.op_type for n in h.graph.node}), flush=True)
    except Exception as e:
        print(name, "CONVERT-FAIL", type(e).__name__, str(e).split("\n")[0][:200], flush=True)
