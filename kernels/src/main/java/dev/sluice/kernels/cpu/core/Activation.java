package dev.sluice.kernels.cpu.core;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.KernelException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The activation a fused kernel (sluice.FusedConv) applies to its output rows together with the bias, while
 * they are in cache: what the graph's fusion pass folded into it. Float arithmetic in the order of the unfused
 * ONNX ops, so a fused result matches the unfused one.
 */
public record Activation(Kind kind, float alpha, float beta, float lo, float hi, float shift, float div) {
    public enum Kind {
        NONE, RELU, CLIP, HARD_SIGMOID, HARD_SWISH, HARD_SWISH_CHAIN,
        /**
         * HARD_SWISH_CHAIN, then times {@code alpha} plus {@code beta} (a scalar Mul, then Add, each rounded as the
         * two ops round: PP-LCNetV3's learnable affine after every HardSwish).
         */
        HARD_SWISH_CHAIN_AFFINE,
        LEAKY_RELU,
        /** Gelu, erf form: {@link VectorMath#gelu}, the Gelu kernel's own float32 code, also for tails. */
        GELU,
        /** Sigmoid: {@link VectorMath#sigmoid}, the Sigmoid kernel's own float32 code, also for tails. */
        SIGMOID,
        /**
         * SiLU (swish), x times Sigmoid(x) as the unfused Sigmoid and Mul round: the Sigmoid kernel's code, then
         * one float multiply (EfficientNet, YOLOv5/v8, MobileViT write it as those two ops after every conv).
         */
        SILU
    }

    public static final Activation NONE = new Activation(Kind.NONE, 0, 0, 0, 0, 0, 1);
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Lanes of the vector body: a length that is a multiple of this has no scalar tail. */
    public static final int LANES = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /** The activation named by a fused node's {@code activation*} attributes (none when absent). */
    public static Activation of(Attributes at) {
        String name = at.getString("activation", null);
        if (name == null) return NONE;
        float lo = at.getFloat("activation_min", Float.NEGATIVE_INFINITY), hi = at.getFloat("activation_max", Float.POSITIVE_INFINITY);
        return switch (name) {
            case "Relu" -> new Activation(Kind.RELU, 0, 0, 0, 0, 0, 1);
            case "Clip" -> new Activation(Kind.CLIP, 0, 0, lo, hi, 0, 1);
            case "HardSigmoid" -> new Activation(Kind.HARD_SIGMOID, at.getFloat("activation_alpha", 0.2f),
                    at.getFloat("activation_beta", 0.5f), 0, 1, 0, 1);
            case "HardSwish" -> new Activation(Kind.HARD_SWISH, 1f / 6f, 0.5f, 0, 1, 0, 1);
            case "HardSwishChain" -> at.has("activation_post_scale") || at.has("activation_post_shift")
                    // an absent post_shift adds -0.0, which changes no bit of any float (-0.0 and NaN included)
                    ? new Activation(Kind.HARD_SWISH_CHAIN_AFFINE, at.getFloat("activation_post_scale", 1f),
                        at.getFloat("activation_post_shift", -0.0f), lo, hi, at.getFloat("activation_shift", 3f), at.getFloat("activation_div", 6f))
                    : new Activation(Kind.HARD_SWISH_CHAIN, 0, 0, lo, hi, at.getFloat("activation_shift", 3f),
                    at.getFloat("activation_div", 6f));
            case "LeakyRelu" -> new Activation(Kind.LEAKY_RELU, at.getFloat("activation_alpha", 0.01f), 0, lo, hi, 0, 1);
            case "Gelu" -> new Activation(Kind.GELU, 0, 0, 0, 0, 0, 1);
            case "Sigmoid" -> new Activation(Kind.SIGMOID, 0, 0, 0, 0, 0, 1);
            case "Silu" -> new Activation(Kind.SILU, 0, 0, 0, 0, 0, 1);
            default -> throw new KernelException("unknown fused activation '" + name + "'");
        };
    }

