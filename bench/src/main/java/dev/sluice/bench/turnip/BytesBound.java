package dev.sluice.bench.turnip;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.memgraph.BandChains;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * A lower bound on the bytes any plan must move over the link to run a graph wholly on a device of {@code budget}
 * bytes, for {@code turnip-bench}'s bytes lines.
 *
 * <p>The plans it bounds are those a MemGraph is: static (every copy is fixed before the data is known), every
 * kernel on the device reading its operands from device memory and writing its results there, nothing recomputed
 * outside band chains (a value's bytes are made once, by the node that makes it; a chain across a halo or strided
 * read recomputes rows of the value between two of its nodes, a value that never leaves the device and that no cut
 * below claims), and the nodes in the graph's order: all of node i's
 * work can run before any of node i + 1's (the builder emits node by node, and the emission order is one the plan
 * allows; its dispatcher may reorder tasks, but the bytes a plan moves do not depend on the order it runs in, and
 * the budget holds at every instant of every order it allows). The one exception: nodes the graph lets the builder run
 * as a band chain ({@link BandChains#links}: node i's output read by node i + 1 alone, row band by row band) may
 * interleave, band t of both before band t + 1 of either, so the cut between them is no instant of such a plan and
 * claims nothing here (their value inside may never exist whole).
 *
 * <p>It is not a bound for every schedule. A schedule free to interleave any nodes (a CNN run depth-first band by
 * band, halos included) need never hold most intermediates whole, and then moves only (1) and (2) below plus the round
 * trips of values that must exist whole at some instant: a value v is wholly live when some node reads all of v and
 * also reads a value each of whose elements depends on every element of v (a squeeze-excite gate over v, a classifier
 * over all of it): that node can compute nothing before all of v is made, and then all of v is still to be read. Each
 * such v larger than the budget costs 2 (|v| - budget) on its own, and such claims, being about copies of distinct
 * values, add up. That any-order bound is lower than this one; the plans here are node-ordered (with chains), so this
 * one is the tighter true bound for them.
 *
 * <p>Whole reads. A node <em>reads v whole</em> when a static plan must have every element of v on the device for
 * it: any op that combines every element of its input (elementwise, products, reductions, movement that keeps every
 * element), a data-dependent read (a Gather with computed indices: a static plan cannot know the rows), a conv or
 * pool whose windows cover every input position on every spatial axis, a Resize whose every output dim is a whole
 * multiple of the input's, a Slice that keeps every element. Not whole, so claimed for nothing: Shape, Size and the
 * ops that read only a shape or a type, Slices and Pads that drop elements, Gathers and scatters with constant
 * indices, convs and pools whose strides skip input positions or whose last window stops short, transposed convs that
 * crop, other Resizes, a Trilu's input (half of it is never read), control flow and recurrences with sequence lengths ({@link #readsWhole}).
 *
 * <p>Derivation. (1) Every graph input and constant that some node reads whole starts on the host and must be wholly
 * on the device once: it crosses H2D at least once (its bytes). (2) Every graph output ends on the host: each crosses
 * D2H at least once. (3) At the cut between node i and node i + 1 (an instant of the node-order run) two kinds of
 * values must be somewhere. The intermediates live across it, I(i): made at or before i, read whole by a node after
 * i, neither graph inputs nor graph outputs (so neither term above paid for them); each of their bytes was written on
 * the device. The host-born values re-read across it, K(i): graph inputs and constants read whole by a node at or
 * before i and by a node after i; each of their bytes was on the device before the cut and must be there again after
 * it. At most {@code budget} bytes of I(i) and K(i) are on the device at the cut, so at least
 * {@code e(i) = |I(i)| + |K(i)| - budget} of their bytes are off it. A byte of I(i) off the device exists only on the
 * host (it is not recomputed): it was copied down after it was made and must be copied up before its reader runs, 2
 * bytes moved, none of them counted by (1) or (2). A byte of K(i) off the device must be copied up again: 1 byte
 * moved beyond the one H2D that (1) counts. The cheapest way to leave e(i) bytes off the device drops K(i) first:
 * {@code x(i) = e(i)} when {@code e(i) <= |K(i)|}, else {@code |K(i)| + 2 (e(i) - |K(i)|)}.
 *
 * <p>(4) Cuts that share no value add up. The copies (3) claims at cut i are copies of values of I(i) or K(i) (the
 * down and up copies of an intermediate, the second up copy of a host-born value), and at most one set of them per
 * value: a value in two cuts' sets could pay both claims with one offload. So for a set C of cuts whose I and K sets
 * are pairwise disjoint, every copy claimed is claimed at most once, and at least {@code sum over C of max(0, x(i))}
 * bytes move beyond (1) and (2). A value is in the sets of a run of consecutive cuts (from the node that makes it, or
 * first reads it whole, to the last node that reads it whole), so cuts i < j share a value exactly when some value of
 * j's sets starts at or before i; with {@code s(j)} the earliest start among j's values, the cuts before j that share
 * nothing with j are those before s(j), and those that share nothing with j share nothing with the later cuts either.
 * The best such set is found in one sweep: {@code best(j) = max(0, x(j)) + max over i < s(j) of best(i)}.
 * bound = (1) + (2) + max_j best(j). It ignores the device room a node's own inputs and outputs take at the cut and
 * the re-reads that tiling forces, so it is loose at small budgets (a plan that streams a node's input and output band
 * by band need not hold either whole, so no term is claimed for them), but no plan of that kind moves less. Sizes are
 * the values' raw bytes (no block rounding), which the device's blocks only exceed.
 */
final class BytesBound {
    private BytesBound() {}

    static long of(Graph g, long budget) {
        long[] p = parts(g, budget);
        return p[0] + p[1] + p[2];
    }

    /** The three terms, for the line that prints the bound. */
    static String explain(Graph g, long budget) {
        long[] p = parts(g, budget);
        return "inputs and constants " + p[0] + " + outputs " + p[1] + " + round trips at cuts that share no value " + p[2];
    }

    /** The round-trip term at the single fullest cut, the bound before (4): for comparisons and the tests. */
    static long fullestCut(Graph g, long budget) { return cuts(g, budget, false); }

    private static long[] parts(Graph g, long budget) {
        Set<String> inputs = new HashSet<>(g.inputNames()), outputs = new HashSet<>(g.outputNames());
        Set<String> wholeRead = new LinkedHashSet<>();
        for (Node n : g.nodes()) {
            for (int k = 0; k < n.inputs().size(); k++) if (!n.inputs().get(k).isEmpty() && readsWhole(g, n, k)) wholeRead.add(n.inputs().get(k));
        }
        long up = 0, down = 0;
        for (String v : wholeRead) if (inputs.contains(v) || g.initializers().containsKey(v)) up += bytes(g, v);
        for (String v : outputs) if (g.typeOf(v) != null && g.typeOf(v).isStatic()) down += bytes(g, v);
        return new long[] {up, down, cuts(g, budget, true)};
    }

    /** Term (3): summed over the best set of cuts that share no value (4), or at the fullest cut alone. */
    private static long cuts(Graph g, long budget, boolean disjointSum) {
        Set<String> inputs = new HashSet<>(g.inputNames()), outputs = new HashSet<>(g.outputNames());
        Map<String, Integer> firstWhole = new HashMap<>(), lastWhole = new HashMap<>(), made = new HashMap<>();
        int n = g.nodes().size();
        for (int i = 0; i < n; i++) {
            Node node = g.nodes().get(i);
            for (int k = 0; k < node.inputs().size(); k++) {
                String v = node.inputs().get(k);
                if (v.isEmpty() || !readsWhole(g, node, k)) continue;
                firstWhole.putIfAbsent(v, i);
                lastWhole.put(v, i);
            }
            for (String v : node.outputs()) if (!v.isEmpty()) made.put(v, i);
        }
        // every value of a cut's sets as an interval [start, end) of cuts, with its bytes and whether it is host-born
        record Span(int start, int end, long bytes, boolean hostBorn) {}
        java.util.List<Span> spans = new java.util.ArrayList<>();
        for (var e : made.entrySet()) {
            String v = e.getKey();
            Integer last = lastWhole.get(v);
            if (last == null || last <= e.getValue() || inputs.contains(v) || outputs.contains(v)) continue;
            spans.add(new Span(e.getValue(), last, bytes(g, v), false));
        }
        for (var e : firstWhole.entrySet()) {
            String v = e.getKey();
            if (!inputs.contains(v) && !g.initializers().containsKey(v)) continue;
            int first = e.getValue(), last = lastWhole.get(v);
            if (last > first) spans.add(new Span(first, last, bytes(g, v), true));
        }
        // |I(i)|, |K(i)| and s(i) for every cut, by sweeps
        long[] dI = new long[n + 1], dK = new long[n + 1];
        int[] start = new int[n];
        java.util.Arrays.fill(start, Integer.MAX_VALUE);
        for (Span s : spans) {
            if (s.hostBorn()) { dK[s.start()] += s.bytes(); dK[s.end()] -= s.bytes(); }
            else { dI[s.start()] += s.bytes(); dI[s.end()] -= s.bytes(); }
        }
        // s(j): the earliest start among the spans covering j (a sweep of spans by start, each setting its cuts once)
        spans.sort(java.util.Comparator.comparingInt(Span::start));
        int filled = 0;
        for (Span s : spans) {
            for (int j = Math.max(filled, s.start()); j < s.end(); j++) start[j] = s.start();
            filled = Math.max(filled, s.end());
        }
        boolean[] linked = BandChains.links(g); // cuts inside a possible band chain: no instant of the plan (see the class doc)
        long liveI = 0, liveK = 0, result = 0;
        long[] best = new long[n], prefixBest = new long[n + 1]; // prefixBest[k] = max best(i) over i < k
        for (int i = 0; i < n; i++) {
            liveI += dI[i];
            liveK += dK[i];
            long excess = liveI + liveK - budget, x = 0;
            if (excess > 0 && !linked[i]) x = excess <= liveK ? excess : liveK + 2 * (excess - liveK);
            if (!disjointSum) {
                result = Math.max(result, x);
                continue;
            }
            best[i] = x + (start[i] == Integer.MAX_VALUE ? prefixBest[i] : prefixBest[Math.min(start[i], i)]);
            prefixBest[i + 1] = Math.max(prefixBest[i], best[i]);
            result = Math.max(result, best[i]);
        }
        return result;
    }

    /**
     * The any-order bound of the class doc: (1) + (2) + 2 (|v| - budget) for every intermediate v larger than the budget
     * that some node r reads whole while also reading a value each of whose elements depends on every element of v
     * (r computes nothing before all of v is made, and then all of v is still to be read, so v is wholly live then: the
     * bytes beyond the budget are on the host, went down once and come up once). Such claims are about copies of distinct
     * values, so they add up. Which values depend on all of which (per element) is traced conservatively: an output
     * depends on all of v where its op makes each output element from all of an input that holds every element of v
     * ({@link #allToAll}), or where each output element reads some element of an input that depends on all of v
     * ({@link #eachReads}); anything else claims nothing.
     */
    static long anyOrder(Graph g, long budget) {
        long[] p = parts(g, budget);
        Set<String> inputs = new HashSet<>(g.inputNames()), outputs = new HashSet<>(g.outputNames());
        Map<String, Set<String>> covers = new HashMap<>(), allOf = new HashMap<>();
        Set<String> wholeLive = new LinkedHashSet<>();
        for (Node n : g.nodes()) {
            Set<String> cov = new HashSet<>(), all = new HashSet<>();
            for (int k = 0; k < n.inputs().size(); k++) {
                String x = n.inputs().get(k);
                if (x.isEmpty()) continue;
                if (readsWhole(g, n, k)) {
                    cov.add(x);
                    cov.addAll(covers.getOrDefault(x, Set.of()));
                }
                if (eachReads(n, k)) all.addAll(allOf.getOrDefault(x, Set.of()));
                if (allToAll(g, n, k)) {
                    all.add(x);
                    all.addAll(covers.getOrDefault(x, Set.of()));
                }
            }
            // v wholly live: read whole here beside a value that depends on all of it
            for (int k = 0; k < n.inputs().size(); k++) {
                String v = n.inputs().get(k);
                if (v.isEmpty() || inputs.contains(v) || outputs.contains(v) || g.initializers().containsKey(v) || !readsWhole(g, n, k)) continue;
                for (int j = 0; j < n.inputs().size(); j++) {
                    String a = n.inputs().get(j);
                    if (j != k && !a.isEmpty() && !a.equals(v) && eachReads(n, j) && allOf.getOrDefault(a, Set.of()).contains(v)) wholeLive.add(v);
                }
            }
            for (String o : n.outputs()) {
                if (o.isEmpty()) continue;
                covers.put(o, cov);
                allOf.put(o, all);
            }
        }
        long trips = 0;
        for (String v : wholeLive) trips += 2 * Math.max(0, bytes(g, v) - budget);
        return p[0] + p[1] + trips;
    }

    /** Ops each of whose output elements reads at least one element of input k (1-to-1, broadcasting, windows, products, reductions). */
    private static boolean eachReads(Node n, int k) {
        return switch (n.opType()) {
            case "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "PRelu", "Equal", "Less", "Greater",
                 "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Exp", "Log", "Sqrt", "Abs", "Neg", "Erf",
                 "Clip", "Cast", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Softmax", "LogSoftmax",
                 "MatMul", "Gemm", "FusedMatMul", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax",
                 "ReduceMin", "ChannelScaleResidual", "BatchNormalization", "LayerNormalization", "Gelu", "FastGelu", "QuickGelu" -> true;
            case "Conv", "FusedConv", "FusedConvAdd" -> k == 1 || k == 3; // every output reads weights; input 0 only where windows overlap it
            default -> false;
        };
    }

    /**
     * Ops each of whose output elements reads every element of input k: a product whose A is one row (M = 1, one batch)
     * read by every output, a conv of one image whose input is one position (every output reads all its channels), a
     * global pool or reduction that leaves one element.
     */
    private static boolean allToAll(Graph g, Node n, int k) {
        Shape x = shapeOf(g, n.inputs().get(k)), y = n.outputs().isEmpty() ? null : shapeOf(g, n.outputs().getFirst());
        if (x == null || y == null) return false;
        return switch (n.opType()) {
            case "MatMul", "FusedMatMul" -> k == 0 && x.elementCount() == x.dim(x.rank() - 1) && !n.attributes().has("transA");
            case "Gemm" -> k == 0 && n.attributes().getInt("transA", 0) == 0 && x.rank() == 2 && x.dim(0) == 1;
            case "Conv", "FusedConv" -> k == 0 && n.attributes().getInt("group", 1) == 1 && x.rank() >= 3 && x.elementCount() == x.dim(1)
                && y.rank() >= 2 && y.elementCount() == y.dim(1); // one image, one position in and out: every output reads all of x
            case "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin" -> k == 0 && y.elementCount() == 1;
            default -> false;
        };
    }

    /**
     * Whether node n must have every element of its input k on the device (see the class doc): conservative, an op
     * not known to read whole is claimed for nothing only where it is listed here as reading part.
     */
    static boolean readsWhole(Graph g, Node n, int k) {
        String v = n.inputs().get(k);
        return switch (n.opType()) {
            case "Shape", "Size", "EyeLike", "RandomUniformLike", "RandomNormalLike", "Bernoulli", "If", "Loop", "Scan",
                 "Pad", "Compress", "ScatterND", "ScatterElements", "Scatter", "GridSample", "RoiAlign", "MaxRoiPool",
                 "CenterCropPad", "Col2Im", "Upsample" -> false;
            case "CastLike" -> k == 0;
            case "Trilu" -> k > 0;
            case "Slice" -> k > 0 || sameCount(g, v, n.outputs().getFirst());
            case "Gather", "GatherElements", "GatherND" -> k > 0 || !g.initializers().containsKey(n.inputs().get(1));
            case "Resize" -> k > 0 || wholeMultiple(g, v, n.outputs().getFirst());
            case "LSTM", "GRU", "RNN" -> n.inputs().size() <= 4 || n.inputs().get(4).isEmpty();
            case "ConvTranspose", "FusedConvTranspose" -> k > 0 || allZero(n.attributes().getInts("pads"))
                && n.attributes().getString("auto_pad", "NOTSET").equals("NOTSET");
            case "Conv", "FusedConv", "FusedConvAdd", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "LpPool" ->
                k > 0 || windowsCover(g, n);
            default -> true;
        };
    }

    private static Shape shapeOf(Graph g, String v) {
        Tensor c = g.initializers().get(v);
        if (c != null) return c.shape();
        TensorType t = g.typeOf(v);
        return t == null || !t.isStatic() ? null : t.shape().toShape();
    }

    private static boolean sameCount(Graph g, String a, String b) {
        Shape x = shapeOf(g, a), y = shapeOf(g, b);
        return x != null && y != null && x.elementCount() == y.elementCount();
    }

    private static boolean wholeMultiple(Graph g, String in, String out) {
        Shape x = shapeOf(g, in), y = shapeOf(g, out);
        if (x == null || y == null || x.rank() != y.rank()) return false;
        for (int a = 0; a < x.rank(); a++) if (x.dim(a) == 0 || y.dim(a) < x.dim(a) || y.dim(a) % x.dim(a) != 0) return false;
        return true;
    }

    private static boolean allZero(long[] a) {
        if (a == null) return true;
        for (long x : a) if (x != 0) return false;
        return true;
    }

    /** Whether the windows of a conv or pool (input 0, [N, C, spatial...]) together touch every input position. */
    private static boolean windowsCover(Graph g, Node n) {
        if (!n.attributes().getString("auto_pad", "NOTSET").equals("NOTSET")) return false;
        Shape x = shapeOf(g, n.inputs().getFirst()), y = shapeOf(g, n.outputs().getFirst());
        if (x == null || y == null || x.rank() != y.rank() || x.rank() < 3) return false;
        int spatial = x.rank() - 2;
        long[] kernel = n.attributes().getInts("kernel_shape");
        if (kernel == null && n.inputs().size() > 1) {
            Shape w = shapeOf(g, n.inputs().get(n.opType().equals("QLinearConv") ? 3 : 1));
            if (w == null || w.rank() != x.rank()) return false;
            kernel = new long[spatial];
            for (int a = 0; a < spatial; a++) kernel[a] = w.dim(a + 2);
        }
        if (kernel == null || kernel.length != spatial) return false;
        long[] strides = n.attributes().getInts("strides"), dil = n.attributes().getInts("dilations"), pads = n.attributes().getInts("pads");
        for (int a = 0; a < spatial; a++) {
            long h = x.dim(a + 2), ho = y.dim(a + 2), s = strides == null ? 1 : strides[a], d = dil == null ? 1 : dil[a];
            long p = pads == null ? 0 : pads[a];
            if (h > 1 << 20) return false;
            boolean[] hit = new boolean[(int) h];
            for (long o = 0; o < ho; o++) {
                for (long j = 0; j < kernel[a]; j++) {
                    long pos = o * s - p + j * d;
                    if (pos >= 0 && pos < h) hit[(int) pos] = true;
                }
            }
            for (boolean b : hit) if (!b) return false;
        }
        return true;
    }

    private static long bytes(Graph g, String v) {
        Tensor c = g.initializers().get(v);
        if (c != null) return c.byteSize();
        TensorType t = g.typeOf(v);
        return t == null || !t.isStatic() ? 0 : Tensor.byteSize(t.dtype(), t.shape().toShape());
    }
}
