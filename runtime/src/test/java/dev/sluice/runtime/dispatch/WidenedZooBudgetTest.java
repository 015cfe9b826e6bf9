package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link RealModelBudgetTest}'s checks (100, 50, 25 and 10% of the no-offload need, every order, injected delays,
 * bit for bit the one-device run, arena never over) on the four npm models the widened zoo adds (BlazeFace,
 * openWakeWord's mel-spectrogram and embedding, a wake-word head), read from the shared zoo cache by file name
 * (the zoo that pins them lives on another branch; skipped where the file is not cached). Inputs: uniform floats
 * of each model's shape and range. Each must run at 25%; at 10% wherever its largest indivisible piece allows,
 * which the test prints.
 */
class WidenedZooBudgetTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "face_detection_front_128x128_barracuda.onnx,input:0,'1,128,128,3',1,0",
        "melspectrogram.onnx,input,'1,16000',3000,0",
        "embedding_model.onnx,input_1,'1,76,32,1',2,2",
        "hello_deepa.onnx,onnx::Flatten_0,'1,25,96',2,0"})
    void bitIdenticalAtEveryBudgetInEveryOrder(String file, String input, String dims, double scale, double offset) {
        Path p = Path.of(System.getProperty("user.home"), ".cache", "sluice", "zoo", file);
        assumeTrue(Files.isRegularFile(p), "not cached: " + p);
        Shape s = Shape.of(java.util.Arrays.stream(dims.split(",")).mapToLong(Long::parseLong).toArray());
        SplittableRandom r = new SplittableRandom(file.hashCode());
        float[] v = new float[Math.toIntExact(s.elementCount())];
        for (int i = 0; i < v.length; i++) v[i] = (float) (offset + r.nextDouble(-scale, scale));
        long min = RealModelBudgetTest.check(file, p, Map.of(input, Tensor.ofFloats(s, v)));
        assertTrue(min > 0, file);
    }
}
