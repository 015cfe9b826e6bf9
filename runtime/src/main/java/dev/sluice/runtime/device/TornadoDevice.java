package dev.sluice.runtime.device;

import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.device.AcceleratorBackend;
import dev.sluice.kernels.device.Accelerators;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.kernels.device.LaneKind;
import java.util.List;

/**
 * A TornadoVM device (an OpenCL, PTX or SPIR-V device TornadoVM drives), in one of two forms.
 *
 * <ul>
 *   <li>{@link #open(Parallelism)}, op by op: one compute lane; its kernels read and write host tensors, TornadoVM
 *       copying them to and from the device around each kernel; no arena, no copy lanes.
 *   <li>{@link #withArena}, in a MemGraph under a budget ({@code budgetBytes > 0}): a device arena of exactly the
 *       budget ({@link #newArena}) holds the device's values, an H2D and a D2H copy lane move them in and out as copy
 *       tasks, and the compute lane runs TornadoVM's kernels on the arena's tensors. What TornadoVM does underneath is
 *       its own: it still copies each kernel's tensors into buffers it allocates on its device (on PoCL, a CPU device,
 *       that is host memory too) and back, keeping its compiled plans' device buffers between calls. So the arena is
 *       the budget Sluice plans and holds (the arena asserts it at every claim), not a bound on what the driver
 *       allocates.
 * </ul>
 *
 * In both forms the ops without a TornadoVM kernel (and every call a kernel cannot take) run the CPU kernel on the
 * same lane, and {@link AcceleratorBackend#usage()} says which ran where.
 */
public record TornadoDevice(String name, AcceleratorBackend backend, dev.sluice.kernels.AcceleratorOptions options, long budgetBytes,
                            List<Lane> lanes) implements Device {
    public TornadoDevice {
        lanes = List.copyOf(lanes);
        if (budgetBytes < 0) throw new IllegalArgumentException("budget must be >= 0, got " + budgetBytes);
    }

    /** The backend, or an exception saying why there is none. */
    public static AcceleratorBackend backendOrThrow() {
        return Accelerators.tornadovm()
            .orElseThrow(() -> new SluiceException("--device tornadovm: " + Accelerators.tornadovmUnavailableReason()));
    }

    /** The TornadoVM backend's device op by op (no arena), with the default switches, or an exception saying why there is none. */
    public static TornadoDevice open(Parallelism cpuFallback) { return open(cpuFallback, dev.sluice.kernels.AcceleratorOptions.defaults()); }

    /** The same, its kernels following {@code options} (a session's own). */
    public static TornadoDevice open(Parallelism cpuFallback, dev.sluice.kernels.AcceleratorOptions options) {
        return new TornadoDevice("tornadovm", backendOrThrow(), options, 0, List.of(new ComputeLane("tornadovm.compute", cpuFallback)));
    }

    /**
     * The device in a MemGraph: an arena of {@code budgetBytes}, its compute lane (the CPU fallback splits over
     * {@code cpuFallback}) and an H2D and a D2H lane, which copy host memory into the arena as fast as memcpy.
     */
    public static TornadoDevice withArena(long budgetBytes, Parallelism cpuFallback) {
        return withArena(budgetBytes, cpuFallback, dev.sluice.kernels.AcceleratorOptions.defaults());
    }

    /** The same, its kernels following {@code options} (a session's own). */
    public static TornadoDevice withArena(long budgetBytes, Parallelism cpuFallback, dev.sluice.kernels.AcceleratorOptions options) {
        if (budgetBytes <= 0) throw new IllegalArgumentException("a device arena needs a positive budget, got " + budgetBytes);
        String n = "tornadovm";
        return new TornadoDevice(n, backendOrThrow(), options, budgetBytes, List.of(
            new ComputeLane(n + ".compute", cpuFallback),
            new CopyLane(n + ".h2d", LaneKind.H2D, 0),
            new CopyLane(n + ".d2h", LaneKind.D2H, 0)));
    }

    /** Kernels for this device: TornadoVM's where it has one (following the device's switches), the CPU's otherwise. */
    public OpRegistry registry(OpRegistry cpu) { return backend.registry(cpu, options); }

    /** Whether this device holds its values in an arena of its own (the MemGraph form). */
    public boolean hasArena() { return budgetBytes > 0; }

    /** A fresh arena of exactly the budget (the MemGraph form only). */
    public DeviceArena newArena() {
        if (!hasArena()) throw new IllegalStateException(name + " runs op by op and has no arena");
        return new DeviceArena(name, budgetBytes);
    }

    @Override public DeviceKind kind() { return DeviceKind.ACCELERATOR; }

    @Override public long capacityBytes() { return hasArena() ? budgetBytes : backend.memoryBytes(); }

    @Override public String describe() {
        return name + " (" + backend.device() + (hasArena() ? "; " + budgetBytes + "-byte device arena, copies as copy tasks" : "")
            + "; ops without a TornadoVM kernel run on the CPU)";
    }
}
