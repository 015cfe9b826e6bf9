package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LayerNorm as exporters spell it: ReduceMean, Sub, Pow 2 (or Mul by itself), ReduceMean, Add eps, Sqrt, Div, Mul gamma,
 * [Add beta] over the last axis → LayerNormalization; for the CPU, with the residual Add of two same-shape values
 * before it → {@code sluice.AddLayerNorm}. Anchored at the first ReduceMean.
 */
final class LayerNormRule implements FusionRule {
    @Override
    public boolean tryFuse(Matcher fx, Node mean1) {
        if (!mean1.opType().equals("ReduceMean") || !lastAxisOnly(fx, mean1)) return false;
        String x = mean1.inputs().get(0);
        Node sub = fx.onlyReader(mean1.outputs().get(0), "Sub");
        if (sub == null || !sub.inputs().get(0).equals(x) || !sub.inputs().get(1).equals(mean1.outputs().get(0))) return false;
        String d = sub.outputs().get(0);
        List<Node> dReaders = fx.readers.getOrDefault(d, List.of());
        if (dReaders.size() != 2 || fx.graphOutputs.contains(d)) return false;
        Node square = null, div = null;
        for (Node r : dReaders) {
            if (r.opType().equals("Pow") && r.inputs().get(0).equals(d) && fx.constEquals(r.inputs().get(1), 2.0)) square = r;
            else if (r.opType().equals("Mul") && r.inputs().get(0).equals(d) && r.inputs().get(1).equals(d)) square = r;
            else if (r.opType().equals("Div") && r.inputs().get(0).equals(d)) div = r;
        }
        if (square == null || div == null) return false;
        Node mean2 = fx.onlyReader(square.outputs().get(0), "ReduceMean");
        if (mean2 == null || !lastAxisOnly(fx, mean2)) return false;
        Node addEps = fx.onlyReader(mean2.outputs().get(0), "Add");
        if (addEps == null) return false;
        Double eps = fx.scalarConst(Matcher.other(addEps, mean2.outputs().get(0)));
        if (eps == null) return false;
        Node sqrt = fx.onlyReader(addEps.outputs().get(0), "Sqrt");
        if (sqrt == null || !div.inputs().get(1).equals(sqrt.outputs().get(0)) || !fx.singleReader(sqrt.outputs().get(0))) return false;
        List<Node> chain = new ArrayList<>(List.of(mean1, sub, square, mean2, addEps, sqrt, div));
        String out = div.outputs().get(0);
        String gamma = null, beta = null;
        Node mul = fx.onlyReader(out, "Mul");
        if (mul != null && fx.isConst(Matcher.other(mul, out))) {
            gamma = Matcher.other(mul, out);
            chain.add(mul);
            out = mul.outputs().get(0);
            Node add = fx.onlyReader(out, "Add");
            if (add != null && fx.isConst(Matcher.other(add, out))) {
                beta = Matcher.other(add, out);
                chain.add(add);
                out = add.outputs().get(0);
            }
        }
        if (gamma == null) return false; // LayerNormalization needs a scale; the bare form is rare enough to skip
        // gamma/beta must be 1-D over the normalized axis for LayerNormalization's broadcasting to match
        if (fx.newInitializers.get(gamma).rank() != 1 || beta != null && fx.newInitializers.get(beta).rank() != 1) return false;
        if (!fx.innerValuesPrivate(chain, out)) return false;
        Node add = fx.target == PatternFusion.Target.CPU ? fx.residualAdd(x, chain) : null;
        List<String> ins = new ArrayList<>(List.of(x, gamma));
        if (add != null) {
            chain.addFirst(add);
            ins = new ArrayList<>(List.of(add.inputs().get(0), add.inputs().get(1), gamma));
        }
        if (beta != null) ins.add(beta);
        Map<String, Attr> attrs = new LinkedHashMap<>();
        attrs.put("axis", new Attr.Int(-1));
        attrs.put("epsilon", new Attr.Float(eps.floatValue()));
        fx.replace(chain, add != null
            ? new Node(fx.fusedName(add, "AddLayerNorm"), "AddLayerNorm", PatternFusion.DOMAIN, ins, List.of(out), new Attributes(attrs))
            : new Node(fx.fusedName(mean1, "LayerNorm"), "LayerNormalization", "", ins, List.of(out), new Attributes(attrs)));
        return true;
    }


    private static boolean lastAxisOnly(Matcher fx, Node reduce) {
        long[] axes = reduce.attributes().getInts("axes");
        if (axes == null && reduce.inputs().size() > 1 && fx.isConst(reduce.inputs().get(1))) {
            axes = fx.newInitializers.get(reduce.inputs().get(1)).toLongArray();
        }
        if (axes == null || axes.length != 1) return false;
        if (reduce.attributes().getInt("keepdims", 1) != 1) return false;
        if (axes[0] == -1) return true;
        var t = fx.g.types().get(reduce.inputs().get(0));
        return t != null && t.shape().hasRank() && axes[0] == t.shape().rank() - 1;
    }
}
