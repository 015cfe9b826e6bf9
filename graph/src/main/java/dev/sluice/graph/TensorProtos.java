package dev.sluice.graph;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Conversion between ONNX {@code TensorProto}s (initializers, .pb files) and {@link Tensor}s.
 *
 * <p>Everything read here is untrusted: dimensions are checked against the bytes actually present (raw data,
 * typed fields, external data within its file) before anything is allocated, and external data must be a
 * regular file whose real path lies inside the model's folder (a symlink that leads out, an absolute path,
 * {@code ..} that climbs out, a FIFO or a device are refused without being opened).
 */
public final class TensorProtos {
    private TensorProtos() {}

    /** A tensor read from a .pb file with the name stored in it ("" if none). */
    public record Named(String name, Tensor tensor) {}

    /** Reads a serialized TensorProto file (the onnx_test_runner layout's input_K.pb / output_K.pb). */
    public static Tensor read(Path file) {
        return readNamed(file).tensor();
    }

    /**
     * Reads a serialized TensorProto file and the name stored in it. The file must be a regular file (a FIFO
     * would block the read); any external data it refers to must lie in its folder.
     */
    public static Named readNamed(Path file) {
        Path real;
        try {
            real = file.toRealPath();
        } catch (NoSuchFileException e) {
            throw new ModelException(file + ": no such file");
        } catch (IOException e) {
            throw new ModelException(file + ": cannot be opened (" + e.getMessage() + ")");
        }
        if (!Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
            throw new ModelException(file + ": not a regular file (a folder, FIFO or device); a tensor must be a .pb file");
        }
        return parseTensorFile(file, real);
    }

    /**
     * Reads {@code file} as {@link #readNamed} does, refusing it unless its real path lies inside {@code root}'s:
     * test-data folders are read this way, so a symlink inside one cannot reach files outside it.
     */
    public static Named readNamedWithin(Path root, Path file) {
        Path rootReal = realFolder(root, file.toString());
        Path rel = root.toAbsolutePath().normalize().relativize(file.toAbsolutePath().normalize());
        Path real = containedRegularFile(rootReal, rel.toString(), file.toString(), "tensor file");
        return parseTensorFile(file, real);
    }

    private static Named parseTensorFile(Path shown, Path real) {
        OnnxMl.TensorProto p;
        try (InputStream in = Files.newInputStream(real, LinkOption.NOFOLLOW_LINKS)) {
            CodedInputStream cin = CodedInputStream.newInstance(in);
            cin.setSizeLimit(Integer.MAX_VALUE);
            p = OnnxMl.TensorProto.parseFrom(cin);
        } catch (NoSuchFileException e) {
            throw new ModelException(shown + ": no such file");
        } catch (IOException e) {
            throw new ModelException(shown + ": not a readable ONNX TensorProto (" + e.getMessage() + ")");
        }
        if (p.getDataType() == 0 && p.getDimsCount() == 0 && !p.hasRawData()) {
            throw new ModelException(shown + ": holds no tensor (no data type, no dimensions, no data): an empty file or not an ONNX TensorProto");
        }
        return new Named(p.getName(), toTensor(p, real.getParent(), shown.toString()));
    }

    /** Name stored in a .pb file's TensorProto, or "" if none or unreadable. */
    public static String readName(Path file) {
        try {
            return readNamed(file).name();
        } catch (ModelException e) {
            return "";
        }
    }

    public static void write(Tensor t, String name, Path file) throws IOException {
        Files.write(file, toProto(t, name).toByteArray());
    }

    public static OnnxMl.TensorProto toProto(Tensor t, String name) {
        OnnxMl.TensorProto.Builder b = OnnxMl.TensorProto.newBuilder()
            .setName(name == null ? "" : name)
            .setDataType(t.dtype().onnxCode());
        for (long d : t.shape().dims()) b.addDims(d);
        b.setRawData(ByteString.copyFrom(t.data().toArray(ValueLayout.JAVA_BYTE)));
        return b.build();
    }

    /**
     * Converts a TensorProto. {@code baseDir} resolves external data; {@code where} names the owner in
     * errors (a file, or "initializer 'w' in model.onnx"). The claimed size is checked against the data
     * present before the tensor is allocated.
     */
    public static Tensor toTensor(OnnxMl.TensorProto p, Path baseDir, String where) {
        return toTensor(p, baseDir, where, null);
    }

    /** As {@link #toTensor(OnnxMl.TensorProto, Path, String)}, reading raw data through {@code mapped} if not null. */
    static Tensor toTensor(OnnxMl.TensorProto p, Path baseDir, String where, MappedModel mapped) {
        Checked c = check(p, baseDir, where);
        Tensor t = allocate(c.dtype(), c.dims(), c.bytes(), where + ": " + c.label());
        fill(c, t, mapped);
        return t;
    }

