package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.runtime.zoo.Zoo;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.lang.module.FindException;
import java.lang.module.ModuleFinder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.spi.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The module boundary, seen from a user's modular application. The built artifacts are installed into a
 * temporary local repository (as in {@link ConsumerCheckTest}); a tiny Maven project with its own
 * {@code module-info.java} ({@code requires dev.sluice.runtime;} and nothing else) is compiled by Maven on the
 * module path and run with {@code java -p ... -m}, and must get a real result through {@code Session},
 * {@code Tensor} and {@code Shape} (the kernels' API arrives through {@code requires transitive}).
 *
 * <p>Then the same module tries to import three internal classes, each public in its package: one from a
 * package its module exports to nobody ({@code dev.sluice.kernels.cpu}), one from a package exported only to
 * the bench ({@code dev.sluice.runtime.cli}), one from a module it does not read ({@code dev.sluice.memgraph}).
 * That compile must fail with javac's "is not visible" for each of the three and no other error, while the very
 * same source compiles on the class path: the classes exist and are public, only the module descriptors keep
 * them out. Skipped, saying why, where the jars are not built or the local repository lacks an artifact (no
 * network is used); any other failure fails.
 */
class ModulePathConsumerTest {
    static final String VERSION = LocalInstall.VERSION;
    /** Internal packages the consumer must not reach, and a public class in each. */
    static final Map<String, String> INTERNALS = Map.of(
        "dev.sluice.kernels.cpu", "CpuKernels",
        "dev.sluice.runtime.cli", "Main",
        "dev.sluice.memgraph.plan", "Planner");

    @TempDir Path tmp;

    @Test
    void aModularApplicationUsesTheApiAndCannotReachTheInternals() throws Exception {
        LocalInstall li = LocalInstall.install(tmp, "module-path consumer check");
        Path root = li.root();

        // 2. a modular consumer: Maven compiles it on the module path because it has a module-info.java
        Path app = tmp.resolve("app");
        Path src = app.resolve("src/main/java");
        Files.createDirectories(src.resolve("check"));
        Files.writeString(app.resolve("pom.xml"), LocalInstall.consumerPom());
        Files.writeString(src.resolve("module-info.java"), """
            module check.app {
                requires dev.sluice.runtime;
            }
            """);
        Files.writeString(src.resolve("check/Main.java"), """
            package check;

            import dev.sluice.kernels.Shape;
            import dev.sluice.kernels.Tensor;
            import dev.sluice.runtime.Result;
            import dev.sluice.runtime.Session;
            import java.nio.file.Path;
            import java.util.Map;

            public class Main {
                public static void main(String[] args) {
                    System.out.println("app in " + Main.class.getModule() + ", Session in " + Session.class.getModule()
                        + ", Tensor in " + Tensor.class.getModule());
                    float[] x = new float[3 * 48 * 192];
                    for (int i = 0; i < x.length; i++) x[i] = (i % 89) / 89f - 0.5f;
                    try (Session s = Session.open(Path.of(args[0]));
                         Result r = s.run(Map.of("x", Tensor.ofFloats(Shape.of(1, 3, 48, 192), x)))) {
                        for (var e : r) System.out.println("output " + e.getKey() + " " + e.getValue());
                    }
                }
            }
            """);
        Path cpFile = tmp.resolve("deps.txt");
        LocalInstall.Outcome build = li.maven(app, "compile", "dependency:build-classpath", "-Dmdep.outputFile=" + cpFile);
        li.skipIfUnresolvable(build);
        assertEquals(0, build.code(), "the modular consumer did not build:\n" + build.tail());
        Paths paths = Paths.split(Files.readString(cpFile).strip());

        // 3. run it on the module path, as a modular application would be run
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "@" + root.resolve("jdk-config/jvm.args"), "--enable-native-access=dev.sluice.kernels,dev.sluice.offload"));
        cmd.addAll(paths.options(app.resolve("target/classes").toString()));
        cmd.addAll(List.of("-m", "check.app/check.Main", Zoo.OCR_CLS.path().toString()));
        LocalInstall.Outcome run = LocalInstall.exec(cmd, app);
        assertEquals(0, run.code(), "the modular consumer did not run:\n" + run.tail());
        assertTrue(run.output().contains("app in module check.app, Session in module dev.sluice.runtime, Tensor in module dev.sluice.kernels"),
            "not run as named modules:\n" + run.tail());
        Matcher m = Pattern.compile("output (\\S+) Tensor<float32>\\[1,2] \\[([-0-9.Ee]+), ([-0-9.Ee]+)]").matcher(run.output());
        assertTrue(m.find(), "no f32[1,2] output printed:\n" + run.tail());
        assertEquals(1.0, Double.parseDouble(m.group(2)) + Double.parseDouble(m.group(3)), 1e-5,
            "softmax probabilities of '" + m.group(1) + "'");

        // 4. the same module reaching for internals: javac must refuse each import, on the module path only
        StringBuilder imports = new StringBuilder();
        StringBuilder uses = new StringBuilder();
        INTERNALS.forEach((pkg, cls) -> {
            imports.append("import ").append(pkg).append('.').append(cls).append(";\n");
            uses.append("        System.out.println(").append(cls).append(".class);\n");
        });
        Path intruder = src.resolve("check/Intruder.java");
        Files.writeString(intruder, "package check;\n\n" + imports + "\nclass Intruder {\n    static void reach() {\n" + uses + "    }\n}\n");

        List<String> modularArgs = new ArrayList<>(List.of("--release", "25", "--enable-preview", "-d", tmp.resolve("out-module").toString()));
        modularArgs.addAll(paths.options(null));
        modularArgs.addAll(List.of(src.resolve("module-info.java").toString(), src.resolve("check/Main.java").toString(), intruder.toString()));
        LocalInstall.Outcome modular = javac(modularArgs);
        assertTrue(modular.code() != 0, "internal classes compiled on the module path:\n" + modular.output());
        INTERNALS.forEach((pkg, cls) -> assertTrue(modular.output().contains("package " + pkg + " is not visible"),
            "no 'package " + pkg + " is not visible' error:\n" + modular.output()));
        Matcher errors = Pattern.compile("error: (.*)").matcher(modular.output());
        while (errors.find()) {
            assertTrue(errors.group(1).matches("package \\S+ is not visible"), "an error other than the module boundary:\n" + modular.output());
        }

        LocalInstall.Outcome classPath = javac(List.of("--release", "25", "--enable-preview", "-cp", paths.all(), "-d", tmp.resolve("out-classpath").toString(),
            src.resolve("check/Main.java").toString(), intruder.toString()));
        assertEquals(0, classPath.code(), "the same source must compile on the class path (the classes exist and are public):\n" + classPath.output());
        assertFalse(classPath.output().contains("error:"), classPath.output());
    }

    /**
     * The consumer's dependencies for {@code java} and {@code javac}: a jar that is a module, or can be an automatic
     * one, goes on the module path; a jar whose file name yields no module name (a natives-only jar such as
     * {@code ortools-linux-x86-64}, whose "64" is no Java identifier) cannot, and stays on the class path.
     */
    record Paths(String modules, String classes) {
        /** {@code -p} with {@code first} (when given) ahead of the modules, and {@code -cp} when anything is left for it. */
        List<String> options(String first) {
            List<String> o = new ArrayList<>(List.of("-p", first == null ? modules : first + File.pathSeparator + modules));
            if (!classes.isEmpty()) o.addAll(List.of("-cp", classes));
            return o;
        }

        String all() { return classes.isEmpty() ? modules : modules + File.pathSeparator + classes; }

        static Paths split(String classpath) {
            List<String> modules = new ArrayList<>();
            List<String> classes = new ArrayList<>();
            for (String entry : classpath.split(File.pathSeparator)) {
                if (entry.isBlank()) continue;
                try {
                    ModuleFinder.of(Path.of(entry)).findAll();
                    modules.add(entry);
                } catch (FindException e) {
                    classes.add(entry);
                }
            }
            return new Paths(String.join(File.pathSeparator, modules), String.join(File.pathSeparator, classes));
        }
    }

    private static LocalInstall.Outcome javac(List<String> args) {
        ToolProvider javac = ToolProvider.findFirst("javac").orElseThrow(() -> new AssertionError("this JDK has no javac tool"));
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8)) {
            int code = javac.run(out, out, args.toArray(String[]::new));
            return new LocalInstall.Outcome(code, buf.toString(StandardCharsets.UTF_8));
        }
    }
}
