package dev.sluice.graph;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.UnsafeByteOperations;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A model file mapped read-only for the length of one import, so that parsing it costs no copy of its bytes.
 *
 * <p>Why: reading the file into the heap and then into tensors held two or three copies of every weight at
 * once (the file's bytes, the protobuf's ByteStrings, the native tensors). Here the protobuf parses the mapping
 * with aliasing, so a tensor's {@code raw_data} is a view of the mapping, never read while parsing; the importer
 * then reads those bytes from the file straight into the native weight segment ({@link #readInto}), so the
 * mapping's pages of weights never become resident either. What stays is one native copy.
 *
 * <p>A file whose weights are mostly packed {@code float_data} (PaddleOCR's exports) is parsed from a native copy
 * instead, in which {@link FloatDataRetag} has retagged those fields as raw data: the parser would otherwise box
 * them into growing heap lists. The copy is read from the file, lives as long as the mapping, and its views are
 * copied into the tensors like any raw data not in the mapping.
 *
 * <p>Invariant: the mapping (and the copy) lives until {@link #close()}; after that every view of it (a ByteString left in a
 * protobuf object) fails on access with an exception, never reads unmapped memory. The importer closes it when
 * the model is converted, and nothing it returns holds a protobuf object.
 */
final class MappedModel implements AutoCloseable {
    private final Path file;
    private final FileChannel channel;
    private final Arena arena;
    private final MemorySegment mapping;
    /** What the parser reads: the mapping, or the retagged copy of a file of mostly packed float data. */
    private final MemorySegment parsed;

    private MappedModel(Path file, FileChannel channel, Arena arena, MemorySegment mapping, MemorySegment parsed) {
        this.file = file;
        this.channel = channel;
        this.arena = arena;
        this.mapping = mapping;
        this.parsed = parsed;
    }

    /** Maps a regular file; the caller has checked what it is and turns IOExceptions into its own words. */
    static MappedModel open(Path file) throws IOException {
        FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        Arena arena = Arena.ofShared();
        try {
            long size = ch.size();
            // a protobuf message is at most 2 GiB; a larger file is refused by the parser's size limit anyway
            if (size > Integer.MAX_VALUE) {
                throw new ModelException(file + ": " + size + " bytes; an ONNX protobuf is at most 2 GiB (larger weights belong in external data files)");
            }
            MemorySegment m = size == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return new MappedModel(file, ch, arena, m, retaggedCopy(ch, m, arena));
        } catch (IOException | RuntimeException e) {
            arena.close();
            ch.close();
            throw e;
        }
    }

    /**
     * The mapping itself, or, when more than half of the file is packed float data, a copy of the file (read
     * through the channel, so the mapping's pages stay untouched) with those fields retagged as raw data. The
     * copy costs the file's size natively for the import; the heap lists it spares cost about three times that.
     */
    private static MemorySegment retaggedCopy(FileChannel ch, MemorySegment mapping, Arena arena) throws IOException {
        long size = mapping.byteSize();
        if (size == 0 || FloatDataRetag.retaggableBytes(mapping) * 2 <= size) return mapping;
        MemorySegment copy = arena.allocate(size, 8);
        ByteBuffer into = copy.asByteBuffer();
        long pos = 0;
        while (into.hasRemaining()) {
            int r = ch.read(into, pos);
            if (r < 0) throw new IOException("the file ended early (was it changed while being read?)");
            pos += r;
        }
        FloatDataRetag.retag(copy);
        return copy;
    }

    /** A protobuf input over the parsed bytes whose {@code bytes} fields alias them instead of copying. */
    CodedInputStream input() {
        if (parsed.byteSize() == 0) return CodedInputStream.newInstance(new byte[0]);
        ByteBuffer view = parsed.asByteBuffer().asReadOnlyBuffer();
        // wrapping marks the buffer immutable, which is what lets the parser alias it
        CodedInputStream in = UnsafeByteOperations.unsafeWrap(view).newCodedInput();
        in.enableAliasing(true);
        return in;
    }

    /**
     * Reads the bytes that {@code raw} (a view of this mapping) covers from the file into {@code dst}, whose size
     * is the view's; false when {@code raw} is not a view of this mapping (the caller copies it then).
     */
    boolean readInto(ByteString raw, MemorySegment dst, String what) {
        // a retagged copy was parsed: its views are copied by the caller (the file's bytes differ in the tags only)
        if (parsed != mapping) return false;
        ByteBuffer b = raw.asReadOnlyByteBuffer();
        if (!b.isDirect() || mapping.byteSize() == 0) return false;
        MemorySegment view = MemorySegment.ofBuffer(b);
        long offset = view.address() - mapping.address();
        if (offset < 0 || view.byteSize() != dst.byteSize() || offset > mapping.byteSize() - dst.byteSize()) return false;
        ByteBuffer into = dst.asByteBuffer();
        long pos = offset;
        try {
            while (into.hasRemaining()) {
                int r = channel.read(into, pos);
                if (r < 0) throw new ModelException(what + ": " + file + " ended early (was it changed while being read?)");
                pos += r;
            }
        } catch (IOException e) {
            throw new ModelException(what + ": cannot read " + file + " (" + e.getMessage() + ")");
        }
        return true;
    }

    /** Unmaps the file: later reads through any view of it throw instead of touching unmapped memory. */
    @Override public void close() {
        arena.close();
        try {
            channel.close();
        } catch (IOException e) {
            // a read-only channel has nothing to flush; a failed close loses nothing
        }
    }
}
