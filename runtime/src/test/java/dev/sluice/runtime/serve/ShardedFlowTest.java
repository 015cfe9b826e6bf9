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
 * the bits of the plain (unsharded) session, overlapped and swap-then-compute. Two copies share room for one, so
 * every request is cold; a model's first request of its input shapes (which plans its memory) runs unobserved.
 */
class ShardedFlowTest {
    @TempDir Path repo;

    @ParameterizedTest(name = "{0} devices, overlapped {1}")
    @CsvSource({"2, true", "4, true", "4, false"})
    void requestsFlowThroughTheShardsWithThePlainSessionsBits(int devices, boolean overlap) throws Exception {
        Zoo.Model zm = Zoo.OCR_REC;
        for (String m : List.of("a", "b")) Files.copy(zm.path(), Files.createDirectories(repo.resolve(m).resolve("1")).resolve("model.onnx"));
        Map<String, Tensor> sample = zm.sampleInputs(7);
        Map<String, byte[]> want = new java.util.LinkedHashMap<>();
        long total = 0, largest = 0;
        Map<String, Long> weightBytes = new java.util.HashMap<>();
        try (Session plain = Session.open(zm.path())) { // the reference: the same model, unsharded
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
        // Room for one copy's weights, not two: every request is cold.
        ModelSwapper sw = new ModelSwapper(store, total + total / 2, new EvictionPolicy.Lru(), links, 2);
        try (SwapResidency res = new SwapResidency(store, sw, overlap);
             Engine e = new Engine(new ModelRepository(repo), new Engine.Options("throttled", devices, m -> {}), new Metrics(), res)) {
            e.load("a");
            e.load("b");
            String[] order = {"a", "b", "a", "b"};
            for (int run = 0; run < order.length; run++) {
                long done = res.pipeline().runsDone();
                InferResponse r = e.infer(request(order[run], sample)).result().get(120, TimeUnit.SECONDS);
                // The answer completes just before the run's lease (and its flow) closes: wait, bounded, for that.
                for (int i = 0; i < 1000 && res.pipeline().runsDone() == done; i++) Thread.sleep(10);
                assertEquals(want.size(), r.outputs().size());
                for (InferTensor t : r.outputs()) assertArrayEquals(want.get(t.name()), t.data(), "output " + t.name() + ", run " + run);
                // A model's first run of these shapes profiles and plans its memory, unobserved; the later ones, cold each
                // time, go through the devices.
                if (run < 2) continue;

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
            // The weights crossed every device's own link: 1/N of them each, at every one of the 4 (cold) requests.
            // (The last copy may finish just after its answer: weights arrive before the nodes reading them, not before the lanes end.)
            for (int i = 0; i < 500 && sw.stats().swaps() < 4; i++) Thread.sleep(10);
            assertEquals(4, sw.stats().swaps());
            long[] lanes = sw.stats().bytesPerLane();
            for (int d = 0; d < devices; d++) {
                long moved = 0;
                for (int l = 0; l < sw.lanes(); l++) moved += lanes[d * sw.lanes() + l];
                assertTrue(Math.abs(moved - 4 * (total / devices)) <= 4 * ((1L << 20) + 64L * weightBytes.size()),
                    "device " + d + "'s link moved " + moved + " bytes in 4 swaps of " + total);
            }
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
