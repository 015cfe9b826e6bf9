package dev.sluice.kernels.cpu.control;

import static dev.sluice.kernels.cpu.core.FakeNodeCall.dims;
import static dev.sluice.kernels.cpu.core.FakeNodeCall.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.FakeNodeCall;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ControlFlowKernelsTest {
    private static final TensorType F2 = TensorType.of(DType.FLOAT32, SymShape.ofKnown(2));

    private static Tensor bool(boolean v) {
        Tensor t = Tensor.allocate(DType.BOOL, Shape.SCALAR);
        t.setBoolean(0, v);
        return t;
    }

    @Test
    void ifRunsOnlyTheChosenBranch() {
        var then = new FakeNodeCall.FakeGraph(List.of(), List.of(F2), in -> List.of(floats(dims(2), 1, 2)));
        var other = new FakeNodeCall.FakeGraph(List.of(), List.of(F2), in -> List.of(floats(dims(2), 3, 4)));
        Tensor[] o = new FakeNodeCall("If", 11, 1, bool(false)).attr("then_branch", then).attr("else_branch", other).run();
        assertArrayEquals(new double[] {3, 4}, o[0].toDoubleArray());
        assertEquals(0, then.runs);
        assertEquals(1, other.runs);
        // a one-element tensor also serves as condition
        Tensor c = FakeNodeCall.of(DType.BOOL, dims(1), 1);
        o = new FakeNodeCall("If", 11, 1, c).attr("then_branch", then).attr("else_branch", other).run();
        assertArrayEquals(new double[] {1, 2}, o[0].toDoubleArray());
    }

    @Test
    void ifInferenceKeepsOnlyWhatBothBranchesAgreeOn() {
        var a = new FakeNodeCall.FakeGraph(List.of(), List.of(TensorType.of(DType.FLOAT32, SymShape.ofKnown(2, 3))), null);
        var b = new FakeNodeCall.FakeGraph(List.of(), List.of(TensorType.of(DType.FLOAT32, SymShape.ofKnown(2, 5))), null);
        var call = new FakeNodeCall("If", 11, 1, bool(true)).attr("then_branch", a).attr("else_branch", b);
        List<TensorType> t = dev.sluice.kernels.OpRegistry.cpu().find("", "If").infer(call);
        assertEquals("float32[2,?]", t.get(0).toString());
    }

    /** Body: (i, cond, y) -> (y + i < limit, y + i, [y, i]) with scan output the pair. */
    private static FakeNodeCall.FakeGraph sumBody(double limit) {
        return new FakeNodeCall.FakeGraph(List.of(), List.of(TensorType.UNKNOWN, TensorType.UNKNOWN, F2), in -> {
            long i = in.get(0).getLong(0);
            double y = in.get(2).getDouble(0) + i;
            return List.of(bool(y < limit), floats(dims(), y), floats(dims(2), y, i));
        });
    }

    @Test
    void loopWithTripCountCarriesAndStacksScanOutputs() {
        Tensor m = Tensor.ofLongs(Shape.SCALAR, 4);
        Tensor[] o = new FakeNodeCall("Loop", 11, 2, m, bool(true), floats(dims(), 10)).attr("body", sumBody(1e9)).run();
        // y: 10, 10+0, +1, +2, +3 = 16
        assertArrayEquals(new double[] {16}, o[0].toDoubleArray());
        assertEquals(Shape.of(4, 2), o[1].shape());
        assertArrayEquals(new double[] {10, 0, 11, 1, 13, 2, 16, 3}, o[1].toDoubleArray());
    }

    @Test
    void loopWithoutTripCountStopsOnBodyCondition() {
        var body = sumBody(13);
        Tensor[] o = new FakeNodeCall("Loop", 11, 2, null, bool(true), floats(dims(), 10)).attr("body", body).run();
        // 10 (true), 11 (true), 13 (false: stop)
        assertArrayEquals(new double[] {13}, o[0].toDoubleArray());
        assertEquals(3, body.runs);
        assertEquals(Shape.of(3, 2), o[1].shape());
    }

    @Test
    void loopThatNeverRunsReturnsInitialValuesAndEmptyScans() {
        Tensor[] o = new FakeNodeCall("Loop", 11, 2, Tensor.ofLongs(Shape.SCALAR, 5), bool(false), floats(dims(), 10))
                .attr("body", sumBody(1e9)).run();
        assertArrayEquals(new double[] {10}, o[0].toDoubleArray());
        assertEquals(Shape.of(0, 2), o[1].shape()); // element shape from the body's declared output
    }

    @Test
    void loopPassesIterationNumberAndCondToTheBody() {
        List<Long> seen = new ArrayList<>();
        var body = new FakeNodeCall.FakeGraph(List.of(), List.of(TensorType.UNKNOWN), in -> {
            seen.add(in.get(0).getLong(0));
            assertEquals(DType.BOOL, in.get(1).dtype());
            return List.of(in.get(1));
        });
        new FakeNodeCall("Loop", 11, 0, Tensor.ofLongs(Shape.SCALAR, 3), null).attr("body", body).run();
        assertEquals(List.of(0L, 1L, 2L), seen);
    }

    @Test
    void scanSumsAlongAxisWithReverseOutput() {
        // state s, scan input rows r: s' = s + r, output s'
        var body = new FakeNodeCall.FakeGraph(List.of(), List.of(F2, F2), in -> {
            Tensor s = in.get(0), r = in.get(1);
            Tensor n = floats(dims(2), s.getDouble(0) + r.getDouble(0), s.getDouble(1) + r.getDouble(1));
            return List.of(n, n);
        });
        Tensor init = floats(dims(2), 0, 0);
        Tensor x = floats(dims(3, 2), 1, 2, 3, 4, 5, 6);
        Tensor[] o = new FakeNodeCall("Scan", 9, 2, init, x).attr("num_scan_inputs", 1).attr("body", body).run();
        assertArrayEquals(new double[] {9, 12}, o[0].toDoubleArray());
        assertArrayEquals(new double[] {1, 2, 4, 6, 9, 12}, o[1].toDoubleArray());
        // scan the input backwards, store the output backwards and along axis 1
        Tensor[] r = new FakeNodeCall("Scan", 9, 2, init, x).attr("num_scan_inputs", 1).attr("body", body)
                .attr("scan_input_directions", new long[] {1}).attr("scan_output_directions", new long[] {1})
                .attr("scan_output_axes", new long[] {1}).run();
        // reversed partial sums: [5,6], [8,10], [9,12]; stored last-first then transposed to [2,3]
        assertEquals(Shape.of(2, 3), r[1].shape());
        assertArrayEquals(new double[] {9, 8, 5, 12, 10, 6}, r[1].toDoubleArray());
    }

    @Test
    void scanInputAlongAxisOne() {
        var body = new FakeNodeCall.FakeGraph(List.of(), List.of(TensorType.UNKNOWN, TensorType.UNKNOWN), in -> {
            Tensor s = floats(dims(), in.get(0).getDouble(0) + in.get(1).getDouble(0) * 10 + in.get(1).getDouble(1));
            return List.of(s, s);
        });
        // x [2, 3] scanned along axis 1: columns (1,4), (2,5), (3,6)
        Tensor x = floats(dims(2, 3), 1, 2, 3, 4, 5, 6);
        Tensor[] o = new FakeNodeCall("Scan", 9, 2, floats(dims(), 0), x).attr("num_scan_inputs", 1).attr("body", body)
                .attr("scan_input_axes", new long[] {1}).run();
        assertArrayEquals(new double[] {14, 14 + 25, 14 + 25 + 36}, o[1].toDoubleArray());
    }

    @Test
    void scanOpset8HasBatchAxisAndSequenceLens() {
        var body = new FakeNodeCall.FakeGraph(List.of(), List.of(TensorType.UNKNOWN, TensorType.UNKNOWN), in -> {
            Tensor s = floats(dims(), in.get(0).getDouble(0) + in.get(1).getDouble(0));
            return List.of(s, s);
        });
        Tensor lens = FakeNodeCall.of(DType.INT32, dims(2), 3, 2);
        Tensor init = floats(dims(2), 0, 100);
        Tensor x = floats(dims(2, 3), 1, 2, 3, 4, 5, 6);
        Tensor[] o = new FakeNodeCall("Scan", 8, 2, lens, init, x).attr("num_scan_inputs", 1).attr("body", body).run();
        assertArrayEquals(new double[] {6, 109}, o[0].toDoubleArray());
        assertEquals(Shape.of(2, 3), o[1].shape());
        assertArrayEquals(new double[] {1, 3, 6, 104, 109, 0}, o[1].toDoubleArray());
    }

    @Test
    void loopRejectsScanOutputsThatChangeShape() {
        var body = new FakeNodeCall.FakeGraph(List.of(), List.of(TensorType.UNKNOWN, TensorType.UNKNOWN), in ->
                List.of(bool(true), floats(new long[] {in.get(0).getLong(0) + 1}, new double[(int) in.get(0).getLong(0) + 1])));
        var call = new FakeNodeCall("Loop", 11, 1, Tensor.ofLongs(Shape.SCALAR, 2), null).attr("body", body);
        assertThrows(KernelException.class, call::run);
    }
}
