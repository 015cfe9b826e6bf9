package dev.sluice.runtime.events;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** JDK Flight Recorder event: one {@code Session.run} call, from validation to the last output. */
@Name(RunEvent.NAME)
@Label("Session Run")
@Category({"Sluice", "Session"})
@Description("One run of a Sluice session")
public final class RunEvent extends Event {
    /** An event with no fields set; {@code begin()} and {@code commit()} it around the work. */
    public RunEvent() {}

    /** The event's name in a recording. */
    public static final String NAME = "dev.sluice.Run";

    /** The model's source. */
    @Label("Model") public String model;
    /** How the run executed: {@code planned}, {@code fresh} or {@code dispatcher}. */
    @Label("Path") public String path;
    /** Outputs asked for (all of the model's unless the caller named some). */
    @Label("Outputs") public int outputs;
    /** Bytes of the outputs returned. */
    @Label("Output Bytes") @DataAmount public long outputBytes;
}
