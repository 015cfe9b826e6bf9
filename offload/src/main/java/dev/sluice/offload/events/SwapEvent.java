package dev.sluice.offload.events;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/**
 * JDK Flight Recorder event: a model's weights swapped onto or off a device. The model swapper
 * ({@code offload/.../swap/ModelSwapper}) begins one when a swap-in's copy starts and commits it when its last
 * lane is done, and commits one with no bytes moved for each eviction (clean weights are dropped).
 */
@Name(SwapEvent.NAME)
@Label("Model Swap")
@Category({"Sluice", "Offload"})
@Description("A model's weights moved between pinned host memory and a device")
public final class SwapEvent extends Event {
    /** An event with no fields set; {@code begin()} and {@code commit()} it around the work. */
    public SwapEvent() {}

    /** The event's name in a recording. */
    public static final String NAME = "dev.sluice.Swap";

    /** The model swapped. */
    @Label("Model") public String model;
    /** {@code in} (host to device) or {@code out} (evicted: dropped, nothing copied back). */
    @Label("Direction") public String direction;
    /** The device. */
    @Label("Device") public String device;
    /** Bytes moved over the links (0 for an eviction). */
    @Label("Bytes") @DataAmount public long bytes;
    /** Copy lanes used in parallel. */
    @Label("Lanes") public int lanes;
}
