package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.cost.Json;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.kernels.device.LaneKind;
import dev.sluice.memgraph.plan.Lifetime;
import dev.sluice.memgraph.plan.OffsetPlan;
import dev.sluice.memgraph.plan.PlanChecker;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The JSON form of a {@link MemGraph}: its devices, buffers, tasks (tiles and boxes included), edges, sources,
 * results, planned peaks and each device's offset plan (checked on reading: sound, and the offsets its buffers carry), with a fingerprint of the graph it runs instead of the graph itself (the graph with
 * its weights is the model's; loading is given it and refuses another). Reading is strict: an unknown, missing or
 * mistyped field, a number that is not an exact integer, or a reference to a buffer, task, device or node that does
 * not exist is refused with the field's path (e.g. {@code tasks[12].inputs[3]}). Budgets are decimal strings: they
 * may pass 2^53, where JSON numbers stop being exact.
 */
final class MemGraphJson {
    static final String FORMAT = "sluice-memgraph/2";
    private static final double EXACT = 0x1p53;

    private MemGraphJson() {}

    /** A digest of what a memory graph's tasks refer to: the nodes (op, inputs and outputs with their types) and the initializers' names, types and shapes. */
    static String fingerprint(Graph g) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (Node n : g.nodes()) {
                StringBuilder b = new StringBuilder(n.label()).append('|').append(n.domain()).append('|').append(n.opType());
                for (String v : n.inputs()) b.append('|').append(v).append(':').append(v.isEmpty() ? "" : g.typeOf(v));
                b.append(" ->");
                for (String v : n.outputs()) b.append('|').append(v).append(':').append(v.isEmpty() ? "" : g.typeOf(v));
                md.update(b.append('\n').toString().getBytes(StandardCharsets.UTF_8));
            }
            for (String w : new TreeSet<>(g.initializers().keySet())) {
                var t = g.initializers().get(w);
                md.update((w + ":" + t.dtype() + t.shape() + "\n").getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String write(MemGraph m) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("format", FORMAT);
        Map<String, Object> graph = new LinkedHashMap<>();
        graph.put("name", m.graph().name());
        graph.put("nodes", m.graph().nodes().size());
        graph.put("fingerprint", fingerprint(m.graph()));
        o.put("graph", graph);
        List<Object> devices = new ArrayList<>();
        for (DeviceSpec d : m.devices()) {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("name", d.name());
            x.put("kind", d.kind().name());
            x.put("budget_bytes", Long.toString(d.budgetBytes()));
            devices.add(x);
        }
        o.put("devices", devices);
        List<Object> buffers = new ArrayList<>();
        for (Buffer b : m.buffers()) {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("value", b.value());
            x.put("device", b.device());
            x.put("offset", b.offset());
            x.put("bytes", b.bytes());
            buffers.add(x);
        }
        o.put("buffers", buffers);
        List<Object> tasks = new ArrayList<>();
        for (Task t : m.tasks()) tasks.add(task(t));
        o.put("tasks", tasks);
        List<Object> edges = new ArrayList<>();
        for (Edge e : m.edges()) edges.add(List.of(e.from(), e.to(), e.kind().name().toLowerCase(java.util.Locale.ROOT)));
        o.put("edges", edges);
        o.put("sources", new LinkedHashMap<String, Object>(m.sources()));
        o.put("results", new LinkedHashMap<String, Object>(m.results()));
        o.put("planned_peak", new ArrayList<Object>(m.plannedPeak()));
        List<Object> plans = new ArrayList<>();
        m.offsetPlans().forEach((d, p) -> plans.add(offsetPlan(d, p)));
        o.put("offset_plans", plans);
        return Json.write(o);
    }

    private static Map<String, Object> offsetPlan(int device, OffsetPlan p) {
        Map<String, Object> x = new LinkedHashMap<>();
        x.put("device", device);
        x.put("heuristic", p.heuristic());
        x.put("arena_bytes", p.arenaBytes());
        x.put("bound", p.bound());
        x.put("naive", p.naive());
        x.put("plan_nanos", p.planNanos());
        x.put("tried", new LinkedHashMap<String, Object>(p.tried()));
        x.put("in_place", new LinkedHashMap<String, Object>(p.inPlace()));
        List<Object> blocks = new ArrayList<>();
        for (Lifetime l : p.lifetimes()) blocks.add(List.of(l.value(), l.bytes(), l.firstStep(), l.lastStep(), p.offset(l.value())));
        x.put("blocks", blocks);
        return x;
    }

    private static Map<String, Object> task(Task t) {
        Map<String, Object> x = new LinkedHashMap<>();
        switch (t) {
            case Task.Kernel k -> {
                x.put("kind", "kernel");
                x.put("device", k.device());
                x.put("label", k.label());
                x.put("node", k.node());
                x.put("inputs", new ArrayList<Object>(k.inputs()));
                x.put("captured", new ArrayList<Object>(k.captured()));
                x.put("outputs", new ArrayList<Object>(k.outputs()));
                x.put("scratch", k.scratch());
                if (k.tile() != null) x.put("tile", tile(k.tile()));
            }
            case Task.Transfer c -> {
                x.put("kind", "transfer");
                x.put("device", c.device());
                x.put("label", c.label());
                x.put("lane", c.lane().name());
                x.put("src", c.src());
                x.put("dst", c.dst());
                x.put("bytes", c.bytes());
                if (c.end() > 0 || c.start() != 0) { x.put("start", c.start()); x.put("end", c.end()); }
                if (c.rows()) x.put("rows", true);
                if (c.box() != null) x.put("box", box(c.box()));
                if (c.scatter()) x.put("scatter", true);
            }
            case Task.Offload c -> copy(x, "offload", c.device(), c.label(), c.src(), c.dst(), c.bytes());
            case Task.Reload c -> copy(x, "reload", c.device(), c.label(), c.src(), c.dst(), c.bytes());
        }
        return x;
    }

    private static void copy(Map<String, Object> x, String kind, int device, String label, int src, int dst, long bytes) {
        x.put("kind", kind);
        x.put("device", device);
        x.put("label", label);
        x.put("src", src);
        x.put("dst", dst);
        x.put("bytes", bytes);
    }

    private static Map<String, Object> tile(Tile t) {
        Map<String, Object> x = new LinkedHashMap<>();
        x.put("kind", t.kind().name());
        x.put("index", t.index());
        x.put("count", t.count());
        x.put("start", t.start());
        x.put("end", t.end());
        x.put("total", t.total());
        if (t.box() != null) x.put("box", box(t.box()));
        return x;
    }

    private static Map<String, Object> box(Box b) {
        Map<String, Object> x = new LinkedHashMap<>();
        x.put("dims", longs(b.dims()));
        x.put("lo", longs(b.lo()));
        x.put("hi", longs(b.hi()));
        return x;
    }

    private static List<Object> longs(long[] a) {
        List<Object> l = new ArrayList<>();
        for (long v : a) l.add(v);
        return l;
    }

    // ---- reading ----

    /** Reads a memory graph of {@code graph} (the graph it was built on), naming {@code source} and the field in errors. */
    static MemGraph read(String text, Graph graph, String source) {
        Reader r = new Reader(source);
        Map<String, Object> o = Json.parseObject(text, source);
        r.fields(o, "", Set.of("format", "graph", "devices", "buffers", "tasks", "edges", "sources", "results", "planned_peak", "offset_plans"), Set.of());
        String format = r.string(o, "", "format");
        if (!format.equals(FORMAT)) throw r.bad("format", "is \"" + format + "\", not \"" + FORMAT + "\"");
        Map<String, Object> go = r.object(o, "", "graph");
        r.fields(go, "graph", Set.of("name", "nodes", "fingerprint"), Set.of());
        long nodes = r.integer(go, "graph", "nodes");
        if (nodes != graph.nodes().size()) throw r.bad("graph.nodes", "is " + nodes + " but the graph given has " + graph.nodes().size() + " nodes");
        if (!r.string(go, "graph", "fingerprint").equals(fingerprint(graph))) {
            throw r.bad("graph.fingerprint", "does not match the graph given (another model, or the graph before its weights were split into blocks)");
        }
        r.string(go, "graph", "name");
        List<DeviceSpec> devices = new ArrayList<>();
        List<Object> dl = r.list(o, "", "devices");
        for (int d = 0; d < dl.size(); d++) {
            String p = "devices[" + d + "]";
            Map<String, Object> x = r.element(dl.get(d), p);
            r.fields(x, p, Set.of("name", "kind", "budget_bytes"), Set.of());
            DeviceKind kind = r.enumValue(DeviceKind.class, r.string(x, p, "kind"), p + ".kind");
            String budget = r.string(x, p, "budget_bytes");
            long bytes;
            try {
                bytes = Long.parseLong(budget);
            } catch (NumberFormatException e) {
                throw r.bad(p + ".budget_bytes", "\"" + budget + "\" is not a whole number of bytes");
            }
            if (bytes <= 0) throw r.bad(p + ".budget_bytes", "must be positive, got " + bytes);
            devices.add(new DeviceSpec(r.string(x, p, "name"), kind, bytes));
        }
        if (devices.isEmpty() || !devices.getFirst().kind().sharesHostMemory()) throw r.bad("devices[0]", "must be the host");
        List<Buffer> buffers = new ArrayList<>();
        List<Object> bl = r.list(o, "", "buffers");
        for (int b = 0; b < bl.size(); b++) {
            String p = "buffers[" + b + "]";
            Map<String, Object> x = r.element(bl.get(b), p);
            r.fields(x, p, Set.of("value", "device", "offset", "bytes"), Set.of());
            int dev = r.index(x, p, "device", devices.size(), "device");
            long off = r.integer(x, p, "offset"), bytes = r.integer(x, p, "bytes");
            if (off < -1) throw r.bad(p + ".offset", "must be -1 (host) or an arena offset, got " + off);
            if (bytes < 0) throw r.bad(p + ".bytes", "must not be negative, got " + bytes);
            buffers.add(new Buffer(b, r.string(x, p, "value"), dev, off, bytes));
        }
        List<Task> tasks = new ArrayList<>();
        List<Object> tl = r.list(o, "", "tasks");
        for (int t = 0; t < tl.size(); t++) tasks.add(r.task(r.element(tl.get(t), "tasks[" + t + "]"), t, devices.size(), buffers.size(), graph));
        List<Edge> edges = new ArrayList<>();
        List<Object> el = r.list(o, "", "edges");
        for (int e = 0; e < el.size(); e++) {
            String p = "edges[" + e + "]";
            if (!(el.get(e) instanceof List<?> triple) || triple.size() != 3) throw r.bad(p, "must be [from, to, \"data\" | \"memory\"]");
            int from = r.index(triple.get(0), p + "[0]", tasks.size(), "task"), to = r.index(triple.get(1), p + "[1]", tasks.size(), "task");
            if (from >= to) throw r.bad(p, "goes from task " + from + " to task " + to + ": edges go forward");
            if (!(triple.get(2) instanceof String k)) throw r.bad(p + "[2]", "must be \"data\" or \"memory\"");
            edges.add(new Edge(from, to, r.enumValue(Edge.Kind.class, k.toUpperCase(java.util.Locale.ROOT), p + "[2]")));
        }
        Map<String, Integer> sources = r.bufferMap(o, "sources", buffers.size());
        Map<String, Integer> results = r.bufferMap(o, "results", buffers.size());
        List<Long> peaks = new ArrayList<>();
        List<Object> pl = r.list(o, "", "planned_peak");
        if (pl.size() != devices.size()) throw r.bad("planned_peak", "has " + pl.size() + " entries for " + devices.size() + " devices");
        for (int d = 0; d < pl.size(); d++) peaks.add(r.integer(pl.get(d), "planned_peak[" + d + "]"));
        Map<Integer, OffsetPlan> plans = new LinkedHashMap<>();
        List<Object> ol = r.list(o, "", "offset_plans");
        for (int k = 0; k < ol.size(); k++) {
            String p = "offset_plans[" + k + "]";
            int d = r.index(r.element(ol.get(k), p), p, "device", devices.size(), "device");
            if (devices.get(d).kind().sharesHostMemory()) throw r.bad(p + ".device", "is " + d + ", which shares host memory and has no arena");
            if (plans.containsKey(d)) throw r.bad(p + ".device", "repeats device " + d);
            plans.put(d, r.offsetPlan(r.element(ol.get(k), p), p, d, buffers));
        }
        return new MemGraph(graph, devices, buffers, tasks, edges, sources, results, peaks, plans);
    }

    /** Typed, strict field access whose errors name the source and the field's path. */
    private record Reader(String source) {
        SluiceException bad(String path, String what) { return new SluiceException(source + ": field " + path + " " + what); }

        private static String join(String path, String field) { return path.isEmpty() ? field : path + "." + field; }

        void fields(Map<String, Object> x, String path, Set<String> required, Set<String> optional) {
            for (String k : x.keySet()) {
                if (!required.contains(k) && !optional.contains(k)) throw bad(join(path, k), "is not a field of a memory graph's " + (path.isEmpty() ? "top level" : path));
            }
            for (String k : required) if (!x.containsKey(k)) throw bad(join(path, k), "is missing");
        }

        Map<String, Object> element(Object v, String path) {
            if (!(v instanceof Map)) throw bad(path, "must be an object");
            @SuppressWarnings("unchecked") Map<String, Object> m = (Map<String, Object>) v;
            return m;
        }

        Map<String, Object> object(Map<String, Object> x, String path, String f) { return element(x.get(f), join(path, f)); }

        List<Object> list(Map<String, Object> x, String path, String f) {
            if (!(x.get(f) instanceof List<?> l)) throw bad(join(path, f), "must be a list");
            return new ArrayList<>(l);
        }

        String string(Map<String, Object> x, String path, String f) {
            if (!(x.get(f) instanceof String s)) throw bad(join(path, f), "must be a string");
            return s;
        }

        boolean bool(Map<String, Object> x, String path, String f) {
            if (!(x.get(f) instanceof Boolean b)) throw bad(join(path, f), "must be true or false");
            return b;
        }

        long integer(Map<String, Object> x, String path, String f) { return integer(x.get(f), join(path, f)); }

        long integer(Object v, String path) {
            if (!(v instanceof Double d) || d != Math.rint(d) || Math.abs(d) > EXACT) throw bad(path, "must be a whole number (below 2^53), got " + v);
            return (long) (double) d;
        }

        int index(Map<String, Object> x, String path, String f, int size, String what) { return index(x.get(f), join(path, f), size, what); }

        /** A reference into a list of {@code size}: -1 is refused here (use {@link #ref} where "none" is allowed). */
        int index(Object v, String path, int size, String what) {
            long i = integer(v, path);
            if (i < 0 || i >= size) throw bad(path, "names " + what + " " + i + ", which does not exist (there are " + size + ")");
            return (int) i;
        }

        /** A buffer reference that may be -1 (none). */
        int ref(Object v, String path, int size) {
            long i = integer(v, path);
            if (i == -1) return -1;
            return index(v, path, size, "buffer");
        }

        List<Integer> refs(Map<String, Object> x, String path, String f, int buffers) {
            List<Integer> r = new ArrayList<>();
            List<Object> l = list(x, path, f);
            for (int k = 0; k < l.size(); k++) r.add(ref(l.get(k), join(path, f) + "[" + k + "]", buffers));
            return r;
        }

        <E extends Enum<E>> E enumValue(Class<E> type, String name, String path) {
            try {
                return Enum.valueOf(type, name);
            } catch (IllegalArgumentException e) {
                throw bad(path, "is \"" + name + "\", not one of " + java.util.Arrays.toString(type.getEnumConstants()));
            }
        }

        Map<String, Integer> bufferMap(Map<String, Object> o, String f, int buffers) {
            Map<String, Integer> m = new LinkedHashMap<>();
            for (var e : object(o, "", f).entrySet()) m.put(e.getKey(), index(e.getValue(), f + "." + e.getKey(), buffers, "buffer"));
            return m;
        }

        Box box(Map<String, Object> x, String path) {
            fields(x, path, Set.of("dims", "lo", "hi"), Set.of());
            long[][] a = new long[3][];
            String[] names = {"dims", "lo", "hi"};
            for (int k = 0; k < 3; k++) {
                List<Object> l = list(x, path, names[k]);
                a[k] = new long[l.size()];
                for (int q = 0; q < l.size(); q++) a[k][q] = integer(l.get(q), join(path, names[k]) + "[" + q + "]");
            }
            try {
                return new Box(a[0], a[1], a[2]);
            } catch (IllegalArgumentException e) {
                throw bad(path, "is not a box: " + e.getMessage());
            }
        }

        Tile tile(Map<String, Object> x, String path) {
            fields(x, path, Set.of("kind", "index", "count", "start", "end", "total"), Set.of("box"));
            Tile.Kind kind = enumValue(Tile.Kind.class, string(x, path, "kind"), join(path, "kind"));
            long index = integer(x, path, "index"), count = integer(x, path, "count");
            if (count < 1 || index < 0 || index >= count) throw bad(join(path, "index"), "is " + index + " of " + count + " tiles");
            Box b = x.containsKey("box") ? box(object(x, path, "box"), join(path, "box")) : null;
            if ((kind == Tile.Kind.OUTPUT_BOX) != (b != null)) throw bad(join(path, "box"), kind == Tile.Kind.OUTPUT_BOX ? "is missing" : "belongs to output-box tiles only");
            return new Tile(kind, (int) index, (int) count, integer(x, path, "start"), integer(x, path, "end"), integer(x, path, "total"), b);
        }

        Task task(Map<String, Object> x, int id, int devices, int buffers, Graph graph) {
            String p = "tasks[" + id + "]";
            String kind = string(x, p, "kind");
            Set<String> copyFields = Set.of("kind", "device", "label", "src", "dst", "bytes");
            switch (kind) {
                case "kernel" -> {
                    fields(x, p, Set.of("kind", "device", "label", "node", "inputs", "captured", "outputs", "scratch"), Set.of("tile"));
                    int node = index(x, p, "node", graph.nodes().size(), "node");
                    Tile t = x.containsKey("tile") ? tile(object(x, p, "tile"), p + ".tile") : null;
                    return new Task.Kernel(id, index(x, p, "device", devices, "device"), node, string(x, p, "label"), refs(x, p, "inputs", buffers),
                        refs(x, p, "captured", buffers), refs(x, p, "outputs", buffers), t, ref(x.get("scratch"), p + ".scratch", buffers));
                }
                case "transfer" -> {
                    fields(x, p, Set.of("kind", "device", "label", "lane", "src", "dst", "bytes"), Set.of("start", "end", "rows", "box", "scatter"));
                    LaneKind lane = enumValue(LaneKind.class, string(x, p, "lane"), p + ".lane");
                    boolean shaped = (x.containsKey("rows") && bool(x, p, "rows")) || x.containsKey("box");
                    if (!lane.isCopy() && !shaped) throw bad(p + ".lane", "is " + lane + ": a transfer runs on a copy lane (a rows or box copy may be local)");
                    if (x.containsKey("start") != x.containsKey("end")) throw bad(p + (x.containsKey("start") ? ".end" : ".start"), "is missing");
                    long start = x.containsKey("start") ? integer(x, p, "start") : 0, end = x.containsKey("end") ? integer(x, p, "end") : 0;
                    boolean rows = x.containsKey("rows") && bool(x, p, "rows");
                    Box b = x.containsKey("box") ? box(object(x, p, "box"), p + ".box") : null;
                    boolean scatter = x.containsKey("scatter") && bool(x, p, "scatter");
                    if (scatter && lane != LaneKind.COMPUTE) throw bad(p + ".scatter", "is set on a " + lane + " copy: only a local (COMPUTE) copy states its direction");
                    return new Task.Transfer(id, index(x, p, "device", devices, "device"), lane, index(x, p, "src", buffers, "buffer"),
                        index(x, p, "dst", buffers, "buffer"), nonNegative(x, p, "bytes"), string(x, p, "label"), start, end, rows, b, scatter);
                }
                case "offload", "reload" -> {
                    fields(x, p, copyFields, Set.of());
                    int dev = index(x, p, "device", devices, "device"), src = index(x, p, "src", buffers, "buffer"), dst = index(x, p, "dst", buffers, "buffer");
                    long bytes = nonNegative(x, p, "bytes");
                    String label = string(x, p, "label");
                    return kind.equals("offload") ? new Task.Offload(id, dev, src, dst, bytes, label) : new Task.Reload(id, dev, src, dst, bytes, label);
                }
                default -> throw bad(p + ".kind", "is \"" + kind + "\", not kernel, transfer, offload or reload");
            }
        }

        /**
         * Device d's offset plan: sound ({@link PlanChecker}), and every block names a buffer of d (as
         * {@code id:value}) that carries the block's offset and size.
         */
        OffsetPlan offsetPlan(Map<String, Object> x, String p, int d, List<Buffer> buffers) {
            fields(x, p, Set.of("device", "heuristic", "arena_bytes", "bound", "naive", "plan_nanos", "tried", "in_place", "blocks"), Set.of());
            Map<String, Long> tried = new LinkedHashMap<>();
            for (var e : object(x, p, "tried").entrySet()) tried.put(e.getKey(), integer(e.getValue(), p + ".tried." + e.getKey()));
            Map<String, String> inPlace = new LinkedHashMap<>();
            for (var e : object(x, p, "in_place").entrySet()) {
                if (!(e.getValue() instanceof String v)) throw bad(p + ".in_place." + e.getKey(), "must be a string");
                inPlace.put(e.getKey(), v);
            }
            Map<String, Buffer> byName = new java.util.HashMap<>();
            for (Buffer b : buffers) if (b.device() == d) byName.put(MemGraph.planName(b), b);
            List<Lifetime> lifetimes = new ArrayList<>();
            Map<String, Long> offsets = new LinkedHashMap<>();
            List<Object> bl = list(x, p, "blocks");
            for (int i = 0; i < bl.size(); i++) {
                String q = p + ".blocks[" + i + "]";
                if (!(bl.get(i) instanceof List<?> l) || l.size() != 5 || !(l.get(0) instanceof String name)) {
                    throw bad(q, "must be [\"id:value\", bytes, first task, last task, offset]");
                }
                long bytes = integer(l.get(1), q + "[1]"), first = integer(l.get(2), q + "[2]"), last = integer(l.get(3), q + "[3]"), off = integer(l.get(4), q + "[4]");
                Buffer b = byName.get(name);
                if (b == null) throw bad(q + "[0]", "names \"" + name + "\", which is not a buffer of device " + d);
                if (b.offset() != off || b.bytes() != bytes) {
                    throw bad(q, "places " + name + " at " + off + " (" + bytes + " B) but the buffer is at " + b.offset() + " (" + b.bytes() + " B)");
                }
                try {
                    lifetimes.add(new Lifetime(name, bytes, Math.toIntExact(first), Math.toIntExact(last)));
                } catch (IllegalArgumentException | ArithmeticException e) {
                    throw bad(q, "is not a lifetime: " + e.getMessage());
                }
                if (offsets.put(name, off) != null) throw bad(q + "[0]", "repeats " + name);
            }
            OffsetPlan plan = new OffsetPlan(integer(x, p, "arena_bytes"), offsets, integer(x, p, "bound"), integer(x, p, "naive"),
                string(x, p, "heuristic"), lifetimes, inPlace, tried, integer(x, p, "plan_nanos"));
            List<String> wrong = PlanChecker.violations(plan);
            if (!wrong.isEmpty()) throw bad(p, "is not a sound plan: " + wrong.getFirst());
            return plan;
        }

        long nonNegative(Map<String, Object> x, String path, String f) {
            long v = integer(x, path, f);
            if (v < 0) throw bad(join(path, f), "must not be negative, got " + v);
            return v;
        }
    }
}
