/**
 * Sluice's benchmarks: JMH micro-benchmarks, the comparison against ONNX Runtime, the TURNIP and serving
 * benches and the demo, plugged into the command line as {@code Command} services. An application module, not
 * a library: it exports nothing. {@code jmh.core} and {@code HdrHistogram} carry no module name of their own;
 * their names come from their jar files.
 */
module dev.sluice.bench {
    requires java.logging; // serve-bench quiets Helidon's per-server log lines
    requires dev.sluice.runtime;
    requires dev.sluice.memgraph;
    requires dev.sluice.offload;

    requires com.microsoft.onnxruntime;
    requires jmh.core;
    requires HdrHistogram;
    requires com.fasterxml.jackson.databind;
    requires java.desktop;
    requires java.management;
    requires jdk.jfr; // SteadyProbe can start a flight recording in a warm JVM
    requires jdk.incubator.vector;
    requires java.net.http;

    provides dev.sluice.runtime.cli.Command with
        dev.sluice.bench.BenchCommand,
        dev.sluice.bench.DemoCommand,
        dev.sluice.bench.JmhCommand,
        dev.sluice.bench.turnip.TurnipBenchCommand,
        dev.sluice.bench.serve.LoadgenCommand,
        dev.sluice.bench.serve.ServeBenchCommand,
        dev.sluice.bench.place.PlaceBenchCommand;
}
