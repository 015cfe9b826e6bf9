package dev.sluice.kernels.cpu.linalg;

import dev.sluice.kernels.OpRegistry;

/**
 * The linear-algebra family: Gemm, MatMul (plain and fused), Einsum and Det. Float32 matrix products all go
 * through {@link Gemm32}.
 */
public final class LinalgOps {
    private LinalgOps() {}

    public static void register(OpRegistry r) {
        r.register("sluice", "FusedMatMul", new MatMulKernels.FusedMatMul());
        r.register("Gemm", new MatMulKernels.Gemm());
        r.register("MatMul", new MatMulKernels.MatMul());
        r.register("Einsum", new EinsumKernel());
        r.register("Det", new DeterminantKernel());
    }
}
