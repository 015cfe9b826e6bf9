package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The end of a residual block: Conv with a constant float32 weight, [per-channel affine steps, folded as
 * {@link ConvRule} folds them], then an Add of a computed value of exactly the conv output's shape, then an
 * optional activation → {@code sluice.FusedConvAdd} (x, w, bias or "", residual). Two nodes and their passes
 * over memory fewer per block (MobileNet-style detectors run a dozen of these).
 *
 * <p>Shapes must be equal dimension by dimension, each known or the same named symbol, so the Add never
 * broadcasts. The fused node takes the Add's (or the activation's) place, after the residual is computed.
 */
final class ConvResidualRule implements FusionRule {
    @Override
    public boolean tryFuse(Matcher fx, Node conv) {
        if (!conv.opType().equals("Conv") || !conv.domain().isEmpty() || conv.inputs().size() < 2 || conv.outputs().size() != 1) {
            return false;
        }
        Tensor wt = fx.newInitializers.get(conv.inputs().get(1));
        if (wt == null || wt.dtype() != DType.FLOAT32 || wt.rank() < 3) return false;
        String b = conv.inputs().size() > 2 && !conv.inputs().get(2).isEmpty() ? conv.inputs().get(2) : null;
        if (b != null && !fx.isConst(b)) return false;
        int m = (int) wt.shape().dim(0);
        ConvTails.Affine aff = ConvTails.affineAfter(fx, conv.outputs().get(0), m, wt.rank(), b);
        if (aff == null) return false;
        Node add = fx.onlyReader(aff.out(), "Add");
        if (add == null || add.inputs().size() != 2 || add.outputs().size() != 1) return false;
        String r = Matcher.other(add, aff.out());
        if (r.equals(aff.out()) || r.isEmpty() || fx.isConst(r)) return false;
        if (!sameFloatShape(fx.g.types().get(aff.out()), fx.g.types().get(r))) return false;
        List<Node> chain = new ArrayList<>(List.of(conv));
        chain.addAll(aff.nodes());
        chain.add(add);
        Map<String, Attr> act = new LinkedHashMap<>();
        String out = add.outputs().get(0);
        String actOut = fx.activation(out, chain, act);
        if (actOut != null) out = actOut;
        if (!fx.innerValuesPrivate(chain, out)) return false;
        List<String> ins = new ArrayList<>(conv.inputs());
        if (!aff.nodes().isEmpty()) ins = ConvTails.foldInto(fx, conv, wt, b, aff, (o, i) -> o, "Conv");
        while (ins.size() < 3) ins.add("");
        ins.add(r);
        Map<String, Attr> attrs = new LinkedHashMap<>(conv.attributes().asMap());
        attrs.putAll(act);
        fx.replace(chain, new Node(fx.fusedName(conv, "ConvAdd"), "FusedConvAdd", PatternFusion.DOMAIN, ins, List.of(out),
            new Attributes(attrs)));
        return true;
    }

    /** Both float32 with the same rank and, per axis, the same known size or the same named symbol. */
    private static boolean sameFloatShape(TensorType a, TensorType b) {
        if (a == null || b == null || a.dtype() != DType.FLOAT32 || b.dtype() != DType.FLOAT32) return false;
        if (!a.shape().hasRank() || !b.shape().hasRank() || a.shape().rank() != b.shape().rank()) return false;
        for (int i = 0; i < a.shape().rank(); i++) {
            Dim x = a.shape().dim(i), y = b.shape().dim(i);
            if (x instanceof Dim.Unknown || !x.equals(y)) return false;
        }
        return true;
    }
}
