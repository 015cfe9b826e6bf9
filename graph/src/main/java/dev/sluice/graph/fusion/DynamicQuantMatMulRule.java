package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The chains dynamic quantizers (onnxruntime's quantize_dynamic) export for each float MatMul by a weight,
 * anchored at the DynamicQuantizeLinear:
 * <pre>
 *   DynamicQuantizeLinear(x) -> xq, x_scale, x_zp
 *   Mul(x_scale, w_scale)                              (w_scale constant: scalar or per column)
 *   MatMulInteger(xq, W, x_zp, [w_zp])                  (W constant 2-D int8/uint8, w_zp constant)
 *   Cast(to float) -> Mul(., the scale product) [-> Add(constant bias)] [-> activation or Gelu]
 * </pre>
 * Each MatMulInteger reading xq becomes one {@code sluice.DynamicQuantMatMul} (x, W, w_zp, w_scale[, bias]); one
 * DynamicQuantizeLinear often feeds several (a layer's query, key and value), and each fused node quantizes x
 * itself. All chains are fused or none: the DynamicQuantizeLinear disappears only when every reader of its
 * three outputs belongs to a chain, and no inner value is a graph output.
 */
final class DynamicQuantMatMulRule implements FusionRule {
    @Override
    public boolean tryFuse(Matcher fx, Node dql) {
        if (!dql.opType().equals("DynamicQuantizeLinear") || !dql.domain().isEmpty() || dql.outputs().size() != 3) return false;
        String x = dql.inputs().get(0), xq = dql.outputs().get(0), xScale = dql.outputs().get(1), xZp = dql.outputs().get(2);
        var xt = fx.g.types().get(x);
        if (xt == null || xt.dtype() != DType.FLOAT32 || !xt.shape().hasRank() || xt.shape().rank() < 2) return false;
        for (String o : dql.outputs()) if (o.isEmpty() || fx.graphOutputs.contains(o)) return false;
        List<Node> matmuls = fx.readers.getOrDefault(xq, List.of());
        if (matmuls.isEmpty()) return false;
        List<Chain> chains = new ArrayList<>();
        Set<Node> claimed = new HashSet<>();
        for (Node mmi : matmuls) {
            Chain c = chain(fx, mmi, xq, xScale, xZp);
            if (c == null || !claimed.add(mmi)) return false;
            chains.add(c);
        }
        // every reader of the scale and zero point must be a node of some chain
        for (Chain c : chains) claimed.addAll(c.nodes());
        for (String o : List.of(xScale, xZp)) {
            for (Node r : fx.readers.getOrDefault(o, List.of())) if (!claimed.contains(r)) return false;
        }
        for (Chain c : chains) {
            List<Node> all = new ArrayList<>(c.nodes());
            all.add(dql);
            if (!privateExcept(fx, all, Set.of(xq, xScale, xZp), c.out())) return false;
        }
        for (Chain c : chains) {
            List<String> ins = new ArrayList<>(List.of(x, c.weight(), c.weightZp(), c.weightScale()));
            if (c.bias() != null) ins.add(c.bias());
            fx.replace(c.nodes(), new Node(fx.fusedName(c.nodes().getFirst(), "DynamicQuantMatMul"), "DynamicQuantMatMul",
                PatternFusion.DOMAIN, ins, List.of(c.out()), new Attributes(c.activation())));
        }
        fx.removed.add(dql);
        return true;
    }

    /** One MatMulInteger's chain: its nodes in graph order (ending with the node whose output is {@code out}). */
    private record Chain(List<Node> nodes, String weight, String weightZp, String weightScale, String bias, String out,
                         Map<String, Attr> activation) {}

    private static Chain chain(Matcher fx, Node mmi, String xq, String xScale, String xZp) {
        if (!mmi.opType().equals("MatMulInteger") || !mmi.domain().isEmpty() || mmi.inputs().size() < 3) return null;
        if (!mmi.inputs().get(0).equals(xq) || !mmi.inputs().get(2).equals(xZp)) return null;
        String w = mmi.inputs().get(1);
        Tensor wt = fx.newInitializers.get(w);
        if (wt == null || wt.rank() != 2 || wt.dtype() != DType.INT8 && wt.dtype() != DType.UINT8) return null;
        long n = wt.shape().dim(1);
        String wzp = mmi.inputs().size() > 3 ? mmi.inputs().get(3) : "";
        if (!wzp.isEmpty()) {
            Tensor z = fx.newInitializers.get(wzp);
            if (z == null || z.dtype() != wt.dtype() || z.elementCount() != 1 && (z.rank() != 1 || z.elementCount() != n)) return null;
        }
        Node cast = fx.onlyReader(mmi.outputs().get(0), "Cast");
        if (cast == null || cast.attributes().getInt("to", 0) != DType.FLOAT32.onnxCode()) return null;
        Node mul = fx.onlyReader(cast.outputs().get(0), "Mul");
        if (mul == null || mul.inputs().size() != 2) return null;
        Node scaleMul = fx.producerOf(Matcher.other(mul, cast.outputs().get(0)));
        if (scaleMul == null || !scaleMul.opType().equals("Mul") || !scaleMul.domain().isEmpty() || !scaleMul.inputs().contains(xScale)
            || !fx.singleReader(scaleMul.outputs().get(0))) return null;
        String ws = Matcher.other(scaleMul, xScale);
        Tensor wst = fx.newInitializers.get(ws);
        if (wst == null || wst.dtype() != DType.FLOAT32 || wst.elementCount() != 1 && (wst.rank() != 1 || wst.elementCount() != n)) return null;
        List<Node> nodes = new ArrayList<>(List.of(scaleMul, mmi, cast, mul));
        String out = mul.outputs().get(0), bias = null;
        Node add = fx.onlyReader(out, "Add");
        if (add != null && add.inputs().size() == 2) {
            String b = Matcher.other(add, out);
            Tensor bt = fx.newInitializers.get(b);
            if (bt != null && bt.dtype() == DType.FLOAT32 && bt.rank() == 1 && bt.elementCount() == n) {
                bias = b;
                nodes.add(add);
                out = add.outputs().get(0);
            }
        }
        Map<String, Attr> act = new LinkedHashMap<>();
        String actOut = fx.gelu(out, nodes, act);
        if (actOut == null) actOut = fx.activation(out, nodes, act);
        if (actOut != null) out = actOut;
        return new Chain(nodes, w, wzp, ws, bias, out, act);
    }

    /**
     * The chain's values, except the DynamicQuantizeLinear's {@code shared} outputs (checked by the caller), are
     * read only inside it and are not graph outputs; its nodes are not taken by another fusion.
     */
    private static boolean privateExcept(Matcher fx, List<Node> chain, Set<String> shared, String out) {
        Set<Node> inChain = new HashSet<>(chain);
        for (Node n : chain) {
            if (fx.removed.contains(n)) return false;
            for (String o : n.outputs()) {
                if (o.isEmpty() || o.equals(out) || shared.contains(o)) continue;
                if (fx.graphOutputs.contains(o)) return false;
                for (Node r : fx.readers.getOrDefault(o, List.of())) if (!inChain.contains(r)) return false;
            }
        }
        return true;
    }
}
