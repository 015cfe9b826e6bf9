package dev.sluice.runtime.dispatch;

import dev.sluice.runtime.exec.SessionInternals;
import static org.junit.jupiter.api.Assertions.*;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import dev.sluice.graph.Model;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
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
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * LSTM, GRU and RNN over long sequences split by time steps ({@link Tile.Kind#TIME_STEPS}) against the plain
 * executor: {@code x = Tanh(x0)}, then the recurrent node, whose outputs are the graph's. At 200%, 100%, 50% and
 * 25% of the full need (or the minimum where that is less) and at the minimum, in dynamic and fixed order, with and without lane
 * jitter, every output is bit for bit the plain executor's and the arena stays under budget. With room, the
 * tiles read views of the resident X; at the tightest budgets X is offloaded and read range by range from its
 * host copy. Reverse nodes run their tiles from the last steps to the first; sequence_lens cuts some batch rows
 * short, inside a tile and at a tile edge.
 *
 * <p>The same models against ONNX Runtime check the float32 kernel itself (its state is float32, as ORT's).
 */
class RecurrentTilingTest {
    /** op, direction, seq, batch, input, hidden, initial state, sequence_lens, outputs (Y, Y_h, Y_c wanted), extra. */
    @ParameterizedTest(name = "{0} {1} seq={2} batch={3} in={4} hidden={5} init={6} lens={7} out={8} {9}")
    @CsvSource({
        "LSTM,forward,256,1,64,64,false,false,111,''",
        "LSTM,reverse,128,2,32,48,true,false,111,''",
        "LSTM,forward,96,3,24,32,true,true,110,peepholes",
        "LSTM,reverse,100,2,40,32,false,true,101,''",
        "GRU,forward,256,1,64,64,true,false,11,''",
        "GRU,reverse,160,2,32,40,false,true,11,''",
        "GRU,forward,128,2,48,32,true,true,01,linear_before_reset",
        "RNN,forward,256,1,64,64,false,false,11,''",
        "RNN,reverse,192,3,16,32,true,true,10,''",
    })
    void timeStepTilesAreBitIdenticalToTheWholeNode(String op, String dir, int seq, int batch, int in, int hidden, boolean init,
                                                     boolean lens, String outs, String extra, @TempDir Path tmp) throws Exception {
        check(new Case(op, dir, seq, batch, in, hidden, init, lens, outs, extra), tmp, false);
    }

    /**
     * Nodes whose gate weights dominate: one step (Silero VAD's LSTM: input 128, hidden 128), or a few steps too
     * short or too tight for time-step tiles. At 100%, 50%, 25% and the minimum they are split by step and block
     * of hidden units ({@link Tile.Kind#HIDDEN_UNITS}), every block of a step before the next step, and run bit
     * for bit as the whole node. Hidden sizes that are not a multiple of the block leave a narrower last block;
     * batch x input not a multiple of 16 makes the tiles copy X step by step; GRU with linear_before_reset.
     */
    @ParameterizedTest(name = "{0} {1} seq={2} batch={3} in={4} hidden={5} init={6} lens={7} out={8} {9}")
    @CsvSource({
        "LSTM,forward,1,1,128,128,true,false,111,''",
        "LSTM,forward,1,2,64,40,false,false,011,''",
        "LSTM,reverse,6,2,24,40,true,true,111,peepholes",
        "LSTM,forward,5,3,20,48,true,false,101,''",
        "LSTM,forward,3,1,32,64,false,true,011,''",
        "GRU,forward,1,1,64,96,true,false,11,linear_before_reset",
        "GRU,reverse,4,2,32,64,true,true,01,linear_before_reset",
        "RNN,forward,1,2,32,64,false,false,11,''",
        "RNN,forward,8,1,16,128,true,false,10,''",
    })
    void hiddenUnitTilesAreBitIdenticalToTheWholeNode(String op, String dir, int seq, int batch, int in, int hidden, boolean init,
                                                       boolean lens, String outs, String extra, @TempDir Path tmp) throws Exception {
        check(new Case(op, dir, seq, batch, in, hidden, init, lens, outs, extra), tmp, true);
    }

    /**
     * Plans c at 200%, 100%, 50%, 25% and the minimum and runs each plan in both orders, with and without jitter,
     * against the plain executor; {@code units}: the tight plans must be split by hidden units, else at 200% by time steps.
     */
    private void check(Case c, Path tmp, boolean units) throws Exception {
        String op = c.op(), dir = c.dir();
        int seq = c.seq(), hidden = c.hidden();
        Path file = c.write(tmp.resolve("rnn.onnx"));
        Map<String, Tensor> feeds = c.feeds();
        try (Session s = Session.open(file, 1)) {
            GraphExecutor refEx = SessionInternals.executorFor(s, feeds);
            Map<String, Tensor> ref = refEx.run(feeds, OutputAllocator.FRESH, ExecutionListener.NONE);
            Model m = MeasuredShapes.of(refEx, feeds);
            long full = MemGraph.fullNeed(m.graph(), RealModelBudgetTest.THROTTLED);
            long min = MemGraph.minimumBudget(m.graph(), RealModelBudgetTest.THROTTLED);
            for (int pct : new int[] {200, 100, 50, 25, 0}) {
                long budget = Math.max(min, full * pct / 100);
                if (pct > 0 && full * pct / 100 < min) {
                    long b = full * pct / 100;
                    MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(m.graph(), RealModelBudgetTest.THROTTLED.withBudget(b)));
                    assertEquals(min, e.neededBytes(), e.getMessage());
                }
                MemGraph plan = MemGraph.onDevice(m.graph(), RealModelBudgetTest.THROTTLED.withBudget(budget));
                List<Tile> tiles = plan.tasks().stream().filter(t -> t instanceof Task.Kernel k && k.tile() != null
                    && (k.tile().kind() == Tile.Kind.TIME_STEPS || k.tile().kind() == Tile.Kind.HIDDEN_UNITS))
                    .map(t -> ((Task.Kernel) t).tile()).toList();
                // Unit tiles copy every block again at each step: a longer node is split so only when the time-step
                // split does not fit, and not at all where the whole node fits.
                boolean unitsDue = units && pct <= (seq == 1 ? 100 : 50);
                if (!units || unitsDue) assertTrue(tiles.size() > 1, "recurrent tiles at " + pct + "%: " + plan.summary());
                Tile.Kind kind = tiles.isEmpty() ? null : tiles.getFirst().kind();
                if (unitsDue) assertEquals(Tile.Kind.HIDDEN_UNITS, kind, "at " + pct + "%: " + plan.summary());
                if (!units && pct == 200) assertEquals(Tile.Kind.TIME_STEPS, kind, "at 200%: " + plan.summary());
                if (kind == Tile.Kind.TIME_STEPS) checkOrder(tiles, dir.equals("reverse"), seq);
                else if (kind != null) checkUnitOrder(tiles, dir.equals("reverse"), seq, hidden);
                // At the minimum the unit tiles have the narrowest blocks (Tiling.HIDDEN_UNIT = 4 units, the last maybe fewer).
                if (units && budget == min) assertEquals(4, tiles.stream().mapToLong(t -> t.end() - t.start()).max().orElse(0), plan.summary()); // the narrowest block: Tiling.HIDDEN_UNIT units
                if (budget == min && seq > 1) {
                    // At the minimum (the whole X does not fit beside the node's other needs), X is read by step ranges.
                    // (Of a one-step node the step is all of X: kept resident, it is read in place.)
                    assertTrue(plan.tasks().stream().anyMatch(t -> t instanceof Task.Transfer x && x.ranged()
                        && plan.buffers().get(x.dst()).value().startsWith("x#range")), "X read range by range at the minimum: " + plan.summary());
                } else if (pct == 200 && !units) {
                    // With room, the tiles read views of the resident X. (At exactly 100% it may not fit: the
                    // tiles hold a state buffer in and out per state tensor where the whole node holds Y_h / Y_c.)
                    assertTrue(plan.tasks().stream().noneMatch(t -> t instanceof Task.Transfer x && x.ranged()
                        && plan.buffers().get(x.dst()).value().startsWith("x#range")), "X read in place at 200%: " + plan.summary());
                }
                List<Device> devices = List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, s.parallelism()));
                for (Dispatcher.Order order : Dispatcher.Order.values()) {
                    MemGraphExecutor ex = new MemGraphExecutor(m, s.registry(), plan, devices, order);
                    for (int run = 0; run < 2; run++) {
                        Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(pct * 31L + run, 20_000);
                        MemGraphExecutor.Result r = ex.run(feeds, d);
                        String where = c + " at " + pct + "% = " + budget + " B in " + tiles.size() + " tiles (" + order + ", run " + run
                            + "; " + plan.summary() + ")";
                        assertEquals(ref.keySet(), r.outputs().keySet(), where);
                        for (var e : ref.entrySet()) {
                            assertTrue(e.getValue().sameBits(r.outputs().get(e.getKey())), "output " + e.getKey() + " differs: " + where);
                        }
                        assertTrue(r.peakBytes().get(1) <= budget, r.peakBytes() + " over " + budget + ": " + where);
                    }
                }
            }
            // The float32 kernel (whole sequence) against ONNX Runtime.
            Map<String, Tensor> ort = OrtReference.run(file, feeds);
            assertEquals(ort.keySet(), ref.keySet());
            for (var e : ort.entrySet()) {
                String mismatch = Tolerance.DEFAULT.mismatch(ref.get(e.getKey()), e.getValue());
                assertNull(mismatch, c + " output " + e.getKey() + " vs ONNX Runtime: " + mismatch);
            }
        }
    }

    /**
     * Hidden-unit tiles: every step once, in the order the steps run, each step's blocks ascending, adjacent and
     * covering [0, hidden), at least two of them; all tiles of a step before any of the next.
     */
    private static void checkUnitOrder(List<Tile> tiles, boolean reverse, int seq, int hidden) {
        int t = 0;
        for (int s = 0; s < seq; s++) {
            long step = reverse ? seq - 1 - s : s;
            long j = 0;
            int blocks = 0;
            while (j < hidden) {
                Tile tile = tiles.get(t);
                assertEquals(t, tile.index());
                assertEquals((long) seq * hidden, tile.total());
                assertEquals(step, tile.start() / hidden, "step order: " + tiles);
                assertEquals(j, tile.start() % hidden, "blocks of step " + step + ": " + tiles);
                assertTrue(tile.end() > tile.start() && tile.end() <= (step + 1) * hidden, tiles.toString());
                j += tile.end() - tile.start();
                blocks++;
                t++;
            }
            assertEquals(hidden, j);
            assertTrue(blocks >= 2, "at least two blocks per step: " + tiles);
        }
        assertEquals(tiles.size(), t);
    }

    /** Tiles cover [0, seq) once, in the order the steps run: ascending, or descending for a reverse node. */
    private static void checkOrder(List<Tile> tiles, boolean reverse, int seq) {
        long covered = 0;
        for (int t = 0; t < tiles.size(); t++) {
            Tile tile = tiles.get(t);
            assertEquals(t, tile.index());
            assertEquals(seq, tile.total());
            covered += tile.end() - tile.start();
            if (t > 0) {
                Tile p = tiles.get(t - 1);
                if (reverse) assertEquals(tile.end(), p.start(), "reverse tiles run backwards: " + tiles);
                else assertEquals(p.end(), tile.start(), "forward tiles run forwards: " + tiles);
            }
        }
        assertEquals(seq, covered);
    }

    private record Case(String op, String dir, int seq, int batch, int in, int hidden, boolean init, boolean lens, String outs, String extra) {
        int gates() { return switch (op) { case "LSTM" -> 4; case "GRU" -> 3; default -> 1; }; }

        SplittableRandom random() { return new SplittableRandom(((long) op.hashCode() * 31 + dir.hashCode()) * 1009 + seq * 7L + batch); }

        /** sequence_lens: the full length, one cut inside a step range, one on a multiple of 16 (a likely tile edge). */
        long[] lengths() {
            long[] l = new long[batch];
            // short sequences: one row half as long, one of length 0
            for (int b = 0; b < batch; b++) l[b] = b == 0 ? seq : seq > 40 ? (b == 1 ? seq - 37 : 32) : (b == 1 ? seq / 2 : 0);
            return l;
        }

        Path write(Path file) throws Exception {
            SplittableRandom r = random();
            int g = gates();
            float scale = (float) (1 / Math.sqrt(hidden));
            OnnxModelBuilder b = new OnnxModelBuilder(14).input("x0", 1, seq, batch, in);
            b.floatInit("W", new long[] {1, g * hidden, in}, values(r, g * hidden * in, scale));
            b.floatInit("R", new long[] {1, g * hidden, hidden}, values(r, g * hidden * hidden, scale));
            b.floatInit("B", new long[] {1, 2 * g * hidden}, values(r, 2 * g * hidden, 0.5f));
            List<String> ins = new ArrayList<>(List.of("x", "W", "R", "B"));
            if (lens) b.input("lens", 6, batch); // int32, a graph input: loaded whole beside the weights
            ins.add(lens ? "lens" : "");
            if (init) {
                b.input("h0", 1, 1, batch, hidden);
                ins.add("h0");
                if (op.equals("LSTM")) { b.input("c0", 1, 1, batch, hidden); ins.add("c0"); }
            }
            if (extra.equals("peepholes")) {
                while (ins.size() < 7) ins.add("");
                b.floatInit("P", new long[] {1, 3 * hidden}, values(r, 3 * hidden, 0.5f));
                ins.add("P");
            }
            while (!ins.isEmpty() && ins.getLast().isEmpty()) ins.removeLast();
            List<String> outputs = new ArrayList<>();
            String[] names = {"y", "yh", "yc"};
            for (int k = 0; k < outs.length(); k++) {
                boolean wanted = outs.charAt(k) == '1';
                outputs.add(wanted ? names[k] : "");
                if (!wanted) continue;
                if (k == 0) b.output("y", 1, seq, 1, batch, hidden);
                else b.output(names[k], 1, 1, batch, hidden);
            }
            b.node("Tanh", List.of("x0"), List.of("x"));
            List<OnnxMl.AttributeProto> attrs = new ArrayList<>(List.of(OnnxModelBuilder.intAttr("hidden_size", hidden),
                OnnxMl.AttributeProto.newBuilder().setName("direction").setType(OnnxMl.AttributeProto.AttributeType.STRING)
                    .setS(ByteString.copyFromUtf8(dir)).build()));
            if (extra.equals("linear_before_reset")) attrs.add(OnnxModelBuilder.intAttr("linear_before_reset", 1));
            b.node(op, ins, outputs, attrs.toArray(OnnxMl.AttributeProto[]::new));
            return b.write(file);
        }

        Map<String, Tensor> feeds() {
            SplittableRandom r = new SplittableRandom(random().nextLong() + 1);
            Map<String, Tensor> f = new LinkedHashMap<>();
            f.put("x0", ColumnTilingTest.random(r, Shape.of(seq, batch, in)));
            if (lens) {
                Tensor l = Tensor.allocate(DType.INT32, Shape.of(batch));
                long[] v = lengths();
                for (int b = 0; b < batch; b++) l.setLong(b, v[b]);
                f.put("lens", l);
            }
            if (init) {
                f.put("h0", ColumnTilingTest.random(r, Shape.of(1, batch, hidden)));
                if (op.equals("LSTM")) f.put("c0", ColumnTilingTest.random(r, Shape.of(1, batch, hidden)));
            }
            return f;
        }

        private static float[] values(SplittableRandom r, int n, float scale) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 2 - 1) * scale;
            return v;
        }
    }
}
