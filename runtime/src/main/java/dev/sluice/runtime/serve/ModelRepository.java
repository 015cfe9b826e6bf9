package dev.sluice.runtime.serve;

import dev.sluice.kernels.SluiceException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A Triton-style model repository on disk: {@code DIR/<model>/<version>/model.onnx}, versions being positive
 * integers, with an optional {@code DIR/<model>/config.json}. Every path is resolved to its real path and must
 * stay inside {@code DIR}: a name with {@code ..} or a separator, or a symbolic link that leads out of the
 * repository, is refused with a message that says so.
 */
public final class ModelRepository {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,127}");

    private final Path root;

    /** One model version found on disk. */
    public record Version(long number, Path file) {}

    /** A model directory: its versions by number (ascending) and its config (defaults when absent). */
    public record Entry(String name, TreeMap<Long, Version> versions, ModelConfig config) {}

    public ModelRepository(Path dir) {
        try {
            this.root = dir.toRealPath();
        } catch (IOException e) {
            throw new SluiceException("model repository " + dir + " does not exist or is not readable");
        }
        if (!Files.isDirectory(root)) throw new SluiceException("model repository " + dir + " is not a directory");
    }

    public Path root() { return root; }

    /** The names of the model directories, sorted; entries that are not safe names are skipped. */
    public List<String> names() {
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(root)) {
            s.filter(Files::isDirectory).map(p -> p.getFileName().toString()).filter(n -> NAME.matcher(n).matches()).sorted().forEach(out::add);
        } catch (IOException e) {
            throw new SluiceException("cannot list model repository " + root + ": " + e.getMessage());
        }
        return out;
    }

    /** Checks that a model name from a client is a plain directory name; 400 naming it otherwise. */
    public static void checkName(String name) {
        if (name == null || !NAME.matcher(name).matches() || name.equals(".") || name.equals("..")) {
            throw ServeException.badRequest("model name '" + name + "' is not a plain name (letters, digits, '_', '.', '-'; no path)");
        }
    }

    /** Reads one model's directory; 404 when it is not in the repository, 400 when it escapes it. */
    public Entry read(String name) {
        checkName(name);
        Path dir = inside(root.resolve(name), "model '" + name + "'");
        if (dir == null || !Files.isDirectory(dir)) throw ServeException.notFound("model '" + name + "' is not in the repository " + root);
        TreeMap<Long, Version> versions = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path v : s.toList()) {
                String vn = v.getFileName().toString();
                if (!vn.matches("[1-9][0-9]{0,17}")) continue;
                Path vdir = inside(v, "model '" + name + "' version " + vn);
                if (vdir == null || !Files.isDirectory(vdir)) continue;
                Path file = inside(vdir.resolve("model.onnx"), "model '" + name + "' version " + vn + " model.onnx");
                if (file != null && Files.isRegularFile(file)) versions.put(Long.parseLong(vn), new Version(Long.parseLong(vn), file));
            }
        } catch (IOException e) {
            throw new SluiceException("cannot list " + dir + ": " + e.getMessage());
        }
        if (versions.isEmpty()) throw ServeException.notFound("model '" + name + "' has no version directory with a model.onnx under " + dir);
        Path cfg = inside(dir.resolve("config.json"), "model '" + name + "' config.json");
        ModelConfig config = cfg != null && Files.isRegularFile(cfg) ? ModelConfig.read(cfg) : ModelConfig.defaults();
        return new Entry(name, versions, config);
    }

    /**
     * The real path of {@code p} when it exists and lies inside the repository; null when it does not exist.
     * A path that exists but resolves outside (a symbolic link out) is refused.
     */
    private Path inside(Path p, String what) {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) return null;
        Path real;
        try {
            real = p.toRealPath();
        } catch (IOException e) {
            throw ServeException.badRequest(what + ": " + p + " does not resolve (" + e.getMessage() + ")");
        }
        if (!real.startsWith(root)) {
            throw ServeException.badRequest(what + ": " + p + " resolves to " + real + ", outside the model repository " + root
                + " (a symbolic link out of the repository is refused)");
        }
        return real;
    }
}
