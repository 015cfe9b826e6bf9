package dev.sluice.kernels.tornado;

import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.Function;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.TornadoProfilerResult;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.ProfilerMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoMemorySegment;

/**
 * One compiled TornadoVM kernel for one shape: a task graph over {@link FloatArray} slots and its execution
 * plan. TornadoVM compiles per execution plan and binds each task to the array objects it was built with, so
 * a plan is kept per (op, shapes, attributes) and each call points the same slots at that call's tensors
 * ({@link #rebind}): the tensors' memory is what TornadoVM copies to and from the device, and nothing is
 * copied on the host side. TornadoVM reads a slot's segment address at each transfer, which is what makes
 * rebinding sound; it needs {@code --add-opens tornado.api/uk.ac.manchester.tornado.api.types.arrays=ALL-UNNAMED}.
 *
 * <p>Resident slots hold weights (graph initializers): their plan is keyed by the weight tensors themselves, so
 * they never rebind, and the task graph copies them to the device on the first execution only. When the calling
 * registry's switches ask for it ({@code AcceleratorOptions.profile()}, default {@code -Dsluice.tornado.profile}),
 * TornadoVM's profiler measures each execution's copies and kernel, which {@link TornadoBackend#counters()} adds up.
 */
final class Plan implements AutoCloseable {
    private static final VarHandle SEGMENT;

    static {
        try {
            var lookup = MethodHandles.privateLookupIn(FloatArray.class, MethodHandles.lookup());
            SEGMENT = lookup.findVarHandle(FloatArray.class, "segment", TornadoMemorySegment.class);
        } catch (ReflectiveOperationException | IllegalAccessError e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final FloatArray[] slots;
    private final boolean[] resident;
    private final TornadoExecutionPlan exec;
    private final TornadoBackend backend;
    private boolean profiling;
    final String name;
    long calls;

    /**
     * @param first the tensors of the first call, one per slot
     * @param graph builds the task graph (named {@code name}) over the slots
     */
    Plan(String name, Tensor[] first, boolean[] resident, Function<FloatArray[], TaskGraph> graph, GridScheduler grid,
         TornadoDevice device, TornadoBackend backend) {
        this.name = name;
        this.resident = resident == null ? new boolean[first.length] : resident.clone();
        this.backend = backend;
        slots = new FloatArray[first.length];
        for (int i = 0; i < first.length; i++) slots[i] = FloatArray.fromSegmentShallow(first[i].withHeader());
        TornadoExecutionPlan p = new TornadoExecutionPlan(graph.apply(slots).snapshot());
        if (grid != null) p.withGridScheduler(grid);
        if (device != null) p.withDevice(device);
        exec = p;
    }

    /**
     * Runs the kernel on these tensors (same count, sizes and order as the first call's), with TornadoVM's profiler
     * on when {@code prof} (the calling registry's {@code AcceleratorOptions.profile()}; a plan serves every session).
     */
    synchronized void run(boolean prof, Tensor... tensors) {
        if (tensors.length != slots.length) throw new KernelException(name + ": " + tensors.length + " tensors for " + slots.length + " slots");
        for (int i = 0; i < slots.length; i++) rebind(slots[i], tensors[i]);
        if (prof != profiling) {
            if (prof) exec.withProfiler(ProfilerMode.SILENT);
            else exec.withoutProfiler();
            profiling = prof;
        }
        long t0 = System.nanoTime();
        TornadoExecutionResult r = exec.execute();
        long wall = System.nanoTime() - t0;
        if (backend != null) {
            long kept = 0;
            if (calls > 0) for (int i = 0; i < slots.length; i++) if (resident[i]) kept += tensors[i].byteSize();
            backend.count("device calls", 1);
            backend.count("device call wall ns", wall);
            backend.count("weight bytes kept resident (not copied)", kept);
            if (prof) {
                TornadoProfilerResult p = r.getProfilerResult();
                backend.count("bytes to device", p.getTotalBytesCopyIn());
                backend.count("bytes to host", p.getTotalBytesCopyOut());
                backend.count("copy to device ns", p.getDeviceWriteTime());
                backend.count("copy to host ns", p.getDeviceReadTime());
                backend.count("kernel ns", p.getDeviceKernelTime());
                backend.count("profiled total ns", p.getTotalTime());
            }
        }
        calls++;
    }


    /** Points a slot at a tensor's header slot and data, writing the header as fromSegmentShallow does. */
    static void rebind(FloatArray slot, Tensor t) {
        MemorySegment seg = t.withHeader();
        if (seg.byteSize() != slot.getNumBytesOfSegmentWithHeader()) {
            throw new KernelException("tensor " + t + " does not fit a slot of " + slot.getSize() + " floats");
        }
        TornadoMemorySegment tms = (TornadoMemorySegment) SEGMENT.get(slot);
        if (tms.getSegment().address() == seg.address()) return;
        seg.setAtIndex(ValueLayout.JAVA_INT, 0, slot.getSize());
        tms.setSegment(seg);
    }

    @Override public synchronized void close() {
        try {
            exec.freeDeviceMemory();
            exec.close();
        } catch (Exception e) {
            // freeing on shutdown; nothing to report to
        }
    }
}
