package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * TensorScatter-24, the KV-cache write of LLM exports: present = past_cache with, for every batch b (axis 0) and
 * every index of the axes between 0 and {@code axis}, the update's {@code u} rows along {@code axis} written at
 * rows write_indices[b] + 0 .. u - 1 (default write_indices: 0). Mode {@code linear} requires those rows to lie
 * inside the cache; {@code circular} wraps them modulo the cache's length. Any element type: rows are byte copies.
 */
final class TensorScatterKernel implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) { return List.of(ctx.inputType(0)); }

    @Override public void execute(ExecContext ctx) {
        String where = "TensorScatter '" + ctx.nodeName() + "'";
        Tensor past = ctx.input(0), update = ctx.input(1);
        Tensor idx = ctx.inputCount() > 2 && ctx.hasInput(2) ? ctx.input(2) : null;
        String mode = ctx.attributes().getString("mode", "linear");
        if (!mode.equals("linear") && !mode.equals("circular")) {
            throw new KernelException(where + ": mode '" + mode + "' is not one of linear, circular");
        }
        boolean circular = mode.equals("circular");
        int rank = past.rank();
        if (rank < 2) throw new KernelException(where + ": past_cache must have rank >= 2, got " + past.shape());
        long axisAttr = ctx.attributes().getInt("axis", -2);
        if (axisAttr < -rank || axisAttr >= rank) throw new KernelException(where + ": axis " + axisAttr + " is out of range for rank " + rank);
        int axis = Shape.normalizeAxis((int) axisAttr, rank);
        if (axis == 0) throw new KernelException(where + ": axis must not be the batch axis 0");
        if (update.dtype() != past.dtype() || update.rank() != rank) {
            throw new KernelException(where + ": update " + update.type() + " does not match past_cache " + past.type());
        }
        for (int i = 0; i < rank; i++) {
            long p = past.shape().dim(i), u = update.shape().dim(i);
            if (i == axis ? u > p : u != p) {
                throw new KernelException(where + ": update " + update.shape() + " does not fit past_cache " + past.shape() + " at axis " + i);
            }
        }
        long batch = past.shape().dim(0), max = past.shape().dim(axis), len = update.shape().dim(axis);
        if (idx != null && (idx.dtype().isFloatingPoint() || idx.rank() != 1 || idx.shape().dim(0) != batch)) {
            throw new KernelException(where + ": write_indices must be an integer vector of " + batch + ", got " + idx.type());
        }
        long[] start = new long[(int) batch];
        for (int b = 0; b < batch; b++) {
            start[b] = idx == null ? 0 : idx.getLong(b);
            if (start[b] < 0 || !circular && start[b] + len > max) {
                throw new KernelException(where + ": write_indices[" + b + "] = " + start[b] + " with " + len + " update rows does not fit the "
                        + max + " cache rows (mode " + mode + ")");
            }
        }
        Tensor y = ctx.output(0, past.dtype(), past.shape());
        MemorySegment pd = past.data(), ud = update.data(), yd = y.data();
        MemorySegment.copy(pd, 0, yd, 0, past.byteSize());
        long rowBytes = past.shape().product(axis + 1, rank) * past.dtype().byteSize();
        long outerPerBatch = past.shape().product(1, axis);
        for (long o = 0; o < batch * outerPerBatch; o++) {
            int b = (int) (o / outerPerBatch);
            for (long r = 0; r < len; r++) {
                long at = (start[b] + r) % max;
                MemorySegment.copy(ud, (o * len + r) * rowBytes, yd, (o * max + at) * rowBytes, rowBytes);
            }
        }
    }
}
