package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.runtime.zoo.Zoo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The consumer check: Sluice used the way a user would. The built artifacts (parent POM and the five library
 * jars) are installed with maven-install-plugin into a temporary local repository; a separate tiny Maven project
 * that depends on {@code dev.sluice:sluice-runtime} is compiled against it and run on the default device.
 * Nothing is fetched from the network: the temporary repository's only remote is the developer's own local
 * repository (as a {@code file:} mirror), so third-party artifacts are copied from there. Skipped, saying why,
 * where the jars are not built yet (a single test run without the package phase) or that mirror lacks an
 * artifact; any other failure fails.
 */
class ConsumerCheckTest {
    static final String VERSION = LocalInstall.VERSION;

    @TempDir Path tmp;

    @Test
    void aSeparateProjectBuildsAndRunsAgainstTheInstalledArtifacts() throws Exception {
        LocalInstall li = LocalInstall.install(tmp, "consumer check");
        Path root = li.root();
        assertTrue(Files.isRegularFile(li.repo().resolve("dev/sluice/sluice-runtime/" + VERSION + "/sluice-runtime-" + VERSION + ".jar")));

        // 2. a consumer project: compile against the installed runtime, and list its classpath
        Path app = tmp.resolve("app");
        Path src = app.resolve("src/main/java/check");
        Files.createDirectories(src);
        Files.writeString(app.resolve("pom.xml"), LocalInstall.consumerPom());
        Files.writeString(src.resolve("Main.java"), """
            package check;

            import dev.sluice.kernels.Shape;
            import dev.sluice.kernels.Tensor;
            import dev.sluice.runtime.Result;
            import dev.sluice.runtime.Session;
            import java.nio.file.Path;
            import java.util.Map;

            public class Main {
                public static void main(String[] args) {
                    float[] x = new float[3 * 48 * 192];
                    for (int i = 0; i < x.length; i++) x[i] = (i % 97) / 97f - 0.5f;
                    try (Session s = Session.open(Path.of(args[0]));
                         Result r = s.run(Map.of("x", Tensor.ofFloats(Shape.of(1, 3, 48, 192), x)))) {
                        for (var e : r) System.out.println("output " + e.getKey() + " " + e.getValue());
                    }
                }
            }
            """);
        Path cpFile = tmp.resolve("cp.txt");
        LocalInstall.Outcome build = li.maven(app, "compile", "dependency:build-classpath", "-Dmdep.outputFile=" + cpFile);
        li.skipIfUnresolvable(build);
        assertEquals(0, build.code(), "the consumer project did not build:\n" + build.tail());

        // 3. run it as a user would, with the JVM flags Sluice documents
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "@" + root.resolve("jdk-config/jvm.args"), "-cp", app.resolve("target/classes") + java.io.File.pathSeparator + Files.readString(cpFile).strip(),
            "check.Main", Zoo.OCR_CLS.path().toString()));
        LocalInstall.Outcome run = LocalInstall.exec(cmd, app);
        assertEquals(0, run.code(), "the consumer did not run:\n" + run.tail());
        // the classifier's two softmax probabilities: printed by Tensor.toString, they must sum to 1
        Matcher m = Pattern.compile("output (\\S+) Tensor<float32>\\[1,2] \\[([-0-9.Ee]+), ([-0-9.Ee]+)]").matcher(run.output());
        assertTrue(m.find(), "no f32[1,2] output printed:\n" + run.tail());
        double sum = Double.parseDouble(m.group(2)) + Double.parseDouble(m.group(3));
        assertEquals(1.0, sum, 1e-5, "softmax probabilities of '" + m.group(1) + "'");
    }
}
