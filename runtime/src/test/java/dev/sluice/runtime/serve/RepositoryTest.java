package dev.sluice.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.cli.Args;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The repository layout, config.json checks, versions, and the serve command's refusals. */
class RepositoryTest {
    @TempDir Path repo;

    Engine engine() {
        return new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, m -> {}), new Metrics(), Residency.NONE);
    }

    @Test void configErrorsNameTheFileAndKey() throws Exception {
        TestRepo.affine(repo, "m", 1, 3);
        TestRepo.config(repo, "m", "{\"max_batch\": 4}");
        try (Engine e = engine()) {
            SluiceException x = assertThrows(SluiceException.class, () -> e.load("m"));
            assertTrue(x.getMessage().contains("config.json") && x.getMessage().contains("'max_batch'"), x.getMessage());
            TestRepo.config(repo, "m", "{\"inputs\": [{\"name\": \"x\", \"shape\": [-1, 4, 1]}]}");
            x = assertThrows(SluiceException.class, () -> e.load("m"));
            assertTrue(x.getMessage().contains("input 'x'") && x.getMessage().contains("rank"), x.getMessage());
            TestRepo.config(repo, "m", "{\"inputs\": [{\"name\": \"nope\"}]}");
            x = assertThrows(SluiceException.class, () -> e.load("m"));
            assertTrue(x.getMessage().contains("'nope'"), x.getMessage());
            // The index says why the model is unavailable.
            Engine.IndexEntry row = e.index(false).getFirst();
            assertEquals("UNAVAILABLE", row.state());
            assertTrue(row.reason().contains("'nope'"), row.reason());
            // A config override narrows what requests may send: batch fixed to 2.
            TestRepo.config(repo, "m", "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [2, 4]}]}");
            e.load("m");
            assertEquals("[2, 4]", java.util.Arrays.toString(e.metadata("m", null).inputs().getFirst().shape()));
            InferRequest one = new InferRequest("m", null, null, List.of(new InferTensor("x", Datatype.FP32, new long[] {1, 4}, new byte[16],
                java.util.Map.of())), List.of(), java.util.Map.of());
            ServeException bad = assertThrows(ServeException.class, () -> e.infer(one));
            assertTrue(bad.getMessage().contains("dimension 0"), bad.getMessage());
        }
    }

    @Test void versionsAreNumberedDirectoriesAndTheHighestIsTheDefault() throws Exception {
        TestRepo.affine(repo, "m", 1, 3);
        Path v2 = TestRepo.version(repo, "m", 2);
        Files.copy(repo.resolve("m/1/model.onnx"), v2);
        Files.createDirectories(repo.resolve("m/draft"));
        Files.createDirectories(repo.resolve("m/0"));
        try (Engine e = engine()) {
            e.load("m");
            assertEquals(List.of("1", "2"), e.metadata("m", null).versions());
            assertEquals(2, e.instance("m", null).version);
            assertEquals(1, e.instance("m", "1").version);
            assertEquals(ServeException.Kind.NOT_FOUND, assertThrows(ServeException.class, () -> e.instance("m", "0")).kind());
            assertEquals(ServeException.Kind.NOT_FOUND, assertThrows(ServeException.class, () -> e.instance("m", "draft")).kind());
        }
    }

    @Test void pathTricksAreRefused() {
        for (String name : List.of("..", "../etc", "a/b", "", ".hidden/../x")) {
            ServeException x = assertThrows(ServeException.class, () -> ModelRepository.checkName(name));
            assertEquals(400, x.kind().http, name);
        }
    }

    @Test void serveCommandRefusesBadOptions() {
        ServeCommand c = new ServeCommand();
        PrintStream out = new PrintStream(new ByteArrayOutputStream());
        SluiceException x = assertThrows(SluiceException.class, () -> c.run(Args.parse(List.of(), c.valueOptions(), c.flags(), "serve"), out));
        assertTrue(x.getMessage().contains("--model-repository"), x.getMessage());
        x = assertThrows(SluiceException.class, () -> c.run(Args.parse(List.of("--model-repository", repo.toString(), "--device-budget", "50%"),
            c.valueOptions(), c.flags(), "serve"), out));
        assertTrue(x.getMessage().contains("--device throttled"), x.getMessage());
        x = assertThrows(SluiceException.class, () -> c.run(Args.parse(List.of("--model-repository", repo.toString(), "--device", "gpu"),
            c.valueOptions(), c.flags(), "serve"), out));
        assertTrue(x.getMessage().contains("--device"), x.getMessage());
        x = assertThrows(SluiceException.class, () -> c.run(Args.parse(List.of("--model-repository", repo.resolve("none").toString()),
            c.valueOptions(), c.flags(), "serve"), out));
        assertTrue(x.getMessage().contains("does not exist"), x.getMessage());
    }
}
