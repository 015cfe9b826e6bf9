package dev.sluice.memgraph.placement;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.TreeSet;

/**
 * A lower bound on the makespan of every schedule within the accelerator's capacity, by dynamic programming along the
 * cut tasks ({@link IntervalLoads}), for the MILP (its linear relaxation leaves the capacity-bound instances 10-20%
 * open; a serial graph's knapsack is what it cannot see through). Two devices, the model's integer time units. The
 * assignments that reach the bound come back too, as candidate warm starts.
 *
 * <p><b>Why it is a bound.</b> A cut task runs alone. Call the tasks between two consecutive cut tasks u and v a
 * <em>region</em> (its tasks are descendants of u and ancestors of v, so they run after u ends and before v starts);
 * the tasks before the first cut task form a region after a virtual u that ends at time 0, those after the last one a
 * region before a virtual v that starts at the makespan (and with no cut task at all the whole graph is one region
 * between the two). So a schedule's makespan is the sum of the cut tasks' times and, per region, the gap from u's end to
 * v's start, and each gap is at least a <em>span</em> of the region that depends only on the devices of u, v and the
 * region's tasks:
 * <ul>
 * <li>per device d and for each set of its tasks that start no sooner than some earliest start (or whose tails are
 *     no shorter than some tail), the least earliest start of the set, plus their total time on d, plus the least tail
 *     among them: d runs one task at a time, so the last of them ends no sooner than the first starts plus all of their
 *     time, and its tail follows (the sets that begin late catch the idle time a round trip over the link leaves on
 *     d);</li>
 * <li>the longest path from u's end to v's start: per task an earliest start (after each predecessor in the region,
 *     or u, has ended and its bytes crossed if the devices differ) and to v the same (an arc from u to v counts
 *     too);</li>
 * </ul>
 * where a task's earliest start (tail) counts only predecessors (successors) inside the region and u (v): arcs from
 * before u end before u does, arcs past v start after v does, so leaving them out only lowers the figure. In the
 * first region a task (or the first cut task) on the accelerator also waits for its graph inputs to cross, and in the
 * last region a task (or the last cut task) on the accelerator has its graph outputs cross back before the makespan;
 * both are measured from time 0 and to the makespan, which the virtual u and v are. The sum is separable into steps
 * (a region and the cut task after it) that share only the neighbouring cut tasks' devices and the capacity, so its
 * least value over assignments within the capacity is a knapsack along a chain: the states are the capacity used and
 * the last cut task's device.
 *
 * <p>Regions of at most {@link #EXACT_REGION} tasks are enumerated (every assignment of their tasks, for each pair of
 * devices of u and v, keeping the assignments no other beats in both weight and span). The span of an assignment that
 * could join that front is then the least gap of the region's schedules ({@link RegionSpans}: a search over them,
 * which the two figures above bound from below), where it is found within {@link #SEARCH_NODES} nodes; the figures
 * above stand for it elsewhere. On the transformers with the T4 this made the bound exact: with its assignment
 * scheduled in {@link #order} the chain bound's knapsack is reached, on every configuration of all-MiniLM-L6-v2,
 * e5-small-v2-q and ppocr-rec (it had been 3-60 us under the best placement found). A larger region's gap is at
 * least each of three figures: the cpu's load, the accelerator's load, and the length of one path through it (from u
 * to v: its tasks' times on their devices and the crossings along it, u's arc into it and its arc into v included).
 * The region counts for a {@link Mix} of them (weights summing to 1, so at most the largest), which is separable over
 * its tasks but for the path's crossings, and those join consecutive tasks of the path: so the tasks enter the
 * knapsack as items in topological order, the state's device following the path's last task. The path is a longest
 * one by each task's least time on a device it may use. On ppocr-det with the T4 (one region of 94 tasks) this raised
 * the bound at 100% from 0.77 to 1.29 ms and at 50% from 3.40 to 3.76 ms.
 *
 * <p>The capacity holds the weights placed on the accelerator plus the largest working set there; the bound is the
 * least over each possible largest working set L (tasks with a larger one must stay on the cpu, the weights get
 * {@code capacity - L}; levels are taken in groups, each with the group's largest level for the tasks allowed and its
 * least for the room, a relaxation of every level in it). Weights are counted in units of {@code capacity / }{@link
 * #CAPACITY_STEPS}, rounded down, and the capacity rounded down too, which only admits more assignments (a sum of
 * floors is at most the floor of the sum), so the bound stays below every schedule's makespan. Both relaxations
 * matter where one matmul's weights decide the bound: the group that holds the least is refined best first (split
 * into halves, then counted in units of capacity / {@link #FINE_CAPACITY_STEPS}); on ppocr-rec with the T4 at 100%
 * that raised the bound from 6.2 to 9.9 ms, on e5 from 8.4 to 8.6 ms. Last, where the capacity is at most
 * {@link #EXACT_SLOTS} times the weights' greatest common divisor (64 bytes on the zoo), a single level is counted in
 * units of that divisor, where the floors lose nothing (ppocr-rec at 100%: 9.90 to 9.94 ms, and the assignment reaching
 * it fits, so the warm start fell from 10.09 to 9.96 ms); elsewhere the capacity is priced into the objective (a
 * Lagrangian term, {@code Chain#dual}), which charges what the floors let through.
 */
