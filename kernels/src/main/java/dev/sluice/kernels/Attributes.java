package dev.sluice.kernels;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A node's attributes by name, with typed accessors that name the attribute when it has the wrong kind. */
public final class Attributes {
    public static final Attributes EMPTY = new Attributes(Map.of());

    private final Map<String, Attr> values;

    public Attributes(Map<String, Attr> values) { this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values)); }

    public Map<String, Attr> asMap() { return values; }
    public boolean has(String name) { return values.containsKey(name); }
    public Attr get(String name) { return values.get(name); }

    public long getInt(String name, long dflt) {
        Attr a = values.get(name);
        if (a == null) return dflt;
        if (a instanceof Attr.Int i) return i.value();
        throw wrongKind(name, "int", a);
    }

    public long getInt(String name) {
        Attr a = required(name);
        if (a instanceof Attr.Int i) return i.value();
        throw wrongKind(name, "int", a);
    }

    public float getFloat(String name, float dflt) {
        Attr a = values.get(name);
        if (a == null) return dflt;
        if (a instanceof Attr.Float f) return f.value();
        if (a instanceof Attr.Int i) return i.value();
        throw wrongKind(name, "float", a);
    }

    public String getString(String name, String dflt) {
        Attr a = values.get(name);
        if (a == null) return dflt;
        if (a instanceof Attr.Str s) return s.value();
        throw wrongKind(name, "string", a);
    }

    /** The ints, or null if absent. */
    public long[] getInts(String name) {
        Attr a = values.get(name);
        if (a == null) return null;
        if (a instanceof Attr.Ints i) return i.values().clone();
        if (a instanceof Attr.Int i) return new long[] {i.value()};
        throw wrongKind(name, "ints", a);
    }

    /** The floats, or null if absent. */
    public float[] getFloats(String name) {
        Attr a = values.get(name);
        if (a == null) return null;
        if (a instanceof Attr.Floats f) return f.values().clone();
        if (a instanceof Attr.Float f) return new float[] {f.value()};
        throw wrongKind(name, "floats", a);
    }

    public List<String> getStrings(String name) {
        Attr a = values.get(name);
        if (a == null) return null;
        if (a instanceof Attr.Strs s) return s.values();
        throw wrongKind(name, "strings", a);
    }

    public Tensor getTensor(String name) {
        Attr a = values.get(name);
        if (a == null) return null;
        if (a instanceof Attr.TensorValue t) return t.value();
        throw wrongKind(name, "tensor", a);
    }

    public Subgraph getGraph(String name) {
        Attr a = required(name);
        if (a instanceof Attr.Graph g) return g.value();
        throw wrongKind(name, "graph", a);
    }

    private Attr required(String name) {
        Attr a = values.get(name);
        if (a == null) throw new KernelException("required attribute '" + name + "' is missing");
        return a;
    }

    private static KernelException wrongKind(String name, String want, Attr got) {
        return new KernelException("attribute '" + name + "' should be " + want + " but is " + got.getClass().getSimpleName());
    }

    @Override public String toString() { return values.toString(); }
}
