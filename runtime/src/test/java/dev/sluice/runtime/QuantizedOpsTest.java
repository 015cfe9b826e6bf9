package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertNull;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The dynamic-quantization ops against ONNX Runtime, bit for bit: DynamicQuantizeLinear and MatMulInteger. */
class QuantizedOpsTest {
    @TempDir Path tmp;

    private static final int FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6;

    private Path dynamicQuantizeModel(int n) throws Exception {
        return new OnnxModelBuilder(11).input("x", FLOAT, n)
            .output("y", UINT8, n).output("scale", FLOAT).output("zp", UINT8)
            .node("DynamicQuantizeLinear", List.of("x"), List.of("y", "scale", "zp"))
            .write(tmp.resolve("dql" + n + ".onnx"));
    }

    private static void assertSameAsOrt(Path file, Map<String, Tensor> inputs) throws Exception {
        Map<String, Tensor> ref = OrtReference.run(file, inputs);
        try (Session s = Session.open(file, 2)) {
            Map<String, Tensor> ours = s.run(inputs).asMap();
            for (var e : ref.entrySet()) {
                assertNull(new Tolerance(0, 0).mismatch(ours.get(e.getKey()), e.getValue()), file.getFileName() + " output '" + e.getKey() + "'");
            }
        }
    }

    /** An all-zero tensor has an empty range; ORT answers scale 1 and zero point 0, not a zero scale. */
    @Test
    void dynamicQuantizeOfAllZerosGivesOrtsScale() throws Exception {
        assertSameAsOrt(dynamicQuantizeModel(7), Map.of("x", Tensor.allocate(DType.FLOAT32, Shape.of(7))));
    }

    /** Ranges on both sides of zero, only above, only below; odd lengths; values placed on rounding ties. */
    @Test
    void dynamicQuantizeMatchesOrtBitForBit() throws Exception {
        SplittableRandom r = new SplittableRandom(5);
        int[] lengths = {1, 17, 255, 1000, 4099};
        double[][] ranges = {{-1, 1}, {0.25, 3}, {-7, -0.5}, {-0.01, 300}};
        for (int n : lengths) {
            Path file = dynamicQuantizeModel(n);
            for (double[] range : ranges) {
                Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(n));
                for (int i = 0; i < n; i++) x.setFloat(i, (float) (range[0] + r.nextDouble() * (range[1] - range[0])));
                assertSameAsOrt(file, Map.of("x", x));
                // exact multiples of half a step of the range [-2.55, 0]: scale 0.01, many ties k + 0.5
                for (int i = 0; i < n; i++) x.setFloat(i, -0.005f * (i % 511));
                x.setFloat(0, -2.55f);
                assertSameAsOrt(file, Map.of("x", x));
            }
        }
    }

    /** u8 activations times s8 weights with per-column zero points, as dynamic quantizers export them. */
    @Test
    void matMulIntegerMatchesOrtForOddShapesAndZeroPoints() throws Exception {
        SplittableRandom r = new SplittableRandom(9);
        int[][] shapes = {{1, 1, 1}, {3, 5, 7}, {64, 384, 40}, {17, 33, 65}, {5, 1000, 3}};
        for (int[] mkn : shapes) {
            int m = mkn[0], k = mkn[1], n = mkn[2];
            int[] w = new int[k * n], wzp = new int[n];
            for (int i = 0; i < w.length; i++) w[i] = r.nextInt(256) - 128;
            for (int j = 0; j < n; j++) wzp[j] = r.nextInt(256) - 128;
            Path file = new OnnxModelBuilder(11).input("a", UINT8, m, k).input("azp", UINT8).output("y", INT32, m, n)
                .byteInit("w", INT8, new long[] {k, n}, w).byteInit("wzp", INT8, new long[] {n}, wzp)
                .node("MatMulInteger", List.of("a", "w", "azp", "wzp"), List.of("y"))
                .write(tmp.resolve("mmi.onnx"));
            Tensor a = Tensor.allocate(DType.UINT8, Shape.of(m, k));
            for (int i = 0; i < m * k; i++) a.setLong(i, r.nextInt(256));
            for (long azp : new long[] {0, 1, 128, 255}) {
                assertSameAsOrt(file, Map.of("a", a, "azp", Tensor.scalar(DType.UINT8, azp)));
            }
        }
    }

    /** Per-tensor DequantizeLinear of 8-bit values (the quantized embeddings' path), both signs, vs ORT. */
    @Test
    void dequantizeMatchesOrtBitForBit() throws Exception {
        SplittableRandom r = new SplittableRandom(13);
        for (int type : new int[] {UINT8, INT8}) {
            int n = 1000;
            int[] q = new int[n];
            for (int i = 0; i < n; i++) q[i] = r.nextInt(256);
            Path file = new OnnxModelBuilder(13).input("x", type, n).output("y", FLOAT, n)
                .floatInit("s", new long[0], 0.0173f).byteInit("z", type, new long[0], type == UINT8 ? 131 : -7)
                .node("DequantizeLinear", List.of("x", "s", "z"), List.of("y"))
                .write(tmp.resolve("dq" + type + ".onnx"));
            Tensor x = Tensor.allocate(type == UINT8 ? DType.UINT8 : DType.INT8, Shape.of(n));
            for (int i = 0; i < n; i++) x.setLong(i, type == UINT8 ? q[i] : q[i] - 128);
            assertSameAsOrt(file, Map.of("x", x));
        }
    }
}
