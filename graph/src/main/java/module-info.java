/**
 * Sluice's model IR and its passes: ONNX import, type inference, folding, fusion.
 *
 * <p>{@code dev.sluice.graph} is exported to everyone because the session API hands out its values
 * ({@code Session.inputs()} and {@code outputs()} are {@code Value}s, {@code Session.model()} a {@code Model}, and a
 * model may be imported once and opened many times) and throws its exceptions ({@code ModelException},
 * {@code ShapeException}, {@code UnsupportedOpsException}). Fusion rules are internal to the compile pipeline.
 */
module dev.sluice.graph {
    requires transitive dev.sluice.kernels;
    // ONNX's protobuf classes (ai.onnx.proto, an automatic module) and the protobuf runtime they are built on
    requires org.tribuo.util.onnx;
    requires com.google.protobuf;
    requires java.management;
    requires jdk.management;

    exports dev.sluice.graph;

    exports dev.sluice.graph.fusion to dev.sluice.runtime;
    // costs and device descriptions: placement (memgraph) solves on them, the runtime profiles them
    exports dev.sluice.graph.cost to dev.sluice.memgraph, dev.sluice.runtime, dev.sluice.bench;
}
