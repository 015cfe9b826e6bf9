package dev.sluice.runtime.serve;

import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The model registry and request path shared by the REST and gRPC front ends: loads models from the
 * repository, admits requests to each model's bounded queue, and unloads or reloads models while requests run.
 *
 * <p>Invariants: a model is either absent or has a complete set of loaded versions (a load publishes new
 * versions in one step, after every session has opened); an unloaded or replaced version stops admitting at
 * once but answers every request it had admitted before its session closes. Device workers are a semaphore
 * per engine ({@code workers} permits): at most that many model runs compute at once.
 */
public final class Engine implements AutoCloseable {
    private final ModelRepository repository;
    private final Options options;
    private final Metrics metrics;
    private final Residency residency;
    private final Semaphore deviceWorkers;
    private final Map<String, NavigableMap<Long, ModelInstance>> loaded = new ConcurrentHashMap<>();
    private final Map<String, String> failedLoads = new ConcurrentHashMap<>();
    private final AtomicLong generation = new AtomicLong();
    private final Object loadLock = new Object();
    private volatile boolean accepting = true;

    /**
     * @param device  the device every model runs on unless its config names one ({@code cpu} or {@code throttled})
     * @param workers concurrent model runs on the device
     * @param notice  where load failures and notices are reported
     */
    public record Options(String device, int workers, Consumer<String> notice) {
        public Options {
            if (workers < 1) throw new SluiceException("workers must be at least 1, got " + workers);
        }
    }

    /** One row of the repository index. */
    public record IndexEntry(String name, String version, String state, String reason) {}

    public Engine(ModelRepository repository, Options options, Metrics metrics, Residency residency) {
        this.repository = repository;
        this.options = options;
        this.metrics = metrics;
        this.residency = residency;
        this.deviceWorkers = new Semaphore(options.workers(), true);
        metrics.queueDepths(this::queueDepths);
        metrics.device(residency::figures);
    }

    public ModelRepository repository() { return repository; }

    public Metrics metrics() { return metrics; }

    public boolean ready() { return accepting; }

    /** Loads every model of the repository; a model that fails is reported and left out. Returns the loaded names. */
    public List<String> loadAll() {
        List<String> ok = new ArrayList<>();
        for (String name : repository.names()) {
            try {
                load(name);
                ok.add(name);
            } catch (SluiceException e) {
                options.notice().accept("model '" + name + "' not loaded: " + e.getMessage());
            }
        }
        return ok;
    }

    /**
     * Loads (or reloads) a model: opens every version's session first, then publishes them together; the versions
     * they replace drain and close. A failure leaves what was loaded before in place.
     */
    public void load(String name) {
        if (!accepting) throw new ServeException(ServeException.Kind.UNAVAILABLE, "the server is shutting down");
        synchronized (loadLock) {
            ModelRepository.Entry e;
            try {
                e = repository.read(name);
            } catch (SluiceException ex) {
                failedLoads.put(name, ex.getMessage());
                throw ex;
            }
            NavigableMap<Long, ModelInstance> fresh = new TreeMap<>();
            try {
                for (ModelRepository.Version v : e.versions().values()) {
                    String key = name + ":" + v.number() + "#" + generation.incrementAndGet();
                    Session s = openSession(v, e.config());
                    try {
                        residency.add(key, s, e.config().priority());
                        fresh.put(v.number(), new ModelInstance(name, v.number(), key, e.config(), s, deviceWorkers, residency));
                    } catch (RuntimeException ex) {
                        s.close();
                        throw ex;
                    }
                }
            } catch (RuntimeException ex) {
                for (ModelInstance m : fresh.values()) {
                    residency.remove(m.key);
                    m.session.close();
                }
                String msg = "model '" + name + "' failed to load: " + ex.getMessage();
                failedLoads.put(name, msg);
                throw ex instanceof ServeException se ? se : new ServeException(ServeException.Kind.BAD_REQUEST, msg, ex);
            }
            fresh.values().forEach(ModelInstance::start);
            NavigableMap<Long, ModelInstance> old = loaded.put(name, fresh);
            failedLoads.remove(name);
            if (old != null) old.values().forEach(ModelInstance::drain);
        }
    }

    /** Unloads a model: it stops admitting at once and closes after answering what it had admitted. 404 if not loaded. */
    public void unload(String name) {
        ModelRepository.checkName(name);
        synchronized (loadLock) {
            NavigableMap<Long, ModelInstance> old = loaded.remove(name);
            if (old == null) throw ServeException.notFound("model '" + name + "' is not loaded");
            old.values().forEach(ModelInstance::drain);
        }
    }

    private Session openSession(ModelRepository.Version v, ModelConfig config) {
        String device = config.device() != null ? config.device() : options.device();
        if (device != null && !device.equals("cpu") && !device.equals("throttled")) {
            throw new SluiceException("device '" + device + "' is not one sluice serve runs models on (cpu or throttled)");
        }
        // The throttled device computes with the CPU kernels; what it adds (a weight budget and a slow link) is the
        // swapper's part, so a session here is a plain CPU session unless the model's config places it across devices
        // (its "session" settings), in which case it runs placed, as `sluice run --devices/--placement` does.
        return Session.open(v.file(), config.sessionOptions());
    }