final class ChainBound {
    private ChainBound() {}

    /** Resolution of the capacity: weights are counted in steps of capacity / CAPACITY_STEPS. */
    static final int CAPACITY_STEPS = 2048;
    /** The finer resolution the group that holds the bound is refined to once it is a single level. */
    static final int FINE_CAPACITY_STEPS = 16384;
    /** Largest working sets are first taken in this many groups (a knapsack each). */
    static final int LEVEL_GROUPS = 8;
    /** At most this many knapsacks (a fine one counts as FINE_CAPACITY_STEPS / CAPACITY_STEPS) refine the groups. */
    static final int REFINE_BUDGET = 96;
    /**
     * Where the capacity over the weights' greatest common divisor is at most this many slots, a single level's last
     * refinement counts weights in units of that divisor, exactly (64 bytes on the zoo); else it is dualized.
     */
    static final int EXACT_SLOTS = 1 << 17;
    /** Knapsacks (at the finer resolution) the golden-section search of the Lagrangian term takes. */
    static final int DUAL_STEPS = 5;
    /** Regions of at most this many tasks are enumerated exactly (2^k assignments each); larger ones are relaxed. */
    static final int EXACT_REGION = 17;
    /** Nodes one search of a region's schedules ({@link RegionSpans}) may visit before it settles for the cheap span. */
    static final int SEARCH_NODES = 4000;
    /**
     * Searches of region schedules one bound may make (a few seconds at most); past them assignments count with their
     * cheap spans. e5-small-v2-q with the T4 needs about 4,000 (its first region has 17 tasks).
     */
    static final int SEARCHES_PER_BOUND = 20_000;

    /** The bound (units) and the assignments the knapsack chose on its way to it (they need not fit the capacity). */
    record Answer(long bound, List<int[]> assignments) {}

    /** The bound without graph inputs and outputs crossing (tests). */
    static long lowerBound(PlacementProblem p, IntervalLoads il, long[][] time, long[] cross) {
        return lowerBound(p, il, time, cross, new long[p.size()], new long[p.size()]).bound();
    }

    /**
     * The bound (units), the best of the {@link #MIXES}.
     *
     * @param time  per task and device, its duration in units
     * @param cross per arc (in {@code p.arcs()} order), the units to move its bytes between the two devices
     * @param in    per task, the units its graph inputs take to reach the accelerator (0 if none)
     * @param out   per task, the units its graph outputs take back from the accelerator (0 if none)
     */
    static Answer lowerBound(PlacementProblem p, IntervalLoads il, long[][] time, long[] cross, long[] in, long[] out) {
        return lowerBound(p, il, time, cross, in, out, EXACT_REGION);
    }

    /** As above, enumerating regions of at most {@code exactRegion} tasks (tests take 0 to check the relaxed path). */
    static Answer lowerBound(PlacementProblem p, IntervalLoads il, long[][] time, long[] cross, long[] in, long[] out, int exactRegion) {
        return new Chain(p, il, time, cross, in, out, exactRegion).bound();
    }

