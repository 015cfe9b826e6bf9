package dev.sluice.memgraph;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.cost.Json;
import dev.sluice.kernels.SluiceException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JSON form of a memory graph: saved and loaded back it is equal to the original (every buffer, task, tile, box,
 * edge, source, result and peak), and a malformed or foreign file is refused with the offending field named.
 */
class MemGraphJsonTest {
    /** The U-Net stack at budgets from unconstrained to its minimum: whole nodes, tiles, ranges, offloads (and a reload). */
    static List<MemGraph> plans(Graph g) {
        long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1));
        long min = MemGraph.minimumBudget(g, MemGraphTest.throttled(1));
        List<MemGraph> r = new ArrayList<>();
        for (long b : new long[] {full, full / 2, full / 4, full / 10, min}) r.add(MemGraph.onDevice(g, MemGraphTest.throttled(Math.max(b, min))));
        // and one with a reload (whether the walk reloads anything depends on the budget): the first
        // offloading plan's first offload's host copy copied back into a fresh device buffer
        MemGraph m = r.stream().filter(x -> x.tasks().stream().anyMatch(t -> t instanceof Task.Offload)).findFirst().orElseThrow();
        Task.Offload o = m.tasks().stream().filter(t -> t instanceof Task.Offload).map(t -> (Task.Offload) t).findFirst().orElseThrow();
        List<Buffer> buffers = new ArrayList<>(m.buffers());
        Buffer from = m.buffers().get(o.src());
        buffers.add(new Buffer(buffers.size(), from.value(), from.device(), from.offset(), from.bytes()));
        List<Task> tasks = new ArrayList<>(m.tasks());
        tasks.add(new Task.Reload(tasks.size(), o.device(), o.dst(), buffers.size() - 1, o.bytes(), "reload " + from.value()));
        List<Edge> edges = new ArrayList<>(m.edges());
        edges.add(new Edge(o.id(), tasks.size() - 1, Edge.Kind.DATA));
        r.add(new MemGraph(m.graph(), m.devices(), buffers, tasks, edges, m.sources(), m.results(), m.plannedPeak(), m.offsetPlans()));
        return r;
    }

    @Test void saveThenLoadGivesAnEqualGraph(@TempDir Path dir) {
        Graph g = MemGraphTest.unet(16, 64, 32);
        Set<Tile.Kind> kinds = EnumSet.noneOf(Tile.Kind.class);
        Set<Class<?>> taskKinds = new java.util.HashSet<>();
        boolean ranged = false;
        int k = 0;
        for (MemGraph m : plans(g)) {
            Path f = dir.resolve("plan" + k++ + ".json");
            m.save(f);
            MemGraph back = MemGraph.load(f, m.graph());
            assertEquals(m.buffers(), back.buffers());
            assertEquals(m.tasks(), back.tasks());
            assertEquals(m.edges(), back.edges());
            assertEquals(m, back, "round trip of " + m);
            assertEquals(m.toJson(), back.toJson());
            for (Task t : m.tasks()) {
                taskKinds.add(t.getClass());
                if (t instanceof Task.Kernel x && x.tile() != null) kinds.add(x.tile().kind());
                if (t instanceof Task.Transfer x && (x.ranged() || x.rows() || x.boxed())) ranged = true;
            }
        }
        // the round trips covered every kind of task and some tiles, so the equality above is not about whole nodes only
        assertEquals(Set.of(Task.Kernel.class, Task.Transfer.class, Task.Offload.class, Task.Reload.class), taskKinds);
        assertFalse(kinds.isEmpty(), "no tiles in any plan");
        assertTrue(ranged, "no partial transfers in any plan");
    }

    /**
     * Local copies (rows or boxes moved on the device, lane COMPUTE) round-trip too; a whole copy on the compute lane is
     * refused, naming the field.
     */
    @SuppressWarnings("unchecked")
    @Test void localCopiesRoundTripAndAPlainCopyOnTheComputeLaneIsRefused() {
        Graph g = RowBandsTest.convChain(8, 16, 1, 48, 64, 3, 1, 1, 1);
        long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1)), min = MemGraph.minimumBudget(g, MemGraphTest.throttled(1));
        MemGraph withLocal = null;
        for (int k = 0; k <= 16 && withLocal == null; k++) {
            MemGraph m = MemGraph.onDevice(g, MemGraphTest.throttled(min + (full - min) * k / 16));
            if (m.tasks().stream().anyMatch(t -> t instanceof Task.Transfer x && x.local())) withLocal = m;
        }
        assertNotNull(withLocal, "no plan of the conv chain copies on the device");
        MemGraph back = MemGraph.fromJson(withLocal.toJson(), withLocal.graph(), "plan.json");
        assertEquals(withLocal.tasks(), back.tasks());
        assertEquals(withLocal, back);
        assertTrue(withLocal.summary().contains(" local cop"), withLocal.summary());
        Map<String, Object> t = tree(withLocal);
        int plain = withLocal.tasks().stream().filter(x -> x instanceof Task.Transfer c && !c.local()).findFirst().orElseThrow().id();
        task(t, plain).put("lane", "COMPUTE");
        task(t, plain).remove("rows");
        task(t, plain).remove("box");
        String e = refusal(t, withLocal.graph());
        assertTrue(e.contains("tasks[" + plain + "].lane") && e.contains("copy lane"), e);
    }

    @Test void toStringSummarizesDevicesAndTasks() {
        Graph g = MemGraphTest.unet(16, 64, 32);
        long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1));
        MemGraph m = MemGraph.onDevice(g, MemGraphTest.throttled(full / 4));
        String s = m.toString();
        assertTrue(s.startsWith("MemGraph of 'unet' (64 nodes): " + m.tasks().size() + " tasks"), s);
        assertTrue(s.contains("throttled (THROTTLED): budget " + full / 4 + " B, planned peak " + m.plannedPeak().get(1) + " B"), s);
        assertTrue(s.contains(m.summary()), s);
        assertTrue(s.lines().count() <= 4, "a summary, not a dump: " + s);
    }

    /** The saved form as a mutable tree. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> tree(MemGraph m) { return (Map<String, Object>) Json.parse(m.toJson(), "test"); }

    @SuppressWarnings("unchecked")
    static Map<String, Object> task(Map<String, Object> t, int i) { return (Map<String, Object>) ((List<Object>) t.get("tasks")).get(i); }

    static String refusal(Map<String, Object> t, Graph g) {
        return assertThrows(SluiceException.class, () -> MemGraph.fromJson(Json.write(t), g, "plan.json")).getMessage();
    }

    @SuppressWarnings("unchecked")
    @Test void malformedFilesAreRefusedNamingTheField() {
        Graph g = MemGraphTest.unet(16, 64, 32);
        long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1));
        MemGraph m = MemGraph.onDevice(g, MemGraphTest.throttled(full / 4));
        Graph mg = m.graph();
        int kernel = m.tasks().stream().filter(t -> t instanceof Task.Kernel x && !x.inputs().isEmpty()).findFirst().orElseThrow().id();

        Map<String, Object> t = tree(m);
        task(t, 3).put("colour", "red");
        String e = refusal(t, mg);
        assertTrue(e.contains("plan.json") && e.contains("tasks[3].colour") && e.contains("is not a field"), e);

        t = tree(m);
        ((List<Object>) task(t, kernel).get("inputs")).set(0, 99999.0);
        e = refusal(t, mg);
        assertTrue(e.contains("tasks[" + kernel + "].inputs[0]") && e.contains("buffer 99999"), e);

        t = tree(m);
        t.remove("edges");
        e = refusal(t, mg);
        assertTrue(e.contains("field edges is missing"), e);

        t = tree(m);
        ((Map<String, Object>) ((List<Object>) t.get("buffers")).get(0)).put("offset", 1.5);
        e = refusal(t, mg);
        assertTrue(e.contains("buffers[0].offset") && e.contains("whole number"), e);

        t = tree(m);
        task(t, kernel).put("kind", "sleep");
        e = refusal(t, mg);
        assertTrue(e.contains("tasks[" + kernel + "].kind") && e.contains("sleep"), e);

        t = tree(m);
        List<Object> edge = (List<Object>) ((List<Object>) t.get("edges")).get(0);
        Object from = edge.get(0);
        edge.set(0, edge.get(1));
        edge.set(1, from);
        e = refusal(t, mg);
        assertTrue(e.contains("edges[0]") && e.contains("forward"), e);

        t = tree(m);
        ((Map<String, Object>) ((List<Object>) t.get("devices")).get(1)).put("budget_bytes", "lots");
        e = refusal(t, mg);
        assertTrue(e.contains("devices[1].budget_bytes"), e);

        // another graph (here: the one before its weights were split into blocks, or a smaller model)
        e = assertThrows(SluiceException.class, () -> MemGraph.fromJson(m.toJson(), MemGraphTest.unet(15, 64, 32), "plan.json")).getMessage();
        assertTrue(e.contains("graph.nodes"), e);
        Graph other = MemGraphTest.unet(16, 64, 16);
        e = assertThrows(SluiceException.class, () -> MemGraph.fromJson(m.toJson(), other, "plan.json")).getMessage();
        assertTrue(e.contains("graph.fingerprint"), e);

        String text = m.toJson();
        e = assertThrows(SluiceException.class, () -> MemGraph.fromJson(text.substring(0, text.length() / 2), mg, "plan.json")).getMessage();
        assertTrue(e.contains("plan.json: invalid JSON at character"), e);
    }

    /**
     * Each device with its own memory keeps the planner's plan of its arena: every device buffer a task touched is
     * in it at the offset the buffer carries, the plan is sound, and its arena is within the budget.
     */
    @Test void everyDeviceArenaKeepsItsOffsetPlan() {
        Graph g = MemGraphTest.unet(16, 64, 32);
        for (MemGraph m : plans(g).subList(0, 5)) {
            assertEquals(Set.of(1), m.offsetPlans().keySet(), "only the throttled device has an arena");
            var plan = m.offsetPlan(1).orElseThrow();
            assertTrue(dev.sluice.memgraph.plan.PlanChecker.violations(plan).isEmpty());
            assertTrue(plan.arenaBytes() <= m.devices().get(1).budgetBytes(), plan.arenaBytes() + " over " + m.devices().get(1).budgetBytes());
            Set<Integer> touched = new java.util.HashSet<>();
            for (Task t : m.tasks()) {
                switch (t) {
                    case Task.Kernel k -> { touched.addAll(k.inputs()); touched.addAll(k.outputs()); touched.addAll(k.captured()); }
                    case Task.Transfer x -> { touched.add(x.src()); touched.add(x.dst()); }
                    case Task.Offload x -> { touched.add(x.src()); touched.add(x.dst()); }
                    case Task.Reload x -> { touched.add(x.src()); touched.add(x.dst()); }
                }
            }
            int inPlan = 0;
            for (Buffer b : m.buffers()) {
                if (b.device() != 1 || !touched.contains(b.id())) continue;
                assertEquals(b.offset(), plan.offset(MemGraph.planName(b)), "buffer " + b);
                inPlan++;
            }
            assertEquals(plan.lifetimes().size(), inPlan, "the plan holds exactly the device buffers that tasks touch");
            assertTrue(m.toString().contains("offsets: " + plan.heuristic()), m.toString());
        }
    }

    @SuppressWarnings("unchecked")
    @Test void anOffsetPlanThatDisagreesWithItsBuffersIsRefused() {
        Graph g = MemGraphTest.unet(16, 64, 32);
        long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1));
        MemGraph m = MemGraph.onDevice(g, MemGraphTest.throttled(full / 4));
        Graph mg = m.graph();

        Map<String, Object> t = tree(m);
        Map<String, Object> plan = (Map<String, Object>) ((List<Object>) t.get("offset_plans")).get(0);
        List<Object> block = (List<Object>) ((List<Object>) plan.get("blocks")).get(0);
        block.set(4, ((Double) block.get(4)) + 64);
        String e = refusal(t, mg);
        assertTrue(e.contains("offset_plans[0].blocks[0]") && e.contains("but the buffer is at"), e);

        // two blocks live together moved onto one another (buffers moved with them): sound no more
        t = tree(m);
        plan = (Map<String, Object>) ((List<Object>) t.get("offset_plans")).get(0);
        List<Object> blocks = (List<Object>) plan.get("blocks");
        int a = -1, b = -1;
        for (int i = 0; i < blocks.size() && b < 0; i++) {
            for (int j = i + 1; j < blocks.size(); j++) {
                List<Object> x = (List<Object>) blocks.get(i), y = (List<Object>) blocks.get(j);
                boolean together = (Double) x.get(2) <= (Double) y.get(3) && (Double) y.get(2) <= (Double) x.get(3);
                if (together && (Double) x.get(1) > 0 && (Double) y.get(1) > 0 && !x.get(4).equals(y.get(4))) { a = i; b = j; break; }
            }
        }
        assertTrue(b >= 0, "no two live-together blocks in the plan");
        List<Object> x = (List<Object>) blocks.get(a), y = (List<Object>) blocks.get(b);
        y.set(4, x.get(4));
        String yName = (String) y.get(0);
        int yId = Integer.parseInt(yName.substring(0, yName.indexOf(':')));
        ((Map<String, Object>) ((List<Object>) t.get("buffers")).get(yId)).put("offset", x.get(4));
        e = refusal(t, mg);
        assertTrue(e.contains("offset_plans[0]") && e.contains("not a sound plan") && e.contains("overlap"), e);

        t = tree(m);
        ((List<Object>) t.get("offset_plans")).add(new java.util.LinkedHashMap<>(Map.of("device", 0.0)));
        e = refusal(t, mg);
        assertTrue(e.contains("offset_plans[1].device") && e.contains("host memory"), e);
    }

    @Test void loadingAMissingFileNamesIt(@TempDir Path dir) {
        Path f = dir.resolve("absent.json");
        String e = assertThrows(SluiceException.class, () -> MemGraph.load(f, MemGraphTest.unet(2, 2, 8))).getMessage();
        assertTrue(e.contains(f.toString()) && e.contains("cannot read"), e);
        assertFalse(Files.exists(f));
    }
}
