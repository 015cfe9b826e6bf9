package dev.sluice.runtime.cli;

import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.placement.MilpPlacer;
import dev.sluice.memgraph.placement.PlacementProblem;
import dev.sluice.memgraph.placement.Simulator;
import dev.sluice.memgraph.placement.Strategies;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.compile.PlacementPipeline;
import dev.sluice.runtime.compile.SimulatorCalibration;
import dev.sluice.runtime.dispatch.Dispatcher;
import dev.sluice.runtime.dispatch.MemGraphExecutor;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code sluice place MODEL --devices cpu,ACCEL}: profiles, coarsens, runs the placement strategies on one cost
 * model, makes each placement's MemGraph (exact accelerator peak), predicts it with the simulator and, where every
 * device is real, measures it and checks its outputs against the one-device run bit for bit.
 */
final class PlaceCommand implements Command {
    @Override public String name() { return "place"; }
    @Override public String summary() { return "place a model's nodes on the cpu and an accelerator (heft, chrion, milp, ...)"; }
    @Override public Set<String> valueOptions() {
        Set<String> s = new java.util.HashSet<>(Set.of("devices", "objective", "slo", "solver", "runs", "threads", "bandwidth", "input", "dim", "seed",
            "out", "milp-seconds", "coarsen", "picture"));
        s.addAll(TILING); // each placement's MemGraph is split as the session's tiling switches allow
        return s;
    }

    /** The session switches that choose a MemGraph's tiles ({@code --tiling}, {@code --tiling-rows}, ...). */
    static final Set<String> TILING = SessionOptions.SWITCHES.keySet().stream().filter(k -> k.startsWith("tiling"))
        .collect(java.util.stream.Collectors.toUnmodifiableSet());

    @Override public Set<String> flags() { return Set.of("overlap-bound"); }
    @Override public String help() {
        return """
            usage: sluice place MODEL.onnx|TESTDATA_DIR|ZOO_NAME --devices cpu,ACCEL [--objective latency|memory]
                                [--slo MS|Nx] [--solver NAME|all] [-o placement.json] [--threads N] [--runs N]
                                [--bandwidth BYTES_PER_S] [--milp-seconds S] [--coarsen FRACTION] [--picture FILE.png]
                                [--tiling on|off] [--tiling-KIND on|off ...] (which splits each MemGraph may use, see 'sluice help run')
                                [--overlap-bound]

            ACCEL is throttled[:BUDGET] (a CPU standing in for an accelerator, its budget P% of what the model needs
            on it with nothing offloaded, or BYTES), tornadovm[:BUDGET] (TornadoVM's device, needs TORNADOVM_HOME:
            its kernels in a device arena of the budget; outputs are checked against the one-device run within
            the conformance tolerance, not bit for bit) or a description FILE.json[:BUDGET] (nvidia-t4.json and
            nvidia-a10.json are bundled): a device that is not here, whose figures are estimates.
            Profiles the model (see 'sluice help profile'), merges chains of nodes (MOIRAI's coarsening; the printed
            bound is how much the optimum can worsen, at most --coarsen (default 0.02) of a lower bound), then runs
            each strategy on the coarse graph: all-cpu, all-accel, heft, chrion-latency (least makespan, branches on
            both devices at once), chrion-memory (least accelerator memory with the predicted latency within the SLO;
            --slo 1.2x means 1.2 times all-accel's predicted latency, the default), milp (CP-SAT, exact, at most
            --milp-seconds, default 10, warm-started from the best heuristic, with its proven gap). Each placement is
            turned into its MemGraph (the accelerator's peak is the planner's, exact), the simulator predicts its
            latency, and where every device is real it runs --runs times (default 5) and its outputs are compared
            with the one-device run bit for bit. Prints per strategy
              place: <strategy> predicted_ms=<p> [measured_ms=<m>] accel_peak_bytes=<b> solver_ms=<t> nodes=<coarse>
            then the chosen one (least predicted latency, or least accelerator peak within the SLO) as
              place: chosen=<strategy> ...
            and the simulator's error where measured. -o writes the chosen placement as JSON (for run --placement);
            --picture draws the chosen placement's predicted schedule, a row per lane, with the accelerator's memory
            over time beneath it. --overlap-bound also solves the latency MILP with the accelerator's capacity lifted
            (the problem chrion-latency solves) and prints its proven floor as a multiple of all-accel's latency, in the
            placement model: the most that running branches on the cpu and the accelerator at once can gain.""";
    }

