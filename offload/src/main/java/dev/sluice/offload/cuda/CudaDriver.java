package dev.sluice.offload.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * The few CUDA driver API calls Sluice needs, through Panama downcalls into libcuda: cuInit, a primary
 * context on device 0, cuMemHostAlloc / cuMemFreeHost for page-locked host memory, and device queries.
 * {@link #load()} returns empty where the driver library is absent or has no usable device, with the
 * reason in {@link #unavailableReason()}; nothing here links at class-load time, so machines without
 * CUDA never crash.
 */
public final class CudaDriver {
    /** CU_MEMHOSTALLOC_PORTABLE: the pinned memory is usable from every context. */
    private static final int MEMHOSTALLOC_PORTABLE = 0x01;

    private static volatile String unavailableReason = "not probed";
    private static volatile Optional<CudaDriver> instance;

    private final MethodHandle memHostAlloc;
    private final MethodHandle memFreeHost;
    private final MethodHandle ctxSetCurrent;
    private final MemorySegment context;
    private final String deviceName;
    private final long deviceMemory;
    private final int driverVersion;

    private CudaDriver(MethodHandle memHostAlloc, MethodHandle memFreeHost, MethodHandle ctxSetCurrent,
                       MemorySegment context, String deviceName, long deviceMemory, int driverVersion) {
        this.memHostAlloc = memHostAlloc;
        this.memFreeHost = memFreeHost;
        this.ctxSetCurrent = ctxSetCurrent;
        this.context = context;
        this.deviceName = deviceName;
        this.deviceMemory = deviceMemory;
        this.driverVersion = driverVersion;
    }

    /** The driver, initialized once per process, or empty where it cannot be used. */
    public static synchronized Optional<CudaDriver> load() {
        if (instance == null) instance = probe();
        return instance;
    }

    /** Why {@link #load()} is empty (or "available"). */
    public static String unavailableReason() {
        load();
        return unavailableReason;
    }

    private static Optional<CudaDriver> probe() {
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
        } catch (IllegalArgumentException e) {
            try {
                lib = SymbolLookup.libraryLookup("libcuda.so", Arena.global());
            } catch (IllegalArgumentException e2) {
                unavailableReason = "libcuda.so.1 not found (no NVIDIA driver on this machine)";
                return Optional.empty();
            }
        }
        try {
            Linker linker = Linker.nativeLinker();
            ValueLayout I = ValueLayout.JAVA_INT;
            ValueLayout P = ValueLayout.ADDRESS;
            ValueLayout L = ValueLayout.JAVA_LONG;
            MethodHandle init = down(linker, lib, "cuInit", FunctionDescriptor.of(I, I));
            MethodHandle getCount = down(linker, lib, "cuDeviceGetCount", FunctionDescriptor.of(I, P));
            MethodHandle deviceGet = down(linker, lib, "cuDeviceGet", FunctionDescriptor.of(I, P, I));
            MethodHandle getName = down(linker, lib, "cuDeviceGetName", FunctionDescriptor.of(I, P, I, I));
            MethodHandle totalMem = down(linker, lib, "cuDeviceTotalMem_v2", FunctionDescriptor.of(I, P, I));
            MethodHandle retain = down(linker, lib, "cuDevicePrimaryCtxRetain", FunctionDescriptor.of(I, P, I));
            MethodHandle setCurrent = down(linker, lib, "cuCtxSetCurrent", FunctionDescriptor.of(I, P));
            MethodHandle driverGetVersion = down(linker, lib, "cuDriverGetVersion", FunctionDescriptor.of(I, P));
            MethodHandle hostAlloc = down(linker, lib, "cuMemHostAlloc", FunctionDescriptor.of(I, P, L, I));
            MethodHandle freeHost = down(linker, lib, "cuMemFreeHost", FunctionDescriptor.of(I, P));
            try (Arena a = Arena.ofConfined()) {
                int rc = (int) init.invokeExact(0);
                if (rc != 0) { unavailableReason = "cuInit failed with CUDA error " + rc; return Optional.empty(); }
                MemorySegment cnt = a.allocate(I);
                check((int) getCount.invokeExact(cnt), "cuDeviceGetCount");
                if (cnt.get(ValueLayout.JAVA_INT, 0) < 1) { unavailableReason = "the CUDA driver sees no device"; return Optional.empty(); }
                MemorySegment dev = a.allocate(I);
                check((int) deviceGet.invokeExact(dev, 0), "cuDeviceGet");
                int device = dev.get(ValueLayout.JAVA_INT, 0);
                MemorySegment name = a.allocate(256);
                check((int) getName.invokeExact(name, 256, device), "cuDeviceGetName");
                MemorySegment bytes = a.allocate(L);
                check((int) totalMem.invokeExact(bytes, device), "cuDeviceTotalMem");
                MemorySegment ver = a.allocate(I);
                check((int) driverGetVersion.invokeExact(ver), "cuDriverGetVersion");
                MemorySegment ctx = a.allocate(P);
                check((int) retain.invokeExact(ctx, device), "cuDevicePrimaryCtxRetain");
                MemorySegment context = ctx.get(ValueLayout.ADDRESS, 0);
                check((int) setCurrent.invokeExact(context), "cuCtxSetCurrent");
                unavailableReason = "available";
                return Optional.of(new CudaDriver(hostAlloc, freeHost, setCurrent, context, name.getString(0),
                    bytes.get(ValueLayout.JAVA_LONG, 0), ver.get(ValueLayout.JAVA_INT, 0)));
            }
        } catch (CudaException e) {
            unavailableReason = e.getMessage();
            return Optional.empty();
        } catch (Throwable t) {
            unavailableReason = "CUDA driver unusable: " + t;
            return Optional.empty();
        }
    }

    private static MethodHandle down(Linker linker, SymbolLookup lib, String name, FunctionDescriptor fd) {
        MemorySegment sym = lib.find(name).orElseThrow(() -> new CudaException("libcuda lacks " + name));
        return linker.downcallHandle(sym, fd);
    }

    private static void check(int rc, String call) {
        if (rc != 0) throw new CudaException(call + " failed with CUDA error " + rc);
    }

    public String deviceName() { return deviceName; }
    public long deviceMemoryBytes() { return deviceMemory; }
    public int driverVersion() { return driverVersion; }

    /** Page-locked host memory of {@code bytes}, freed with {@link #freeHost}. */
    public MemorySegment allocHost(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            bindContext();
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            check((int) memHostAlloc.invokeExact(out, bytes, MEMHOSTALLOC_PORTABLE), "cuMemHostAlloc(" + bytes + ")");
            return out.get(ValueLayout.ADDRESS, 0).reinterpret(bytes);
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("cuMemHostAlloc: " + t);
        }
    }

    public void freeHost(MemorySegment pinned) {
        try {
            bindContext();
            check((int) memFreeHost.invokeExact(pinned), "cuMemFreeHost");
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("cuMemFreeHost: " + t);
        }
    }

    /** Driver calls need a current context on the calling thread. */
    private void bindContext() throws Throwable {
        check((int) ctxSetCurrent.invokeExact(context), "cuCtxSetCurrent");
    }
}
