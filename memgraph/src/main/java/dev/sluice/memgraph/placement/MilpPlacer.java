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
import dev.sluice.graph.cost.CostModel;
import dev.sluice.kernels.SluiceException;
import java.util.ArrayList;
import java.util.List;

/**
 * MOIRAI's exact placement, solved by OR-Tools' CP-SAT (a constraint solver over integers with a MILP-style
 * linear relaxation; "MILP" in reports means this formulation, not an LP-based branch and bound). Time is in
 * whole microseconds ({@link #UNITS_PER_MS}). Variables: per task a device choice {@code x} (1: the accelerator) and a
 * start time; per arc a crossing {@code y >= |x_i - x_j|}. Constraints: {@code end = start + time(device)}; each
 * device runs one task at a time (no-overlap of optional intervals); precedence {@code start_j >= end_i + transfer
 * * y}; graph inputs cross before, outputs after; accelerator memory in the static model ({@link PlacementProblem})
 * within its capacity. Objective: least makespan, or least accelerator memory with the makespan within an SLO.
 *
 * <p><b>Strengthening</b> (none of it cuts off an optimal schedule, so the answer stays exact for the problem given):
 * the makespan is bounded above by the warm start's (latency) or the SLO (memory); {@link TimeWindows} gives every
 * task an earliest start and a least tail per device, which become linear windows ({@code start >= head(x)},
 * {@code makespan >= start + time(x) + tail(x)}) and remove the devices on which no schedule within that upper bound
 * can run a task (such tasks' {@code x} is fixed); the makespan is at least the lower bound of the windows and at
 * least each device's total work (plus, where a task is fixed on it, the least head and tail of its tasks); between
 * consecutive cut tasks ({@link IntervalLoads}) lies at least what the tasks between them take on each device; and the
 * makespan's domain starts at {@link ChainBound}, a knapsack along the cut tasks. The linear relaxation alone overlaps
 * the CPU's load with the accelerator's stretches of a mostly serial graph and sees the capacity only fractionally
 * (e5-small-v2-q with the T4 at 50%: relaxation 11.9-12.3 ms, chain bound 12.7 ms, best placement found 13.45 ms).
 *
 * <p>Warm-started from the best of the heuristic given and placements made to fit the capacity from it, from
 * all-accel and from the assignments with which {@link ChainBound}'s knapsack reached its bound ({@link #warmStart};
 * on the transformers with the T4 those are within 1-2% of the bound where the heuristics were 5-15% off), each
 * scheduled in the rank order and in {@link ChainBound#order} (each region in its best order); its assignment and
 * start times are a complete hint. The best of them is then improved by {@link WindowSearch} (moves of a few consecutive
 * tasks at once, each assignment judged by the best of four list schedules) for at most {@link #WINDOW_SHARE} of the
 * limit, unless it already meets the chain bound. Where the warm start's makespan (in the model's units) is no more than
 * the lower bound of the windows or the chain bound, it is optimal and the solver is not run: on all-MiniLM-L6-v2, e5-small-v2-q
 * and ppocr-rec with the T4 the chain bound's own assignment in its own order reaches the bound, which CP-SAT's search
 * had not shown within 10 s on a loaded host (its own bound stayed at the chain bound). The answer is never worse than
 * that hint as judged by {@link Schedule#list}: when the solver's assignment evaluates worse (rounding, or a time
 * limit hit early), the hint is returned and the note says so. Two devices only.
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
        return solve(p, hint, timeLimitSeconds, -1).result();
    }

    /** Least accelerator memory (static model) with the makespan within {@code sloMillis}. */
    public static Strategies.Result memory(PlacementProblem p, Strategies.Result hint, double timeLimitSeconds, double sloMillis) {
        return solve(p, hint, timeLimitSeconds, sloMillis).result();
    }

    /**
     * The model's time unit: 1 us. Finer units (0.1 us, 10 ns) round the T4's 1-20 us kernels less, but made CP-SAT two
     * to three times slower to prove the same optimum (ppocr-det and ppocr-cls with the T4, equal deterministic
     * budgets); rounding moves a task by at most 0.5 us, and the answer is judged unrounded against the warm start.
     */
    static final long UNITS_PER_MS = 1000;

    static long units(double ms) { return Math.round(ms * UNITS_PER_MS); }

    /**
     * The least makespan with the accelerator's capacity lifted: the problem chrion-latency solves (it ignores the
     * capacity too), so the proof's bound is a floor under every placement's latency in the placement model, the
     * most any overlap of the CPU and the accelerator can gain. Objective and bound in ms; NaN where the solver found
     * nothing in time.
     */
    public static Proof latencyIgnoringCapacity(PlacementProblem p, Strategies.Result hint, double timeLimitSeconds) {
        List<CostModel.DeviceCost> ds = new ArrayList<>();
        for (CostModel.DeviceCost d : p.costs().devices()) {
            ds.add(new CostModel.DeviceCost(d.name(), d.kind(), d.timeSource(), d.linkBytesPerSecond(), d.linkLatencyMs(), d.linkSource(), 0));
        }
        CostModel c = new CostModel(p.costs().model(), p.costs().fingerprint(), ds, p.costs().nodes());
        PlacementProblem free = new PlacementProblem(p.names(), p.members(), p.millis(), p.weightBytes(), p.workBytes(), p.hostInBytes(),
            p.hostOutBytes(), p.arcs(), c);
        Proof pr = solve(free, hint, timeLimitSeconds, -1).proof();
        if (pr == null) return new Proof(Double.NaN, Double.NaN, Double.NaN, false, "no solution in time");
        return new Proof(pr.objective() / UNITS_PER_MS, pr.bound() / UNITS_PER_MS, pr.gap(), pr.optimal(), pr.status());
    }

    /** A solve's answer and, where the solver ran to a solution, its proof (model units). */
    private record Solved(Strategies.Result result, Proof proof) {}

    private static Solved solve(PlacementProblem p, Strategies.Result hint, double limit, double sloMillis) {
        if (p.devices() != 2) throw new SluiceException("the MILP places on the cpu and one accelerator; got " + p.devices() + " devices");
        String why = unavailableReason();
        if (why != null) throw new SluiceException(why);
        long t0 = System.nanoTime();
        if (hint != null && !p.fits(hint.assign())) hint = null; // a warm start must be feasible
        int n = p.size();
        List<PlacementProblem.Arc> arcList = p.arcs();
        long[][] time = new long[n][2];
        long[] in = new long[n], out = new long[n], cross = new long[arcList.size()];
        for (int t = 0; t < n; t++) {
            time[t][0] = units(p.millis()[t][0]);
            time[t][1] = units(p.millis()[t][1]);
            in[t] = p.hostInBytes()[t] > 0 ? units(p.transferMillis(p.hostInBytes()[t], 0, 1)) : 0;
            out[t] = p.hostOutBytes()[t] > 0 ? units(p.transferMillis(p.hostOutBytes()[t], 1, 0)) : 0;
        }
        for (int k = 0; k < cross.length; k++) cross[k] = units(p.transferMillis(arcList.get(k).bytes(), 0, 1));
        IntervalLoads il = new IntervalLoads(p);
        ChainBound.Answer chain = ChainBound.lowerBound(p, il, time, cross, in, out);
        java.util.function.Function<int[], int[]> chainOrder = a -> ChainBound.order(p, il, time, cross, in, out, a, Schedule.rankOrder(p));
        if (sloMillis < 0) {
            hint = warmStart(p, hint, chain.assignments(), chainOrder);
            // no search where the warm start already meets the chain bound (it is optimal; see below)
            if (hint != null && unitSpan(p, hint.assign(), Schedule.byKey(p, hint.schedule().start()), time, out) > chain.bound()) {
                hint = WindowSearch.improve(p, hint, System.nanoTime() + (long) (WINDOW_SHARE * limit * 1e9));
            }
        }
        // The warm start in the model's own units: its makespan bounds the optimum (latency), or the SLO bounds every
        // feasible schedule (memory); either lets TimeWindows fix devices no schedule within it can use. Its order is
        // the one of its start times or the chain bound's, whichever is shorter in these units.
        long[] hs = null;
        long hintSpan = Long.MAX_VALUE;
        if (hint != null) {
            for (int[] order : List.of(Schedule.byKey(p, hint.schedule().start()), chainOrder.apply(hint.assign()))) {
                long span = unitSpan(p, hint.assign(), order, time, out);
                if (span < hintSpan) { hintSpan = span; hs = integerSchedule(p, hint.assign(), order); }
            }
        }
        long upper = sloMillis < 0 ? hintSpan : units(sloMillis);
        TimeWindows win = new TimeWindows(p, time, cross, in, out, upper);
        long chainBound0 = chain.bound();
        if (sloMillis < 0 && hint != null && hintSpan <= Math.max(win.lowerBound, chainBound0)) {
            // the warm start is as short as a lower bound on every schedule: optimal, no search needed
            long lower = Math.max(win.lowerBound, chainBound0);
            Proof proof = new Proof(hintSpan, lower, 0, true, "OPTIMAL");
            return new Solved(new Strategies.Result("milp", hint.assign(), hint.schedule(), (System.nanoTime() - t0) / 1e6,
                String.format("optimal, objective %.4f ms, bound %.4f ms, gap 0.00%%; the warm start (%s) meets the chain bound, so the solver"
                    + " was not run; chain bound %.4f ms", hintSpan / (double) UNITS_PER_MS, lower / (double) UNITS_PER_MS, hint.strategy(),
                    chainBound0 / (double) UNITS_PER_MS)), proof);
        }
        long horizon = 1;
        for (int t = 0; t < n; t++) horizon += Math.max(time[t][0], time[t][1]) + in[t] + out[t];
        for (long c : cross) horizon += c;
        if (upper != Long.MAX_VALUE) horizon = Math.min(horizon, upper);
        if (win.lowerBound > horizon) {
            // only possible for the memory objective: no schedule meets the SLO
            if (hint == null) throw new SluiceException(String.format("the MILP: no placement meets the SLO of %.3f ms", sloMillis));
            return new Solved(new Strategies.Result("milp", hint.assign(), hint.schedule(), (System.nanoTime() - t0) / 1e6,
                "no placement can meet the SLO (lower bound " + String.format("%.4f", win.lowerBound / (double) UNITS_PER_MS)
                    + " ms); the warm start (" + hint.strategy() + ") is kept"), null);
        }

        int fixedTasks = 0;
        for (int t = 0; t < n; t++) if (win.fixed(t) >= 0) fixedTasks++;
        CpModel m = new CpModel();
        BoolVar[] x = new BoolVar[n];
        IntVar[] start = new IntVar[n];
        List<IntervalVar> onCpu = new ArrayList<>(), onAcc = new ArrayList<>();
        long chainBound = Math.min(horizon, chain.bound());
        IntVar makespan = m.newIntVar(Math.max(win.lowerBound, chainBound), horizon, "makespan");
        LinearExprBuilder cpuLoad = LinearExpr.newBuilder(), accLoad = LinearExpr.newBuilder();
        long[] minHead = {Long.MAX_VALUE, Long.MAX_VALUE}, minTail = {Long.MAX_VALUE, Long.MAX_VALUE};
        boolean[] used = new boolean[2];
        for (int t = 0; t < n; t++) {
            x[t] = m.newBoolVar("x" + t);
            int f = win.fixed(t);
            if (f >= 0) {
                m.addEquality(x[t], f);
                used[f] = true;
            }
            // a device fixing removed takes the other's figures, so that the linear forms below stay valid
            long h0 = win.allowed[t][0] ? win.head[t][0] : win.head[t][1], h1 = win.allowed[t][1] ? win.head[t][1] : h0;
            long r0 = win.allowed[t][0] ? time[t][0] + win.tail[t][0] : time[t][1] + win.tail[t][1];
            long r1 = win.allowed[t][1] ? time[t][1] + win.tail[t][1] : r0;
            start[t] = m.newIntVar(Math.min(h0, h1), Math.max(Math.min(h0, h1), horizon - Math.min(r0, r1)), "s" + t);
            long c = time[t][0], a = time[t][1];
            onCpu.add(m.newOptionalFixedSizeIntervalVar(start[t], c, x[t].not(), "cpu" + t));
            onAcc.add(m.newOptionalFixedSizeIntervalVar(start[t], a, x[t], "acc" + t));
            // windows: start >= head on its device; makespan >= start + time + tail on its device
            m.addGreaterOrEqual(LinearExpr.newBuilder().add(start[t]).addTerm(x[t], h0 - h1).build(), h0);
            m.addGreaterOrEqual(LinearExpr.newBuilder().add(makespan).addTerm(start[t], -1).addTerm(x[t], r0 - r1).build(), r0);
            m.addGreaterOrEqual(makespan, LinearExpr.newBuilder().add(start[t]).add(c).addTerm(x[t], a - c + out[t]).build());
            cpuLoad.addTerm(x[t], -c).add(c);
            accLoad.addTerm(x[t], a);
            for (int d = 0; d < 2; d++) {
                if (!win.allowed[t][d]) continue;
                minHead[d] = Math.min(minHead[d], win.head[t][d]);
                minTail[d] = Math.min(minTail[d], win.tail[t][d]);
            }
        }
        // Each device runs one task at a time: the makespan is at least its total work, plus, where some task is
        // fixed on it (so it surely has one), the least head and least tail of the tasks it may run.
        m.addGreaterOrEqual(makespan, cpuLoad.add(used[0] ? minHead[0] + minTail[0] : 0).build());
        m.addGreaterOrEqual(makespan, accLoad.add(used[1] ? minHead[1] + minTail[1] : 0).build());
        addStageCuts(m, il, time, x, start);
        for (int t = 0; t < n; t++) {
            if (in[t] > 0) m.addGreaterOrEqual(LinearExpr.newBuilder().add(start[t]).addTerm(x[t], -in[t]).build(), 0);
        }
        java.util.Map<PlacementProblem.Arc, BoolVar> crossings = new java.util.HashMap<>();
        m.addNoOverlap(onCpu);
        m.addNoOverlap(onAcc);
        for (int k = 0; k < arcList.size(); k++) {
            PlacementProblem.Arc arc = arcList.get(k);
            long c = cross[k];
            int i = arc.from(), j = arc.to();
            LinearExprBuilder rhs = LinearExpr.newBuilder().add(start[i]).add(time[i][0]).addTerm(x[i], time[i][1] - time[i][0]);
            if (c == 0) {
                m.addGreaterOrEqual(start[j], rhs.build());
                continue;
            }
            BoolVar y = m.newBoolVar("y" + i + "_" + j);
            crossings.put(arc, y);
            m.addGreaterOrEqual(y, LinearExpr.newBuilder().add(x[i]).addTerm(x[j], -1).build());
            m.addGreaterOrEqual(y, LinearExpr.newBuilder().add(x[j]).addTerm(x[i], -1).build());
            m.addGreaterOrEqual(start[j], rhs.addTerm(y, c).build());
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
        else m.minimize(memory);
        if (hint != null) {
            // A complete hint in the model's own units, so that it is feasible as given (rounding the heuristic's
            // float times could break a precedence by a unit and leave the solver searching).
            int[] a = hint.assign();
            long most = 0;
            for (int t = 0; t < n; t++) {
                m.addHint(x[t], a[t]);
                m.addHint(start[t], hs[t]);
                if (a[t] == 1) most = Math.max(most, p.workBytes()[t]);
            }
            m.addHint(makespan, hintSpan);
            m.addHint(work, most);
            for (var e : crossings.entrySet()) m.addHint(e.getValue(), a[e.getKey().from()] != a[e.getKey().to()] ? 1 : 0);
        }
        CpSolver s = new CpSolver();
        // the limit is for the whole solve: the bound, the warm start and building the model count against it (a
        // quarter of it is left to the solver however long they took: on a loaded host a tenth was not enough to
        // presolve e5's model, and the solver returned nothing)
        double spent = (System.nanoTime() - t0) / 1e9;
        s.getParameters().setMaxTimeInSeconds(Math.max(limit / 4, limit - spent)).setNumWorkers(2).setRandomSeed(1);
        CpSolverStatus st = s.solve(m);
        double solverMs = (System.nanoTime() - t0) / 1e6;
        String name = "milp";
        if (st != CpSolverStatus.OPTIMAL && st != CpSolverStatus.FEASIBLE) {
            if (hint == null) throw new SluiceException("the MILP found no placement in " + limit + " s (" + st + ")");
            // the warm start and the bounds stated before the search still make a proof, if a weaker one
            long lower = Math.max(win.lowerBound, chainBound);
            String proved = sloMillis >= 0 ? "" : String.format("; objective %.4f ms, bound %.4f ms, gap %.2f%% (the warm start's and the chain bound's)",
                hintSpan / (double) UNITS_PER_MS, lower / (double) UNITS_PER_MS, hintSpan == 0 ? 0 : 100.0 * Math.max(0, hintSpan - lower) / hintSpan);
            return new Solved(new Strategies.Result(name, hint.assign(), hint.schedule(), solverMs,
                "solver status " + st + "; the warm start (" + hint.strategy() + ") is kept" + proved), null);
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
        String note = (sloMillis < 0
            ? String.format("%s, objective %.4f ms, bound %.4f ms, gap %.2f%%", proof.status().toLowerCase(), obj / UNITS_PER_MS, bound / UNITS_PER_MS, 100 * gap)
            : String.format("%s, objective %.0f B, bound %.0f B, gap %.2f%%", proof.status().toLowerCase(), obj, bound, 100 * gap))
            + String.format("; %d of %d tasks' devices fixed by time windows; chain bound %.4f ms", fixedTasks, n, chainBound / (double) UNITS_PER_MS);
        if (hint != null && worse(p, assign, sched, hint, sloMillis)) {
            return new Solved(new Strategies.Result(name, hint.assign(), hint.schedule(), solverMs, note + "; kept the warm start ("
                + hint.strategy() + "), which evaluates no worse"), proof);
        }
        return new Solved(new Strategies.Result(name, assign, sched, solverMs, note), proof);
    }

    /**
     * Stage cuts ({@link IntervalLoads}): between consecutive cut tasks lies at least the time the tasks between them
     * take on each device. (Per-task cuts over all ancestors and all descendants are as valid, but they made the model
     * four times denser and, with {@link ChainBound} in place, raised no bound and found no better placement in an
     * equal deterministic budget on MiniLM, ppocr-rec and e5 with the T4: so they are not stated.)
     */
    private static void addStageCuts(CpModel m, IntervalLoads il, long[][] time, BoolVar[] x, IntVar[] start) {
        for (int k = 0; k + 1 < il.cuts.length; k++) {
            int u = il.cuts[k], v = il.cuts[k + 1];
            java.util.BitSet between = il.between(u, v);
            if (between.isEmpty()) continue; // u -> v directly: the precedence says it all
            for (int d = 0; d < 2; d++) {
                LinearExprBuilder e = load(between, d, time, x).add(start[u]).add(time[u][0]).addTerm(x[u], time[u][1] - time[u][0]);
                m.addGreaterOrEqual(start[v], e.build());
            }
        }
    }

    /** The time the tasks of {@code set} placed on device d take (linear in the device choices). */
    private static LinearExprBuilder load(java.util.BitSet set, int d, long[][] time, BoolVar[] x) {
        LinearExprBuilder e = LinearExpr.newBuilder();
        for (int t = set.nextSetBit(0); t >= 0; t = set.nextSetBit(t + 1)) {
            if (d == 0) e.add(time[t][0]).addTerm(x[t], -time[t][0]);
            else e.addTerm(x[t], time[t][1]);
        }
        return e;
    }

    /**
     * The best of the given warm start and placements made to fit by {@link Strategies#fitted} from it, from all-accel
     * and from each of {@code chainAssignments} (a tighter incumbent lets {@link TimeWindows} fix more devices), and of
     * those chain assignments that fit as they are. Each is scheduled in the rank order and in the chain bound's own
     * order ({@code chainOrder}: its regions in their best orders), and the shorter kept: on the transformers with the
     * T4 the chain bound's assignment in its own order is as long as the bound, which proves it optimal.
     */
    static Strategies.Result warmStart(PlacementProblem p, Strategies.Result hint, List<int[]> chainAssignments) {
        return warmStart(p, hint, chainAssignments, null);
    }

    /** As above, also scheduling each candidate in {@code chainOrder}'s order where it is not null. */
    static Strategies.Result warmStart(PlacementProblem p, Strategies.Result hint, List<int[]> chainAssignments,
                                       java.util.function.Function<int[], int[]> chainOrder) {
        int[] order = Schedule.rankOrder(p);
        Strategies.Result best = hint;
        int[] all = new int[p.size()];
        java.util.Arrays.fill(all, 1);
        List<int[]> starts = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<Boolean> fit = new ArrayList<>();
        if (hint != null) { starts.add(hint.assign()); names.add(hint.strategy() + ", improved within capacity"); fit.add(true); }
        starts.add(all);
        names.add("all-accel, fitted to capacity");
        fit.add(true);
        for (int[] a : chainAssignments) {
            if (p.fits(a)) { starts.add(a); names.add("the chain bound's assignment"); fit.add(false); }
            starts.add(a);
            names.add("the chain bound's assignment, fitted to capacity");
            fit.add(true);
        }
        for (int i = 0; i < starts.size(); i++) {
            int[] a = fit.get(i) ? Strategies.fitted(p, starts.get(i)) : starts.get(i).clone();
            Schedule s = shorter(p, a, order, chainOrder);
            if (best == null || s.makespan() < best.makespan() - 1e-9) best = new Strategies.Result(names.get(i), a, s, 0, "");
        }
        if (best != null && p.capacity(1) != Long.MAX_VALUE) {
            int[] a = Strategies.exchanged(p, best.assign(), order, EXCHANGE_EVALUATIONS);
            Schedule s = shorter(p, a, order, chainOrder);
            if (s.makespan() < best.makespan() - 1e-9) best = new Strategies.Result(best.strategy() + ", then tasks exchanged", a, s, 0, "");
        }
        return best;
    }

    /** The list schedule of {@code a} in the rank order or in the chain bound's order, whichever is shorter. */
    private static Schedule shorter(PlacementProblem p, int[] a, int[] rank, java.util.function.Function<int[], int[]> chainOrder) {
        Schedule s = Schedule.list(p, a, rank);
        if (chainOrder == null) return s;
        Schedule c = Schedule.list(p, a, chainOrder.apply(a));
        return c.makespan() < s.makespan() ? c : s;
    }

    /**
     * The share of the time limit the warm start's {@link WindowSearch} may take (ppocr-det with the T4 at 100%: its
     * 1.5 s at load 16 took the warm start from 1.861 to 1.743 ms, the optimum being 1.712; at 50% from 9.136 to 8.864, the
     * optimum being 8.754).
     */
    static final double WINDOW_SHARE = 0.15;

    /** Schedules the warm start's pair exchanges may evaluate (about 0.1 s on 170 tasks). */
    static final int EXCHANGE_EVALUATIONS = 50_000;

    /** The makespan in the model's units of {@link #integerSchedule}'s schedule. */
    private static long unitSpan(PlacementProblem p, int[] a, int[] order, long[][] time, long[] out) {
        long[] st = integerSchedule(p, a, order);
        long span = 0;
        for (int t = 0; t < p.size(); t++) span = Math.max(span, st[t] + time[t][a[t]] + (a[t] == 1 ? out[t] : 0));
        return span;
    }

    /** List-schedule start times in the model's units, exactly as the model rounds durations and transfers. */
    static long[] integerSchedule(PlacementProblem p, int[] a, int[] order) {
        int n = p.size();
        long[] start = new long[n], end = new long[n], free = new long[p.devices()];
        List<List<PlacementProblem.Arc>> preds = p.predecessors();
        for (int t : order) {
            int d = a[t];
            long ready = free[d];
            if (d == 1 && p.hostInBytes()[t] > 0) ready = Math.max(ready, units(p.transferMillis(p.hostInBytes()[t], 0, 1)));
            for (PlacementProblem.Arc arc : preds.get(t)) {
                long c = a[arc.from()] != d ? units(p.transferMillis(arc.bytes(), 0, 1)) : 0;
                ready = Math.max(ready, end[arc.from()] + c);
            }
            start[t] = ready;
            end[t] = ready + units(p.millis()[t][d]);
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
