package dev.sluice.bench.turnip;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The three issue orders of the dispatcher replayed on paper: one lane per queue, every task taking exactly its
 * drawn duration, no dispatcher or host costs. What an order gains or loses here is the policy's own effect, which
 * a measured run on a shared host mixes with wake-up latencies and preemption; the bench prints both.
 *
 * <p>DYNAMIC: an idle lane takes the task that became ready first (ties by id), and a lane runs next a successor it
 * made ready on its own queue; PRIORITY: the most urgent ready task (a kernel by id, a copy by the first kernel it
 * leads to, as the dispatcher ranks them); FIXED: each queue strictly in id order.
 */
final class OrderSimulation {
    private OrderSimulation() {}

    enum Order { DYNAMIC, PRIORITY, FIXED }

    /** Tasks {@code 0..n-1} with a queue, a duration (ns), successors; {@code copyQueue[q]} marks copy queues. */
    record Plan(int[] queue, long[] nanos, int[][] successors, boolean[] copyQueue) {}

    static long makespan(Plan p, Order order) {
        int n = p.queue().length, queues = p.copyQueue().length;
        int[] remaining = new int[n];
        for (int[] s : p.successors()) for (int x : s) remaining[x]++;
        long[] readyAt = new long[n];
        int[] key = urgency(p);
        List<List<Integer>> ready = new ArrayList<>();
        for (int q = 0; q < queues; q++) ready.add(new ArrayList<>());
        for (int i = 0; i < n; i++) if (remaining[i] == 0) ready.get(p.queue()[i]).add(i);
        int[] cursor = new int[queues];
        int[][] seq = new int[queues][];
        for (int q = 0; q < queues; q++) {
            int qq = q;
            seq[q] = java.util.stream.IntStream.range(0, n).filter(i -> p.queue()[i] == qq).toArray();
        }
        long[] busyUntil = new long[queues];
        int[] running = new int[queues];
        int[] preferred = new int[queues];
        Arrays.fill(running, -1);
        Arrays.fill(preferred, -1);
        long now = 0;
        int done = 0;
        while (done < n) {
            for (int q = 0; q < queues; q++) {
                if (running[q] >= 0) continue;
                int t = pick(order, ready.get(q), readyAt, key, seq[q], cursor, q, remaining, preferred[q]);
                preferred[q] = -1;
                if (t < 0) continue;
                ready.get(q).remove(Integer.valueOf(t));
                running[q] = t;
                busyUntil[q] = now + p.nanos()[t];
            }
            long next = Long.MAX_VALUE;
            for (int q = 0; q < queues; q++) if (running[q] >= 0) next = Math.min(next, busyUntil[q]);
            if (next == Long.MAX_VALUE) throw new IllegalStateException("no task can run: the plan has a cycle");
            now = next;
            for (int q = 0; q < queues; q++) {
                if (running[q] < 0 || busyUntil[q] != now) continue;
                int t = running[q];
                running[q] = -1;
                done++;
                for (int s : p.successors()[t]) {
                    if (--remaining[s] != 0) continue;
                    readyAt[s] = now;
                    if (order != Order.FIXED) ready.get(p.queue()[s]).add(s);
                    if (order == Order.DYNAMIC && p.queue()[s] == q && preferred[q] < 0) preferred[q] = s;
                }
            }
        }
        return now;
    }

    private static int pick(Order order, List<Integer> ready, long[] readyAt, int[] key, int[] seq, int[] cursor, int q, int[] remaining,
                            int preferred) {
        switch (order) {
            case FIXED -> {
                if (cursor[q] >= seq.length || remaining[seq[cursor[q]]] != 0) return -1;
                return seq[cursor[q]++];
            }
            case DYNAMIC -> {
                if (preferred >= 0) return preferred;
                int best = -1;
                for (int t : ready) if (best < 0 || readyAt[t] < readyAt[best] || (readyAt[t] == readyAt[best] && t < best)) best = t;
                return best;
            }
            default -> {
                int best = -1;
                for (int t : ready) if (best < 0 || key[t] < key[best] || (key[t] == key[best] && t < best)) best = t;
                return best;
            }
        }
    }

    /** A kernel's key is its id; a copy's the least key among its successors (its own id if it has none). */
    static int[] urgency(Plan p) {
        int n = p.queue().length;
        int[] key = new int[n];
        for (int t = n - 1; t >= 0; t--) {
            int k = t;
            if (p.copyQueue()[p.queue()[t]] && p.successors()[t].length > 0) {
                k = Integer.MAX_VALUE;
                for (int s : p.successors()[t]) k = Math.min(k, key[s]);
            }
            key[t] = k;
        }
        return key;
    }
}
