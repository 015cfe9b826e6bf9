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
    };

    @Test
    void everyKindIsCovered() {
        // a kind added without an array loop fails at run time (a fused ConvTranspose with Sigmoid once did)
        java.util.Set<Activation.Kind> covered = java.util.EnumSet.noneOf(Activation.Kind.class);
        for (Activation a : KINDS) covered.add(a.kind());
        assertEquals(java.util.EnumSet.allOf(Activation.Kind.class), covered);
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