    /** The floor under every placement's latency in the placement model, capacity aside, against all-accel's. */
    static void printOverlapBound(PlacementProblem p, double seconds, PrintStream out) {
        Strategies.Result accel = Strategies.allOn(p, 1, "all-accel"), lat = Strategies.chrionLatency(p);
        MilpPlacer.Proof b = MilpPlacer.latencyIgnoringCapacity(p, lat, seconds);
        double a = accel.makespan();
        out.printf("overlap bound (placement model, capacity aside): no placement beats %.4f ms = %.3fx all-accel's %.4f ms; best found %.4f ms"
            + " = %.3fx (%s, gap %.2f%%); chrion-latency %.4f ms = %.3fx%n", b.bound(), b.bound() / a, a, b.objective(), b.objective() / a,
            b.status().toLowerCase(), 100 * b.gap(), lat.makespan(), lat.makespan() / a);
    }

    @Override public int run(Args args, PrintStream out) {
        int threads = args.intOption("threads", SessionOptions.defaultThreads());
        String devices = args.option("devices");
        if (devices == null) throw new SluiceException("place needs --devices cpu,ACCEL, e.g. --devices cpu,throttled:50% or cpu,nvidia-t4.json");
        SessionOptions.Builder b = SessionOptions.builder().threads(threads).devices(devices.split(","))
            .bandwidth(args.option("bandwidth") == null ? 0 : SessionOptions.parseBytes("--bandwidth", args.option("bandwidth")));
        if (args.option("objective") != null) b.objective(args.option("objective"));
        if (args.option("slo") != null) b.slo(args.option("slo"));
        for (String t : TILING) if (args.option(t) != null) b.set(t, args.option(t));
        SessionOptions o = b.build();
        String solver = args.option("solver", "all");
        List<String> strategies = solver.equals("all") ? Strategies.NAMES : List.of(solver);
        for (String s : strategies) {
            if (!Strategies.NAMES.contains(s)) throw new SluiceException("--solver must be one of " + Strategies.NAMES + " or all, got '" + s + "'");
        }
        int runs = args.intOption("runs", 5);
        double milpSeconds = number(args.option("milp-seconds", "10"), "--milp-seconds");
        double coarsen = number(args.option("coarsen", Double.toString(PlacementPipeline.COARSEN_FRACTION)), "--coarsen");
        String outFile = PlacedModel.outFile(args);
        try (PlacedModel pm = PlacedModel.open(args, threads, out)) {
            PlacementPipeline.Setup s = PlacementPipeline.prepare(pm.staticModel(), pm.session().registry(), pm.inputs(), o, runs, coarsen);
            out.print(s.costs());
            out.println(s.coarse());
            double slo = PlacementPipeline.sloMillis(s, o.slo());
            out.printf("slo: %.3f ms (%s; applied to predicted latencies)%n", slo, o.slo() == null ? "default 1.2x all-accel" : o.slo());
            if (!s.allReal()) out.println("note: " + s.accelerator() + " is described, not on this machine: its figures are estimates and nothing runs on it");
            List<Row> rows = new ArrayList<>();
            // the exact solver may take its whole time limit: say which strategy is being solved
            try (Progress progress = Progress.start("solving " + strategies.size() + " placement strategies", strategies.size(), out)) {
                for (String name : strategies) {
                    progress.detail(name);
                    Strategies.Result r = PlacementPipeline.solve(s, name, o.objective(), slo, milpSeconds);
                    PlacementPipeline.Outcome oc = PlacementPipeline.realize(s, r);
                    progress.advance(1);
                    if (oc.refusal() != null) {
                        out.println("place: " + name + " refused: " + oc.refusal());
                        continue;
                    }
                    rows.add(new Row(name, oc, s.coarse().after()));
                }
            }
            Simulator.Overheads over = Simulator.Overheads.NONE;
            dev.sluice.graph.cost.CostModel calibrated = s.costs();
            if (s.allReal()) {
                measureInterleaved(s, rows, pm, runs);
                Row cpu = find(rows, "all-cpu"), acc = find(rows, "all-accel");
                if (cpu != null && acc != null) {
                    SimulatorCalibration cal = SimulatorCalibration.of(s.costs(), cpu.outcome().memGraph(), cpu.traces, acc.outcome().memGraph(), acc.traces);
                    over = cal.overheads();
                    calibrated = cal.costs();
                    out.printf("simulator: calibrated on the all-cpu and all-accel traces: node times, the link, %.4f ms a task on the host"
                        + " (%.4f ms on the accelerator), hand-offs %.4f ms to a compute lane and %.4f ms to a copy lane, %.4f ms a run%n",
                        over.hostTaskMillis(), over.taskMillis(), over.wakeMillis(), over.copyWakeMillis(), over.runMillis());
                    for (Row r : rows) r.predicted = Simulator.run(r.outcome().memGraph(), calibrated, over).makespanMillis();
                }
            }
            for (Row row : rows) {
                out.println("place: " + row.fields() + row.check);
                if (!row.outcome().result().note().isEmpty()) out.println("  " + row.strategy() + ": " + row.outcome().result().note());
            }
            if (args.flag("overlap-bound")) printOverlapBound(s.coarse().problem(), milpSeconds, out);
            if (rows.isEmpty()) throw new SluiceException("no strategy gave a placement that fits");
            Row chosen = choose(rows, o.objective(), slo);
            out.println("place: chosen=" + chosen.fields());
            double[] err = rows.stream().filter(r -> !Double.isNaN(r.measuredMs()) && !r.strategy().equals("all-cpu") && !r.strategy().equals("all-accel"))
                .mapToDouble(r -> Math.abs(r.predicted() - r.measuredMs()) / r.measuredMs()).sorted().toArray();
            if (err.length > 0) {
                out.printf("simulator: median |predicted - measured| / measured = %.1f%% over %d placements not used to calibrate (max %.1f%%)%n",
                    100 * err[err.length / 2], err.length, 100 * err[err.length - 1]);
            }
            Map<String, Integer> counts = chosen.outcome.placement().counts();
            out.println("chosen placement: " + counts);
            if (args.option("picture") != null) {
                Simulator.Prediction pic = Simulator.run(chosen.outcome.memGraph(), calibrated, over);
                try {
                    dev.sluice.runtime.compile.SchedulePicture.write(pic, s.deviceNames(), pm.file().getFileName() + ": " + chosen.strategy,
                        Path.of(args.option("picture")));
                } catch (java.io.IOException e) {
                    throw new SluiceException(args.option("picture") + ": cannot write: " + e.getMessage());
                }
                out.println("picture: " + args.option("picture"));
            }
            if (outFile != null) {
                chosen.outcome.placement().save(Path.of(outFile));
                out.println("placement written to " + outFile);
            }
        }
        return 0;
    }

