package dev.sluice.kernels;

import java.util.Arrays;
import java.util.List;

/** A node attribute value: one of ONNX's attribute kinds. */
public sealed interface Attr {
    record Int(long value) implements Attr {}
    record Float(float value) implements Attr {}
    record Str(String value) implements Attr {}
    record TensorValue(Tensor value) implements Attr {}
    record Graph(Subgraph value) implements Attr {}
    record Ints(long[] values) implements Attr {
        @Override public String toString() { return Arrays.toString(values); }
    }
    record Floats(float[] values) implements Attr {
        @Override public String toString() { return Arrays.toString(values); }
    }
    record Strs(List<String> values) implements Attr {}
    record Tensors(List<Tensor> values) implements Attr {}
    record Graphs(List<Subgraph> values) implements Attr {}
}
