package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.ModelCheck;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.WeightRelease;
import dev.sluice.runtime.cli.InputSources;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A constant 8-bit weight that only sluice.DynamicQuantMatMul reads is held once: after the first run its packed
 * panels are the only resident copy (the importer's pages are handed back), the outputs are those of a session that
 * keeps both copies bit for bit, and handing the model out writes the original bytes back. A weight that another node
 * also reads (a Gather) is kept.
 */
class PackedWeightReleaseTest {
    @TempDir Path tmp;

    private static final int K = 256, N = 384;

    /** x [1, 3, K] -> DynamicQuantizeLinear -> MatMulInteger by w (K x N, type {@code wType}) -> Cast -> Mul: fuses into one node. */
    private Path model(int wType, boolean alsoOutputCast) throws Exception {
        SplittableRandom r = new SplittableRandom(7);
        int[] w = new int[K * N];
        for (int i = 0; i < w.length; i++) w[i] = wType == 2 ? r.nextInt(256) : r.nextInt(256) - 128;
        OnnxModelBuilder b = new OnnxModelBuilder(11)
            .input("x", 1, 1, 3, K).output("y", 1, 1, 3, N)
            .byteInit("w", wType, new long[] {K, N}, w).byteInit("wzp", wType, new long[0], wType == 2 ? 131 : 3)
            .floatInit("ws", new long[0], 0.004f)
            .node("DynamicQuantizeLinear", List.of("x"), List.of("xq", "xs", "xz"))
            .node("Mul", List.of("xs", "ws"), List.of("s"))
            .node("MatMulInteger", List.of("xq", "w", "xz", "wzp"), List.of("acc"))
            .node("Cast", List.of("acc"), List.of("accf"), OnnxModelBuilder.intAttr("to", 1))
            .node("Mul", List.of("accf", "s"), List.of("y"));
        if (alsoOutputCast) {
            // a Gather by indices only known at run time reads the weight itself (a Cast of it would be folded at open)
            b.input("rows", 7, 2).output("wr", wType, 2, N).node("Gather", List.of("w", "rows"), List.of("wr"));
        }
        return b.write(tmp.resolve("dq" + wType + alsoOutputCast + ".onnx"));
    }

    private static Map<String, Tensor> inputs() {
        return Map.of("x", InputSources.random(DType.FLOAT32, Shape.of(1, 3, K), new SplittableRandom(4)));
    }

    @Test
    void aWeightOnlyPackedIsHeldOnceAndComesBackWhole() throws Exception {
        for (int wType : new int[] {3, 2}) {
            Path file = model(wType, false);
            Map<String, Tensor> in = inputs();
            // the reference keeps both copies: a session on a model imported by the caller never releases
            try (Session ref = Session.open(OnnxImporter.load(file), 2); Session s = Session.open(file, 2)) {
                assertEquals(Map.of("sluice:DynamicQuantMatMul", 1), ModelCheck.opHistogram(s.modelInPlace()));
                Tensor w = s.modelInPlace().graph().initializers().get("w");
                assertTrue(WeightRelease.residentBytes(w.data()) > 0, "the imported weight is resident before the first run");
                List<Tensor> ours = new ArrayList<>();
                for (int run = 0; run < 2; run++) ours.add(s.run(in).asMap().get("y"));
                assertEquals(0, WeightRelease.residentBytes(w.data()), "type " + wType + ": the importer's copy is still resident beside the packed one");
                assertTrue(WeightRelease.isReleased(w));
                Tensor expected = ref.run(in).asMap().get("y");
                for (Tensor y : ours) assertEquals(-1, y.data().mismatch(expected.data()), "type " + wType + ": outputs differ from the session holding both copies");
                // handing the model out writes the weight back: the file's bytes
                Tensor back = s.model().graph().initializers().get("w");
                assertFalse(WeightRelease.isReleased(back));
                Tensor original = OnnxImporter.load(file).graph().initializers().get("w");
                assertEquals(-1, back.data().mismatch(original.data()), "type " + wType + ": the restored weight differs from the file's");
                assertEquals(-1, s.run(in).asMap().get("y").data().mismatch(expected.data()));
            }
        }
    }

    @Test
    void aWeightAnotherNodeReadsIsKept() throws Exception {
        Path file = model(3, true);
        Map<String, Tensor> in = new java.util.HashMap<>(inputs());
        Tensor rows = Tensor.allocate(DType.INT64, Shape.of(2));
        rows.setLong(0, 5);
        rows.setLong(1, K - 1);
        in.put("rows", rows);
        try (Session ref = Session.open(OnnxImporter.load(file), 2); Session s = Session.open(file, 2)) {
            Tensor w = s.modelInPlace().graph().initializers().get("w");
            Map<String, Tensor> a = s.run(in).asMap(), b = s.run(in).asMap(), e = ref.run(in).asMap();
            assertFalse(WeightRelease.isReleased(w));
            assertTrue(WeightRelease.residentBytes(w.data()) > 0);
            for (String o : List.of("y", "wr")) {
                assertEquals(-1, a.get(o).data().mismatch(e.get(o).data()), o);
                assertEquals(-1, b.get(o).data().mismatch(e.get(o).data()), o);
            }
        }
    }
}
