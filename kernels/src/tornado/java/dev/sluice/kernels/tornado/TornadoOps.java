package dev.sluice.kernels.tornado;

import static uk.ac.manchester.tornado.api.enums.DataTransferMode.EVERY_EXECUTION;
import static uk.ac.manchester.tornado.api.enums.DataTransferMode.FIRST_EXECUTION;

import dev.sluice.kernels.AcceleratorOptions;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.BiFunction;
import java.util.function.Function;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.WorkerGrid1D;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/** The ops with TornadoVM kernels, each wrapping the CPU kernel it falls back to. */
final class TornadoOps {
    private TornadoOps() {}

    /** The ops with a TornadoVM kernel, each reading {@code options} and falling back to {@code cpu}'s kernel. */
    static Map<String, OpKernel> kernels(TornadoBackend b, OpRegistry cpu, AcceleratorOptions options) {
        Map<String, OpKernel> m = new LinkedHashMap<>();
        m.put("MatMul", new MatMul(b, cpu.find("", "MatMul")));
        m.put("Gemm", new Gemm(b, cpu.find("", "Gemm")));
        for (var e : Map.of("Add", Kernels.ADD, "Sub", Kernels.SUB, "Mul", Kernels.MUL, "Div", Kernels.DIV).entrySet()) {
            m.put(e.getKey(), new Binary(b, e.getKey(), cpu.find("", e.getKey()), e.getValue()));
        }
        for (var e : Map.of("Relu", Kernels.RELU, "Sigmoid", Kernels.SIGMOID, "Tanh", Kernels.TANH, "Exp", Kernels.EXP,
                "Neg", Kernels.NEG, "Sqrt", Kernels.SQRT, "Abs", Kernels.ABS, "LeakyRelu", Kernels.LEAKY_RELU).entrySet()) {
            m.put(e.getKey(), new Unary(b, e.getKey(), cpu.find("", e.getKey()), e.getValue()));
        }
        m.put("Softmax", new Softmax(b, "Softmax", cpu.find("", "Softmax"), false));
        m.put("LogSoftmax", new Softmax(b, "LogSoftmax", cpu.find("", "LogSoftmax"), true));
        m.put("LayerNormalization", new LayerNorm(b, cpu.find("", "LayerNormalization")));
        m.put("Conv", new Conv(b, cpu.find("", "Conv")));
        m.put("MaxPool", new Pool(b, "MaxPool", cpu.find("", "MaxPool"), true));
        m.put("AveragePool", new Pool(b, "AveragePool", cpu.find("", "AveragePool"), false));
        for (var e : Map.of("ReduceSum", Kernels.R_SUM, "ReduceMean", Kernels.R_MEAN, "ReduceMax", Kernels.R_MAX,
                "ReduceMin", Kernels.R_MIN).entrySet()) {
            m.put(e.getKey(), new Reduce(b, e.getKey(), cpu.find("", e.getKey()), e.getValue(), false));
        }
        m.put("GlobalAveragePool", new Reduce(b, "GlobalAveragePool", cpu.find("", "GlobalAveragePool"), Kernels.R_MEAN, true));
        m.put("GlobalMaxPool", new Reduce(b, "GlobalMaxPool", cpu.find("", "GlobalMaxPool"), Kernels.R_MAX, true));
        m.put("LSTM", new Lstm(b, cpu.find("", "LSTM")));
        m.values().removeIf(k -> ((TornadoOp) k).cpu == null);
        for (OpKernel k : m.values()) ((TornadoOp) k).options = options;
        return m;
    }

