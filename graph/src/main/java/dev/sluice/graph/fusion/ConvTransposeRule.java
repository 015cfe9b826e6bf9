package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** ConvTranspose likewise → {@code sluice.FusedConvTranspose}. */
final class ConvTransposeRule implements FusionRule {
    /**
     * ConvTranspose with a constant float32 weight, then a per-channel Add of a constant and / or an inference
     * BatchNormalization (folded into the weight and bias), then optionally an activation (Relu, Sigmoid, ...)
     * → {@code sluice.FusedConvTranspose} (x, w, b), whose kernel applies the activation to each finished
     * output row. The weight is [C, M / group, k...]: output channel {@code g * M/group + o} scales the weight's
     * column o of the input channels of group g.
     */
    @Override
    public boolean tryFuse(Matcher fx, Node ct) {
        if (!ct.opType().equals("ConvTranspose") || !ct.domain().isEmpty() || ct.inputs().size() < 2) return false;
        String w = ct.inputs().get(1);
        Tensor wt = fx.newInitializers.get(w);
        if (wt == null || wt.dtype() != dev.sluice.kernels.DType.FLOAT32 || wt.rank() < 3) return false;
        String b = ct.inputs().size() > 2 && !ct.inputs().get(2).isEmpty() ? ct.inputs().get(2) : null;
        if (b != null && !fx.isConst(b)) return false;
        long group = ct.attributes().getInt("group", 1);
        long c = wt.shape().dim(0);
        if (group <= 0 || c % group != 0) return false;
        int mg = (int) wt.shape().dim(1), m = (int) (mg * group), cg = (int) (c / group);
        ConvTails.FusedTail t = ConvTails.tailAfter(fx, ct, m, wt.rank(), b);
        if (t == null) return false;
        List<String> ins = new ArrayList<>(ct.inputs());
        if (!t.aff().nodes().isEmpty()) ins = ConvTails.foldInto(fx, ct, wt, b, t.aff(), (o, i) -> (int) (i / cg) * mg + o % mg, "ConvTranspose");
        Map<String, Attr> attrs = new LinkedHashMap<>(ct.attributes().asMap());
        attrs.putAll(t.act());
        fx.replace(t.chain(), new Node(fx.fusedName(ct, "ConvTranspose"), "FusedConvTranspose", PatternFusion.DOMAIN, ins, List.of(t.out()), new Attributes(attrs)));
        return true;
    }
}
