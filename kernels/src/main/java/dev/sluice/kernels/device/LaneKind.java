package dev.sluice.kernels.device;

/** The kinds of lane a device has; every task of a memory graph runs on exactly one lane kind of one device. */
public enum LaneKind {
    /** Runs kernels. */
    COMPUTE,
    /** Copies host memory into the device's arena (first transfer of a weight or input, or a reload). */
    H2D,
    /** Copies device memory out to the host (an offload, or a graph output). */
    D2H;

    public boolean isCopy() { return this != COMPUTE; }
}
