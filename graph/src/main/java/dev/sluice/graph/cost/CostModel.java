package dev.sluice.graph.cost;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.SluiceException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What each (fused) node of one graph costs on each device, and what each device's link costs: the input of
 * every placement strategy. Device 0 is the host CPU.
 *
 * <p>Invariants: one {@link NodeCost} per node of the graph, in its order, keyed by {@link #nodeKeys}; each has
 * one {@link Timing} per device; every timing of a device column has that device's {@link DeviceCost#timeSource}
 * (measured and estimated figures never mix in one column); the host's link is free.
 *
 * @param model       the graph's name, for reports
 * @param fingerprint {@link #fingerprint} of the graph: a cost model or placement is refused on another graph
 */
public record CostModel(String model, String fingerprint, List<DeviceCost> devices, List<NodeCost> nodes) {
    /** Where a figure comes from: a measurement on this machine, or an estimate from a description. */
    public enum Source {
        MEASURED, ESTIMATED;

        String word() { return name().toLowerCase(Locale.ROOT); }

        static Source parse(String s, String where) {
            return switch (s) {
                case "measured" -> MEASURED;
                case "estimated" -> ESTIMATED;
                default -> throw new SluiceException(where + ": source must be measured or estimated, got \"" + s + "\"");
            };
        }
    }

    /**
     * One device: its name, kind ({@code cpu}, {@code throttled}, {@code tornadovm} or {@code described}), where its
     * node times come from, and its link to the host (bytes per second, 0 for unlimited; latency in ms).
     * {@code memoryBytes}: what the device may hold (its budget), 0 for the host.
     */
    public record DeviceCost(String name, String kind, Source timeSource, double linkBytesPerSecond, double linkLatencyMs,
                             Source linkSource, long memoryBytes) {
        public DeviceCost {
            if (!(linkBytesPerSecond >= 0) || !(linkLatencyMs >= 0)) throw new SluiceException(name + ": link figures must be >= 0");
        }

        /** Milliseconds to move {@code bytes} between the host and this device (0 on the host). */
        public double transferMillis(double bytes) {
            if (kind.equals("cpu")) return 0;
            return (linkBytesPerSecond == 0 ? 0 : bytes / linkBytesPerSecond * 1e3) + linkLatencyMs;
        }
    }

    /** A node's time on one device and whether it was measured or estimated. */
    public record Timing(double millis, Source source) {
        public Timing {
            if (!(millis >= 0) || !Double.isFinite(millis)) throw new SluiceException("a node time must be finite and >= 0, got " + millis);
        }
    }

    /**
     * One node: its key, op, FLOPs, weight bytes (initializers it reads), activation bytes (other inputs and
     * outputs), output bytes, and its time on each device.
     */
    public record NodeCost(String node, String opType, double flops, long weightBytes, long activationBytes, long outputBytes,
                           List<Timing> times) {
        public NodeCost { times = List.copyOf(times); }

        public double millis(int device) { return times.get(device).millis(); }
    }

    public CostModel {
        devices = List.copyOf(devices);
        nodes = List.copyOf(nodes);
        if (devices.isEmpty() || !devices.get(0).kind().equals("cpu")) throw new SluiceException("device 0 of a cost model must be the cpu");
        for (NodeCost n : nodes) {
            if (n.times().size() != devices.size()) {
                throw new SluiceException("node " + n.node() + " has " + n.times().size() + " times for " + devices.size() + " devices");
            }
            for (int d = 0; d < devices.size(); d++) {
                if (n.times().get(d).source() != devices.get(d).timeSource()) {
                    throw new SluiceException("node " + n.node() + " on " + devices.get(d).name() + ": a " + n.times().get(d).source().word()
                        + " time in a column of " + devices.get(d).timeSource().word() + " times");
                }
            }
        }
    }

    /** Index of the device named {@code name}, or -1. */
    public int deviceIndex(String name) {
        for (int d = 0; d < devices.size(); d++) if (devices.get(d).name().equals(name)) return d;
        return -1;
    }

    /** The nodes' times on device {@code d}, in graph order. */
    public double[] column(int d) {
        double[] c = new double[nodes.size()];
        for (int i = 0; i < c.length; i++) c[i] = nodes.get(i).millis(d);
        return c;
    }

    /** Refuses this cost model for a graph it was not made for, naming both. */
    public void requireFor(Graph g) {
        String f = fingerprint(g);
        if (!f.equals(fingerprint)) {
            throw new SluiceException("the cost model is for graph '" + model + "' (" + fingerprint + "), not '" + g.name() + "' (" + f + ")");
        }
    }

    // ---- node keys and fingerprints ----

    /**
     * A stable key per node: its name, or {@code @} and its first output where it has none; a repeated key gets
     * {@code #2}, {@code #3}... in graph order. Placements and cost models name nodes by these keys.
     */
    public static List<String> nodeKeys(Graph g) {
        List<String> keys = new ArrayList<>();
        Map<String, Integer> seen = new HashMap<>();
        for (Node n : g.nodes()) {
            String k = !n.name().isEmpty() ? n.name() : "@" + (n.outputs().isEmpty() ? "?" : n.outputs().get(0));
            int c = seen.merge(k, 1, Integer::sum);
            keys.add(c == 1 ? k : k + "#" + c);
        }
        return keys;
    }

    /** A 64-bit FNV-1a hash of the graph's node keys, ops and outputs, in order, as hex: what identifies a graph. */
    public static String fingerprint(Graph g) {
        long h = 0xcbf29ce484222325L;
        List<String> keys = nodeKeys(g);
        for (int i = 0; i < keys.size(); i++) {
            Node n = g.nodes().get(i);
            String s = keys.get(i) + "|" + n.opType() + "|" + String.join(",", n.outputs()) + ";";
            for (int k = 0; k < s.length(); k++) {
                h ^= s.charAt(k);
                h *= 0x100000001b3L;
            }
        }
        return String.format("%016x", h);
    }

    // ---- printing and JSON ----

    @Override public String toString() {
        StringBuilder b = new StringBuilder();
        b.append("cost model of '").append(model).append("' (").append(nodes.size()).append(" nodes, graph ").append(fingerprint).append(")\n");
        for (DeviceCost d : devices) {
            b.append(String.format("  device %-14s %-10s times %-9s", d.name(), d.kind(), d.timeSource().word()));
            if (!d.kind().equals("cpu")) {
                b.append(String.format(" link %s at %.3f ms latency (%s), memory %d B", d.linkBytesPerSecond() == 0 ? "unlimited"
                    : String.format("%.3g GB/s", d.linkBytesPerSecond() / 1e9), d.linkLatencyMs(), d.linkSource().word(), d.memoryBytes()));
            }
            b.append('\n');
        }
        double[] total = new double[devices.size()];
        for (NodeCost n : nodes) for (int d = 0; d < total.length; d++) total[d] += n.millis(d);
        for (int d = 0; d < total.length; d++) {
            b.append(String.format("  sum of node times on %s: %.3f ms (%s)%n", devices.get(d).name(), total[d], devices.get(d).timeSource().word()));
        }
        return b.toString();
    }

    /** The JSON form: model, fingerprint, devices and nodes (times per device in device order). */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("fingerprint", fingerprint);
        List<Object> ds = new ArrayList<>();
        for (DeviceCost d : devices) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("name", d.name());
            o.put("kind", d.kind());
            o.put("time_source", d.timeSource().word());
            o.put("link_bytes_per_second", d.linkBytesPerSecond());
            o.put("link_latency_ms", d.linkLatencyMs());
            o.put("link_source", d.linkSource().word());
            o.put("memory_bytes", d.memoryBytes());
            ds.add(o);
        }
        m.put("devices", ds);
        List<Object> ns = new ArrayList<>();
        for (NodeCost n : nodes) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("node", n.node());
            o.put("op", n.opType());
            o.put("flops", n.flops());
            o.put("weight_bytes", n.weightBytes());
            o.put("activation_bytes", n.activationBytes());
            o.put("output_bytes", n.outputBytes());
            o.put("ms", n.times().stream().map(t -> (Object) t.millis()).toList());
            ns.add(o);
        }
        m.put("nodes", ns);
        return Json.write(m);
    }

    /** Reads the JSON form, naming the file and field of any error. */
    public static CostModel fromJson(String text, String source) {
        Map<String, Object> m = Json.parseObject(text, source);
        List<DeviceCost> ds = new ArrayList<>();
        for (Object o : Json.list(m, "devices", source)) {
            Map<String, Object> d = Json.asObject(o, source + ": a device");
            ds.add(new DeviceCost(Json.string(d, "name", source), Json.string(d, "kind", source),
                Source.parse(Json.string(d, "time_source", source), source), Json.number(d, "link_bytes_per_second", source),
                Json.number(d, "link_latency_ms", source), Source.parse(Json.string(d, "link_source", source), source),
                (long) Json.number(d, "memory_bytes", source)));
        }
        List<NodeCost> ns = new ArrayList<>();
        for (Object o : Json.list(m, "nodes", source)) {
            Map<String, Object> n = Json.asObject(o, source + ": a node");
            String key = Json.string(n, "node", source);
            List<Object> ms = Json.list(n, "ms", source);
            if (ms.size() != ds.size()) throw new SluiceException(source + ": node " + key + " has " + ms.size() + " times for " + ds.size() + " devices");
            List<Timing> ts = new ArrayList<>();
            for (int d = 0; d < ms.size(); d++) {
                if (!(ms.get(d) instanceof Double v)) throw new SluiceException(source + ": node " + key + ": times must be numbers");
                ts.add(new Timing(v, ds.get(d).timeSource()));
            }
            ns.add(new NodeCost(key, Json.string(n, "op", source), Json.number(n, "flops", source), (long) Json.number(n, "weight_bytes", source),
                (long) Json.number(n, "activation_bytes", source), (long) Json.number(n, "output_bytes", source), ts));
        }
        return new CostModel(Json.string(m, "model", source), Json.string(m, "fingerprint", source), ds, ns);
    }

    public void save(Path file) {
        try {
            Files.writeString(file, toJson());
        } catch (IOException e) {
            throw new SluiceException(file + ": cannot write: " + e.getMessage());
        }
    }

    public static CostModel load(Path file) {
        try {
            return fromJson(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new SluiceException(file + ": cannot read: " + e.getMessage());
        }
    }
}
