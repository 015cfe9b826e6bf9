package dev.sluice.offload.swap;

import dev.sluice.kernels.SluiceException;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The weights of a model larger than the whole device budget, streamed through a ring buffer of the budget's
 * size: chunk {@code c} goes to ring slot {@code c mod slots}, and only once the weights it overwrites have been
 * {@linkplain #consumed consumed} (every node reading them has run). The model computes as its weights pass
 * through, each node waiting for its own ({@link #awaitArrived}); nothing stays resident afterwards.
 *
 * <p>A node that needs weights beyond what the ring can hold with the unconsumed ones still in it can never be
 * served: {@link #awaitArrived} detects that and fails with the numbers instead of waiting forever.
 */
final class WeightStream {
    private final String key;
    private final long total;
    private final long chunk;
    private final int slots;
    private final int chunks;
    private final BitSet done = new BitSet();
    private int next;
    private long prefix;
    private long consumed;
    private boolean stopped;
    private Throwable failure;
    private int running;

    WeightStream(String key, long total, long ringBytes) {
        this.key = key;
        this.total = total;
        // At least four slots, so copies run ahead of compute; chunks of at most 1 MiB, 64-byte multiples.
        long c = Math.min(ModelSwapper.CHUNK, Math.max(64, ringBytes / 4 / 64 * 64));
        this.chunk = c;
        this.slots = (int) Math.max(1, ringBytes / c);
        this.chunks = (int) Math.max(1, (total + c - 1) / c);
    }

    long ringBytes() { return slots * chunk; }

    /** Starts the lanes; {@code onComplete} runs (holding no lock) when every chunk has passed through. */
    void start(MemorySegment src, MemorySegment ring, List<CopyLink> links, int lanesPerLink, ExecutorService threads,
               AtomicLongArray laneBytes, Runnable onComplete) {
        synchronized (this) { running = links.size() * lanesPerLink; }
        for (int d = 0; d < links.size(); d++) {
            CopyLink link = links.get(d);
            for (int lane = 0; lane < lanesPerLink; lane++) {
                int laneIndex = d * lanesPerLink + lane;
                threads.execute(() -> {
                    Throwable failed = null;
                    try {
                        while (true) {
                            int c;
                            synchronized (this) {
                                if (stopped || next >= chunks) break;
                                c = next++;
                                // The slot is free once the chunk that used it before has been consumed.
                                long mustConsume = (long) (c - slots + 1) * chunk;
                                while (!stopped && consumed < mustConsume) wait();
                                if (stopped) break;
                            }
                            long from = (long) c * chunk, n = Math.min(chunk, total - from);
                            if (n > 0) link.copy(src, from, ring, (long) (c % slots) * chunk, n);
                            laneBytes.addAndGet(laneIndex, Math.max(0, n));
                            synchronized (this) {
                                done.set(c);
                                prefix = Math.min(total, (long) done.nextClearBit(0) * chunk);
                                notifyAll();
                            }
                        }
                    } catch (Throwable t) {
                        failed = t;
                    }
                    boolean complete;
                    synchronized (this) {
                        if (failed != null && failure == null) {
                            failure = failed;
                            stopped = true;
                        }
                        complete = --running == 0 && failure == null && prefix >= total;
                        notifyAll();
                    }
                    // Outside this lock: the callback takes the swapper's, which is held while a stream starts.
                    if (complete) onComplete.run();
                });
            }
        }
    }

    /** Waits until the first {@code bytes} of the weights have passed into the ring. */
    synchronized void awaitArrived(long bytes) throws InterruptedException {
        long need = Math.min(bytes, total);
        while (prefix < need) {
            if (failure != null) throw new SluiceException("streaming the weights of '" + key + "' failed: " + failure, failure);
            if (stopped) throw new SluiceException("the weight stream of '" + key + "' was closed");
            long lastChunk = (need - 1) / chunk;
            if (consumed < (lastChunk - slots + 1) * chunk) {
                throw new SluiceException("model '" + key + "' needs its weights up to byte " + need + " while those from byte " + consumed
                    + " are still in use: more than the device budget's ring of " + ringBytes() + " bytes would have to be on the device at once");
            }
            wait();
        }
    }

    /** Every weight below {@code bytes} is no longer needed by this run: its ring slots may be reused. */
    synchronized void consumed(long bytes) {
        if (bytes > consumed) {
            consumed = bytes;
            notifyAll();
        }
    }

    /** Stops the lanes (the run is over, or gave up). */
    synchronized void stop() {
        stopped = true;
        notifyAll();
    }

    /** True once no lane is copying. */
    synchronized boolean idle() { return running == 0; }

    synchronized void awaitIdle() throws InterruptedException {
        while (running > 0) wait();
    }
}
