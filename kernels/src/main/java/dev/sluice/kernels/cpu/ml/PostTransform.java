package dev.sluice.kernels.cpu.ml;

/**
 * The score transforms of the ai.onnx.ml classifiers and regressors, as ONNX Runtime computes them: in float, with its
 * approximations (PROBIT through a closed-form inverse error function, SOFTMAX_ZERO leaving exact zeros at zero and out
 * of the sum), since that is what models converted by skl2onnx / onnxmltools are validated against.
 */
enum PostTransform {
    NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT;

    /** From the string attribute of the opset 1-3 ops. */
    static PostTransform of(String s, String where) {
        return switch (s) {
            case "NONE" -> NONE;
            case "LOGISTIC" -> LOGISTIC;
            case "SOFTMAX" -> SOFTMAX;
            case "SOFTMAX_ZERO" -> SOFTMAX_ZERO;
            case "PROBIT" -> PROBIT;
            default -> throw MlAttributes.error(where, "post_transform '" + s + "' is not one of NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT");
        };
    }

    /** From the int attribute of TreeEnsemble (opset 5): 0 NONE, 1 SOFTMAX, 2 LOGISTIC, 3 SOFTMAX_ZERO, 4 PROBIT. */
    static PostTransform ofCode(long c, String where) {
        return switch ((int) c) {
            case 0 -> NONE;
            case 1 -> SOFTMAX;
            case 2 -> LOGISTIC;
            case 3 -> SOFTMAX_ZERO;
            case 4 -> PROBIT;
            default -> throw MlAttributes.error(where, "post_transform " + c + " is not one of 0 (NONE) to 4 (PROBIT)");
        };
    }

    static float logistic(float v) {
        float e = (float) (1.0 / (1.0 + Math.exp(-Math.abs(v))));
        return v < 0 ? 1 - e : e;
    }

    static float probit(float v) { return (float) Math.sqrt(2.0) * erfInv(2 * v - 1); }

    /** Winitzki's approximation of erf^-1 (a = 0.147), the one ONNX Runtime uses. */
    static float erfInv(float x) {
        float sgn = x < 0 ? -1f : 1f;
        x = (1 - x) * (1 + x);
        float log = (float) Math.log(x);
        float v = 2 / ((float) Math.PI * 0.147f) + 0.5f * log;
        float v2 = 1 / 0.147f * log;
        // float square roots, as ORT takes them: at x = 0 the two terms then cancel exactly
        float v3 = -v + (float) Math.sqrt(v * v - v2);
        return sgn * (float) Math.sqrt(v3);
    }

    /** Applies this transform to {@code s[0, n)} in place, each score as a float (two or more scores). */
    void applyTo(double[] s, int n) {
        switch (this) {
            case NONE -> { for (int i = 0; i < n; i++) s[i] = (float) s[i]; }
            case LOGISTIC -> { for (int i = 0; i < n; i++) s[i] = logistic((float) s[i]); }
            case PROBIT -> { for (int i = 0; i < n; i++) s[i] = probit((float) s[i]); }
            case SOFTMAX -> {
                float max = -Float.MAX_VALUE;
                for (int i = 0; i < n; i++) max = Math.max(max, (float) s[i]);
                float sum = 0;
                for (int i = 0; i < n; i++) { s[i] = (float) Math.exp((float) s[i] - max); sum += (float) s[i]; }
                for (int i = 0; i < n; i++) s[i] = (float) s[i] / sum;
            }
            case SOFTMAX_ZERO -> {
                float max = -Float.MAX_VALUE;
                for (int i = 0; i < n; i++) max = Math.max(max, (float) s[i]);
                float expNegMax = (float) Math.exp(-max), sum = 0;
                for (int i = 0; i < n; i++) {
                    float v = (float) s[i];
                    if (v > 1e-7f || v < -1e-7f) { s[i] = (float) Math.exp(v - max); sum += (float) s[i]; }
                    else s[i] = v * expNegMax;
                }
                // all scores zero: ONNX Runtime divides 0 by 0 here; keep its NaN rather than invent a value
                for (int i = 0; i < n; i++) s[i] = (float) s[i] / sum;
            }
        }
    }
}
