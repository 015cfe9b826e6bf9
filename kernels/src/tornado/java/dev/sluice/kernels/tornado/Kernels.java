package dev.sluice.kernels.tornado;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.annotations.Parallel;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * The TornadoVM kernels: static Java methods that TornadoVM compiles for the device (OpenCL C on PoCL or a GPU,
 * PTX on NVIDIA). Loops marked {@link Parallel} become the work-item grid; reductions use a {@link KernelContext}
 * work-group tree in local memory, since TornadoVM's {@code @Reduce} gives wrong sums on PoCL 3.1 for large inputs.
 * No allocation, no exceptions, no objects but the arrays: what TornadoVM can compile. Parameter and local names
 * must not be OpenCL built-ins (a parameter named {@code log} hides {@code log()} in the generated C).
 */
final class Kernels {
    private Kernels() {}

    /** Work-group size of the reductions (a power of two; the local array below has this many floats). */
    static final int REDUCE_LOCAL = 64;

    static final int ADD = 0, SUB = 1, MUL = 2, DIV = 3, POW = 4, MAX = 5, MIN = 6;
    static final int RELU = 0, SIGMOID = 1, TANH = 2, EXP = 3, NEG = 4, SQRT = 5, ABS = 6, LEAKY_RELU = 7;
    static final int R_SUM = 0, R_MEAN = 1, R_MAX = 2, R_MIN = 3;

    /** C[r, j] = sum_p A[r, p] * B[r / m, p, j] for r over batch*m rows; bBatchStride 0 when B is one matrix. */
    static void matmul(FloatArray a, FloatArray b, FloatArray c, int rows, int m, int k, int n, int bBatchStride) {
        for (@Parallel int r = 0; r < rows; r++) {
            for (@Parallel int j = 0; j < n; j++) {
                int aOff = r * k;
                int bOff = (r / m) * bBatchStride + j;
                float s = 0f;
                for (int p = 0; p < k; p++) {
                    s += a.get(aOff + p) * b.get(bOff + p * n);
                }
                c.set(r * n + j, s);
            }
        }
    }

    /** Y = alpha * A' B' + beta * C, A' M x K, B' K x N; C read at (i * cRow + j * cCol) so broadcasts are strides of 0. */
    static void gemm(FloatArray a, FloatArray b, FloatArray c, FloatArray y, int m, int k, int n, int transA, int transB,
                     float alpha, float beta, int cRow, int cCol) {
        for (@Parallel int i = 0; i < m; i++) {
            for (@Parallel int j = 0; j < n; j++) {
                float s = 0f;
                for (int p = 0; p < k; p++) {
                    float av = transA == 1 ? a.get(p * m + i) : a.get(i * k + p);
                    float bv = transB == 1 ? b.get(j * k + p) : b.get(p * n + j);
                    s += av * bv;
                }
                float r = alpha * s;
                if (beta != 0f) {
                    r += beta * c.get(i * cRow + j * cCol);
                }
                y.set(i * n + j, r);
            }
        }
    }

    /**
     * Broadcasting binary op. meta holds the output dims, then A's strides, then B's strides (0 on broadcast
     * axes), rank entries each.
     */
    static void binary(FloatArray a, FloatArray b, FloatArray c, IntArray meta, int rank, int n, int op) {
        for (@Parallel int i = 0; i < n; i++) {
            int rem = i;
            int ia = 0;
            int ib = 0;
            for (int d = rank - 1; d >= 0; d--) {
                int dim = meta.get(d);
                int idx = rem % dim;
                rem = rem / dim;
                ia += idx * meta.get(rank + d);
                ib += idx * meta.get(2 * rank + d);
            }
            float x = a.get(ia);
            float y = b.get(ib);
            float r;
            if (op == ADD) {
                r = x + y;
            } else if (op == SUB) {
                r = x - y;
            } else if (op == MUL) {
                r = x * y;
            } else if (op == DIV) {
                r = x / y;
            } else if (op == MAX) {
                r = TornadoMath.max(x, y);
            } else {
                r = TornadoMath.min(x, y);
            }
            c.set(i, r);
        }
    }

