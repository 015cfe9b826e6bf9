package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.zoo.Zoo;
import java.awt.image.BufferedImage;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The demo's pipeline reads back exactly the line it rendered: the reference is the text itself, which
 * PP-OCRv3 det and rec (run by Sluice) must find and read, through the model's own dictionary.
 */
class OcrDemoTest {
    @ParameterizedTest
    @ValueSource(strings = {DemoCommand.DEFAULT_TEXT, "Java 25 runs ONNX models"})
    void readsTheRenderedLine(String text) {
        List<String> keys = OcrPipeline.readKeys(Zoo.OCR_KEYS.path());
        assertEquals(6623, keys.size(), "the PP-OCR v1 dictionary");
        SessionOptions o = SessionOptions.builder().threads(2).build();
        try (Session det = Session.open(Zoo.OCR_DET.path(), o); Session rec = Session.open(Zoo.OCR_REC.path(), o)) {
            BufferedImage img = DemoCommand.render(text);
            OcrPipeline.Reading r = new OcrPipeline(det, rec, keys).read(img);
            assertEquals(1, r.boxes().size(), "one line of text, one region: " + r.boxes());
            assertEquals(text, r.text());
        }
    }

    @Test
    void ctcGreedyMergesRepeatsAndDropsBlanks() {
        List<String> keys = List.of("a", "b");
        // classes: 0 blank, 1 'a', 2 'b', 3 space; steps: a a blank a b space b b
        int[] best = {1, 1, 0, 1, 2, 3, 2, 2};
        float[] scores = new float[best.length * 4];
        for (int t = 0; t < best.length; t++) scores[t * 4 + best[t]] = 1f;
        assertEquals("aab b", OcrPipeline.ctcGreedy(scores, best.length, 4, keys));
    }
}
