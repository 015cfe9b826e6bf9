/**
 * JDK Flight Recorder events for Sluice's work: {@link dev.sluice.runtime.events.SessionOpenEvent},
 * {@link dev.sluice.runtime.events.RunEvent} and {@link dev.sluice.runtime.events.TaskEvent} (and the offload
 * module's swap event). Record with {@code java -XX:StartFlightRecording=filename=run.jfr ...} and open the file
 * in JDK Mission Control, or read it back with {@code jdk.jfr.consumer.RecordingFile}. Events that a recording
 * does not enable cost a field check.
 */
package dev.sluice.runtime.events;
