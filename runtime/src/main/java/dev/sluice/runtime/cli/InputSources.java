package dev.sluice.runtime.cli;

import dev.sluice.graph.TensorProtos;
import dev.sluice.graph.TensorSizes;
import dev.sluice.graph.Value;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Builds a run's inputs from {@code --input NAME=FILE.pb} options, filling the rest with seeded random values. */
public final class InputSources {
    private InputSources() {}

    public static Map<String, Tensor> build(List<Value> modelInputs, List<String> inputSpecs, List<String> dimSpecs,
                                            long seed, PrintStream out) {
        Map<String, Tensor> given = new LinkedHashMap<>();
        for (String spec : inputSpecs) {
            int eq = spec.indexOf('=');
            if (eq <= 0) throw new SluiceException("--input expects NAME=FILE.pb, got '" + spec + "'");
            String name = spec.substring(0, eq);
            if (modelInputs.stream().noneMatch(v -> v.name().equals(name))) {
                throw new SluiceException("--input " + name + ": the model has no input '" + name + "'; its inputs are "
                    + modelInputs.stream().map(Value::name).toList());
            }
            if (given.containsKey(name)) {
                // letting the last one win would run on a file the user may not have meant
                throw new SluiceException("--input " + name + " is given twice; give each input once");
            }
            String file = spec.substring(eq + 1);
            if (file.isEmpty()) throw new SluiceException("--input expects NAME=FILE.pb, got '" + spec + "' (no file)");
            given.put(name, TensorProtos.read(Path.of(file)));
        }
        Map<String, Long> dims = parseDims(dimSpecs);
        Map<String, Tensor> all = new LinkedHashMap<>();
        SplittableRandom rnd = new SplittableRandom(seed);
        for (Value v : modelInputs) {
            Tensor t = given.get(v.name());
            if (t == null) {
                Shape s = concreteShape(v, dims);
                DType dt = v.type().dtype() == null ? DType.FLOAT32 : v.type().dtype();
                TensorSizes.allocatableBytes(dt, s.dims(), "input '" + v.name() + "': seeded random values");
                t = random(dt, s, rnd);
                out.println("input " + v.name() + ": no file given, using seeded random " + t.dtype() + s + " (seed " + seed + ")");
            }
            all.put(v.name(), t);
        }
        return all;
    }

    static Map<String, Long> parseDims(List<String> specs) {
        Map<String, Long> r = new HashMap<>();
        for (String s : specs) {
            int eq = s.indexOf('=');
            if (eq <= 0) throw new SluiceException("--dim expects SYMBOL=SIZE, got '" + s + "'");
            String sym = s.substring(0, eq);
            long size;
            try {
                size = Long.parseLong(s.substring(eq + 1).trim());
            } catch (NumberFormatException e) {
                throw new SluiceException("--dim expects SYMBOL=SIZE with a whole number SIZE, got '" + s + "'");
            }
            if (size < 0) throw new SluiceException("--dim " + sym + " must not be negative, got " + size);
            if (r.put(sym, size) != null) throw new SluiceException("--dim " + sym + " is given twice; give each symbol once");
        }
        return r;
    }

    /**
     * The input's shape with symbolic dims from --dim (default 1) and unknown dims as 1. Its element count and
     * bytes are checked (overflow, what this JVM can allocate) by {@link #build} before anything is allocated.
     */
    public static Shape concreteShape(Value v, Map<String, Long> dims) {
        SymShape s = v.type().shape();
        if (!s.hasRank()) throw new SluiceException("input '" + v.name() + "' has no declared shape; give it with --input");
        long[] d = new long[s.rank()];
        for (int i = 0; i < d.length; i++) {
            Dim x = s.dim(i);
            d[i] = x instanceof Dim.Known k ? k.value() : x instanceof Dim.Symbol sym ? dims.getOrDefault(sym.name(), 1L) : 1L;
        }
        TensorSizes.elementCount(d, "input '" + v.name() + "' " + s + " with sizes " + java.util.Arrays.toString(d));
        return Shape.of(d);
    }

    /** Floats uniform in [-1, 1), integers in [0, 10), booleans fair. */
    public static Tensor random(DType dt, Shape s, SplittableRandom rnd) {
        Tensor t = Tensor.allocate(dt, s);
        long n = s.elementCount();
        for (long i = 0; i < n; i++) {
            if (dt.isFloatingPoint()) t.setDouble(i, rnd.nextDouble() * 2 - 1);
            else if (dt == DType.BOOL) t.setLong(i, rnd.nextInt(2));
            else t.setLong(i, rnd.nextInt(10));
        }
        return t;
    }
}
