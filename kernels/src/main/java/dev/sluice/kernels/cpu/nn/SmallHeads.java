package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The two products of one attention head, S = Q K^T and Y = P V, for heads whose depths (d for S, Lk for Y) fit
 * one Gemm32 K run: the encoders' heads (64 to 512 tokens of 32 to 128 dims) are small products where Gemm32's
 * general machinery (packing A and B per call through strided scalar reads, 96-column panels of which a 64-key
 * head fills two thirds) costs as much as the multiply-adds.
 *
 * <p>Bits: each element is Gemm32's, {@code 0 + (an FMA chain from zero over the depth in order)} (Gemm32 zeroes C
 * for beta 0, then adds the one K run's tile; its packing multiplies by alpha 1, exactly). So the fused
 * attention keeps the unfused MatMuls' bits, whichever path a head takes. Operands are copied to this thread's
 * float arrays first: the micro-kernels touch no MemorySegment (vector accumulators in a method that also
 * accesses a segment ran far slower under C2, see Gemm32.micro); results go back to the segments in separate
 * small methods.
 */
final class SmallHeads {
    private SmallHeads() {}

    private static final VectorSpecies<Float> S = Gemm32.SPECIES;
    private static final int L = S.length();
    /** Columns per panel: four vectors (64 floats with AVX-512), a tile of 4 rows x 4 vectors in registers. */
    private static final int PW = 4 * L;
    private static final int MR = 4;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /** Whether a head of these sizes takes this path: at least 2 rows and columns (Gemm32's matrix-vector path otherwise), depths within one K run. */
    static boolean fits(int l, int lk, int d, int dv) {
        return l >= 2 && lk >= 2 && dv >= 2 && d >= 1 && d <= Gemm32.KC && lk <= Gemm32.KC;
    }

    /** Per-thread operands: A rows (one more zero row), B panels, one register tile. */
    private static final class Scratch {
        float[] a = new float[0], b = new float[0], tile = new float[MR * PW];

        float[] a(int n) { return a.length >= n ? a : (a = new float[n]); }
        float[] b(int n) { return b.length >= n ? b : (b = new float[n]); }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static int panels(int n) { return (n + PW - 1) / PW; }

    /** s (l x lk, row-major at 0) = Q K^T, Q's row i at {@code qo + i * ldq}, K's row j at {@code ko + j * ldk}, d each. */
    static void scores(MemorySegment q, long qo, int ldq, MemorySegment k, long ko, int ldk, int l, int lk, int d, MemorySegment s) {
        Scratch sc = SCRATCH.get();
        float[] a = rows(q, qo, ldq, l, d, sc);
        int panels = panels(lk);
        float[] b = sc.b(panels * d * PW);
        // K^T in panels [panel][p][PW]: walk each key's row once, scattering its d values down a column
        java.util.Arrays.fill(b, 0, panels * d * PW, 0f);
        for (int j = 0; j < lk; j++) {
            int base = j / PW * d * PW + j % PW;
            long row = ko + (long) j * ldk;
            for (int p = 0; p < d; p++) b[base + p * PW] = k.getAtIndex(F, row + p);
        }
        product(a, l, d, b, lk, s, 0, lk, sc.tile);
    }

    /** y (row i at {@code yo + i * ldy}, dv wide) = P V, P = s (l x lk at 0), V's row p at {@code vo + p * ldv}. */
    static void weighted(MemorySegment s, int l, int lk, MemorySegment v, long vo, int ldv, int dv, MemorySegment y, long yo, int ldy) {
        Scratch sc = SCRATCH.get();
        float[] a = rows(s, 0, lk, l, lk, sc);
        int panels = panels(dv);
        float[] b = sc.b(panels * lk * PW);
        for (int pn = 0; pn < panels; pn++) {
            int j0 = pn * PW, cols = Math.min(PW, dv - j0), dst = pn * lk * PW;
            for (int p = 0; p < lk; p++, dst += PW) {
                MemorySegment.copy(v, F, (vo + (long) p * ldv + j0) * 4, b, dst, cols);
                if (cols < PW) java.util.Arrays.fill(b, dst + cols, dst + PW, 0f);
            }
        }
        product(a, l, lk, b, dv, y, yo, ldy, sc.tile);
    }

    /** The l rows of {@code depth} floats at {@code off + i * ld} copied to this thread's A array, then a zero row. */
    private static float[] rows(MemorySegment x, long off, int ld, int l, int depth, Scratch sc) {
        float[] a = sc.a((l + 1) * depth);
        for (int i = 0; i < l; i++) MemorySegment.copy(x, F, (off + (long) i * ld) * 4, a, i * depth, depth);
        java.util.Arrays.fill(a, l * depth, (l + 1) * depth, 0f);
        return a;
    }

