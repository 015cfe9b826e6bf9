package dev.sluice.memgraph;

/**
 * {@code to} waits for {@code from}. DATA: {@code to} reads what {@code from} wrote. MEMORY: {@code to} writes
 * a region that {@code from} still used for the region's previous occupant.
 */
public record Edge(int from, int to, Kind kind) {
    public enum Kind { DATA, MEMORY }
}
