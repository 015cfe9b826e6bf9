package dev.sluice.runtime.serve;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The REST front end's codec: the v2 JSON inference request and response, with the binary tensor data
 * extension (a JSON header of {@code Inference-Header-Content-Length} bytes followed by raw tensors, each sized by
 * its {@code binary_data_size} parameter). Every refusal is a 400 naming the field or input and element; a
 * tensor over the size limit is a 413.
 */
public final class JsonProtocol {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonFactory FACTORY = MAPPER.getFactory();
    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    private JsonProtocol() {}

    /** A response body: the bytes, and the JSON header's length when binary data follows it (else -1). */
    public record Encoded(byte[] body, int jsonHeaderLength) {}

    /**
     * Parses an infer request body.
     *
     * @param headerLength the value of {@code Inference-Header-Content-Length}, or -1 when the body is all JSON
     */
    public static InferRequest parseInfer(String model, String version, byte[] body, long headerLength, Limits limits) {
        if (headerLength > body.length) {
            throw ServeException.badRequest("Inference-Header-Content-Length is " + headerLength + " but the body has only " + body.length + " bytes");
        }
        int jsonLen = headerLength < 0 ? body.length : (int) headerLength;
        JsonNode root;
        try {
            root = MAPPER.readTree(body, 0, jsonLen);
        } catch (IOException e) {
            throw ServeException.badRequest("the request is not valid JSON: " + firstLine(e));
        }
        if (root == null || !root.isObject()) throw ServeException.badRequest("the request must be a JSON object");
        String id = root.hasNonNull("id") ? text(root.get("id"), "id") : null;
        Map<String, Object> params = parameters(root.get("parameters"), "parameters");
        JsonNode inputs = root.get("inputs");
        if (inputs == null || !inputs.isArray()) throw ServeException.badRequest("'inputs' must be an array of tensors");
        int binaryAt = jsonLen;
        List<InferTensor> tensors = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < inputs.size(); i++) {
            JsonNode t = inputs.get(i);
            String where = "inputs[" + i + "]";
            if (!t.isObject()) throw ServeException.badRequest(where + " must be an object");
            String name = text(t.get("name"), where + ".name");
            where = "input '" + name + "'";
            if (!names.add(name)) throw ServeException.badRequest(where + " is given twice");
            Datatype dt = Datatype.parse(t.hasNonNull("datatype") ? t.get("datatype").asText() : null, where);
            long[] shape = shape(t.get("shape"), where);
            long count;
            try {
                count = InferTensor.elementCount(shape);
            } catch (ArithmeticException e) {
                throw ServeException.tooLarge(where + ": shape " + Arrays.toString(shape) + " has too many elements");
            }
            if (dt != Datatype.BYTES && count * dt.elementBytes() > limits.maxTensorBytes()) {
                throw ServeException.tooLarge(where + ": " + count * dt.elementBytes() + " bytes is over the limit of "
                    + limits.maxTensorBytes() + " bytes per tensor");
            }
            Map<String, Object> tp = parameters(t.get("parameters"), where + ".parameters");
            byte[] data;
            Object bin = tp.get("binary_data_size");
            if (bin != null) {
                if (!(bin instanceof Long size) || size < 0) throw ServeException.badRequest(where + ": binary_data_size must be a non-negative integer");
                if (headerLength < 0) throw ServeException.badRequest(where + " has binary_data_size but the request has no Inference-Header-Content-Length header");
                if (t.has("data")) throw ServeException.badRequest(where + " has both binary_data_size and 'data'");
                if (size > body.length - binaryAt) {
                    throw ServeException.badRequest(where + ": binary_data_size " + size + " runs past the end of the body ("
                        + (body.length - binaryAt) + " binary bytes left)");
                }
                if (dt != Datatype.BYTES && size != count * dt.elementBytes()) {
                    throw ServeException.badRequest(where + ": binary_data_size is " + size + " but shape " + Arrays.toString(shape)
                        + " of " + dt + " needs " + count * dt.elementBytes() + " bytes");
                }
                data = Arrays.copyOfRange(body, binaryAt, binaryAt + (int) (long) size);
                if (dt == Datatype.BYTES) checkBytesElements(data, count, where);
                binaryAt += (int) (long) size;
            } else {
                JsonNode d = t.get("data");
                if (d == null) throw ServeException.badRequest(where + ": 'data' is missing (and no binary_data_size parameter)");
                data = elements(d, dt, count, where, limits);
            }
            tensors.add(new InferTensor(name, dt, shape, data, tp));
        }
        if (binaryAt != body.length) {
            throw ServeException.badRequest((body.length - binaryAt) + " bytes of binary data follow the JSON header but no input claims them");
        }
        boolean allBinary = Boolean.TRUE.equals(params.get("binary_data_output"));
        List<InferRequest.RequestedOutput> outs = new ArrayList<>();
        JsonNode o = root.get("outputs");
        if (o != null && !o.isNull()) {
            if (!o.isArray()) throw ServeException.badRequest("'outputs' must be an array");
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < o.size(); i++) {
                JsonNode x = o.get(i);
                String where = "outputs[" + i + "]";
                if (!x.isObject()) throw ServeException.badRequest(where + " must be an object");
                String name = text(x.get("name"), where + ".name");
                if (!seen.add(name)) throw ServeException.badRequest("output '" + name + "' is requested twice");
                Map<String, Object> op = parameters(x.get("parameters"), "output '" + name + "'.parameters");
                Object b = op.get("binary_data");
                if (b != null && !(b instanceof Boolean)) throw ServeException.badRequest("output '" + name + "': binary_data must be true or false");
                outs.add(new InferRequest.RequestedOutput(name, b == null ? allBinary : (Boolean) b));
            }
        }
        return new InferRequest(model, version, id, tensors, outs, params);
    }

    /** Encodes a response; outputs asked for as binary (or all, with {@code binary_data_output}) follow the JSON. */
    public static Encoded encodeInfer(InferResponse r, InferRequest req) {
        Map<String, Boolean> binary = new LinkedHashMap<>();
        for (InferRequest.RequestedOutput o : req.outputs()) binary.put(o.name(), o.binary());
        boolean allBinary = Boolean.TRUE.equals(req.parameters().get("binary_data_output"));
        ByteArrayOutputStream json = new ByteArrayOutputStream();
        List<byte[]> tail = new ArrayList<>();
        try (JsonGenerator g = FACTORY.createGenerator(json, JsonEncoding.UTF8)) {
            g.writeStartObject();
            g.writeStringField("model_name", r.model());
            g.writeStringField("model_version", r.version());
            if (r.id() != null) g.writeStringField("id", r.id());
            g.writeArrayFieldStart("outputs");
            for (InferTensor t : r.outputs()) {
                g.writeStartObject();
                g.writeStringField("name", t.name());
                g.writeStringField("datatype", t.datatype().name());
                g.writeArrayFieldStart("shape");
                for (long d : t.shape()) g.writeNumber(d);
                g.writeEndArray();
                if (binary.getOrDefault(t.name(), allBinary)) {
                    g.writeObjectFieldStart("parameters");
                    g.writeNumberField("binary_data_size", t.data().length);
                    g.writeEndObject();
                    tail.add(t.data());
                } else {
                    g.writeFieldName("data");
                    writeElements(g, t);
                }
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (tail.isEmpty()) return new Encoded(json.toByteArray(), -1);
        int headerLen = json.size();
        for (byte[] b : tail) json.writeBytes(b);
        return new Encoded(json.toByteArray(), headerLen);
    }

    /** {"error": message}, the protocol's error body. */
    public static byte[] error(String message) {
        ObjectNode n = MAPPER.createObjectNode();
        n.put("error", message);
        return bytes(n);
    }

    public static byte[] serverMetadata(String name, String version, List<String> extensions) {
        ObjectNode n = MAPPER.createObjectNode();
        n.put("name", name);
        n.put("version", version);
        var ext = n.putArray("extensions");
        extensions.forEach(ext::add);
        return bytes(n);
    }

    public static byte[] modelMetadata(ModelMetadata m) {
        ObjectNode n = MAPPER.createObjectNode();
        n.put("name", m.name());
        var v = n.putArray("versions");
        m.versions().forEach(v::add);
        n.put("platform", m.platform());
        for (String side : List.of("inputs", "outputs")) {
            var arr = n.putArray(side);
            for (ModelMetadata.TensorMetadata t : side.equals("inputs") ? m.inputs() : m.outputs()) {
                ObjectNode x = arr.addObject();
                x.put("name", t.name());
                x.put("datatype", t.datatype().name());
                var s = x.putArray("shape");
                for (long d : t.shape()) s.add(d);
            }
        }
        return bytes(n);
    }

    /** The repository index: one object per model version with its state and, when not ready, why. */
    public static byte[] repositoryIndex(List<Engine.IndexEntry> entries) {
        var arr = MAPPER.createArrayNode();
        for (Engine.IndexEntry e : entries) {
            ObjectNode x = arr.addObject();
            x.put("name", e.name());
            if (e.version() != null) x.put("version", e.version());
            x.put("state", e.state());
            if (e.reason() != null && !e.reason().isEmpty()) x.put("reason", e.reason());
        }
        return bytes(arr);
    }

    /** Reads the optional body of a repository request ({"ready": bool}); empty or absent means the defaults. */
    public static boolean readyOnly(byte[] body) {
        if (body.length == 0) return false;
        try {
            JsonNode n = MAPPER.readTree(body);
            if (n == null || n.isNull() || n.isMissingNode()) return false;
            if (!n.isObject()) throw ServeException.badRequest("the repository index request must be a JSON object");
            JsonNode r = n.get("ready");
            if (r != null && !r.isBoolean()) throw ServeException.badRequest("'ready' must be true or false");
            return r != null && r.asBoolean();
        } catch (IOException e) {
            throw ServeException.badRequest("the request is not valid JSON: " + firstLine(e));
        }
    }

    private static byte[] bytes(JsonNode n) {
        try {
            return MAPPER.writeValueAsBytes(n);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String text(JsonNode n, String where) {
        if (n == null || n.isNull()) throw ServeException.badRequest("'" + where + "' is missing");
        if (!n.isTextual()) throw ServeException.badRequest("'" + where + "' must be a string");
        return n.asText();
    }

    private static long[] shape(JsonNode n, String where) {
        if (n == null || !n.isArray()) throw ServeException.badRequest(where + ": 'shape' must be an array of dimensions");
        long[] s = new long[n.size()];
        for (int i = 0; i < s.length; i++) {
            JsonNode d = n.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
                throw ServeException.badRequest(where + ": shape[" + i + "] must be a non-negative integer, got " + d);
            }
            s[i] = d.asLong();
        }
        return s;
    }

    private static Map<String, Object> parameters(JsonNode n, String where) {
        if (n == null || n.isNull()) return Map.of();
        if (!n.isObject()) throw ServeException.badRequest("'" + where + "' must be an object");
        Map<String, Object> m = new LinkedHashMap<>();
        for (var it = n.fields(); it.hasNext(); ) {
            var e = it.next();
            JsonNode v = e.getValue();
            Object value;
            if (v.isBoolean()) value = v.asBoolean();
            else if (v.isIntegralNumber() && v.canConvertToLong()) value = v.asLong();
            else if (v.isNumber()) value = v.asDouble();
            else if (v.isTextual()) value = v.asText();
            else throw ServeException.badRequest("'" + where + "." + e.getKey() + "' must be a bool, number or string");
            m.put(e.getKey(), value);
        }
        return m;
    }

    /** Flattens {@code data} (flat or nested arrays) into raw little-endian elements of {@code dt}. */
    private static byte[] elements(JsonNode data, Datatype dt, long count, String where, Limits limits) {
        List<JsonNode> leaves = new ArrayList<>();
        flatten(data, leaves, where, 0, count);
        if (leaves.size() != count) {
            throw ServeException.badRequest(where + ": 'data' has " + leaves.size() + " elements but the shape needs " + count);
        }
        if (dt == Datatype.BYTES) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (int i = 0; i < leaves.size(); i++) {
                JsonNode v = leaves.get(i);
                if (!v.isTextual()) throw ServeException.badRequest(where + " (BYTES) element " + i + ": expected a string, got " + v);
                byte[] s = v.asText().getBytes(StandardCharsets.UTF_8);
                out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(s.length).array());
                out.writeBytes(s);
                if (out.size() > limits.maxTensorBytes()) throw ServeException.tooLarge(where + ": over the limit of " + limits.maxTensorBytes() + " bytes per tensor");
            }
            return out.toByteArray();
        }
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(count * dt.elementBytes())).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < leaves.size(); i++) put(b, dt, leaves.get(i), where, i);
        return b.array();
    }

    private static void flatten(JsonNode n, List<JsonNode> out, String where, int depth, long count) {
        if (depth > 64) throw ServeException.badRequest(where + ": 'data' is nested more than 64 deep");
        if (n.isArray()) {
            for (JsonNode c : n) {
                flatten(c, out, where, depth + 1, count);
                if (out.size() > count) throw ServeException.badRequest(where + ": 'data' has more elements than the shape's " + count);
            }
        } else {
            out.add(n);
        }
    }

    private static void put(ByteBuffer b, Datatype dt, JsonNode v, String where, int i) {
        switch (dt) {
            case BOOL -> {
                if (!v.isBoolean()) throw element(where, dt, i, "true or false", v);
                b.put((byte) (v.asBoolean() ? 1 : 0));
            }
            case FP16 -> b.putShort(Float.floatToFloat16(floating(v, where, dt, i).floatValue()));
            case FP32 -> b.putFloat(floating(v, where, dt, i).floatValue());
            case FP64 -> b.putDouble(floating(v, where, dt, i));
            case UINT64 -> {
                if (!v.isIntegralNumber()) throw element(where, dt, i, "an integer in [0, 2^64)", v);
                BigInteger x = v.bigIntegerValue();
                if (x.signum() < 0 || x.compareTo(UINT64_MAX) > 0) throw element(where, dt, i, "an integer in [0, 2^64)", v);
                b.putLong(x.longValue());
            }
            default -> {
                long lo, hi;
                switch (dt) {
                    case INT8 -> { lo = Byte.MIN_VALUE; hi = Byte.MAX_VALUE; }
                    case UINT8 -> { lo = 0; hi = 255; }
                    case INT16 -> { lo = Short.MIN_VALUE; hi = Short.MAX_VALUE; }
                    case UINT16 -> { lo = 0; hi = 65535; }
                    case INT32 -> { lo = Integer.MIN_VALUE; hi = Integer.MAX_VALUE; }
                    case UINT32 -> { lo = 0; hi = 0xFFFFFFFFL; }
                    default -> { lo = Long.MIN_VALUE; hi = Long.MAX_VALUE; }
                }
                if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < lo || v.asLong() > hi) {
                    throw element(where, dt, i, "an integer in [" + lo + ", " + hi + "]", v);
                }
                long x = v.asLong();
                switch (dt.elementBytes()) {
                    case 1 -> b.put((byte) x);
                    case 2 -> b.putShort((short) x);
                    case 4 -> b.putInt((int) x);
                    default -> b.putLong(x);
                }
            }
        }
    }

    private static Double floating(JsonNode v, String where, Datatype dt, int i) {
        if (v.isNumber()) return v.asDouble();
        if (v.isTextual()) {
            switch (v.asText()) {
                case "NaN": return Double.NaN;
                case "Infinity", "inf": return Double.POSITIVE_INFINITY;
                case "-Infinity", "-inf": return Double.NEGATIVE_INFINITY;
                default: break;
            }
        }
        throw element(where, dt, i, "a number", v);
    }

    private static ServeException element(String where, Datatype dt, int i, String want, JsonNode got) {
        String g = got.toString();
        if (g.length() > 40) g = g.substring(0, 40) + "...";
        return ServeException.badRequest(where + " (" + dt + ") element " + i + ": expected " + want + ", got " + g);
    }

    private static void checkBytesElements(byte[] data, long count, String where) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < count; i++) {
            if (b.remaining() < 4) throw ServeException.badRequest(where + " (BYTES): binary data ends inside element " + i);
            int len = b.getInt();
            if (len < 0 || len > b.remaining()) throw ServeException.badRequest(where + " (BYTES): element " + i + " claims " + len + " bytes");
            b.position(b.position() + len);
        }
        if (b.hasRemaining()) throw ServeException.badRequest(where + " (BYTES): " + b.remaining() + " bytes after the last element");
    }

    private static void writeElements(JsonGenerator g, InferTensor t) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(t.data()).order(ByteOrder.LITTLE_ENDIAN);
        g.writeStartArray();
        switch (t.datatype()) {
            case BOOL -> { while (b.hasRemaining()) g.writeBoolean(b.get() != 0); }
            case INT8 -> { while (b.hasRemaining()) g.writeNumber(b.get()); }
            case UINT8 -> { while (b.hasRemaining()) g.writeNumber(b.get() & 0xFF); }
            case INT16 -> { while (b.hasRemaining()) g.writeNumber(b.getShort()); }
            case UINT16 -> { while (b.hasRemaining()) g.writeNumber(b.getShort() & 0xFFFF); }
            case INT32 -> { while (b.hasRemaining()) g.writeNumber(b.getInt()); }
            case UINT32 -> { while (b.hasRemaining()) g.writeNumber(b.getInt() & 0xFFFFFFFFL); }
            case INT64 -> { while (b.hasRemaining()) g.writeNumber(b.getLong()); }
            case UINT64 -> { while (b.hasRemaining()) g.writeNumber(Long.toUnsignedString(b.getLong())); }
            case FP16 -> { while (b.hasRemaining()) g.writeNumber(Float.float16ToFloat(b.getShort())); }
            case FP32 -> { while (b.hasRemaining()) g.writeNumber(b.getFloat()); }
            case FP64 -> { while (b.hasRemaining()) g.writeNumber(b.getDouble()); }
            case BYTES -> {
                while (b.hasRemaining()) {
                    byte[] s = new byte[b.getInt()];
                    b.get(s);
                    g.writeString(new String(s, StandardCharsets.UTF_8));
                }
            }
        }
        g.writeEndArray();
    }

    private static String firstLine(Exception e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