    /**
     * One scalar: the bits a vector lane gives for x (the loops' scalar tails use it, and a tile's tail may be
     * another tile's lane). So the same operations in the same order: a fused multiply-add where the lanes use
     * one, and Relu's blend, which keeps -0.0 (it is not below 0) as the lanes do.
     */
    float apply(float x) {
        return switch (kind) {
            case NONE -> x;
            case RELU -> x < 0f ? 0f : x;
            case CLIP -> Math.min(Math.max(x, lo), hi);
            case HARD_SIGMOID -> Math.max(0f, Math.min(1f, Math.fma(x, alpha, beta)));
            case HARD_SWISH -> x * Math.max(0f, Math.min(1f, Math.fma(x, alpha, beta)));
            case HARD_SWISH_CHAIN -> x * Math.min(Math.max(x + shift, lo), hi) / div;
            case HARD_SWISH_CHAIN_AFFINE -> x * Math.min(Math.max(x + shift, lo), hi) / div * alpha + beta;
            // then clamped to [lo, hi] (a Max / Min by a constant folded after it; infinite bounds change no bit)
            case LEAKY_RELU -> Math.min(Math.max(x < 0 ? alpha * x : x, lo), hi);
            // the vector code on one lane: VectorMath is lane-wise, so this is the bits of any lane holding x
            case GELU -> VectorMath.gelu(FloatVector.broadcast(VectorMath.S, x)).lane(0);
            case SIGMOID -> VectorMath.sigmoid(FloatVector.broadcast(VectorMath.S, x)).lane(0);
            // one lane of the vector product too; a NaN input is the output, as in the loops: which NaN of two a product
            // keeps depends on the operand order of the compiled code (x is +NaN where the sigmoid gives -NaN)
            case SILU -> {
                if (Float.isNaN(x)) yield x;
                FloatVector v = FloatVector.broadcast(VectorMath.S, x);
                yield v.mul(VectorMath.sigmoid(v)).lane(0);
            }
        };
    }

    /** y[off .. off+len) = act(y + bias), in place, {@code off} in elements. */
    public void biasAndApply(MemorySegment y, long off, int len, float bias) {
        if (kind == Kind.NONE && bias == 0f) return;
        run(y, off, len, BIAS_SCALAR, bias, null);
    }

    /**
     * y[off .. off+len) = act(y + bias), in place, over a float array: the same arithmetic as the segment
     * form, lane for lane, with array loads and stores, which C2 compiles to about a third of the time per
     * vector of segment accesses (measured on JDK 25, AVX-512: ~0.8 vs ~2.5-4.5 ns per 16 floats of Relu).
     */
    public void biasAndApply(float[] y, int off, int len, float bias) {
        if (kind == Kind.NONE && bias == 0f) return;
        java.util.Objects.checkFromIndexSize(off, len, y.length);
        int i = switch (kind) {
            case NONE -> noneArray(y, off, len, bias);
            case RELU -> reluArray(y, off, len, bias);
            case CLIP -> clipArray(y, off, len, bias);
            case HARD_SIGMOID -> hardSigmoidArray(y, off, len, bias);
            case HARD_SWISH -> hardSwishArray(y, off, len, bias);
            case HARD_SWISH_CHAIN -> hardSwishChainArray(y, off, len, bias);
            case HARD_SWISH_CHAIN_AFFINE -> hardSwishChainAffineArray(y, off, len, bias);
            case LEAKY_RELU -> leakyReluArray(y, off, len, bias);
            case GELU -> geluArray(y, off, len, bias);
            case SIGMOID -> sigmoidArray(y, off, len, bias);
            case SILU -> siluArray(y, off, len, bias);
            default -> throw new IllegalStateException("no loop for activation " + kind);
        };
        for (; i < len; i++) y[off + i] = apply(y[off + i] + bias);
    }

    // The array loops: each kind's vector body of the segment loops below, written inline again (see run);
    // each returns where its scalar tail starts.

