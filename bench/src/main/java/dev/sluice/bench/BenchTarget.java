package dev.sluice.bench;

import dev.sluice.graph.OnnxImporter;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.cli.InputSources;
import dev.sluice.runtime.testdata.TestDataRunner;
import dev.sluice.runtime.zoo.Zoo;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What the bench runs: a model file and its inputs. A test-data folder gives model.onnx and the inputs of
 * test_data_set_0; a zoo model file gets the zoo's sample inputs; any other model file gets seeded random
 * inputs (runtime's InputSources, symbolic dims 1).
 */
record BenchTarget(String name, Path model, Map<String, Tensor> inputs, String inputsFrom) {
    static BenchTarget of(String arg, long seed) {
        Path p = Path.of(arg);
        if (Files.isDirectory(p)) {
            Path model = p.resolve("model.onnx");
            if (!Files.isRegularFile(model)) throw new SluiceException(arg + ": a test-data folder needs model.onnx");
            Path set = p.resolve("test_data_set_0");
            if (!Files.isDirectory(set)) throw new SluiceException(arg + ": a test-data folder needs test_data_set_0/");
            var declared = OnnxImporter.load(model).graph().inputs();
            return new BenchTarget(p.toAbsolutePath().normalize().getFileName().toString(), model,
                TestDataRunner.readInputs(set, declared), "test_data_set_0");
        }
        if (!Files.isRegularFile(p)) {
            // A zoo name is accepted too: 'sluice bench ppocr-cls'.
            try {
                Zoo.Model z = Zoo.find(arg);
                return new BenchTarget(z.fileName(), z.path(), z.sampleInputs(seed), "zoo sample inputs, seed " + seed);
            } catch (SluiceException e) {
                throw new SluiceException(arg + ": no such model file, test-data folder or zoo model");
            }
        }
        Zoo.Model z = Zoo.byFileName(p);
        if (z != null) return new BenchTarget(p.getFileName().toString(), p, z.sampleInputs(seed), "zoo sample inputs, seed " + seed);
        var declared = OnnxImporter.load(p).graph().inputs();
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        return new BenchTarget(p.getFileName().toString(), p, InputSources.build(declared, List.of(), List.of(), seed, quiet),
            "seeded random, seed " + seed);
    }
}
