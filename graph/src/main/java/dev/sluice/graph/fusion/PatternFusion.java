package dev.sluice.graph.fusion;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import java.util.ArrayList;
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
 *   <li>Conv, [per-channel affine steps, folded], then an Add of a computed value of the same shape (a residual
 *       block's shortcut), then optionally one of those activations → {@code sluice.FusedConvAdd} (see
 *       {@link ConvResidualRule});</li>
 *   <li>Mul(x, s) by a per-channel gate s, then Add(x, that) → {@code sluice.ChannelScaleResidual};</li>
 *   <li>MatMul by a constant 2-D B, then Add of a constant bias over B's columns, then optionally one of those
 *       activations or a Gelu (erf form) → {@code sluice.FusedMatMul}, with B kept packed by its kernel;</li>
 *   <li>attention heads: Transpose q and k, MatMul, [Div/Mul by a scalar], [Add mask], Softmax, MatMul by
 *       Transpose v, Transpose back → {@code sluice.Attention} (see {@link AttentionRule});</li>
 *   <li>dynamic quantization: DynamicQuantizeLinear, MatMulInteger by a constant weight, Cast, Mul by the product of
 *       the two scales, [Add bias], [activation] → {@code sluice.DynamicQuantMatMul} (see {@link DynamicQuantMatMulRule}).</li>
 * </ul>
 * This class is the driver: each pattern is one {@link FusionRule} class, anchored at one op type, and the
 * {@link Matcher} holds the pass's state (producers, readers, what is taken) and the sub-patterns rules share.
 * A pattern is fused only when its inner values have no reader outside it and are not graph outputs, so the
 * rewrite never changes what the graph computes. Constants must already be initializers (run after folding).
 */
public final class PatternFusion {
    private PatternFusion() {}

    /** Tried on every node, for every target: fusions into standard ONNX ops. */
    private static final List<FusionRule> STANDARD = List.of(new LayerNormRule(), new GeluRule());
    /** Then, for the CPU kernels, in this order; the first that matches a node wins. */
    private static final List<FusionRule> CPU_RULES = List.of(new AddLayerNormRule(), new ConvResidualRule(), new ConvRule(), new ConvTransposeRule(),
        new ChannelScaleResidualRule(), new MatMulRule(), new DynamicQuantMatMulRule(), new AttentionRule());


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
        Matcher f = new Matcher(g, target);
        for (Node n : g.nodes()) {
            if (f.removed.contains(n)) continue;
            if (firstMatch(STANDARD, f, n) || target != Target.CPU) continue;
            firstMatch(CPU_RULES, f, n);
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

    private static boolean firstMatch(List<FusionRule> rules, Matcher f, Node n) {
        for (FusionRule r : rules) if (r.tryFuse(f, n)) return true;
        return false;
    }

    /** Domain of the ops that exist only as fusions. */
    public static final String DOMAIN = "sluice";
}
