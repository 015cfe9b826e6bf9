package dev.sluice.runtime.serve;

import dev.sluice.kernels.SluiceException;
import dev.sluice.offload.HostMemory;
import dev.sluice.offload.swap.CopyLink;
import dev.sluice.offload.swap.EvictionPolicy;
import dev.sluice.offload.swap.ModelSwapper;
import dev.sluice.offload.swap.WeightStore;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/** {@code sluice serve}: the KServe v2 inference server over a model repository. */
public final class ServeCommand implements Command {
    @Override public String name() { return "serve"; }

    @Override public String summary() { return "serve a model repository over the KServe v2 protocol (REST and gRPC)"; }

    @Override public String help() {
        return """
            usage: sluice serve --model-repository DIR [--host H] [--port P] [--grpc-port P] [--device cpu|throttled]
                                [--device-budget BYTES|P%] [--bandwidth BYTES_PER_S] [--copy-lanes N] [--policy lru|demand]
                                [--workers N] [--max-body BYTES] [--max-tensor BYTES] [--no-overlap]
                                [--devices-count N]

            Serves DIR/<model>/<version>/model.onnx (optional DIR/<model>/config.json) over the KServe Open Inference
            Protocol v2: REST on --port (default 8000), gRPC inference.GRPCInferenceService on --grpc-port (default
            8001; -1 turns it off). Binds 127.0.0.1 unless --host says otherwise. --device throttled with
            --device-budget keeps every model's weights in host memory and swaps them onto the throttled device
            (CPU kernels, a capped weight budget, --bandwidth per link shared by --copy-lanes lanes) on demand,
            evicting by --policy (lru, or demand: the lowest decayed request rate first). P% is of all models'
            weights together. A cold model starts computing while its weights arrive, each node waiting for the
            weights it reads (--no-overlap: the whole swap first); a model larger than the whole budget streams its
            weights through it layer by layer. Ctrl-C shuts down gracefully (admitted requests
            are answered). --devices-count N shards every model's weights by layers over N throttled devices, each
            behind its own link, so a swap moves 1/N of them over each link at once (the budget is all devices'
            together); compute stays on the CPU kernels.""";
    }

    @Override public Set<String> flags() { return Set.of("no-overlap"); }

    @Override public Set<String> valueOptions() {
        return Set.of("model-repository", "host", "port", "grpc-port", "device", "device-budget", "bandwidth", "copy-lanes", "policy",
            "workers", "max-body", "max-tensor", "devices-count");
    }

    @Override public int run(Args a, PrintStream out) throws Exception {
        String dir = a.option("model-repository");
        if (dir == null) throw new SluiceException("--model-repository DIR is required");
        String host = a.option("host", "127.0.0.1");
        String device = a.option("device", "cpu");
        if (!device.equals("cpu") && !device.equals("throttled")) throw new SluiceException("--device must be cpu or throttled, got '" + device + "'");
        Limits d = Limits.defaults();
        Limits limits = new Limits(
            a.option("max-body") == null ? d.maxBodyBytes() : SessionOptions.parseBytes("--max-body", a.option("max-body")),
            d.maxHeaderBytes(),
            a.option("max-tensor") == null ? d.maxTensorBytes() : SessionOptions.parseBytes("--max-tensor", a.option("max-tensor")));
        ModelRepository repo = new ModelRepository(Path.of(dir));
        Metrics metrics = new Metrics();
        Residency residency = Residency.NONE;
        SwapResidency swap = null;
        String budgetText = a.option("device-budget");
        if (budgetText != null) {
            if (!device.equals("throttled")) throw new SluiceException("--device-budget needs --device throttled");
            long total = repositoryWeightBytes(repo);
            SessionOptions.Budget b = SessionOptions.Budget.parse("--device-budget", budgetText);
            long budget = b instanceof SessionOptions.Budget.Percent p ? Math.max(1, (long) (total * p.percent() / 100))
                : b instanceof SessionOptions.Budget.Bytes by ? by.bytes() : Long.MAX_VALUE;
            long bandwidth = a.option("bandwidth") == null ? 0 : SessionOptions.parseBytes("--bandwidth", a.option("bandwidth"));
            HostMemory hostMemory = HostMemory.system(msg -> out.println("serve: " + msg));
            WeightStore store = new WeightStore(hostMemory);
            EvictionPolicy policy;
            try {
                policy = EvictionPolicy.parse(a.option("policy", "demand"));
            } catch (IllegalArgumentException e) {
                throw new SluiceException("--policy: " + e.getMessage());
            }
            int devices = a.intOption("devices-count", 1);
            if (devices < 1 || devices > 64) throw new SluiceException("--devices-count must be in [1, 64], got " + devices);
            java.util.List<CopyLink> links = new java.util.ArrayList<>();
            for (int i = 0; i < devices; i++) links.add(new CopyLink(bandwidth));
            swap = new SwapResidency(store, new ModelSwapper(store, budget, policy, links, a.intOption("copy-lanes", 2)),
                !a.flag("no-overlap"));
            residency = swap;
            out.printf("serve: %d throttled device(s), weight budget %d bytes of %d (all models), a link of %s each, %d copy lanes per link, "
                + "policy %s; host memory: %s%n", devices, budget, total, bandwidth == 0 ? "unlimited" : bandwidth + " B/s",
                a.intOption("copy-lanes", 2), a.option("policy", "demand"), hostMemory.describe());
        }
        // Several devices: as many runs at once as devices, so that requests can be on different shards together.
        int defaultWorkers = swap == null ? 1 : swap.swapper().devices();
        Engine engine = new Engine(repo, new Engine.Options(device, a.intOption("workers", defaultWorkers), msg -> out.println("serve: " + msg)), metrics, residency);
        var loaded = engine.loadAll();
        out.println("serve: loaded " + loaded.size() + " model(s) from " + repo.root() + ": " + loaded);
        InferenceServer server = new InferenceServer(engine, host, a.intOption("port", 8000), a.intOption("grpc-port", 8001), limits, swap);
        out.println("serve: REST on http://" + host + ":" + server.port() + "/v2"
            + (server.grpcPort() >= 0 ? ", gRPC on " + host + ":" + server.grpcPort() : ""));
        out.flush();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }));
        stopped.await();
        return 0;
    }

    /** All models' weights together, every version (each opened once to count its initializers). */
    static long repositoryWeightBytes(ModelRepository repo) {
        long total = 0;
        for (String name : repo.names()) {
            try {
                for (ModelRepository.Version v : repo.read(name).versions().values()) {
                    try (Session s = Session.open(v.file(), SessionOptions.builder().threads(1).build())) {
                        total += SwapResidency.weightBytes(s);
                    }
                }
            } catch (SluiceException e) {
                // Reported when the engine tries to load it.
            }
        }
        return total;
    }
}