    static String firstLine(Throwable e) {
        String s = String.valueOf(e.getMessage() == null ? e.toString() : e.getMessage()).strip();
        s = s.replaceAll("\u001B\\[[0-9;]*m", "");
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** Compiles (once per key) and runs the task graph on these tensors. */
    static void launch(TornadoOp o, String key, Tensor[] ts, BiFunction<String, FloatArray[], TaskGraph> graph, Function<String, GridScheduler> grid) {
        launch(o, key, ts, null, graph, grid);
    }

    /**
     * Which of these inputs (ctx input indices, -1 for none) are weights to keep resident, by slot. Weights stay on
     * the device between calls unless the registry's {@link AcceleratorOptions#residentWeights()} is off: a slot is
     * resident when its tensor is a graph initializer; the plan is then keyed by that tensor (one plan per weight set).
     */
    static boolean[] resident(AcceleratorOptions options, ExecContext ctx, int slots, int... inputBySlot) {
        boolean[] r = new boolean[slots];
        if (!options.residentWeights()) return r;
        for (int s = 0; s < inputBySlot.length; s++) {
            int in = inputBySlot[s];
            r[s] = in >= 0 && ctx.hasInput(in) && ctx.inputIsInitializer(in);
        }
        return r;
    }

    /** transferToDevice: resident slots on the first execution only, the others on every execution. */
    static TaskGraph toDevice(TaskGraph g, FloatArray[] s, boolean[] resident, int... slots) {
        for (int i : slots) g = g.transferToDevice(resident != null && resident[i] ? FIRST_EXECUTION : EVERY_EXECUTION, s[i]);
        return g;
    }

    static void launch(TornadoOp o, String key, Tensor[] ts, boolean[] resident, BiFunction<String, FloatArray[], TaskGraph> graph,
                       Function<String, GridScheduler> grid) {
        StringBuilder kb = new StringBuilder(o.op).append('|').append(key);
        if (resident != null) for (int i = 0; i < ts.length; i++) if (resident[i]) kb.append("|w").append(i).append('=').append(o.backend.tensorId(ts[i]));
        String k = kb.toString();
        Plan p = o.backend.plan(k, () -> {
            String name = o.backend.newPlanName();
            return new Plan(name, ts, resident, s -> graph.apply(name, s), grid == null ? null : grid.apply(name), o.backend.tornadoDevice(), o.backend);
        });
        try {
            p.run(o.options.profile(), ts);
        } catch (RuntimeException e) {
            if (p.calls == 0) o.backend.poison(k, firstLine(e));
            throw e;
        }
    }

    // ---------------------------------------------------------------------------------------------------------

    static final class MatMul extends TornadoOp {
        MatMul(TornadoBackend b, OpKernel cpu) { super(b, "MatMul", cpu); }

        @Override String reject(ExecContext ctx) {
            String f = floats(ctx, 0, 1);
            if (f != null) return f;
            Shape a = ctx.input(0).shape(), bs = ctx.input(1).shape();
            if (a.rank() < 2 || bs.rank() < 2) return "1-D operand";
            if (a.dim(a.rank() - 1) != bs.dim(bs.rank() - 2)) return "inner dimensions differ";
            if (bs.rank() > 2 && !Arrays.equals(Arrays.copyOf(a.dims(), a.rank() - 2), Arrays.copyOf(bs.dims(), bs.rank() - 2))) {
                return "batch dimensions broadcast";
            }
            return null;
        }

        @Override void run(ExecContext ctx) {
            Tensor a = ctx.input(0), b = ctx.input(1);
            Shape as = a.shape(), bs = b.shape();
            int k = i(as.dim(as.rank() - 1)), n = i(bs.dim(bs.rank() - 1));
            long[] od = as.dims();
            od[od.length - 1] = n;
            Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(od));
            int rows = i(a.elementCount() / k);
            int m = bs.rank() > 2 ? i(as.dim(as.rank() - 2)) : rows;
            int bStride = bs.rank() > 2 ? k * n : 0;
            boolean[] res = resident(options, ctx, 3, 0, 1, -1);
            launch(this, shapes(ctx, 0, 1), new Tensor[] {a, b, y}, res, (name, s) -> toDevice(new TaskGraph(name), s, res, 0, 1)
                .task("t", Kernels::matmul, s[0], s[1], s[2], rows, m, k, n, bStride)
                .transferToHost(EVERY_EXECUTION, s[2]), null);
        }
    }

    static final class Gemm extends TornadoOp {
        Gemm(TornadoBackend b, OpKernel cpu) { super(b, "Gemm", cpu); }

        @Override String reject(ExecContext ctx) {
            String f = floats(ctx, 0, 1, 2);
            if (f != null) return f;
            if (ctx.input(0).rank() != 2 || ctx.input(1).rank() != 2) return "operands not 2-D";
            if (ctx.hasInput(2) && ctx.input(2).rank() > 2) return "C has rank > 2";
            return null;
        }

