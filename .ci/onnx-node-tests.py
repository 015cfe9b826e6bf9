#!/usr/bin/env python3
"""Writes the ONNX node test cases of the installed `onnx` package (its reference implementation's
expected outputs) as test folders: OUT/test_*/model.onnx and test_data_set_N/{input,output}_K.pb, the
layout of Debian's libonnx-testdata and of `sluice test-data`. Cases whose values are not dense tensors
(sequences, optionals, maps) get only the model, so the suite counts them as unsupported value types.

usage: onnx-node-tests.py OUT        (OUT is replaced; numpy is seeded, so a rerun writes the same data)
"""
import os
import shutil
import sys
import warnings

import numpy as np


def main(out: str) -> int:
    warnings.filterwarnings("ignore")
    np.random.seed(0)  # the cases draw random inputs; fixed, a given onnx/numpy pair always writes the same suite
    import onnx
    import onnx.backend.test.case.node as node
    from onnx import TensorProto, numpy_helper

    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    cases = node.collect_testcases(None)
    for case in cases:
        d = os.path.join(tmp, case.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for i, (inputs, outputs) in enumerate(case.data_sets):
            sets = os.path.join(d, f"test_data_set_{i}")
            os.makedirs(sets, exist_ok=True)
            for kind, values, infos in (("input", inputs, case.model.graph.input), ("output", outputs, case.model.graph.output)):
                for k, v in enumerate(values):
                    if not infos[k].type.HasField("tensor_type"):
                        continue
                    t = v if isinstance(v, TensorProto) else numpy_helper.from_array(np.asarray(v), infos[k].name)
                    with open(os.path.join(sets, f"{kind}_{k}.pb"), "wb") as f:
                        f.write(t.SerializeToString())
    with open(os.path.join(tmp, "VERSION"), "w") as f:
        f.write(f"onnx {onnx.__version__} numpy {np.__version__} cases {len(cases)}\n")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)  # whole or nothing: a half-written suite never looks complete
    print(f"onnx-node-tests: {len(cases)} cases of onnx {onnx.__version__} in {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
