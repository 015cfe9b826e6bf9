package dev.sluice.graph.cost;

import dev.sluice.kernels.SluiceException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An accelerator that is not on this machine, given by its figures: placement plans for it, it is never run.
 * Its node costs are roofline estimates ({@link #kernelMillis}) and its transfers come from the link figures
 * ({@link #transferMillis}); every figure derived from them is an estimate.
 *
 * <p>The JSON form has exactly the fields {@link #FIELDS}; bandwidths are in gigabytes (10^9 bytes) per
 * second. Invariants: every figure finite and positive, {@code kind} is {@code accelerator}.
 */
public record DeviceDescription(String name, double peakGflops, double memoryGbps, double launchUs, long memoryBytes,
                                double linkGbps, double linkLatencyUs) {
    /** The fields of the JSON form, in the order they are written. */
    public static final List<String> FIELDS = List.of("name", "kind", "peak_gflops", "memory_gbps", "launch_us", "memory_bytes",
        "link_gbps", "link_latency_us");

    /** Descriptions shipped with Sluice (resources beside this class), by file name. */
    public static final List<String> BUNDLED = List.of("nvidia-t4.json", "nvidia-a10.json");

    public DeviceDescription {
        if (name == null || name.isBlank()) throw new SluiceException("a device description needs a name");
        positive(name, "peak_gflops", peakGflops);
        positive(name, "memory_gbps", memoryGbps);
        if (!(launchUs >= 0 && Double.isFinite(launchUs))) throw new SluiceException(name + ": launch_us must be >= 0, got " + launchUs);
        if (memoryBytes <= 0) throw new SluiceException(name + ": memory_bytes must be positive, got " + memoryBytes);
        positive(name, "link_gbps", linkGbps);
        if (!(linkLatencyUs >= 0 && Double.isFinite(linkLatencyUs))) {
            throw new SluiceException(name + ": link_latency_us must be >= 0, got " + linkLatencyUs);
        }
    }

    private static void positive(String name, String field, double v) {
        if (!(v > 0 && Double.isFinite(v))) throw new SluiceException(name + ": " + field + " must be a positive finite number, got " + v);
    }

    /** Roofline time of a kernel: the slower of compute and memory traffic, plus the launch overhead. */
    public double kernelMillis(double flops, double bytes) {
        double compute = flops / (peakGflops * 1e9), memory = bytes / (memoryGbps * 1e9);
        return Math.max(compute, memory) * 1e3 + launchUs / 1e3;
    }

    /** Time to move {@code bytes} over the link, latency included. */
    public double transferMillis(double bytes) { return bytes / (linkGbps * 1e9) * 1e3 + linkLatencyUs / 1e3; }

    /** Link bandwidth in bytes per second. */
    public double linkBytesPerSecond() { return linkGbps * 1e9; }

    /**
     * Reads a description from its JSON text, strictly: an unknown field, a missing one, a field of the wrong
     * type, or a kind other than {@code accelerator} is refused with an error naming the field and {@code source}.
     */
    public static DeviceDescription fromJson(String text, String source) {
        Map<String, Object> m = Json.parseObject(text, source);
        for (String k : m.keySet()) {
            if (!FIELDS.contains(k)) throw new SluiceException(source + ": unknown field \"" + k + "\"; a device description has exactly " + FIELDS);
        }
        for (String k : FIELDS) if (!m.containsKey(k)) throw new SluiceException(source + ": missing field \"" + k + "\"");
        String kind = Json.string(m, "kind", source);
        if (!kind.equals("accelerator")) throw new SluiceException(source + ": field \"kind\" must be \"accelerator\", got \"" + kind + "\"");
        double bytes = Json.number(m, "memory_bytes", source);
        if (bytes != Math.rint(bytes) || bytes <= 0 || bytes >= 0x1p63) {
            throw new SluiceException(source + ": field \"memory_bytes\" must be a positive whole number, got " + bytes);
        }
        try {
            return new DeviceDescription(Json.string(m, "name", source), Json.number(m, "peak_gflops", source),
                Json.number(m, "memory_gbps", source), Json.number(m, "launch_us", source), (long) bytes,
                Json.number(m, "link_gbps", source), Json.number(m, "link_latency_us", source));
        } catch (SluiceException e) {
            throw new SluiceException(source + ": " + e.getMessage());
        }
    }

    /**
     * A description from a file, or, when no such file exists, from the bundled one of that file name
     * ({@code nvidia-t4.json}); an error lists the bundled names.
     */
    public static DeviceDescription load(String pathOrBundled) {
        Path p = Path.of(pathOrBundled);
        if (Files.isRegularFile(p)) {
            try {
                return fromJson(Files.readString(p), p.toString());
            } catch (IOException e) {
                throw new SluiceException(p + ": cannot read: " + e.getMessage());
            }
        }
        String file = p.getFileName() == null ? pathOrBundled : p.getFileName().toString();
        if (BUNDLED.contains(file)) {
            try (InputStream in = DeviceDescription.class.getResourceAsStream(file)) {
                if (in == null) throw new SluiceException("bundled description " + file + " is missing from the build");
                return fromJson(new String(in.readAllBytes(), StandardCharsets.UTF_8), "bundled " + file);
            } catch (IOException e) {
                throw new SluiceException("bundled " + file + ": " + e.getMessage());
            }
        }
        throw new SluiceException(pathOrBundled + ": no such device description file (bundled ones: " + String.join(", ", BUNDLED) + ")");
    }

    /** The JSON form (exactly {@link #FIELDS}). */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("kind", "accelerator");
        m.put("peak_gflops", peakGflops);
        m.put("memory_gbps", memoryGbps);
        m.put("launch_us", launchUs);
        m.put("memory_bytes", memoryBytes);
        m.put("link_gbps", linkGbps);
        m.put("link_latency_us", linkLatencyUs);
        return Json.write(m);
    }

    @Override public String toString() {
        return String.format("%s (described, not on this machine: %.0f GFLOP/s peak, %.0f GB/s memory, %.0f us launch, %d B, link %.1f GB/s + %.0f us)",
            name, peakGflops, memoryGbps, launchUs, memoryBytes, linkGbps, linkLatencyUs);
    }
}
