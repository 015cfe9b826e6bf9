package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.sluice.graph.ModelCheck;
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

/**
 * The dynamic-quantization ops against ONNX Runtime, bit for bit: DynamicQuantizeLinear and MatMulInteger. ORT's
 * numbers come from {@link OrtReference#runExact}, exact for uint8 x int8 products on hosts without VNNI too.
 */
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
        Map<String, Tensor> ref = OrtReference.runExact(file, inputs);
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

    /**
     * The integer GEMM at its extremes against ORT, bit for bit: depths past several exact float blocks (odd, not a
     * multiple of 256), odd widths across weight panels, operands all at 0 or 255 (|a - zp| = 255), weights of both
     * types with zero points at both ends of their range per column, so that every product is 255 * 255 somewhere.
     */
    @Test
    void matMulIntegerMatchesOrtAtExtremeOperandsAndZeroPoints() throws Exception {
        SplittableRandom r = new SplittableRandom(21);
        int[][] shapes = {{70, 1031, 67}, {2, 513, 130}, {9, 1536, 17}};
        for (int[] mkn : shapes) {
            int m = mkn[0], k = mkn[1], n = mkn[2];
            for (int type : new int[] {INT8, UINT8}) {
                int lo = type == INT8 ? -128 : 0, hi = type == INT8 ? 127 : 255;
                int[] w = new int[k * n], wzp = new int[n];
                for (int i = 0; i < w.length; i++) w[i] = r.nextInt(4) == 0 ? r.nextInt(256) + lo : (i / n % 2 == 0 ? lo : hi);
                for (int j = 0; j < n; j++) wzp[j] = j % 2 == 0 ? hi : lo;
                Path file = new OnnxModelBuilder(11).input("a", UINT8, m, k).input("azp", UINT8).output("y", INT32, m, n)
                    .byteInit("w", type, new long[] {k, n}, w).byteInit("wzp", type, new long[] {n}, wzp)
                    .node("MatMulInteger", List.of("a", "w", "azp", "wzp"), List.of("y"))
                    .write(tmp.resolve("mmi_extreme.onnx"));
                Tensor a = Tensor.allocate(DType.UINT8, Shape.of(m, k));
                for (int i = 0; i < m * k; i++) a.setLong(i, r.nextInt(8) == 0 ? r.nextInt(256) : (i % 3 == 0 ? 0 : 255));
                for (long azp : new long[] {0, 255, 77}) {
                    assertSameAsOrt(file, Map.of("a", a, "azp", Tensor.scalar(DType.UINT8, azp)));
                }
            }
        }
    }

    /**
     * The fused chain (DynamicQuantizeLinear, MatMulInteger, Cast, scale Mul, bias Add) against ORT on random shapes:
     * odd depths and widths, one row to many (the parallel split by weight panels and row tiles), both weight types,
     * per-column zero points at the ends of their range, and inputs whose quantized values sit far from the zero
     * point. ORT fuses this chain its own way, so the comparison is at the project's tolerance; the bits against
     * ONNX's definitions are held by the kernel's own tests (QuantGemmTest).
     */
    @Test
    void fusedDynamicQuantChainMatchesOrtOnRandomShapes() throws Exception {
        SplittableRandom r = new SplittableRandom(37);
        int[][] shapes = {{1, 7, 5}, {5, 1031, 67}, {70, 384, 130}, {33, 1536, 50}, {128, 384, 1536}};
        int round = 0;
        for (int[] mkn : shapes) {
            int m = mkn[0], k = mkn[1], n = mkn[2];
            int type = round++ % 2 == 0 ? INT8 : UINT8, lo = type == INT8 ? -128 : 0;
            int[] w = new int[k * n], wzp = new int[n];
            for (int i = 0; i < w.length; i++) w[i] = r.nextInt(256) + lo;
            for (int j = 0; j < n; j++) wzp[j] = j % 3 == 0 ? lo : j % 3 == 1 ? lo + 255 : r.nextInt(256) + lo;
            float[] ws = new float[n], bias = new float[n];
            for (int j = 0; j < n; j++) { ws[j] = (float) (1e-4 + r.nextDouble() * 1e-3); bias[j] = (float) r.nextGaussian(); }
            Path file = new OnnxModelBuilder(11).input("x", FLOAT, 1, m, k).output("y", FLOAT, 1, m, n)
                .byteInit("w", type, new long[] {k, n}, w).byteInit("wzp", type, new long[] {n}, wzp)
                .floatInit("ws", new long[] {n}, ws).floatInit("bias", new long[] {n}, bias)
                .node("DynamicQuantizeLinear", List.of("x"), List.of("xq", "xs", "xz"))
                .node("Mul", List.of("xs", "ws"), List.of("s"))
                .node("MatMulInteger", List.of("xq", "w", "xz", "wzp"), List.of("acc"))
                .node("Cast", List.of("acc"), List.of("accf"), OnnxModelBuilder.intAttr("to", 1))
                .node("Mul", List.of("accf", "s"), List.of("mm"))
                .node("Add", List.of("mm", "bias"), List.of("y"))
                .write(tmp.resolve("chain.onnx"));
            Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(1, m, k));
            // a skewed range (zero point near one end) with a third of the values at the range's ends
            for (int i = 0; i < m * k; i++) x.setFloat(i, r.nextInt(3) == 0 ? (i % 2 == 0 ? -0.3f : 4f) : (float) (-0.3 + r.nextDouble() * 4.3));
            Map<String, Tensor> ref = OrtReference.runExact(file, Map.of("x", x));
            try (Session s = Session.open(file, 2)) {
                assertEquals(Map.of("sluice:DynamicQuantMatMul", 1), ModelCheck.opHistogram(s.model()), "the chain should fuse");
                Tensor y = s.run(Map.of("x", x)).asMap().get("y");
                assertNull(Tolerance.DEFAULT.mismatch(y, ref.get("y")), m + "x" + k + "x" + n + " type " + type);
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
