package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The consumer checks' shared first step: the built artifacts (the parent POM and the five library jars) installed
 * with maven-install-plugin into a temporary local repository whose only remote is the developer's own local
 * repository (a {@code file:} mirror), so nothing is fetched from the network. Skips, saying why, where the jars are
 * not built yet or the mirror lacks an artifact; any other failure fails.
 *
 * @param root     the project's root folder
 * @param settings the Maven settings that point every remote at the local mirror
 * @param repo     the temporary local repository holding the installed artifacts
 * @param check    the name of the check, for skip messages
 */
record LocalInstall(Path root, Path settings, Path repo, String check) {
    static final String VERSION = "0.1.0-SNAPSHOT";
    static final List<String> MODULES = List.of("kernels", "graph", "memgraph", "offload", "runtime");

    /** What a child process printed and how it ended (-1: killed after five minutes). */
    record Outcome(int code, String output) {
        String tail() { return output.length() > 4000 ? output.substring(output.length() - 4000) : output; }
    }

    /** Installs the built artifacts under {@code tmp} for the check named {@code check}. */
    static LocalInstall install(Path tmp, String check) throws IOException, InterruptedException {
        Path root = Path.of("..").toAbsolutePath().normalize();
        for (String m : MODULES) {
            Path jar = root.resolve(m + "/target/sluice-" + m + "-" + VERSION + ".jar");
            assumeTrue(Files.isRegularFile(jar), check + " skipped: " + jar + " is not built (run the suite through ./sluice test, which packages first)");
        }
        Path userRepo = Path.of(System.getProperty("user.home"), ".m2", "repository");
        Path settings = tmp.resolve("settings.xml");
        Files.writeString(settings, """
            <settings>
              <mirrors>
                <mirror><id>local-only</id><mirrorOf>*</mirrorOf><url>%s</url></mirror>
              </mirrors>
            </settings>
            """.formatted(userRepo.toUri()));
        LocalInstall li = new LocalInstall(root, settings, tmp.resolve("repo"), check);
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
        Outcome install = li.maven(installer, "validate");
        li.skipIfUnresolvable(install);
        assertEquals(0, install.code(), "installing the artifacts failed:\n" + install.tail());
        return li;
    }

    private static String execution(String id, Path file, Path pom) {
        return """
            <execution><id>%s</id><phase>validate</phase><goals><goal>install-file</goal></goals>
              <configuration><file>%s</file><pomFile>%s</pomFile></configuration></execution>
            """.formatted(id, file, pom);
    }

    /** Runs the project's Maven wrapper on {@code project} against the temporary repository. */
    /** The pom of a consumer project that depends on the installed sluice-runtime and nothing else. */
    static String consumerPom() {
        return """
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
        """.formatted(VERSION);
    }

    Outcome maven(Path project, String... goals) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(root.resolve("mvnw").toString(), "-B", "-q", "-s", settings.toString(),
            "-Dmaven.repo.local=" + repo, "-f", project.resolve("pom.xml").toString()));
        cmd.addAll(List.of(goals));
        return exec(cmd, project);
    }

    /** Runs a command in {@code dir} with this JDK as JAVA_HOME. */
    static Outcome exec(List<String> cmd, Path dir) throws IOException, InterruptedException {
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
    void skipIfUnresolvable(Outcome o) {
        boolean unresolvable = o.code() != 0 && (o.output().contains("Could not resolve") || o.output().contains("Could not transfer")
            || o.output().contains("Could not find artifact") || o.output().contains("Plugin") && o.output().contains("could not be resolved"));
        assumeTrue(!unresolvable, check + " skipped: Maven could not get an artifact from the local repository "
            + "(no network is used):\n" + o.tail());
    }
}
