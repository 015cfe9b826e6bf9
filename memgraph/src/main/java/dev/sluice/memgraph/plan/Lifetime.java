package dev.sluice.memgraph.plan;

/**
 * One intermediate tensor as the planner sees it: the bytes it takes in the arena (a whole block, header
 * slot and alignment included) and the steps, in execution order, of the node that writes it and of the
 * last node that reads it (both inclusive). Two lifetimes conflict when their step ranges intersect: a
 * tensor written at step s may not share memory with one still read at step s.
 */
public record Lifetime(String value, long bytes, int firstStep, int lastStep) {
    public Lifetime {
        if (value == null || value.isEmpty()) throw new IllegalArgumentException("lifetime needs a value name");
        if (bytes < 0) throw new IllegalArgumentException(value + ": negative size " + bytes);
        if (firstStep < 0 || lastStep < firstStep) {
            throw new IllegalArgumentException(value + ": bad lifetime [" + firstStep + ", " + lastStep + "]");
        }
    }

    /** True if some step sees both tensors live. */
    public boolean overlapsInTime(Lifetime o) { return firstStep <= o.lastStep && o.firstStep <= lastStep; }

    public int length() { return lastStep - firstStep + 1; }
}
