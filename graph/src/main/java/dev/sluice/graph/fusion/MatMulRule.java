package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** MatMul by a constant 2-D float32 B, optional Add of a constant bias, optional activation → {@code sluice.FusedMatMul}. */
final class MatMulRule implements FusionRule {
    /**
     * MatMul by a constant 2-D float32 B, then optionally an Add of a constant bias over B's columns, then
     * optionally an activation → {@code sluice.FusedMatMul} (A, B[, bias]); its kernel keeps B packed between runs.
     * Only the CPU target fuses (the accelerator's graph keeps MatMul); the memory tiling knows both.
     */
    @Override
    public boolean tryFuse(Matcher fx, Node mm) {
        if (!mm.opType().equals("MatMul") || !mm.domain().isEmpty() || mm.inputs().size() != 2) return false;
        Tensor bt = fx.newInitializers.get(mm.inputs().get(1));
        if (bt == null || bt.dtype() != dev.sluice.kernels.DType.FLOAT32 || bt.rank() != 2) return false;
        var at = fx.g.types().get(mm.inputs().get(0));
        if (at == null || at.dtype() != dev.sluice.kernels.DType.FLOAT32 || !at.shape().hasRank() || at.shape().rank() < 2) return false;
        String out = mm.outputs().get(0);
        Node add = fx.onlyReader(out, "Add");
        String bias = add == null ? null : Matcher.other(add, out);
        Tensor bb = bias == null ? null : fx.newInitializers.get(bias);
        if (bb == null || bb.dtype() != dev.sluice.kernels.DType.FLOAT32 || bb.rank() != 1 || bb.shape().dim(0) != bt.shape().dim(1)) {
            // no bias of B's columns after it: still FusedMatMul, whose B is packed once per weight where a bare
            // MatMul packs it on every run (LLaMA's projections, ORT-optimized files with the bias moved on)
            add = null;
            bias = null;
        }
        List<Node> chain = new ArrayList<>(add == null ? List.of(mm) : List.of(mm, add));
        if (add != null) out = add.outputs().get(0);
        Map<String, Attr> act = new LinkedHashMap<>();
        String actOut = fx.gelu(out, chain, act);
        if (actOut == null) actOut = fx.activation(out, chain, act);
        if (actOut != null) out = actOut;
        if (!fx.innerValuesPrivate(chain, out)) return false;
        List<String> ins = bias == null ? List.of(mm.inputs().get(0), mm.inputs().get(1)) : List.of(mm.inputs().get(0), mm.inputs().get(1), bias);
        fx.replace(chain, new Node(fx.fusedName(mm, "MatMul"), "FusedMatMul", PatternFusion.DOMAIN, ins, List.of(out), new Attributes(act)));
        return true;
    }
}
