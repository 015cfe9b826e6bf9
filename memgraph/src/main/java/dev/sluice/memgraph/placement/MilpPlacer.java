package dev.sluice.memgraph.placement;

import com.google.ortools.Loader;
import com.google.ortools.sat.BoolVar;
import com.google.ortools.sat.CpModel;
import com.google.ortools.sat.CpSolver;
import com.google.ortools.sat.CpSolverStatus;
import com.google.ortools.sat.IntVar;
import com.google.ortools.sat.IntervalVar;
import com.google.ortools.sat.LinearExpr;
import com.google.ortools.sat.LinearExprBuilder;
import dev.sluice.kernels.SluiceException;
import java.util.ArrayList;
import java.util.List;

/**
 * MOIRAI's exact placement, solved by OR-Tools' CP-SAT (a constraint solver over integers with a MILP-style
 * linear relaxation; "MILP" in reports means this formulation, not an LP-based branch and bound). Time is in
 * whole microseconds. Variables: per task a device choice {@code x} (1: the accelerator) and a start time; per
 * arc a crossing {@code y >= |x_i - x_j|}. Constraints: {@code end = start + time(device)}; each device runs one
 * task at a time (no-overlap of optional intervals); precedence {@code start_j >= end_i + transfer * y}; graph
 * inputs cross before, outputs after; accelerator memory in the static model ({@link PlacementProblem}) within
 * its capacity. Objective: least makespan, or least accelerator memory with the makespan within an SLO.
 *
 * <p>Warm-started from the best heuristic that fits (its assignment and start times as a hint). The answer is
 * never worse than that hint as judged by {@link Schedule#list}: when the solver's assignment evaluates worse
 * (rounding, or a time limit hit early), the hint is returned and the note says so. Two devices only.
 */
public final class MilpPlacer {
    private MilpPlacer() {}

    /** What the solver proved: its objective, its best bound, the relative gap, and whether it is optimal. */
    public record Proof(double objective, double bound, double gap, boolean optimal, String status) {}

    private static volatile String loadError;
    private static volatile boolean loaded;

    /** Loads OR-Tools' native library once; null if it loaded, else why not. */
    public static synchronized String unavailableReason() {
        if (loaded) return null;
        if (loadError != null) return loadError;
        try {
            Loader.loadNativeLibraries();
            loaded = true;
            return null;
        } catch (Throwable e) {
            loadError = "OR-Tools could not load its native library: " + e;
            return loadError;
        }
    }

    /** Least makespan. */
    public static Strategies.Result latency(PlacementProblem p, Strategies.Result hint, double timeLimitSeconds) {
        return solve(p, hint, timeLimitSeconds, -1);
    }

    /** Least accelerator memory (static model) with the makespan within {@code sloMillis}. */
    public static Strategies.Result memory(PlacementProblem p, Strategies.Result hint, double timeLimitSeconds, double sloMillis) {
        return solve(p, hint, timeLimitSeconds, sloMillis);
    }

    private static long us(double ms) { return Math.round(ms * 1000); }

