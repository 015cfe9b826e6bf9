package dev.sluice.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Plain lines off a terminal (start, each tenth, end), one line redrawn in place on one. */
class ProgressTest {
    @Test
    void offATerminalItPrintsAStartLineEachTenthAndTheEnd() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (Progress p = Progress.start("work", 20, new PrintStream(buf, true, StandardCharsets.UTF_8), false)) {
            for (int i = 0; i < 20; i++) p.advance(1);
        }
        String text = buf.toString(StandardCharsets.UTF_8);
        assertFalse(text.contains("\r"), "no carriage returns in a log");
        List<String> lines = text.lines().toList();
        assertEquals("work ...", lines.getFirst());
        assertEquals(1 + 9 + 1, lines.size(), "start, 10% .. 90%, end: " + lines);
        assertEquals("work: 2/20 (10%)", lines.get(1));
        assertTrue(lines.getLast().startsWith("work: done, 20/20 in "), lines.getLast());
    }

    @Test
    void onATerminalItRedrawsOneLine() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (Progress p = Progress.start("fetch", 3, new PrintStream(buf, true, StandardCharsets.UTF_8), true)) {
            p.detail("model.onnx");
        }
        String text = buf.toString(StandardCharsets.UTF_8);
        assertTrue(text.startsWith("\rfetch: 0/3 (0%)"), text);
        assertEquals(1, text.chars().filter(c -> c == '\n').count(), "one line in all, ended once: " + text);
        assertTrue(text.contains("\rfetch: done, 0/3 in "), text);
    }
}