    /**
     * A topological order for {@link Schedule#list} under {@code assign}: the cut tasks in turn, and between them each
     * region's tasks in the order that reaches the region's least gap ({@link RegionSpans}; regions too large to
     * search, or whose search runs out of nodes, in {@code fallback}'s order). A warm start scheduled in it is as long
     * as the sum the chain bound counts for its assignment, but for the arcs the bound leaves out.
     */
    static int[] order(PlacementProblem p, IntervalLoads il, long[][] time, long[] cross, long[] in, long[] out, int[] assign, int[] fallback) {
        Chain c = new Chain(p, il, time, cross, in, out, EXACT_REGION);
        int[] rank = new int[p.size()];
        for (int i = 0; i < fallback.length; i++) rank[fallback[i]] = i;
        int[] order = new int[p.size()];
        int at = 0;
        for (Step s : c.steps) {
            int[] r = s.tasks();
            int[] local = null;
            if (s.exact()) {
                int mask = 0;
                for (int i = 0; i < r.length; i++) mask |= assign[r[i]] << i;
                RegionSpans.Found f = new RegionSpans(p, s.u(), s.v(), r, time, cross, in, out)
                    .search(mask, s.u() < 0 ? 0 : assign[s.u()], s.v() < 0 ? 0 : assign[s.v()], 0, ORDER_NODES);
                local = f.order();
            }
            if (local != null) {
                for (int i : local) order[at++] = r[i];
            } else {
                Integer[] byRank = new Integer[r.length];
                for (int i = 0; i < r.length; i++) byRank[i] = r[i];
                java.util.Arrays.sort(byRank, java.util.Comparator.comparingInt(t -> rank[t]));
                for (int t : byRank) order[at++] = t;
            }
            if (s.v() >= 0) order[at++] = s.v();
        }
        return order;
    }

    /** Nodes the search for one region's order of a warm start may visit (it takes the best found if it runs out). */
    static final int ORDER_NODES = 200_000;

    /** One step of the chain: a region (tasks, possibly none) and the cut task after it ({@code v < 0}: the end). */
    private record Step(int u, int v, int[] tasks, boolean exact) {}

    /**
     * Weights of a relaxed region's three lower bounds on its span: the cpu's load, the accelerator's, and a longest
     * path's (its tasks' times on their devices and the crossings along it); non-negative, summing to 1, so their
     * mix is at most the largest of the three.
     */
    record Mix(double cpu, double acc, double path) {}

    /**
     * The mixes each knapsack tries (the first alone where no region is relaxed): thirds, and halves of the cpu's
     * load with each other term. (On ppocr-det with the T4 at 50%, a grid of sixths raised the bound no further.)
     */
    static final List<Mix> MIXES = mixes();

    private static List<Mix> mixes() {
        List<Mix> all = new ArrayList<>(List.of(new Mix(1, 0, 0), new Mix(0.5, 0.5, 0), new Mix(0.5, 0, 0.5)));
        for (int a = 0; a <= 3; a++) for (int b = 0; a + b <= 3; b++) if (a < 3) all.add(new Mix(a / 3.0, b / 3.0, (3 - a - b) / 3.0));
        return List.copyOf(all);
    }

    /** One assignment of a region's tasks that no other beats in both weight and span, for given devices of u and v. */
    private record Option(int weight, double span, int mask) {}

    private static final class Chain {
        final PlacementProblem p;
        final long[][] time;
        final long[] cross, in, out;
        final List<Step> steps = new ArrayList<>();
        final List<List<PlacementProblem.Arc>> preds, succs;
        final int[][] predArc, succArc;
        /** Enumerated regions' spans per step (they depend on neither the level group nor the mix). */
        final java.util.Map<Step, long[][]> spanCache = new java.util.IdentityHashMap<>();
        /** Enumerated regions' searched spans per step, per (du, dv) and assignment; -1 where not searched yet. */
        final java.util.Map<Step, long[][]> searchedCache = new java.util.IdentityHashMap<>();
        final java.util.Map<Step, RegionSpans> regionCache = new java.util.IdentityHashMap<>();
        /** Searches of region schedules made so far (at most {@link #SEARCHES_PER_BOUND}). */
        int searches;
        /** Per step and set of tasks allowed on the accelerator, the fronts of {@link #fronts}. */
        final java.util.Map<Step, java.util.Map<Integer, List<List<long[]>>>> frontCache = new java.util.IdentityHashMap<>();
        /** The evaluation under way: its weight unit, whether the capacity is unlimited, its largest working set. */
        long unit = 1, level = Long.MAX_VALUE;
        boolean unlimited;
        /** The regions' spans and paths ({@link RegionFigures}). */
        final RegionFigures figures;

