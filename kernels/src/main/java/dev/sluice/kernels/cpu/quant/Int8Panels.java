package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * A constant 8-bit weight kept as 8-bit numbers, in column panels for a register-tiled product, and the
 * micro-kernel that multiplies float operands by it: each weight byte is widened to a float lane as it is
 * loaded (one byte-to-float conversion per vector, shared by the tile's rows) and fed to an FMA.
 *
 * <p>Storage: {@code v = b} for int8, {@code v = b - 128} for uint8, so every stored value is a signed byte; the
 * zero point moves likewise ({@code zp' = zp} or {@code zp - 128}), and {@code b - zp = v - zp'}. Panels hold
 * {@link #NR} columns ({@code NV} vectors of the machine's preferred float lane count), laid out
 * [panel][q][NR], zero-padded past the last column. One byte per weight: a quarter of a float packing.
 * Why a copy on the Java heap rather than reading an int8 weight in place from its native memory (measured with
 * QuantGemmCpuTime, one thread, CPU time, 2026-12-06): the micro-kernel's byte vectors loaded from a
 * MemorySegment ran at 70-74 GMAC/s, in place or packed alike, against 99 from this byte[]; the copy costs one
 * byte per weight.
 *
 * <p>Exactness: the micro-kernel sums {@code a[q] * v[q][j]} in float over one block of the depth at a time,
 * at most {@link QuantGemm#BLOCK} = 512 steps. With |a| <= 255 and |v| <= 128 every partial sum is an integer of
 * magnitude at most 512 * 255 * 128 < 2^24, where every integer is a float: no FMA or addition is ever rounded,
 * whatever the operands. The caller adds the blocks' sums as int32 ({@link QuantGemm#multiply}).
 */
final class Int8Panels {
    static final VectorSpecies<Float> FS = Gemm32.SPECIES;
    static final int L = FS.length();
    private static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    /**
     * Register tile: MR rows x NV vectors (AVX-512's 32 registers: 6 x 4 accumulators, 4 weight vectors, a
     * broadcast; AVX2's 16: 4 x 2). Why 6 x 4 over 4 x 4 (measured, QuantGemmCpuTime, one thread, alternating,
     * 2026-12-07): each widened weight vector feeds six FMAs instead of four, 4-7% less time on the BERT shapes
     * even with 64 rows padded to 66; 8 x 3 (the float pointwise conv's tile) ran 30% slower here.
     */
    static final int MR = L >= 16 ? 6 : 4;
    private static final int NV = L >= 16 ? 4 : 2;
    static final int NR = NV * L;

    final int k, n, panels;
    /** [panel][q][NR] signed bytes. */
    final byte[] data;
    /** zp' per column, padded to panels * NR with zeros. */
    final int[] zeroPoints;

    Int8Panels(MemorySegment b, long off, DType type, int k, int n, float[] zps) {
        this.k = k;
        this.n = n;
        this.panels = (n + NR - 1) / NR;
        this.data = new byte[Math.toIntExact((long) panels * k * NR)];
        this.zeroPoints = new int[panels * NR];
        boolean unsigned = type == DType.UINT8;
        for (int j = 0; j < n; j++) zeroPoints[j] = (int) (unsigned ? zps[j] - 128 : zps[j]);
        for (int q = 0; q < k; q++) {
            long row = off + (long) q * n;
            for (int j = 0; j < n; j++) {
                byte v = b.get(ValueLayout.JAVA_BYTE, row + j);
                int p = j / NR, c = j % NR;
                data[(p * k + q) * NR + c] = unsigned ? (byte) ((v & 0xFF) - 128) : v;
            }
        }
    }

    /**
     * Writes the k x n weight this was packed from (row-major, from element 0 of {@code b}) back: the inverse of the
     * constructor, the same bytes ({@code unsigned}: the weight was uint8).
     */
    void unpack(MemorySegment b, boolean unsigned) {
        for (int q = 0; q < k; q++) {
            for (int j = 0; j < n; j++) {
                byte v = data[((j / NR) * k + q) * NR + j % NR];
                b.set(ValueLayout.JAVA_BYTE, (long) q * n + j, unsigned ? (byte) (v + 128) : v);
            }
        }
    }

    /**
     * The MR x NR tile of panel {@code p} for the MR A rows that start at {@code o[0..MR)} of {@code a} (row-major,
     * k floats each; a row past the operand's end points at a zero row), summed over depths [q0, q1) (at most
     * {@link QuantGemm#BLOCK} of them) from zero, into {@code tile} ([row][NR]). A is read in place: a broadcast from memory costs the same from the tile's
     * row streams as from one packed panel, and packing A was a scalar pass as long as a fifth of the product.
     */
    void tile(float[] a, int[] o, int p, int q0, int q1, float[] tile) {
        if (MR == 6) micro6x4(q0, q1, a, o[0], o[1], o[2], o[3], o[4], o[5], data, p * k * NR, tile);
        else micro4x2(q0, q1, a, o[0], o[1], o[2], o[3], data, p * k * NR, tile);
    }

    private static FloatVector widen(byte[] b, int o) {
        return (FloatVector) ByteVector.fromArray(BS, b, o).convertShape(VectorOperators.B2F, FS, 0);
    }

    /** 6 x 4 vectors (AVX-512). */
    private static void micro6x4(int q0, int q1, float[] a, int o0, int o1, int o2, int o3, int o4, int o5, byte[] bp, int bo, float[] tile) {
        final int l = L, nr = 4 * L;
        FloatVector c00 = FloatVector.zero(FS), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        FloatVector c40 = c00, c41 = c00, c42 = c00, c43 = c00;
        FloatVector c50 = c00, c51 = c00, c52 = c00, c53 = c00;
        for (int q = q0; q < q1; q++) {
            int b = bo + q * nr;
            FloatVector b0 = widen(bp, b), b1 = widen(bp, b + l), b2 = widen(bp, b + 2 * l), b3 = widen(bp, b + 3 * l);
            FloatVector x = FloatVector.broadcast(FS, a[o0 + q]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02); c03 = x.fma(b3, c03);
            x = FloatVector.broadcast(FS, a[o1 + q]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12); c13 = x.fma(b3, c13);
            x = FloatVector.broadcast(FS, a[o2 + q]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22); c23 = x.fma(b3, c23);
            x = FloatVector.broadcast(FS, a[o3 + q]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32); c33 = x.fma(b3, c33);
            x = FloatVector.broadcast(FS, a[o4 + q]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41); c42 = x.fma(b2, c42); c43 = x.fma(b3, c43);
            x = FloatVector.broadcast(FS, a[o5 + q]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51); c52 = x.fma(b2, c52); c53 = x.fma(b3, c53);
        }
        c00.intoArray(tile, 0); c01.intoArray(tile, l); c02.intoArray(tile, 2 * l); c03.intoArray(tile, 3 * l);
        c10.intoArray(tile, nr); c11.intoArray(tile, nr + l); c12.intoArray(tile, nr + 2 * l); c13.intoArray(tile, nr + 3 * l);
        c20.intoArray(tile, 2 * nr); c21.intoArray(tile, 2 * nr + l); c22.intoArray(tile, 2 * nr + 2 * l); c23.intoArray(tile, 2 * nr + 3 * l);
        c30.intoArray(tile, 3 * nr); c31.intoArray(tile, 3 * nr + l); c32.intoArray(tile, 3 * nr + 2 * l); c33.intoArray(tile, 3 * nr + 3 * l);
        c40.intoArray(tile, 4 * nr); c41.intoArray(tile, 4 * nr + l); c42.intoArray(tile, 4 * nr + 2 * l); c43.intoArray(tile, 4 * nr + 3 * l);
        c50.intoArray(tile, 5 * nr); c51.intoArray(tile, 5 * nr + l); c52.intoArray(tile, 5 * nr + 2 * l); c53.intoArray(tile, 5 * nr + 3 * l);
    }

    /** 4 x 2 vectors (AVX2 and narrower). */
    private static void micro4x2(int q0, int q1, float[] a, int o0, int o1, int o2, int o3, byte[] bp, int bo, float[] tile) {
        final int l = L, nr = 2 * L;
        FloatVector c00 = FloatVector.zero(FS), c01 = c00, c10 = c00, c11 = c00;
        FloatVector c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (int q = q0; q < q1; q++) {
            int b = bo + q * nr;
            FloatVector b0 = widen(bp, b), b1 = widen(bp, b + l);
            FloatVector x = FloatVector.broadcast(FS, a[o0 + q]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(FS, a[o1 + q]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(FS, a[o2 + q]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(FS, a[o3 + q]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
        }
        c00.intoArray(tile, 0); c01.intoArray(tile, l);
        c10.intoArray(tile, nr); c11.intoArray(tile, nr + l);
        c20.intoArray(tile, 2 * nr); c21.intoArray(tile, 2 * nr + l);
        c30.intoArray(tile, 3 * nr); c31.intoArray(tile, 3 * nr + l);
    }
}