    static void unary(FloatArray x, FloatArray y, int n, int op, float alpha) {
        for (@Parallel int i = 0; i < n; i++) {
            float v = x.get(i);
            float r;
            if (op == RELU) {
                r = v > 0f ? v : 0f;
            } else if (op == SIGMOID) {
                r = 1f / (1f + TornadoMath.exp(-v));
            } else if (op == TANH) {
                r = TornadoMath.tanh(v);
            } else if (op == EXP) {
                r = TornadoMath.exp(v);
            } else if (op == NEG) {
                r = -v;
            } else if (op == SQRT) {
                r = TornadoMath.sqrt(v);
            } else if (op == ABS) {
                r = TornadoMath.abs(v);
            } else {
                r = v >= 0f ? v : alpha * v;
            }
            y.set(i, r);
        }
    }

    /** Softmax (or log-softmax) over the middle axis of [outer, len, inner]; one work-item per (outer, inner) row. */
    static void softmax(FloatArray x, FloatArray y, int rows, int len, int inner, int logMode) {
        for (@Parallel int r = 0; r < rows; r++) {
            int base = (r / inner) * len * inner + (r % inner);
            float mx = x.get(base);
            for (int i = 1; i < len; i++) {
                mx = TornadoMath.max(mx, x.get(base + i * inner));
            }
            float sum = 0f;
            for (int i = 0; i < len; i++) {
                sum += TornadoMath.exp(x.get(base + i * inner) - mx);
            }
            if (logMode == 1) {
                float ls = TornadoMath.log(sum);
                for (int i = 0; i < len; i++) {
                    y.set(base + i * inner, x.get(base + i * inner) - mx - ls);
                }
            } else {
                float inv = 1f / sum;
                for (int i = 0; i < len; i++) {
                    y.set(base + i * inner, TornadoMath.exp(x.get(base + i * inner) - mx) * inv);
                }
            }
        }
    }

    /** LayerNormalization over the trailing len elements of each row: (x - mean) / sqrt(var + eps) * scale + bias. */
    static void layerNorm(FloatArray x, FloatArray scale, FloatArray bias, FloatArray y, int rows, int len, float eps, int hasBias) {
        for (@Parallel int r = 0; r < rows; r++) {
            int base = r * len;
            float sum = 0f;
            for (int i = 0; i < len; i++) {
                sum += x.get(base + i);
            }
            float mean = sum / len;
            float sq = 0f;
            for (int i = 0; i < len; i++) {
                float d = x.get(base + i) - mean;
                sq += d * d;
            }
            float inv = 1f / TornadoMath.sqrt(sq / len + eps);
            for (int i = 0; i < len; i++) {
                float v = (x.get(base + i) - mean) * inv * scale.get(i);
                if (hasBias == 1) {
                    v += bias.get(i);
                }
                y.set(base + i, v);
            }
        }
    }

    /**
     * Direct 2-D convolution, one work-item per output element. p: N, C, H, W, M, OH, OW, KH, KW, strideH, strideW,
     * padTop, padLeft, dilationH, dilationW, group, hasBias.
     */
    static void conv2d(FloatArray x, FloatArray w, FloatArray bias, FloatArray y, IntArray p, int total) {
        for (@Parallel int idx = 0; idx < total; idx++) {
            int c = p.get(1);
            int h = p.get(2);
            int wd = p.get(3);
            int mAll = p.get(4);
            int oh = p.get(5);
            int ow = p.get(6);
            int kh = p.get(7);
            int kw = p.get(8);
            int group = p.get(15);
            int ox = idx % ow;
            int t = idx / ow;
            int oy = t % oh;
            t = t / oh;
            int m = t % mAll;
            int n = t / mAll;
            int cpg = c / group;
            int g = m / (mAll / group);
            float s = p.get(16) == 1 ? bias.get(m) : 0f;
            for (int ci = 0; ci < cpg; ci++) {
                int ic = g * cpg + ci;
                for (int ky = 0; ky < kh; ky++) {
                    int iy = oy * p.get(9) - p.get(11) + ky * p.get(13);
                    if (iy >= 0 && iy < h) {
                        for (int kx = 0; kx < kw; kx++) {
                            int ix = ox * p.get(10) - p.get(12) + kx * p.get(14);
                            if (ix >= 0 && ix < wd) {
                                s += x.get(((n * c + ic) * h + iy) * wd + ix) * w.get(((m * cpg + ci) * kh + ky) * kw + kx);
                            }
                        }
                    }
                }
            }
            y.set(idx, s);
        }
    }