        Chain(PlacementProblem p, IntervalLoads il, long[][] time, long[] cross, long[] in, long[] out, int exactRegion) {
            this.p = p;
            this.time = time;
            this.cross = cross;
            this.in = in;
            this.out = out;
            int n = p.size();
            preds = p.predecessors();
            succs = p.successors();
            java.util.Map<PlacementProblem.Arc, Integer> index = new java.util.HashMap<>();
            for (int k = 0; k < p.arcs().size(); k++) index.put(p.arcs().get(k), k);
            predArc = new int[n][];
            succArc = new int[n][];
            for (int t = 0; t < n; t++) {
                predArc[t] = preds.get(t).stream().mapToInt(index::get).toArray();
                succArc[t] = succs.get(t).stream().mapToInt(index::get).toArray();
            }
            figures = new RegionFigures(p, time, cross, in, out, predArc, succArc);
            int prev = -1;
            for (int k = 0; k <= il.cuts.length; k++) {
                int v = k < il.cuts.length ? il.cuts[k] : -1;
                BitSet r;
                if (prev < 0 && v < 0) { r = new BitSet(n); r.set(0, n); }
                else if (prev < 0) r = (BitSet) il.ancestors[v].clone();
                else if (v < 0) r = (BitSet) il.descendants[prev].clone();
                else r = il.between(prev, v);
                int[] tasks = r.stream().toArray();
                steps.add(new Step(prev, v, tasks, tasks.length <= exactRegion));
                prev = v;
            }
        }

        /**
         * The least, over groups of largest working sets, of each group's knapsack (the best of its mixes), refined
         * best first: the group holding the least is split in two (each half admits fewer assignments, so its value is
         * no lower) or, once a single level, counted at the finer resolution (both resolutions bound it from below,
         * so the larger is kept), and last dualized ({@link #dual}), until the least belongs to a group that has been
         * through all three or the budget is spent. Every group's value stays a bound for the assignments of its
         * levels, so their least is one for all.
         */
        Answer bound() {
            long capacity = p.capacity(1);
            TreeSet<Long> levels = new TreeSet<>();
            levels.add(0L);
            for (long w : p.workBytes()) levels.add(w);
            long[] ls = levels.stream().mapToLong(Long::longValue).toArray();
            java.util.PriorityQueue<Group> queue = new java.util.PriorityQueue<>(java.util.Comparator.comparingLong(Group::bound));
            if (capacity == Long.MAX_VALUE) {
                // no capacity: the group of every level admits every assignment and is the least
                return answer(List.of(evaluate(ls, 0, ls.length - 1, true, Long.MIN_VALUE, 0, MIXES)));
            }
            int groups = Math.min(LEVEL_GROUPS, ls.length);
            for (int g = 0; g < groups; g++) queue.add(evaluate(ls, g * ls.length / groups, (g + 1) * ls.length / groups - 1, false, Long.MIN_VALUE, 0, MIXES));
            int spent = queue.size(), fineCost = FINE_CAPACITY_STEPS / CAPACITY_STEPS;
            // every weight a multiple of g: counted in units of g, the knapsack's capacity is exact
            long g = 0;
            for (long w : p.weightBytes()) g = gcd(g, w);
            boolean exact = g > 0 && capacity / g <= EXACT_SLOTS;
            int exactCost = exact ? (int) (capacity / g / CAPACITY_STEPS) + 1 : 0;
            while (true) {
                Group top = queue.peek();
                if (top.bound() == Long.MAX_VALUE || top.dualized()) break;
                // counting exactly where the budget allows it, else dualizing (which costs less)
                boolean exactNow = exact && spent + exactCost <= REFINE_BUDGET;
                int cost = top.lo() < top.hi() ? 2 : !top.fine() ? fineCost : exactNow ? exactCost : DUAL_STEPS * fineCost;
                if (spent + cost > REFINE_BUDGET) break;
                queue.poll();
                spent += cost;
                if (top.lo() < top.hi()) {
                    int mid = (top.lo() + top.hi()) >>> 1;
                    queue.add(evaluate(ls, top.lo(), mid, top.fine(), top.bound(), 0, List.of(top.mix())));
                    queue.add(evaluate(ls, mid + 1, top.hi(), top.fine(), top.bound(), 0, List.of(top.mix())));
                } else if (!top.fine()) {
                    queue.add(evaluate(ls, top.lo(), top.hi(), true, top.bound(), 0, List.of(top.mix())));
                } else if (exactNow) {
                    Group e = evaluate(ls, top.lo(), top.hi(), true, top.bound(), 0, List.of(top.mix()), g);
                    queue.add(new Group(e.lo(), e.hi(), true, true, e.bound(), e.mix(), e.assignments()));
                } else {
                    queue.add(dual(ls, top));
                }
            }
            List<Group> best = new ArrayList<>();
            for (int k = 0; k < 4 && !queue.isEmpty(); k++) best.add(queue.poll());
            return answer(best);
        }