    /**
     * Measures every placement on this machine: each checked once against the one-device run bit for bit, warmed up,
     * then run in turns ({@code runs} rounds, one run of each placement per round) so that a busy machine slows
     * them alike; the median per placement.
     */
    static void measureInterleaved(PlacementPipeline.Setup s, List<Row> rows, PlacedModel pm, int runs) {
        Map<String, Tensor> ref = pm.reference();
        List<MemGraphExecutor> exs = new ArrayList<>();
        try {
            for (Row row : rows) {
                MemGraphExecutor ex = PlacementPipeline.executor(s, row.outcome(), Dispatcher.Order.DYNAMIC, null);
                exs.add(ex);
                MemGraphExecutor.Result first = ex.run(pm.inputs());
                // on tornadovm the accelerator runs other kernels: the one-device run's outputs within tolerance, not its bits
                boolean tornado = s.accelerator().equals("tornadovm");
                String bad = tornado ? PlacedModel.outsideTolerance(ref, first.outputs()) : PlacedModel.mismatch(ref, first.outputs());
                row.check = bad == null ? "" : " WARNING outputs differ from the one-device run" + (tornado ? " beyond the tolerance: " : ": ") + bad;
                PlacementPipeline.measure(ex, pm.inputs(), 1);
            }
            List<List<dev.sluice.runtime.dispatch.Trace>> t = new ArrayList<>();
            for (int i = 0; i < rows.size(); i++) t.add(new ArrayList<>());
            for (int r = 0; r < runs; r++) {
                for (int i = 0; i < rows.size(); i++) {
                    MemGraphExecutor.Result res = exs.get(i).run(pm.inputs());
                    t.get(i).add(res.trace());
                    for (Tensor x : res.outputs().values()) x.close();
                }
            }
            for (int i = 0; i < rows.size(); i++) {
                t.get(i).sort(java.util.Comparator.comparingLong(dev.sluice.runtime.dispatch.Trace::wallNanos));
                rows.get(i).traces = t.get(i);
                rows.get(i).trace = t.get(i).get(runs / 2);
                rows.get(i).measured = rows.get(i).trace.wallNanos() / 1e6;
            }
        } finally {
            for (MemGraphExecutor ex : exs) PlacementPipeline.close(ex, false);
        }
    }

