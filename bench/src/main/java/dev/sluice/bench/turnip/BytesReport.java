package dev.sluice.bench.turnip;

import dev.sluice.graph.Model;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TilingOptions;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.Task;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.runtime.zoo.Zoo;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code turnip-bench --bytes-only}: the bytes each zoo model's plans move over the link at 100/50/25/10% of the
 * no-offload need, against {@link BytesBound}, without running anything. The count is the plan's copy tasks' bytes
 * (H2D and D2H transfers, offloads, reloads; local copies cross no link), the same bytes a run's trace adds up, so
 * comparing two builds needs no quiet host. Optionally the values that move the most, to see where the bytes go.
 */
final class BytesReport {
    private BytesReport() {}

    static int run(Args args, PrintStream out, int topValues) {
        List<Zoo.Model> models = args.option("models") == null ? Zoo.models()
            : Arrays.stream(args.option("models").split(",")).map(String::trim).map(Zoo::find).toList();
        SessionOptions.Builder b = SessionOptions.builder();
        for (String f : TurnipBenchCommand.TILING_FLAGS) if (args.option(f) != null) b.set(f, args.option(f));
        TilingOptions tiling = b.build().tiling();
        if (!tiling.equals(TilingOptions.allOn())) out.println("tiling switches: " + tiling);
        for (Zoo.Model z : models) {
            try (Session s = Session.open(z.path(), 1)) {
                Map<String, Tensor> in = z.sampleInputs(1);
                Model m = MeasuredShapes.of(SessionInternals.executorFor(s, in), in);
                long full = MemGraph.fullNeed(m.graph(), TurnipBenchCommand.THROTTLED);
                long min = MemGraph.minimumBudget(m.graph(), TurnipBenchCommand.THROTTLED, tiling);
                for (int pct : new int[] {100, 50, 25, 10}) {
                    long budget = Math.max(min, full * pct / 100);
                    MemGraph plan = MemGraph.onDevice(m.graph(), TurnipBenchCommand.THROTTLED.withBudget(budget), tiling);
                    long up = 0, down = 0;
                    Map<String, Long> byValue = new HashMap<>();
                    for (Task t : plan.tasks()) {
                        if (!t.lane().isCopy()) continue;
                        if (t.lane() == dev.sluice.kernels.device.LaneKind.H2D) up += t.bytes(); else down += t.bytes();
                        String[] w = t.label().split(" ");
                        // a ranged copy's label glues its range to the name (v[0:560]): count it as v's
                        String v = w.length > 1 ? w[1] : t.label();
                        if (v.endsWith("]") && v.indexOf('[') > 0 && Double.isNaN(size(m, v))) v = v.substring(0, v.indexOf('['));
                        byValue.merge(v, t.bytes(), Long::sum);
                    }
                    long bound = BytesBound.of(m.graph(), budget);
                    long anyOrder = BytesBound.anyOrder(m.graph(), budget);
                    out.printf(Locale.ROOT, "%s %3d%% (%d B%s): plan moves %d B (h2d %d, d2h %d), lower bound %d B (%s; the fullest cut alone %d), moved/bound %.2fx; any-order bound %d B, moved/that %.2fx%n",
                        z.name(), pct, budget, budget == full * pct / 100 ? "" : ", the minimum", up + down, up, down, bound,
                        BytesBound.explain(m.graph(), budget), BytesBound.fullestCut(m.graph(), budget), (double) (up + down) / bound,
                        anyOrder, (double) (up + down) / anyOrder);
                    out.println("    " + oversized(m, budget, byValue));
                    byValue.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(topValues)
                        .forEach(e -> out.printf(Locale.ROOT, "    %-40s %,12d B moved, %.2fx its size%n", e.getKey(), e.getValue(),
                            (double) e.getValue() / size(m, e.getKey())));
                }
            }
        }
        return 0;
    }

    /**
     * Where the gap to the bound is structural: the intermediates larger than the whole budget. A plan keeps a value
     * resident whole or not at all, so each of those goes down and comes back up whole (once per reader it is
     * evicted before), while the bound charges only the part beyond the budget ({@code 2 (size - budget)} where it
     * stands alone at a cut). Their share of the bytes says how much keeping part of a value resident could save.
     */
    private static String oversized(Model m, long budget, Map<String, Long> byValue) {
        var g = m.graph();
        java.util.Set<String> hostBorn = new java.util.HashSet<>(g.inputNames());
        hostBorn.addAll(g.initializers().keySet());
        long moved = 0, total = 0, beyond = 0;
        int count = 0;
        for (var e : byValue.entrySet()) {
            total += e.getValue();
            double size = size(m, e.getKey());
            if (hostBorn.contains(e.getKey()) || Double.isNaN(size) || size <= budget) continue;
            moved += e.getValue();
            beyond += 2 * ((long) size - budget);
            count++;
        }
        return String.format(Locale.ROOT, "%d intermediates larger than the budget move %d B (%.0f%% of the plan's bytes); 2 (size - budget) of each is %d B",
            count, moved, total == 0 ? 0.0 : 100.0 * moved / total, beyond);
    }

    private static double size(Model m, String v) {
        Tensor c = m.graph().initializers().get(v);
        if (c != null) return c.byteSize();
        var t = m.graph().typeOf(v);
        return t == null || !t.isStatic() ? Double.NaN : Tensor.byteSize(t.dtype(), t.shape().toShape());
    }
}
