package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The module descriptors as compiled, held to the two rules that a merge can break without any compile error.
 * First, only the API packages are exported to everyone: a package added to an unqualified {@code exports} by
 * mistake would quietly become user API. Second, the commands the bench lists in
 * {@code META-INF/services} (read on the class path, by the launcher) are exactly the ones its
 * {@code module-info.java} provides (read on the module path, where that file is ignored): a command added to
 * one list only would vanish from the other path.
 */
class ModuleDescriptorsTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final String COMMAND = "dev.sluice.runtime.cli.Command";
    /** Per Maven module, the packages every module may read; all others are internal. */
    static final Map<String, Set<String>> API = Map.of(
        "kernels", Set.of("dev.sluice.kernels"),
        "graph", Set.of("dev.sluice.graph"),
        "memgraph", Set.of(),
        "offload", Set.of(),
        "runtime", Set.of("dev.sluice.runtime"),
        "bench", Set.of());

    static ModuleDescriptor descriptor(String module) throws IOException {
        try (InputStream in = Files.newInputStream(ROOT.resolve(module + "/target/classes/module-info.class"))) {
            return ModuleDescriptor.read(in);
        }
    }

    @Test
    void onlyTheApiPackagesAreExportedToEveryModule() throws IOException {
        for (var e : API.entrySet()) {
            ModuleDescriptor d = descriptor(e.getKey());
            assertEquals("dev.sluice." + e.getKey(), d.name(), "module name of " + e.getKey());
            Set<String> unqualified = d.exports().stream().filter(x -> !x.isQualified())
                .map(ModuleDescriptor.Exports::source).collect(Collectors.toCollection(TreeSet::new));
            assertEquals(new TreeSet<>(e.getValue()), unqualified, "packages " + d.name() + " exports to every module");
            assertTrue(d.opens().stream().allMatch(ModuleDescriptor.Opens::isQualified), d.name() + " opens a package to every module");
            for (ModuleDescriptor.Exports x : d.exports()) {
                for (String target : x.targets()) {
                    assertTrue(target.startsWith("dev.sluice.") && API.containsKey(target.substring("dev.sluice.".length())),
                        d.name() + " exports " + x.source() + " to " + target + ", which is not a Sluice module");
                }
            }
        }
    }

    @Test
    void theBenchProvidesEveryCommandItListsForTheClassPath() throws IOException {
        List<String> listed = Files.readAllLines(ROOT.resolve("bench/src/main/resources/META-INF/services/" + COMMAND)).stream()
            .map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
        assertTrue(!listed.isEmpty(), "no commands listed in META-INF/services");
        Set<String> provided = descriptor("bench").provides().stream().filter(p -> p.service().equals(COMMAND))
            .flatMap(p -> p.providers().stream()).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(new TreeSet<>(listed), provided, "dev.sluice.bench's 'provides " + COMMAND + "' against META-INF/services");
        assertTrue(descriptor("runtime").uses().contains(COMMAND), "dev.sluice.runtime does not declare 'uses " + COMMAND + "'");
    }
}
