package dev.sluice.graph.cost;

import dev.sluice.kernels.SluiceException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON reader and writer for the pipeline's values (cost models, device descriptions,
 * placements). No JSON library is on the classpath, and these files are small. Reading gives
 * {@code Map<String,Object>} (insertion order), {@code List<Object>}, {@code String}, {@code Double},
 * {@code Boolean} or {@code null}; a syntax error names the source and the character offset. Writing takes
 * the same types (and any {@link Number}) and indents two spaces.
 */
public final class Json {
    private final String text;
    private final String source;
    private int pos;

    private Json(String text, String source) { this.text = text; this.source = source; }

    /** Parses one JSON value; {@code source} names the file or resource in errors. */
    public static Object parse(String text, String source) {
        Json j = new Json(text, source);
        j.ws();
        Object v = j.value();
        j.ws();
        if (j.pos != text.length()) throw j.error("unexpected text after the value");
        return v;
    }

    /** Parses a JSON object, refusing anything else. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String text, String source) {
        Object v = parse(text, source);
        if (!(v instanceof Map)) throw new SluiceException(source + ": expected a JSON object");
        return (Map<String, Object>) v;
    }

    private SluiceException error(String what) {
        return new SluiceException(source + ": invalid JSON at character " + pos + ": " + what);
    }

    private void ws() {
        while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) pos++;
    }

    private Object value() {
        if (pos >= text.length()) throw error("unexpected end");
        char c = text.charAt(pos);
        switch (c) {
            case '{': return object();
            case '[': return array();
            case '"': return string();
            case 't': return literal("true", Boolean.TRUE);
            case 'f': return literal("false", Boolean.FALSE);
            case 'n': return literal("null", null);
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return number();
                throw error("unexpected '" + c + "'");
        }
    }

    private Object literal(String word, Object v) {
        if (!text.startsWith(word, pos)) throw error("expected " + word);
        pos += word.length();
        return v;
    }

    private Map<String, Object> object() {
        Map<String, Object> m = new LinkedHashMap<>();
        pos++;
        ws();
        if (pos < text.length() && text.charAt(pos) == '}') { pos++; return m; }
        while (true) {
            ws();
            if (pos >= text.length() || text.charAt(pos) != '"') throw error("expected a field name");
            String k = string();
            if (m.containsKey(k)) throw error("field \"" + k + "\" appears twice");
            ws();
            if (pos >= text.length() || text.charAt(pos) != ':') throw error("expected ':' after \"" + k + "\"");
            pos++;
            ws();
            m.put(k, value());
            ws();
            if (pos >= text.length()) throw error("unexpected end in an object");
            char c = text.charAt(pos++);
            if (c == '}') return m;
            if (c != ',') throw error("expected ',' or '}'");
        }
    }

    private List<Object> array() {
        List<Object> l = new ArrayList<>();
        pos++;
        ws();
        if (pos < text.length() && text.charAt(pos) == ']') { pos++; return l; }
        while (true) {
            ws();
            l.add(value());
            ws();
            if (pos >= text.length()) throw error("unexpected end in an array");
            char c = text.charAt(pos++);
            if (c == ']') return l;
            if (c != ',') throw error("expected ',' or ']'");
        }
    }

    private String string() {
        StringBuilder b = new StringBuilder();
        pos++;
        while (true) {
            if (pos >= text.length()) throw error("unterminated string");
            char c = text.charAt(pos++);
            if (c == '"') return b.toString();
            if (c < 0x20) throw error("control character in a string");
            if (c != '\\') { b.append(c); continue; }
            if (pos >= text.length()) throw error("unterminated escape");
            char e = text.charAt(pos++);
            switch (e) {
                case '"', '\\', '/' -> b.append(e);
                case 'b' -> b.append('\b');
                case 'f' -> b.append('\f');
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case 'u' -> {
                    if (pos + 4 > text.length()) throw error("short \\u escape");
                    try {
                        b.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16));
                    } catch (NumberFormatException x) {
                        throw error("bad \\u escape");
                    }
                    pos += 4;
                }
                default -> throw error("bad escape \\" + e);
            }
        }
    }

    private Double number() {
        int start = pos;
        if (text.charAt(pos) == '-') pos++;
        while (pos < text.length() && "0123456789.eE+-".indexOf(text.charAt(pos)) >= 0) pos++;
        try {
            return Double.parseDouble(text.substring(start, pos));
        } catch (NumberFormatException e) {
            pos = start;
            throw error("bad number");
        }
    }

    /** Writes a value as indented JSON. Non-finite numbers are refused: JSON has none. */
    public static String write(Object v) {
        StringBuilder b = new StringBuilder();
        write(v, b, 0);
        return b.append('\n').toString();
    }