    /** One strategy's line: what it placed, what the simulator predicts, what was measured (NaN where not). */
    static final class Row {
        final String strategy;
        final PlacementPipeline.Outcome outcome;
        final int nodes;
        double predicted, measured = Double.NaN;
        String check = "";

        Row(String strategy, PlacementPipeline.Outcome outcome, int nodes) {
            this.strategy = strategy;
            this.outcome = outcome;
            this.nodes = nodes;
            this.predicted = outcome.prediction().makespanMillis();
        }

        String strategy() { return strategy; }

        PlacementPipeline.Outcome outcome() { return outcome; }

        double predicted() { return predicted; }

        double measuredMs() { return measured; }

        /** The measured run whose wall time is the median, and every measured run (null until measured). */
        dev.sluice.runtime.dispatch.Trace trace;
        List<dev.sluice.runtime.dispatch.Trace> traces;

        String fields() {
            return String.format("%s predicted_ms=%.3f%s accel_peak_bytes=%d solver_ms=%.1f nodes=%d", strategy, predicted,
                Double.isNaN(measured) ? "" : String.format(" measured_ms=%.3f", measured), outcome.acceleratorPeak(),
                outcome.result().solverMillis(), nodes);
        }
    }

    private static Row find(List<Row> rows, String strategy) {
        return rows.stream().filter(r -> r.strategy().equals(strategy)).findFirst().orElse(null);
    }

    /** Least predicted latency; or least accelerator peak among those within the SLO (the fastest if none is). */
    static Row choose(List<Row> rows, SessionOptions.Objective objective, double slo) {
        if (objective == SessionOptions.Objective.LATENCY) {
            return rows.stream().min(java.util.Comparator.comparingDouble(Row::predicted)).orElseThrow();
        }
        return rows.stream().filter(r -> r.predicted() <= slo).min(java.util.Comparator.comparingLong(r -> r.outcome.acceleratorPeak()))
            .orElseGet(() -> choose(rows, SessionOptions.Objective.LATENCY, slo));
    }

    private static double number(String s, String what) {
        try {
            double v = Double.parseDouble(s);
            if (!(v >= 0) || Double.isInfinite(v)) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw new SluiceException(what + " must be a number >= 0, got '" + s + "'");
        }
    }

}
