package dev.sluice.kernels.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.sluice.kernels.AcceleratorOptions;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.AcceleratorBackend;
import dev.sluice.kernels.device.Accelerators;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every TornadoVM kernel against the CPU kernel of the same op, on the TornadoVM device (PoCL's OpenCL CPU
 * device where there is no GPU). Each test also checks that the call ran on the device, not on the CPU fallback.
 */
class TornadoKernelsTest {
    static final OpRegistry CPU = OpRegistry.cpu();
    static AcceleratorBackend backend;
    static OpRegistry tornado;
    final Random rnd = new Random(42);

    @BeforeAll static void open() {
        backend = Accelerators.tornadovm().orElseThrow(() -> new AssertionError(Accelerators.tornadovmUnavailableReason()));
        tornado = backend.registry(CPU);
        System.out.println("TornadoVM device: " + backend.device());
    }

    Tensor rand(long... dims) {
        Shape s = Shape.of(dims);
        Tensor t = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, s);
        for (long i = 0; i < t.elementCount(); i++) t.setFloat(i, rnd.nextFloat() * 2 - 1);
        return t;
    }

    /** Runs call on the CPU and on TornadoVM; outputs must agree within tol (relative to max(1, |cpu|)). */
    void check(Call call, double tol) {
        Call cpuCall = call.with(call.inputs.toArray(Tensor[]::new));
        CPU.find("", call.op).execute(cpuCall);
        backend.resetUsage();
        tornado.find("", call.op).execute(call);
        var u = backend.usage();
        assertTrue(u.fellBack().isEmpty(), call.op + " fell back to the CPU: " + u.fellBack());
        assertEquals(1L, u.ran().get(call.op), call.op + " did not run on TornadoVM: " + u);
        for (int o = 0; o < cpuCall.outputs.length; o++) {
            Tensor want = cpuCall.outputs[o], got = call.outputs[o];
            assertEquals(want.shape(), got.shape(), call.op + " output " + o + " shape");
            for (long i = 0; i < want.elementCount(); i++) {
                double w = want.getDouble(i), g = got.getDouble(i);
                if (Math.abs(w - g) > tol * Math.max(1, Math.abs(w)) && !(Double.isNaN(w) && Double.isNaN(g))) {
                    fail(call.op + " output " + o + " element " + i + ": cpu " + w + ", tornadovm " + g);
                }
            }
        }
    }

    @Test void matMul2D() { check(new Call("MatMul", 13, 1, rand(33, 70), rand(70, 17)), 1e-5); }

    @Test void matMulBatchedTimesWeights() { check(new Call("MatMul", 13, 1, rand(2, 5, 9, 64), rand(64, 31)), 1e-5); }

    @Test void matMulBatchedBoth() { check(new Call("MatMul", 13, 1, rand(3, 7, 12), rand(3, 12, 5)), 1e-5); }

    @Test void gemmTransposedWithBias() {
        check(new Call("Gemm", 13, 1, rand(40, 8), rand(24, 40), rand(24)).attr("transA", 1).attr("transB", 1).attr("alpha", 0.5f).attr("beta", 2f), 1e-5);
    }

    @Test void gemmMatrixCAndNoC() {
        check(new Call("Gemm", 13, 1, rand(6, 10), rand(10, 4), rand(6, 1)), 1e-5);
        check(new Call("Gemm", 13, 1, rand(6, 10), rand(10, 4)), 1e-5);
    }

    @Test void broadcastingBinaryOps() {
        for (String op : new String[] {"Add", "Sub", "Mul", "Div"}) {
            check(new Call(op, 14, 1, rand(2, 3, 4, 5), rand(3, 1, 5)), 1e-6);
            check(new Call(op, 14, 1, rand(1, 8), rand(6, 1)), 1e-6);
            check(new Call(op, 14, 1, rand(7), rand()), 1e-6);
        }
    }

    @Test void unaryOps() {
        for (String op : new String[] {"Relu", "Sigmoid", "Tanh", "Exp", "Neg", "Abs", "LeakyRelu"}) {
            check(new Call(op, 14, 1, rand(3, 1000)), 1e-5);
        }
    }

    @Test void softmaxEveryAxisAndLegacy() {
        check(new Call("Softmax", 13, 1, rand(4, 6, 10)), 1e-5);
        check(new Call("Softmax", 13, 1, rand(4, 6, 10)).attr("axis", 1), 1e-5);
        check(new Call("Softmax", 11, 1, rand(4, 6, 10)), 1e-5); // opset 11: coerced to 2-D from axis 1
        check(new Call("LogSoftmax", 13, 1, rand(3, 50)), 1e-5);
    }

    @Test void layerNorm() {
        check(new Call("LayerNormalization", 17, 1, rand(2, 7, 64), rand(64), rand(64)).attr("epsilon", 1e-5f), 1e-4);
        check(new Call("LayerNormalization", 17, 1, rand(5, 4, 6), rand(4, 6)).attr("axis", 1), 1e-4);
    }

    @Test void convPaddedStridedGroupedDilated() {
        check(new Call("Conv", 11, 1, rand(2, 3, 17, 15), rand(8, 3, 3, 3), rand(8)).attr("pads", new long[] {1, 1, 1, 1}), 1e-4);
        check(new Call("Conv", 11, 1, rand(1, 4, 16, 16), rand(6, 2, 3, 2)).attr("group", 2).attr("strides", new long[] {2, 1})
            .attr("pads", new long[] {1, 0, 2, 1}).attr("dilations", new long[] {1, 2}), 1e-4);
        check(new Call("Conv", 11, 1, rand(1, 8, 9, 9), rand(8, 1, 3, 3), rand(8)).attr("group", 8), 1e-4); // depthwise
        // 1-D, as Silero VAD has: strided, padded, dilated, and grouped
        check(new Call("Conv", 11, 1, rand(2, 6, 40), rand(4, 6, 5), rand(4)).attr("strides", new long[] {2}).attr("pads", new long[] {2, 1}), 1e-4);
        check(new Call("Conv", 11, 1, rand(1, 4, 33), rand(8, 2, 3)).attr("group", 2).attr("dilations", new long[] {2}), 1e-4);
    }

    @Test void pooling() {
        check(new Call("MaxPool", 12, 1, rand(2, 3, 11, 12)).attr("kernel_shape", new long[] {3, 3}).attr("strides", new long[] {2, 2})
            .attr("pads", new long[] {1, 1, 1, 1}), 0);
        check(new Call("AveragePool", 11, 1, rand(2, 3, 11, 12)).attr("kernel_shape", new long[] {3, 2})
            .attr("pads", new long[] {1, 1, 1, 0}), 1e-5);
        check(new Call("AveragePool", 11, 1, rand(2, 3, 11, 12)).attr("kernel_shape", new long[] {3, 3})
            .attr("pads", new long[] {1, 1, 1, 1}).attr("count_include_pad", 1), 1e-5);
        check(new Call("GlobalAveragePool", 1, 1, rand(2, 16, 7, 7)), 1e-5);
        check(new Call("GlobalMaxPool", 1, 1, rand(2, 16, 7, 7)), 0);
    }

    @Test void reductionsWithKernelContext() {
        check(new Call("ReduceSum", 13, 1, rand(3, 1000, 5), Tensor.ofLongs(Shape.of(1), 1)), 1e-4);
        check(new Call("ReduceMean", 13, 1, rand(4, 6, 10)).attr("axes", new long[] {1, 2}).attr("keepdims", 0), 1e-5);
        check(new Call("ReduceMax", 13, 1, rand(4, 6, 10)).attr("axes", new long[] {-1}), 0);
        check(new Call("ReduceMin", 13, 1, rand(4, 6, 10)).attr("axes", new long[] {0}), 0);
        // a large reduction: where @Reduce goes wrong on PoCL 3.1
        check(new Call("ReduceSum", 13, 1, rand(1, 1 << 20)), 1e-3);
    }

    @Test void lstmCellAgainstTheCpuKernel() {
        // forward, bias and initial states, more hidden units than the work-group has work-items (each strides)
        check(new Call("LSTM", 14, 3, rand(5, 2, 7), rand(1, 4 * 70, 7), rand(1, 4 * 70, 70), rand(1, 8 * 70), null,
            rand(1, 2, 70), rand(1, 2, 70)).attr("hidden_size", 70L), 1e-4);
        // bidirectional with peepholes and clip, no initial states
        check(new Call("LSTM", 14, 3, rand(4, 3, 5), rand(2, 4 * 16, 5), rand(2, 4 * 16, 16), rand(2, 8 * 16), null, null, null,
            rand(2, 3 * 16)).attr("direction", "bidirectional").attr("clip", 0.7f), 1e-4);
        // reverse, only Y_h asked for (Y and Y_c still computed, into scratch), no bias
        check(new Call("LSTM", 14, 2, rand(3, 1, 128), rand(1, 4 * 128, 128), rand(1, 4 * 128, 128)).attr("direction", "reverse"), 1e-4);
        // Silero VAD's shape: one step, batch 1, 128 in and out, state carried in
        check(new Call("LSTM", 14, 3, rand(1, 1, 128), rand(1, 512, 128), rand(1, 512, 128), rand(1, 1024), null,
            rand(1, 1, 128), rand(1, 1, 128)).attr("hidden_size", 128L), 1e-4);
    }

    @Test void weightsStayOnTheDeviceBetweenCalls() {
        Tensor w1 = rand(64, 48), w2 = rand(64, 48);
        Call first = new Call("MatMul", 13, 1, rand(10, 64), w1).constant(1);
        check(first, 1e-5);
        backend.resetUsage();
        for (int r = 0; r < 3; r++) check(first.with(rand(10, 64), w1), 1e-5); // new activations, same weights
        check(first.with(rand(10, 64), w2), 1e-5); // another weight set: its own plan, its own first copy
        check(first.with(rand(10, 64), w2), 1e-5);
        // check() resets usage per call, so count the last call only: it reused w2 on the device
        assertEquals(64L * 48 * 4, backend.counters().get("weight bytes kept resident (not copied)"), backend.counters().toString());
        // an LSTM's W, R and B as weights, across two calls with new inputs and states
        Tensor w = rand(1, 4 * 32, 16), rr = rand(1, 4 * 32, 32), bb = rand(1, 8 * 32);
        Call l = new Call("LSTM", 14, 3, rand(3, 2, 16), w, rr, bb, null, rand(1, 2, 32), rand(1, 2, 32)).constant(1, 2, 3);
        check(l, 1e-4);
        check(l.with(rand(3, 2, 16), w, rr, bb, null, rand(1, 2, 32), rand(1, 2, 32)), 1e-4);
    }

    @Test void twoRegistriesOfOneBackendEachReadTheirOwnSwitches() {
        OpRegistry keeping = backend.registry(CPU, new AcceleratorOptions(true, false));
        OpRegistry copying = backend.registry(CPU, new AcceleratorOptions(false, true));
        Tensor w = rand(64, 48);
        Call c = new Call("MatMul", 13, 1, rand(10, 64), w).constant(1);
        long wBytes = 64L * 48 * 4;
        for (int round = 0; round < 2; round++) {
            // interleaved on the one backend: each registry's second call shows its own switches
            for (OpRegistry r : new OpRegistry[] {keeping, copying}) {
                r.find("", "MatMul").execute(c.with(rand(10, 64), w));
                backend.resetUsage();
                Call again = c.with(rand(10, 64), w);
                r.find("", "MatMul").execute(again);
                Call cpu = c.with(again.inputs.toArray(Tensor[]::new));
                CPU.find("", "MatMul").execute(cpu);
                for (long i = 0; i < cpu.outputs[0].elementCount(); i++) {
                    assertEquals(cpu.outputs[0].getDouble(i), again.outputs[0].getDouble(i), 1e-5 * Math.max(1, Math.abs(cpu.outputs[0].getDouble(i))));
                }
                var counters = backend.counters();
                if (r == keeping) {
                    assertEquals(wBytes, counters.get("weight bytes kept resident (not copied)"), counters.toString());
                    assertEquals(0L, counters.getOrDefault("bytes to device", 0L), "not profiled: " + counters);
                } else {
                    assertEquals(0L, counters.getOrDefault("weight bytes kept resident (not copied)", 0L), counters.toString());
                    assertTrue(counters.getOrDefault("bytes to device", 0L) >= wBytes, "profiled, the weight copied again: " + counters);
                }
            }
        }
    }

    @Test void aCachedKernelRunsOnOtherTensorsWithoutRecompiling() {
        TornadoBackend b = (TornadoBackend) backend;
        check(new Call("Add", 14, 1, rand(3, 129), rand(129)), 0);
        int plans = b.planCount();
        for (int r = 0; r < 3; r++) check(new Call("Add", 14, 1, rand(3, 129), rand(129)), 0);
        assertEquals(plans, b.planCount(), "a second call of the same shape compiled again");
    }

    @Test void callsTheKernelCannotTakeRunOnTheCpuAndSaySo() {
        Call c = new Call("Add", 14, 1, Tensor.ofLongs(Shape.of(2), 1, 2), Tensor.ofLongs(Shape.of(2), 3, 4));
        backend.resetUsage();
        tornado.find("", "Add").execute(c);
        assertEquals(4L, c.outputs[0].getLong(0));
        assertTrue(backend.usage().fellBack().keySet().stream().anyMatch(k -> k.startsWith("Add: input 0 is int64")), backend.usage().toString());
        Call r = new Call("Reshape", 14, 1, rand(2, 3), Tensor.ofLongs(Shape.of(1), 6));
        backend.resetUsage();
        tornado.find("", "Reshape").execute(r);
        assertEquals(Shape.of(6), r.outputs[0].shape());
        assertEquals(1L, backend.usage().fellBack().get("Reshape: no TornadoVM kernel"));
    }
}