        private static long gcd(long a, long b) { return b == 0 ? a : gcd(b, a % b); }

        /** The first group's bound (the least) and the assignments of them all. */
        private static Answer answer(List<Group> best) {
            List<int[]> found = new ArrayList<>();
            for (Group g : best) found.addAll(g.assignments());
            long b = best.get(0).bound();
            return new Answer(b == Long.MAX_VALUE ? 0 : b, found);
        }

        /**
         * A single-level group's bound raised by a Lagrangian term for the capacity: every assignment of the group has
         * weights on the accelerator W <= room, so for any {@code mu >= 0} its makespan is at least its knapsack cost plus
         * {@code mu * (W - room)}, which is separable (mu * weight joins each task's accelerator time, in bytes, not
         * floored), so the same knapsack bounds it. The floors admit assignments a little over the room (on e5 with the
         * T4, 36 KB of 11.7 MB: one small task's weights per task placed); the term charges them for it. The best
         * {@code mu} is sought by golden section on [0, 4 * time saved per byte] (the bound is concave in mu).
         */
        private Group dual(long[] ls, Group g) {
            double saved = 0, bytes = 0;
            for (int t = 0; t < p.size(); t++) { saved += Math.max(0, time[t][0] - time[t][1]); bytes += p.weightBytes()[t]; }
            Group best = new Group(g.lo(), g.hi(), true, true, g.bound(), g.mix(), g.assignments());
            if (bytes == 0 || saved == 0) return best;
            double a = 0, b = 4 * saved / bytes, ratio = (Math.sqrt(5) - 1) / 2;
            double c = b - ratio * (b - a), d = a + ratio * (b - a);
            Group gc = evaluate(ls, g.lo(), g.hi(), true, Long.MIN_VALUE, c, List.of(g.mix())), gd = evaluate(ls, g.lo(), g.hi(), true, Long.MIN_VALUE, d, List.of(g.mix()));
            for (int k = 2; k < DUAL_STEPS; k++) {
                if (gc.bound() < gd.bound()) {
                    a = c; c = d; gc = gd; d = a + ratio * (b - a);
                    gd = evaluate(ls, g.lo(), g.hi(), true, Long.MIN_VALUE, d, List.of(g.mix()));
                } else {
                    b = d; d = c; gd = gc; c = b - ratio * (b - a);
                    gc = evaluate(ls, g.lo(), g.hi(), true, Long.MIN_VALUE, c, List.of(g.mix()));
                }
            }
            Group top = gc.bound() >= gd.bound() ? gc : gd;
            if (top.bound() <= g.bound()) return best;
            List<int[]> found = new ArrayList<>(top.assignments());
            found.addAll(g.assignments());
            return new Group(g.lo(), g.hi(), true, true, top.bound(), g.mix(), found);
        }

        /**
         * A group of working-set levels {@code ls[lo..hi]}, its bound, the mix that gave it (its refinements try only
         * that one: on ppocr-det every mix for every knapsack took seconds) and the knapsack's assignments.
         */
        private record Group(int lo, int hi, boolean fine, boolean dualized, long bound, Mix mix, List<int[]> assignments) {}

        /** The group's knapsacks (the larger of their values and {@code floor}) with the Lagrangian term {@code mu}. */
        private Group evaluate(long[] ls, int lo, int hi, boolean fine, long floor, double mu, List<Mix> mixes) {
            return evaluate(ls, lo, hi, fine, floor, mu, mixes, 0);
        }

