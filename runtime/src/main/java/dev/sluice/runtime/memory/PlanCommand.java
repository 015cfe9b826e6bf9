package dev.sluice.runtime.memory;

import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.graph.Value;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.plan.Bounds;
import dev.sluice.memgraph.plan.Lifetime;
import dev.sluice.memgraph.plan.MemoryProfile;
import dev.sluice.memgraph.plan.OffsetPlan;
import dev.sluice.memgraph.plan.PlanChecker;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import dev.sluice.runtime.cli.InputSources;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import dev.sluice.runtime.testdata.TestDataRunner;
import dev.sluice.runtime.zoo.Zoo;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code sluice plan MODEL|TESTDATA_DIR}: profiles one run, plans the intermediates into one arena, checks
 * the plan, runs again from the arena to confirm bit-identical outputs, and reports naive, planned and
 * lower-bound bytes.
 */
public final class PlanCommand implements Command {
    @Override public String name() { return "plan"; }
    @Override public String summary() { return "profile a run and plan its tensors into one arena (naive, planned, lower bound)"; }
    @Override public Set<String> valueOptions() { return Set.of("input", "dim", "seed", "threads", "picture", "top"); }
    @Override public String help() {
        return """
            usage: sluice plan MODEL.onnx|TESTDATA_DIR|ZOO_NAME [--input NAME=FILE.pb]... [--dim SYMBOL=SIZE]... [--seed N]
                               [--threads N] [--picture FILE.png] [--top N]

            Runs the model once on the given inputs (a test-data folder supplies model.onnx and the inputs of
            test_data_set_0; a zoo model, by name or file, its sample inputs; other inputs get seeded random
            values) recording every intermediate tensor's
            size and lifetime, then packs them into one arena with each heuristic and keeps the smallest.
            Checks the plan (no two live tensors overlap, alignment, bounds), runs the model again from the
            arena and compares the outputs bit for bit with the first run. Prints naive bytes (no reuse),
            planned arena bytes, the lower bound (most bytes live at one step, blocks aligned, in-place reuse
            counted), planning time and the --top N (default 10) largest tensors; with --picture, draws the
            packing. Weights and constants are not in the arena: they live for the whole session and are packed
            side by side in a segment of their own (their bytes are reported apart). Ends with
              plan: naive=<bytes> planned=<bytes> bound=<bytes> ratio=<planned/bound> weights=<bytes>""";
    }

    @Override public int run(Args args, PrintStream out) throws IOException {
        if (args.positionals().size() != 1) throw new SluiceException("plan takes exactly one MODEL file or test-data folder (see 'sluice help plan')");
        Path arg = Path.of(args.positionals().get(0));
        Path file = Files.isDirectory(arg) ? arg.resolve("model.onnx") : arg;
        Zoo.Model zoo = Files.isRegularFile(file) ? Zoo.byFileName(file) : null;
        if (!Files.isRegularFile(file) && !Files.exists(arg)) {
            try {
                zoo = Zoo.find(args.positionals().get(0)); // a zoo name: 'sluice plan ppocr-rec'
                file = zoo.path();
            } catch (SluiceException e) {
                throw new SluiceException(arg + ": no such model file, test-data folder or zoo model");
            }
        }
        if (!Files.isRegularFile(file)) throw new SluiceException(file + ": no such file");
        int threads = args.intOption("threads", Math.min(8, Runtime.getRuntime().availableProcessors()), 1);
        long seed = args.intOption("seed", 42);
        int top = args.intOption("top", 10, 0);
        // checked before profiling: an unwritable picture path is the user's mistake, found in a moment
        Path picture = args.option("picture") == null ? null : dev.sluice.runtime.cli.OutputPaths.file("--picture", args.option("picture"));
        try (Session s = Session.open(file, threads).memoryPlanning(false)) {
            Map<String, Tensor> inputs = new LinkedHashMap<>();
            if (Files.isDirectory(arg)) {
                List<Path> sets = TestDataRunner.dataSets(arg);
                if (!sets.isEmpty()) {
                    inputs.putAll(TestDataRunner.readInputs(sets.get(0), s.inputs()));
                    out.println("inputs from " + sets.get(0));
                }
            }
            if (zoo != null && args.all("input").isEmpty() && args.all("dim").isEmpty()) {
                inputs.putAll(zoo.sampleInputs(seed));
                out.println("inputs: the zoo's sample inputs for " + zoo.name() + " (seed " + seed + ")");
            }
            List<Value> missing = new ArrayList<>();
            for (Value v : s.inputs()) if (!inputs.containsKey(v.name())) missing.add(v);
            List<String> specs = args.all("input");
            List<Value> rest = new ArrayList<>(missing);
            for (String spec : specs) {
                String name = spec.contains("=") ? spec.substring(0, spec.indexOf('=')) : spec;
                inputs.remove(name);
                s.inputs().stream().filter(v -> v.name().equals(name) && !rest.contains(v)).forEach(rest::add);
            }
            inputs.putAll(InputSources.build(rest, specs, args.all("dim"), seed, out));
            Report r = profileAndPlan(s, inputs);
            print(r, file.toString(), top, out);
            if (picture != null) {
                try {
                    PlanPicture.write(r.plan, r.profile.steps(), file.getFileName().toString(), picture);
                } catch (IOException e) {
                    throw dev.sluice.runtime.cli.OutputPaths.cannotWrite("--picture", picture, e);
                }
                out.println("picture: " + picture);
            }
            out.printf("plan: naive=%d planned=%d bound=%d ratio=%.4f weights=%d%n", r.plan.naive(), r.plan.arenaBytes(), r.plan.bound(),
                r.plan.ratio(), r.weights.bytes());
            return r.violations.isEmpty() && r.mismatch == null ? 0 : 1;
        }
    }