    /** c (row i at {@code co + i * ldc}, n wide) = A (l x depth) times the packed B, tile by tile. */
    private static void product(float[] a, int l, int depth, float[] b, int n, MemorySegment c, long co, int ldc, float[] tile) {
        int zero = l * depth;
        for (int pn = 0, panels = panels(n); pn < panels; pn++) {
            int j0 = pn * PW, cols = Math.min(PW, n - j0), bo = pn * depth * PW;
            for (int i0 = 0; i0 < l; i0 += MR) {
                int rows = Math.min(MR, l - i0), o0 = i0 * depth;
                int o1 = rows > 1 ? o0 + depth : zero, o2 = rows > 2 ? o0 + 2 * depth : zero, o3 = rows > 3 ? o0 + 3 * depth : zero;
                if (cols <= 2 * L) micro4x2(depth, a, o0, o1, o2, o3, b, bo, tile);
                else micro4x4(depth, a, o0, o1, o2, o3, b, bo, tile);
                store(tile, rows, cols, c, co + (long) i0 * ldc + j0, ldc);
            }
        }
    }

    /** c's rows = 0 + the tile's (Gemm32's zeroed C plus its one K run), whole vectors then the rest. */
    private static void store(float[] tile, int rows, int cols, MemorySegment c, long co, int ldc) {
        int whole = cols / L * L;
        FloatVector zero = FloatVector.zero(S);
        for (int r = 0; r < rows; r++) {
            long row = co + (long) r * ldc;
            int t = r * PW, j = 0;
            for (; j < whole; j += L) zero.add(FloatVector.fromArray(S, tile, t + j)).intoMemorySegment(c, (row + j) * 4, ORDER);
            for (; j < cols; j++) c.setAtIndex(F, row + j, 0f + tile[t + j]);
        }
    }

    /** 4 rows x 4 vectors over a B panel [p][PW]: each element an FMA chain from zero over p in order. */
    private static void micro4x4(int depth, float[] a, int o0, int o1, int o2, int o3, float[] b, int bo, float[] tile) {
        final int l = L, nr = PW;
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        for (int p = 0; p < depth; p++) {
            int bi = bo + p * nr;
            FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + l);
            FloatVector b2 = FloatVector.fromArray(S, b, bi + 2 * l), b3 = FloatVector.fromArray(S, b, bi + 3 * l);
            FloatVector x = FloatVector.broadcast(S, a[o0 + p]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02); c03 = x.fma(b3, c03);
            x = FloatVector.broadcast(S, a[o1 + p]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12); c13 = x.fma(b3, c13);
            x = FloatVector.broadcast(S, a[o2 + p]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22); c23 = x.fma(b3, c23);
            x = FloatVector.broadcast(S, a[o3 + p]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32); c33 = x.fma(b3, c33);
        }
        c00.intoArray(tile, 0); c01.intoArray(tile, l); c02.intoArray(tile, 2 * l); c03.intoArray(tile, 3 * l);
        c10.intoArray(tile, nr); c11.intoArray(tile, nr + l); c12.intoArray(tile, nr + 2 * l); c13.intoArray(tile, nr + 3 * l);
        c20.intoArray(tile, 2 * nr); c21.intoArray(tile, 2 * nr + l); c22.intoArray(tile, 2 * nr + 2 * l); c23.intoArray(tile, 2 * nr + 3 * l);
        c30.intoArray(tile, 3 * nr); c31.intoArray(tile, 3 * nr + l); c32.intoArray(tile, 3 * nr + 2 * l); c33.intoArray(tile, 3 * nr + 3 * l);
    }

    /** The first 2 vectors of a panel (panels of at most 2 vectors' columns: a 32-dim head's values). */
    private static void micro4x2(int depth, float[] a, int o0, int o1, int o2, int o3, float[] b, int bo, float[] tile) {
        final int l = L, nr = PW;
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00;
        FloatVector c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (int p = 0; p < depth; p++) {
            int bi = bo + p * nr;
            FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + l);
            FloatVector x = FloatVector.broadcast(S, a[o0 + p]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[o1 + p]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[o2 + p]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[o3 + p]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
        }
        c00.intoArray(tile, 0); c01.intoArray(tile, l);
        c10.intoArray(tile, nr); c11.intoArray(tile, nr + l);
        c20.intoArray(tile, 2 * nr); c21.intoArray(tile, 2 * nr + l);
        c30.intoArray(tile, 3 * nr); c31.intoArray(tile, 3 * nr + l);
    }
}
