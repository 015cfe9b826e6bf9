package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import dev.sluice.runtime.zoo.Zoo;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The zoo's real models (fetched and pinned by SHA-256) give ONNX Runtime's outputs on seeded inputs, at the
 * project's one tolerance. Two seeds each, so a kernel that happens to fit one input cannot pass by luck.
 */
class RealModelTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"silero-vad", "all-minilm-l6-v2", "ppocr-det", "ppocr-rec", "ppocr-cls",
        "blazeface", "oww-melspec", "oww-embedding", "wakeword-deepa"})
    void matchesOnnxRuntime(String name) throws Exception {
        Zoo.Model m = Zoo.find(name);
        Path file = m.path();
        try (Session s = Session.open(file, 2)) {
            for (long seed : new long[] {1, 2}) {
                Map<String, Tensor> inputs = m.sampleInputs(seed);
                Map<String, Tensor> ours = s.run(inputs).asMap();
                Map<String, Tensor> ref = OrtReference.run(file, inputs);
                assertEquals(ref.keySet(), ours.keySet(), name + ": output names");
                for (var e : ref.entrySet()) {
                    String mismatch = Tolerance.DEFAULT.mismatch(ours.get(e.getKey()), e.getValue());
                    assertNull(mismatch, name + " seed " + seed + " output '" + e.getKey() + "': " + mismatch);
                }
            }
        }
    }
}
