package dev.sluice.memgraph.plan;

/**
 * A chance to reuse memory: the node at {@code step} may write {@code output} over {@code input}, because
 * its kernel is in-place safe (elementwise, same shape) and {@code input} is last read there. The planner
 * takes it only when the lifetimes agree (input ends at step, output starts there, output no larger).
 */
public record InPlace(String output, String input, int step) {}
