package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.runtime.zoo.Zoo;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
    static final String VERSION = "0.1.0-SNAPSHOT";
    static final List<String> MODULES = List.of("kernels", "graph", "memgraph", "offload", "runtime");

    @TempDir Path tmp;

    @Test
    void aSeparateProjectBuildsAndRunsAgainstTheInstalledArtifacts() throws Exception {
        Path root = Path.of("..").toAbsolutePath().normalize();
        for (String m : MODULES) {
            Path jar = root.resolve(m + "/target/sluice-" + m + "-" + VERSION + ".jar");
            assumeTrue(Files.isRegularFile(jar), "consumer check skipped: " + jar + " is not built (run the suite through ./sluice test, which packages first)");
        }
        Path userRepo = Path.of(System.getProperty("user.home"), ".m2", "repository");
        Path repo = tmp.resolve("repo");
        Path settings = tmp.resolve("settings.xml");
        Files.writeString(settings, """
            <settings>
              <mirrors>
                <mirror><id>local-only</id><mirrorOf>*</mirrorOf><url>%s</url></mirror>
              </mirrors>
            </settings>
            """.formatted(userRepo.toUri()));

        // 1. install: the parent POM and each module's jar with its POM, as built
        Path installer = tmp.resolve("installer");
        Files.createDirectories(installer);
        StringBuilder executions = new StringBuilder(execution("parent", root.resolve("pom.xml"), root.resolve("pom.xml")));
        for (String m : MODULES) {
            executions.append(execution(m, root.resolve(m + "/target/sluice-" + m + "-" + VERSION + ".jar"), root.resolve(m + "/pom.xml")));
        }
        Files.writeString(installer.resolve("pom.xml"), """
            <project xmlns="http://maven.apache.org/POM/4.0.0">
              <modelVersion>4.0.0</modelVersion>
              <groupId>check</groupId><artifactId>installer</artifactId><version>1</version><packaging>pom</packaging>
              <build><plugins><plugin>
                <groupId>org.apache.maven.plugins</groupId><artifactId>maven-install-plugin</artifactId><version>3.1.3</version>
                <executions>%s</executions>
              </plugin></plugins></build>
            </project>
            """.formatted(executions));
        Outcome install = maven(root, installer, settings, repo, "validate");
        skipIfUnresolvable(install);
        assertEquals(0, install.code, "installing the artifacts failed:\n" + install.tail());
        assertTrue(Files.isRegularFile(repo.resolve("dev/sluice/sluice-runtime/" + VERSION + "/sluice-runtime-" + VERSION + ".jar")));

        // 2. a consumer project: compile against the installed runtime, and list its classpath
        Path app = tmp.resolve("app");
        Path src = app.resolve("src/main/java/check");
        Files.createDirectories(src);
        Files.writeString(app.resolve("pom.xml"), """
            <project xmlns="http://maven.apache.org/POM/4.0.0">
              <modelVersion>4.0.0</modelVersion>
              <groupId>check</groupId><artifactId>app</artifactId><version>1</version>
              <properties><project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>
              <dependencies>
                <dependency><groupId>dev.sluice</groupId><artifactId>sluice-runtime</artifactId><version>%s</version></dependency>
              </dependencies>
              <build><plugins>
                <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-resources-plugin</artifactId><version>3.3.1</version></plugin>
                <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-compiler-plugin</artifactId><version>3.13.0</version>
                  <configuration><release>25</release><compilerArgs><arg>--enable-preview</arg></compilerArgs></configuration></plugin>
                <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version></plugin>
              </plugins></build>
            </project>
            """.formatted(VERSION));
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
        Outcome build = maven(root, app, settings, repo, "compile", "dependency:build-classpath", "-Dmdep.outputFile=" + cpFile);
        skipIfUnresolvable(build);
        assertEquals(0, build.code, "the consumer project did not build:\n" + build.tail());

        // 3. run it as a user would, with the JVM flags Sluice documents
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "@" + root.resolve("jdk-config/jvm.args"), "-cp", app.resolve("target/classes") + java.io.File.pathSeparator + Files.readString(cpFile).strip(),
            "check.Main", Zoo.OCR_CLS.path().toString()));
        Outcome run = exec(cmd, app);
        assertEquals(0, run.code, "the consumer did not run:\n" + run.tail());
        // the classifier's two softmax probabilities: printed by Tensor.toString, they must sum to 1
        Matcher m = Pattern.compile("output (\\S+) Tensor<float32>\\[1,2] \\[([-0-9.Ee]+), ([-0-9.Ee]+)]").matcher(run.output);
        assertTrue(m.find(), "no f32[1,2] output printed:\n" + run.tail());
        double sum = Double.parseDouble(m.group(2)) + Double.parseDouble(m.group(3));
        assertEquals(1.0, sum, 1e-5, "softmax probabilities of '" + m.group(1) + "'");
    }

    private static String execution(String id, Path file, Path pom) {
        return """
            <execution><id>%s</id><phase>validate</phase><goals><goal>install-file</goal></goals>
              <configuration><file>%s</file><pomFile>%s</pomFile></configuration></execution>
            """.formatted(id, file, pom);
    }

    record Outcome(int code, String output) {
        String tail() { return output.length() > 4000 ? output.substring(output.length() - 4000) : output; }
    }

    private static Outcome maven(Path root, Path project, Path settings, Path repo, String... goals) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(root.resolve("mvnw").toString(), "-B", "-q", "-s", settings.toString(),
            "-Dmaven.repo.local=" + repo, "-f", project.resolve("pom.xml").toString()));
        cmd.addAll(List.of(goals));
        return exec(cmd, project);
    }

    private static Outcome exec(List<String> cmd, Path dir) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("MAVEN_OPTS");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            return new Outcome(-1, out + "\n(timed out)");
        }
        return new Outcome(p.exitValue(), out);
    }

    /** An artifact the local repository lacks cannot be had offline: say so and skip, rather than fail. */
    private static void skipIfUnresolvable(Outcome o) {
        boolean unresolvable = o.code != 0 && (o.output.contains("Could not resolve") || o.output.contains("Could not transfer")
            || o.output.contains("Could not find artifact") || o.output.contains("Plugin") && o.output.contains("could not be resolved"));
        assumeTrue(!unresolvable, "consumer check skipped: Maven could not get an artifact from the local repository "
            + "(no network is used):\n" + o.tail());
    }
}
