package dev.sluice.runtime.events;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/**
 * JDK Flight Recorder event: a session was opened (import, checks, inference, fusion, weight packing), with
 * its duration. Committed by {@code Session.open}; a recording that does not enable it costs nothing.
 */
@Name(SessionOpenEvent.NAME)
@Label("Session Open")
@Category({"Sluice", "Session"})
@Description("A Sluice session was opened: the model imported, checked, typed and fused")
public final class SessionOpenEvent extends Event {
    /** An event with no fields set; {@code begin()} and {@code commit()} it around the work. */
    public SessionOpenEvent() {}

    /** The event's name in a recording. */
    public static final String NAME = "dev.sluice.SessionOpen";

    /** Where the model came from (a file path or an in-memory model's source). */
    @Label("Model") public String model;
    /** Top-level nodes after fusion. */
    @Label("Nodes") public int nodes;
    /** Bytes of weights and constants. */
    @Label("Weights") @DataAmount public long weightBytes;
    /** The devices the session runs on, as given in its options. */
    @Label("Devices") public String devices;
    /** CPU worker threads. */
    @Label("Threads") public int threads;
}
