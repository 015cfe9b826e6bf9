package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Model;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.memgraph.Task;
import dev.sluice.memgraph.Tile;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.Device;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import dev.sluice.runtime.zoo.Zoo;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The invariant on the zoo's real models: on the throttled device at 100%, 50% and 25% of what a run needs
 * with nothing offloaded, in dynamic and fixed order and under injected lane delays, every output is bit
 * for bit the reference executor's and the arena (which fails the run the moment it would pass its budget)
 * never goes over. Copy lanes are unlimited so the test spends its time on kernels, not on simulated links.
 *
 * <p>Where a percentage is below what the largest node needs even with its weight split into tiles (an
 * activation-bound node of a CNN), the plan must be refused before running with the number it needs, and
 * the model then runs at exactly that number: the tightest budget it can have.
 *
 * <p>If nodes are inlined for the branch the sample inputs take before planning (MeasuredShapes): Silero VAD,
 * whose whole network sits in an If on its sample rate, was one opaque task; now its largest node is its
 * one-step LSTM, split by blocks of hidden units (each tile loads only its units' gate rows), so it runs at
 * 25% and its minimum is a small fraction of its full need.
 *
 * <p>MatMul / Gemm column tiles are on (the default): ppocr-rec's classifier is split at every budget, and
 * all-MiniLM's projections at 25%. Conv / FusedConv output-channel tiles (group 1) are on too: the three
 * PaddleOCR models split their convs at every budget. They lower ppocr-rec's minimum (a FusedConv was its
 * largest node; then its Softmax was) but not ppocr-det's, whose largest node was an Add of two activations
 * (7,372,992 B).
 *
 * <p>Same-shape elementwise nodes are split by element ranges, Softmax over the last axis by whole rows (both
 * on by default): ppocr-det's Add_41 reads its inputs range by range, so its minimum fell to 4,916,096 B (the
 * activations of a channel-broadcast Mul, a Concat, a BatchNormalization) and it ran at 50% only; ppocr-rec's
 * fell from 2,120,192 B (its Softmax) to 1,992,960 B (a FusedConv whose small weight does not pay for its
 * tiles' scratch).
 *
 * <p>Nodes with NCHW outputs are split by bands of output rows when nothing else fits (on by default, see
 * RowBands): convs of any group, ConvTranspose with kernel = stride, nearest Resize, BatchNormalization, Concat
 * and elementwise ops with per-channel operands gather their input rows (with the window's halo) from host
 * copies and scatter their output rows back, so they need neither whole input nor whole output; a conv whose
 * channel tiles would need more than three quarters of the budget is split by rows too (ppocr-det's first
 * 1x1 expansion at 50%, ppocr-rec's at its minimum). ppocr-det's
 * minimum falls from 4,916,096 B to 2,458,112 B (GlobalAveragePool_3, a reduction over its whole 2.4 MB
 * input) and it runs at 25%; ppocr-rec's falls to 1,484,160 B (its Softmax again), ppocr-cls's from 328,320 B
 * to 251,520 B (a depthwise 5x5 FusedConv on a 2-row image, whose every band reads all input rows).
 *
 * <p>The comparison is strict: one reference run, no retries. The kernels are deterministic across JIT
 * tiers (Gemm32 sums vector lanes in a fixed order, not with {@code reduceLanes}), so any difference is
 * the dispatcher's or the plan's: a missing data or memory edge, or a block reused too early.
 */
class RealModelBudgetTest {
    static final DeviceSpec THROTTLED = new DeviceSpec("throttled", DeviceKind.THROTTLED, 1);

    @ParameterizedTest(name = "{0}")
    // wakeword-deepa is not here yet: MemGraph.onDevice refuses its first Gemm ("tile 0 ... does not fit
    // the arena ... next to its output") at a budget not below minimumBudget's (see issue 13's notes)
    @ValueSource(strings = {"silero-vad", "all-minilm-l6-v2", "ppocr-det", "ppocr-rec", "ppocr-cls",
        "blazeface", "oww-melspec", "oww-embedding"})
    void bitIdenticalAtEveryBudgetInEveryOrder(String name) {
        Zoo.Model z = Zoo.find(name);
        try (Session s = Session.open(z.path(), 1)) {
            Map<String, Tensor> in = z.sampleInputs(1);
            GraphExecutor refEx = s.executorFor(in);
            Map<String, Tensor> ref = refEx.run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
            Model m = MeasuredShapes.of(refEx, in);
            long full = MemGraph.fullNeed(m.graph(), THROTTLED);
            long min = MemGraph.minimumBudget(m.graph(), THROTTLED);
            for (int pct : new int[] {100, 50, 25}) {
                long budget = full * pct / 100;
                if (budget < min) {
                    long b = budget;
                    MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(m.graph(), THROTTLED.withBudget(b)));
                    assertEquals(min, e.neededBytes(), e.getMessage());
                    assertTrue(e.getMessage().contains("needs at least " + min + " bytes"), e.getMessage());
                    budget = min;
                }
                MemGraph plan = MemGraph.onDevice(m.graph(), THROTTLED.withBudget(budget));
                if (name.equals("ppocr-rec")) {
                    // Its 6,625-column classifier MatMul is split by weight columns at every budget (on by default).
                    assertTrue(plan.tasks().stream().anyMatch(t -> t instanceof Task.Kernel k && k.tile() != null
                        && k.tile().kind() == Tile.Kind.OUTPUT_COLUMNS), plan.summary());
                }
                if (name.startsWith("ppocr-") && pct > 25) {
                    assertTrue(plan.tasks().stream().anyMatch(t -> t instanceof Task.Kernel k && k.tile() != null
                        && k.tile().kind() == Tile.Kind.OUTPUT_CHANNELS), plan.summary());
                }
                if (name.equals("silero-vad")) {
                    assertEquals(full * pct / 100, budget, "Silero runs at " + pct + "%: its If inlined, its LSTM in unit blocks");
                    assertTrue(plan.tasks().stream().noneMatch(t -> t instanceof Task.Kernel k
                        && m.graph().nodes().get(k.node()).opType().equals("If")), "no If left to plan: " + plan.summary());
                    if (pct < 100) {
                        assertTrue(plan.tasks().stream().anyMatch(t -> t instanceof Task.Kernel k && k.tile() != null
                            && k.tile().kind() == Tile.Kind.HIDDEN_UNITS), plan.summary());
                    }
                }
                if (name.equals("ppocr-det") && pct == 25) {
                    assertEquals(full / 4, budget, "ppocr-det runs at 25%, its convs and activations in row bands");
                }
                if (name.startsWith("ppocr-") && pct == 25) {
                    // At 25% (ppocr-det) or their minimum (rec, cls), convs split by bands of output rows.
                    assertTrue(plan.tasks().stream().anyMatch(t -> t instanceof Task.Kernel k && k.tile() != null
                        && k.tile().kind() == Tile.Kind.OUTPUT_ROWS), plan.summary());
                    assertTrue(plan.tasks().stream().anyMatch(t -> t instanceof Task.Transfer x && x.rows()), plan.summary());
                }
                if (name.equals("ppocr-det") && pct < 100) {
                    assertTrue(plan.tasks().stream().anyMatch(t -> t instanceof Task.Kernel k && k.tile() != null
                        && k.tile().kind() == Tile.Kind.ELEMENTS), plan.summary());
                }
                List<Device> devices = List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, s.parallelism()));
                for (Dispatcher.Order order : Dispatcher.Order.values()) {
                    MemGraphExecutor ex = new MemGraphExecutor(m, s.registry(), plan, devices, order);
                    for (int run = 0; run < 2; run++) {
                        long budgetUsed = budget;
                        Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(pct * 31L + run, 20_000);
                        MemGraphExecutor.Result r = ex.run(in, d);
                        String where = name + " at " + pct + "% = " + budget + " B (" + order + ", run " + run + "; " + plan.summary() + ")";
                        assertEquals(ref.keySet(), r.outputs().keySet(), where);
                        for (var e : ref.entrySet()) {
                            assertTrue(e.getValue().sameBits(r.outputs().get(e.getKey())), "output " + e.getKey() + " differs: " + where);
                        }
                        assertTrue(r.peakBytes().get(1) <= budgetUsed, r.peakBytes() + " over " + budgetUsed + ": " + where);
                    }
                }
            }
        }
    }

}
