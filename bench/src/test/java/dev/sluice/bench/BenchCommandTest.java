package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import dev.sluice.runtime.cli.Args;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bench end to end on one-node models: the report lines and files, and a failure that is not hidden. */
class BenchCommandTest {
    @TempDir Path tmp;

    private static OnnxMl.ValueInfoProto value(String name, long... dims) {
        OnnxMl.TensorShapeProto.Builder s = OnnxMl.TensorShapeProto.newBuilder();
        for (long d : dims) s.addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
            .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))).build();
    }

    private Path oneNodeModel(String file, String domain, String op) throws Exception {
        OnnxMl.GraphProto g = OnnxMl.GraphProto.newBuilder().setName("g")
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType(op).setDomain(domain).addInput("x").addOutput("y"))
            .addInput(value("x", 2, 3, 3)).addOutput(value("y", 2)).build();
        OnnxMl.ModelProto.Builder m = OnnxMl.ModelProto.newBuilder().setIrVersion(8).setGraph(g)
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17));
        if (!domain.isEmpty()) m.addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain(domain).setVersion(1));
        Path p = tmp.resolve(file);
        Files.write(p, m.build().toByteArray());
        return p;
    }

    private int bench(ByteArrayOutputStream buf, String... argv) throws Exception {
        BenchCommand c = new BenchCommand();
        return c.run(Args.parse(List.of(argv), c.valueOptions(), c.flags(), c.name()), new PrintStream(buf, true));
    }

    @Test void reportsBothEnginesAndWritesTheTableAndChart() throws Exception {
        Path model = oneNodeModel("det.onnx", "", "Det");
        Path out = tmp.resolve("out");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = bench(buf, model.toString(), "--runs", "3", "--warmup", "1", "--warmup-time", "0", "--warmup-max", "0", "--threads", "1", "--no-memory", "--out", out.toString());
        String text = buf.toString();
        assertEquals(0, rc, text);
        assertTrue(text.matches("(?s).*bench: det\\.onnx sluice_ms=[0-9.]+ ort_ms=[0-9.]+ ratio=[0-9.]+\n.*"), text);
        assertTrue(!text.contains("WARNING"), text);
        String[] lines = text.strip().split("\n");
        assertTrue(lines[lines.length - 1].matches("geomean ratio [0-9.]+"), text);
        assertTrue(Files.readString(out.resolve("results.md")).contains("| det.onnx | seeded random, seed 42 |"));
        assertTrue(Files.size(out.resolve("results.png")) > 0);
    }

    @Test void anEngineFailureIsReportedAndFailsTheRun() throws Exception {
        Path model = oneNodeModel("nope.onnx", "com.example", "Nope");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = bench(buf, model.toString(), "--runs", "1", "--warmup", "0", "--warmup-time", "0", "--warmup-max", "0", "--no-memory", "--out", tmp.resolve("o2").toString());
        String text = buf.toString();
        assertEquals(1, rc, text);
        assertTrue(text.contains("bench: nope.onnx sluice_ms=FAILED"), text);
        assertTrue(text.contains("Sluice failed:") && text.contains("Nope"), text);
        assertTrue(text.strip().endsWith("geomean ratio n/a (no model ran on both engines)"), text);
    }

    @Test void ordersTheModelsAndSetsEachOneAloneBesideItsMixedRatio() throws Exception {
        Path det = oneNodeModel("det.onnx", "", "Det");
        Path relu = oneNodeModel("relu.onnx", "", "Relu");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = bench(buf, det.toString(), relu.toString(), "--order", "reversed", "--alone", "--runs", "2", "--warmup", "1",
            "--warmup-time", "0", "--warmup-max", "0", "--threads", "1", "--no-memory", "--out", tmp.resolve("o3").toString());
        String text = buf.toString();
        assertEquals(0, rc, text);
        assertTrue(text.contains("bench: order reversed: " + relu + ", " + det), text);
        assertTrue(text.indexOf("bench: relu.onnx sluice_ms") < text.indexOf("bench: det.onnx sluice_ms"), text);
        // each model measured again in its own JVM, and set beside its mixed figures with its place in the run
        assertTrue(text.matches("(?s).*alone: relu\\.onnx ratio_alone=[0-9.]+ ratio_mixed=[0-9.]+ mixed/alone=[0-9.]+ position=1/2 .*"), text);
        assertTrue(text.matches("(?s).*alone: det\\.onnx ratio_alone=[0-9.]+ ratio_mixed=[0-9.]+ mixed/alone=[0-9.]+ position=2/2 .*"), text);
        assertTrue(text.matches("(?s).*alone: worst mixed/alone [0-9.]+ \\((det|relu)\\.onnx\\) in order reversed\n.*"), text);
        String[] lines = text.strip().split("\n");
        assertTrue(lines[lines.length - 1].matches("geomean ratio [0-9.]+"), text);
    }

    @Test void aBadOrderIsRefusedByName() throws Exception {
        Path det = oneNodeModel("det.onnx", "", "Det");
        var e = org.junit.jupiter.api.Assertions.assertThrows(dev.sluice.kernels.SluiceException.class,
            () -> bench(new ByteArrayOutputStream(), det.toString(), "--order", "sideways", "--no-memory", "--out", tmp.resolve("o4").toString()));
        assertTrue(e.getMessage().contains("--order") && e.getMessage().contains("sideways"), e.getMessage());
    }
}
