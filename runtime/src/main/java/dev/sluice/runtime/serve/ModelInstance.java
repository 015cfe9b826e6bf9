package dev.sluice.runtime.serve;

import dev.sluice.graph.Value;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.InputException;
import dev.sluice.runtime.Session;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;

/**
 * One loaded model version: its session, a bounded admission queue and the worker thread that drains it.
 *
 * <p>Invariants: the queue never holds more than {@code config.maxQueue()} requests (an admission over it is
 * refused at once with 429); once {@link #drain()} is called nothing more is admitted, every request already
 * admitted is still answered, and only then is the session closed. Where the model has a leading batch
 * dimension on every input and {@code max_batch_size > 1}, the worker joins compatible queued requests (same
 * inputs, same trailing shapes) into one run of at most {@code max_batch_size} rows, waiting at most
 * {@code max_queue_delay} after the first for company, and splits the outputs by rows.
 */
final class ModelInstance {
    enum State { READY, DRAINING, CLOSED }

    /** An admitted request: its validated input tensors and the future the front end waits on. */
    static final class Pending {
        final InferRequest request;
        final Map<String, Tensor> inputs;
        final long rows;
        final long admittedNanos = System.nanoTime();
        final CompletableFuture<InferResponse> result = new CompletableFuture<>();

        Pending(InferRequest request, Map<String, Tensor> inputs, long rows) {
            this.request = request;
            this.inputs = inputs;
            this.rows = rows;
        }

        void release() { inputs.values().forEach(Tensor::close); }
    }

    final String name;
    final long version;
    final String key;
    final ModelConfig config;
    final Session session;
    final ModelMetadata metadata;
    private final boolean batchable;
    private final Semaphore deviceWorkers;
    private final Residency residency;
    private final ArrayDeque<Pending> queue = new ArrayDeque<>();
    private final java.util.Set<List<Object>> shapesRun = new java.util.HashSet<>();
    private State state = State.READY;
    private final Thread worker;

    ModelInstance(String name, long version, String key, ModelConfig config, Session session, Semaphore deviceWorkers, Residency residency) {
        this.name = name;
        this.version = version;
        this.key = key;
        this.config = config;
        this.session = session;
        this.deviceWorkers = deviceWorkers;
        this.residency = residency;
        this.metadata = metadataOf(name, version, session, config);
        this.batchable = config.maxBatchSize() > 1 && hasBatchDimension(session);
        this.worker = Thread.ofPlatform().name("sluice-serve-" + key).daemon(true).unstarted(this::work);
    }

    void start() { worker.start(); }

    synchronized State state() { return state; }

    synchronized int queueDepth() { return queue.size(); }

    boolean batching() { return batchable; }

    /**
     * Validates a request against the model and queues it; the future completes with the answer. Throws 400 for
     * bad input, 429 when the queue is full, 503 when the model is draining.
     */
    Pending admit(InferRequest r) {
        Map<String, Tensor> inputs = inputs(r);
        long rows = batchable ? inputs.values().iterator().next().shape().dim(0) : 1;
        Pending p = new Pending(r, inputs, rows);
        synchronized (this) {
            if (state != State.READY) {
                p.release();
                throw new ServeException(ServeException.Kind.UNAVAILABLE, "model '" + name + "' version " + version + " is being unloaded");
            }
            if (queue.size() >= config.maxQueue()) {
                p.release();
                throw new ServeException(ServeException.Kind.OVERLOADED, "model '" + name + "' has " + queue.size()
                    + " requests queued, its limit (max_queue); try again later");
            }
            queue.addLast(p);
            notifyAll();
        }
        return p;
    }

    /** Withdraws a request whose client went away; true if it had not started (it then completes as cancelled). */
    boolean cancel(Pending p) {
        synchronized (this) {
            if (!queue.remove(p)) return false;
        }
        p.release();
        p.result.completeExceptionally(new ServeException(ServeException.Kind.CANCELLED, "the client cancelled the request"));
        return true;
    }

