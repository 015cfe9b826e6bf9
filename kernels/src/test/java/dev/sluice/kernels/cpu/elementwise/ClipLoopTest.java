package dev.sluice.kernels.cpu.elementwise;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.KernelHarness;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Clip on float32 (the vector loop, split over threads) gives, bit for bit, ONNX's rule {@code min(max(v, lo), hi)}
 * (so every element becomes {@code hi} where {@code lo > hi}), written here again: NaN passes, -0.0 stays -0.0 at a bound of 0, and
 * lengths that leave vector tails, in one task or several, in place or not.
 */
class ClipLoopTest {
    private static final float[] SPECIAL = {Float.NaN, -0.0f, 0.0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 6f, 6.0000005f, -1e-45f};

    @Test
    void vectorClipHasTheScalarRulesBits() {
        SplittableRandom r = new SplittableRandom(4);
        float[][] bounds = {{0f, 6f}, {-1f, 1f}, {Float.NEGATIVE_INFINITY, 0.5f}, {0f, Float.POSITIVE_INFINITY}, {2f, 1f}};
        for (int n : new int[] {1, 7, 16, 17, 33, 1000, 70_001, 262_147}) {
            for (float[] b : bounds) {
                for (int threads : new int[] {1, 2}) {
                    for (boolean inPlace : new boolean[] {false, true}) {
                        Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(n));
                        float[] xs = new float[n];
                        for (int i = 0; i < n; i++) {
                            xs[i] = r.nextInt(5) == 0 ? SPECIAL[r.nextInt(SPECIAL.length)] : (float) (r.nextDouble() * 16 - 8);
                            x.setFloat(i, xs[i]);
                        }
                        KernelHarness h = KernelHarness.op("Clip").opset(13).parallel(Parallelism.of(threads))
                            .in(x).in(Tensor.scalar(DType.FLOAT32, b[0])).in(Tensor.scalar(DType.FLOAT32, b[1]));
                        Tensor y = (inPlace ? h.inPlace() : h).run1();
                        for (int i = 0; i < n; i++) {
                            float v = xs[i], atLeastLo = v < b[0] ? b[0] : v, want = atLeastLo > b[1] ? b[1] : atLeastLo;
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(y.getFloat(i)),
                                "n " + n + ", bounds " + b[0] + ".." + b[1] + ", threads " + threads + ", in place " + inPlace + ", element " + i + " = " + v);
                        }
                    }
                }
            }
        }
    }
}
