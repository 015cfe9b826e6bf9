package dev.sluice.runtime.cli;

import dev.sluice.graph.cost.CostModel;
import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.compile.PlacementPipeline;
import dev.sluice.runtime.compile.Profiler;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/** {@code sluice profile MODEL --devices cpu,throttled|FILE.json [-o costs.json]}: the cost model of a model on devices. */
final class ProfileCommand implements Command {
    @Override public String name() { return "profile"; }
    @Override public String summary() { return "time every (fused) node on each device: the cost model placement uses"; }
    @Override public Set<String> valueOptions() { return Set.of("devices", "runs", "threads", "bandwidth", "input", "dim", "seed", "out", "top"); }
    @Override public String help() {
        return """
            usage: sluice profile MODEL.onnx|TESTDATA_DIR|ZOO_NAME --devices cpu,throttled[:BUDGET]|cpu,tornadovm[:BUDGET]|cpu,FILE.json[:BUDGET]
                                  [-o costs.json] [--runs N] [--threads N] [--bandwidth BYTES_PER_S] [--top N]

            Times every node of the model (after fusion, with the real shapes of the run's inputs) on the CPU: the
            median of --runs runs (default 5) after a warm-up, each device's share of --threads (half each). The
            throttled device runs the CPU's kernels, so its node times are those measurements; its link (at
            --bandwidth, default unlimited) is measured with a large and a tiny copy. TornadoVM's device (tornadovm,
            needs TORNADOVM_HOME; the graph is then fused into standard ops) is measured too: every node with its
            kernels (TornadoVM's, the CPU's for ops it lacks), the same median. A described device (a JSON
            file with exactly name, kind, peak_gflops, memory_gbps, launch_us, memory_bytes, link_gbps,
            link_latency_us; bundled: nvidia-t4.json, nvidia-a10.json) gets roofline estimates, printed as such.
            Prints the devices, the sum of node times per device and the --top N (default 10) slowest nodes; -o
            writes the cost model as JSON.""";
    }

    @Override public int run(Args args, PrintStream out) {
        int threads = args.intOption("threads", SessionOptions.defaultThreads());
        String devices = args.option("devices");
        if (devices == null) throw new SluiceException("profile needs --devices, e.g. --devices cpu,throttled or --devices cpu,nvidia-t4.json");
        SessionOptions o = SessionOptions.builder().threads(threads).devices(devices.split(","))
            .bandwidth(args.option("bandwidth") == null ? 0 : SessionOptions.parseBytes("--bandwidth", args.option("bandwidth"))).build();
        String outFile = PlacedModel.outFile(args);
        try (PlacedModel pm = PlacedModel.open(args, threads, out)) {
            Profiler.Profiled p = Profiler.profiled(pm.staticModel(), pm.session().registry(), pm.inputs(), o.devices(), o.bandwidthBytesPerSecond(),
                PlacementPipeline.threadsPerDevice(threads), args.intOption("runs", 5), o.profileWarmupMillis() * 1_000_000L);
            CostModel c = p.costs();
            out.print(c);
            Profiler.NodeTimes nt = p.cpu();
            out.printf(java.util.Locale.ROOT, "profile: cpu: the node medians add up to %.3f ms; a whole run measured %.3f ms, of which %.3f ms inside the"
                    + " nodes' timers (medians of %d timed runs, after %d warm-up runs, the JIT %s); %d node samples dropped for a garbage collection"
                    + " inside them%n", nt.sumMillis(), nt.runMillis(), nt.runNodesMillis(), nt.timedRuns(), nt.warmupRuns(),
                nt.jitQuiet() ? "idle at the end" : "still compiling when the warm-up's time ran out", nt.gcDroppedTotal());
            int top = args.intOption("top", 10);
            List<CostModel.NodeCost> nodes = new ArrayList<>(c.nodes());
            nodes.sort(Comparator.comparingDouble((CostModel.NodeCost n) -> -n.millis(0)));
            out.printf("profile: the %d slowest nodes on the cpu (ms per device: %s)%n", Math.min(top, nodes.size()),
                String.join(", ", c.devices().stream().map(d -> d.name() + " " + d.timeSource().name().toLowerCase()).toList()));
            for (CostModel.NodeCost n : nodes.subList(0, Math.min(top, nodes.size()))) {
                StringBuilder b = new StringBuilder();
                for (CostModel.Timing t : n.times()) b.append(String.format(" %10.4f", t.millis()));
                out.printf("profile: %-40s %-18s %10.3g flop%s%n", n.node(), n.opType(), n.flops(), b);
            }
            if (outFile != null) {
                c.save(Path.of(outFile));
                out.println("cost model written to " + outFile);
            }
        }
        return 0;
    }
}
