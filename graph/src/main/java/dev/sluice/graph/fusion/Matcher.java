package dev.sluice.graph.fusion;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The state of one fusion pass over one graph and what every rule asks of it: who produces and who reads each
 * value, which nodes a rule has already taken ({@code removed}) and what replaces them ({@code replacement}),
 * the initializers (with folded ones added), and the sub-patterns several rules share (activation tails, the
 * erf Gelu chain, a residual Add). Rules record a fusion with {@link #replace}; the invariant they keep is that
 * a chain is fused only when its inner values have no reader outside it and are not graph outputs.
 */
final class Matcher {
    final Graph g;
    final Map<String, Node> producer = new HashMap<>();
    final Map<String, List<Node>> readers = new HashMap<>();
    final Set<String> graphOutputs = new HashSet<>();
    final Set<Node> removed = new HashSet<>();
    final Map<Node, Node> replacement = new LinkedHashMap<>();
    final Map<String, Tensor> newInitializers;
    int fresh;
    /** Initializers a fold replaced; dropped at the end where nothing else reads them. */
    final Set<String> replacedWeights = new HashSet<>();

    final PatternFusion.Target target;

    Matcher(Graph g, PatternFusion.Target target) {
        this.g = g;
        this.target = target;
        this.newInitializers = new LinkedHashMap<>(g.initializers());
        for (Node n : g.nodes()) {
            for (String o : n.outputs()) if (!o.isEmpty()) producer.put(o, n);
            for (String in : n.inputs()) if (!in.isEmpty()) readers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            for (Graph sg : n.subgraphs()) for (String c : sg.capturedNames()) readers.computeIfAbsent(c, k -> new ArrayList<>()).add(n);
        }
        for (Value v : g.outputs()) graphOutputs.add(v.name());
    }

    /**
     * The Add producing {@code x}, when it adds two float32 values and only {@code chain} reads its result: the
     * residual a LayerNormalization kernel can add row by row itself (same shapes, the usual case; the
     * kernel materializes a broadcasting sum first, since shapes are often unknown when this pass runs).
     */
    Node residualAdd(String x, List<Node> chain) {
        Node add = producer.get(x);
        if (add == null || removed.contains(add) || !add.opType().equals("Add") || !add.domain().isEmpty()
            || add.inputs().size() != 2 || graphOutputs.contains(x)) return null;
        for (Node r : readers.getOrDefault(x, List.of())) if (!chain.contains(r)) return null;
        var a = g.types().get(add.inputs().get(0));
        var b = g.types().get(add.inputs().get(1));
        if (a == null || b == null || a.dtype() != dev.sluice.kernels.DType.FLOAT32 || b.dtype() != dev.sluice.kernels.DType.FLOAT32) return null;
        // a constant operand is a bias that broadcasts: leave it to the Add kernel
        if (isConst(add.inputs().get(0)) || isConst(add.inputs().get(1))) return null;
        return add;
    }

    /** The erf-form Gelu chain starting at its scaling node (Div √2 or Mul 1/√2), in order, or null. */
    List<Node> geluChain(Node scale) {
        // x / sqrt(2) or x * (1/sqrt(2))
        boolean isDiv = scale.opType().equals("Div") && constNear(scale.inputs().get(1), Math.sqrt(2));
        boolean isMul = scale.opType().equals("Mul") && constNear(scale.inputs().get(1), 1 / Math.sqrt(2));
        if (!isDiv && !isMul || !scale.domain().isEmpty()) return null;
        String x = scale.inputs().get(0);
        Node erf = onlyReader(scale.outputs().get(0), "Erf");
        if (erf == null) return null;
        Node add = onlyReader(erf.outputs().get(0), "Add");
        if (add == null || !constNear(other(add, erf.outputs().get(0)), 1.0)) return null;
        Node mulX = onlyReader(add.outputs().get(0), "Mul");
        if (mulX == null || !other(mulX, add.outputs().get(0)).equals(x)) return null;
        Node half = onlyReader(mulX.outputs().get(0), "Mul");
        if (half == null || !constNear(other(half, mulX.outputs().get(0)), 0.5)) return null;
        return List.of(scale, erf, add, mulX, half);
    }

    /**
     * Recognises an activation reading {@code x}; on success adds its nodes to {@code chain}, its attributes
     * ({@code activation} and parameters) to {@code attrs}, and returns its output.
     */
    String activation(String x, List<Node> chain, Map<String, Attr> attrs) {
        List<Node> r = readers.getOrDefault(x, List.of());
        if (graphOutputs.contains(x)) return null;
        if (r.size() == 1) {
            Node a = r.get(0);
            if (removed.contains(a) || !a.domain().isEmpty() || !a.inputs().get(0).equals(x)) return null;
            switch (a.opType()) {
                case "Relu" -> attrs.put("activation", new Attr.Str("Relu"));
                case "Sigmoid" -> attrs.put("activation", new Attr.Str("Sigmoid"));
                case "HardSwish" -> {
                    attrs.put("activation", new Attr.Str("HardSwish"));
                }
                case "HardSigmoid" -> {
                    attrs.put("activation", new Attr.Str("HardSigmoid"));
                    attrs.put("activation_alpha", new Attr.Float(a.attributes().getFloat("alpha", 0.2f)));
                    attrs.put("activation_beta", new Attr.Float(a.attributes().getFloat("beta", 0.5f)));
                }
                case "LeakyRelu" -> {
                    attrs.put("activation", new Attr.Str("LeakyRelu"));
                    attrs.put("activation_alpha", new Attr.Float(a.attributes().getFloat("alpha", 0.01f)));
                }
                case "Clip" -> {
                    float[] lh = clipBounds(a);
                    if (lh == null) return null;
                    attrs.put("activation", new Attr.Str("Clip"));
                    attrs.put("activation_min", new Attr.Float(lh[0]));
                    attrs.put("activation_max", new Attr.Float(lh[1]));
                }
                default -> { return null; }
            }
            chain.add(a);
            String out = a.outputs().get(0);
            return a.opType().equals("LeakyRelu") ? clampAfter(out, chain, attrs) : out;
        }
        if (r.size() == 2) {
            String silu = silu(x, r, chain, attrs);
            if (silu != null) return silu;
            // x * clip(x + a, lo, hi) / d
            Node add = null, mul = null;
            for (Node n : r) {
                if (n.opType().equals("Add") && n.domain().isEmpty()) add = n;
                else if (n.opType().equals("Mul") && n.domain().isEmpty()) mul = n;
            }
            if (add == null || mul == null || removed.contains(add) || removed.contains(mul)) return null;
            Double shift = scalarConst(other(add, x));
            if (shift == null) return null;
            Node clip = onlyReader(add.outputs().get(0), "Clip");
            if (clip == null || !clip.inputs().get(0).equals(add.outputs().get(0))) return null;
            float[] lh = clipBounds(clip);
            if (lh == null || !other(mul, clip.outputs().get(0)).equals(x)
                || !(mul.inputs().contains(clip.outputs().get(0)))) return null;
            Node div = onlyReader(mul.outputs().get(0), "Div");
            if (div == null || !div.inputs().get(0).equals(mul.outputs().get(0))) return null;
            Double d = scalarConst(div.inputs().get(1));
            if (d == null) return null;
            attrs.put("activation", new Attr.Str("HardSwishChain"));
            attrs.put("activation_shift", new Attr.Float(shift.floatValue()));
            attrs.put("activation_min", new Attr.Float(lh[0]));
            attrs.put("activation_max", new Attr.Float(lh[1]));
            attrs.put("activation_div", new Attr.Float(d.floatValue()));
            chain.addAll(List.of(add, clip, mul, div));
            return scalarAffineAfter(div.outputs().get(0), chain, attrs);
        }
        return null;
    }

    /**
     * SiLU as exporters write it, x's two readers being Sigmoid(x) and Mul(x, Sigmoid(x)) (either operand order),
     * added to {@code chain} and {@code attrs} like {@link #activation}; null when {@code xReaders} are not that.
     */
    private String silu(String x, List<Node> xReaders, List<Node> chain, Map<String, Attr> attrs) {
        Node sig = null, mul = null;
        for (Node n : xReaders) {
            if (!n.domain().isEmpty() || removed.contains(n)) return null;
            if (n.opType().equals("Sigmoid")) sig = n;
            else if (n.opType().equals("Mul")) mul = n;
        }
        if (sig == null || mul == null || !sig.inputs().get(0).equals(x)) return null;
        String s = sig.outputs().get(0);
        if (graphOutputs.contains(s) || readers.getOrDefault(s, List.of()).size() != 1 || mul.inputs().size() != 2
            || !(mul.inputs().contains(x) && mul.inputs().contains(s))) return null;
        attrs.put("activation", new Attr.Str("Silu"));
        chain.addAll(List.of(sig, mul));
        return mul.outputs().get(0);
    }

    /**
     * Recognises a Gelu (erf form, as the Gelu op or its five-op chain) reading {@code x}, like {@link #activation};
     * only FusedMatMul takes it (its kernel applies {@code VectorMath.gelu}, the Gelu kernel's own code).
     */
    String gelu(String x, List<Node> chain, Map<String, Attr> attrs) {
        List<Node> r = readers.getOrDefault(x, List.of());
        if (graphOutputs.contains(x)) return null;
        List<Node> found = null;
        if (r.size() == 1) {
            Node a = r.get(0);
            if (!a.opType().equals("Gelu") || !a.domain().isEmpty() || !a.inputs().get(0).equals(x)
                || !"none".equals(a.attributes().getString("approximate", "none"))) return null;
            found = List.of(a);
        } else if (r.size() == 2) {
            for (Node scale : r) {
                List<Node> c = scale.inputs().get(0).equals(x) ? geluChain(scale) : null;
                if (c != null && r.contains(c.get(3))) found = c;
            }
        }
        if (found == null) return null;
        for (Node n : found) if (removed.contains(n)) return null;
        attrs.put("activation", new Attr.Str("Gelu"));
        chain.addAll(found);
        return found.getLast().outputs().get(0);
    }

    /** Constant Clip bounds (inputs or, before opset 11, attributes); null when not constant. */
    float[] clipBounds(Node clip) {
        float lo = Float.NEGATIVE_INFINITY, hi = Float.POSITIVE_INFINITY;
        if (clip.inputs().size() == 1) {
            lo = clip.attributes().getFloat("min", lo);
            hi = clip.attributes().getFloat("max", hi);
            return new float[] {lo, hi};
        }
        if (clip.inputs().size() > 1 && !clip.inputs().get(1).isEmpty()) {
            Double v = scalarConst(clip.inputs().get(1));
            if (v == null) return null;
            lo = v.floatValue();
        }
        if (clip.inputs().size() > 2 && !clip.inputs().get(2).isEmpty()) {
            Double v = scalarConst(clip.inputs().get(2));
            if (v == null) return null;
            hi = v.floatValue();
        }
        return new float[] {lo, hi};
    }

    void replace(List<Node> chain, Node fused) {
        removed.addAll(chain);
        // the fused node takes the place of the chain's last node, where all its inputs are defined
        replacement.put(chain.get(chain.size() - 1), fused);
    }

    String fusedName(Node first, String what) {
        return (first.name().isEmpty() ? first.outputs().get(0) : first.name()) + "/fused" + what + (fresh++);
    }

    /**
     * A Max and / or a Min by scalar float constants after a fused activation's output {@code x} (TF exports write a
     * floor after LeakyRelu as {@code Max(LeakyRelu(y), c)}): folded as the activation's clamp bounds
     * (activation_min / activation_max), which the kernel applies after the activation with Math.max / Math.min,
     * as the Max and Min kernels do, so the bits are the unfused ones. Max first, then Min, as min(max(v, lo), hi)
     * reads; a constant of higher rank than x would broadcast the output up, and is left alone. Returns the last
     * folded node's output (x when none).
     */
    private String clampAfter(String x, List<Node> chain, Map<String, Attr> attrs) {
        return scalarStepsAfter(x, chain, attrs, "Max", "activation_min", "Min", "activation_max");
    }

    /**
     * A Mul by a float scalar constant, then an Add of one, each optional, reading {@code x} alone: folded into the
     * activation as its post_scale and post_shift (PP-LCNetV3's learnable affine after each HardSwish). The kernel
     * multiplies, then adds, each rounded, as the two ops do. Returns the last output taken.
     */
    private String scalarAffineAfter(String x, List<Node> chain, Map<String, Attr> attrs) {
        return scalarStepsAfter(x, chain, attrs, "Mul", "activation_post_scale", "Add", "activation_post_shift");
    }

    /**
     * Up to two ops in this order, each optional, each the only reader of the previous output with a float scalar
     * constant as its other input (of rank no higher than that output's: a higher one would broadcast it up): taken
     * into the chain, each constant recorded as its op's attribute. Returns the last output taken (x when none).
     */
    private String scalarStepsAfter(String x, List<Node> chain, Map<String, Attr> attrs, String op1, String attr1, String op2, String attr2) {
        String out = x;
        for (String[] step : new String[][] {{op1, attr1}, {op2, attr2}}) {
            Node n = onlyReader(out, step[0]);
            if (n == null || n.inputs().size() != 2 || n.outputs().size() != 1) continue;
            String c = other(n, out);
            Tensor ct = newInitializers.get(c);
            var xt = g.types().get(out);
            if (ct == null || ct.dtype() != dev.sluice.kernels.DType.FLOAT32 || ct.elementCount() != 1 || xt == null
                    || xt.dtype() != dev.sluice.kernels.DType.FLOAT32 || !xt.shape().hasRank() || ct.rank() > xt.shape().rank()) {
                continue;
            }
            attrs.put(step[1], new Attr.Float(ct.getFloat(0)));
            chain.add(n);
            out = n.outputs().get(0);
        }
        return out;
    }

    /** The single reader of {@code value} if it has exactly one, of the given op type, and is not an output. */
    Node onlyReader(String value, String opType) {
        List<Node> r = readers.getOrDefault(value, List.of());
        if (r.size() != 1 || graphOutputs.contains(value) || removed.contains(r.get(0))) return null;
        return r.get(0).opType().equals(opType) && r.get(0).domain().isEmpty() ? r.get(0) : null;
    }

    boolean singleReader(String value) { return readers.getOrDefault(value, List.of()).size() == 1; }

    /** Every value the chain produces, except its final output, is read only inside the chain. */
    boolean innerValuesPrivate(List<Node> chain, String out) {
        Set<Node> inChain = new HashSet<>(chain);
        for (Node n : chain) {
            if (removed.contains(n)) return false;
            for (String o : n.outputs()) {
                if (o.isEmpty() || o.equals(out)) continue;
                if (graphOutputs.contains(o)) return false;
                for (Node r : readers.getOrDefault(o, List.of())) if (!inChain.contains(r)) return false;
            }
        }
        return true;
    }

    static String other(Node binary, String one) {
        return binary.inputs().get(0).equals(one) ? binary.inputs().get(1) : binary.inputs().get(0);
    }

    boolean isConst(String name) { return newInitializers.containsKey(name); }

    Double scalarConst(String name) {
        Tensor t = newInitializers.get(name);
        if (t == null || t.elementCount() != 1 || !t.dtype().isFloatingPoint()) return null;
        return t.getDouble(0);
    }

    boolean constEquals(String name, double v) {
        Tensor t = newInitializers.get(name);
        return t != null && t.elementCount() == 1 && t.getDouble(0) == v;
    }

    boolean constNear(String name, double v) {
        Double c = scalarConst(name);
        return c != null && Math.abs(c - v) <= 1e-4 * Math.abs(v);
    }

    Node producerOf(String value) {
        Node p = producer.get(value);
        return p == null || removed.contains(p) ? null : p;
    }
}