    private int noneArray(float[] y, int off, int len, float bias) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) FloatVector.fromArray(S, y, off + i).add(bv).intoArray(y, off + i);
        return i;
    }

    private int reluArray(float[] y, int off, int len, float bias) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            FloatVector v = FloatVector.fromArray(S, y, off + i).add(bv);
            v.blend(0f, v.compare(VectorOperators.LT, 0f)).intoArray(y, off + i);
        }
        return i;
    }

    private int clipArray(float[] y, int off, int len, float bias) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) FloatVector.fromArray(S, y, off + i).add(bv).max(lo).min(hi).intoArray(y, off + i);
        return i;
    }

    private int hardSigmoidArray(float[] y, int off, int len, float bias) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            FloatVector.fromArray(S, y, off + i).add(bv).fma(alpha, beta).min(1f).max(0f).intoArray(y, off + i);
        }
        return i;
    }

    private int hardSwishArray(float[] y, int off, int len, float bias) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            FloatVector v = FloatVector.fromArray(S, y, off + i).add(bv);
            v.mul(v.fma(alpha, beta).min(1f).max(0f)).intoArray(y, off + i);
        }
        return i;
    }

    private int hardSwishChainArray(float[] y, int off, int len, float bias) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            FloatVector v = FloatVector.fromArray(S, y, off + i).add(bv);
            v.mul(v.add(shift).max(lo).min(hi)).div(div).intoArray(y, off + i);
        }
        return i;
    }

    private int hardSwishChainAffineArray(float[] y, int off, int len, float bias) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            FloatVector v = FloatVector.fromArray(S, y, off + i).add(bv);
            v.mul(v.add(shift).max(lo).min(hi)).div(div).mul(alpha).add(beta).intoArray(y, off + i);
        }
        return i;
    }

    private int leakyReluArray(float[] y, int off, int len, float bias) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            FloatVector v = FloatVector.fromArray(S, y, off + i).add(bv);
            v.blend(v.mul(alpha), v.compare(VectorOperators.LT, 0f)).max(lo).min(hi).intoArray(y, off + i);
        }
        return i;
    }

    private int geluArray(float[] y, int off, int len, float bias) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) VectorMath.gelu(FloatVector.fromArray(S, y, off + i).add(bv)).intoArray(y, off + i);
        return i;
    }

    // Sigmoid and SiLU: their exp written out in SigmoidLoops, never a vector handed to VectorMath (see there)

    private int sigmoidArray(float[] y, int off, int len, float bias) { return SigmoidLoops.array(y, off, len, bias, false); }

    private int siluArray(float[] y, int off, int len, float bias) { return SigmoidLoops.array(y, off, len, bias, true); }

    /** y[off + j] = act(y[off + j] + bias[j]) for j in [0, len), in place ({@code off} in elements). */
    public void rowBiasAndApply(MemorySegment y, long off, int len, float[] bias) {
        run(y, off, len, bias == null ? BIAS_NONE : BIAS_ROW, 0f, bias);
    }

    /** How {@link #run} biases: one scalar; per column from an array; not at all in the vector body. */
    private static final int BIAS_SCALAR = SigmoidLoops.BIAS_SCALAR, BIAS_ROW = SigmoidLoops.BIAS_ROW,
            BIAS_NONE = SigmoidLoops.BIAS_NONE;

    /**
     * One loop per kind, each with its vector arithmetic written inline: a FloatVector passed to or returned
     * from a method that C2 does not inline (say one "already compiled into a big method", as a switch over
     * every kind's vector code is) is boxed, which made a depthwise conv with a fused HardSwish 60x slower.
     * The scalar tail biases as the vector body does and applies {@link #apply}, which gives a lane's bits.
     */
    private void run(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        switch (kind) {
            case NONE -> none(y, off, len, mode, bias, row);
            case RELU -> relu(y, off, len, mode, bias, row);
            case CLIP -> clip(y, off, len, mode, bias, row);
            case HARD_SIGMOID -> hardSigmoid(y, off, len, mode, bias, row);
            case HARD_SWISH -> hardSwish(y, off, len, mode, bias, row);
            case HARD_SWISH_CHAIN -> hardSwishChain(y, off, len, mode, bias, row);
            case HARD_SWISH_CHAIN_AFFINE -> hardSwishChainAffine(y, off, len, mode, bias, row);
            case LEAKY_RELU -> leakyRelu(y, off, len, mode, bias, row);
            case GELU -> gelu(y, off, len, mode, bias, row);
            case SIGMOID -> sigmoid(y, off, len, mode, bias, row);
            case SILU -> silu(y, off, len, mode, bias, row);
            // a kind added without its loop must fail loudly, never leave y unactivated
            default -> throw new IllegalStateException("no loop for activation " + kind);
        }
    }

    private void none(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            long at = (off + i) * 4;
            FloatVector v = FloatVector.fromMemorySegment(S, y, at, ORDER);
            if (mode == BIAS_SCALAR) v = v.add(bv);
            else if (mode == BIAS_ROW) v = v.add(FloatVector.fromArray(S, row, i));
            v.intoMemorySegment(y, at, ORDER);
        }
        tail(y, off, i, len, mode, bias, row);
    }

    private void relu(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            long at = (off + i) * 4;
            FloatVector v = FloatVector.fromMemorySegment(S, y, at, ORDER);
            if (mode == BIAS_SCALAR) v = v.add(bv);
            else if (mode == BIAS_ROW) v = v.add(FloatVector.fromArray(S, row, i));
            v = v.blend(0f, v.compare(VectorOperators.LT, 0f));
            v.intoMemorySegment(y, at, ORDER);
        }
        tail(y, off, i, len, mode, bias, row);
    }

    private void clip(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            long at = (off + i) * 4;
            FloatVector v = FloatVector.fromMemorySegment(S, y, at, ORDER);
            if (mode == BIAS_SCALAR) v = v.add(bv);
            else if (mode == BIAS_ROW) v = v.add(FloatVector.fromArray(S, row, i));
            v = v.max(lo).min(hi);
            v.intoMemorySegment(y, at, ORDER);
        }
        tail(y, off, i, len, mode, bias, row);
    }

    private void hardSigmoid(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            long at = (off + i) * 4;
            FloatVector v = FloatVector.fromMemorySegment(S, y, at, ORDER);
            if (mode == BIAS_SCALAR) v = v.add(bv);
            else if (mode == BIAS_ROW) v = v.add(FloatVector.fromArray(S, row, i));
            v = v.fma(alpha, beta).min(1f).max(0f);
            v.intoMemorySegment(y, at, ORDER);
        }
        tail(y, off, i, len, mode, bias, row);
    }

    private void hardSwish(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            long at = (off + i) * 4;
            FloatVector v = FloatVector.fromMemorySegment(S, y, at, ORDER);
            if (mode == BIAS_SCALAR) v = v.add(bv);
            else if (mode == BIAS_ROW) v = v.add(FloatVector.fromArray(S, row, i));
            v = v.mul(v.fma(alpha, beta).min(1f).max(0f));
            v.intoMemorySegment(y, at, ORDER);
        }
        tail(y, off, i, len, mode, bias, row);
    }

    private void hardSwishChain(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            long at = (off + i) * 4;
            FloatVector v = FloatVector.fromMemorySegment(S, y, at, ORDER);
            if (mode == BIAS_SCALAR) v = v.add(bv);
            else if (mode == BIAS_ROW) v = v.add(FloatVector.fromArray(S, row, i));
            v = v.mul(v.add(shift).max(lo).min(hi)).div(div);
            v.intoMemorySegment(y, at, ORDER);
        }
        tail(y, off, i, len, mode, bias, row);
    }

    private void hardSwishChainAffine(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            long at = (off + i) * 4;
            FloatVector v = FloatVector.fromMemorySegment(S, y, at, ORDER);
            if (mode == BIAS_SCALAR) v = v.add(bv);
            else if (mode == BIAS_ROW) v = v.add(FloatVector.fromArray(S, row, i));
            v = v.mul(v.add(shift).max(lo).min(hi)).div(div).mul(alpha).add(beta);
            v.intoMemorySegment(y, at, ORDER);
        }
        tail(y, off, i, len, mode, bias, row);
    }

    private void leakyRelu(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            long at = (off + i) * 4;
            FloatVector v = FloatVector.fromMemorySegment(S, y, at, ORDER);
            if (mode == BIAS_SCALAR) v = v.add(bv);
            else if (mode == BIAS_ROW) v = v.add(FloatVector.fromArray(S, row, i));
            v = v.blend(v.mul(alpha), v.compare(VectorOperators.LT, 0f)).max(lo).min(hi);
            v.intoMemorySegment(y, at, ORDER);
        }
        tail(y, off, i, len, mode, bias, row);
    }

    private void gelu(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        FloatVector bv = FloatVector.broadcast(S, bias);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            long at = (off + i) * 4;
            FloatVector v = FloatVector.fromMemorySegment(S, y, at, ORDER);
            if (mode == BIAS_SCALAR) v = v.add(bv);
            else if (mode == BIAS_ROW) v = v.add(FloatVector.fromArray(S, row, i));
            v = VectorMath.gelu(v);
            v.intoMemorySegment(y, at, ORDER);
        }
        tail(y, off, i, len, mode, bias, row);
    }

    private void sigmoid(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        int i = SigmoidLoops.segment(y, off, y, off, len, mode, bias, row, false);
        tail(y, off, i, len, mode, bias, row);
    }

    private void silu(MemorySegment y, long off, int len, int mode, float bias, float[] row) {
        int i = SigmoidLoops.segment(y, off, y, off, len, mode, bias, row, true);
        tail(y, off, i, len, mode, bias, row);
    }

    /** The elements after the vector body, biased as the body biases (BIAS_NONE adds nothing: + 0f would turn -0.0 into 0.0). */
    private void tail(MemorySegment y, long off, int i, int len, int mode, float bias, float[] row) {
        for (; i < len; i++) {
            long at = off + i;
            float v = y.getAtIndex(NnArrays.F32, at);
            if (mode == BIAS_SCALAR) v += bias;
            else if (mode == BIAS_ROW) v += row[i];
            y.setAtIndex(NnArrays.F32, at, apply(v));
        }
    }
}
