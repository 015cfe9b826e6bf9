package dev.sluice.memgraph.placement;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * Which tasks must run between two others, for the MILP's stage cuts and {@link ChainBound}. Task u precedes v ({@code u < v} in the DAG)
 * when a path of arcs leads from u to v; then every task t with {@code u < t < v} starts after u ends and ends before
 * v starts, in every schedule of the model (each arc is a delay of at least zero). A device runs one task at a time,
 * so the gap between u's end and v's start is at least the time, on each device, of the tasks of that interval placed
 * there. With u a virtual source (v's ancestors) or v a virtual sink (u's descendants) the same holds against time 0
 * and the makespan.
 *
 * <p>A <em>cut task</em> is one that every other task precedes or follows, so it runs alone; consecutive cut tasks
 * split the graph into stages that run one after another. The MILP states the stage loads as cuts (linear in the
 * device choices, so its relaxation sees that stages do not overlap) and {@link ChainBound} sums cut tasks and stages
 * into a knapsack bound.
 */
final class IntervalLoads {
    /** Per task, its ancestors and its descendants (task indices). */
    final BitSet[] ancestors, descendants;
    /** Cut tasks in index order; any two are related, so each precedes the next. */
    final int[] cuts;

    IntervalLoads(PlacementProblem p) {
        int n = p.size();
        ancestors = new BitSet[n];
        descendants = new BitSet[n];
        for (int t = 0; t < n; t++) { ancestors[t] = new BitSet(n); descendants[t] = new BitSet(n); }
        // arcs go forward: in index order every predecessor's ancestors are complete
        List<List<PlacementProblem.Arc>> preds = p.predecessors();
        for (int t = 0; t < n; t++) {
            for (PlacementProblem.Arc a : preds.get(t)) {
                ancestors[t].set(a.from());
                ancestors[t].or(ancestors[a.from()]);
            }
        }
        for (int t = 0; t < n; t++) for (int u = ancestors[t].nextSetBit(0); u >= 0; u = ancestors[t].nextSetBit(u + 1)) descendants[u].set(t);
        List<Integer> c = new ArrayList<>();
        for (int t = 0; t < n; t++) if (ancestors[t].cardinality() + descendants[t].cardinality() + 1 == n) c.add(t);
        cuts = c.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The tasks strictly between u and v (u must precede v). */
    BitSet between(int u, int v) {
        BitSet b = (BitSet) descendants[u].clone();
        b.and(ancestors[v]);
        return b;
    }
}
