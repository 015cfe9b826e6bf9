package dev.sluice.graph.fusion;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Rewrites the many-node patterns exporters emit into the single ops the kernels run fused:
 * <ul>
 *   <li>LayerNorm: ReduceMean, Sub, Pow 2 (or Mul by itself), ReduceMean, Add eps, Sqrt, Div, [Mul gamma, Add
 *       beta] over the last axis → LayerNormalization; for the CPU, with the residual Add of two same-shape
 *       values before it (or before a LayerNormalization op) → {@code sluice.AddLayerNorm};</li>
 *   <li>Gelu (erf form): Div √2 (or Mul 1/√2), Erf, Add 1, Mul x, Mul 0.5 → Gelu;</li>
 *   <li>Conv with constant weights, then [an Add of a per-channel constant, then] an inference
 *       BatchNormalization with constant parameters: both are folded into new weights and bias (as ONNX
 *       Runtime does);</li>
 *   <li>Conv, then an activation (Relu, Sigmoid, Clip, HardSigmoid, HardSwish, LeakyRelu, or the HardSwish chain
 *       Add a, Clip lo..hi, Mul x, Div d that Paddle exports) → {@code sluice.FusedConv}, the Conv kernel
 *       applying the activation to each output block while it is in cache (also after a folded BN alone:
 *       the FusedConv kernel keeps its constant weight packed);</li>
 *   <li>ConvTranspose, then a per-channel constant Add and / or BatchNormalization (folded) and an activation →
 *       {@code sluice.FusedConvTranspose}; Conv likewise folds a per-channel constant Add into its bias;</li>
 *   <li>Mul(x, s) by a per-channel gate s, then Add(x, that) → {@code sluice.ChannelScaleResidual};</li>
 *   <li>MatMul by a constant 2-D B, then Add of a constant bias over B's columns, then optionally one of those
 *       activations or a Gelu (erf form) → {@code sluice.FusedMatMul}, with B kept packed by its kernel;</li>
 *   <li>attention heads: Transpose q and k, MatMul, [Div/Mul by a scalar], [Add mask], Softmax, MatMul by
 *       Transpose v, Transpose back → {@code sluice.Attention} (see {@link #tryAttention}).</li>
 * </ul>
 * A pattern is fused only when its inner values have no reader outside it and are not graph outputs, so the
 * rewrite never changes what the graph computes. Constants must already be initializers (run after folding).
 */
public final class PatternFusion {
    private final Graph g;
    private final Map<String, Node> producer = new HashMap<>();
    private final Map<String, List<Node>> readers = new HashMap<>();
    private final Set<String> graphOutputs = new HashSet<>();
    private final Set<Node> removed = new HashSet<>();
    private final Map<Node, Node> replacement = new LinkedHashMap<>();
    private final Map<String, Tensor> newInitializers;
    private int fresh;
    /** Initializers a fold replaced; dropped at the end where nothing else reads them. */
    private final Set<String> replacedWeights = new HashSet<>();

    private final Target target;

    private PatternFusion(Graph g, Target target) {
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
     * Which kernels will run the graph, since fusion should produce only ops the backend runs fused: the CPU
     * kernels have sluice.FusedConv / sluice.FusedMatMul; an accelerator backend gets standard ONNX ops only.
     */
    public enum Target { CPU, STANDARD_OPS }

    /** The graph with every recognised pattern fused, for the CPU kernels. */
    public static Graph run(Graph g) { return run(g, Target.CPU); }

    /** The graph with the patterns fused that the target's kernels run as one op. */
    public static Graph run(Graph g, Target target) {
        g = runInBodies(g, target);
        PatternFusion f = new PatternFusion(g, target);
        for (Node n : g.nodes()) {
            if (f.removed.contains(n)) continue;
            if (f.tryLayerNorm(n) || f.tryGelu(n) || target == Target.CPU && f.tryAddLayerNorm(n)) continue;
            if (target == Target.CPU && !f.tryConv(n) && !f.tryConvTranspose(n) && !f.tryChannelScaleResidual(n)
                && !f.tryMatMul(n)) f.tryAttention(n);
        }
        if (f.replacement.isEmpty()) return g;
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (f.replacement.containsKey(n)) nodes.add(f.replacement.get(n));
            else if (!f.removed.contains(n)) nodes.add(n);
        }
        // weights replaced by folded copies: drop the originals nothing reads any more
        Set<String> used = new HashSet<>(f.graphOutputs);
        for (Value v : g.inputs()) used.add(v.name());
        for (Node n : nodes) {
            used.addAll(n.inputs());
            for (Graph sg : n.subgraphs()) used.addAll(sg.capturedNames());
        }
        for (String d : f.replacedWeights) if (!used.contains(d)) f.newInitializers.remove(d);
        return g.withNodes(nodes, f.newInitializers, g.types());
    }

    /**
     * The graph with its If/Loop/Scan bodies fused, recursively. A body is fused on its own: values it captures
     * from outside are neither constants nor fusable there, and its own values are read only inside it (or
     * returned as its outputs, which fusion keeps).
     */
    private static Graph runInBodies(Graph g, Target target) {
        List<Node> nodes = new ArrayList<>(g.nodes());
        boolean changed = false;
        for (int i = 0; i < nodes.size(); i++) {
            Node n = nodes.get(i);
            if (n.subgraphs().isEmpty()) continue;
            Map<String, Attr> attrs = new LinkedHashMap<>(n.attributes().asMap());
            boolean nodeChanged = false;
            for (var e : attrs.entrySet()) {
                if (e.getValue() instanceof Attr.Graph ga && ga.value() instanceof Graph body) {
                    Graph fused = run(body, target);
                    if (fused != body) {
                        e.setValue(new Attr.Graph(fused));
                        nodeChanged = true;
                    }
                }
            }
            if (nodeChanged) {
                nodes.set(i, new Node(n.name(), n.opType(), n.domain(), n.inputs(), n.outputs(), new Attributes(attrs)));
                changed = true;
            }
        }
        return changed ? g.withNodes(nodes, g.initializers(), g.types()) : g;
    }

    // ---- LayerNorm -------------------------------------------------------------------------------------

    private boolean tryLayerNorm(Node mean1) {
        if (!mean1.opType().equals("ReduceMean") || !lastAxisOnly(mean1)) return false;
        String x = mean1.inputs().get(0);
        Node sub = onlyReader(mean1.outputs().get(0), "Sub");
        if (sub == null || !sub.inputs().get(0).equals(x) || !sub.inputs().get(1).equals(mean1.outputs().get(0))) return false;
        String d = sub.outputs().get(0);
        List<Node> dReaders = readers.getOrDefault(d, List.of());
        if (dReaders.size() != 2 || graphOutputs.contains(d)) return false;
        Node square = null, div = null;
        for (Node r : dReaders) {
            if (r.opType().equals("Pow") && r.inputs().get(0).equals(d) && constEquals(r.inputs().get(1), 2.0)) square = r;
            else if (r.opType().equals("Mul") && r.inputs().get(0).equals(d) && r.inputs().get(1).equals(d)) square = r;
            else if (r.opType().equals("Div") && r.inputs().get(0).equals(d)) div = r;
        }
        if (square == null || div == null) return false;
        Node mean2 = onlyReader(square.outputs().get(0), "ReduceMean");
        if (mean2 == null || !lastAxisOnly(mean2)) return false;
        Node addEps = onlyReader(mean2.outputs().get(0), "Add");
        if (addEps == null) return false;
        Double eps = scalarConst(other(addEps, mean2.outputs().get(0)));
        if (eps == null) return false;
        Node sqrt = onlyReader(addEps.outputs().get(0), "Sqrt");
        if (sqrt == null || !div.inputs().get(1).equals(sqrt.outputs().get(0)) || !singleReader(sqrt.outputs().get(0))) return false;
        List<Node> chain = new ArrayList<>(List.of(mean1, sub, square, mean2, addEps, sqrt, div));
        String out = div.outputs().get(0);
        String gamma = null, beta = null;
        Node mul = onlyReader(out, "Mul");
        if (mul != null && isConst(other(mul, out))) {
            gamma = other(mul, out);
            chain.add(mul);
            out = mul.outputs().get(0);
            Node add = onlyReader(out, "Add");
            if (add != null && isConst(other(add, out))) {
                beta = other(add, out);
                chain.add(add);
                out = add.outputs().get(0);
            }
        }
        if (gamma == null) return false; // LayerNormalization needs a scale; the bare form is rare enough to skip
        // gamma/beta must be 1-D over the normalized axis for LayerNormalization's broadcasting to match
        if (newInitializers.get(gamma).rank() != 1 || beta != null && newInitializers.get(beta).rank() != 1) return false;
        if (!innerValuesPrivate(chain, out)) return false;
        Node add = target == Target.CPU ? residualAdd(x, chain) : null;
        List<String> ins = new ArrayList<>(List.of(x, gamma));
        if (add != null) {
            chain.addFirst(add);
            ins = new ArrayList<>(List.of(add.inputs().get(0), add.inputs().get(1), gamma));
        }
        if (beta != null) ins.add(beta);
        Map<String, Attr> attrs = new LinkedHashMap<>();
        attrs.put("axis", new Attr.Int(-1));
        attrs.put("epsilon", new Attr.Float(eps.floatValue()));
        replace(chain, add != null
            ? new Node(fusedName(add, "AddLayerNorm"), "AddLayerNorm", DOMAIN, ins, List.of(out), new Attributes(attrs))
            : new Node(fusedName(mean1, "LayerNorm"), "LayerNormalization", "", ins, List.of(out), new Attributes(attrs)));
        return true;
    }

    /** A LayerNormalization op whose input is a residual Add → {@code sluice.AddLayerNorm} (a, b, scale[, bias]). */
    private boolean tryAddLayerNorm(Node ln) {
        if (!ln.opType().equals("LayerNormalization") || !ln.domain().isEmpty() || ln.outputs().size() != 1
            || ln.inputs().size() < 2) return false;
        List<Node> chain = new ArrayList<>(List.of(ln));
        Node add = residualAdd(ln.inputs().get(0), chain);
        if (add == null) return false;
        chain.addFirst(add);
        if (!innerValuesPrivate(chain, ln.outputs().get(0))) return false;
        List<String> ins = new ArrayList<>(add.inputs());
        ins.addAll(ln.inputs().subList(1, ln.inputs().size()));
        replace(chain, new Node(fusedName(add, "AddLayerNorm"), "AddLayerNorm", DOMAIN, ins, ln.outputs(), ln.attributes()));
        return true;
    }

    /**
     * The Add producing {@code x}, when it adds two float32 values and only {@code chain} reads its result: the
     * residual a LayerNormalization kernel can add row by row itself (same shapes, the usual case; the
     * kernel materializes a broadcasting sum first, since shapes are often unknown when this pass runs).
     */
    private Node residualAdd(String x, List<Node> chain) {
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

    private boolean lastAxisOnly(Node reduce) {
        long[] axes = reduce.attributes().getInts("axes");
        if (axes == null && reduce.inputs().size() > 1 && isConst(reduce.inputs().get(1))) {
            axes = newInitializers.get(reduce.inputs().get(1)).toLongArray();
        }
        if (axes == null || axes.length != 1) return false;
        if (reduce.attributes().getInt("keepdims", 1) != 1) return false;
        if (axes[0] == -1) return true;
        var t = g.types().get(reduce.inputs().get(0));
        return t != null && t.shape().hasRank() && axes[0] == t.shape().rank() - 1;
    }

    // ---- Gelu --------------------------------------------------------------------------------------------

    private boolean tryGelu(Node scale) {
        List<Node> chain = geluChain(scale);
        if (chain == null) return false;
        String x = scale.inputs().get(0), out = chain.getLast().outputs().get(0);
        if (!innerValuesPrivate(chain, out)) return false;
        replace(chain, new Node(fusedName(scale, "Gelu"), "Gelu", "", List.of(x), List.of(out), Attributes.EMPTY));
        return true;
    }

    /** The erf-form Gelu chain starting at its scaling node (Div √2 or Mul 1/√2), in order, or null. */
    private List<Node> geluChain(Node scale) {
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

    // ---- Attention ---------------------------------------------------------------------------------------

    /**
     * The attention chain exporters emit per layer (BERT-style, heads reshaped to [B, L, H, d] before):
     * Transpose(q, 0 2 1 3), Transpose(k, 0 2 3 1), MatMul, [Div or Mul by a float32 scalar], [Add mask],
     * Softmax over the last axis, MatMul by Transpose(v, 0 2 1 3), Transpose(0 2 1 3) → {@code sluice.Attention}
     * (q, k, v[, mask]). Found from its Softmax; the transposed copies and the score tensors disappear.
     */
    private boolean tryAttention(Node sm) {
        if (!sm.opType().equals("Softmax") || !sm.domain().isEmpty()) return false;
        String scores = sm.inputs().get(0);
        var st = g.types().get(scores);
        if (st == null || st.dtype() != dev.sluice.kernels.DType.FLOAT32 || !st.shape().hasRank() || st.shape().rank() != 4) return false;
        // an explicit last axis: a missing one means 1 before opset 13, which the graph does not tell us
        if (!sm.attributes().has("axis")) return false;
        long axis = sm.attributes().getInt("axis", -1);
        if (axis != -1 && axis != 3) return false;
        Scores sc = scoresFrom(scores, null);
        String mask = null;
        Node add = producerOf(scores);
        if (sc == null && add != null && add.opType().equals("Add") && add.domain().isEmpty() && add.inputs().size() == 2) {
            for (int i = 0; i < 2 && sc == null; i++) {
                if (!singleReader(add.inputs().get(i))) continue;
                sc = scoresFrom(add.inputs().get(i), add);
                mask = add.inputs().get(1 - i);
            }
            if (sc == null) return false;
            var mt = g.types().get(mask);
            if (mt == null || mt.dtype() != dev.sluice.kernels.DType.FLOAT32 || !mt.shape().hasRank() || mt.shape().rank() > 4) return false;
        }
        if (sc == null) return false;
        List<Node> chain = sc.chain();
        Map<String, Attr> attrs = sc.attrs();
        Node tq = chain.get(0), tk = chain.get(1);
        String probs = sm.outputs().get(0);
        Node pv = onlyReader(probs, "MatMul");
        if (pv == null || pv.inputs().size() != 2 || !pv.inputs().get(0).equals(probs)) return false;
        Node tv = transposeOf(pv.inputs().get(1), 0, 2, 1, 3);
        if (tv == null) return false;
        Node to = onlyReader(pv.outputs().get(0), "Transpose");
        if (to == null || !isPerm(to, 0, 2, 1, 3)) return false;
        String q = tq.inputs().get(0), k = tk.inputs().get(0), v = tv.inputs().get(0), out = to.outputs().get(0);
        for (String in : new String[] {q, k, v}) {
            var t = g.types().get(in);
            if (t == null || t.dtype() != dev.sluice.kernels.DType.FLOAT32 || !t.shape().hasRank() || t.shape().rank() != 4) return false;
        }
        List<Node> all = new ArrayList<>(chain);
        all.addAll(List.of(sm, tv, pv, to));
        if (new HashSet<>(all).size() != all.size() || !innerValuesPrivate(all, out)) return false;
        if (mask != null && all.contains(producer.get(mask))) return false;
        // the fused node sits where the last Transpose was: every input must be defined before it, as q, k, v
        // and the mask are (they fed nodes of the chain)
        List<String> ins = new ArrayList<>(List.of(q, k, v));
        if (mask != null) ins.add(mask);
        replace(all, new Node(fusedName(sm, "Attention"), "Attention", DOMAIN, ins, List.of(out), new Attributes(attrs)));
        return true;
    }

    /** The score-producing part of an attention chain, in graph order, and the scaling it applies. */
    private record Scores(List<Node> chain, Map<String, Attr> attrs) {}

    /**
     * Matches [Div or Mul by a float32 scalar] after MatMul(Transpose(q, 0 2 1 3), Transpose(k, 0 2 3 1)) ending
     * in value {@code s}; {@code then} (the mask Add, or null) is appended to the chain.
     */
    private Scores scoresFrom(String s, Node then) {
        List<Node> tail = new ArrayList<>();
        if (then != null) tail.add(then);
        Map<String, Attr> attrs = new LinkedHashMap<>();
        Node p = producerOf(s);
        if (p != null && (p.opType().equals("Div") || p.opType().equals("Mul")) && p.domain().isEmpty() && p.inputs().size() == 2) {
            boolean div = p.opType().equals("Div");
            int c = div || isConst(p.inputs().get(1)) ? 1 : 0;
            Tensor ct = newInitializers.get(p.inputs().get(c));
            if (ct == null || ct.elementCount() != 1 || ct.dtype() != dev.sluice.kernels.DType.FLOAT32) return null;
            if (!singleReader(p.inputs().get(1 - c))) return null;
            attrs.put(div ? "scale_div" : "scale_mul", new Attr.Float(ct.getFloat(0)));
            tail.addFirst(p);
            p = producerOf(p.inputs().get(1 - c));
        }
        if (p == null || !p.opType().equals("MatMul") || !p.domain().isEmpty() || p.inputs().size() != 2) return null;
        Node tq = transposeOf(p.inputs().get(0), 0, 2, 1, 3), tk = transposeOf(p.inputs().get(1), 0, 2, 3, 1);
        if (tq == null || tk == null) return null;
        List<Node> chain = new ArrayList<>(List.of(tq, tk, p));
        chain.addAll(tail);
        return new Scores(chain, attrs);
    }

    private Node producerOf(String value) {
        Node p = producer.get(value);
        return p == null || removed.contains(p) ? null : p;
    }

    /** The Transpose producing {@code value} with exactly this perm, read only there, or null. */
    private Node transposeOf(String value, long... perm) {
        Node t = producerOf(value);
        if (t == null || !t.opType().equals("Transpose") || !t.domain().isEmpty() || !isPerm(t, perm) || !singleReader(value)) return null;
        return t;
    }

    private static boolean isPerm(Node t, long... perm) {
        return java.util.Arrays.equals(t.attributes().getInts("perm"), perm);
    }

    // ---- Conv + BatchNormalization + activation ------------------------------------------------------

    /** Domain of the ops that exist only as fusions. */
    public static final String DOMAIN = "sluice";

    private boolean tryConv(Node conv) {
        if (!conv.opType().equals("Conv") || !conv.domain().isEmpty() || conv.inputs().size() < 2) return false;
        String w = conv.inputs().get(1);
        Tensor wt = newInitializers.get(w);
        if (wt == null || wt.dtype() != dev.sluice.kernels.DType.FLOAT32 || wt.rank() < 3) return false;
        String b = conv.inputs().size() > 2 && !conv.inputs().get(2).isEmpty() ? conv.inputs().get(2) : null;
        if (b != null && !isConst(b)) return false;
        int m = (int) wt.shape().dim(0);
        FusedTail t = tailAfter(conv, m, wt.rank(), b);
        if (t == null) return false;
        List<String> ins = new ArrayList<>(conv.inputs());
        if (!t.aff().nodes().isEmpty()) ins = foldInto(conv, wt, b, t.aff(), (o, i) -> o, "Conv");
        Map<String, Attr> attrs = new LinkedHashMap<>(conv.attributes().asMap());
        attrs.putAll(t.act());
        // FusedConv even without an activation: its kernel caches the (constant) weight packed for the GEMM
        replace(t.chain(), new Node(fusedName(conv, "Conv"), "FusedConv", DOMAIN, ins, List.of(t.out()), new Attributes(attrs)));
        return true;
    }

    /**
     * ConvTranspose with a constant float32 weight, then a per-channel Add of a constant and / or an inference
     * BatchNormalization (folded into the weight and bias), then optionally an activation (Relu, Sigmoid, ...)
     * → {@code sluice.FusedConvTranspose} (x, w, b), whose kernel applies the activation to each finished
     * output row. The weight is [C, M / group, k...]: output channel {@code g * M/group + o} scales the weight's
     * column o of the input channels of group g.
     */
    private boolean tryConvTranspose(Node ct) {
        if (!ct.opType().equals("ConvTranspose") || !ct.domain().isEmpty() || ct.inputs().size() < 2) return false;
        String w = ct.inputs().get(1);
        Tensor wt = newInitializers.get(w);
        if (wt == null || wt.dtype() != dev.sluice.kernels.DType.FLOAT32 || wt.rank() < 3) return false;
        String b = ct.inputs().size() > 2 && !ct.inputs().get(2).isEmpty() ? ct.inputs().get(2) : null;
        if (b != null && !isConst(b)) return false;
        long group = ct.attributes().getInt("group", 1);
        long c = wt.shape().dim(0);
        if (group <= 0 || c % group != 0) return false;
        int mg = (int) wt.shape().dim(1), m = (int) (mg * group), cg = (int) (c / group);
        FusedTail t = tailAfter(ct, m, wt.rank(), b);
        if (t == null) return false;
        List<String> ins = new ArrayList<>(ct.inputs());
        if (!t.aff().nodes().isEmpty()) ins = foldInto(ct, wt, b, t.aff(), (o, i) -> (int) (i / cg) * mg + o % mg, "ConvTranspose");
        Map<String, Attr> attrs = new LinkedHashMap<>(ct.attributes().asMap());
        attrs.putAll(t.act());
        replace(t.chain(), new Node(fusedName(ct, "ConvTranspose"), "FusedConvTranspose", DOMAIN, ins, List.of(t.out()), new Attributes(attrs)));
        return true;
    }

    /**
     * What a fused conv-like node replaces: the head, the affine steps folded after it, then an optional
     * activation; {@code out} is the last one's output, {@code act} the activation's attributes.
     */
    private record FusedTail(List<Node> chain, String out, Map<String, Attr> act, Affine aff) {}

    /** The fusable tail after {@code head} ({@code m} output channels), or null when there is none or an inner value is read elsewhere. */
    private FusedTail tailAfter(Node head, int m, int rank, String bias) {
        Affine aff = affineAfter(head.outputs().get(0), m, rank, bias);
        if (aff == null) return null;
        List<Node> chain = new ArrayList<>(List.of(head));
        chain.addAll(aff.nodes());
        Map<String, Attr> act = new LinkedHashMap<>();
        String out = aff.out();
        String actOut = activation(out, chain, act);
        if (actOut != null) out = actOut;
        if (chain.size() == 1 || !innerValuesPrivate(chain, out)) return null;
        return new FusedTail(chain, out, act, aff);
    }

    /**
     * Per output channel affine steps read after a conv-like node, in the order found: an Add of a constant
     * that broadcasts per channel (or is a scalar), then an inference BatchNormalization with constant
     * parameters. {@code scale} is null when no BatchNormalization was folded; {@code bias} includes the
     * conv's own bias. {@code consumed}: the constants the folded form replaces.
     */
    private record Affine(List<Node> nodes, String out, double[] scale, double[] bias, List<String> consumed) {}

    /** The affine steps after a conv-like node's output {@code out} ({@code m} channels, rank {@code rank}); null if its bias is not [m]. */
    private Affine affineAfter(String out, int m, int rank, String convBias) {
        double[] bias = new double[m];
        List<String> consumed = new ArrayList<>();
        if (convBias != null) {
            Tensor cb = newInitializers.get(convBias);
            if (cb.elementCount() != m || !cb.dtype().isFloatingPoint()) return null;
            for (int o = 0; o < m; o++) bias[o] = cb.getDouble(o);
            consumed.add(convBias);
        }
        List<Node> nodes = new ArrayList<>();
        Node add = onlyReader(out, "Add");
        if (add != null && add.inputs().size() == 2 && add.outputs().size() == 1) {
            String cName = other(add, out);
            float[] cv = perChannelConst(cName, m, rank);
            if (cv != null) {
                for (int o = 0; o < m; o++) bias[o] += cv[o];
                consumed.add(cName);
                nodes.add(add);
                out = add.outputs().get(0);
            }
        }
        double[] scale = null;
        Node bn = onlyReader(out, "BatchNormalization");
        if (bn != null && bn.outputs().size() == 1 && bn.inputs().size() == 5 && bn.inputs().get(0).equals(out)
            && bn.attributes().getInt("training_mode", 0) == 0 && bn.attributes().getInt("spatial", 1) == 1) {
            Tensor gamma = newInitializers.get(bn.inputs().get(1)), beta = newInitializers.get(bn.inputs().get(2));
            Tensor mean = newInitializers.get(bn.inputs().get(3)), var = newInitializers.get(bn.inputs().get(4));
            boolean ok = true;
            for (Tensor t : new Tensor[] {gamma, beta, mean, var}) ok &= t != null && t.dtype().isFloatingPoint() && t.elementCount() == m;
            if (ok) {
                // the ONNX default epsilon; the normalization is y = (x - mean) / sqrt(var + eps) * gamma + beta
                double eps = bn.attributes().getFloat("epsilon", 1e-5f);
                scale = new double[m];
                for (int o = 0; o < m; o++) {
                    double sc = gamma.getDouble(o) / Math.sqrt(var.getDouble(o) + eps);
                    scale[o] = sc;
                    bias[o] = (bias[o] - mean.getDouble(o)) * sc + beta.getDouble(o);
                }
                for (int i = 1; i < 5; i++) consumed.add(bn.inputs().get(i));
                nodes.add(bn);
                out = bn.outputs().get(0);
            }
        }
        return new Affine(nodes, out, scale, bias, consumed);
    }

    /**
     * The float values of constant {@code name} when adding it to a rank-{@code rank} output of {@code m}
     * channels adds one value per channel (shape [1, m, 1, ...] or fewer leading axes, or one element) and
     * broadcasts to nothing larger; null otherwise.
     */
    private float[] perChannelConst(String name, int m, int rank) {
        Tensor t = newInitializers.get(name);
        if (t == null || t.dtype() != dev.sluice.kernels.DType.FLOAT32 || t.rank() > rank) return null;
        for (int j = 0; j < t.rank(); j++) {
            long d = t.shape().dim(j);
            boolean channelAxis = j + rank - t.rank() == 1;
            if (d != 1 && !(channelAxis && d == m)) return null;
        }
        float[] v = new float[m];
        for (int o = 0; o < m; o++) v[o] = t.getFloat(t.elementCount() == 1 ? 0 : o);
        return v;
    }

    /** Which output channel weight element {@code i} of output-channel slot {@code o} (index along axis 1 or 0) feeds. */
    private interface ChannelOf { int of(int o, long i); }

    /**
     * Adds the folded weight (when a BatchNormalization scales it) and bias as new initializers and returns
     * the fused node's inputs (x, w, b). For Conv the weight's axis 0 is the output channel; for ConvTranspose
     * axis 1 within the input channel's group, which {@code channel} maps (slot, input channel) to.
     */
    private List<String> foldInto(Node conv, Tensor wt, String b, Affine aff, ChannelOf channel, String what) {
        String w = conv.inputs().get(1);
        int m = aff.bias().length;
        String wName = w;
        boolean transposed = what.equals("ConvTranspose");
        if (aff.scale() != null) {
            wName = w + "/bnFolded" + (fresh++);
            Tensor nw = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, wt.shape());
            long a0 = wt.shape().dim(0), a1 = wt.shape().dim(1), per = wt.elementCount() / (a0 * a1);
            for (long i = 0; i < a0; i++) {
                for (long j = 0; j < a1; j++) {
                    // Conv: [M, C/group, k...], channel i; ConvTranspose: [C, M/group, k...], channel of (j, input i)
                    int o = transposed ? channel.of((int) j, i) : channel.of((int) i, j);
                    float sc = (float) aff.scale()[o];
                    long base = (i * a1 + j) * per;
                    for (long k = 0; k < per; k++) nw.setFloat(base + k, wt.getFloat(base + k) * sc);
                }
            }
            newInitializers.put(wName, nw);
            replacedWeights.add(w);
        }
        String bName = (aff.scale() != null ? wName : w + "/biasFolded" + (fresh++)) + "/bias";
        Tensor nb = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, dev.sluice.kernels.Shape.of(m));
        for (int o = 0; o < m; o++) nb.setFloat(o, (float) aff.bias()[o]);
        newInitializers.put(bName, nb);
        replacedWeights.addAll(aff.consumed());
        return new ArrayList<>(List.of(conv.inputs().get(0), wName, bName));
    }

    // ---- squeeze-excitation tail ---------------------------------------------------------------------

    /**
     * Mul(x, s) with s one value per batch and channel ([N or 1, C, 1, ...], as a squeeze-excitation's gate),
     * then Add(x, that) → {@code sluice.ChannelScaleResidual} (x, s), {@code x + x * s} in one pass. Both are
     * float32 of x's rank with C known; the product is read by the Add only. Either operand order.
     */
    private boolean tryChannelScaleResidual(Node mul) {
        if (!mul.opType().equals("Mul") || !mul.domain().isEmpty() || mul.inputs().size() != 2 || mul.outputs().size() != 1) return false;
        String prod = mul.outputs().get(0);
        Node add = onlyReader(prod, "Add");
        if (add == null || add.inputs().size() != 2 || add.outputs().size() != 1) return false;
        String x = other(add, prod);
        if (x.equals(prod) || !mul.inputs().contains(x)) return false;
        String s = other(mul, x);
        if (s.equals(x)) return false;
        var xt = g.types().get(x);
        var st = g.types().get(s);
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
        if (!innerValuesPrivate(chain, add.outputs().get(0))) return false;
        replace(chain, new Node(fusedName(mul, "ChannelScaleResidual"), "ChannelScaleResidual", DOMAIN, List.of(x, s),
            add.outputs(), Attributes.EMPTY));
        return true;
    }

    // ---- MatMul + Add bias + activation ---------------------------------------------------------------

    /**
     * MatMul by a constant 2-D float32 B, then an Add of a constant bias over B's columns, then optionally an
     * activation → {@code sluice.FusedMatMul} (A, B, bias). A bare MatMul stays as it is (the accelerator and
     * the memory tiling know MatMul).
     */
    private boolean tryMatMul(Node mm) {
        if (!mm.opType().equals("MatMul") || !mm.domain().isEmpty() || mm.inputs().size() != 2) return false;
        Tensor bt = newInitializers.get(mm.inputs().get(1));
        if (bt == null || bt.dtype() != dev.sluice.kernels.DType.FLOAT32 || bt.rank() != 2) return false;
        var at = g.types().get(mm.inputs().get(0));
        if (at == null || at.dtype() != dev.sluice.kernels.DType.FLOAT32 || !at.shape().hasRank() || at.shape().rank() < 2) return false;
        String out = mm.outputs().get(0);
        Node add = onlyReader(out, "Add");
        if (add == null) return false;
        String bias = other(add, out);
        Tensor bb = newInitializers.get(bias);
        if (bb == null || bb.dtype() != dev.sluice.kernels.DType.FLOAT32 || bb.rank() != 1 || bb.shape().dim(0) != bt.shape().dim(1)) {
            return false;
        }
        List<Node> chain = new ArrayList<>(List.of(mm, add));
        out = add.outputs().get(0);
        Map<String, Attr> act = new LinkedHashMap<>();
        String actOut = gelu(out, chain, act);
        if (actOut == null) actOut = activation(out, chain, act);
        if (actOut != null) out = actOut;
        if (!innerValuesPrivate(chain, out)) return false;
        replace(chain, new Node(fusedName(mm, "MatMul"), "FusedMatMul", DOMAIN, List.of(mm.inputs().get(0), mm.inputs().get(1), bias),
            List.of(out), new Attributes(act)));
        return true;
    }

    /**
     * Recognises an activation reading {@code x}; on success adds its nodes to {@code chain}, its attributes
     * ({@code activation} and parameters) to {@code attrs}, and returns its output.
     */
    private String activation(String x, List<Node> chain, Map<String, Attr> attrs) {
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
            return a.outputs().get(0);
        }
        if (r.size() == 2) {
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
            return div.outputs().get(0);
        }
        return null;
    }

    /**
     * Recognises a Gelu (erf form, as the Gelu op or its five-op chain) reading {@code x}, like {@link #activation};
     * only FusedMatMul takes it (its kernel applies {@code VectorMath.gelu}, the Gelu kernel's own code).
     */
    private String gelu(String x, List<Node> chain, Map<String, Attr> attrs) {
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
    private float[] clipBounds(Node clip) {
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

    // ---- helpers -----------------------------------------------------------------------------------------

    private void replace(List<Node> chain, Node fused) {
        removed.addAll(chain);
        // the fused node takes the place of the chain's last node, where all its inputs are defined
        replacement.put(chain.get(chain.size() - 1), fused);
    }

    private String fusedName(Node first, String what) {
        return (first.name().isEmpty() ? first.outputs().get(0) : first.name()) + "/fused" + what + (fresh++);
    }

    /** The single reader of {@code value} if it has exactly one, of the given op type, and is not an output. */
    private Node onlyReader(String value, String opType) {
        List<Node> r = readers.getOrDefault(value, List.of());
        if (r.size() != 1 || graphOutputs.contains(value) || removed.contains(r.get(0))) return null;
        return r.get(0).opType().equals(opType) && r.get(0).domain().isEmpty() ? r.get(0) : null;
    }

    private boolean singleReader(String value) { return readers.getOrDefault(value, List.of()).size() == 1; }

    /** Every value the chain produces, except its final output, is read only inside the chain. */
    private boolean innerValuesPrivate(List<Node> chain, String out) {
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

    private static String other(Node binary, String one) {
        return binary.inputs().get(0).equals(one) ? binary.inputs().get(1) : binary.inputs().get(0);
    }

    private boolean isConst(String name) { return newInitializers.containsKey(name); }

    private Double scalarConst(String name) {
        Tensor t = newInitializers.get(name);
        if (t == null || t.elementCount() != 1 || !t.dtype().isFloatingPoint()) return null;
        return t.getDouble(0);
    }

    private boolean constEquals(String name, double v) {
        Tensor t = newInitializers.get(name);
        return t != null && t.elementCount() == 1 && t.getDouble(0) == v;
    }

    private boolean constNear(String name, double v) {
        Double c = scalarConst(name);
        return c != null && Math.abs(c - v) <= 1e-4 * Math.abs(v);
    }
}