    /**
     * A TensorProto whose claims (type, shape, bytes) were checked against the data it carries or names, not
     * yet copied anywhere: the importer checks every initializer first, then places them all in one segment.
     */
    record Checked(OnnxMl.TensorProto proto, DType dtype, long[] dims, long elements, long bytes, External external,
                   String where, String label) {
        /** Bytes of the block (header slot, data, alignment) this tensor takes in a weight segment. */
        long blockBytes() { return Tensor.blockBytes(bytes); }

        Shape shape() { return Shape.of(dims); }
    }

    /** Every check {@link #toTensor} makes, without allocating: the sizes claimed against the data present. */
    static Checked check(OnnxMl.TensorProto p, Path baseDir, String where) {
        String label = "tensor '" + p.getName() + "'";
        if (p.getDataType() == 0) {
            throw new ModelException(where + ": " + label + " has no data type (UNDEFINED): an empty or damaged TensorProto");
        }
        if (!DType.isSupportedOnnx(p.getDataType())) {
            throw new ModelException(where + ": " + label + " has unsupported data type " + DType.onnxName(p.getDataType()));
        }
        if (p.hasSegment()) throw new ModelException(where + ": segmented tensors are not supported");
        DType dt = DType.fromOnnx(p.getDataType());
        long[] dims = new long[p.getDimsCount()];
        for (int i = 0; i < dims.length; i++) dims[i] = p.getDims(i);
        long n, bytes;
        try {
            n = TensorSizes.elementCount(dims, where + ": " + label);
            bytes = TensorSizes.byteSize(dt, dims, where + ": " + label);
        } catch (ModelException e) {
            throw e;
        } catch (SluiceException e) {
            throw new ModelException(e.getMessage());
        }
        String typed = dt + Arrays.toString(dims);
        if (p.getDataLocation() == OnnxMl.TensorProto.DataLocation.EXTERNAL) {
            return new Checked(p, dt, dims, n, bytes, external(p, baseDir, where, label, typed, bytes), where, label);
        }
        if (p.hasRawData()) {
            int have = p.getRawData().size();
            if (have != bytes) {
                throw new ModelException(where + ": " + label + " " + typed + " needs " + bytes + " bytes of raw data but has " + have);
            }
            return new Checked(p, dt, dims, n, bytes, null, where, label);
        }
        int count = switch (dt) {
            case FLOAT32 -> p.getFloatDataCount();
            case FLOAT64 -> p.getDoubleDataCount();
            case INT64 -> p.getInt64DataCount();
            case UINT32, UINT64 -> p.getUint64DataCount();
            default -> p.getInt32DataCount();
        };
        if (count != n) {
            throw new ModelException(where + ": " + label + " " + typed + " has " + count + " values, expected " + n);
        }
        return new Checked(p, dt, dims, n, bytes, null, where, label);
    }

