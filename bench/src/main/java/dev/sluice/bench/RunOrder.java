package dev.sluice.bench;

import dev.sluice.kernels.SluiceException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * The order in which {@code sluice bench} runs its models in one JVM: as given, reversed, or shuffled by a
 * seed. The JIT's type profiles are shaped by whatever ran first, so a model's speed can depend on its place
 * in the run; running the same set in several orders shows that. A shuffle names its seed so that the same
 * order can be asked for again.
 */
record RunOrder(Kind kind, long seed) {
    enum Kind { GIVEN, REVERSED, SHUFFLED }

    /** Parses {@code given}, {@code reversed}, {@code shuffled} (seed from the clock) or {@code shuffled:SEED}. */
    static RunOrder parse(String spec) {
        if (spec == null || spec.equals("given")) return new RunOrder(Kind.GIVEN, 0);
        if (spec.equals("reversed")) return new RunOrder(Kind.REVERSED, 0);
        if (spec.equals("shuffled")) return new RunOrder(Kind.SHUFFLED, System.nanoTime() & 0xFFFF);
        if (spec.startsWith("shuffled:")) {
            try {
                return new RunOrder(Kind.SHUFFLED, Long.parseLong(spec.substring("shuffled:".length())));
            } catch (NumberFormatException e) {
                throw new SluiceException("--order shuffled:SEED needs an integer seed, got '" + spec + "'");
            }
        }
        throw new SluiceException("--order must be given, reversed, shuffled or shuffled:SEED, got '" + spec + "'");
    }

    /** The targets in this order; the input list is not changed. */
    List<String> apply(List<String> targets) {
        List<String> r = new ArrayList<>(targets);
        switch (kind) {
            case GIVEN -> { }
            case REVERSED -> Collections.reverse(r);
            case SHUFFLED -> Collections.shuffle(r, new Random(seed));
        }
        return r;
    }

    /** How to ask for this order again: given, reversed or shuffled:SEED. */
    @Override public String toString() {
        return switch (kind) {
            case GIVEN -> "given";
            case REVERSED -> "reversed";
            case SHUFFLED -> "shuffled:" + seed;
        };
    }
}
