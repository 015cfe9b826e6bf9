package dev.sluice.offload.swap;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

/**
 * Which resident model's weights to drop when another needs the room. The swapper tells the policy of every use
 * and asks it for a victim among the resident models no request is using. Implementations are called under the
 * swapper's lock and need no locking of their own.
 */
public sealed interface EvictionPolicy permits EvictionPolicy.Lru, EvictionPolicy.Demand {
    /** A model that could be evicted now: its key, weight bytes and serving priority (higher is kept longer). */
    record Candidate(String key, long bytes, int priority) {}

    /** A request used {@code key}'s weights at {@code nanos}. */
    void touched(String key, long nanos);

    /** The model to evict among {@code candidates} (never empty). */
    String victim(Collection<Candidate> candidates, long nanos);

    /** Forgets a model that left the store. */
    void forget(String key);

    /** Reads {@code lru} or {@code demand}. */
    static EvictionPolicy parse(String name) {
        return switch (name.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "lru" -> new Lru();
            case "demand" -> new Demand(10_000_000_000L);
            default -> throw new IllegalArgumentException("eviction policy must be lru or demand, got '" + name + "'");
        };
    }

    /** Least recently used first (lower priority first among models used at the same instant). */
    final class Lru implements EvictionPolicy {
        private final Map<String, Long> lastUse = new HashMap<>();

        @Override public void touched(String key, long nanos) { lastUse.put(key, nanos); }

        @Override public String victim(Collection<Candidate> candidates, long nanos) {
            Candidate best = null;
            for (Candidate c : candidates) {
                if (best == null || c.priority() < best.priority()
                    || (c.priority() == best.priority() && lastUse.getOrDefault(c.key(), 0L) < lastUse.getOrDefault(best.key(), 0L))) {
                    best = c;
                }
            }
            return best.key();
        }

        @Override public void forget(String key) { lastUse.remove(key); }
    }

    /**
     * Least recent demand first. Keeping a model resident saves one transfer per request, and a transfer costs
     * its bytes over the bandwidth, while holding it costs those same bytes of budget: the saving per byte held is
     * the model's request rate, whatever its size. So the policy evicts the model with the lowest request rate,
     * measured as an exponentially decayed count (half-life {@code halfLifeNanos}) that forgets old bursts;
     * priority comes first, least recent use breaks ties. Unlike LRU it keeps a steadily popular model through a
     * burst of one-off requests for others.
     */
    final class Demand implements EvictionPolicy {
        private final double halfLifeNanos;
        private final Map<String, double[]> rate = new HashMap<>(); // key -> {decayed count, at nanos}

        public Demand(long halfLifeNanos) { this.halfLifeNanos = halfLifeNanos; }

        @Override public void touched(String key, long nanos) {
            double[] r = rate.computeIfAbsent(key, k -> new double[] {0, nanos});
            r[0] = decayed(r, nanos) + 1;
            r[1] = nanos;
        }

        private double decayed(double[] r, long nanos) { return r[0] * Math.pow(0.5, (nanos - r[1]) / halfLifeNanos); }

        /** The decayed request count of {@code key} now (for tests and reports). */
        public double demand(String key, long nanos) {
            double[] r = rate.get(key);
            return r == null ? 0 : decayed(r, nanos);
        }

        @Override public String victim(Collection<Candidate> candidates, long nanos) {
            Candidate best = null;
            double bestDemand = 0;
            for (Candidate c : candidates) {
                double d = demand(c.key(), nanos);
                if (best == null || c.priority() < best.priority()
                    || (c.priority() == best.priority() && (d < bestDemand || (d == bestDemand && lastUse(c) < lastUse(best))))) {
                    best = c;
                    bestDemand = d;
                }
            }
            return best.key();
        }

        private double lastUse(Candidate c) {
            double[] r = rate.get(c.key());
            return r == null ? 0 : r[1];
        }

        @Override public void forget(String key) { rate.remove(key); }
    }
}
