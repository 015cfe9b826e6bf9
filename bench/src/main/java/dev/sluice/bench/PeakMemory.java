package dev.sluice.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Peak resident memory of the process on Linux: VmHWM from /proc/self/status, reset by writing 5 to
 * /proc/self/clear_refs. Elsewhere {@link #available()} is false and the bench says so.
 */
final class PeakMemory {
    private static final Path STATUS = Path.of("/proc/self/status");
    private static final Path CLEAR_REFS = Path.of("/proc/self/clear_refs");

    private PeakMemory() {}

    static boolean available() { return Files.isReadable(STATUS) && Files.isWritable(CLEAR_REFS); }

    /** Sets VmHWM back to the current VmRSS. */
    static void resetPeak() throws IOException { Files.writeString(CLEAR_REFS, "5"); }

    static long rssKiB() throws IOException { return field("VmRSS:"); }

    static long peakKiB() throws IOException { return field("VmHWM:"); }

    private static long field(String name) throws IOException {
        for (String line : Files.readAllLines(STATUS)) {
            if (line.startsWith(name)) return Long.parseLong(line.substring(name.length()).trim().split("\\s+")[0]);
        }
        throw new IOException(name + " not in " + STATUS);
    }
}
