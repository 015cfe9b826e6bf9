package dev.sluice.runtime.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.zoo.Zoo;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Flight Recorder recording of a session on a throttled device with half the memory it needs holds
 * one open event, one event per run, and one event per MemGraph task, with kinds that show the offload work;
 * read back from the file with {@code jdk.jfr.consumer}, as JDK Mission Control would.
 */
class FlightRecorderEventsTest {
    @TempDir Path dir;

    @Test
    void sessionRunsAndTasksAreRecorded() throws Exception {
        Zoo.Model m = Zoo.OCR_CLS;
        Path file = dir.resolve("sluice.jfr");
        try (Recording r = new Recording()) {
            for (String name : List.of(SessionOpenEvent.NAME, RunEvent.NAME, TaskEvent.NAME)) r.enable(name);
            r.start();
            try (Session s = Session.open(m.path(), SessionOptions.builder().threads(2).devices("cpu", "throttled:50%").build())) {
                s.run(m.sampleInputs(1)).close();
                s.run(m.sampleInputs(2)).close();
            }
            r.stop();
            r.dump(file);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(file);
        List<RecordedEvent> opens = events.stream().filter(e -> e.getEventType().getName().equals(SessionOpenEvent.NAME)).toList();
        List<RecordedEvent> runs = events.stream().filter(e -> e.getEventType().getName().equals(RunEvent.NAME)).toList();
        List<RecordedEvent> tasks = events.stream().filter(e -> e.getEventType().getName().equals(TaskEvent.NAME)).toList();
        assertEquals(1, opens.size(), "one session opened");
        assertTrue(opens.getFirst().getString("model").endsWith(m.fileName()), opens.getFirst().getString("model"));
        assertTrue(opens.getFirst().getLong("weightBytes") > 100_000, "the classifier has ~0.5 MB of weights");
        assertEquals("[cpu, throttled:50%]", opens.getFirst().getString("devices"));
        assertEquals(2, runs.size(), "one event per run");
        for (RecordedEvent e : runs) {
            assertEquals("dispatcher", e.getString("path"));
            assertEquals(2 * 4, e.getLong("outputBytes"), "one f32[1,2] output");
        }
        assertFalse(tasks.isEmpty());
        assertEquals(0, tasks.size() % 2, "the same plan runs twice: " + tasks.size() + " task events");
        Set<String> kinds = new HashSet<>(), devices = new HashSet<>();
        for (RecordedEvent e : tasks) {
            kinds.add(e.getString("kind"));
            devices.add(e.getString("device"));
            if (!e.getString("kind").equals("KERNEL")) assertTrue(e.getLong("bytes") > 0, "a copy moves bytes: " + e);
        }
        assertEquals(Set.of("throttled"), devices, "kernels and the copies to and from it all run on the throttled device's lanes");
        assertTrue(kinds.contains("KERNEL") && kinds.contains("H2D") && kinds.contains("D2H"), "kinds seen: " + kinds);
        assertTrue(kinds.contains("OFFLOAD") || kinds.contains("RELOAD"), "a 50% budget offloads: " + kinds);
    }
}
