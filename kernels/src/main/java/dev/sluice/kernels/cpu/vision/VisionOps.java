package dev.sluice.kernels.cpu.vision;

import dev.sluice.kernels.OpRegistry;

/**
 * The vision and detection family: box selection (NonMaxSuppression), region pooling (RoiAlign, MaxRoiPool), sampling on a
 * flow field (GridSample, AffineGrid, DeformConv) and patch reassembly or framing (Col2Im, CenterCropPad). These
 * ops run once or a few times per image in detectors and spatial transformers; they are written for exact
 * agreement with ONNX Runtime's CPU kernels first (including ORT's choices where the ONNX text leaves room), and
 * none of them declares a tiling, so a planner treats each as one indivisible task.
 */
public final class VisionOps {
    private VisionOps() {}

    public static void register(OpRegistry r) {
        r.register("NonMaxSuppression", new NonMaxSuppression());
        r.register("RoiAlign", new RoiAlign());
        r.register("GridSample", new GridSample());
        r.register("AffineGrid", new AffineGrid());
        r.register("Col2Im", new Col2Im());
        r.register("CenterCropPad", new CenterCropPad());
        r.register("DeformConv", new DeformConv());
        r.register("MaxRoiPool", new MaxRoiPool());
    }
}