    /** Everything the report prints, measured in one call. */
    public record Report(MemoryProfile profile, OffsetPlan plan, List<String> violations, String mismatch, int outputs,
                         long profileNanos, long plannedNanos, long dataBytes, WeightArena.Figures weights) {}

    /**
     * The plan figures of a session that has run with memory planning on, for a benchmark's report:
     * {@code naive_mib= planned_mib= bound_mib= ratio= weights_mib=} of its largest plan (the one made for
     * the inputs it ran on), or null if the session made no plan.
     */
    public static String benchFigures(Session s) {
        MemoryPlans plans = SessionInternals.memoryPlans(s);
        if (plans == null || plans.plans().isEmpty()) return null;
        OffsetPlan p = plans.plans().stream().map(MemoryPlans.Entry::plan).max(Comparator.comparingLong(OffsetPlan::arenaBytes)).orElseThrow();
        return String.format(java.util.Locale.ROOT, "naive_mib=%.2f planned_mib=%.2f bound_mib=%.2f ratio=%.4f weights_mib=%.2f",
            p.naive() / 1048576.0, p.arenaBytes() / 1048576.0, p.bound() / 1048576.0, p.ratio(), WeightArena.of(s.model().graph()).bytes() / 1048576.0);
    }

    /** Profiles a run, plans it, checks the plan and compares a planned run with the profiled one bit for bit. */
    public static Report profileAndPlan(Session s, Map<String, Tensor> inputs) {
        GraphExecutor exec = SessionInternals.executorFor(s, inputs);
        ProfilingListener prof = new ProfilingListener(exec.model().graph(), s.registry());
        long t0 = System.nanoTime();
        Map<String, Tensor> reference = exec.run(inputs, OutputAllocator.FRESH, prof);
        long profileNanos = System.nanoTime() - t0;
        MemoryProfile profile = prof.profile();
        MemoryPlans plans = new MemoryPlans();
        OffsetPlan plan = plans.plan(exec, profile).plan();
        List<String> violations = PlanChecker.violations(plan);
        String mismatch = null;
        long plannedNanos = 0;
        if (violations.isEmpty()) {
            MemorySegment arena = Arena.ofAuto().allocate(Math.max(plan.arenaBytes(), Tensor.ALIGNMENT), Tensor.ALIGNMENT);
            PlannedAllocator alloc = new PlannedAllocator(PlannedAllocator.Table.of(exec.model().graph(), plan), arena, true);
            long t1 = System.nanoTime();
            Map<String, Tensor> planned = exec.run(inputs, alloc, ExecutionListener.NONE);
            plannedNanos = System.nanoTime() - t1;
            mismatch = compare(reference, planned, arena);
        }
        long data = 0;
        for (Lifetime l : profile.lifetimes()) data += prof.dataBytes(l.value());
        return new Report(profile, plan, violations, mismatch, reference.size(), profileNanos, plannedNanos, data,
            WeightArena.of(s.model().graph()));
    }

