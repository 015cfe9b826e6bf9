package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.FakeNodeCall;
import java.lang.management.ManagementFactory;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Conv kernels run without per-call heap garbage once warm: the scratch a call needs is kept per thread and reused,
 * and a constant weight is packed once, not on every run. Garbage per run is what fills the young generation and
 * so sets both the collections per run and the heap pages a process touches (issue 13, item 4).
 *
 * <p>Measured with the calling thread's allocated-bytes counter (exact, not a timing), on one thread. Before C2
 * compiles a kernel its vector code allocates boxes, so each case takes the least allocation over many calls: a
 * buffer allocated per call shows in every call, however warm. The bits of every call must equal the first's
 * (reused buffers hold stale values between calls).
 */
class ScratchReuseTest {
    private static final com.sun.management.ThreadMXBean THREADS = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    /** At most this many calls: on a loaded host C2 may take tens of thousands of calls to compile a tile. */
    private static final int CALLS = 60_000;

    /**
     * The least bytes the current thread allocated in one call of {@code call}, over calls until one allocated
     * less than {@code enough} or {@link #CALLS} calls ran (a kernel that allocates per call runs them all).
     */
    private static long leastAllocation(long enough, Supplier<Tensor> call) {
        Tensor first = call.get();
        long least = Long.MAX_VALUE;
        for (int i = 0; i < CALLS && least >= enough; i++) {
            long before = THREADS.getCurrentThreadAllocatedBytes();
            Tensor y = call.get();
            least = Math.min(least, THREADS.getCurrentThreadAllocatedBytes() - before);
            if (i % 97 == 0) assertTrue(y.sameBits(first), "call " + i + " differs from the first");
            y.close();
        }
        return least;
    }

    private static Tensor random(long seed, long... dims) {
        Random r = new Random(seed);
        Tensor t = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, Shape.of(dims));
        for (long i = 0; i < t.elementCount(); i++) t.setFloat(i, (float) r.nextGaussian());
        return t;
    }

    /** A pointwise conv whose positions end in a partial tile: its tail buffers (c x NT floats) are per thread. */
    @Test void pointwiseTailReusesItsBuffers() {
        int c = 64, m = 16, hw = 2 * PointwiseConv.NT - 1;
        Tensor x = random(1, 1, c, hw), w = random(2, m, c);
        Object key = new Object();
        long tailBytes = 4L * c * PointwiseConv.NT;
        long least = leastAllocation(tailBytes / 4, () -> {
            Tensor y = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, m, hw));
            PointwiseConv.conv(x.data(), w.data(), null, y.data(), 1, c, m, hw, Parallelism.SEQUENTIAL, Activation.NONE, key);
            return y;
        });
        assertTrue(least < tailBytes / 4, "a warm call allocated " + least + " bytes; a tail buffer is " + tailBytes);
    }

    /**
     * A plain Conv (not fused) whose weight is an initializer keeps its packed form: a 3 x 3 conv over 32 channels
     * (DirectConv's path) packed its 32 x 288 weight, 36 KiB, on every call.
     */
    @Test void plainConvPacksAnInitializerWeightOnce() {
        int c = 32, m = 32, h = 12;
        Tensor x = random(3, 1, c, h, h), w = random(4, m, c, 3, 3), b = random(5, m);
        OpKernel conv = OpRegistry.cpu().find("", "Conv");
        long packBytes = 4L * m * c * 9;
        long least = leastAllocation(packBytes / 4, () -> {
            FakeNodeCall call = new FakeNodeCall("Conv", 13, 1, x, w, b).attr("pads", new long[] {1, 1, 1, 1}).initializers(1, 2);
            conv.execute(call);
            return call.outputs[0];
        });
        assertTrue(least < packBytes / 4, "a warm call allocated " + least + " bytes; the packed weight is " + packBytes);
    }

    /**
     * NarrowConv's gathered columns come from a per-thread buffer, the same array call after call, with the part a
     * call uses zeroed first (padding and positions past the output must read 0, whatever an earlier conv left).
     * Checked on the buffer itself, not by allocation: in a JVM whose earlier tests shaped its profiles, NarrowConv's
     * row loop was seen to stay uncompiled for 60,000 calls, allocating ~190 KB of vector boxes per call, which
     * would hide a 100 KB buffer.
     */
    @Test void narrowConvReusesItsZeroedColumns() {
        float[] a = NarrowConv.Scratch.cols(3000);
        java.util.Arrays.fill(a, 7f);
        float[] b = NarrowConv.Scratch.cols(2000);
        assertTrue(a == b, "a smaller request got a new buffer");
        for (int i = 0; i < 2000; i++) assertTrue(b[i] == 0f, "element " + i + " not zeroed: " + b[i]);
        float[] c = NarrowConv.Scratch.cols(a.length + 1);
        assertTrue(c.length >= a.length + 1 && NarrowConv.Scratch.cols(a.length + 1) == c, "a larger request is not kept");
    }
}