        /** As above, counting weights in units of {@code exactUnit} bytes where it is positive. */
        private Group evaluate(long[] ls, int lo, int hi, boolean fine, long floor, double mu, List<Mix> mixes, long exactUnit) {
            int n = p.size();
            long capacity = p.capacity(1);
            long low = ls[lo], level = ls[hi];
            long room = capacity == Long.MAX_VALUE ? Long.MAX_VALUE : capacity - low;
            if (room < 0) return new Group(lo, hi, true, true, Long.MAX_VALUE, mixes.get(0), List.of());
            long unit = capacity == Long.MAX_VALUE ? 1 : exactUnit > 0 ? exactUnit : Math.max(1, capacity / (fine ? FINE_CAPACITY_STEPS : CAPACITY_STEPS));
            int slots = capacity == Long.MAX_VALUE ? 0 : (int) Math.min(Integer.MAX_VALUE - 1L, room / unit);
            int[] weight = new int[n];
            boolean[] allowed = new boolean[n];
            for (int t = 0; t < n; t++) {
                long w = capacity == Long.MAX_VALUE ? 0 : p.weightBytes()[t] / unit;
                allowed[t] = p.workBytes()[t] <= level && w <= slots;
                weight[t] = (int) Math.min(w, slots + 1L);
            }
            this.unit = unit;
            this.unlimited = capacity == Long.MAX_VALUE;
            this.level = level;
            // the mix only weighs relaxed regions' tasks: with none, one pass is the whole answer
            boolean relaxed = steps.stream().anyMatch(st -> !st.exact() && st.tasks().length > 0);
            java.util.Map<Integer, List<List<List<Option>>>> options = new java.util.HashMap<>();
            long best = floor;
            List<int[]> found = new ArrayList<>();
            Mix bestMix = mixes.get(0);
            long most = Long.MIN_VALUE;
            for (Mix mix : relaxed ? mixes : List.of(MIXES.get(0))) {
                int[] assign = new int[n];
                long b = knapsack(weight, allowed, slots, mix, mu, mu == 0 ? 0 : room, assign, options);
                if (b > most) { most = b; bestMix = mix; }
                best = Math.max(best, b);
                if (b != Long.MAX_VALUE) found.add(assign);
            }
            return new Group(lo, hi, fine, false, best, bestMix, found);
        }

