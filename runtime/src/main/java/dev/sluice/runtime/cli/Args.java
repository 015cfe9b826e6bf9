package dev.sluice.runtime.cli;

import dev.sluice.kernels.SluiceException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Parsed command-line arguments: positionals, and options given as --name VALUE or --name=VALUE. */
public final class Args {
    private final List<String> positionals = new ArrayList<>();
    private final Map<String, List<String>> options = new LinkedHashMap<>();
    private final Set<String> flags;

    /**
     * @param valueOptions options that take a value
     * @param flags options without a value
     */
    public static Args parse(List<String> raw, Set<String> valueOptions, Set<String> flags, String command) {
        Args a = new Args(flags);
        for (int i = 0; i < raw.size(); i++) {
            String s = raw.get(i);
            if (s.startsWith("--") && s.length() > 2) {
                String name = s.substring(2), value = null;
                int eq = name.indexOf('=');
                if (eq >= 0) { value = name.substring(eq + 1); name = name.substring(0, eq); }
                if (flags.contains(name)) {
                    if (value != null) throw new SluiceException(command + ": option --" + name + " takes no value");
                    a.options.computeIfAbsent(name, k -> new ArrayList<>()).add("true");
                } else if (valueOptions.contains(name)) {
                    if (value == null) {
                        if (i + 1 >= raw.size()) throw new SluiceException(command + ": option --" + name + " needs a value");
                        value = raw.get(++i);
                    }
                    a.options.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
                } else {
                    throw new SluiceException(command + ": unknown option --" + name + " (see 'sluice help " + command + "')");
                }
            } else {
                a.positionals.add(s);
            }
        }
        return a;
    }

    private Args(Set<String> flags) { this.flags = flags; }

    public List<String> positionals() { return positionals; }
    public boolean flag(String name) { return options.containsKey(name); }
    /**
     * The value of an option given at most once. An option given twice is refused rather than letting the
     * last win: which one the user meant is a guess. Options that may repeat are read with {@link #all}.
     */
    public String option(String name) {
        List<String> v = options.get(name);
        if (v != null && v.size() > 1) {
            throw new SluiceException("--" + name + " is given " + v.size() + " times (" + String.join(", ", v.stream().map(x -> "'" + x + "'").toList())
                + "); give it once");
        }
        return v == null ? null : v.get(0);
    }
    public String option(String name, String dflt) { String v = option(name); return v == null ? dflt : v; }
    public List<String> all(String name) { return options.getOrDefault(name, List.of()); }

    public int intOption(String name, int dflt) {
        String v = option(name);
        if (v == null) return dflt;
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new SluiceException("--" + name + " must be a whole number, got '" + v + "'");
        }
    }

    /** {@link #intOption(String, int)} refusing values below {@code min} (--threads 0, --runs 0), naming the option. */
    public int intOption(String name, int dflt, int min) {
        int v = intOption(name, dflt);
        if (v < min) throw new SluiceException("--" + name + " must be at least " + min + ", got " + v);
        return v;
    }
}