    /**
     * Max or average 2-D pooling over planes (N * C of them), one work-item per output element. p: planes, H, W,
     * OH, OW, KH, KW, strideH, strideW, padTop, padLeft, dilationH, dilationW, countIncludePad.
     */
    static void pool2d(FloatArray x, FloatArray y, IntArray p, int total, int isMax) {
        for (@Parallel int idx = 0; idx < total; idx++) {
            int h = p.get(1);
            int wd = p.get(2);
            int oh = p.get(3);
            int ow = p.get(4);
            int kh = p.get(5);
            int kw = p.get(6);
            int ox = idx % ow;
            int t = idx / ow;
            int oy = t % oh;
            int plane = t / oh;
            float acc = isMax == 1 ? -3.4028235e38f : 0f;
            int count = 0;
            for (int ky = 0; ky < kh; ky++) {
                int iy = oy * p.get(7) - p.get(9) + ky * p.get(11);
                for (int kx = 0; kx < kw; kx++) {
                    int ix = ox * p.get(8) - p.get(10) + kx * p.get(12);
                    if (iy >= 0 && iy < h && ix >= 0 && ix < wd) {
                        float v = x.get((plane * h + iy) * wd + ix);
                        if (isMax == 1) {
                            acc = TornadoMath.max(acc, v);
                        } else {
                            acc += v;
                        }
                        count++;
                    }
                }
            }
            if (isMax == 0) {
                int div = p.get(13) == 1 ? kh * kw : count;
                acc = acc / div;
            }
            y.set(idx, acc);
        }
    }

    /**
     * Reduces the middle axis of [outer, len, inner]: one work-group of {@link #REDUCE_LOCAL} work-items per
     * output, each striding over len, then a tree in local memory.
     */
    static void reduce(FloatArray x, FloatArray y, int len, int inner, int op, KernelContext ctx) {
        int g = ctx.groupIdx;
        int l = ctx.localIdx;
        int base = (g / inner) * len * inner + (g % inner);
        float[] buf = ctx.allocateFloatLocalArray(64);
        float acc = 0f;
        if (op == R_MAX) {
            acc = -3.4028235e38f;
        } else if (op == R_MIN) {
            acc = 3.4028235e38f;
        }
        for (int i = l; i < len; i += 64) {
            float v = x.get(base + i * inner);
            if (op == R_MAX) {
                acc = TornadoMath.max(acc, v);
            } else if (op == R_MIN) {
                acc = TornadoMath.min(acc, v);
            } else {
                acc += v;
            }
        }
        buf[l] = acc;
        for (int s = 32; s > 0; s = s / 2) {
            ctx.localBarrier();
            if (l < s) {
                if (op == R_MAX) {
                    buf[l] = TornadoMath.max(buf[l], buf[l + s]);
                } else if (op == R_MIN) {
                    buf[l] = TornadoMath.min(buf[l], buf[l + s]);
                } else {
                    buf[l] = buf[l] + buf[l + s];
                }
            }
        }
        if (l == 0) {
            float r = buf[0];
            if (op == R_MEAN) {
                r = r / len;
            }
            y.set(g, r);
        }
    }

    /** Local work-group size of {@link #lstm}: work-items of one (direction, batch row) striding over hidden units. */
    static final int LSTM_LOCAL = 64;

