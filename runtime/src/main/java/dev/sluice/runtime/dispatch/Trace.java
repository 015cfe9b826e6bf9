package dev.sluice.runtime.dispatch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * What one dispatcher run did, measured: which lane ran each task and when. Everything a report prints
 * (busy time, copy/compute overlap, bytes moved) is computed from these slices, never estimated.
 */
public record Trace(List<Track> tracks, List<Slice> slices, long wallNanos) {
    /** A lane as a trace track. */
    public record Track(String name, boolean copy) {}

    /** One task's run on one lane, in nanoseconds since the run started. */
    public record Slice(String name, int track, long startNanos, long endNanos, long bytes) {
        public long nanos() { return endNanos - startNanos; }
    }

    public Trace {
        tracks = List.copyOf(tracks);
        slices = List.copyOf(slices);
    }

    public long busyNanos(int track) {
        return slices.stream().filter(s -> s.track == track).mapToLong(Slice::nanos).sum();
    }

    /** Bytes copied by copy lanes in this run. */
    public long bytesMoved() {
        return slices.stream().filter(s -> tracks.get(s.track).copy()).mapToLong(Slice::bytes).sum();
    }

    /** Time during which at least one copy lane and at least one compute lane were both busy. */
    public long overlapNanos() {
        List<long[]> copy = union(true), compute = union(false);
        long total = 0;
        int i = 0, j = 0;
        while (i < copy.size() && j < compute.size()) {
            long[] a = copy.get(i), b = compute.get(j);
            total += Math.max(0, Math.min(a[1], b[1]) - Math.max(a[0], b[0]));
            if (a[1] < b[1]) i++; else j++;
        }
        return total;
    }

    /** Time during which any lane of the given sort was busy. */
    public long busyUnionNanos(boolean copyLanes) {
        return union(copyLanes).stream().mapToLong(r -> r[1] - r[0]).sum();
    }

    private List<long[]> union(boolean copyLanes) {
        List<Slice> s = new ArrayList<>(slices.stream().filter(x -> tracks.get(x.track).copy() == copyLanes).toList());
        s.sort(Comparator.comparingLong(Slice::startNanos));
        List<long[]> r = new ArrayList<>();
        for (Slice x : s) {
            if (!r.isEmpty() && x.startNanos <= r.getLast()[1]) r.getLast()[1] = Math.max(r.getLast()[1], x.endNanos);
            else r.add(new long[] {x.startNanos, x.endNanos});
        }
        return r;
    }

    /** Chrome / Perfetto trace-event JSON: one thread track per lane, one complete ("X") event per task. */
    public String toChromeJson() {
        StringBuilder b = new StringBuilder("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
        for (int t = 0; t < tracks.size(); t++) {
            b.append("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":").append(t)
                .append(",\"args\":{\"name\":\"").append(esc(tracks.get(t).name())).append("\"}},\n");
            b.append("{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":1,\"tid\":").append(t)
                .append(",\"args\":{\"sort_index\":").append(t).append("}},\n");
        }
        for (Slice s : slices) {
            b.append(String.format(java.util.Locale.ROOT,
                "{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"name\":\"%s\",\"cat\":\"%s\",\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"bytes\":%d}},%n",
                s.track, esc(s.name), tracks.get(s.track).copy() ? "copy" : "compute", s.startNanos / 1e3, s.nanos() / 1e3, s.bytes));
        }
        b.append("{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"args\":{\"name\":\"sluice\"}}\n]}\n");
        return b.toString();
    }

    public void writeChromeJson(Path file) throws IOException { Files.writeString(file, toChromeJson()); }

    private static String esc(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.toString();
    }
}
