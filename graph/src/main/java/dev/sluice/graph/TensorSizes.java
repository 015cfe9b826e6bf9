package dev.sluice.graph;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.SluiceException;
import java.lang.management.ManagementFactory;
import java.util.Arrays;

/**
 * Sizes of tensors whose dimensions come from user data (a model file, a .pb file, a {@code --dim} option, a
 * declared input shape), checked before anything is allocated: no negative dimension, no element count or byte
 * size that overflows a {@code long}, and no single tensor larger than the native memory this JVM may hand out.
 * Each refusal is a {@link SluiceException} naming the tensor ({@code what}) and its dimensions, so a 100-byte
 * file that claims a terabyte gets a sentence instead of an {@link OutOfMemoryError} or a raw
 * {@link ArithmeticException}.
 */
public final class TensorSizes {
    private TensorSizes() {}

    /** The heap limit: also the native (direct) memory limit unless -XX:MaxDirectMemorySize says otherwise. */
    private static final long HEAP_LIMIT = Runtime.getRuntime().maxMemory();
    /** Lazily measured, only when a size exceeds {@link #HEAP_LIMIT}: the JVM's limit on native (direct) memory. */
    private static volatile long limit;

    /** The number of elements of {@code dims}; refuses negative dimensions and overflow, naming {@code what}. */
    public static long elementCount(long[] dims, String what) {
        long n = 1;
        for (long d : dims) {
            if (d < 0) throw new SluiceException(what + ": dimension " + d + " in " + Arrays.toString(dims) + " is negative");
        }
        try {
            for (long d : dims) n = Math.multiplyExact(n, d);
        } catch (ArithmeticException e) {
            throw new SluiceException(what + ": dimensions " + Arrays.toString(dims) + " hold more than 2^63 elements");
        }
        return n;
    }

    /** The bytes of a {@code dtype} tensor of {@code dims}, with the checks of {@link #elementCount}. */
    public static long byteSize(DType dtype, long[] dims, String what) {
        long n = elementCount(dims, what);
        try {
            return Math.multiplyExact(n, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new SluiceException(what + ": " + dtype + Arrays.toString(dims) + " needs more than 2^63 bytes");
        }
    }

    /**
     * Refuses a single allocation of {@code bytes} that this JVM cannot make, before it is tried: the message
     * names {@code what}, the size and the limit, and how to raise it.
     */
    public static void requireAllocatable(long bytes, String what) {
        if (!fits(bytes)) {
            long max = limitBytes();
            throw new SluiceException(what + " needs " + bytes + " bytes (" + human(bytes) + "), more than the " + human(max)
                + " of native memory this JVM may allocate (raise it with SLUICE_JAVA_OPTS=-XX:MaxDirectMemorySize=<size>)");
        }
    }

    /**
     * Whether one segment of {@code bytes} is within the JVM's native memory limit. Sizes up to the heap limit
     * (the default) answer at once; only a larger one asks the JVM whether {@code MaxDirectMemorySize} was set
     * higher, so the management classes are loaded on that rare path and never on the way to a normal run.
     */
    public static boolean fits(long bytes) {
        return bytes <= HEAP_LIMIT || bytes <= limitBytes();
    }

    /** {@link #byteSize} followed by {@link #requireAllocatable}. */
    public static long allocatableBytes(DType dtype, long[] dims, String what) {
        long bytes = byteSize(dtype, dims, what);
        requireAllocatable(bytes, what + " " + dtype + Arrays.toString(dims));
        return bytes;
    }

    /**
     * The JVM's cap on native memory segments: {@code -XX:MaxDirectMemorySize} when set, else the heap limit
     * (the JVM's own default for it).
     */
    public static long limitBytes() {
        long l = limit;
        if (l == 0) {
            l = HEAP_LIMIT;
            try {
                var bean = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
                long set = Long.parseLong(bean.getVMOption("MaxDirectMemorySize").getValue());
                if (set > 0) l = set;
            } catch (RuntimeException | LinkageError e) {
                // not HotSpot, or no management: the heap limit is the documented default
            }
            limit = l;
        }
        return l;
    }

    static String human(long bytes) {
        if (bytes < 1L << 20) return bytes + " B";
        if (bytes < 1L << 30) return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
        if (bytes < 1L << 40) return String.format(java.util.Locale.ROOT, "%.1f GiB", bytes / 1073741824.0);
        return String.format(java.util.Locale.ROOT, "%.1f TiB", bytes / 1099511627776.0);
    }
}
