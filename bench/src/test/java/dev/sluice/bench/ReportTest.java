package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReportTest {
    @TempDir Path tmp;

    private final List<Report.Row> rows = List.of(
        new Report.Row("a.onnx", "seeded random", 2.0, 1.0, 2048, 1024, 0, null, null),
        new Report.Row("b", "test_data_set_0", Double.NaN, 3.0, -1, 512, 0, "unsupported operators: Foo", null));

    @Test void markdownHasOneRowPerModelAndNamesFailures() {
        String md = Report.markdown(rows, "setup", "method", 2.0);
        assertTrue(md.contains("| a.onnx | seeded random | 2.000 | 1.000 | 2.000 | 2.0 | 1.0 | match |"), md);
        assertTrue(md.contains("| b | test_data_set_0 | failed | 3.000 | – | n/a | 0.5 | not compared |"), md);
        assertTrue(md.contains("b, Sluice: unsupported operators: Foo"), md);
    }

    @Test void chartIsAReadablePng() throws Exception {
        Path png = tmp.resolve("c.png");
        Report.chart(rows, "title", png);
        BufferedImage img = ImageIO.read(png.toFile());
        assertTrue(img.getWidth() >= 560);
        assertEquals(490, img.getHeight());
    }
}
