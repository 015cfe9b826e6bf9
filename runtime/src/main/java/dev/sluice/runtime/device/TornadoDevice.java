package dev.sluice.runtime.device;

import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.device.AcceleratorBackend;
import dev.sluice.kernels.device.Accelerators;
import dev.sluice.kernels.device.DeviceKind;
import java.util.List;

/**
 * A TornadoVM device (an OpenCL, PTX or SPIR-V device TornadoVM drives). One compute lane; the ops it has
 * kernels for run there, every other op (and every call a kernel cannot take) runs the CPU kernel on the same
 * lane, and {@link AcceleratorBackend#usage()} says which ran where. Its kernels read and write host tensors,
 * TornadoVM copying them to and from the device around each kernel, so it has no copy lanes of its own (see
 * the README's notes on overlap).
 */
public record TornadoDevice(String name, AcceleratorBackend backend, List<Lane> lanes) implements Device {
    public TornadoDevice {
        lanes = List.copyOf(lanes);
    }

    /** The TornadoVM backend's device, or an exception saying why there is none. */
    public static TornadoDevice open(Parallelism cpuFallback) {
        AcceleratorBackend b = Accelerators.tornadovm()
            .orElseThrow(() -> new SluiceException("--device tornadovm: " + Accelerators.tornadovmUnavailableReason()));
        return new TornadoDevice("tornadovm", b, List.of(new ComputeLane("tornadovm.compute", cpuFallback)));
    }

    /** Kernels for this device: TornadoVM's where it has one, the CPU's otherwise; TornadoVM's with the default switches. */
    public OpRegistry registry(OpRegistry cpu) { return backend.registry(cpu); }

    /** Kernels for this device, TornadoVM's reading {@code options} (a session's own). */
    public OpRegistry registry(OpRegistry cpu, dev.sluice.kernels.AcceleratorOptions options) { return backend.registry(cpu, options); }

    @Override public DeviceKind kind() { return DeviceKind.ACCELERATOR; }

    @Override public long capacityBytes() { return backend.memoryBytes(); }

    @Override public String describe() { return name + " (" + backend.device() + "; ops without a TornadoVM kernel run on the CPU)"; }
}