    private static Strategies.Result solve(PlacementProblem p, Strategies.Result hint, double limit, double sloMillis) {
        if (p.devices() != 2) throw new SluiceException("the MILP places on the cpu and one accelerator; got " + p.devices() + " devices");
        String why = unavailableReason();
        if (why != null) throw new SluiceException(why);
        long t0 = System.nanoTime();
        if (hint != null && !p.fits(hint.assign())) hint = null; // a warm start must be feasible
        int n = p.size();
        CpModel m = new CpModel();
        long horizon = 0;
        for (int t = 0; t < n; t++) {
            horizon += Math.max(us(p.millis()[t][0]), us(p.millis()[t][1])) + us(p.transferMillis(p.hostInBytes()[t], 0, 1))
                + us(p.transferMillis(p.hostOutBytes()[t], 1, 0));
        }
        for (PlacementProblem.Arc a : p.arcs()) horizon += us(p.transferMillis(a.bytes(), 0, 1));
        horizon += 1;
        BoolVar[] x = new BoolVar[n];
        IntVar[] start = new IntVar[n];
        LinearExpr[] end = new LinearExpr[n];
        List<IntervalVar> onCpu = new ArrayList<>(), onAcc = new ArrayList<>();
        IntVar makespan = m.newIntVar(0, horizon, "makespan");
        for (int t = 0; t < n; t++) {
            x[t] = m.newBoolVar("x" + t);
            start[t] = m.newIntVar(0, horizon, "s" + t);
            long c = us(p.millis()[t][0]), a = us(p.millis()[t][1]);
            end[t] = LinearExpr.newBuilder().add(start[t]).add(c).addTerm(x[t], a - c).build();
            onCpu.add(m.newOptionalFixedSizeIntervalVar(start[t], c, x[t].not(), "cpu" + t));
            onAcc.add(m.newOptionalFixedSizeIntervalVar(start[t], a, x[t], "acc" + t));
            long in = p.hostInBytes()[t] > 0 ? us(p.transferMillis(p.hostInBytes()[t], 0, 1)) : 0;
            if (in > 0) m.addGreaterOrEqual(LinearExpr.newBuilder().add(start[t]).addTerm(x[t], -in).build(), 0);
            long out = p.hostOutBytes()[t] > 0 ? us(p.transferMillis(p.hostOutBytes()[t], 1, 0)) : 0;
            m.addGreaterOrEqual(makespan, LinearExpr.newBuilder().add(start[t]).add(c).addTerm(x[t], a - c + out).build());
        }
        java.util.Map<PlacementProblem.Arc, BoolVar> crossings = new java.util.HashMap<>();
        m.addNoOverlap(onCpu);
        m.addNoOverlap(onAcc);
        for (PlacementProblem.Arc arc : p.arcs()) {
            long c = us(p.transferMillis(arc.bytes(), 0, 1));
            int i = arc.from(), j = arc.to();
            if (c == 0) {
                m.addGreaterOrEqual(start[j], end[i]);
                continue;
            }
            BoolVar y = m.newBoolVar("y" + i + "_" + j);
            crossings.put(arc, y);
            m.addGreaterOrEqual(y, LinearExpr.newBuilder().add(x[i]).addTerm(x[j], -1).build());
            m.addGreaterOrEqual(y, LinearExpr.newBuilder().add(x[j]).addTerm(x[i], -1).build());
            LinearExprBuilder rhs = LinearExpr.newBuilder().add(start[i]).add(us(p.millis()[i][0]))
                .addTerm(x[i], us(p.millis()[i][1]) - us(p.millis()[i][0])).addTerm(y, c);
            m.addGreaterOrEqual(start[j], rhs.build());
        }
        // accelerator memory: weights placed there plus the largest working set among its tasks
        long maxWork = 0;
        for (long w : p.workBytes()) maxWork = Math.max(maxWork, w);
        IntVar work = m.newIntVar(0, maxWork, "work");
        LinearExprBuilder mem = LinearExpr.newBuilder().add(work);
        for (int t = 0; t < n; t++) {
            m.addGreaterOrEqual(work, LinearExpr.term(x[t], p.workBytes()[t]));
            mem.addTerm(x[t], p.weightBytes()[t]);
        }
        LinearExpr memory = mem.build();
        if (p.capacity(1) != Long.MAX_VALUE) m.addLessOrEqual(memory, p.capacity(1));
        if (sloMillis < 0) m.minimize(makespan);
        else {
            m.addLessOrEqual(makespan, us(sloMillis));
            m.minimize(memory);
        }
        if (hint != null) {
            // A complete hint in the model's own integer units, so that it is feasible as given (rounding the
            // heuristic's float times could break a precedence by a microsecond and leave the solver searching).
            int[] a = hint.assign();
            long[] hs = integerSchedule(p, a, Schedule.byKey(p, hint.schedule().start()));
            long span = 0, most = 0;
            for (int t = 0; t < n; t++) {
                m.addHint(x[t], a[t]);
                m.addHint(start[t], hs[t]);
                long out = a[t] == 1 && p.hostOutBytes()[t] > 0 ? us(p.transferMillis(p.hostOutBytes()[t], 1, 0)) : 0;
                span = Math.max(span, hs[t] + us(p.millis()[t][a[t]]) + out);
                if (a[t] == 1) most = Math.max(most, p.workBytes()[t]);
            }
            m.addHint(makespan, span);
            m.addHint(work, most);
            for (var e : crossings.entrySet()) m.addHint(e.getValue(), a[e.getKey().from()] != a[e.getKey().to()] ? 1 : 0);
        }
        CpSolver s = new CpSolver();
        s.getParameters().setMaxTimeInSeconds(limit).setNumWorkers(2).setRandomSeed(1);
        CpSolverStatus st = s.solve(m);
        double solverMs = (System.nanoTime() - t0) / 1e6;
        String name = "milp";
        if (st != CpSolverStatus.OPTIMAL && st != CpSolverStatus.FEASIBLE) {
            if (hint == null) throw new SluiceException("the MILP found no placement in " + limit + " s (" + st + ")");
            return new Strategies.Result(name, hint.assign(), hint.schedule(), solverMs,
                "solver status " + st + "; the warm start (" + hint.strategy() + ") is kept");
        }
        int[] assign = new int[n];
        double[] key = new double[n];
        for (int t = 0; t < n; t++) {
            assign[t] = s.booleanValue(x[t]) ? 1 : 0;
            key[t] = s.value(start[t]);
        }
        Schedule sched = Schedule.list(p, assign, Schedule.byKey(p, key));
        double obj = s.objectiveValue(), bound = s.bestObjectiveBound();
        double gap = obj == 0 ? 0 : Math.max(0, (obj - bound) / Math.abs(obj));
        Proof proof = new Proof(obj, bound, gap, st == CpSolverStatus.OPTIMAL, st.toString());
        String note = String.format("%s, objective %.0f, bound %.0f, gap %.2f%%", proof.status().toLowerCase(), obj, bound, 100 * gap)
            + (sloMillis < 0 ? " (us)" : " (B)");
        if (hint != null && worse(p, assign, sched, hint, sloMillis)) {
            return new Strategies.Result(name, hint.assign(), hint.schedule(), solverMs, note + "; kept the warm start (" + hint.strategy()
                + "), which evaluates no worse");
        }
        return new Strategies.Result(name, assign, sched, solverMs, note);
    }

