package dev.sluice.offload.swap;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.offload.events.SwapEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

/** Each swap-in and each eviction shows in a JDK Flight Recorder recording, read back with jdk.jfr.consumer. */
class SwapEventTest {
    @Test void swapsAndEvictionsAreRecorded() throws Exception {
        Path file = Files.createTempFile("sluice-swap", ".jfr");
        long moved;
        try (Recording r = new Recording()) {
            r.enable(SwapEvent.NAME);
            r.start();
            try (ModelSwapper sw = new ModelSwapper(ModelSwapperTest.store(3000, 3000), 4000, new EvictionPolicy.Lru(), new CopyLink(0), 2)) {
                try (var l = sw.acquire("m0")) { }
                try (var l = sw.acquire("m1")) { }   // m0 must go: the budget holds one model
                moved = sw.stats().bytesMoved();
            }
            r.stop();
            r.dump(file);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(file).stream()
            .filter(e -> e.getEventType().getName().equals(SwapEvent.NAME)).toList();
        Files.deleteIfExists(file);
        List<String> seen = events.stream().map(e -> e.getString("model") + " " + e.getString("direction")).sorted().toList();
        assertEquals(List.of("m0 in", "m0 out", "m1 in"), seen);
        // the events' bytes add up to what the swapper says it moved (weights padded to the tensor alignment)
        assertEquals(moved, events.stream().mapToLong(e -> e.getLong("bytes")).sum());
        assertEquals(true, moved >= 6000);
        for (RecordedEvent e : events) {
            if (e.getString("direction").equals("in")) assertEquals(1, e.getInt("lanes"), "one 1 MiB chunk keeps one lane busy");
        }
    }
}