        /**
         * The chain's knapsack: least cost per (capacity used, device of the last cut task), flat at {@code used * 2 +
         * device}; fills {@code assign}.
         */
        private long knapsack(int[] weight, boolean[] allowed, int slots, Mix mix, double mu, double room, int[] assign,
                              java.util.Map<Integer, List<List<List<Option>>>> optionCache) {
            final double none = Double.MAX_VALUE;
            int states = 2 * (slots + 1);
            double[] cost = new double[states];
            Arrays.fill(cost, none);
            // the virtual first cut task: no arcs, so either device stands for it
            cost[0] = 0;
            // per step, how each state was reached: the previous state's device | the region's option << 1 (the used
            // capacity before follows from it, so it is not stored: at exact weights there are 10^5 states a step)
            List<int[]> fromCode = new ArrayList<>();
            List<Object> choices = new ArrayList<>();
            for (int si = 0; si < steps.size(); si++) {
                Step s = steps.get(si);
                double[] mid = cost; // after a relaxed region's tasks, before the cut task v
                long exitCross = 0; // a relaxed region's path's crossing to v
                List<List<List<Option>>> options = null;
                if (s.exact()) {
                    options = optionCache.computeIfAbsent(si, key -> options(s, slots, mu));
                    choices.add(options);
                } else {
                    // items in topological order; the state's device follows the path's last task placed so far
                    // (u's before the first), so that crossings along the path can be charged
                    byte[][] took = new byte[s.tasks().length][];
                    long[] onPath = mix.path() > 0 ? figures.path(s.u(), s.tasks(), allowed) : new long[s.tasks().length];
                    mid = cost.clone();
                    for (int i = 0; i < s.tasks().length; i++) {
                        int t = s.tasks()[i], w = weight[t];
                        boolean pathTask = onPath[i] >= 0 && mix.path() > 0;
                        double onCpu = mix.cpu() * time[t][0], onAcc = mix.acc() * time[t][1] + mu * p.weightBytes()[t];
                        byte[] tk = took[i] = new byte[states];
                        if (!pathTask) {
                            for (int x = states - 1; x >= 0; x--) {
                                double c = mid[x] == none ? none : mid[x] + onCpu;
                                int y = x - 2 * w;
                                if (allowed[t] && y >= 0 && mid[y] != none && mid[y] + onAcc < c) {
                                    c = mid[y] + onAcc;
                                    tk[x] = 1;
                                }
                                mid[x] = c;
                            }
                            continue;
                        }
                        onCpu += mix.path() * time[t][0];
                        onAcc += mix.path() * time[t][1];
                        double hop = mix.path() * onPath[i]; // the crossing from the path's previous task (or u)
                        double[] nxt = new double[states];
                        Arrays.fill(nxt, none);
                        for (int x = 0; x <= slots; x++) {
                            for (int d = 0; d < 2; d++) {
                                if (d == 1 && (!allowed[t] || x < w)) continue;
                                int before = d == 1 ? x - w : x;
                                for (int e = 0; e < 2; e++) {
                                    double c0 = mid[2 * before + e];
                                    if (c0 == none) continue;
                                    double c = c0 + (d == 0 ? onCpu : onAcc) + (d != e ? hop : 0);
                                    if (c < nxt[2 * x + d]) { nxt[2 * x + d] = c; tk[2 * x + d] = (byte) (d | e << 1 | 4); }
                                }
                            }
                        }
                        mid = nxt;
                    }
                    choices.add(took);
                    exitCross = mix.path() > 0 ? figures.pathExit(s.u(), s.v(), s.tasks(), allowed) : 0;
                }
                double[] next = new double[states];
                Arrays.fill(next, none);
                int[] fc = new int[states];
                int v = s.v();
                for (int dv = 0; dv < 2; dv++) {
                    if (v >= 0 && dv == 1 && !allowed[v]) continue;
                    if (v < 0 && dv == 1) continue; // the virtual last cut task: no arcs, one device stands for it
                    int wv = v >= 0 && dv == 1 ? weight[v] : 0;
                    double tv = v >= 0 ? time[v][dv] + (dv == 1 ? mu * p.weightBytes()[v] : 0) : 0;
                    for (int du = 0; du < 2; du++) {
                        if (s.exact()) {
                            List<Option> os = options.get(du).get(dv);
                            for (int oi = 0; oi < os.size(); oi++) {
                                Option o = os.get(oi);
                                double add = o.span() + tv;
                                int shift = o.weight() + wv, code = du | (oi << 1);
                                for (int u = 0; u + shift <= slots; u++) {
                                    double c0 = cost[2 * u + du];
                                    if (c0 == none) continue;
                                    double c = c0 + add;
                                    int to = 2 * (u + shift) + dv;
                                    if (c < next[to]) { next[to] = c; fc[to] = code; }
                                }
                            }
                        } else {
                            double add = (s.tasks().length == 0 ? figures.joinCross(s.u(), v, du, dv) : du != dv ? mix.path() * exitCross : 0) + tv;
                            for (int u = 0; u + wv <= slots; u++) {
                                double c0 = mid[2 * u + du];
                                if (c0 == none) continue;
                                double c = c0 + add;
                                int to = 2 * (u + wv) + dv;
                                if (c < next[to]) { next[to] = c; fc[to] = du; }
                            }
                        }
                    }
                }
                fromCode.add(fc);
                cost = next;
            }
            int bu = -1;
            double best = none;
            for (int u = 0; u <= slots; u++) if (cost[2 * u] < best) { best = cost[2 * u]; bu = u; }
            if (bu < 0) return Long.MAX_VALUE;
            // walk back: the state after step k is (used, device of its cut task)
            int used = bu, dev = 0;
            for (int k = steps.size() - 1; k >= 0; k--) {
                Step s = steps.get(k);
                if (s.v() >= 0) assign[s.v()] = dev;
                int code = fromCode.get(k)[2 * used + dev];
                int du = code & 1, prevUsed = used - (s.v() >= 0 && dev == 1 ? weight[s.v()] : 0);
                if (s.exact()) {
                    @SuppressWarnings("unchecked")
                    List<List<List<Option>>> options = (List<List<List<Option>>>) choices.get(k);
                    Option o = options.get(du).get(dev).get(code >>> 1);
                    prevUsed -= o.weight();
                    for (int i = 0; i < s.tasks().length; i++) assign[s.tasks()[i]] = (o.mask() >>> i) & 1;
                    used = prevUsed;
                    dev = du;
                } else {
                    byte[][] took = (byte[][]) choices.get(k);
                    int u = prevUsed, d = du;
                    for (int i = s.tasks().length - 1; i >= 0; i--) {
                        int t = s.tasks()[i], c = took[i][2 * u + d];
                        assign[t] = c & 1;
                        if ((c & 1) == 1) u -= weight[t];
                        if ((c & 4) != 0) d = (c >>> 1) & 1; // a path task: the device before it
                    }
                    used = u;
                    dev = d;
                }
            }
            return (long) Math.floor(best - mu * room + 1e-9);
        }

