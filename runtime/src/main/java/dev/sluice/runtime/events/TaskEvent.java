package dev.sluice.runtime.events;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/**
 * JDK Flight Recorder event: one MemGraph task run by the dispatcher (a kernel, a host/device copy, an offload
 * or a reload), on the lane worker's thread, so JDK Mission Control shows each lane's work as a timeline.
 */
@Name(TaskEvent.NAME)
@Label("MemGraph Task")
@Category({"Sluice", "Dispatcher"})
@Description("One task of a MemGraph: kernel, transfer, offload or reload")
public final class TaskEvent extends Event {
    /** An event with no fields set; {@code begin()} and {@code commit()} it around the work. */
    public TaskEvent() {}

    /** The event's name in a recording. */
    public static final String NAME = "dev.sluice.Task";

    /** KERNEL, H2D, D2H, OFFLOAD or RELOAD. */
    @Label("Kind") public String kind;
    /** The task's label in the plan (the node or value it works on). */
    @Label("Task") public String task;
    /** The device it ran on. */
    @Label("Device") public String device;
    /** The lane kind it ran on. */
    @Label("Lane") public String lane;
    /** Bytes the task moves between memories (0 for a kernel). */
    @Label("Bytes") @DataAmount public long bytes;
}
