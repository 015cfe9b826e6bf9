package dev.sluice.memgraph.placement;

import dev.sluice.graph.Graph;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.graph.cost.Json;
import dev.sluice.kernels.SluiceException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which device runs each node of one graph, with what the strategy that chose it predicted.
 *
 * <p>Invariants: every node of the graph named by {@code fingerprint} appears in {@code assignment} exactly once
 * (by its {@link CostModel#nodeKeys key}), mapped to one of {@code devices}; {@code devices.get(0)} is the host.
 *
 * @param predictedMillis the simulator's makespan for this placement ({@code estimated} when a device is described); NaN where
 *                        nothing predicted it (the one-device placement, a refusal), {@code null} in JSON
 * @param peakBytes       per device, the planned peak of its arena in the placement's MemGraph (exact), 0 for the host
 * @param solverMillis    how long the strategy took
 * @param note            the solver's proof (MILP), or why a fallback was taken; may be empty
 */
public record Placement(String model, String fingerprint, String strategy, List<String> devices, Map<String, String> assignment,
                        double predictedMillis, List<Long> peakBytes, double solverMillis, String note) {
    public Placement {
        devices = List.copyOf(devices);
        assignment = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(assignment));
        peakBytes = List.copyOf(peakBytes);
        for (var e : assignment.entrySet()) {
            if (!devices.contains(e.getValue())) {
                throw new SluiceException("placement: node " + e.getKey() + " is on '" + e.getValue() + "', which is not one of " + devices);
            }
        }
    }

    /** The placement of {@code g}'s nodes given one device index per node. */
    public static Placement of(Graph g, List<String> devices, int[] nodeDevice, String strategy, double predictedMillis,
                               List<Long> peakBytes, double solverMillis, String note) {
        List<String> keys = CostModel.nodeKeys(g);
        if (keys.size() != nodeDevice.length) throw new IllegalArgumentException(nodeDevice.length + " devices for " + keys.size() + " nodes");
        Map<String, String> a = new LinkedHashMap<>();
        for (int i = 0; i < keys.size(); i++) a.put(keys.get(i), devices.get(nodeDevice[i]));
        return new Placement(g.name(), CostModel.fingerprint(g), strategy, devices, a, predictedMillis, peakBytes, solverMillis, note);
    }

    /**
     * One device index (into {@code runDevices}) per node of {@code g}. Refuses, naming them, a placement made for
     * another graph, nodes it names that {@code g} lacks, nodes of {@code g} it leaves out, and devices not in
     * {@code runDevices}.
     */
    public int[] toArray(Graph g, List<String> runDevices) {
        List<String> keys = CostModel.nodeKeys(g);
        Set<String> unknown = new TreeSet<>(assignment.keySet());
        keys.forEach(unknown::remove);
        Set<String> missing = new TreeSet<>(keys);
        missing.removeAll(assignment.keySet());
        if (!unknown.isEmpty() || !missing.isEmpty()) {
            throw new SluiceException("the placement is for model '" + model + "' (graph " + fingerprint + "), not this one ('" + g.name()
                + "', graph " + CostModel.fingerprint(g) + ")" + (unknown.isEmpty() ? "" : "; nodes it names that the model lacks: " + head(unknown))
                + (missing.isEmpty() ? "" : "; nodes of the model it does not place: " + head(missing)));
        }
        if (!fingerprint.equals(CostModel.fingerprint(g))) {
            throw new SluiceException("the placement is for graph " + fingerprint + " of model '" + model + "', not graph "
                + CostModel.fingerprint(g) + " of '" + g.name() + "' (same node names, different ops or outputs)");
        }
        int[] r = new int[keys.size()];
        for (int i = 0; i < r.length; i++) {
            String d = assignment.get(keys.get(i));
            int k = runDevices.indexOf(d);
            if (k < 0) {
                // the placement's accelerator stands for the run's (a described device executed on the throttled one)
                int pd = devices.indexOf(d);
                if (pd > 0 && runDevices.size() == devices.size()) k = pd;
                else throw new SluiceException("placement: node " + keys.get(i) + " is on '" + d + "', which this run does not have " + runDevices);
            }
            r[i] = k;
        }
        return r;
    }

    private static String head(Set<String> s) {
        List<String> l = new ArrayList<>(s);
        return l.size() <= 10 ? String.join(", ", l) : String.join(", ", l.subList(0, 10)) + " and " + (l.size() - 10) + " more";
    }

    /** Nodes per device, in device order. */
    public Map<String, Integer> counts() {
        Map<String, Integer> c = new LinkedHashMap<>();
        for (String d : devices) c.put(d, 0);
        for (String d : assignment.values()) c.merge(d, 1, Integer::sum);
        return c;
    }

    @Override public String toString() {
        StringBuilder b = new StringBuilder();
        b.append(String.format("placement of '%s' by %s: %s, solver %.1f ms%n", model, strategy,
            Double.isNaN(predictedMillis) ? "no prediction" : String.format("predicted %.3f ms", predictedMillis), solverMillis));
        Map<String, Integer> c = counts();
        for (int d = 0; d < devices.size(); d++) {
            b.append(String.format("  %-20s %5d nodes, peak %d B%n", devices.get(d), c.get(devices.get(d)), peakBytes.size() > d ? peakBytes.get(d) : 0));
        }
        if (!note.isEmpty()) b.append("  ").append(note).append('\n');
        return b.toString();
    }

    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("fingerprint", fingerprint);
        m.put("strategy", strategy);
        m.put("devices", new ArrayList<Object>(devices));
        m.put("predicted_ms", Double.isNaN(predictedMillis) ? null : predictedMillis); // NaN: no prediction (JSON has no NaN)
        m.put("peak_bytes", new ArrayList<Object>(peakBytes));
        m.put("solver_ms", solverMillis);
        m.put("note", note);
        m.put("assignment", new LinkedHashMap<String, Object>(assignment));
        return Json.write(m);
    }

    public static Placement fromJson(String text, String source) {
        Map<String, Object> m = Json.parseObject(text, source);
        List<String> devices = new ArrayList<>();
        for (Object o : Json.list(m, "devices", source)) {
            if (!(o instanceof String s)) throw new SluiceException(source + ": \"devices\" must list names");
            devices.add(s);
        }
        List<Long> peaks = new ArrayList<>();
        for (Object o : Json.list(m, "peak_bytes", source)) {
            if (!(o instanceof Double d)) throw new SluiceException(source + ": \"peak_bytes\" must list numbers");
            peaks.add((long) (double) d);
        }
        Map<String, String> a = new LinkedHashMap<>();
        for (var e : Json.object(m, "assignment", source).entrySet()) {
            if (!(e.getValue() instanceof String s)) throw new SluiceException(source + ": node " + e.getKey() + " must map to a device name");
            a.put(e.getKey(), s);
        }
        String note = m.get("note") instanceof String s ? s : "";
        try {
            return new Placement(Json.string(m, "model", source), Json.string(m, "fingerprint", source), Json.string(m, "strategy", source),
                devices, a, m.get("predicted_ms") == null && m.containsKey("predicted_ms") ? Double.NaN : Json.number(m, "predicted_ms", source), peaks, Json.number(m, "solver_ms", source), note);
        } catch (SluiceException e) {
            throw new SluiceException(source + ": " + e.getMessage());
        }
    }

    public void save(Path file) {
        try {
            Files.writeString(file, toJson());
        } catch (IOException e) {
            throw new SluiceException(file + ": cannot write: " + e.getMessage());
        }
    }

    public static Placement load(Path file) {
        try {
            return fromJson(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new SluiceException(file + ": cannot read: " + e.getMessage());
        }
    }
}
