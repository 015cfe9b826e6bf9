package dev.sluice.graph.cost;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;

/**
 * Floating-point operations and bytes touched by one node with static shapes, per op family: the figures a
 * roofline estimate of a described device needs. A multiply-add counts as two operations. Families: matrix
 * products (MatMul, Gemm, FusedMatMul), convolutions (Conv, FusedConv; ConvTranspose), recurrent layers (LSTM,
 * GRU, RNN), ai.onnx Attention (its two products), normalisations, rotary embeddings and Softmax (a few operations
 * per element), and everything else one operation per element of its largest input or output. Unknown sizes count
 * as 0.
 */
public final class FlopCount {
    private FlopCount() {}

    /** FLOPs of node {@code n} of {@code g}. */
    public static double flops(Graph g, Node n) {
        double out = elements(g, first(n.outputs()));
        String op = n.opType();
        switch (op) {
            case "MatMul", "FusedMatMul", "MatMulInteger" -> {
                Shape a = shape(g, n.inputs().get(0));
                return a == null || a.rank() == 0 ? out : 2 * out * a.dim(a.rank() - 1);
            }
            case "Gemm" -> {
                Shape a = shape(g, n.inputs().get(0));
                if (a == null || a.rank() != 2) return out;
                boolean transA = n.attributes().getInt("transA", 0) != 0;
                return 2 * out * a.dim(transA ? 0 : 1);
            }
            case "Conv", "FusedConv", "FusedConvAdd", "ConvInteger" -> {
                Shape w = shape(g, n.inputs().get(1));
                return w == null || w.rank() < 3 ? out : 2 * out * (w.elementCount() / w.dim(0));
            }
            case "ConvTranspose", "FusedConvTranspose" -> {
                Shape w = shape(g, n.inputs().get(1));
                double in = elements(g, n.inputs().get(0));
                return w == null || w.rank() < 3 ? out : 2 * in * (w.elementCount() / w.dim(0));
            }
            case "LSTM", "GRU", "RNN" -> {
                Shape x = shape(g, n.inputs().get(0));
                double w = elements(g, n.inputs().get(1)), r = elements(g, n.inputs().get(2));
                return x == null || x.rank() != 3 ? out : 2 * x.dim(0) * x.dim(1) * (w + r);
            }
            case "Attention" -> {
                // ai.onnx Attention: Q K^T and P V over T = past + new keys, each 2 * T per element of Q and of Y
                Shape k = shape(g, n.inputs().get(1));
                if (!n.domain().isEmpty() || k == null || k.rank() < 3) return out;
                Shape past = n.inputs().size() > 4 ? shape(g, n.inputs().get(4)) : null;
                long t = k.dim(k.rank() == 4 ? 2 : 1) + (past != null && past.rank() == 4 ? past.dim(2) : 0);
                return 2.0 * t * (elements(g, n.inputs().get(0)) + out);
            }
            case "Softmax", "LogSoftmax", "LayerNormalization", "BatchNormalization", "InstanceNormalization",
                 "SimplifiedLayerNormalization", "SkipLayerNormalization", "Gelu", "Erf",
                 "RMSNormalization", "GroupNormalization", "RotaryEmbedding" -> {
                return 5 * Math.max(out, elements(g, n.inputs().isEmpty() ? "" : n.inputs().get(0)));
            }
            default -> {
                double most = out;
                for (String v : n.inputs()) most = Math.max(most, elements(g, v));
                return most;
            }
        }
    }

    /**
     * Bytes a node reads (every input, weights included) and writes. An indexing op (Gather, GatherElements,
     * GatherND, Slice) reads of its data only what it copies out, at most its output's size: an embedding lookup
     * touches the rows it gathers, not the whole table.
     */
    public static long bytesTouched(Graph g, Node n) {
        long out = 0;
        for (String v : n.outputs()) out += bytes(g, v);
        long b = out;
        boolean indexing = n.domain().isEmpty() && switch (n.opType()) {
            case "Gather", "GatherElements", "GatherND", "Slice" -> true;
            default -> false;
        };
        for (int i = 0; i < n.inputs().size(); i++) {
            long in = bytes(g, n.inputs().get(i));
            b += indexing && i == 0 ? Math.min(in, out) : in;
        }
        return b;
    }

    /** Data bytes of a value with a static type (0 when unknown or empty name). */
    public static long bytes(Graph g, String v) {
        if (v == null || v.isEmpty()) return 0;
        Tensor c = g.initializers().get(v);
        if (c != null) return c.byteSize();
        TensorType t = g.typeOf(v);
        if (!t.isStatic()) return 0;
        return Tensor.byteSize(t.dtype(), t.shape().toShape());
    }

    private static String first(java.util.List<String> l) { return l.isEmpty() ? "" : l.get(0); }

    private static Shape shape(Graph g, String v) {
        if (v == null || v.isEmpty()) return null;
        Tensor c = g.initializers().get(v);
        if (c != null) return c.shape();
        TensorType t = g.typeOf(v);
        return t.shape().isStatic() ? t.shape().toShape() : null;
    }

    private static double elements(Graph g, String v) {
        Shape s = shape(g, v);
        return s == null ? 0 : s.elementCount();
    }
}