    /** Admits a request; the future completes with the answer or a {@link ServeException}. */
    public Admitted infer(InferRequest r) {
        if (!accepting) throw new ServeException(ServeException.Kind.UNAVAILABLE, "the server is shutting down");
        long t0 = System.nanoTime();
        // A reload may retire the instance between the look-up and the admission: look again (bounded).
        for (int attempt = 0; ; attempt++) {
            ModelInstance m = instance(r.model(), r.version());
            ModelInstance.Pending p;
            try {
                p = m.admit(r);
            } catch (ServeException e) {
                if (e.kind() == ServeException.Kind.UNAVAILABLE && attempt < 3 && m.state() != ModelInstance.State.READY) continue;
                if (e.kind() == ServeException.Kind.OVERLOADED) metrics.rejected(r.model());
                else metrics.observe(r.model(), System.nanoTime() - t0, false);
                throw e;
            }
            p.result.whenComplete((ok, err) -> metrics.observe(r.model(), System.nanoTime() - t0, err == null));
            return new Admitted(m, p);
        }
    }

    /** An admitted request: wait on {@link #result()}, or {@link #cancel()} it when the client goes away. */
    public static final class Admitted {
        private final ModelInstance model;
        private final ModelInstance.Pending pending;

        Admitted(ModelInstance model, ModelInstance.Pending pending) {
            this.model = model;
            this.pending = pending;
        }

        public CompletableFuture<InferResponse> result() { return pending.result; }

        /** Withdraws the request if it has not started to run; true when it was withdrawn. */
        public boolean cancel() { return model.cancel(pending); }
    }

    /** The loaded instance for a model and optional version (the highest when absent); 404 naming what is missing. */
    ModelInstance instance(String name, String version) {
        ModelRepository.checkName(name);
        NavigableMap<Long, ModelInstance> versions = loaded.get(name);
        if (versions == null || versions.isEmpty()) throw ServeException.notFound("model '" + name + "' is not loaded");
        if (version == null || version.isEmpty()) return versions.lastEntry().getValue();
        long v;
        try {
            v = Long.parseLong(version);
        } catch (NumberFormatException e) {
            throw ServeException.notFound("model '" + name + "' has no version '" + version + "'");
        }
        ModelInstance m = versions.get(v);
        if (m == null) throw ServeException.notFound("model '" + name + "' has no version " + version + "; loaded versions: " + versions.keySet());
        return m;
    }

    /** True when the model (version) is loaded and admitting. */
    public boolean modelReady(String name, String version) {
        try {
            return accepting && instance(name, version).state() == ModelInstance.State.READY;
        } catch (ServeException e) {
            if (e.kind() == ServeException.Kind.NOT_FOUND) return false;
            throw e;
        }
    }

    /** The model's metadata; its versions are all those loaded. */
    public ModelMetadata metadata(String name, String version) {
        ModelInstance m = instance(name, version);
        List<String> versions = loaded.getOrDefault(name, new TreeMap<>()).keySet().stream().map(String::valueOf).toList();
        ModelMetadata md = m.metadata;
        return new ModelMetadata(md.name(), versions.isEmpty() ? md.versions() : versions, md.platform(), md.inputs(), md.outputs());
    }

    /** Every model of the repository with its state: READY, UNAVAILABLE (with why), or not loaded. */
    public List<IndexEntry> index(boolean readyOnly) {
        List<IndexEntry> out = new ArrayList<>();
        for (String name : repository.names()) {
            NavigableMap<Long, ModelInstance> versions = loaded.get(name);
            if (versions != null) {
                for (ModelInstance m : versions.values()) out.add(new IndexEntry(name, Long.toString(m.version), "READY", null));
            } else if (!readyOnly) {
                out.add(new IndexEntry(name, null, "UNAVAILABLE", failedLoads.getOrDefault(name, "unloaded")));
            }
        }
        return out;
    }

    Map<String, Long> queueDepths() {
        Map<String, Long> m = new TreeMap<>();
        loaded.forEach((name, versions) -> m.put(name, versions.values().stream().mapToLong(ModelInstance::queueDepth).sum()));
        return m;
    }

    /**
     * Graceful shutdown: refuses new requests (503), lets every model answer what it admitted, waits at most
     * {@code grace} for that, then closes the sessions.
     */
    public void shutdown(Duration grace) {
        accepting = false;
        List<ModelInstance> all = new ArrayList<>();
        synchronized (loadLock) {
            loaded.values().forEach(v -> all.addAll(v.values()));
            loaded.clear();
        }
        all.forEach(ModelInstance::drain);
        long deadline = System.nanoTime() + grace.toNanos();
        for (ModelInstance m : all) {
            try {
                m.awaitClosed(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override public void close() { shutdown(Duration.ofSeconds(30)); }
}
