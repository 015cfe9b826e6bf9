package dev.sluice.graph;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Finds, in an ONNX file's bytes, the float tensors whose values are stored as packed {@code float_data}, and can
 * retag each such field as {@code raw_data} in a writable copy of those bytes.
 *
 * <p>Why: the protobuf parser reads packed {@code float_data} into a heap float list that grows as it reads (its
 * garbage is about twice the weights), and the list lives on the heap as long as the message does; PaddleOCR's
 * exports keep every weight that way (PP-OCRv3 rec: 10.6 MB, which took about 20 MiB of old generation during
 * the import). {@code raw_data} of a FLOAT tensor is defined as the values' little-endian IEEE bytes, which is
 * exactly what a packed {@code float_data} field holds, and both are length-delimited fields whose tags are one
 * byte ({@code 0x22}, {@code 0x4A}); so rewriting that one byte makes the parser alias the bytes as raw data
 * instead of boxing them into lists, with the same values.
 *
 * <p>Rules (the retag never changes what a model means): only a TensorProto of data type FLOAT (1) with exactly
 * one packed {@code float_data} field, no unpacked float element and no {@code raw_data} of its own is retagged.
 * Tensors are found where ONNX puts them: graph initializers and sparse initializers, node attributes ({@code t},
 * {@code tensors}, sparse ones), and subgraphs and functions up to {@link #MAX_DEPTH} messages deep. The walk reads only field headers and
 * skips payloads; anything it does not understand (groups, a length beyond its message) ends the walk where it is,
 * leaving the rest as it was for the parser to judge.
 */
final class FloatDataRetag {
    private FloatDataRetag() {}

    private static final byte FLOAT_DATA_PACKED = (4 << 3) | 2;
    private static final byte RAW_DATA = (9 << 3) | 2;
    private static final int FLOAT = 1;
    /** Deepest nesting walked (the parser's own limit is 512); deeper, the walk stops and leaves the rest as it is. */
    private static final int MAX_DEPTH = 256;

    /** Message kinds of onnx.proto whose fields can hold tensors. */
    private enum Kind { MODEL, GRAPH, NODE, ATTRIBUTE, TENSOR, SPARSE_TENSOR, FUNCTION }

    /** The kind of a length-delimited field of a message of {@code in}, or null when it holds no tensors. */
    private static Kind child(Kind in, int field) {
        return switch (in) {
            case MODEL -> field == 7 ? Kind.GRAPH : field == 25 ? Kind.FUNCTION : null;
            case GRAPH -> field == 1 ? Kind.NODE : field == 5 ? Kind.TENSOR : field == 15 ? Kind.SPARSE_TENSOR : null;
            case NODE -> field == 5 ? Kind.ATTRIBUTE : null;
            case ATTRIBUTE -> switch (field) {
                case 5, 10 -> Kind.TENSOR;
                case 6, 11 -> Kind.GRAPH;
                case 22, 23 -> Kind.SPARSE_TENSOR;
                default -> null;
            };
            case SPARSE_TENSOR -> field == 1 || field == 2 ? Kind.TENSOR : null;
            case FUNCTION -> field == 7 ? Kind.NODE : field == 11 ? Kind.ATTRIBUTE : null;
            case TENSOR -> null;
        };
    }

    /**
     * Bytes of packed float data that {@link #retag} would turn into raw data in {@code model} (read only; nothing
     * is written).
     */
    static long retaggableBytes(MemorySegment model) {
        return new Walk(model, false).message(Kind.MODEL, 0, model.byteSize(), 0);
    }

    /** Retags, in place, every field that {@link #retaggableBytes} counts; returns their payload bytes. */
    static long retag(MemorySegment model) {
        return new Walk(model, true).message(Kind.MODEL, 0, model.byteSize(), 0);
    }

    /** One walk over a model's bytes; {@code pos} is the read position, past the message end when the walk gave up. */
    private static final class Walk {
        private final MemorySegment m;
        private final boolean write;
        private long pos;
        private boolean stop;

        Walk(MemorySegment m, boolean write) {
            this.m = m;
            this.write = write;
        }

        /** Walks the fields in [from, to) as a message of this kind; returns the bytes retagged (or retaggable) in it. */
        long message(Kind kind, long from, long to, int depth) {
            // a crafted file of deeply nested messages must not overflow the stack here: the parser refuses it anyway
            if (depth > MAX_DEPTH) { stop = true; return 0; }
            long found = 0;
            // a tensor's own facts, decided once all its fields are seen (their order is free)
            long dataType = 0, floatTag = -1, floatLen = 0;
            int floatFields = 0;
            boolean raw = false;
            pos = from;
            while (!stop && pos < to) {
                long tagAt = pos;
                long tag = varint(to);
                if (stop) break;
                int field = (int) (tag >>> 3);
                switch ((int) (tag & 7)) {
                    case 0 -> {
                        long v = varint(to);
                        if (kind == Kind.TENSOR && field == 2) dataType = v;
                    }
                    case 1 -> skip(8, to);
                    case 5 -> {
                        if (kind == Kind.TENSOR && field == 4) floatFields++; // an unpacked float element
                        skip(4, to);
                    }
                    case 2 -> {
                        long len = varint(to);
                        if (stop || len < 0 || len > to - pos) { stop = true; break; }
                        long start = pos, end = pos + len;
                        if (kind == Kind.TENSOR) {
                            if (field == 9) raw = true;
                            if (field == 4) {
                                floatFields++;
                                floatTag = tagAt;
                                floatLen = len;
                            }
                        } else {
                            Kind c = child(kind, field);
                            if (c != null) found += message(c, start, end, depth + 1);
                        }
                        pos = end;
                    }
                    default -> stop = true; // groups (3, 4) are not in onnx.proto; 6 and 7 are not wire types
                }
            }
            if (kind == Kind.TENSOR && !stop && dataType == FLOAT && floatFields == 1 && floatTag >= 0 && !raw
                    && m.get(ValueLayout.JAVA_BYTE, floatTag) == FLOAT_DATA_PACKED) {
                if (write) m.set(ValueLayout.JAVA_BYTE, floatTag, RAW_DATA);
                found += floatLen;
            }
            pos = to;
            return found;
        }

        private long varint(long to) {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= to) { stop = true; return -1; }
                byte b = m.get(ValueLayout.JAVA_BYTE, pos++);
                v |= (long) (b & 0x7f) << shift;
                if (b >= 0) return v;
            }
            stop = true;
            return -1;
        }

        private void skip(long n, long to) {
            if (n > to - pos) stop = true;
            else pos += n;
        }
    }
}
