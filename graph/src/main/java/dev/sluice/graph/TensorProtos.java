package dev.sluice.graph;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Conversion between ONNX {@code TensorProto}s (initializers, .pb files) and {@link Tensor}s. */
public final class TensorProtos {
    private TensorProtos() {}

    /** Reads a serialized TensorProto file (the onnx_test_runner layout's input_K.pb / output_K.pb). */
    public static Tensor read(Path file) {
        OnnxMl.TensorProto p;
        try (InputStream in = Files.newInputStream(file)) {
            CodedInputStream cin = CodedInputStream.newInstance(in);
            cin.setSizeLimit(Integer.MAX_VALUE);
            p = OnnxMl.TensorProto.parseFrom(cin);
        } catch (NoSuchFileException e) {
            throw new ModelException(file + ": no such file");
        } catch (IOException e) {
            throw new ModelException(file + ": not a readable ONNX TensorProto (" + e.getMessage() + ")");
        }
        return toTensor(p, file.toAbsolutePath().getParent(), file.toString());
    }

    /** Name stored in a .pb file's TensorProto, or "" if none. */
    public static String readName(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return OnnxMl.TensorProto.parseFrom(in).getName();
        } catch (IOException e) {
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
     * errors (a file, or "initializer 'w' in model.onnx").
     */
    public static Tensor toTensor(OnnxMl.TensorProto p, Path baseDir, String where) {
        if (!DType.isSupportedOnnx(p.getDataType())) {
            throw new ModelException(where + ": tensor '" + p.getName() + "' has unsupported data type "
                + DType.onnxName(p.getDataType()));
        }
        if (p.hasSegment()) throw new ModelException(where + ": segmented tensors are not supported");
        DType dt = DType.fromOnnx(p.getDataType());
        long[] dims = new long[p.getDimsCount()];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = p.getDims(i);
            if (dims[i] < 0) throw new ModelException(where + ": tensor '" + p.getName() + "' has negative dimension " + dims[i]);
        }
        Shape shape = Shape.of(dims);
        Tensor t = Tensor.allocate(dt, shape);
        long n = shape.elementCount();
        long bytes = t.byteSize();
        if (p.getDataLocation() == OnnxMl.TensorProto.DataLocation.EXTERNAL) {
            readExternal(p, baseDir, where, t);
        } else if (p.hasRawData()) {
            ByteString raw = p.getRawData();
            if (raw.size() != bytes) {
                throw new ModelException(where + ": tensor '" + p.getName() + "' " + dt + shape + " needs " + bytes
                    + " bytes of raw data but has " + raw.size());
            }
            // copy straight from the protobuf's buffer: no transient byte[] the size of the weight
            MemorySegment.copy(MemorySegment.ofBuffer(raw.asReadOnlyByteBuffer()), 0, t.data(), 0, bytes);
        } else {
            int count = switch (dt) {
                case FLOAT32 -> p.getFloatDataCount();
                case FLOAT64 -> p.getDoubleDataCount();
                case INT64 -> p.getInt64DataCount();
                case UINT32, UINT64 -> p.getUint64DataCount();
                default -> p.getInt32DataCount();
            };
            if (count != n) {
                throw new ModelException(where + ": tensor '" + p.getName() + "' " + dt + shape + " has " + count
                    + " values, expected " + n);
            }
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
        return t;
    }

    private static void readExternal(OnnxMl.TensorProto p, Path baseDir, String where, Tensor t) {
        String location = null;
        long offset = 0, length = -1;
        for (OnnxMl.StringStringEntryProto e : p.getExternalDataList()) {
            switch (e.getKey()) {
                case "location" -> location = e.getValue();
                case "offset" -> offset = Long.parseLong(e.getValue());
                case "length" -> length = Long.parseLong(e.getValue());
                default -> { }
            }
        }
        if (location == null) throw new ModelException(where + ": tensor '" + p.getName() + "' has external data without a location");
        if (baseDir == null) baseDir = Path.of(".");
        Path file = baseDir.resolve(location).normalize();
        if (!file.startsWith(baseDir.normalize())) {
            throw new ModelException(where + ": external data location '" + location + "' escapes the model's folder");
        }
        long bytes = t.byteSize();
        if (length >= 0 && length != bytes) {
            throw new ModelException(where + ": tensor '" + p.getName() + "' external length " + length + " != " + bytes + " bytes");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (offset + bytes > ch.size()) {
                throw new ModelException(where + ": external data file " + file + " is too short for tensor '" + p.getName()
                    + "' (needs " + (offset + bytes) + " bytes, has " + ch.size() + ")");
            }
            java.nio.ByteBuffer buf = t.data().asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            long pos = offset;
            while (buf.hasRemaining()) {
                int r = ch.read(buf, pos);
                if (r < 0) break;
                pos += r;
            }
        } catch (NoSuchFileException e) {
            throw new ModelException(where + ": external data file " + file + " for tensor '" + p.getName() + "' is missing");
        } catch (IOException e) {
            throw new ModelException(where + ": cannot read external data " + file + ": " + e.getMessage());
        }
    }
}
