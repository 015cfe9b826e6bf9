package dev.sluice.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import dev.sluice.graph.Model;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.graph.TensorProtos;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import dev.sluice.runtime.zoo.Zoo;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded fuzzing of everything a user hands Sluice: byte flips and truncations of every zoo model, semantic
 * damage to a small one (absurd dims and attributes, clobbered names, opsets), malformed tensor files, absurd
 * command-line options and hostile external-data paths. Each case must end in success or a
 * {@link SluiceException} with a message (through the command line: status 0 or 1 with a message, never 3)
 * within a time bound, and never in another exception, an {@link OutOfMemoryError} or a hang. The seeds are
 * fixed, so a failure names a case that reproduces; every failure of a test is collected before it fails.
 */
class BadInputFuzzTest {
    private static final long SEED = 15;
    /** Far above what any case takes on a quiet machine (well under a second): a case that reaches it hangs. */
    private static final long CASE_LIMIT_SECONDS = 60;
    /** Zoo models small and fast enough to also run, on their sample inputs, after each mutation. */
    private static final Set<String> RUN_AFTER_MUTATION = Set.of("ppocr-cls", "silero-vad");

    @TempDir Path tmp;
    private final List<String> failures = new ArrayList<>();
    private int succeeded, refused;
    private ExecutorService worker = newWorker();

