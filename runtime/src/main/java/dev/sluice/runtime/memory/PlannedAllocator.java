package dev.sluice.runtime.memory;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.plan.Lifetime;
import dev.sluice.memgraph.plan.OffsetPlan;
import dev.sluice.runtime.exec.OutputAllocator;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Hands out node outputs as blocks of one arena at the offsets of an {@link OffsetPlan}: no memory is
 * allocated per tensor. The plan is turned into a table by (step, output index) once; a lookup is two
 * array reads. Outputs the plan does not cover (graph outputs, subgraph values, unwanted optional outputs)
 * or that came out larger than profiled (data-dependent shapes) get fresh memory instead, which is always
 * safe. Planned blocks are zeroed before use, like fresh ones, unless the output is written in place over
 * its input.
 */
public final class PlannedAllocator implements OutputAllocator {
    /** The per-(step, output) table of a plan; build once, share between runs. */
    public record Table(long[][] offset, long[][] capacity, boolean[][] inPlace, long arenaBytes) {
        public static Table of(Graph graph, OffsetPlan plan) {
            Map<String, Lifetime> byName = new HashMap<>();
            for (Lifetime l : plan.lifetimes()) byName.put(l.value(), l);
            List<Node> nodes = graph.nodes();
            long[][] off = new long[nodes.size()][];
            long[][] cap = new long[nodes.size()][];
            boolean[][] ip = new boolean[nodes.size()][];
            for (int s = 0; s < nodes.size(); s++) {
                List<String> outs = nodes.get(s).outputs();
                off[s] = new long[outs.size()];
                cap[s] = new long[outs.size()];
                ip[s] = new boolean[outs.size()];
                for (int i = 0; i < outs.size(); i++) {
                    Lifetime l = byName.get(outs.get(i));
                    Long o = l == null ? null : plan.offset(l.value());
                    off[s][i] = o == null || l.firstStep() != s ? -1 : o;
                    cap[s][i] = l == null ? 0 : l.bytes();
                    ip[s][i] = plan.inPlace().containsKey(outs.get(i));
                }
            }
            return new Table(off, cap, ip, plan.arenaBytes());
        }
    }

    private final Table table;
    private final MemorySegment arena;
    private final boolean zero;
    private int planned, fresh;

    public PlannedAllocator(Table table, MemorySegment arena, boolean zero) {
        if (arena.byteSize() < table.arenaBytes()) {
            throw new IllegalArgumentException("arena of " + arena.byteSize() + " bytes is smaller than the plan's " + table.arenaBytes());
        }
        if (arena.isNative() && arena.address() % Tensor.ALIGNMENT != 0) throw new IllegalArgumentException("arena is not aligned");
        this.table = table;
        this.arena = arena;
        this.zero = zero;
    }

    @Override public Tensor allocate(int step, Node node, int index, DType dtype, Shape shape) {
        if (step >= 0 && step < table.offset.length && index < table.offset[step].length) {
            long off = table.offset[step][index];
            long need = Tensor.blockBytes(Tensor.byteSize(dtype, shape));
            if (off >= 0 && need <= table.capacity[step][index]) {
                MemorySegment block = arena.asSlice(off, need);
                if (zero && !table.inPlace[step][index]) block.fill((byte) 0);
                planned++;
                return Tensor.inBlock(dtype, shape, block);
            }
        }
        fresh++;
        return Tensor.allocate(dtype, shape);
    }

    /** Outputs placed in the arena during the runs that used this allocator. */
    public int plannedCount() { return planned; }

    /** Outputs that got fresh memory. */
    public int freshCount() { return fresh; }
}
