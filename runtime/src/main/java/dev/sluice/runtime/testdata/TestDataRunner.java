package dev.sluice.runtime.testdata;

import dev.sluice.graph.Model;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.graph.TensorProtos;
import dev.sluice.graph.Value;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * Runs ONNX test-data folders (the onnx_test_runner layout: model.onnx plus test_data_set_N/input_K.pb and
 * output_K.pb) and compares every output at a {@link Tolerance}.
 */
public final class TestDataRunner {
    /** The outcome of one data set. {@code error} is null when it passed. */
    public record SetResult(String name, boolean passed, String error, long nanos) {}

    /** A test-data folder whose data sets ran, or that failed before any could (then sets holds one entry). */
    public record FolderResult(Path folder, List<SetResult> sets) {
        public boolean passed() { return sets.stream().allMatch(SetResult::passed); }
    }

    private final Tolerance tolerance;
    private final Function<Model, Session> opener;

    public TestDataRunner(Tolerance tolerance, Function<Model, Session> opener) {
        this.tolerance = tolerance;
        this.opener = opener;
    }

    public FolderResult run(Path folder) {
        String label = folder.getFileName().toString();
        Path modelFile = folder.resolve("model.onnx");
        List<SetResult> results = new ArrayList<>();
        List<Path> sets = dataSets(folder);
        if (!Files.isRegularFile(modelFile)) {
            return new FolderResult(folder, List.of(new SetResult(label, false, modelFile + ": no such file", 0)));
        }
        if (sets.isEmpty()) {
            return new FolderResult(folder, List.of(new SetResult(label, false, folder + ": no test_data_set_* folders", 0)));
        }
        Session session;
        try {
            session = opener.apply(OnnxImporter.load(modelFile));
        } catch (SluiceException e) {
            return new FolderResult(folder, List.of(new SetResult(label, false, e.getMessage(), 0)));
        }
        try (session) {
            for (Path set : sets) {
                String name = label + "/" + set.getFileName();
                long t0 = System.nanoTime();
                try {
                    Map<String, Tensor> inputs = readInputs(set, session.inputs());
                    Map<String, Tensor> expected = readOutputs(set, session.outputs());
                    Map<String, Tensor> actual = session.run(inputs).asMap();
                    String err = null;
                    for (var e : expected.entrySet()) {
                        Tensor a = actual.get(e.getKey());
                        String m = a == null ? "output missing" : tolerance.mismatch(a, e.getValue());
                        if (m != null) { err = "output '" + e.getKey() + "': " + m; break; }
                    }
                    results.add(new SetResult(name, err == null, err, System.nanoTime() - t0));
                } catch (SluiceException e) {
                    results.add(new SetResult(name, false, e.getMessage(), System.nanoTime() - t0));
                } catch (RuntimeException | StackOverflowError | OutOfMemoryError e) {
                    results.add(new SetResult(name, false, "internal error: " + e, System.nanoTime() - t0));
                }
            }
        }
        return new FolderResult(folder, results);
    }

    public static List<Path> dataSets(Path folder) {
        try (Stream<Path> s = Files.list(folder)) {
            return s.filter(p -> Files.isDirectory(p) && p.getFileName().toString().startsWith("test_data_set_"))
                .sorted(java.util.Comparator.comparingInt(TestDataRunner::setIndex)).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static int setIndex(Path p) {
        try {
            return Integer.parseInt(p.getFileName().toString().substring("test_data_set_".length()));
        } catch (NumberFormatException e) {
            return Integer.MAX_VALUE;
        }
    }

    /** input_K.pb bound by the name inside the file, else by position K among the model's inputs. */
    public static Map<String, Tensor> readInputs(Path set, List<Value> modelInputs) {
        return readIndexed(set, "input_", modelInputs);
    }

    public static Map<String, Tensor> readOutputs(Path set, List<Value> modelOutputs) {
        return readIndexed(set, "output_", modelOutputs);
    }

    /**
     * Every {@code PREFIX_K.pb} of the set, K numbered from 0 without gaps (a file the numbering would skip is an
     * error, not ignored), each a regular file really inside the test-data folder (the set's parent: a symlink
     * that leads out of it is refused), and no two bound to the same model value.
     */
    private static Map<String, Tensor> readIndexed(Path set, String prefix, List<Value> values) {
        String role = prefix.substring(0, prefix.length() - 1);
        Path root = set.toAbsolutePath().getParent();
        java.util.TreeMap<Integer, Path> files = new java.util.TreeMap<>();
        try (Stream<Path> s = Files.list(set)) {
            for (Path f : (Iterable<Path>) s::iterator) {
                String n = f.getFileName().toString();
                if (!n.startsWith(prefix) || !n.endsWith(".pb")) continue;
                String digits = n.substring(prefix.length(), n.length() - ".pb".length());
                int k;
                try {
                    k = Integer.parseInt(digits);
                } catch (NumberFormatException e) {
                    k = -1;
                }
                if (k < 0 || !digits.equals(Integer.toString(k))) {
                    throw new SluiceException(f + ": not a " + prefix + "K.pb name (K a whole number from 0, no leading zeros)");
                }
                files.put(k, f);
            }
        } catch (IOException e) {
            throw new SluiceException(set + ": cannot list its files (" + e.getMessage() + ")");
        }
        int expected = 0;
        for (var e : files.entrySet()) {
            if (e.getKey() != expected) {
                throw new SluiceException(e.getValue() + ": there is no " + prefix + expected + ".pb before it; "
                    + role + " files are numbered from 0 without gaps");
            }
            expected++;
        }
        Map<String, Tensor> r = new LinkedHashMap<>();
        Map<String, Path> boundFrom = new java.util.HashMap<>();
        for (var e : files.entrySet()) {
            int k = e.getKey();
            Path f = e.getValue();
            TensorProtos.Named read = TensorProtos.readNamedWithin(root, f);
            String stored = read.name();
            String name = stored;
            if (values.stream().noneMatch(v -> v.name().equals(stored))) {
                if (k >= values.size()) {
                    throw new SluiceException(f + ": no model " + role + " at position " + k + " (the model has " + values.size()
                        + ": " + values.stream().map(Value::name).toList() + ")");
                }
                name = values.get(k).name();
            }
            Path earlier = boundFrom.put(name, f);
            if (earlier != null) {
                throw new SluiceException(f + ": gives model " + role + " '" + name + "', which " + earlier.getFileName() + " already gives");
            }
            r.put(name, read.tensor());
        }
        return r;
    }
}
