package dev.sluice.runtime.cli;

import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.graph.Model;
import dev.sluice.graph.Value;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.testdata.TestDataRunner;
import dev.sluice.runtime.zoo.Zoo;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code profile} and {@code place} start from: a model (file, test-data folder or zoo name), its inputs (the
 * folder's first data set, the zoo's samples, or seeded random), the plain session that specialised it, and the
 * model with static shapes for those inputs (If nodes inlined for the branch they take).
 */
record PlacedModel(Path file, Session session, Map<String, Tensor> inputs, Model staticModel) implements AutoCloseable {
    static PlacedModel open(Args args, int threads, PrintStream out) {
        List<String> models = models(args);
        if (models.size() != 1) throw new SluiceException("give one MODEL file, test-data folder or zoo model name, got " + models);
        String name = models.get(0);
        Path arg = Path.of(name);
        Path file = Files.isDirectory(arg) ? arg.resolve("model.onnx") : arg;
        Zoo.Model zoo = Files.isRegularFile(file) ? Zoo.byFileName(file) : null;
        if (!Files.exists(arg)) {
            try {
                zoo = Zoo.find(name);
                file = zoo.path();
            } catch (SluiceException e) {
                throw new SluiceException(arg + ": no such model file, test-data folder or zoo model");
            }
        }
        if (!Files.isRegularFile(file)) throw new SluiceException(file + ": no such file");
        SessionOptions so = SessionOptions.builder().threads(threads).memoryPlanning(false).build();
        // TornadoVM's kernels know the standard ops only: placing on tornadovm, both devices run a graph fused into them
        Session s = onTornado(args) ? SessionInternals.open(dev.sluice.graph.OnnxImporter.load(file), so,
                dev.sluice.kernels.OpRegistry.cpu(so.kernels()), dev.sluice.graph.fusion.PatternFusion.Target.STANDARD_OPS)
            : Session.open(file, so);
        try {
            long seed = args.intOption("seed", 42);
            Map<String, Tensor> inputs = new LinkedHashMap<>();
            if (Files.isDirectory(arg)) {
                List<Path> sets = TestDataRunner.dataSets(arg);
                if (!sets.isEmpty()) inputs.putAll(TestDataRunner.readInputs(sets.get(0), s.inputs()));
            }
            if (zoo != null && inputs.isEmpty() && args.all("input").isEmpty()) inputs.putAll(zoo.sampleInputs(seed));
            List<Value> rest = new ArrayList<>();
            for (Value v : s.inputs()) if (!inputs.containsKey(v.name())) rest.add(v);
            inputs.putAll(InputSources.build(rest, args.all("input"), args.all("dim"), seed, out));
            Model m = MeasuredShapes.of(SessionInternals.executorFor(s, inputs), inputs);
            return new PlacedModel(file, s, inputs, m);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** Whether {@code --devices} names TornadoVM's device. */
    static boolean onTornado(Args args) {
        String d = args.option("devices");
        return d != null && Arrays.stream(d.split(",")).anyMatch(x -> x.trim().equals("tornadovm") || x.trim().startsWith("tornadovm:"));
    }

    /**
     * Null when {@code got} agrees with {@code want} within the project's tolerance (the ONNX conformance one), else
     * the first output that does not: for placements whose devices run different kernels (cpu + tornadovm).
     */
    static String outsideTolerance(Map<String, Tensor> want, Map<String, Tensor> got) {
        for (var e : want.entrySet()) {
            Tensor g = got.get(e.getKey());
            if (g == null) return e.getKey() + " is missing";
            String m = dev.sluice.runtime.testdata.Tolerance.DEFAULT.mismatch(g, e.getValue());
            if (m != null) return e.getKey() + ": " + m;
        }
        return null;
    }

    /** The one-device reference outputs (the plain executor, fresh tensors). */
    Map<String, Tensor> reference() {
        return SessionInternals.executorFor(session, inputs).run(inputs, dev.sluice.runtime.exec.OutputAllocator.FRESH, dev.sluice.runtime.exec.ExecutionListener.NONE);
    }

    /** Null when {@code got} equals {@code want} bit for bit, else the first output that differs. */
    static String mismatch(Map<String, Tensor> want, Map<String, Tensor> got) {
        for (var e : want.entrySet()) {
            Tensor g = got.get(e.getKey());
            if (g == null) return e.getKey() + " is missing";
            Tensor w = e.getValue();
            if (!Arrays.equals(w.shape().dims(), g.shape().dims()) || w.dtype() != g.dtype()) return e.getKey() + " has shape " + g.shape();
            if (MemorySegment.mismatch(w.data(), 0, w.byteSize(), g.data(), 0, g.byteSize()) >= 0) return e.getKey() + " differs";
        }
        return null;
    }

    /** {@code -o FILE} (the parser takes only double-dash options) or {@code --out FILE}. */
    static String outFile(Args args) {
        List<String> p = args.positionals();
        int i = p.indexOf("-o");
        if (i >= 0) {
            if (i + 1 >= p.size()) throw new SluiceException("-o needs a file name");
            return p.get(i + 1);
        }
        return args.option("out");
    }

    /** Positionals without {@code -o FILE}. */
    static List<String> models(Args args) {
        List<String> p = new ArrayList<>(args.positionals());
        int i = p.indexOf("-o");
        if (i >= 0) { p.remove(i); if (i < p.size()) p.remove(i); }
        return p;
    }

    @Override public void close() { session.close(); }
}