    /**
     * A whole LSTM layer (ONNX gate order i, o, f, c; sigmoid/tanh/tanh), one work-group of {@link #LSTM_LOCAL}
     * per (direction, batch row). Each step every work-item computes the four gate pre-activations of its hidden
     * units (X_t W^T + H_{t-1} R^T + biases, peepholes), updates its cells and writes H_t into Y; a barrier then
     * publishes H_t in yh for the next step. Layout 0: x [seq, batch, in], y [seq, dir, batch, hidden], yh and
     * yc [dir, batch, hidden]. meta: seq, batch, in, hidden, reverseOnly, hasB, hasH0, hasC0, hasP, numDir.
     */
    static void lstm(FloatArray x, FloatArray w, FloatArray r, FloatArray bias, FloatArray h0, FloatArray c0, FloatArray peep,
                     FloatArray y, FloatArray yh, FloatArray yc, IntArray meta, float cl, KernelContext ctx) {
        int seq = meta.get(0);
        int batch = meta.get(1);
        int in = meta.get(2);
        int hid = meta.get(3);
        int revOnly = meta.get(4);
        int hasB = meta.get(5);
        int hasH = meta.get(6);
        int hasC = meta.get(7);
        int hasP = meta.get(8);
        int numDir = meta.get(9);
        int g = ctx.groupIdx;
        int l = ctx.localIdx;
        int d = g / batch;
        int b = g % batch;
        int s0 = (d * batch + b) * hid;
        int gh = 4 * hid;
        int wo = d * gh * in;
        int ro = d * gh * hid;
        int bo = d * 8 * hid;
        int po0 = d * 3 * hid;
        for (int j = l; j < hid; j += 64) {
            float hv = 0f;
            float cv = 0f;
            if (hasH == 1) {
                hv = h0.get(s0 + j);
            }
            if (hasC == 1) {
                cv = c0.get(s0 + j);
            }
            yh.set(s0 + j, hv);
            yc.set(s0 + j, cv);
        }
        ctx.globalBarrier();
        for (int s = 0; s < seq; s++) {
            int t = s;
            if (revOnly == 1 || d == 1) {
                t = seq - 1 - s;
            }
            int xo = (t * batch + b) * in;
            int yo = ((t * numDir + d) * batch + b) * hid;
            for (int j = l; j < hid; j += 64) {
                float ai = 0f;
                float ao = 0f;
                float af = 0f;
                float ag = 0f;
                for (int k = 0; k < in; k++) {
                    float xv = x.get(xo + k);
                    ai += xv * w.get(wo + j * in + k);
                    ao += xv * w.get(wo + (hid + j) * in + k);
                    af += xv * w.get(wo + (2 * hid + j) * in + k);
                    ag += xv * w.get(wo + (3 * hid + j) * in + k);
                }
                for (int k = 0; k < hid; k++) {
                    float hv = yh.get(s0 + k);
                    ai += hv * r.get(ro + j * hid + k);
                    ao += hv * r.get(ro + (hid + j) * hid + k);
                    af += hv * r.get(ro + (2 * hid + j) * hid + k);
                    ag += hv * r.get(ro + (3 * hid + j) * hid + k);
                }
                if (hasB == 1) {
                    ai += bias.get(bo + j) + bias.get(bo + gh + j);
                    ao += bias.get(bo + hid + j) + bias.get(bo + gh + hid + j);
                    af += bias.get(bo + 2 * hid + j) + bias.get(bo + gh + 2 * hid + j);
                    ag += bias.get(bo + 3 * hid + j) + bias.get(bo + gh + 3 * hid + j);
                }
                float cv = yc.get(s0 + j);
                float wi = 0f;
                float wout = 0f;
                float wf = 0f;
                if (hasP == 1) {
                    wi = peep.get(po0 + j);
                    wout = peep.get(po0 + hid + j);
                    wf = peep.get(po0 + 2 * hid + j);
                }
                float zi = TornadoMath.min(cl, TornadoMath.max(-cl, ai + wi * cv));
                float zf = TornadoMath.min(cl, TornadoMath.max(-cl, af + wf * cv));
                float zg = TornadoMath.min(cl, TornadoMath.max(-cl, ag));
                float gi = 1f / (1f + TornadoMath.exp(-zi));
                float gf = 1f / (1f + TornadoMath.exp(-zf));
                float gg = TornadoMath.tanh(zg);
                float cn = gf * cv + gi * gg;
                float zo = TornadoMath.min(cl, TornadoMath.max(-cl, ao + wout * cn));
                float go = 1f / (1f + TornadoMath.exp(-zo));
                float cc = TornadoMath.min(cl, TornadoMath.max(-cl, cn));
                yc.set(s0 + j, cn);
                y.set(yo + j, go * TornadoMath.tanh(cc));
            }
            ctx.globalBarrier();
            for (int j = l; j < hid; j += 64) {
                yh.set(s0 + j, y.get(yo + j));
            }
            ctx.globalBarrier();
        }
    }
}
