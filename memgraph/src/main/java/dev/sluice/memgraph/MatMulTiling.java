package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.PartialSums;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * MatMul / sluice.FusedMatMul with operands of rank 2 or more, and Gemm without transA: a tile computes a box of
 * the output on its batch axes, rows (M) and columns (N), reading A's matching batches and rows (all of K), B's
 * matching batches and columns (all of K; a transposed Gemm B by its rows), and the matching part of a bias
 * (broadcast like an elementwise operand). A float32 product with K of at least two Gemm32 KC runs is also cut
 * along K ({@link ReductionCut}): its boxes are the output's axes and then K, blocks of K start on multiples of
 * Gemm32's K run (PartialSums.GEMM_K_RUN, or GEMV_K_RUN for one row or one column), each K tile continues from the partial sums of the ones before (Gemm32 sums every element in KC runs
 * from zero, each added to C in order, on both its paths), FusedMatMul's bias and activation go to the last K
 * tile, Gemm's C to the first.
 *
 * <p>Bits: Gemm32 sums each output element over K in an order that depends on K and on the element's column
 * modulo the widest vector only, except that a product of one row, or one column, takes the matrix-vector path
 * (another order). So row blocks hold at least two rows when the node has several, column blocks start on
 * multiples of 16 columns and never hold one column.
 *
 * <p>Float16 products are cut by batches, rows and columns alike: MatMul and Gemm widen their operands to float32,
 * compute on the same Gemm32 path and round each element to float16 once at the end ({@link Tiling#viaFloat32}).
 * Along K only as rewritten by {@link HalfProducts}: a K tile hands its partial sums over in the output's type, which
 * for a float16 output would round them after every block where the whole product rounds once (the kernels refuse such
 * partial sums); the rewritten product outputs its float32 values ({@link PartialSums#FLOAT32_OUTPUT}), so its K
 * tiles chain float32 sums exactly as a float32 product's do, and a Cast after it rounds once.
 */
record MatMulTiling(Node node, Shape output, String a, Shape aShape, String b, Shape bShape, boolean transB,
                    String bias, Shape biasShape, List<Cut> cuts, long k) implements OpTiling {
    static final int COLUMN_UNIT = 16;

    static MatMulTiling of(Graph g, Node n, Shape os) {
        boolean fused = n.opType().equals("FusedMatMul"), gemm = n.opType().equals("Gemm");
        if (!(n.opType().equals("MatMul") || fused || gemm) || !n.domain().equals(fused ? "sluice" : "") || n.inputs().size() < 2) return null;
        if (gemm && n.attributes().getInt("transA", 0) != 0) return null;
        boolean transB = gemm && n.attributes().getInt("transB", 0) != 0;
        Shape as = OpTiling.shapeOf(g, n.inputs().get(0)), bs = OpTiling.shapeOf(g, n.inputs().get(1));
        int r = os.rank();
        if (as.rank() < 2 || bs.rank() < 2 || r != Math.max(as.rank(), bs.rank()) || n.inputs().get(0).equals(n.inputs().get(1))) return null;
        if (gemm && (r != 2 || as.rank() != 2 || bs.rank() != 2)) return null;
        long m = as.dim(as.rank() - 2), cols = bs.dim(transB ? 0 : bs.rank() - 1);
        if (os.dim(r - 2) != m || os.dim(r - 1) != cols) return null;
        String bias = "";
        Shape biasShape = null;
        if (n.inputs().size() > 2 && !n.inputs().get(2).isEmpty()) {
            bias = n.inputs().get(2);
            biasShape = OpTiling.shapeOf(g, bias);
            if (bias.equals(n.inputs().get(0)) || bias.equals(n.inputs().get(1)) || biasShape.rank() > r) return null;
            for (int j = 0; j < biasShape.rank(); j++) {
                long o = os.dim(j + r - biasShape.rank());
                if (biasShape.dim(j) != 1 && biasShape.dim(j) != o) return null;
            }
        }
        List<Cut> cuts = new ArrayList<>();
        for (int j = 0; j < r - 2; j++) if (os.dim(j) > 1) cuts.add(new Cut(j, 1, 1));
        if (m >= 4) cuts.add(new Cut(r - 2, 1, 2));
        // one row of a transposed B per column: each output element is its own dot product (Gemm32's m = 1 path)
        if (gemm && transB && m == 1 && cols >= 2) cuts.add(new Cut(r - 1, 1, 1));
        else if (cols >= 2 * COLUMN_UNIT) cuts.add(new Cut(r - 1, COLUMN_UNIT, 2));
        long k = as.dim(as.rank() - 1);
        // K blocks on Gemm32's K runs: longer on its matrix-vector path (one row or one column; a multiple of the other)
        long run = m == 1 || cols == 1 ? PartialSums.GEMV_K_RUN : PartialSums.GEMM_K_RUN;
        // float32 sums handed on: of float32 operands, or of float16 ones asked for their float32 values (HalfProducts)
        DType operands = PartialSums.float32Output(n.attributes()) ? DType.FLOAT16 : DType.FLOAT32;
        DType ad = BoxTiles.dtype(g, n.inputs().get(0)), bd = BoxTiles.dtype(g, n.inputs().get(1));
        boolean kCut = k >= 2L * run && g.typeOf(n.outputs().getFirst()).dtype() == DType.FLOAT32
            && ad == bd && (ad == DType.FLOAT32 || ad == operands)
            && (!gemm || n.attributes().getFloat("alpha", 1f) != 0f);
        if (kCut) cuts.add(new Cut(r, run, 1)); // last: the K tiles of an output box run one after another
        if (cuts.isEmpty()) return null;
        return new MatMulTiling(n, kCut ? ReductionCut.extend(os, k) : os, n.inputs().get(0), as, n.inputs().get(1), bs, transB, bias,
            biasShape, List.copyOf(cuts), kCut ? k : 0);
    }

    @Override public Box outputBox(Box tile) { return k > 0 ? ReductionCut.outputBox(tile) : tile; }

    @Override public Map<String, Box> boxes(Box tile) {
        Map<String, Box> r = new LinkedHashMap<>();
        Box out = outputBox(tile);
        int k = out.rank();
        Box ab = operand(aShape, out, k - 2, aShape.rank() - 2);
        Box bb = operand(bShape, out, k - 1, transB ? 0 : bShape.rank() - 1);
        boolean kBlock = this.k > 0 && !(ReductionCut.first(tile) && ReductionCut.last(tile));
        if (kBlock) {
            long[] kb = ReductionCut.block(tile);
            ab = (ab != null ? ab : Box.whole(aShape)).with(aShape.rank() - 1, kb[0], kb[1]);
            bb = (bb != null ? bb : Box.whole(bShape)).with(transB ? 1 : bShape.rank() - 2, kb[0], kb[1]);
        }
        if (ab != null) r.put(a, ab);
        if (bb != null) r.put(b, bb);
        // with K cut, a bias (Gemm's C, FusedMatMul's bias) is read by one K tile only: gathered by that tile
        boolean biasHere = !kBlock || (gemm() ? ReductionCut.first(tile) : ReductionCut.last(tile));
        if (!bias.isEmpty() && biasHere) {
            Box cb = OpTiling.broadcastBox(biasShape, out);
            if (cb != null || kBlock) r.put(bias, cb != null ? cb : Box.whole(biasShape));
        }
        if (kBlock) ReductionCut.partial(r, node, tile);
        return r;
    }

    private boolean gemm() { return node.opType().equals("Gemm"); }

    /** An operand's box: batch axes broadcast against the output's, axis {@code own} the output's axis {@code outAxis}, the rest whole. */
    private static Box operand(Shape s, Box out, int outAxis, int own) {
        int k = s.rank(), off = out.rank() - k;
        long[] lo = new long[k], hi = s.dims();
        for (int j = 0; j < k - 2; j++) if (s.dim(j) != 1) { lo[j] = out.lo(j + off); hi[j] = out.hi(j + off); }
        lo[own] = out.lo(outAxis);
        hi[own] = out.hi(outAxis);
        Box b = new Box(s.dims(), lo, hi);
        return b.isWhole() ? null : b;
    }

    @Override public Node node(Box tile) {
        if (k == 0) return node;
        // Gemm: C before the sum (slot 2), partial sums in slot 3; FusedMatMul: bias after it (2), partials 3; MatMul: 2
        boolean gemm = gemm(), fused = node.opType().equals("FusedMatMul");
        return ReductionCut.tileNode(node, node.attributes().asMap(), tile, gemm || fused ? 3 : 2,
            fused ? List.of(2) : List.of(), gemm ? List.of(2) : List.of());
    }
}