    /** Stops admitting; the worker answers what is queued, then closes the session. */
    synchronized void drain() {
        if (state == State.READY) state = State.DRAINING;
        notifyAll();
    }

    /** Waits for the worker to finish after {@link #drain()}. */
    void awaitClosed(long millis) throws InterruptedException { worker.join(millis); }

    private void work() {
        try {
            while (true) {
                List<Pending> batch = nextBatch();
                if (batch == null) break;
                run(batch);
            }
        } finally {
            synchronized (this) { state = State.CLOSED; }
            residency.remove(key);
            session.close();
        }
    }

    /** The next requests to run together, or null once draining with nothing left. */
    private List<Pending> nextBatch() {
        synchronized (this) {
            while (queue.isEmpty()) {
                if (state != State.READY) return null;
                try {
                    wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return null;
                }
            }
            Pending first = queue.pollFirst();
            List<Pending> batch = new ArrayList<>(List.of(first));
            if (!batchable) return batch;
            long rows = first.rows;
            long deadline = first.admittedNanos + config.maxQueueDelayMicros() * 1000;
            while (rows < config.maxBatchSize()) {
                for (Iterator<Pending> it = queue.iterator(); it.hasNext() && rows < config.maxBatchSize(); ) {
                    Pending p = it.next();
                    if (rows + p.rows <= config.maxBatchSize() && compatible(first, p)) {
                        it.remove();
                        batch.add(p);
                        rows += p.rows;
                    }
                }
                long left = deadline - System.nanoTime();
                if (rows >= config.maxBatchSize() || left <= 0 || state != State.READY) break;
                try {
                    wait(Math.max(1, (left + 999_999) / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            return batch;
        }
    }

    private static boolean compatible(Pending a, Pending b) {
        if (!a.inputs.keySet().equals(b.inputs.keySet()) || !a.request.outputs().equals(b.request.outputs())) return false;
        for (var e : a.inputs.entrySet()) {
            Tensor x = e.getValue(), y = b.inputs.get(e.getKey());
            if (x.dtype() != y.dtype() || x.rank() != y.rank()) return false;
            for (int i = 1; i < x.rank(); i++) if (x.shape().dim(i) != y.shape().dim(i)) return false;
        }
        return true;
    }

    private void run(List<Pending> batch) {
        try (Residency.Lease lease = residency.acquire(key)) {
            deviceWorkers.acquire();
            try {
                if (batch.size() == 1) {
                    Pending p = batch.getFirst();
                    p.result.complete(respond(p.request, SessionCalls.run(session, p.inputs, lease, firstOfShapes(p.inputs))));
                } else {
                    runBatched(batch, lease);
                }
            } finally {
                deviceWorkers.release();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(batch, new ServeException(ServeException.Kind.UNAVAILABLE, "the server is shutting down"));
        } catch (Throwable t) {
            fail(batch, t);
        } finally {
            for (Pending p : batch) p.release();
        }
    }

    private void runBatched(List<Pending> batch, Residency.Lease lease) throws InterruptedException {
        Map<String, Tensor> joined = new LinkedHashMap<>();
        long rows = 0;
        for (Pending p : batch) rows += p.rows;
        try {
            for (String in : batch.getFirst().inputs.keySet()) {
                Tensor first = batch.getFirst().inputs.get(in);
                long[] dims = first.shape().dims();
                dims[0] = rows;
                Tensor t = Tensor.allocate(first.dtype(), dev.sluice.kernels.Shape.of(dims));
                long at = 0;
                for (Pending p : batch) {
                    Tensor part = p.inputs.get(in);
                    java.lang.foreign.MemorySegment.copy(part.data(), 0, t.data(), at, part.byteSize());
                    at += part.byteSize();
                }
                joined.put(in, t);
            }
            Map<String, Tensor> out = SessionCalls.run(session, joined, lease, firstOfShapes(joined));
            try {
                for (Tensor t : out.values()) {
                    if (t.rank() == 0 || t.shape().dim(0) != rows) {
                        throw new SluiceException("model '" + name + "' output of shape " + t.shape() + " does not keep the batch of "
                            + rows + " rows; set max_batch_size to 1 in its config.json");
                    }
                }
                long row = 0;
                for (Pending p : batch) {
                    Map<String, Tensor> mine = new LinkedHashMap<>();
                    for (var e : out.entrySet()) {
                        Tensor t = e.getValue();
                        long rowBytes = t.byteSize() / rows;
                        long[] dims = t.shape().dims();
                        dims[0] = p.rows;
                        Tensor slice = Tensor.allocate(t.dtype(), dev.sluice.kernels.Shape.of(dims));
                        java.lang.foreign.MemorySegment.copy(t.data(), row * rowBytes, slice.data(), 0, p.rows * rowBytes);
                        mine.put(e.getKey(), slice);
                    }
                    row += p.rows;
                    p.result.complete(respond(p.request, mine));
                }
            } finally {
                out.values().forEach(Tensor::close);
            }
        } finally {
            joined.values().forEach(Tensor::close);
        }
    }

    /** True the first time these input shapes run on this model (only the worker thread calls it). */
    private boolean firstOfShapes(Map<String, Tensor> inputs) {
        List<Object> key = new ArrayList<>();
        for (var e : inputs.entrySet()) {
            key.add(e.getKey());
            key.add(e.getValue().shape());
        }
        return shapesRun.add(key);
    }

    private static void fail(List<Pending> batch, Throwable t) {
        Throwable e = t instanceof ServeException ? t
            : t instanceof InputException ? ServeException.badRequest(t.getMessage())
            : new ServeException(ServeException.Kind.INTERNAL, "inference failed: " + t, t);
        for (Pending p : batch) p.result.completeExceptionally(e);
    }

    /** Builds the response from the outputs (which it closes): the requested ones in order, or all. */
    private InferResponse respond(InferRequest r, Map<String, Tensor> outputs) {
        try {
            List<InferTensor> out = new ArrayList<>();
            if (r.outputs().isEmpty()) {
                for (Value v : session.outputs()) out.add(TensorCodec.fromTensor(v.name(), outputs.get(v.name())));
            } else {
                for (InferRequest.RequestedOutput o : r.outputs()) out.add(TensorCodec.fromTensor(o.name(), outputs.get(o.name())));
            }
            return new InferResponse(name, Long.toString(version), r.id(), out);
        } finally {
            outputs.values().forEach(Tensor::close);
        }
    }

    /** Checks names (every model input given, no unknown one, requested outputs exist) and converts tensors. */
    private Map<String, Tensor> inputs(InferRequest r) {
        Map<String, Value> byName = new LinkedHashMap<>();
        for (Value v : session.inputs()) byName.put(v.name(), v);
        Map<String, InferTensor> given = new HashMap<>();
        for (InferTensor t : r.inputs()) {
            if (!byName.containsKey(t.name())) {
                throw ServeException.badRequest("input '" + t.name() + "' is not an input of model '" + name + "'; its inputs are " + byName.keySet());
            }
            given.put(t.name(), t);
        }
        for (String n : byName.keySet()) {
            if (!given.containsKey(n)) throw ServeException.badRequest("input '" + n + "' of model '" + name + "' is missing");
        }
        List<String> outs = session.outputs().stream().map(Value::name).toList();
        for (InferRequest.RequestedOutput o : r.outputs()) {
            if (!outs.contains(o.name())) {
                throw ServeException.badRequest("output '" + o.name() + "' is not an output of model '" + name + "'; its outputs are " + outs);
            }
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            long batch = -1;
            for (var e : byName.entrySet()) {
                InferTensor t = given.get(e.getKey());
                Tensor x = TensorCodec.toTensor(t, e.getValue(), config.inputs().get(e.getKey()));
                out.put(e.getKey(), x);
                if (batchable) {
                    if (x.rank() == 0) throw ServeException.badRequest("input '" + t.name() + "' needs a batch dimension");
                    if (batch >= 0 && x.shape().dim(0) != batch) {
                        throw ServeException.badRequest("input '" + t.name() + "' has batch " + x.shape().dim(0) + " but another input has " + batch);
                    }
                    batch = x.shape().dim(0);
                    if (batch > config.maxBatchSize()) {
                        throw ServeException.badRequest("input '" + t.name() + "' has batch " + batch + ", over the model's max_batch_size " + config.maxBatchSize());
                    }
                }
            }
        } catch (RuntimeException e) {
            out.values().forEach(Tensor::close);
            throw e;
        }
        return out;
    }

    /** True when every input and output has a leading symbolic dimension, the same symbol on all inputs. */
    private static boolean hasBatchDimension(Session s) {
        String symbol = null;
        for (Value v : s.inputs()) {
            var sh = v.type().shape();
            if (!sh.hasRank() || sh.rank() == 0 || !(sh.dim(0) instanceof Dim.Symbol sym)) return false;
            if (symbol != null && !symbol.equals(sym.name())) return false;
            symbol = sym.name();
        }
        for (Value v : s.outputs()) {
            var sh = v.type().shape();
            if (sh.hasRank() && (sh.rank() == 0 || sh.dim(0) instanceof Dim.Known)) return false;
        }
        return symbol != null;
    }

    private static ModelMetadata metadataOf(String name, long version, Session s, ModelConfig config) {
        List<ModelMetadata.TensorMetadata> in = new ArrayList<>(), out = new ArrayList<>();
        for (Value v : s.inputs()) in.add(tensorMeta(v, config.inputs().get(v.name()), "input"));
        for (Value v : s.outputs()) out.add(tensorMeta(v, config.outputs().get(v.name()), "output"));
        for (String n : config.inputs().keySet()) {
            if (s.inputs().stream().noneMatch(v -> v.name().equals(n))) throw new SluiceException("config.json of model '" + name + "' overrides input '" + n + "', which the model does not have");
        }
        for (String n : config.outputs().keySet()) {
            if (s.outputs().stream().noneMatch(v -> v.name().equals(n))) throw new SluiceException("config.json of model '" + name + "' overrides output '" + n + "', which the model does not have");
        }
        return new ModelMetadata(name, List.of(Long.toString(version)), ModelMetadata.ONNX, in, out);
    }

    private static ModelMetadata.TensorMetadata tensorMeta(Value v, ModelMetadata.TensorMetadata override, String side) {
        Datatype dt = v.type().dtype() == null ? null : Datatype.of(v.type().dtype());
        long[] shape = TensorCodec.protocolShape(v.type().shape());
        if (override != null) {
            if (override.datatype() != null && dt != null && override.datatype() != dt) {
                throw new SluiceException("config.json: " + side + " '" + v.name() + "' is " + dt + " in the model, not " + override.datatype());
            }
            if (override.shape() != null) {
                if (v.type().shape().hasRank() && override.shape().length != shape.length) {
                    throw new SluiceException("config.json: " + side + " '" + v.name() + "' has rank " + shape.length + " in the model, not "
                        + override.shape().length + " " + Arrays.toString(override.shape()));
                }
                for (int i = 0; i < shape.length && i < override.shape().length; i++) {
                    if (shape[i] >= 0 && override.shape()[i] >= 0 && shape[i] != override.shape()[i]) {
                        throw new SluiceException("config.json: " + side + " '" + v.name() + "' dimension " + i + " is " + shape[i]
                            + " in the model, not " + override.shape()[i]);
                    }
                }
                shape = override.shape();
            }
        }
        return new ModelMetadata.TensorMetadata(v.name(), dt, shape);
    }
}
