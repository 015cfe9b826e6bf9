package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Tensor;

/**
 * One per-tensor 8-bit quantization: {@code real = (q - zeroPoint) * scale}, q of {@code type} (uint8 or int8).
 * The ONNX Runtime contrib QLinear* ops take their scales and zero points as separate inputs, all per tensor; this
 * reads them once with the node's name in every complaint.
 *
 * <p>Arithmetic, as ONNX Runtime's reference paths do it: dequantize in float32 as {@code (float) (q - zp) * scale};
 * quantize as {@code rint(v / scale)} (float32 division, round half to even) plus the zero point, saturated to the
 * type's range, NaN to the zero point's saturation of 0.
 */
record QParam(float scale, int zeroPoint, DType type) {
    QParam {
        if (type != DType.UINT8 && type != DType.INT8) throw new KernelException("quantized type must be uint8 or int8, got " + type);
    }

    /**
     * The scale at input {@code scaleIndex} and the zero point at {@code zpIndex} (absent: 0 of {@code type}).
     * Both must hold one element; the zero point's type, when given, must be {@code type}.
     */
    static QParam read(ExecContext ctx, int scaleIndex, int zpIndex, DType type, String what) {
        Tensor s = ctx.input(scaleIndex);
        if (s.elementCount() != 1 || s.dtype() != DType.FLOAT32) {
            throw new KernelException(ctx.opType() + " '" + ctx.nodeName() + "': " + what + " scale must be one float32, got " + s.type());
        }
        int zp = 0;
        if (zpIndex >= 0 && ctx.inputCount() > zpIndex && ctx.hasInput(zpIndex)) {
            Tensor z = ctx.input(zpIndex);
            if (z.elementCount() != 1 || z.dtype() != type) {
                throw new KernelException(ctx.opType() + " '" + ctx.nodeName() + "': " + what + " zero point must be one " + type + ", got " + z.type());
            }
            zp = (int) z.getLong(0);
        }
        return new QParam(s.getFloat(0), zp, type);
    }

    int min() { return type == DType.UINT8 ? 0 : -128; }

    int max() { return type == DType.UINT8 ? 255 : 127; }

    /** The real value of the stored byte {@code b} (its bits as read from memory). */
    float dequantize(byte b) { return (float) (value(b) - zeroPoint) * scale; }

    /** The integer a stored byte holds under this type. */
    int value(byte b) { return type == DType.UINT8 ? b & 0xFF : b; }

    /** round-half-even(v / scale) + zp, saturated; the byte to store. */
    byte quantize(float v) { return saturate(Math.rint(v / scale)); }

    /** An already rounded (or to be truncated: it must be integral) value plus the zero point, saturated. */
    byte saturate(double rounded) {
        double q = rounded + zeroPoint;
        if (Double.isNaN(q)) return (byte) Math.min(Math.max(0, min()), max());
        return (byte) (int) Math.min(Math.max(q, min()), max());
    }

    /**
     * The 256-entry table {@code out[b & 0xFF] = quantize(f(in.dequantize(b)))} of a unary op over 8-bit values:
     * exactly the per-element computation, done once per possible byte.
     */
    static byte[] table(QParam in, QParam out, FloatOp f) {
        byte[] t = new byte[256];
        for (int i = 0; i < 256; i++) {
            byte b = (byte) i;
            t[i] = out.quantize(f.apply(in.dequantize(b)));
        }
        return t;
    }

    /** A float32 function of one float32 (the op a lookup table tabulates). */
    @FunctionalInterface
    interface FloatOp {
        float apply(float x);
    }
}
