package dev.sluice.kernels.cpu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The float-array form of {@link Activation#biasAndApply} has its own loops: they must give the bits of the
 * segment form (the one the other kernels use) for every kind, at every offset and length, tails included.
 */
class ActivationArrayTest {
    private static final Activation[] KINDS = {
        Activation.NONE,
        new Activation(Activation.Kind.RELU, 0, 0, 0, 0, 0, 1),
        new Activation(Activation.Kind.CLIP, 0, 0, -0.5f, 0.75f, 0, 1),
        new Activation(Activation.Kind.HARD_SIGMOID, 0.2f, 0.5f, 0, 1, 0, 1),
        new Activation(Activation.Kind.HARD_SWISH, 1f / 6f, 0.5f, 0, 1, 0, 1),
        new Activation(Activation.Kind.HARD_SWISH_CHAIN, 0, 0, 0, 6, 3, 6),
        new Activation(Activation.Kind.HARD_SWISH_CHAIN_AFFINE, 0.63f, -0.55f, 0, 6, 3, 6),
        new Activation(Activation.Kind.LEAKY_RELU, 0.1f, 0, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, 0, 1),
        // a Max / Min by constants folded after it
        new Activation(Activation.Kind.LEAKY_RELU, 0.2f, 0, -0.4f, 2.5f, 0, 1),
        new Activation(Activation.Kind.GELU, 0, 0, 0, 0, 0, 1),
        new Activation(Activation.Kind.SIGMOID, 0, 0, 0, 0, 0, 1),
        new Activation(Activation.Kind.SILU, 0, 0, 0, 0, 0, 1),
    };

    @Test
    void everyKindIsCovered() {
        // a kind added without an array loop fails at run time (a fused ConvTranspose with Sigmoid once did)
        java.util.Set<Activation.Kind> covered = java.util.EnumSet.noneOf(Activation.Kind.class);
        for (Activation a : KINDS) covered.add(a.kind());
        assertEquals(java.util.EnumSet.allOf(Activation.Kind.class), covered);
    }

    /**
     * The scalar tail after the vector body gives a lane's bits for the same input, for every kind and every way
     * of biasing: where a tile of a conv ends, its tail is the whole conv's lane, so a split (a budget's tiles)
     * must not change a bit. A run of one value, longer than a vector, puts the value in lanes and in the tail.
     */
    @Test
    void theScalarTailGivesALanesBits() {
        Random r = new Random(5);
        float[] special = {-0.0f, 0.0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -3f, 3f, 6f, -1e-40f};
        int n = 2 * Activation.LANES + 3;
        for (Activation act : KINDS) {
            for (int k = 0; k < 400; k++) {
                float x = k < special.length ? special[k] : (r.nextFloat() - 0.5f) * 16;
                float bias = k % 3 == 0 ? 0f : k % 3 == 1 ? -0.0f : r.nextFloat() - 0.5f;
                float[] row = new float[n];
                java.util.Arrays.fill(row, bias);
                for (int way = 0; way < 4; way++) {
                    float[] a = new float[n];
                    java.util.Arrays.fill(a, x);
                    switch (way) {
                        case 0 -> act.biasAndApply(MemorySegment.ofArray(a), 0, n, bias);
                        case 1 -> act.rowBiasAndApply(MemorySegment.ofArray(a), 0, n, row);
                        case 2 -> act.rowBiasAndApply(MemorySegment.ofArray(a), 0, n, null);
                        default -> act.biasAndApply(a, 0, n, bias);
                    }
                    for (int i = 1; i < n; i++) {
                        assertEquals(Float.floatToRawIntBits(a[0]), Float.floatToRawIntBits(a[i]),
                            act.kind() + " x " + x + " bias " + bias + " way " + way + ": element " + i + " (lane or tail) differs from lane 0");
                    }
                }
            }
        }
    }

    @Test
    void arrayFormGivesTheBitsOfTheSegmentForm() {
        Random r = new Random(3);
        for (Activation act : KINDS) {
            for (int len : new int[] {0, 1, 7, 16, 31, 64, 100, 161}) {
                for (int off : new int[] {0, 3}) {
                    float[] a = new float[off + len + 5];
                    for (int i = 0; i < a.length; i++) a[i] = (r.nextFloat() - 0.5f) * 12;
                    float[] b = a.clone();
                    float bias = r.nextFloat() - 0.5f;
                    act.biasAndApply(a, off, len, bias);
                    act.biasAndApply(MemorySegment.ofArray(b), off, len, bias);
                    for (int i = 0; i < a.length; i++) {
                        assertEquals(Float.floatToRawIntBits(b[i]), Float.floatToRawIntBits(a[i]), act.kind() + " len " + len + " off " + off + " at " + i);
                    }
                }
            }
        }
    }
}
