package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.PartialSums;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.TilingOptions;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A float16 MatMul or Gemm that no split but a K cut brings within its device ({@link PlanRewrite}): rewritten as the
 * same product asking for its float32 values ({@link PartialSums#FLOAT32_OUTPUT}) into a float32 value of its own,
 * then a Cast of that to float16 into the original output. The product is then a float32 output whose K tiles hand
 * float32 partial sums on ({@link MatMulTiling}, {@link ReductionCut}), the float32 buffer counted in the budget like
 * any value (it is one in the graph), and the Cast rounds each element once.
 *
 * <p>Bits: the kernels compute a float16 product by widening A and B to float32 exactly, summing on the float32 path
 * (Gemm32), and storing each float32 element with {@link Float#floatToFloat16}; the rewritten product is that path
 * without the store, and Cast float32 to float16 stores with that same function. Its K tiles continue the float32
 * sums as a float32 product's do (the K-cut invariant), so the chain of tiles and the Cast give the untiled float16
 * node's bits.
 */
final class HalfProducts {
    private HalfProducts() {}

    /** The suffix of the float32 value a rewritten product writes. */
    static final String FLOAT32_SUFFIX = "#float32";

    /**
     * The two nodes standing for n, or null when n is not a float16 MatMul / Gemm whose K a cut could split, or when it
     * fits its device without one: its least need split every other way is within {@code 4 * threshold} (the device's
     * budget; PlanRewrite's threshold is a quarter of it, 0 when reckoning the least budget, which rewrites every one).
     */
    static List<Node> rewrite(Graph g, Node n, Map<String, TensorType> types, long threshold) {
        boolean gemm = n.opType().equals("Gemm");
        if (!n.domain().isEmpty() || !(gemm || n.opType().equals("MatMul")) || n.outputs().size() != 1 || n.inputs().size() < 2) return null;
        if (PartialSums.float32Output(n.attributes()) || n.attributes().has(PartialSums.ATTRIBUTE)) return null;
        if (gemm && (n.attributes().getInt("transA", 0) != 0 || n.attributes().getFloat("alpha", 1f) == 0f)) return null;
        String y = n.outputs().getFirst();
        TensorType yt = y.isEmpty() ? null : g.typeOf(y);
        if (yt == null || !yt.isStatic() || yt.dtype() != DType.FLOAT16) return null;
        for (int k = 0; k < 2; k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty() || BoxTiles.dtype(g, v) != DType.FLOAT16) return null;
        }
        Shape as = OpTiling.shapeOf(g, n.inputs().get(0)), bs = OpTiling.shapeOf(g, n.inputs().get(1));
        if (as.rank() < 2 || bs.rank() < 2) return null;
        long m = as.dim(as.rank() - 2), k = as.dim(as.rank() - 1);
        long cols = bs.dim(gemm && n.attributes().getInt("transB", 0) != 0 ? 0 : bs.rank() - 1);
        long run = m == 1 || cols == 1 ? PartialSums.GEMV_K_RUN : PartialSums.GEMM_K_RUN;
        if (k < 2 * run) return null; // no K cut: the rewrite would only add a value and a Cast
        long whole = BuildState.nodeNeed(g, n);
        long others = Tiling.smallestNeedOf(g, n, whole, TilingOptions.defaults());
        if (threshold > 0 && others <= (threshold > Long.MAX_VALUE / 4 ? Long.MAX_VALUE : threshold * 4)) return null;
        String wide = y + FLOAT32_SUFFIX;
        types.put(wide, new TensorType(DType.FLOAT32, yt.shape()));
        Map<String, Attr> at = new LinkedHashMap<>(n.attributes().asMap());
        at.put(PartialSums.FLOAT32_OUTPUT, new Attr.Int(1));
        String name = n.name().isEmpty() ? y : n.name();
        List<Node> r = List.of(new Node(n.name(), n.opType(), n.domain(), n.inputs(), List.of(wide), new Attributes(at)),
            new Node(name + "#round", "Cast", "", List.of(wide), List.of(y),
                new Attributes(Map.of("to", new Attr.Int(DType.FLOAT16.onnxCode())))));
        return InstanceNormSplit.kept(g, r, types, others, List.of(wide));
    }
}
