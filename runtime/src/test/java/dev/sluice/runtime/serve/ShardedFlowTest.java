package dev.sluice.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Tensor;
import dev.sluice.offload.HostMemory;
import dev.sluice.offload.swap.CopyLink;
import dev.sluice.offload.swap.EvictionPolicy;
import dev.sluice.offload.swap.ModelSwapper;
import dev.sluice.offload.swap.WeightStore;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.zoo.Zoo;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Requests for a sharded zoo model (PP-OCRv3 rec) flow through N throttled devices: each device runs the layers
 * whose weights its shard holds, in device order, activations cross into every later device, and the answers carry
 * the bits of the plain (unsharded) session, cold and warm, overlapped and swap-then-compute.
 */
class ShardedFlowTest {
    @TempDir Path repo;

    @ParameterizedTest(name = "{0} devices, overlapped {1}")
    @CsvSource({"2, true", "4, true", "4, false"})
    void requestsFlowThroughTheShardsWithThePlainSessionsBits(int devices, boolean overlap) throws Exception {
        Zoo.Model zm = Zoo.OCR_REC;
        Path dir = Files.createDirectories(repo.resolve("rec").resolve("1"));
        Files.copy(zm.path(), dir.resolve("model.onnx"));
        Map<String, Tensor> sample = zm.sampleInputs(7);
        Map<String, byte[]> want = new java.util.LinkedHashMap<>();
        long total = 0, largest = 0;
        Map<String, Long> weightBytes = new java.util.HashMap<>();
        try (Session plain = Session.open(zm.path())) {
            var out = plain.run(sample);
            for (var v : plain.outputs()) want.put(v.name(), bytes(out.get(v.name())));
            for (var e : plain.graph().initializers().entrySet()) {
                weightBytes.put(e.getKey(), e.getValue().byteSize());
                total += e.getValue().byteSize();
                largest = Math.max(largest, e.getValue().byteSize());
            }
        }
        List<CopyLink> links = new ArrayList<>();
        for (int i = 0; i < devices; i++) links.add(new CopyLink(400_000_000L));
        WeightStore store = new WeightStore(HostMemory.pageable());
        ModelSwapper sw = new ModelSwapper(store, 2 * total + (1 << 22), new EvictionPolicy.Lru(), links, 2);
        try (SwapResidency res = new SwapResidency(store, sw, overlap);
             Engine e = new Engine(new ModelRepository(repo), new Engine.Options("throttled", devices, m -> {}), new Metrics(), res)) {
            e.load("rec");
            for (int run = 0; run < 2; run++) { // cold (the weights swap in), then warm
                long done = res.pipeline().runsDone();
                InferResponse r = e.infer(request("rec", sample)).result().get(120, TimeUnit.SECONDS);
                // The answer completes just before the run's lease (and its flow) closes: wait, bounded, for that.
                for (int i = 0; i < 1000 && res.pipeline().runsDone() == done; i++) Thread.sleep(10);
                assertEquals(want.size(), r.outputs().size());
                for (InferTensor t : r.outputs()) assertArrayEquals(want.get(t.name()), t.data(), "output " + t.name() + ", run " + run);

                // The run went device by device, never back, through every device.
                List<ShardPipeline.Step> steps = res.pipeline().lastRun();
                assertTrue(steps.size() > 10, "steps seen: " + steps.size());
                for (int i = 1; i < steps.size(); i++) assertTrue(steps.get(i).device() >= steps.get(i - 1).device(), "step " + i + " went back");
                // Each device ran the layers of about its shard of the weights: 1/N of them, give or take the weight that
                // straddles each boundary and a copy chunk.
                long[] perDevice = new long[devices];
                Set<String> seen = new HashSet<>();
                for (ShardPipeline.Step s : steps) {
                    for (String in : s.node().inputs()) {
                        Long b = weightBytes.get(in);
                        if (b != null && seen.add(in)) perDevice[s.device()] += b;
                    }
                }
                long share = total / devices, slack = largest + (2L << 20);
                for (int d = 0; d < devices; d++) {
                    assertTrue(Math.abs(perDevice[d] - share) <= slack,
                        "device " + d + " ran layers with " + perDevice[d] + " bytes of weights; its share is " + share + " +- " + slack);
                }
            }
            ShardPipeline.Stats st = res.pipelineStats();
            for (int d = 0; d < devices; d++) {
                assertTrue(st.nodesRun()[d] > 0, "device " + d + " ran no node");
                if (d > 0) assertTrue(st.activationBytesIn()[d] > 0, "no activation reached device " + d);
            }
            assertEquals(0, st.activationBytesIn()[0], "nothing flows back to device 0");
            // The weights crossed every device's own link: 1/N of them each, once (the second run was warm).
            long[] lanes = sw.stats().bytesPerLane();
            for (int d = 0; d < devices; d++) {
                long moved = 0;
                for (int l = 0; l < sw.lanes(); l++) moved += lanes[d * sw.lanes() + l];
                assertTrue(Math.abs(moved - total / devices) <= (1L << 20) + 64L * weightBytes.size(),
                    "device " + d + "'s link moved " + moved + " bytes of " + total);
            }
            assertEquals(1, sw.stats().swaps());
        }
    }

    static byte[] bytes(Tensor t) {
        byte[] b = new byte[(int) t.byteSize()];
        MemorySegment.copy(t.data(), ValueLayout.JAVA_BYTE, 0, b, 0, b.length);
        return b;
    }

    static InferRequest request(String model, Map<String, Tensor> inputs) {
        List<InferTensor> ts = new ArrayList<>();
        for (var x : inputs.entrySet()) {
            Tensor t = x.getValue();
            ts.add(new InferTensor(x.getKey(), Datatype.of(t.dtype()), t.shape().dims(), bytes(t), Map.of()));
        }
        return new InferRequest(model, null, null, ts, List.of(), Map.of());
    }
}
