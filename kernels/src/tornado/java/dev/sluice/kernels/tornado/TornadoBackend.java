package dev.sluice.kernels.tornado;

import dev.sluice.kernels.AcceleratorOptions;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.AcceleratorBackend;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import uk.ac.manchester.tornado.api.TornadoDeviceMap;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * Sluice's TornadoVM backend: TornadoVM kernels for the ops that dominate real models, on the TornadoVM device
 * chosen by {@code -Dsluice.tornado.device=BACKEND:DEVICE} (default: TornadoVM's default device). Opened once per
 * JVM through {@link dev.sluice.kernels.device.Accelerators}.
 */
public final class TornadoBackend implements AcceleratorBackend {
    private final TornadoDevice device;
    private final List<String> devices;
    private final Map<String, Object> plans = new ConcurrentHashMap<>(); // key -> Plan, or String: why it failed
    private final AtomicLong planIds = new AtomicLong();
    private final Map<String, LongAdder> ran = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> fellBack = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> counters = new ConcurrentHashMap<>();
    private final Map<Tensor, Long> tensorIds = java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());
    private final AtomicLong nextTensorId = new AtomicLong();

    private TornadoBackend(TornadoDevice device, List<String> devices) {
        this.device = device;
        this.devices = devices;
    }

    /** Starts TornadoVM and picks the device; throws saying why when it cannot. */
    public static TornadoBackend open() {
        // A kernel TornadoVM cannot compile must fail (and run on Sluice's CPU kernel, reported), not run
        // silently as sequential Java on the host, which TornadoVM does by default.
        if (System.getProperty("tornado.recover.bailout") == null) System.setProperty("tornado.recover.bailout", "False");
        if (TornadoNativeArray.ARRAY_HEADER != Tensor.HEADER_BYTES) {
            throw new IllegalStateException("TornadoVM's array header is " + TornadoNativeArray.ARRAY_HEADER
                + " bytes but Sluice tensors keep " + Tensor.HEADER_BYTES + " (run without -XX:-UseCompressedOops)");
        }
        TornadoDeviceMap map = TornadoExecutionPlan.getTornadoDeviceMap();
        List<String> lines = new ArrayList<>();
        List<uk.ac.manchester.tornado.api.TornadoBackend> backends = map.getAllBackends();
        for (int b = 0; b < backends.size(); b++) {
            var be = backends.get(b);
            for (int d = 0; d < be.getNumDevices(); d++) {
                TornadoDevice dev = be.getDevice(d);
                lines.add(b + ":" + d + "  " + describe(dev));
            }
        }
        if (lines.isEmpty()) throw new IllegalStateException("TornadoVM sees no device (is an OpenCL/CUDA driver installed? see `clinfo -l`)");
        String sel = System.getProperty("sluice.tornado.device");
        TornadoDevice dev;
        if (sel == null) {
            dev = TornadoExecutionPlan.DEFAULT_DEVICE;
        } else {
            String[] p = sel.split(":");
            try {
                dev = TornadoExecutionPlan.getDevice(Integer.parseInt(p[0]), Integer.parseInt(p[1]));
            } catch (RuntimeException e) {
                throw new IllegalStateException("-Dsluice.tornado.device=" + sel + " names no device; there are: " + lines);
            }
        }
        return new TornadoBackend(dev, List.copyOf(lines));
    }

    /**
     * One line: backend, platform, the driver's own device name (e.g. PoCL's "pthread-skylake-avx512-AMD EPYC"),
     * compute units and memory, then TornadoVM's id for it (e.g. opencl-0-0).
     */
    static String describe(TornadoDevice d) {
        String phys = null;
        int units = 0;
        try {
            var p = d.getPhysicalDevice();
            phys = p.getDeviceName();
            units = p.getDeviceMaxComputeUnits();
        } catch (RuntimeException | LinkageError e) {
            // an older or partial driver: TornadoVM's own id is all there is
        }
        String id = d.getDeviceName().trim();
        String name = phys == null || phys.isBlank() ? id : phys.trim() + " [" + id + "]";
        return d.getTornadoVMBackend().name().toLowerCase() + " " + d.getPlatformName().trim() + " / " + name
            + (units > 0 ? String.format(" (%d compute units, %.1f GiB)", units, d.getMaxGlobalMemory() / 1073741824.0)
                         : String.format(" (%.1f GiB)", d.getMaxGlobalMemory() / 1073741824.0));
    }

    @Override public String name() { return "tornadovm"; }
    @Override public List<String> devices() { return devices; }
    @Override public String device() { return describe(device); }
    @Override public long memoryBytes() { return device.getMaxGlobalMemory(); }

    TornadoDevice tornadoDevice() { return device; }

    @Override public Set<String> opTypes() { return TornadoOps.kernels(this, OpRegistry.cpu(), AcceleratorOptions.defaults()).keySet(); }

    @Override public OpRegistry registry(OpRegistry cpu, AcceleratorOptions options) {
        Map<String, OpKernel> mine = TornadoOps.kernels(this, cpu, options);
        OpRegistry r = new OpRegistry(cpu.options()); // the session's CPU switches, for what falls back
        for (String key : cpu.opTypes()) {
            int colon = key.lastIndexOf(':');
            String domain = colon < 0 ? "" : key.substring(0, colon), op = colon < 0 ? key : key.substring(colon + 1);
            OpKernel k = domain.isEmpty() ? mine.get(op) : null;
            r.register(domain, op, k != null ? k : new CpuOnly(this, key, cpu.find(domain, op)));
        }
        return r;
    }

    @Override public Usage usage() {
        Map<String, Long> r = new TreeMap<>(), f = new TreeMap<>();
        ran.forEach((k, v) -> r.put(k, v.sum()));
        fellBack.forEach((k, v) -> f.put(k, v.sum()));
        return new Usage(r, f);
    }

    @Override public void resetUsage() {
        ran.clear();
        fellBack.clear();
        counters.clear();
    }

    @Override public Map<String, Long> counters() {
        Map<String, Long> c = new TreeMap<>();
        counters.forEach((k, v) -> c.put(k, v.sum()));
        return c;
    }

    void count(String what, long n) { counters.computeIfAbsent(what, k -> new LongAdder()).add(n); }

    /** A number naming this tensor object for as long as it lives (plan keys of resident weights). */
    long tensorId(Tensor t) { return tensorIds.computeIfAbsent(t, k -> nextTensorId.incrementAndGet()); }

    void ran(String op) { ran.computeIfAbsent(op, k -> new LongAdder()).increment(); }

    void fellBack(String op, String why) { fellBack.computeIfAbsent(op + ": " + why, k -> new LongAdder()).increment(); }

    /** The plan cached under key, made on first use; a key whose plan failed once keeps failing with that reason. */
    Plan plan(String key, Supplier<Plan> make) {
        Object p = plans.get(key);
        if (p == null) {
            synchronized (plans) {
                p = plans.get(key);
                if (p == null) {
                    try {
                        p = make.get();
                    } catch (RuntimeException | LinkageError e) {
                        p = TornadoOps.firstLine(e);
                    }
                    plans.put(key, p);
                }
            }
        }
        if (p instanceof String why) throw new IllegalStateException(why);
        return (Plan) p;
    }

    /** Marks a plan that failed on its first run, so that its key is not compiled again. */
    void poison(String key, String why) {
        Object old = plans.put(key, why);
        if (old instanceof Plan p) p.close();
    }

    String newPlanName() { return "sluice" + planIds.incrementAndGet(); }

    /** Plans compiled so far (each one a TornadoVM compilation). */
    int planCount() { return plans.size(); }

    /** An op with no TornadoVM kernel: the CPU kernel, counted as a fallback. */
    private record CpuOnly(TornadoBackend b, String op, OpKernel cpu) implements OpKernel {
        @Override public List<dev.sluice.kernels.TensorType> infer(dev.sluice.kernels.InferContext ctx) { return cpu.infer(ctx); }
        @Override public void execute(dev.sluice.kernels.ExecContext ctx) {
            b.fellBack(op, "no TornadoVM kernel");
            cpu.execute(ctx);
        }
        @Override public boolean inPlaceSafe() { return cpu.inPlaceSafe(); }
    }
}
