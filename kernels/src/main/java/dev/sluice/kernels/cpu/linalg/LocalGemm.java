package dev.sluice.kernels.cpu.linalg;

/**
 * Plain double-precision matrix products for the recurrent, quantized and loss kernels. Kept in one place and
 * simple on purpose: when the shared float32 GEMM lands, the callers switch to it here only.
 */
final class LocalGemm {
    private LocalGemm() {}

    /**
     * c[m×n] (+)= a[m×k] · b[n×k]ᵀ, with a row-major at {@code aOff} and c row-major at {@code cOff}.
     * b is stored one output column per row, which is how ONNX lays out W and R of the recurrent ops.
     */
    static void multiplyTransposedB(double[] a, int aOff, int m, int k, double[] b, int bOff, int n,
                                    double[] c, int cOff, boolean accumulate) {
        for (int i = 0; i < m; i++) {
            int ar = aOff + i * k;
            int cr = cOff + i * n;
            for (int j = 0; j < n; j++) {
                int br = bOff + j * k;
                double s = 0;
                for (int p = 0; p < k; p++) s += a[ar + p] * b[br + p];
                c[cr + j] = accumulate ? c[cr + j] + s : s;
            }
        }
    }

    /** c[m×n] = a[m×k] · b[k×n] over longs (integer products cannot lose precision this way). */
    static void multiply(long[] a, int aOff, int m, int k, long[] b, int bOff, int n, long[] c, int cOff) {
        for (int i = 0; i < m; i++) {
            int cr = cOff + i * n;
            for (int j = 0; j < n; j++) c[cr + j] = 0;
            for (int p = 0; p < k; p++) {
                long av = a[aOff + i * k + p];
                if (av == 0) continue;
                int br = bOff + p * n;
                for (int j = 0; j < n; j++) c[cr + j] += av * b[br + j];
            }
        }
    }
}
