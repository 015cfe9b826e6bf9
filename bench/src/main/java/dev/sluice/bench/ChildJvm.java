package dev.sluice.bench;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line of a child JVM that runs like this one: the same java binary, JVM flags (less agents, which
 * would attach twice) and class path. The bench measures memory and "alone" ratios in such children so that no
 * figure carries what an earlier model left in this JVM.
 */
final class ChildJvm {
    private ChildJvm() {}

    /** {@code java <this JVM's flags> -cp <this class path> mainClass args...}. */
    static List<String> command(String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib") && !a.startsWith("-javaagent")) cmd.add(a);
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }
}