    /** Null if both runs gave the same outputs bit for bit and no output lies in the arena, else what differs. */
    public static String compare(Map<String, Tensor> reference, Map<String, Tensor> planned, MemorySegment arena) {
        for (var e : reference.entrySet()) {
            Tensor p = planned.get(e.getKey());
            if (p == null) return "output '" + e.getKey() + "' missing from the planned run";
            if (!p.sameBits(e.getValue())) return "output '" + e.getKey() + "' differs between the planned and the unplanned run";
            long a = p.data().address(), lo = arena.address(), hi = lo + arena.byteSize();
            if (p.data().isNative() && a >= lo && a < hi) return "output '" + e.getKey() + "' lies in the arena";
        }
        return null;
    }

    private static void print(Report r, String model, int top, PrintStream out) {
        OffsetPlan p = r.plan;
        MemoryProfile prof = r.profile;
        long[] peak = Bounds.peak(p.lifetimes());
        out.println("model " + model + ": " + prof.steps() + " steps, " + prof.lifetimes().size() + " intermediate tensors ("
            + r.dataBytes + " data bytes), " + r.outputs + " outputs");
        out.println("weights and constants (planned apart, live for the session): " + r.weights
            + (prof.constantBytes() > r.weights.bytes() ? "; with constants folded for these shapes " + prof.constantBytes() + " bytes" : ""));
        out.printf("profiled run: %.1f ms; planned run: %.1f ms%n", r.profileNanos / 1e6, r.plannedNanos / 1e6);
        out.println("in-place reuse: " + p.inPlace().size() + " of " + prof.inPlace().size() + " candidates taken");
        out.printf("naive (no reuse):   %,15d bytes%n", p.naive());
        out.printf("planned arena:      %,15d bytes  (%s)%n", p.arenaBytes(), p.heuristic());
        out.printf("lower bound:        %,15d bytes  (peak without in-place reuse %,d at step %d)%n", p.bound(), peak[0], peak[1]);
        out.printf("ratio planned/bound: %.4f; naive/planned: %.2f%n", p.ratio(), p.arenaBytes() == 0 ? 1.0 : (double) p.naive() / p.arenaBytes());
        for (var e : p.tried().entrySet()) out.printf("  heuristic %-26s %,15d bytes%n", e.getKey(), e.getValue());
        out.printf("planning time: %.3f ms%n", p.planNanos() / 1e6);
        List<Lifetime> largest = new ArrayList<>(p.lifetimes());
        largest.sort(Comparator.comparingLong(Lifetime::bytes).reversed());
        if (!largest.isEmpty()) out.println("largest tensors:");
        for (Lifetime l : largest.subList(0, Math.min(top, largest.size()))) {
            out.printf("  %-40s %,13d bytes  steps %d..%d  offset %,d%s%n", l.value(), l.bytes(), l.firstStep(), l.lastStep(),
                p.offset(l.value()), p.inPlace().containsKey(l.value()) ? "  (in place over " + p.inPlace().get(l.value()) + ")" : "");
        }
        out.println(r.violations.isEmpty() ? "checker: plan is sound (no live overlap, " + Tensor.ALIGNMENT + "-byte aligned, inside the arena)"
            : "checker: " + r.violations.size() + " violation(s): " + String.join("; ", r.violations.subList(0, Math.min(5, r.violations.size()))));
        if (r.violations.isEmpty()) {
            out.println(r.mismatch == null ? "planned run: " + r.outputs + " outputs bit-identical to the unplanned run"
                : "planned run: " + r.mismatch);
        }
    }
}