    private static ExecutorService newWorker() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz-case");
            t.setDaemon(true); // a hung case must not keep the test JVM alive
            return t;
        });
    }

    @AfterEach
    void stopWorker() { worker.shutdownNow(); }

    interface Case { void run() throws Exception; }

    /** Runs one case on the worker thread, recording anything but success or a named SluiceException. */
    private void check(String label, Case c) {
        Future<?> f = worker.submit(() -> {
            c.run();
            return null;
        });
        try {
            f.get(CASE_LIMIT_SECONDS, TimeUnit.SECONDS);
            succeeded++;
        } catch (TimeoutException e) {
            f.cancel(true);
            worker.shutdownNow();
            worker = newWorker();
            failures.add(label + ": still running after " + CASE_LIMIT_SECONDS + " s");
        } catch (ExecutionException e) {
            Throwable t = e.getCause();
            if (!(t instanceof SluiceException) || t.getMessage() == null || t.getMessage().isBlank()) {
                failures.add(label + ": " + t);
            } else {
                refused++;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failures.add(label + ": interrupted");
        }
    }

    private void assertNoFailures() {
        System.out.printf("fuzz: %d cases, %d succeeded, %d refused with a named error, %d failed%n",
            succeeded + refused + failures.size(), succeeded, refused, failures.size());
        assertTrue(failures.isEmpty(), failures.size() + " case(s) did not end in success or a named error:\n  "
            + String.join("\n  ", failures));
    }

    private static void openAndMaybeRun(Model m, Map<String, Tensor> inputs) {
        try (Session s = Session.open(m, SessionOptions.builder().threads(1).build())) {
            if (inputs != null) s.run(inputs);
        }
    }

    // --- byte flips and truncations of every zoo model ---

    @Test
    void damagedZooModelsEndInSuccessOrANamedError() throws Exception {
        int models = 0;
        for (Zoo.Model zm : Zoo.models()) {
            Path file;
            try {
                file = zm.path();
            } catch (SluiceException e) {
                continue; // not fetchable here; the others still run
            }
            models++;
            byte[] original = Files.readAllBytes(file);
            SplittableRandom r = new SplittableRandom(SEED * 31 + zm.name().hashCode());
            // A big model costs a second a case (parse, fold, pack 90 MB): fewer cases, same kinds.
            int cases = original.length > (32 << 20) ? 4 : 9;
            boolean run = RUN_AFTER_MUTATION.contains(zm.name());
            for (int c = 0; c < cases; c++) {
                byte[] damaged;
                String what;
                if (c % 3 == 0) {
                    int len = r.nextInt(original.length);
                    damaged = java.util.Arrays.copyOf(original, len);
                    what = "truncated to " + len + " bytes";
                } else {
                    damaged = original.clone();
                    StringBuilder at = new StringBuilder();
                    int flips = 1 + r.nextInt(4);
                    for (int k = 0; k < flips; k++) {
                        int pos = flipPosition(r, damaged.length);
                        damaged[pos] ^= (byte) (1 + r.nextInt(255));
                        at.append(k == 0 ? "" : ",").append(pos);
                    }
                    what = "bytes flipped at " + at;
                }
                check(zm.name() + " " + what, () -> {
                    Model m = OnnxImporter.load(damaged, zm.fileName(), tmp);
                    openAndMaybeRun(m, run ? zm.sampleInputs(1) : null);
                });
            }
        }
        assertTrue(models > 0, "no zoo model could be fetched into " + Zoo.cacheDir());
        assertNoFailures();
    }

    /**
     * Nodes come first in a serialized graph and inputs, outputs and opsets last; the weights in between are most
     * of the bytes. Aim most flips at the two ends, where they change structure rather than a weight's value.
     */
    private static int flipPosition(SplittableRandom r, int length) {
        return switch (r.nextInt(3)) {
            case 0 -> r.nextInt(Math.min(length, 64 << 10));
            case 1 -> length - 1 - r.nextInt(Math.min(length, 8 << 10));
            default -> r.nextInt(length);
        };
    }

    // --- semantic damage: absurd dims and attributes, clobbered names, opsets ---

    @Test
    void semanticallyDamagedModelsEndInSuccessOrANamedError() throws Exception {
        Zoo.Model zm = Zoo.find("ppocr-cls");
        OnnxMl.ModelProto original = OnnxMl.ModelProto.parseFrom(Files.readAllBytes(zm.path()));
        Map<String, Tensor> inputs = zm.sampleInputs(1);
        SplittableRandom r = new SplittableRandom(SEED);
        long[] absurd = {0, -1, -7, 1L << 31, 1L << 40, 1L << 62, Long.MAX_VALUE, Long.MIN_VALUE};
        for (int c = 0; c < 40; c++) {
            OnnxMl.ModelProto.Builder mb = original.toBuilder();
            OnnxMl.GraphProto.Builder g = mb.getGraphBuilder();
            String what;
            switch (c % 6) {
                case 0 -> { // a weight claims other dims than its data has
                    var t = aWeight(g, r);
                    if (t.getDimsCount() == 0) t.addDims(2);
                    int d = r.nextInt(t.getDimsCount());
                    long v = absurd[r.nextInt(absurd.length)];
                    t.setDims(d, v);
                    what = "weight '" + t.getName() + "' dim " + d + " = " + v;
                }
                case 1 -> { // a node attribute gets an absurd integer
                    int n = r.nextInt(g.getNodeCount());
                    var node = g.getNodeBuilder(n);
                    long v = absurd[r.nextInt(absurd.length)];
                    if (node.getAttributeCount() == 0) {
                        node.addAttribute(OnnxMl.AttributeProto.newBuilder().setName("axis").setType(OnnxMl.AttributeProto.AttributeType.INT).setI(v));
                    } else {
                        var a = node.getAttributeBuilder(r.nextInt(node.getAttributeCount()));
                        if (a.getIntsCount() > 0) a.setInts(r.nextInt(a.getIntsCount()), v);
                        else a.setType(OnnxMl.AttributeProto.AttributeType.INT).setI(v);
                    }
                    what = "node " + node.getName() + " (" + node.getOpType() + ") attribute = " + v;
                }
                case 2 -> { // a node reads or writes the wrong name
                    int n = r.nextInt(g.getNodeCount());
                    var node = g.getNodeBuilder(n);
                    String other = g.getNode(r.nextInt(g.getNodeCount())).getOutput(0);
                    if (r.nextBoolean() && node.getInputCount() > 0) node.setInput(r.nextInt(node.getInputCount()), r.nextBoolean() ? other : "ghost");
                    else node.setOutput(0, r.nextBoolean() ? other : g.getInput(0).getName());
                    what = "node " + node.getName() + " rewired to '" + other + "'";
                }
                case 3 -> { // a declared input or output shape becomes absurd
                    var vi = r.nextBoolean() ? g.getInputBuilder(0) : g.getOutputBuilder(0);
                    var shape = vi.getTypeBuilder().getTensorTypeBuilder().getShapeBuilder();
                    long v = absurd[r.nextInt(absurd.length)];
                    int d = r.nextInt(shape.getDimCount());
                    shape.getDimBuilder(d).setDimValue(v);
                    what = "value '" + vi.getName() + "' dim " + d + " = " + v;
                }
                case 4 -> { // the opset
                    long v = new long[] {0, -5, OnnxImporter.MAX_OPSET + 1, 100000, 1L << 40}[r.nextInt(5)];
                    mb.getOpsetImportBuilder(0).setVersion(v);
                    what = "opset " + v;
                }
                default -> { // a weight's data type or data replaced
                    var t = aWeight(g, r);
                    if (r.nextBoolean()) t.setDataType(new int[] {0, 8, 14, 16, 23, 99, -1}[r.nextInt(7)]);
                    else t.setRawData(ByteString.copyFrom(new byte[r.nextInt(16)]));
                    what = "weight '" + t.getName() + "' type " + t.getDataType() + ", " + t.getRawData().size() + " raw bytes";
                }
            }
            byte[] bytes = mb.build().toByteArray();
            check("ppocr-cls case " + c + ": " + what, () -> openAndMaybeRun(OnnxImporter.load(bytes, "cls.onnx", tmp), inputs));
        }
        assertNoFailures();
    }

    /** A random weight: an initializer or the tensor of a Constant node (exporters use either). */
    private static OnnxMl.TensorProto.Builder aWeight(OnnxMl.GraphProto.Builder g, SplittableRandom r) {
        List<OnnxMl.TensorProto.Builder> all = new ArrayList<>(g.getInitializerBuilderList());
        for (var n : g.getNodeBuilderList()) {
            if (!n.getOpType().equals("Constant")) continue;
            for (var a : n.getAttributeBuilderList()) if (a.hasT()) all.add(a.getTBuilder());
        }
        return all.get(r.nextInt(all.size()));
    }

    // --- malformed tensor files ---

    @Test
    void malformedTensorFilesEndInATensorOrANamedError() throws Exception {
        Tensor sample = Zoo.find("ppocr-cls").sampleInputs(3).values().iterator().next();
        byte[] good = TensorProtos.toProto(sample, "x").toByteArray();
        SplittableRandom r = new SplittableRandom(SEED + 1);
        List<byte[]> cases = new ArrayList<>();
        for (int c = 0; c < 30; c++) {
            if (c % 2 == 0) {
                cases.add(java.util.Arrays.copyOf(good, r.nextInt(good.length)));
            } else {
                byte[] b = good.clone();
                // the header (name, type, dims) is in the first bytes; the data after it
                for (int k = 0; k < 3; k++) b[r.nextInt(Math.min(b.length, 32))] ^= (byte) (1 + r.nextInt(255));
                cases.add(b);
            }
        }
        long[][] dims = {{1L << 40}, {-1}, {1L << 32, 1L << 32, 4}, {3, 0, 5}, {Long.MAX_VALUE}, {1L << 62, 4}};
        for (long[] d : dims) {
            for (int type : new int[] {1, 7, 10, 0, 99}) {
                var t = OnnxMl.TensorProto.newBuilder().setName("x").setDataType(type).setRawData(ByteString.copyFrom(new byte[100]));
                for (long x : d) t.addDims(x);
                cases.add(t.build().toByteArray());
                var typed = OnnxMl.TensorProto.newBuilder().setName("x").setDataType(type).addFloatData(1).addInt64Data(2);
                for (long x : d) typed.addDims(x);
                cases.add(typed.build().toByteArray());
            }
        }
        cases.add(new byte[0]);
        cases.add("not a tensor at all".getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < cases.size(); i++) {
            Path f = Files.write(tmp.resolve("t" + i + ".pb"), cases.get(i));
            check("tensor file case " + i + " (" + cases.get(i).length + " bytes)", () -> TensorProtos.readNamed(f));
        }
        assertNoFailures();
    }

    // --- hostile external-data paths ---

    @Test
    void hostileExternalDataPathsAreNeverRead() throws Exception {
        Path outside = Files.write(tmp.resolve("secret.bin"), new byte[64]);
        Path dir = Files.createDirectories(tmp.resolve("model"));
        Files.createDirectories(dir.resolve("sub"));
        Files.createSymbolicLink(dir.resolve("link_out"), outside);
        Files.createSymbolicLink(dir.resolve("dir_out"), tmp);
        Files.createSymbolicLink(dir.resolve("loop"), dir.resolve("loop"));
        boolean fifo = new ProcessBuilder("mkfifo", dir.resolve("fifo").toString()).start().waitFor() == 0;
        List<String> locations = new ArrayList<>(List.of(outside.toString(), "/dev/zero", "/proc/self/mem", "../secret.bin",
            "sub/../../secret.bin", "../../../../../../../../etc/passwd", "link_out", "dir_out/secret.bin", "dir_out/model/../secret.bin",
            "loop", "sub", ".", "", "~/secret.bin", "a".repeat(300), "nul\0byte", "sub/" + "../".repeat(40) + "etc/passwd"));
        if (fifo) locations.add("fifo");
        for (String loc : locations) {
            var w = OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1).addDims(4)
                .setDataLocation(OnnxMl.TensorProto.DataLocation.EXTERNAL)
                .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue(loc));
            byte[] bytes = weightModel(w);
            // these locations all lead out of the folder or to nothing readable: loading must refuse, never succeed
            check("external data at '" + loc + "'", () -> {
                OnnxImporter.load(bytes, "model.onnx", dir);
                throw new AssertionError("loaded external data from '" + loc + "'");
            });
        }
        Files.write(dir.resolve("w.bin"), new byte[16]);
        for (String[] kv : new String[][] {{"offset", "-1"}, {"offset", "9223372036854775807"}, {"offset", "1e3"}, {"offset", ""},
            {"length", "-16"}, {"length", "99999999999999999999"}, {"offset", "17"}, {"length", "15"}}) {
            var w = OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1).addDims(4)
                .setDataLocation(OnnxMl.TensorProto.DataLocation.EXTERNAL)
                .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue("w.bin"))
                .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey(kv[0]).setValue(kv[1]));
            byte[] bytes = weightModel(w);
            check("external data " + kv[0] + " '" + kv[1] + "'", () -> {
                OnnxImporter.load(bytes, "model.onnx", dir);
                throw new AssertionError("accepted external data " + kv[0] + " '" + kv[1] + "'");
            });
        }
        assertNoFailures();
    }

    private static byte[] weightModel(OnnxMl.TensorProto.Builder w) {
        var vi = OnnxMl.ValueInfoProto.newBuilder().setName("x").setType(OnnxMl.TypeProto.newBuilder().setTensorType(
            OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1).setShape(OnnxMl.TensorShapeProto.newBuilder()
                .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(4)))));
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(vi).addOutput(vi.clone().setName("y")).addInitializer(w)
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Add").addInput("x").addInput("w").addOutput("y"));
        return OnnxMl.ModelProto.newBuilder().setIrVersion(8).addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13))
            .setGraph(g).build().toByteArray();
    }

    // --- absurd options through the command line ---

    @Test
    void absurdOptionsAreUserErrorsNotCrashes() throws Exception {
        Path m = new OnnxModelBuilder(13).input("x", 1, 2, 3).output("y", 1, 2, 3)
            .node("Relu", List.of("x"), List.of("y")).write(tmp.resolve("relu.onnx"));
        Path aFile = Files.writeString(tmp.resolve("plain.txt"), "x");
        String[][] options = {
            {"--threads", "0"}, {"--threads", "-1"}, {"--threads", "2147483648"}, {"--threads", "many"}, {"--threads", ""},
            {"--seed", "x"}, {"--runs", "0", "--profile"}, {"--runs", "-3", "--profile"}, {"--profile-nodes", "-1", "--profile"},
            {"--dim", "="}, {"--dim", "n"}, {"--dim", "n=1e3"}, {"--dim", "=4"}, {"--dim", "n=99999999999999999999"},
            {"--input", "="}, {"--input", "x="}, {"--input", "x"}, {"--input", "x=" + tmp}, {"--input", "x=" + aFile},
            {"--input", "x=/dev/null"}, {"--input", "q=" + aFile},
            {"--budget", "NaN%"}, {"--budget", "0%"}, {"--budget", "101%"}, {"--budget", "-1"}, {"--budget", "Infinity"},
            {"--budget", "1e400"}, {"--budget", "%"}, {"--budget", ""}, {"--budget", "1e18"}, {"--budget", "9223372036854775807"},
            {"--bandwidth", "NaN"}, {"--bandwidth", "0"}, {"--bandwidth", "-Infinity"}, {"--order", "random"},
            {"--device", "gpu9"}, {"--device", "cpu", "--budget", "50%"}, {"--trace", ""}, {"--trace", tmp.toString()},
            {"--trace", aFile + "/t.json"}, {"--output-dir", aFile.toString()}, {"--output-dir", ""}, {"--threads"},
        };
        List<List<String>> commands = new ArrayList<>();
        for (String[] o : options) {
            List<String> argv = new ArrayList<>(List.of("run", m.toString()));
            argv.addAll(List.of(o));
            commands.add(argv);
        }
        // the other commands' options, and model paths that are not model files
        Path fifo = tmp.resolve("fifo.onnx");
        boolean haveFifo = new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0;
        for (String[] o : new String[][] {{"--threads", "0"}, {"--top", "-1"}, {"--picture", ""}, {"--picture", tmp.toString()},
            {"--picture", aFile + "/p.png"}, {"--dim", "n=-1"}, {"--input", "x=" + aFile}}) {
            List<String> argv = new ArrayList<>(List.of("plan", m.toString()));
            argv.addAll(List.of(o));
            commands.add(argv);
        }
        for (String[] o : new String[][] {{"--threads", "-1"}, {"--budget", "NaN%"}, {"--trace", aFile + "/t.json"}}) {
            List<String> argv = new ArrayList<>(List.of("test-data", tmp.toString()));
            argv.addAll(List.of(o));
            commands.add(argv);
        }
        for (String path : new String[] {"/dev/null", "/dev/zero", tmp.toString(), aFile.toString(), "", "nul\0", haveFifo ? fifo.toString() : "/dev/null"}) {
            for (String cmd : new String[] {"info", "run", "plan", "test-data"}) commands.add(List.of(cmd, path));
        }
        for (List<String> argv : commands) {
            check(String.join(" ", argv), () -> {
                ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
                int status = new Main().execute(argv, new PrintStream(out, true, StandardCharsets.UTF_8),
                    new PrintStream(err, true, StandardCharsets.UTF_8));
                String e = err.toString(StandardCharsets.UTF_8);
                if (status != 0 && (status != 1 || e.isBlank() && out.size() == 0 || e.contains("internal error"))) {
                    throw new AssertionError("status " + status + ": " + e.strip());
                }
            });
        }
        assertNoFailures();
    }
}