        /**
         * Per device of u and of v, the region's options: assignments (bit i: task i of the region on the accelerator)
         * with the weight of all their weights together ({@code bytes / unit}, rounded down, which is at least the sum
         * of their tasks' rounded weights and still at most the room's share: a sum of floors is at most the floor of
         * the sum) and their cost (span plus the Lagrangian term), those no other beats in both, by weight. They come
         * from the region's fronts ({@link #fronts}): a front's assignments beat every other in bytes and span, so for
         * any unit and any {@code mu >= 0} one of them is as light and as cheap as any assignment.
         */
        private List<List<List<Option>>> options(Step s, int slots, double mu) {
            int[] r = s.tasks();
            // the tasks whose working set the level admits (a task too heavy for the room makes any option holding it
            // heavier than the room, so it is left out below), so that fronts serve every unit
            int free = 0;
            for (int i = 0; i < r.length; i++) if (p.workBytes()[r[i]] <= level) free |= 1 << i;
            List<List<long[]>> fronts = frontCache.computeIfAbsent(s, x -> new java.util.HashMap<>()).computeIfAbsent(free, f -> fronts(s, f));
            List<List<List<Option>>> all = new ArrayList<>();
            for (int du = 0; du < 2; du++) {
                List<List<Option>> row = new ArrayList<>();
                for (int dv = 0; dv < 2; dv++) {
                    List<Option> front = new ArrayList<>();
                    for (long[] e : fronts.get(du * 2 + dv)) {
                        long w = unlimited ? 0 : e[0] / unit;
                        if (w > slots) break;
                        double cost = e[1] + mu * e[0];
                        if (front.isEmpty() || cost < front.get(front.size() - 1).span()) {
                            Option o = new Option((int) w, cost, (int) e[2]);
                            // equal weights after rounding: the cheaper one stands for both
                            if (!front.isEmpty() && front.get(front.size() - 1).weight() == w) front.set(front.size() - 1, o);
                            else front.add(o);
                        }
                    }
                    row.add(front);
                }
                all.add(row);
            }
            return all;
        }

        /**
         * Per (du, dv), the region's assignments within {@code free} (bit i: task i may go on the accelerator) that no
         * other beats in both weight bytes and span, as {bytes, span, mask} by bytes. The cheap span ({@link RegionFigures#spans}) of
         * every assignment bounds its searched one ({@link RegionSpans}) from below, so assignments are taken by cheap
         * span and searched only where no assignment already on the front, as light or lighter, has a span of at most
         * their cheap one (they could not join it). Each assignment counts with its searched span where it was
         * searched, else with its cheap one: both are lower bounds on its gap, so the front is a valid one in whatever
         * order they come; the order only saves searches.
         */
        private List<List<long[]>> fronts(Step s, int free) {
            int[] r = s.tasks();
            int k = r.length;
            long[][] spans = spanCache.computeIfAbsent(s, st -> figures.spans(st.u(), st.v(), st.tasks()));
            long[][] searched = searchedCache.computeIfAbsent(s, x -> {
                long[][] e = new long[4][1 << k];
                for (long[] a : e) Arrays.fill(a, -1);
                return e;
            });
            RegionSpans region = regionCache.computeIfAbsent(s, x -> new RegionSpans(p, s.u(), s.v(), r, time, cross, in, out));
            int[] masks = new int[1 << Integer.bitCount(free)];
            long[] bytes = new long[masks.length];
            int count = 0;
            for (int mask = free; ; mask = (mask - 1) & free) {
                long b = 0;
                for (int i = 0; i < k; i++) if (((mask >>> i) & 1) == 1) b += p.weightBytes()[r[i]];
                masks[count] = mask;
                bytes[count++] = b;
                if (mask == 0) break;
            }
            List<List<long[]>> all = new ArrayList<>();
            for (int c = 0; c < 4; c++) {
                int du = c >>> 1, dv = c & 1;
                long[] keys = new long[count];
                for (int i = 0; i < count; i++) keys[i] = Math.min(spans[c][masks[i]], 1L << 42) << 20 | i;
                Arrays.sort(keys);
                java.util.TreeMap<Long, long[]> front = new java.util.TreeMap<>();
                for (long key : keys) {
                    int i = (int) (key & 0xFFFFF), mask = masks[i];
                    long b = bytes[i], cheap = spans[c][mask];
                    var lighter = front.floorEntry(b);
                    if (lighter != null && lighter.getValue()[1] <= cheap) continue;
                    long gap = searched[c][mask];
                    if (gap < 0 && searches < SEARCHES_PER_BOUND) {
                        searches++;
                        gap = searched[c][mask] = region.search(mask, du, dv, cheap, SEARCH_NODES).gap();
                    }
                    long span = gap < 0 ? cheap : gap;
                    if (lighter != null && lighter.getValue()[1] <= span) continue;
                    for (var heavier = front.ceilingEntry(b); heavier != null && heavier.getValue()[1] >= span; heavier = front.ceilingEntry(b)) {
                        front.remove(heavier.getKey());
                    }
                    front.put(b, new long[] {b, span, mask});
                }
                all.add(new ArrayList<>(front.values()));
            }
            return all;
        }
    }
}
