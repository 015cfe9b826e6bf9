package dev.sluice.bench;

import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.testdata.Tolerance;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Sluice's outputs against ONNX Runtime's at the project tolerance: one warning line per mismatching output. */
final class OutputCheck {
    private OutputCheck() {}

    static List<String> warnings(String model, Map<String, Tensor> sluice, Map<String, Tensor> ort, Tolerance tol) {
        List<String> w = new ArrayList<>();
        for (var e : ort.entrySet()) {
            Tensor a = sluice.get(e.getKey());
            String m = a == null ? "Sluice gave no such output" : tol.mismatch(a, e.getValue());
            if (m != null) {
                w.add("WARNING: " + model + " output '" + e.getKey() + "' differs from ONNX Runtime beyond |a-e| <= "
                    + tol.atol() + " + " + tol.rtol() + "|e|: " + m);
            }
        }
        return w;
    }
}