    /**
     * Copies a checked tensor's values into {@code t} (of its type and shape). Raw data comes through
     * {@code mapped} when the proto was parsed from that mapped file (read from the file, so that the mapping's
     * pages never become resident), else straight from the protobuf's buffer: no transient byte[] either way.
     */
    static void fill(Checked c, Tensor t, MappedModel mapped) {
        OnnxMl.TensorProto p = c.proto();
        if (c.external() != null) {
            readExternal(c.external(), t, c.where(), c.label());
            return;
        }
        if (p.hasRawData()) {
            ByteString raw = p.getRawData();
            if (mapped == null || !mapped.readInto(raw, t.data(), c.where() + ": " + c.label())) {
                MemorySegment.copy(MemorySegment.ofBuffer(raw.asReadOnlyByteBuffer()), 0, t.data(), 0, c.bytes());
            }
            return;
        }
        long n = c.elements();
        DType dt = c.dtype();
        for (int i = 0; i < n; i++) {
            switch (dt) {
                case FLOAT32 -> t.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, p.getFloatData(i));
                case FLOAT64 -> t.data().setAtIndex(ValueLayout.JAVA_DOUBLE, i, p.getDoubleData(i));
                case INT64 -> t.data().setAtIndex(ValueLayout.JAVA_LONG, i, p.getInt64Data(i));
                case UINT32, UINT64 -> t.setLong(i, p.getUint64Data(i));
                // float16 values travel as their bit patterns in int32_data
                case FLOAT16 -> t.data().setAtIndex(ValueLayout.JAVA_SHORT, i, (short) p.getInt32Data(i));
                default -> t.setLong(i, p.getInt32Data(i));
            }
        }
    }

    /** Allocates once the size is known to be backed by data; refuses what this JVM cannot hold. */
    static Tensor allocate(DType dt, long[] dims, long bytes, String what) {
        try {
            TensorSizes.requireAllocatable(bytes, what + " " + dt + Arrays.toString(dims));
        } catch (ModelException e) {
            throw e;
        } catch (SluiceException e) {
            throw new ModelException(e.getMessage());
        }
        try {
            return Tensor.allocate(dt, Shape.of(dims));
        } catch (OutOfMemoryError e) {
            // the reservation failed before any memory was taken: nothing to undo
            throw new ModelException(what + " " + dt + Arrays.toString(dims) + ": cannot allocate " + bytes + " bytes (" + e.getMessage() + ")");
        }
    }

    /** Where a tensor's external bytes are: a regular file inside the model's folder, an offset and a length. */
    record External(Path file, long offset, long bytes) {}

    private static External external(OnnxMl.TensorProto p, Path baseDir, String where, String label, String typed, long bytes) {
        String location = null;
        long offset = 0, length = -1;
        for (OnnxMl.StringStringEntryProto e : p.getExternalDataList()) {
            switch (e.getKey()) {
                case "location" -> location = e.getValue();
                case "offset" -> offset = externalNumber(e.getValue(), "offset", where, label);
                case "length" -> length = externalNumber(e.getValue(), "length", where, label);
                default -> { }
            }
        }
        if (location == null || location.isEmpty()) {
            throw new ModelException(where + ": " + label + " has external data without a location");
        }
        if (length >= 0 && length != bytes) {
            throw new ModelException(where + ": " + label + " " + typed + " needs " + bytes + " bytes but its external data length is " + length);
        }
        Path root = realFolder(baseDir == null ? Path.of(".") : baseDir, where);
        Path file = containedRegularFile(root, location, where + ": " + label, "external data");
        long size;
        try {
            size = Files.size(file);
        } catch (IOException e) {
            throw new ModelException(where + ": " + label + ": cannot read external data " + file + " (" + e.getMessage() + ")");
        }
        if (offset > size || bytes > size - offset) {
            throw new ModelException(where + ": external data file " + file + " is too short for " + label + " " + typed
                + " (needs " + bytes + " bytes from offset " + offset + ", the file has " + size + ")");
        }
        return new External(file, offset, bytes);
    }

    private static long externalNumber(String text, String key, String where, String label) {
        long v;
        try {
            v = Long.parseLong(text.trim());
        } catch (NumberFormatException e) {
            throw new ModelException(where + ": " + label + " has external data " + key + " '" + text + "', which is not a whole number");
        }
        if (v < 0) throw new ModelException(where + ": " + label + " has a negative external data " + key + " (" + v + ")");
        return v;
    }

    private static void readExternal(External ext, Tensor t, String where, String label) {
        try (FileChannel ch = FileChannel.open(ext.file(), StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            java.nio.ByteBuffer buf = t.data().asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            long pos = ext.offset();
            while (buf.hasRemaining()) {
                int r = ch.read(buf, pos);
                if (r < 0) {
                    throw new ModelException(where + ": external data file " + ext.file() + " ended early while reading " + label);
                }
                pos += r;
            }
        } catch (NoSuchFileException e) {
            throw new ModelException(where + ": external data file " + ext.file() + " for " + label + " is missing");
        } catch (IOException e) {
            throw new ModelException(where + ": cannot read external data " + ext.file() + " for " + label + ": " + e.getMessage());
        }
    }

    /** The real path of a model's (or test-data) folder, against which contained files are checked. */
    private static Path realFolder(Path folder, String where) {
        try {
            return folder.toAbsolutePath().toRealPath();
        } catch (IOException e) {
            throw new ModelException(where + ": the folder " + folder + " cannot be resolved (" + e.getMessage() + ")");
        }
    }

    /**
     * The real path of {@code location} inside {@code rootReal}, refusing absolute paths, paths whose real
     * location (after every symlink, of the file or of a folder on the way) lies outside the root, and
     * anything but a regular file. Nothing is opened here; the file type is checked on the resolved path.
     */
    static Path containedRegularFile(Path rootReal, String location, String where, String what) {
        Path rel;
        try {
            rel = Path.of(location);
        } catch (InvalidPathException e) {
            throw new ModelException(where + ": " + what + " location '" + location + "' is not a valid path");
        }
        if (rel.isAbsolute() || rel.getRoot() != null) {
            throw new ModelException(where + ": " + what + " location '" + location
                + "' is an absolute path; it must be relative to, and inside, the folder " + rootReal);
        }
        Path real;
        try {
            real = rootReal.resolve(rel).toRealPath();
        } catch (NoSuchFileException e) {
            throw new ModelException(where + ": " + what + " file " + rootReal.resolve(rel).normalize() + " is missing");
        } catch (IOException e) {
            throw new ModelException(where + ": " + what + " '" + location + "' cannot be resolved (" + e.getMessage() + ")");
        }
        if (!real.startsWith(rootReal)) {
            throw new ModelException(where + ": " + what + " location '" + location + "' escapes the folder " + rootReal
                + " (it leads to " + real + "); only files really inside the folder are read");
        }
        if (!Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
            throw new ModelException(where + ": " + what + " '" + location + "' is not a regular file (a folder, FIFO or device)");
        }
        return real;
    }
}
