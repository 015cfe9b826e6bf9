package dev.sluice.runtime.cli;

import dev.sluice.kernels.SluiceException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * Entry point of the {@code sluice} command line. Errors print one line naming what and where, exit
 * non-zero, and show a stack trace only with {@code --verbose}.
 */
public final class Main {
    private final Map<String, Command> commands = new LinkedHashMap<>();

    Main() {
        for (Command c : List.of(new InfoCommand(), new RunCommand(), new TestDataCommand(), new DevicesCommand())) commands.put(c.name(), c);
        commands.put("plan", new dev.sluice.runtime.memory.PlanCommand());
        commands.put("zoo", new ZooCommand());
        commands.put("serve", new dev.sluice.runtime.serve.ServeCommand());
        for (Command c : List.of(new ProfileCommand(), new PlaceCommand())) commands.put(c.name(), c);
        for (Command c : ServiceLoader.load(Command.class)) commands.putIfAbsent(c.name(), c);
    }

    public static void main(String[] argv) {
        int status = new Main().execute(List.of(argv), System.out, System.err);
        System.out.flush();
        System.exit(status);
    }

    int execute(List<String> argv, PrintStream out, PrintStream err) {
        List<String> args = new ArrayList<>(argv);
        boolean verbose = args.remove("--verbose") | args.remove("-v");
        if (args.isEmpty() || args.get(0).equals("--help") || args.get(0).equals("-h") || args.get(0).equals("help")) {
            if (args.size() > 1 && commands.containsKey(args.get(1))) out.println(commands.get(args.get(1)).help());
            else out.print(usage());
            return 0;
        }
        Command c = commands.get(args.get(0));
        if (c == null) {
            err.println("sluice: unknown command '" + args.get(0) + "'");
            err.print(usage());
            return 2;
        }
        List<String> rest = args.subList(1, args.size());
        if (rest.contains("--help") || rest.contains("-h")) {
            out.println(c.help());
            return 0;
        }
        try {
            Args parsed = Args.parse(rest, c.valueOptions(), c.flags(), c.name());
            return c.run(parsed, out);
        } catch (SluiceException e) {
            err.println("sluice " + c.name() + ": " + e.getMessage());
            if (verbose) e.printStackTrace(err);
            return 1;
        } catch (java.nio.file.InvalidPathException e) {
            // only a path the user typed can be invalid (a NUL byte, say): their mistake, not ours
            err.println("sluice " + c.name() + ": '" + e.getInput().replace("\0", "\\0") + "' is not a valid path (" + e.getReason() + ")");
            return 1;
        } catch (OutOfMemoryError e) {
            // tensors live in native memory: say which limit was hit rather than always blaming the heap
            String msg = e.getMessage() == null ? "" : e.getMessage();
            err.println("sluice " + c.name() + ": " + (msg.contains("direct buffer memory")
                ? "out of native memory for tensors (" + msg + "); raise it with SLUICE_JAVA_OPTS=-XX:MaxDirectMemorySize=<size>"
                : "out of Java heap memory" + (msg.isEmpty() ? "" : " (" + msg + ")") + "; raise it with SLUICE_JAVA_OPTS=-Xmx<size>"));
            return 1;
        } catch (Exception | StackOverflowError e) {
            err.println("sluice " + c.name() + ": internal error: " + e + (verbose ? "" : " (run with --verbose for details)"));
            if (verbose) e.printStackTrace(err);
            return 3;
        }
    }

    String usage() {
        StringBuilder b = new StringBuilder();
        b.append("Sluice runs ONNX models on the JDK: Java kernels on the CPU, accelerators with little memory.\n\n");
        b.append("usage: sluice <command> [options]     (sluice help <command> for details)\n\n");
        b.append("commands:\n");
        for (Command c : commands.values()) b.append(String.format("  %-12s %s%n", c.name(), c.summary()));
        b.append(String.format("  %-12s %s%n", "test", "build the project and run its test suite (launcher only)"));
        b.append("\nglobal options:\n  --verbose  show stack traces on errors\n");
        return b.toString();
    }
}
