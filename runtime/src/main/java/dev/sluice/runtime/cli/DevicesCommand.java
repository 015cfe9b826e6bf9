package dev.sluice.runtime.cli;

import dev.sluice.offload.HostMemory;
import dev.sluice.offload.cuda.CudaDriver;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code sluice devices}: what Sluice can run on here: the CPU, TornadoVM devices, the CUDA driver. */
final class DevicesCommand implements Command {
    @Override public String name() { return "devices"; }
    @Override public String summary() { return "list the CPU, TornadoVM devices and the CUDA driver's status"; }
    @Override public String help() {
        return """
            usage: sluice devices

            Lists the CPU device (cores, Vector API width), the TornadoVM backend (active only where
            TORNADOVM_HOME points at a TornadoVM SDK) and the CUDA driver (used to pin host memory).""";
    }

    @Override public int run(Args args, PrintStream out) {
        int cores = Runtime.getRuntime().availableProcessors();
        long heap = Runtime.getRuntime().maxMemory();
        out.printf("cpu         %d cores, Vector API %d-bit float lanes, max heap %.1f GiB%n", cores,
            jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize(), heap / 1073741824.0);
        String tornado = System.getenv("TORNADOVM_HOME");
        if (tornado == null || tornado.isBlank()) {
            out.println("tornadovm   not active: TORNADOVM_HOME is not set (install TornadoVM by its own instructions, see README)");
        } else if (!Files.isDirectory(Path.of(tornado))) {
            out.println("tornadovm   not active: TORNADOVM_HOME=" + tornado + " is not a folder");
        } else {
            var backend = dev.sluice.kernels.device.Accelerators.tornadovm();
            if (backend.isEmpty()) {
                out.println("tornadovm   SDK at " + tornado + " but not active: " + dev.sluice.kernels.device.Accelerators.tornadovmUnavailableReason());
            } else {
                var b = backend.get();
                out.println("tornadovm   active (SDK at " + tornado + "), --device tornadovm runs on: " + b.device());
                for (String d : b.devices()) out.println("            device " + d);
                out.println("            kernels: " + String.join(" ", b.opTypes()));
            }
        }
        var driver = CudaDriver.load();
        if (driver.isPresent()) {
            var d = driver.get();
            out.printf("cuda        driver %d.%d, device 0: %s, %.1f GiB%n", d.driverVersion() / 1000, (d.driverVersion() % 1000) / 10,
                d.deviceName(), d.deviceMemoryBytes() / 1073741824.0);
        } else {
            out.println("cuda        unavailable: " + CudaDriver.unavailableReason());
        }
        out.println("host memory " + HostMemory.system(s -> { }).describe());
        return 0;
    }
}
