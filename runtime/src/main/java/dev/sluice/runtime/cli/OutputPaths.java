package dev.sluice.runtime.cli;

import dev.sluice.kernels.SluiceException;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * Checks the files and folders a command will write ({@code --trace}, {@code --output-dir}, {@code --picture})
 * before any work starts, so a path that cannot be written is a user error naming the option and the path
 * (exit 1) found in a moment, not an internal error after a long run. The writes themselves turn an
 * {@link IOException} into the same kind of error through {@link #cannotWrite}.
 */
public final class OutputPaths {
    private OutputPaths() {}

    /**
     * A file that {@code option} will write: its folder must exist and be a writable folder, and the path must
     * not be a folder itself. Nothing is created.
     */
    public static Path file(String option, String value) {
        Path p = path(option, value);
        if (Files.isDirectory(p)) throw new SluiceException(option + " " + value + ": is a folder; give a file name");
        Path parent = p.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new SluiceException(option + " " + value + ": cannot be written, its folder " + parent + " does not exist or is not a folder");
        }
        if (!Files.isWritable(parent) || Files.exists(p) && !Files.isWritable(p)) {
            throw new SluiceException(option + " " + value + ": cannot be written (permission denied)");
        }
        return p;
    }

    /** A folder that {@code option} will write into: created (with its parents) if missing, and writable. */
    public static Path directory(String option, String value) {
        Path p = path(option, value);
        if (Files.exists(p) && !Files.isDirectory(p)) throw new SluiceException(option + " " + value + ": exists and is not a folder");
        try {
            Files.createDirectories(p);
        } catch (FileAlreadyExistsException e) {
            throw new SluiceException(option + " " + value + ": " + e.getFile() + " exists and is not a folder");
        } catch (IOException e) {
            throw cannotWrite(option, p, e);
        }
        if (!Files.isWritable(p)) throw new SluiceException(option + " " + value + ": the folder is not writable");
        return p;
    }

    /** The user error for a failed write of {@code p}, given by {@code option}. */
    public static SluiceException cannotWrite(String option, Path p, IOException e) {
        String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) why = f.getReason() + " (" + f.getFile() + ")";
        return new SluiceException(option + " " + p + ": cannot be written: " + why);
    }

    private static Path path(String option, String value) {
        if (value.isBlank()) throw new SluiceException(option + " needs a path, got an empty one");
        try {
            return Path.of(value);
        } catch (InvalidPathException e) {
            throw new SluiceException(option + " '" + value + "' is not a valid path (" + e.getReason() + ")");
        }
    }
}
