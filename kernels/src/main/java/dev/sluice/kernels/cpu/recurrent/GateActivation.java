package dev.sluice.kernels.cpu.recurrent;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.cpu.core.VectorMath;
import java.util.List;
import java.util.Locale;

/** One activation function of a recurrent op's {@code activations} attribute, with its alpha and beta. */
record GateActivation(Kind kind, double alpha, double beta) {
    enum Kind { SIGMOID, TANH, RELU, AFFINE, LEAKY_RELU, THRESHOLDED_RELU, SCALED_TANH, HARD_SIGMOID, ELU, SOFTSIGN, SOFTPLUS }

    double apply(double x) {
        return switch (kind) {
            case SIGMOID -> 1.0 / (1.0 + Math.exp(-x));
            case TANH -> Math.tanh(x);
            case RELU -> Math.max(0.0, x);
            case AFFINE -> alpha * x + beta;
            case LEAKY_RELU -> x >= 0 ? x : alpha * x;
            case THRESHOLDED_RELU -> x > alpha ? x : 0.0;
            case SCALED_TANH -> alpha * Math.tanh(beta * x);
            case HARD_SIGMOID -> Math.max(0.0, Math.min(1.0, alpha * x + beta));
            case ELU -> x >= 0 ? x : alpha * (Math.exp(x) - 1.0);
            case SOFTSIGN -> x / (1.0 + Math.abs(x));
            case SOFTPLUS -> Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0.0);
        };
    }

    /**
     * Applies this function in place to {@code v[from, to)}, in float32. Sigmoid and Tanh (every default) run
     * as {@link VectorMath}'s lane-wise forms, whose result depends on the value alone (the masked tail runs the
     * same code), so a step's bits never depend on where its gates sit; the others round the double form.
     */
    void apply(float[] v, int from, int to) {
        if (kind == Kind.SIGMOID || kind == Kind.TANH) {
            var s = VectorMath.S;
            int l = s.length(), j = from;
            // Whole vectors, then the tail through a vector-sized copy (masked loads are not intrinsics on every
            // CPU, and their fallback is slow); lane-wise, so the tail's values are those a full vector gives.
            // One loop per function, each calling VectorMath directly, so that C2 inlines it and keeps vectors in registers.
            if (kind == Kind.SIGMOID) for (; j + l <= to; j += l) VectorMath.sigmoid(jdk.incubator.vector.FloatVector.fromArray(s, v, j)).intoArray(v, j);
            else for (; j + l <= to; j += l) VectorMath.tanh(jdk.incubator.vector.FloatVector.fromArray(s, v, j)).intoArray(v, j);
            if (j < to) {
                float[] tail = new float[l];
                System.arraycopy(v, j, tail, 0, to - j);
                activate(jdk.incubator.vector.FloatVector.fromArray(s, tail, 0)).intoArray(tail, 0);
                System.arraycopy(tail, 0, v, j, to - j);
            }
            return;
        }
        for (int j = from; j < to; j++) v[j] = (float) apply(v[j]);
    }

    private jdk.incubator.vector.FloatVector activate(jdk.incubator.vector.FloatVector x) {
        return kind == Kind.SIGMOID ? VectorMath.sigmoid(x) : VectorMath.tanh(x);
    }

    /**
     * The activations for every direction: {@code perDirection} names each, {@code defaults} when the attribute
     * is absent. activation_alpha/beta are consumed in order by the functions that take them.
     */
    static GateActivation[] parse(Attributes at, String[] defaults, int numDirections) {
        int per = defaults.length;
        List<String> names = at.getStrings("activations");
        float[] alphas = at.getFloats("activation_alpha");
        float[] betas = at.getFloats("activation_beta");
        if (names == null) {
            String[] d = new String[per * numDirections];
            for (int i = 0; i < d.length; i++) d[i] = defaults[i % per];
            names = List.of(d);
        } else if (names.size() == per && numDirections == 2) {
            // tolerate one set given for both directions
            String[] d = new String[per * 2];
            for (int i = 0; i < d.length; i++) d[i] = names.get(i % per);
            names = List.of(d);
        } else if (names.size() != per * numDirections) {
            throw new KernelException("activations has " + names.size() + " entries, expected " + per * numDirections);
        }
        GateActivation[] r = new GateActivation[names.size()];
        int ai = 0, bi = 0;
        for (int i = 0; i < r.length; i++) {
            String n = names.get(i).toLowerCase(Locale.ROOT);
            Kind k;
            double da = 0, db = 0;
            boolean usesA = false, usesB = false;
            switch (n) {
                case "sigmoid" -> k = Kind.SIGMOID;
                case "tanh" -> k = Kind.TANH;
                case "relu" -> k = Kind.RELU;
                case "affine" -> { k = Kind.AFFINE; da = 1; db = 0; usesA = usesB = true; }
                case "leakyrelu" -> { k = Kind.LEAKY_RELU; da = 0.01; usesA = true; }
                case "thresholdedrelu" -> { k = Kind.THRESHOLDED_RELU; da = 1.0; usesA = true; }
                case "scaledtanh" -> { k = Kind.SCALED_TANH; da = 1; db = 1; usesA = usesB = true; }
                case "hardsigmoid" -> { k = Kind.HARD_SIGMOID; da = 0.2; db = 0.5; usesA = usesB = true; }
                case "elu" -> { k = Kind.ELU; da = 1.0; usesA = true; }
                case "softsign" -> k = Kind.SOFTSIGN;
                case "softplus" -> k = Kind.SOFTPLUS;
                default -> throw new KernelException("unsupported recurrent activation '" + names.get(i) + "'");
            }
            if (usesA && alphas != null && ai < alphas.length) da = alphas[ai++];
            if (usesB && betas != null && bi < betas.length) db = betas[bi++];
            r[i] = new GateActivation(k, da, db);
        }
        return r;
    }
}
