package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher notices TornadoVM: a build made without TORNADOVM_HOME is stale once it is set, one made with it
 * is stale once it changes or is unset, and an unchanged value is not. Run on a copy of the launcher in a
 * folder with no sources and a fresh classpath file, with SLUICE_NO_BUILD=1 so that it only says what it would do.
 */
class LauncherTest {
    @TempDir Path root;

    @BeforeEach
    void copyLauncher() throws IOException {
        Path project = Path.of("..").toAbsolutePath().normalize();
        Files.copy(project.resolve("sluice"), root.resolve("sluice"), StandardCopyOption.COPY_ATTRIBUTES);
        Files.createDirectories(root.resolve("jdk-config"));
        for (String f : new String[] {"find-jdk.sh", "jvm.args"}) {
            Files.copy(project.resolve("jdk-config").resolve(f), root.resolve("jdk-config").resolve(f), StandardCopyOption.COPY_ATTRIBUTES);
        }
        Files.createDirectories(root.resolve("bench/target"));
        Files.writeString(root.resolve("bench/target/sluice.classpath"), "");
    }

    @Test
    void rebuildsWhenTornadoVmHomeAppearsChangesOrGoes() throws Exception {
        assertFalse(stale(null), "no TornadoVM before or now");
        assertTrue(stale("/opt/tornadovm").contains("built with 'unset', now '/opt/tornadovm'"));
        Files.writeString(root.resolve("bench/target/sluice.tornadovm-home"), "/opt/tornadovm");
        assertFalse(stale("/opt/tornadovm"), "the value the build saw");
        assertTrue(stale("/opt/tornadovm-2").contains("built with '/opt/tornadovm', now '/opt/tornadovm-2'"));
        assertTrue(stale(null).contains("now 'unset'"));
    }

    /**
     * One edited source makes the next command build, and only that one: the build leaves the class-path file as it
     * was when the class path did not change, so the launcher must mark the build's time itself (it once rebuilt on
     * every command after any edit). The "build" is a stand-in mvnw that succeeds and writes nothing, as Maven does
     * to an unchanged class-path file.
     */
    @Test
    void buildsOnceAfterAnEdit() throws Exception {
        Path mvnw = root.resolve("mvnw");
        Files.writeString(mvnw, "#!/usr/bin/env bash\nexit 0\n");
        assertTrue(mvnw.toFile().setExecutable(true));
        Path cp = root.resolve("bench/target/sluice.classpath");
        Files.setLastModifiedTime(cp, FileTime.from(Instant.now().minusSeconds(3600)));
        Path source = root.resolve("runtime/src/main/java/Edited.java");
        Files.createDirectories(source.getParent());
        Files.writeString(source, "class Edited {}");
        assertTrue(launch().contains("sluice: building (sources changed)"), "the edit is seen");
        assertFalse(launch().lines().filter(l -> l.contains("sluice: building")).findFirst().orElse(""), "built once: not again");
    }

    /** Everything the launcher prints for {@code help}, building allowed (with TORNADOVM_HOME unset). */
    private String launch() throws Exception {
        ProcessBuilder pb = new ProcessBuilder("bash", root.resolve("sluice").toString(), "help").redirectErrorStream(true);
        pb.environment().remove("TORNADOVM_HOME");
        pb.environment().remove("SLUICE_NO_BUILD");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher finished");
        return out;
    }

    /** What the launcher says about staleness with this TORNADOVM_HOME (null: unset); "" when it says nothing. */
    private String stale(String tornadoHome) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("bash", root.resolve("sluice").toString(), "help").redirectErrorStream(true);
        pb.environment().put("SLUICE_NO_BUILD", "1");
        if (tornadoHome == null) pb.environment().remove("TORNADOVM_HOME");
        else pb.environment().put("TORNADOVM_HOME", tornadoHome);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher finished");
        return out.lines().filter(l -> l.contains("the build is stale")).findFirst().orElse("");
    }

    private static void assertFalse(String s, String why) { org.junit.jupiter.api.Assertions.assertEquals("", s, why); }
}
