package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Model;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A placed run gives back the host memory of its intermediates when it ends, not when a collection gets to it:
 * run after run (and after a failed run) the run's own count of open host bytes is back to zero, the JVM's count
 * of native memory in use does not grow with the number of runs, and the results stay readable and right.
 */
class RunMemoryTest {
    static long nativeInUse() {
        for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) if (b.getName().equals("direct")) return b.getMemoryUsed();
        throw new AssertionError("no direct buffer pool");
    }

    @Test void repeatedRunsReleaseTheirHostIntermediates() {
        OpRegistry ops = BudgetInvariantTest.testOps();
        Model m = BudgetInvariantTest.unet(4, 1024, 64, 5, null); // 256 KiB activations, 16 host intermediates a run
        Map<String, Tensor> in = BudgetInvariantTest.input(1024, 64, 6);
        Map<String, Tensor> ref = new GraphExecutor(m, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
        MemGraph plan = MemGraph.onDevice(m.graph(), DeviceSpec.host());
        MemGraphExecutor ex = new MemGraphExecutor(m, ops, plan, List.of(CpuDevice.withWorkers(1)), Dispatcher.Order.DYNAMIC);
        try {
            long[] during = new long[1];
            // one run first, so that lazily created JVM and pool state is not counted as growth
            for (Tensor t : ex.run(in).outputs().values()) t.close();
            assertEquals(0, MemGraphRun.openHostBytes(), "host bytes still open after a run");
            long start = nativeInUse();
            for (int r = 0; r < 30; r++) {
                MemGraphExecutor.Result res = ex.run(in);
                assertEquals(0, MemGraphRun.openHostBytes(), "host bytes still open after run " + r);
                for (var e : ref.entrySet()) assertTrue(e.getValue().sameBits(res.outputs().get(e.getKey())), e.getKey() + " after run " + r);
                for (Tensor t : res.outputs().values()) t.close();
            }
            long grown = nativeInUse() - start;
            // 30 runs leaving their 16 x 256 KiB would hold 120 MiB; what stays is at most the block pool's free lists
            assertTrue(grown < 16L << 20, "native memory in use grew by " + grown + " bytes over 30 runs");
        } finally {
            ex.dispatcher().close();
        }
    }

    @Test void aFailedRunReleasesItsHostIntermediatesToo() {
        OpRegistry ops = BudgetInvariantTest.testOps();
        Model m = BudgetInvariantTest.unet(6, 64, 64, 1, "relu4");
        long full = MemGraph.fullNeed(m.graph(), BudgetInvariantTest.THROTTLED);
        MemGraph plan = MemGraph.onDevice(m.graph(), BudgetInvariantTest.THROTTLED.withBudget(full));
        MemGraphExecutor ex = new MemGraphExecutor(m, ops, plan,
            List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(full, 0, Parallelism.SEQUENTIAL)), Dispatcher.Order.DYNAMIC);
        MemGraph host = MemGraph.onDevice(m.graph(), DeviceSpec.host());
        MemGraphExecutor hx = new MemGraphExecutor(m, ops, host, List.of(CpuDevice.withWorkers(1)), Dispatcher.Order.DYNAMIC);
        try {
            for (MemGraphExecutor x : List.of(ex, hx)) {
                assertThrows(DispatchException.class, () -> x.run(BudgetInvariantTest.input(64, 64, 1)));
                assertEquals(0, MemGraphRun.openHostBytes(), "host bytes still open after a failed run");
            }
        } finally {
            ex.dispatcher().close();
            hx.dispatcher().close();
        }
    }
}
