package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attributes;
import java.util.List;

/** The erf-form Gelu chain (Div √2 or Mul 1/√2, Erf, Add 1, Mul x, Mul 0.5) → Gelu. Anchored at the scaling node. */
final class GeluRule implements FusionRule {
    @Override
    public boolean tryFuse(Matcher fx, Node scale) {
        List<Node> chain = fx.geluChain(scale);
        if (chain == null) return false;
        String x = scale.inputs().get(0), out = chain.getLast().outputs().get(0);
        if (!fx.innerValuesPrivate(chain, out)) return false;
        fx.replace(chain, new Node(fx.fusedName(scale, "Gelu"), "Gelu", "", List.of(x), List.of(out), Attributes.EMPTY));
        return true;
    }
}
