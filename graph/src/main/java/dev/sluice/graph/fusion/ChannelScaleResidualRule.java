package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attributes;
import java.util.List;

/** A squeeze-excitation tail, Mul(x, s) by a per-channel gate then Add(x, that) → {@code sluice.ChannelScaleResidual}. */
final class ChannelScaleResidualRule implements FusionRule {
    /**
     * Mul(x, s) with s one value per batch and channel ([N or 1, C, 1, ...], as a squeeze-excitation's gate),
     * then Add(x, that) → {@code sluice.ChannelScaleResidual} (x, s), {@code x + x * s} in one pass. Both are
     * float32 of x's rank with C known; the product is read by the Add only. Either operand order.
     */
    @Override
    public boolean tryFuse(Matcher fx, Node mul) {
        if (!mul.opType().equals("Mul") || !mul.domain().isEmpty() || mul.inputs().size() != 2 || mul.outputs().size() != 1) return false;
        String prod = mul.outputs().get(0);
        Node add = fx.onlyReader(prod, "Add");
        if (add == null || add.inputs().size() != 2 || add.outputs().size() != 1) return false;
        String x = Matcher.other(add, prod);
        if (x.equals(prod) || !mul.inputs().contains(x)) return false;
        String s = Matcher.other(mul, x);
        if (s.equals(x)) return false;
        var xt = fx.g.types().get(x);
        var st = fx.g.types().get(s);
        if (xt == null || st == null || xt.dtype() != dev.sluice.kernels.DType.FLOAT32 || st.dtype() != dev.sluice.kernels.DType.FLOAT32
            || !xt.shape().hasRank() || !st.shape().hasRank()) return false;
        int r = xt.shape().rank();
        if (r < 3 || st.shape().rank() != r) return false;
        var c = xt.shape().dim(1);
        if (!c.isKnown() || !c.equals(st.shape().dim(1))) return false;
        for (int i = 2; i < r; i++) {
            var d = st.shape().dim(i);
            if (!d.isKnown() || d.value() != 1) return false;
        }
        List<Node> chain = List.of(mul, add);
        if (!fx.innerValuesPrivate(chain, add.outputs().get(0))) return false;
        fx.replace(chain, new Node(fx.fusedName(mul, "ChannelScaleResidual"), "ChannelScaleResidual", PatternFusion.DOMAIN, List.of(x, s),
            add.outputs(), Attributes.EMPTY));
        return true;
    }
}
