package dev.sluice.runtime;

import dev.sluice.kernels.Tensor;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * The outputs of one {@link Session#run} call, by name, in the order the model (or the caller's list of wanted
 * outputs) gives them. The caller owns the tensors: {@link #close()} hands the memory of every output back at
 * once, so a loop that closes its results (try-with-resources) runs without fresh memory; a result never
 * closed is freed by the garbage collector instead.
 *
 * <p>Invariants: names are unique; every tensor is distinct from the caller's inputs and the model's weights
 * (the session copies an output that would alias one), so closing a result never touches memory the caller
 * or the session still uses. After {@code close()} every accessor throws {@link IllegalStateException}, and so
 * does reading a tensor taken from the result before.
 *
 * <p>Not thread-safe: one result belongs to the thread that made the run, like the tensors in it.
 */
public final class Result implements AutoCloseable, Iterable<Map.Entry<String, Tensor>> {
    private final Map<String, Tensor> outputs;
    private boolean closed;

    /** The outputs in order; the map is copied, the tensors are not. */
    Result(Map<String, Tensor> outputs) {
        this.outputs = Collections.unmodifiableMap(new LinkedHashMap<>(outputs));
    }

    /**
     * The output with this name.
     *
     * @param name an output name of the model (one of those asked for, when the run named them)
     * @return the tensor, owned by this result
     * @throws NoSuchElementException naming the outputs there are, if this result has no such output
     * @throws IllegalStateException if this result is closed
     */
    public Tensor get(String name) {
        ensureOpen();
        Tensor t = outputs.get(name);
        if (t == null) throw new NoSuchElementException("no output '" + name + "' in this result; it holds " + outputs.keySet());
        return t;
    }

    /**
     * The output at this position.
     *
     * @param index 0 for the first output
     * @return the tensor, owned by this result
     * @throws IndexOutOfBoundsException if there is no such position
     * @throws IllegalStateException if this result is closed
     */
    public Tensor get(int index) {
        ensureOpen();
        return List.copyOf(outputs.values()).get(index);
    }

    /**
     * Whether this result holds an output of this name.
     *
     * @param name an output name
     * @return true if {@link #get(String)} would find it
     */
    public boolean contains(String name) {
        ensureOpen();
        return outputs.containsKey(name);
    }

    /**
     * The output names, in order.
     *
     * @return an unmodifiable list
     */
    public List<String> names() {
        ensureOpen();
        return List.copyOf(outputs.keySet());
    }

    /**
     * How many outputs this result holds.
     *
     * @return the number of outputs
     */
    public int size() { return outputs.size(); }

    /**
     * A read-only map view of the outputs, in order (for code that takes a map).
     *
     * @return an unmodifiable map whose tensors still belong to this result
     */
    public Map<String, Tensor> asMap() {
        ensureOpen();
        return outputs;
    }

    /**
     * Iterates over (name, tensor) pairs in output order.
     *
     * @return an iterator over unmodifiable entries
     */
    @Override public Iterator<Map.Entry<String, Tensor>> iterator() {
        ensureOpen();
        return outputs.entrySet().iterator();
    }

    /**
     * Whether {@link #close()} has been called.
     *
     * @return true once closed
     */
    public boolean isClosed() { return closed; }

    /** Releases every output's memory at once; a second call does nothing. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        for (Tensor t : outputs.values()) t.close();
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("this result is closed; its outputs' memory was released");
    }

    @Override public String toString() {
        if (closed) return "Result[closed]";
        StringBuilder b = new StringBuilder("Result[");
        String sep = "";
        for (var e : outputs.entrySet()) {
            b.append(sep).append(e.getKey()).append('=').append(e.getValue().dtype()).append(e.getValue().shape());
            sep = ", ";
        }
        return b.append(']').toString();
    }
}
