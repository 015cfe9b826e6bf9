package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Conv with a constant float32 weight, then per-channel affine steps (an Add of a constant, an inference
 * BatchNormalization: folded into the weight and bias) and / or an activation → {@code sluice.FusedConv}.
 */
final class ConvRule implements FusionRule {
    @Override
    public boolean tryFuse(Matcher fx, Node conv) {
        if (!conv.opType().equals("Conv") || !conv.domain().isEmpty() || conv.inputs().size() < 2) return false;
        String w = conv.inputs().get(1);
        Tensor wt = fx.newInitializers.get(w);
        if (wt == null || wt.dtype() != dev.sluice.kernels.DType.FLOAT32 || wt.rank() < 3) return false;
        String b = conv.inputs().size() > 2 && !conv.inputs().get(2).isEmpty() ? conv.inputs().get(2) : null;
        if (b != null && !fx.isConst(b)) return false;
        int m = (int) wt.shape().dim(0);
        ConvTails.FusedTail t = ConvTails.tailAfter(fx, conv, m, wt.rank(), b);
        if (t == null) return false;
        List<String> ins = new ArrayList<>(conv.inputs());
        if (!t.aff().nodes().isEmpty()) ins = ConvTails.foldInto(fx, conv, wt, b, t.aff(), (o, i) -> o, "Conv");
        Map<String, Attr> attrs = new LinkedHashMap<>(conv.attributes().asMap());
        attrs.putAll(t.act());
        // FusedConv even without an activation: its kernel caches the (constant) weight packed for the GEMM
        fx.replace(t.chain(), new Node(fx.fusedName(conv, "Conv"), "FusedConv", PatternFusion.DOMAIN, ins, List.of(t.out()), new Attributes(attrs)));
        return true;
    }
}