        @Override void run(ExecContext ctx) {
            Attributes at = ctx.attributes();
            Tensor a = ctx.input(0), b = ctx.input(1);
            int ta = (int) at.getInt("transA", 0), tb = (int) at.getInt("transB", 0);
            float alpha = at.getFloat("alpha", 1f), beta0 = at.getFloat("beta", 1f);
            int m = i(ta == 1 ? a.shape().dim(1) : a.shape().dim(0)), k = i(ta == 1 ? a.shape().dim(0) : a.shape().dim(1));
            int n = i(tb == 1 ? b.shape().dim(0) : b.shape().dim(1));
            Tensor c = ctx.hasInput(2) ? ctx.input(2) : a; // absent C: any slot, never read with beta 0
            float beta = ctx.hasInput(2) ? beta0 : 0f;
            int cRow = 0, cCol = 0;
            if (ctx.hasInput(2)) {
                Shape cs = c.shape();
                long r = cs.rank() == 2 ? cs.dim(0) : 1, cc = cs.rank() >= 1 ? cs.dim(cs.rank() - 1) : 1;
                cCol = cc == 1 ? 0 : 1;
                cRow = r == 1 ? 0 : (int) cc;
            }
            Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(m, n));
            int cr = cRow, ccol = cCol;
            String key = shapes(ctx, 0, 1, 2) + ta + tb + alpha + "," + beta;
            boolean[] res = resident(options, ctx, 4, 0, 1, ctx.hasInput(2) ? 2 : -1, -1);
            launch(this, key, new Tensor[] {a, b, c, y}, res, (name, s) -> toDevice(new TaskGraph(name), s, res, 0, 1, 2)
                .task("t", Kernels::gemm, s[0], s[1], s[2], s[3], m, k, n, ta, tb, alpha, beta, cr, ccol)
                .transferToHost(EVERY_EXECUTION, s[3]), null);
        }
    }

    static final class Binary extends TornadoOp {
        final int code;

        Binary(TornadoBackend b, String op, OpKernel cpu, int code) {
            super(b, op, cpu);
            this.code = code;
        }

        @Override String reject(ExecContext ctx) {
            if (ctx.opset() < 7) return "opset < 7 (legacy broadcast attribute)";
            String f = floats(ctx, 0, 1);
            if (f != null) return f;
            return broadcast(ctx.input(0).shape(), ctx.input(1).shape()) == null ? "shapes do not broadcast" : null;
        }

        @Override void run(ExecContext ctx) {
            Tensor a = ctx.input(0), b = ctx.input(1);
            Shape out = broadcast(a.shape(), b.shape());
            Tensor y = ctx.output(0, DType.FLOAT32, out);
            int rank = Math.max(1, out.rank());
            int[] meta = new int[3 * rank];
            long[] od = out.rank() == 0 ? new long[] {1} : out.dims();
            for (int d = 0; d < rank; d++) meta[d] = i(od[d]);
            strides(a.shape(), od, meta, rank);
            strides(b.shape(), od, meta, 2 * rank);
            int n = i(y.elementCount());
            launch(this, shapes(ctx, 0, 1), new Tensor[] {a, b, y}, (name, s) -> {
                IntArray mt = IntArray.fromArray(meta);
                return new TaskGraph(name)
                    .transferToDevice(FIRST_EXECUTION, mt)
                    .transferToDevice(EVERY_EXECUTION, s[0], s[1])
                    .task("t", Kernels::binary, s[0], s[1], s[2], mt, rank, n, code)
                    .transferToHost(EVERY_EXECUTION, s[2]);
            }, null);
        }

        /** Row-major strides of shape s right-aligned to out's dims, 0 on broadcast axes, into meta[at..]. */
        static void strides(Shape s, long[] od, int[] meta, int at) {
            int rank = od.length, off = rank - s.rank();
            long st = 1;
            for (int d = rank - 1; d >= 0; d--) {
                int sd = d - off;
                long dim = sd >= 0 ? s.dim(sd) : 1;
                meta[at + d] = dim == 1 ? 0 : (int) st;
                st *= dim;
            }
        }

        static Shape broadcast(Shape a, Shape b) {
            int r = Math.max(a.rank(), b.rank());
            long[] d = new long[r];
            for (int i = 0; i < r; i++) {
                long x = i - (r - a.rank()) >= 0 ? a.dim(i - (r - a.rank())) : 1;
                long y = i - (r - b.rank()) >= 0 ? b.dim(i - (r - b.rank())) : 1;
                if (x != y && x != 1 && y != 1) return null;
                d[i] = x == 1 ? y : x;
            }
            return Shape.of(d);
        }
    }

    static final class Unary extends TornadoOp {
        final int code;

        Unary(TornadoBackend b, String op, OpKernel cpu, int code) {
            super(b, op, cpu);
            this.code = code;
        }

        @Override String reject(ExecContext ctx) { return floats(ctx, 0); }

        @Override void run(ExecContext ctx) {
            Tensor x = ctx.input(0);
            Tensor y = ctx.output(0, DType.FLOAT32, x.shape());
            int n = i(x.elementCount());
            float alpha = ctx.attributes().getFloat("alpha", 0.01f);
            launch(this, shapes(ctx, 0) + alpha, new Tensor[] {x, y}, (name, s) -> new TaskGraph(name)
                .transferToDevice(EVERY_EXECUTION, s[0])
                .task("t", Kernels::unary, s[0], s[1], n, code, alpha)
                .transferToHost(EVERY_EXECUTION, s[1]), null);
        }
    }

    static final class Softmax extends TornadoOp {
        final boolean log;

        Softmax(TornadoBackend b, String op, OpKernel cpu, boolean log) {
            super(b, op, cpu);
            this.log = log;
        }

        @Override String reject(ExecContext ctx) { return floats(ctx, 0); }

        @Override void run(ExecContext ctx) {
            Tensor x = ctx.input(0);
            Shape s0 = x.shape();
            int rank = Math.max(1, s0.rank());
            boolean legacy = ctx.opset() < 13;
            int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", legacy ? 1 : -1), rank);
            long[] d = s0.rank() == 0 ? new long[] {1} : s0.dims();
            long outer = 1, len = 1, inner = 1;
            for (int k = 0; k < d.length; k++) {
                if (k < axis) outer *= d[k];
                else if (k == axis || legacy) len *= d[k];
                else inner *= d[k];
            }
            Tensor y = ctx.output(0, DType.FLOAT32, s0);
            int rows = i(outer * inner), l = i(len), in = i(inner), lg = log ? 1 : 0;
            launch(this, shapes(ctx, 0) + axis + legacy, new Tensor[] {x, y}, (name, s) -> new TaskGraph(name)
                .transferToDevice(EVERY_EXECUTION, s[0])
                .task("t", Kernels::softmax, s[0], s[1], rows, l, in, lg)
                .transferToHost(EVERY_EXECUTION, s[1]), null);
        }
    }

    static final class LayerNorm extends TornadoOp {
        LayerNorm(TornadoBackend b, OpKernel cpu) { super(b, "LayerNormalization", cpu); }

        @Override String reject(ExecContext ctx) {
            String f = floats(ctx, 0, 1, 2);
            if (f != null) return f;
            if (ctx.outputCount() > 1) return "Mean/InvStdDev outputs requested";
            Shape xs = ctx.input(0).shape();
            int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", -1), xs.rank());
            long len = xs.product(axis, xs.rank());
            if (ctx.input(1).elementCount() != len) return "Scale broadcasts";
            if (ctx.hasInput(2) && ctx.input(2).elementCount() != len) return "B broadcasts";
            if (ctx.attributes().getInt("stash_type", 1) != 1) return "stash_type " + ctx.attributes().getInt("stash_type", 1);
            return null;
        }

        @Override void run(ExecContext ctx) {
            Tensor x = ctx.input(0), sc = ctx.input(1);
            Tensor bias = ctx.hasInput(2) ? ctx.input(2) : sc;
            int hasBias = ctx.hasInput(2) ? 1 : 0;
            Shape xs = x.shape();
            int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", -1), xs.rank());
            int len = i(xs.product(axis, xs.rank())), rows = i(x.elementCount() / len);
            float eps = ctx.attributes().getFloat("epsilon", 1e-5f);
            Tensor y = ctx.output(0, DType.FLOAT32, xs);
            launch(this, shapes(ctx, 0, 1, 2) + axis + "," + eps, new Tensor[] {x, sc, bias, y}, (name, s) -> new TaskGraph(name)
                .transferToDevice(EVERY_EXECUTION, s[0], s[1], s[2])
                .task("t", Kernels::layerNorm, s[0], s[1], s[2], s[3], rows, len, eps, hasBias)
                .transferToHost(EVERY_EXECUTION, s[3]), null);
        }
    }

    /** Pads, strides and dilations of a 2-D window op; null reason when the attributes are ones the kernels take. */
    record Window(int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh, int dw) {
        static Object of(Attributes at, long kh, long kw) {
            String ap = at.getString("auto_pad", "NOTSET");
            if (!ap.equals("NOTSET") && !ap.equals("VALID")) return "auto_pad " + ap;
            long[] st = at.getInts("strides"), pads = at.getInts("pads"), dil = at.getInts("dilations");
            if (st != null && st.length != 2 || pads != null && pads.length != 4 || dil != null && dil.length != 2) return "not 2-D";
            if (ap.equals("VALID")) pads = null;
            return new Window((int) kh, (int) kw, st == null ? 1 : (int) st[0], st == null ? 1 : (int) st[1],
                pads == null ? 0 : (int) pads[0], pads == null ? 0 : (int) pads[1], pads == null ? 0 : (int) pads[2],
                pads == null ? 0 : (int) pads[3], dil == null ? 1 : (int) dil[0], dil == null ? 1 : (int) dil[1]);
        }

        /** A 1-D window (Conv over [N, C, W]) as a 2-D one of height 1. */
        static Object of1d(Attributes at, long k) {
            String ap = at.getString("auto_pad", "NOTSET");
            if (!ap.equals("NOTSET") && !ap.equals("VALID")) return "auto_pad " + ap;
            long[] st = at.getInts("strides"), pads = at.getInts("pads"), dil = at.getInts("dilations");
            if (st != null && st.length != 1 || pads != null && pads.length != 2 || dil != null && dil.length != 1) return "not 1-D";
            if (ap.equals("VALID")) pads = null;
            return new Window(1, (int) k, 1, st == null ? 1 : (int) st[0], 0, pads == null ? 0 : (int) pads[0], 0,
                pads == null ? 0 : (int) pads[1], 1, dil == null ? 1 : (int) dil[0]);
        }

        int outH(long h) { return (int) ((h + pt + pb - ((long) (kh - 1) * dh + 1)) / sh + 1); }
        int outW(long w) { return (int) ((w + pl + pr - ((long) (kw - 1) * dw + 1)) / sw + 1); }
    }

    static final class Conv extends TornadoOp {
        Conv(TornadoBackend b, OpKernel cpu) { super(b, "Conv", cpu); }

        @Override String reject(ExecContext ctx) {
            String f = floats(ctx, 0, 1, 2);
            if (f != null) return f;
            int rank = ctx.input(0).rank();
            if (rank != 4 && rank != 3 || ctx.input(1).rank() != rank) return "not a 1-D or 2-D convolution";
            Shape w = ctx.input(1).shape();
            Object win = window(ctx);
            if (win instanceof String s) return s;
            long group = ctx.attributes().getInt("group", 1);
            if (ctx.input(0).shape().dim(1) != w.dim(1) * group || w.dim(0) % group != 0) return "channels do not match group";
            Window wi = (Window) win;
            Shape xs = as2d(ctx.input(0).shape());
            if (wi.outH(xs.dim(2)) <= 0 || wi.outW(xs.dim(3)) <= 0) return "empty output";
            return null;
        }

        static Object window(ExecContext ctx) {
            Shape w = ctx.input(1).shape();
            return w.rank() == 3 ? Window.of1d(ctx.attributes(), w.dim(2)) : Window.of(ctx.attributes(), w.dim(2), w.dim(3));
        }

        /** [N, C, W] as [N, C, 1, W]; 2-D shapes as they are. */
        static Shape as2d(Shape s) { return s.rank() == 3 ? Shape.of(s.dim(0), s.dim(1), 1, s.dim(2)) : s; }

        @Override void run(ExecContext ctx) {
            Tensor x = ctx.input(0), w = ctx.input(1);
            Tensor bias = ctx.hasInput(2) ? ctx.input(2) : w;
            boolean oneD = x.rank() == 3;
            Shape xs = as2d(x.shape()), ws = as2d(w.shape());
            Window wi = (Window) window(ctx);
            int oh = wi.outH(xs.dim(2)), ow = wi.outW(xs.dim(3));
            Tensor y = ctx.output(0, DType.FLOAT32, oneD ? Shape.of(xs.dim(0), ws.dim(0), ow) : Shape.of(xs.dim(0), ws.dim(0), oh, ow));
            int[] p = {i(xs.dim(0)), i(xs.dim(1)), i(xs.dim(2)), i(xs.dim(3)), i(ws.dim(0)), oh, ow, wi.kh(), wi.kw(), wi.sh(), wi.sw(),
                wi.pt(), wi.pl(), wi.dh(), wi.dw(), (int) ctx.attributes().getInt("group", 1), ctx.hasInput(2) ? 1 : 0};
            int total = i(y.elementCount());
            boolean[] res = resident(options, ctx, 4, 0, 1, ctx.hasInput(2) ? 2 : -1, -1);
            launch(this, shapes(ctx, 0, 1, 2) + Arrays.toString(p), new Tensor[] {x, w, bias, y}, res, (name, s) -> {
                IntArray pa = IntArray.fromArray(p);
                return toDevice(new TaskGraph(name)
                    .transferToDevice(FIRST_EXECUTION, pa), s, res, 0, 1, 2)
                    .task("t", Kernels::conv2d, s[0], s[1], s[2], s[3], pa, total)
                    .transferToHost(EVERY_EXECUTION, s[3]);
            }, null);
        }
    }

    static final class Pool extends TornadoOp {
        final boolean max;

        Pool(TornadoBackend b, String op, OpKernel cpu, boolean max) {
            super(b, op, cpu);
            this.max = max;
        }

        @Override String reject(ExecContext ctx) {
            String f = floats(ctx, 0);
            if (f != null) return f;
            if (ctx.input(0).rank() != 4) return "not 2-D pooling";
            if (ctx.outputCount() > 1) return "Indices output requested";
            Attributes at = ctx.attributes();
            if (at.getInt("ceil_mode", 0) != 0) return "ceil_mode";
            if (at.getInt("storage_order", 0) != 0) return "storage_order";
            long[] ks = at.getInts("kernel_shape");
            if (ks == null || ks.length != 2) return "kernel_shape not 2-D";
            Object win = Window.of(at, ks[0], ks[1]);
            if (win instanceof String s) return s;
            Window wi = (Window) win;
            if (wi.outH(ctx.input(0).shape().dim(2)) <= 0 || wi.outW(ctx.input(0).shape().dim(3)) <= 0) return "empty output";
            return null;
        }

        @Override void run(ExecContext ctx) {
            Tensor x = ctx.input(0);
            Shape xs = x.shape();
            long[] ks = ctx.attributes().getInts("kernel_shape");
            Window wi = (Window) Window.of(ctx.attributes(), ks[0], ks[1]);
            int oh = wi.outH(xs.dim(2)), ow = wi.outW(xs.dim(3));
            Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(xs.dim(0), xs.dim(1), oh, ow));
            int[] p = {i(xs.dim(0) * xs.dim(1)), i(xs.dim(2)), i(xs.dim(3)), oh, ow, wi.kh(), wi.kw(), wi.sh(), wi.sw(), wi.pt(), wi.pl(),
                wi.dh(), wi.dw(), (int) ctx.attributes().getInt("count_include_pad", 0)};
            int total = i(y.elementCount()), isMax = max ? 1 : 0;
            launch(this, shapes(ctx, 0) + Arrays.toString(p), new Tensor[] {x, y}, (name, s) -> {
                IntArray pa = IntArray.fromArray(p);
                return new TaskGraph(name)
                    .transferToDevice(FIRST_EXECUTION, pa)
                    .transferToDevice(EVERY_EXECUTION, s[0])
                    .task("t", Kernels::pool2d, s[0], s[1], pa, total, isMax)
                    .transferToHost(EVERY_EXECUTION, s[1]);
            }, null);
        }
    }

    /** ReduceSum/Mean/Max/Min over a contiguous run of axes, and the global poolings (over H*W). */
    static final class Reduce extends TornadoOp {
        final int code;
        final boolean global;

        Reduce(TornadoBackend b, String op, OpKernel cpu, int code, boolean global) {
            super(b, op, cpu);
            this.code = code;
            this.global = global;
        }

        /** {first axis, last axis + 1, keepdims}, or a String saying why not. */
        Object axes(ExecContext ctx) {
            Shape xs = ctx.input(0).shape();
            if (global) return xs.rank() < 3 ? "rank < 3" : new int[] {2, xs.rank(), 1};
            Attributes at = ctx.attributes();
            long[] ax;
            boolean fromInput = ctx.hasInput(1);
            if (fromInput) {
                Tensor t = ctx.input(1);
                if (t.dtype() != DType.INT64) return "axes are " + t.dtype();
                ax = t.toLongArray();
            } else {
                ax = at.getInts("axes");
            }
            if (ax == null || ax.length == 0) {
                if (at.getInt("noop_with_empty_axes", 0) != 0) return "noop_with_empty_axes";
                ax = new long[xs.rank()];
                for (int k = 0; k < ax.length; k++) ax[k] = k;
            }
            TreeSet<Integer> set = new TreeSet<>();
            for (long a : ax) set.add(Shape.normalizeAxis((int) a, Math.max(1, xs.rank())));
            if (set.isEmpty() || set.last() - set.first() + 1 != set.size()) return "axes not contiguous";
            return new int[] {set.first(), set.last() + 1, (int) at.getInt("keepdims", 1)};
        }

        @Override String reject(ExecContext ctx) {
            String f = floats(ctx, 0);
            if (f != null) return f;
            if (ctx.input(0).rank() == 0) return "scalar";
            return axes(ctx) instanceof String s ? s : null;
        }

        @Override void run(ExecContext ctx) {
            Tensor x = ctx.input(0);
            Shape xs = x.shape();
            int[] a = (int[]) axes(ctx);
            long[] d = xs.dims();
            long outer = xs.product(0, a[0]), len = xs.product(a[0], a[1]), inner = xs.product(a[1], xs.rank());
            long[] od;
            if (a[2] == 1) {
                od = d.clone();
                for (int k = a[0]; k < a[1]; k++) od[k] = 1;
            } else {
                od = new long[d.length - (a[1] - a[0])];
                int j = 0;
                for (int k = 0; k < d.length; k++) if (k < a[0] || k >= a[1]) od[j++] = d[k];
            }
            Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(od));
            int outs = i(outer * inner), l = i(len), in = i(inner);
            launch(this, shapes(ctx, 0) + Arrays.toString(a), new Tensor[] {x, y}, (name, s) -> {
                KernelContext kc = new KernelContext();
                return new TaskGraph(name)
                    .transferToDevice(EVERY_EXECUTION, s[0])
                    .task("t", Kernels::reduce, s[0], s[1], l, in, code, kc)
                    .transferToHost(EVERY_EXECUTION, s[1]);
            }, name -> {
                WorkerGrid1D g = new WorkerGrid1D(outs * Kernels.REDUCE_LOCAL);
                g.setLocalWork(Kernels.REDUCE_LOCAL, 1, 1);
                GridScheduler gs = new GridScheduler();
                gs.addWorkerGrid(name + ".t", g);
                return gs;
            });
        }
    }

    /** LSTM layers (layout 0, default activations, any direction, clip, peepholes) as one {@link Kernels#lstm} launch. */
    static final class Lstm extends TornadoOp {
        Lstm(TornadoBackend b, OpKernel cpu) { super(b, "LSTM", cpu); }

        @Override String reject(ExecContext ctx) {
            String f = floats(ctx, 0, 1, 2, 3, 5, 6, 7);
            if (f != null) return f;
            Attributes at = ctx.attributes();
            if (at.getInt("layout", 0) != 0) return "layout 1";
            if (at.getInt("input_forget", 0) != 0) return "input_forget";
            java.util.List<String> acts = at.has("activations") ? at.getStrings("activations") : java.util.List.of();
            for (int k = 0; k < acts.size(); k++) {
                if (!acts.get(k).equalsIgnoreCase(k % 3 == 0 ? "Sigmoid" : "Tanh")) return "activation " + acts.get(k);
            }
            String dir = at.getString("direction", "forward");
            if (!dir.equals("forward") && !dir.equals("reverse") && !dir.equals("bidirectional")) return "direction " + dir;
            Tensor x = ctx.input(0), w = ctx.input(1), r = ctx.input(2);
            if (x.rank() != 3 || w.rank() != 3 || r.rank() != 3) return "X, W or R not rank 3";
            long numDir = dir.equals("bidirectional") ? 2 : 1, hid = r.shape().dim(2), in = x.shape().dim(2);
            if (w.shape().dim(0) != numDir || w.shape().dim(1) != 4 * hid || w.shape().dim(2) != in) return "W shape";
            if (r.shape().dim(0) != numDir || r.shape().dim(1) != 4 * hid) return "R shape";
            long state = numDir * x.shape().dim(1) * hid;
            if (ctx.hasInput(3) && ctx.input(3).elementCount() != numDir * 8 * hid) return "B shape";
            if (ctx.hasInput(5) && ctx.input(5).elementCount() != state) return "initial_h shape";
            if (ctx.hasInput(6) && ctx.input(6).elementCount() != state) return "initial_c shape";
            if (ctx.hasInput(7) && ctx.input(7).elementCount() != numDir * 3 * hid) return "P shape";
            if (ctx.hasInput(4)) {
                Tensor sl = ctx.input(4);
                for (long k = 0; k < sl.elementCount(); k++) if (sl.getLong(k) != x.shape().dim(0)) return "sequence_lens shorter than X";
            }
            return null;
        }

        @Override void run(ExecContext ctx) {
            Attributes at = ctx.attributes();
            String dir = at.getString("direction", "forward");
            Tensor x = ctx.input(0), w = ctx.input(1), r = ctx.input(2);
            int numDir = dir.equals("bidirectional") ? 2 : 1;
            int seq = i(x.shape().dim(0)), batch = i(x.shape().dim(1)), in = i(x.shape().dim(2)), hid = i(r.shape().dim(2));
            Shape ys = Shape.of(seq, numDir, batch, hid), ss = Shape.of(numDir, batch, hid);
            int outs = Math.min(3, ctx.outputCount());
            Tensor y = outs > 0 ? ctx.output(0, DType.FLOAT32, ys) : Tensor.allocate(DType.FLOAT32, ys);
            Tensor yh = outs > 1 ? ctx.output(1, DType.FLOAT32, ss) : Tensor.allocate(DType.FLOAT32, ss);
            Tensor yc = outs > 2 ? ctx.output(2, DType.FLOAT32, ss) : Tensor.allocate(DType.FLOAT32, ss);
            int[] meta = {seq, batch, in, hid, dir.equals("reverse") ? 1 : 0, ctx.hasInput(3) ? 1 : 0, ctx.hasInput(5) ? 1 : 0,
                ctx.hasInput(6) ? 1 : 0, ctx.hasInput(7) ? 1 : 0, numDir};
            float cl = at.has("clip") ? at.getFloat("clip", 0f) : Float.MAX_VALUE;
            Tensor[] ts = {x, w, r, ctx.hasInput(3) ? ctx.input(3) : x, ctx.hasInput(5) ? ctx.input(5) : x,
                ctx.hasInput(6) ? ctx.input(6) : x, ctx.hasInput(7) ? ctx.input(7) : x, y, yh, yc};
            int groups = numDir * batch;
            boolean[] res = resident(options, ctx, 10, 0, 1, 2, ctx.hasInput(3) ? 3 : -1, ctx.hasInput(5) ? 5 : -1, ctx.hasInput(6) ? 6 : -1,
                ctx.hasInput(7) ? 7 : -1, -1, -1, -1);
            launch(this, shapes(ctx, 0, 1, 2, 3, 5, 6, 7) + Arrays.toString(meta) + cl, ts, res, (name, s) -> {
                IntArray mt = IntArray.fromArray(meta);
                KernelContext kc = new KernelContext();
                return toDevice(new TaskGraph(name)
                    .transferToDevice(FIRST_EXECUTION, mt), s, res, 0, 1, 2, 3, 4, 5, 6)
                    .task("t", Kernels::lstm, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], mt, cl, kc)
                    .transferToHost(EVERY_EXECUTION, s[7], s[8], s[9]);
            }, name -> {
                WorkerGrid1D g = new WorkerGrid1D(groups * Kernels.LSTM_LOCAL);
                g.setLocalWork(Kernels.LSTM_LOCAL, 1, 1);
                GridScheduler gs = new GridScheduler();
                gs.addWorkerGrid(name + ".t", g);
                return gs;
            });
        }
    }
}
