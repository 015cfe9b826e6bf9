package dev.sluice.kernels.cpu.vision;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.NnArrays;
import java.util.Arrays;
import java.util.List;

/**
 * ONNX NonMaxSuppression (opsets 10 and 11): greedy per-class selection of boxes by descending score, dropping any
 * box whose IoU with an already selected box of the same class exceeds the threshold.
 *
 * <p>Output: int64 {@code [N, 3]} rows {@code (batch, class, box)}, grouped by batch, then class, each group in the
 * order the boxes were selected. N depends on the data, so inference declares it unknown. Ties in score go to the
 * lower box index (ORT's priority-queue order). The IoU test runs in float32 arithmetic with ORT's early outs
 * (an empty intersection or a non-positive area never suppresses), so boxes on the threshold boundary fall the
 * same way as in ORT. Corners in {@code [y1, x1, y2, x2]} may come in either order (each pair is sorted);
 * {@code center_point_box = 1} reads {@code [x_center, y_center, width, height]}.
 *
 * <p>Absent or empty optional inputs take ONNX's defaults: no output box per class (so an empty result), IoU
 * threshold 0, no score filter. Per class the work is a sort plus at most {@code selected x candidates} IoU tests.
 */
final class NonMaxSuppression implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) {
        return List.of(new TensorType(DType.INT64, SymShape.of(Dim.UNKNOWN, Dim.of(3))));
    }

    @Override public void execute(ExecContext ctx) {
        Tensor boxes = ctx.input(0), scores = ctx.input(1);
        NnArrays.requireFloat(boxes.dtype(), "NonMaxSuppression boxes");
        NnArrays.requireFloat(scores.dtype(), "NonMaxSuppression scores");
        if (boxes.rank() != 3 || boxes.shape().dim(2) != 4) {
            throw new KernelException("NonMaxSuppression boxes must be [batches, boxes, 4], got " + boxes.shape());
        }
        if (scores.rank() != 3) throw new KernelException("NonMaxSuppression scores must be [batches, classes, boxes], got " + scores.shape());
        int batches = Math.toIntExact(boxes.shape().dim(0)), count = Math.toIntExact(boxes.shape().dim(1));
        int classes = Math.toIntExact(scores.shape().dim(1));
        if (scores.shape().dim(0) != batches || scores.shape().dim(2) != count) {
            throw new KernelException("NonMaxSuppression scores " + scores.shape() + " do not match boxes " + boxes.shape()
                    + " (want [" + batches + ", classes, " + count + "])");
        }
        long maxPerClass = Math.max(0, scalar(ctx, 2, "max_output_boxes_per_class", 0).longValue());
        float iouThreshold = scalar(ctx, 3, "iou_threshold", 0f).floatValue();
        Number scoreInput = scalar(ctx, 4, "score_threshold", null);
        long centerPointBox = ctx.attributes().getInt("center_point_box", 0);
        if (centerPointBox != 0 && centerPointBox != 1) {
            throw new KernelException("NonMaxSuppression center_point_box must be 0 or 1, got " + centerPointBox);
        }
        if (iouThreshold < 0 || iouThreshold > 1) {
            throw new KernelException("NonMaxSuppression iou_threshold must be in [0, 1], got " + iouThreshold);
        }

        float[] corners = corners(boxes.toFloatArray(), centerPointBox == 1);
        float[] s = scores.toFloatArray();
        long[] rows = new long[16];
        int selectedTotal = 0;
        int limit = (int) Math.min(maxPerClass, count);
        long[] candidates = new long[count];
        int[] chosen = new int[limit];
        for (int b = 0; b < batches; b++) {
            int boxBase = b * count * 4;
            for (int c = 0; c < classes && limit > 0; c++) {
                int scoreBase = (b * classes + c) * count;
                int n = 0;
                for (int i = 0; i < count; i++) {
                    if (scoreInput == null || s[scoreBase + i] > scoreInput.floatValue()) candidates[n++] = order(s[scoreBase + i], i);
                }
                // ascending keys: descending score, then ascending index (ORT's queue pops equal scores lowest index first)
                Arrays.sort(candidates, 0, n);
                int picked = 0;
                for (int k = 0; k < n && picked < limit; k++) {
                    int box = (int) candidates[k];
                    boolean keep = true;
                    for (int j = 0; j < picked && keep; j++) {
                        keep = !suppresses(corners, boxBase + chosen[j] * 4, boxBase + box * 4, iouThreshold);
                    }
                    if (!keep) continue;
                    chosen[picked++] = box;
                    if (selectedTotal * 3 + 3 > rows.length) rows = Arrays.copyOf(rows, rows.length * 2);
                    rows[selectedTotal * 3] = b;
                    rows[selectedTotal * 3 + 1] = c;
                    rows[selectedTotal * 3 + 2] = box;
                    selectedTotal++;
                }
            }
        }
        Tensor y = ctx.output(0, DType.INT64, Shape.of(selectedTotal, 3));
        for (int i = 0; i < selectedTotal * 3; i++) y.setLong(i, rows[i]);
    }

    /**
     * A sort key whose ascending order is descending score, then ascending box index: the score's bits made
     * order-preserving as a signed int (-0 taken as 0, NaN above every number), complemented, above the index.
     */
    static long order(float score, int index) {
        int bits = Float.floatToIntBits(score + 0f);
        int monotone = bits ^ ((bits >> 31) & 0x7fffffff);
        return ((long) ~monotone << 32) | index;
    }

    /**
     * Each box as {@code [xMin, yMin, xMax, yMax]} in float32, computed as ORT does: corner pairs sorted, centre
     * boxes widened by half their size each way.
     */
    private static float[] corners(float[] raw, boolean centerPoint) {
        float[] r = new float[raw.length];
        for (int i = 0; i < raw.length; i += 4) {
            if (centerPoint) {
                float halfW = raw[i + 2] / 2, halfH = raw[i + 3] / 2;
                r[i] = raw[i] - halfW;
                r[i + 1] = raw[i + 1] - halfH;
                r[i + 2] = raw[i] + halfW;
                r[i + 3] = raw[i + 1] + halfH;
            } else {
                r[i] = Math.min(raw[i + 1], raw[i + 3]);
                r[i + 1] = Math.min(raw[i], raw[i + 2]);
                r[i + 2] = Math.max(raw[i + 1], raw[i + 3]);
                r[i + 3] = Math.max(raw[i], raw[i + 2]);
            }
        }
        return r;
    }

    /** True if the IoU of boxes at offsets a and b (corner form) is above the threshold, in float32 as ORT. */
    static boolean suppresses(float[] box, int a, int b, float threshold) {
        float ixMin = Math.max(box[a], box[b]), ixMax = Math.min(box[a + 2], box[b + 2]);
        if (ixMax <= ixMin) return false;
        float iyMin = Math.max(box[a + 1], box[b + 1]), iyMax = Math.min(box[a + 3], box[b + 3]);
        if (iyMax <= iyMin) return false;
        float inter = (ixMax - ixMin) * (iyMax - iyMin);
        if (inter <= 0) return false;
        float areaA = (box[a + 2] - box[a]) * (box[a + 3] - box[a + 1]);
        float areaB = (box[b + 2] - box[b]) * (box[b + 3] - box[b + 1]);
        float union = areaA + areaB - inter;
        if (areaA <= 0 || areaB <= 0 || union <= 0) return false;
        return inter / union > threshold;
    }

    /** The first element of optional input i, or dflt when it is absent or empty; it must hold one value. */
    private static Number scalar(ExecContext ctx, int i, String name, Number dflt) {
        if (ctx.inputCount() <= i || !ctx.hasInput(i)) return dflt;
        Tensor t = ctx.input(i);
        if (t.elementCount() == 0) return dflt;
        if (t.elementCount() != 1) throw new KernelException("NonMaxSuppression " + name + " must hold one value, got shape " + t.shape());
        if (i == 2) {
            if (t.dtype() != DType.INT64 && t.dtype() != DType.INT32) throw new KernelException("NonMaxSuppression " + name + " must be int64, got " + t.dtype());
            return t.getLong(0);
        }
        NnArrays.requireFloat(t.dtype(), "NonMaxSuppression " + name);
        return t.getFloat(0);
    }
}
