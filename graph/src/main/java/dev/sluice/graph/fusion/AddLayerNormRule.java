package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import java.util.ArrayList;
import java.util.List;

/** A LayerNormalization op whose input is a residual Add of two float32 values → {@code sluice.AddLayerNorm}. */
final class AddLayerNormRule implements FusionRule {
    /** A LayerNormalization op whose input is a residual Add → {@code sluice.AddLayerNorm} (a, b, scale[, bias]). */
    @Override
    public boolean tryFuse(Matcher fx, Node ln) {
        if (!ln.opType().equals("LayerNormalization") || !ln.domain().isEmpty() || ln.outputs().size() != 1
            || ln.inputs().size() < 2) return false;
        List<Node> chain = new ArrayList<>(List.of(ln));
        Node add = fx.residualAdd(ln.inputs().get(0), chain);
        if (add == null) return false;
        chain.addFirst(add);
        if (!fx.innerValuesPrivate(chain, ln.outputs().get(0))) return false;
        List<String> ins = new ArrayList<>(add.inputs());
        ins.addAll(ln.inputs().subList(1, ln.inputs().size()));
        fx.replace(chain, new Node(fx.fusedName(add, "AddLayerNorm"), "AddLayerNorm", PatternFusion.DOMAIN, ins, ln.outputs(), ln.attributes()));
        return true;
    }
}
