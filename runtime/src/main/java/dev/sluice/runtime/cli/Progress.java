package dev.sluice.runtime.cli;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Progress of long work (zoo fetch, warm-up, load generation) for a person watching. On a terminal (the JVM has
 * a console and the stream is standard output) it keeps one line up to date in place, at most ten times a
 * second; anywhere else (a pipe, a log file, a test) it prints plain lines: one when the work starts, one per
 * tenth done, one at the end, so logs stay readable and short.
 *
 * <p>Not thread-safe: one thread reports a piece of work. {@link #close()} ends the line (and is idempotent).
 */
public final class Progress implements AutoCloseable {
    private static final long REDRAW_NANOS = 100_000_000L;

    private final String what;
    private final long total;
    private final PrintStream out;
    private final boolean terminal;
    private final long started = System.nanoTime();
    private long done, lastDraw;
    private int lastTenth;
    private String detail = "";
    private boolean closed;

    private Progress(String what, long total, PrintStream out, boolean terminal) {
        this.what = what;
        this.total = total;
        this.out = out;
        this.terminal = terminal;
        if (!terminal) out.println(what + " ...");
        else draw();
    }

    /**
     * Starts reporting work of {@code total} steps (0 or less: unknown) on {@code out}.
     *
     * @param what  what the work is, e.g. {@code "zoo: fetching 5 models"}
     * @param total how many steps, or 0 if not known
     * @param out   where to report
     * @return the progress; close it when the work ends
     */
    public static Progress start(String what, long total, PrintStream out) {
        return new Progress(what, total, out, out == System.out && System.console() != null);
    }

    /** As {@link #start(String, long, PrintStream)}, forcing the terminal or the plain form (for tests). */
    static Progress start(String what, long total, PrintStream out, boolean terminal) {
        return new Progress(what, total, out, terminal);
    }

    /**
     * Records {@code steps} more steps done.
     *
     * @param steps steps just finished
     */
    public void advance(long steps) {
        done += steps;
        update();
    }

    /**
     * Records the step now under way (e.g. the file being fetched), shown after the count.
     *
     * @param text a short description
     */
    public void detail(String text) {
        detail = text == null ? "" : text;
        update();
    }

    private void update() {
        if (closed) return;
        if (terminal) {
            long now = System.nanoTime();
            if (now - lastDraw >= REDRAW_NANOS) draw();
            return;
        }
        if (total > 0) {
            int tenth = (int) Math.min(10, done * 10 / total);
            if (tenth > lastTenth && tenth < 10) {
                lastTenth = tenth;
                if (done > 0) out.println(line());
            }
        }
    }

    private void draw() {
        lastDraw = System.nanoTime();
        String l = line();
        // \r returns to the line's start; trailing blanks wipe what a longer previous line left
        out.print("\r" + l + " ".repeat(Math.max(0, 100 - l.length())));
        out.flush();
    }

    private String line() {
        String count = total > 0
            ? String.format(Locale.ROOT, "%d/%d (%d%%)", done, total, done * 100 / total)
            : Long.toString(done);
        return what + ": " + count + (detail.isEmpty() ? "" : " " + detail);
    }

    /** Ends the report: the final count and the time taken, on a line of its own. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        String end = String.format(Locale.ROOT, "%s: done, %s in %.1f s", what, total > 0 ? done + "/" + total : Long.toString(done),
            (System.nanoTime() - started) / 1e9);
        if (terminal) out.print("\r" + end + " ".repeat(Math.max(0, 100 - end.length())) + "\n");
        else out.println(end);
        out.flush();
    }
}