    /** List-schedule start times in whole microseconds, exactly as the model rounds durations and transfers. */
    static long[] integerSchedule(PlacementProblem p, int[] a, int[] order) {
        int n = p.size();
        long[] start = new long[n], end = new long[n], free = new long[p.devices()];
        List<List<PlacementProblem.Arc>> preds = p.predecessors();
        for (int t : order) {
            int d = a[t];
            long ready = free[d];
            if (d == 1 && p.hostInBytes()[t] > 0) ready = Math.max(ready, us(p.transferMillis(p.hostInBytes()[t], 0, 1)));
            for (PlacementProblem.Arc arc : preds.get(t)) {
                long c = a[arc.from()] != d ? us(p.transferMillis(arc.bytes(), 0, 1)) : 0;
                ready = Math.max(ready, end[arc.from()] + c);
            }
            start[t] = ready;
            end[t] = ready + us(p.millis()[t][d]);
            free[d] = end[t];
        }
        return start;
    }

    private static boolean worse(PlacementProblem p, int[] a, Schedule s, Strategies.Result hint, double slo) {
        if (slo < 0) return s.makespan() > hint.makespan() + 1e-9;
        boolean hintOk = hint.makespan() <= slo;
        if (s.makespan() > slo) return hintOk;
        return hintOk && p.acceleratorBytes(a, 1) > p.acceleratorBytes(hint.assign(), 1);
    }
}