    private static void write(Object v, StringBuilder b, int depth) {
        switch (v) {
            case null -> b.append("null");
            case String s -> quote(s, b);
            case Boolean x -> b.append(x);
            case Double d -> number(d, b);
            case Float f -> number(f, b);
            case Number n -> b.append(n.longValue());
            case Map<?, ?> m -> {
                if (m.isEmpty()) { b.append("{}"); return; }
                b.append("{\n");
                int i = 0;
                for (var e : m.entrySet()) {
                    indent(b, depth + 1);
                    quote(String.valueOf(e.getKey()), b);
                    b.append(": ");
                    write(e.getValue(), b, depth + 1);
                    b.append(++i < m.size() ? ",\n" : "\n");
                }
                indent(b, depth);
                b.append('}');
            }
            case List<?> l -> {
                // lists of scalars on one line keep tables of numbers readable
                boolean flat = l.stream().noneMatch(x -> x instanceof Map || x instanceof List);
                if (l.isEmpty()) { b.append("[]"); return; }
                b.append(flat ? "[" : "[\n");
                for (int i = 0; i < l.size(); i++) {
                    if (!flat) indent(b, depth + 1);
                    write(l.get(i), b, depth + 1);
                    if (i + 1 < l.size()) b.append(flat ? ", " : ",\n");
                }
                if (!flat) { b.append('\n'); indent(b, depth); }
                b.append(']');
            }
            default -> throw new IllegalArgumentException("cannot write " + v.getClass() + " as JSON");
        }
    }

    private static void number(double d, StringBuilder b) {
        if (!Double.isFinite(d)) throw new IllegalArgumentException("JSON has no " + d);
        if (d == Math.rint(d) && Math.abs(d) < 1e15) b.append((long) d);
        else b.append(d);
    }

    private static void indent(StringBuilder b, int depth) { b.append("  ".repeat(depth)); }

    private static void quote(String s, StringBuilder b) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        b.append('"');
    }

    // ---- typed access with errors that name the field ----

    /** A required finite number field. */
    public static double number(Map<String, Object> m, String field, String source) {
        Object v = m.get(field);
        if (!(v instanceof Double d)) {
            throw new SluiceException(source + ": field \"" + field + "\" must be a number, got " + (v == null ? "nothing" : describe(v)));
        }
        return d;
    }

    /** A required string field. */
    public static String string(Map<String, Object> m, String field, String source) {
        Object v = m.get(field);
        if (!(v instanceof String s)) {
            throw new SluiceException(source + ": field \"" + field + "\" must be a string, got " + (v == null ? "nothing" : describe(v)));
        }
        return s;
    }

    /** A required list field. */
    @SuppressWarnings("unchecked")
    public static List<Object> list(Map<String, Object> m, String field, String source) {
        Object v = m.get(field);
        if (!(v instanceof List)) throw new SluiceException(source + ": field \"" + field + "\" must be a list");
        return (List<Object>) v;
    }

    /** A required object field. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> object(Map<String, Object> m, String field, String source) {
        Object v = m.get(field);
        if (!(v instanceof Map)) throw new SluiceException(source + ": field \"" + field + "\" must be an object");
        return (Map<String, Object>) v;
    }

    /** An element of a list as an object. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> asObject(Object v, String where) {
        if (!(v instanceof Map)) throw new SluiceException(where + " must be an object");
        return (Map<String, Object>) v;
    }

    private static String describe(Object v) {
        return v instanceof String s ? "the string \"" + s + "\"" : v instanceof Map ? "an object" : v instanceof List ? "a list" : String.valueOf(v);
    }
}
