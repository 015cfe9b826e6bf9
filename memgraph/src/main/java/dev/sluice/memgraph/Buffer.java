package dev.sluice.memgraph;

/**
 * One placement of a value: on the host ({@code offset} -1: its own memory) or in a device arena at
 * {@code offset} for {@code bytes} (a whole block, header slot and alignment included). A value that is
 * offloaded and reloaded gets a new buffer each time, so every buffer is written exactly once.
 */
public record Buffer(int id, String value, int device, long offset, long bytes) {
    public boolean onHost() { return offset < 0; }
}
