package dev.sluice.graph;

import dev.sluice.kernels.TensorType;

/** A named value of a graph (input, output or intermediate) with its static type. */
public record Value(String name, TensorType type) {
    @Override public String toString() { return name + ":" + type; }
}
