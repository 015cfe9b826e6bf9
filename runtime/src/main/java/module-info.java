/**
 * Sluice's runtime: the session API, the compile pipeline, the dispatcher and its devices, the command line
 * and the KServe v2 server.
 *
 * <p>Exported to everyone: {@code dev.sluice.runtime} ({@code Session}, {@code SessionOptions}, {@code Result},
 * {@code InputException}), with the kernels' and the graph's API read transitively, so a user's
 * {@code requires dev.sluice.runtime;} is enough to open a model and build its tensors. Every other package is
 * internal; the ones the bench (Sluice's own benchmarks and extra commands) builds on are exported to it alone.
 */
module dev.sluice.runtime {
    requires transitive dev.sluice.kernels;
    requires transitive dev.sluice.graph;
    requires dev.sluice.memgraph;
    requires dev.sluice.offload;

    requires org.jctools.core;
    requires java.desktop;
    requires java.management;
    requires jdk.incubator.vector;
    requires jdk.management;
    requires jdk.jfr;
    // sluice serve: REST on Helidon SE with Jackson's tree model, gRPC on grpc-java (automatic modules, named in
    // their manifests; grpc 1.85 has no package split across its jars)
    requires io.helidon.webserver;
    requires com.fasterxml.jackson.databind;
    requires com.google.protobuf;
    requires com.google.common;
    // Guava's futures (grpc's stubs and calls) load classes from failureaccess, an explicit module that Guava's
    // automatic module cannot declare: without this requires it is never resolved on the module path
    requires com.google.common.util.concurrent.internal;
    requires io.grpc;
    requires io.grpc.stub;
    requires io.grpc.protobuf;
    requires io.grpc.netty.shaded;

    exports dev.sluice.runtime;

    exports dev.sluice.runtime.cli to dev.sluice.bench;
    exports dev.sluice.runtime.compile to dev.sluice.bench;
    exports dev.sluice.runtime.device to dev.sluice.bench;
    exports dev.sluice.runtime.dispatch to dev.sluice.bench;
    exports dev.sluice.runtime.exec to dev.sluice.bench;
    exports dev.sluice.runtime.memory to dev.sluice.bench;
    exports dev.sluice.runtime.serve to dev.sluice.bench;
    exports dev.sluice.runtime.testdata to dev.sluice.bench;
    exports dev.sluice.runtime.zoo to dev.sluice.bench;

    // protobuf's generated-message accessors reach the generated KServe classes by reflection
    opens dev.sluice.runtime.serve.grpc to com.google.protobuf;

    // the command line's commands: its own, and those another module (the bench) provides
    uses dev.sluice.runtime.cli.Command;
}
