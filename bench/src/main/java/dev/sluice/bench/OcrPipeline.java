package dev.sluice.bench;

import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Result;
import dev.sluice.runtime.Session;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Reads a line of text from an image with the zoo's PP-OCRv3 pair, the way PaddleOCR's own pipeline does it:
 * the detector's probability map is thresholded into text regions (DB post-processing: connected components,
 * each box grown by the unclip distance), each region is cropped, resized to the recogniser's 48-pixel height
 * and normalised, and the recogniser's per-step class scores are decoded greedily (CTC: best class per step,
 * repeats merged, blanks dropped) through the model's character dictionary.
 *
 * <p>The dictionary ({@code ppocr_keys_v1.txt}, shipped with the models) maps class {@code i} (1-based; 0 is
 * the CTC blank) to its line {@code i-1}; the class after the last line is a space.
 */
final class OcrPipeline {
    /** PaddleOCR's defaults for DB post-processing. */
    static final float DET_THRESHOLD = 0.3f, UNCLIP_RATIO = 1.5f;
    /** The recogniser's input height and its narrowest input width. */
    static final int REC_HEIGHT = 48, REC_MIN_WIDTH = 320;

    private final Session det, rec;
    private final List<String> keys;

    /** A region of the image holding text, in image pixels. */
    record Box(int x, int y, int w, int h) {}

    /** What one read found: the boxes and the text of each, left to right. */
    record Reading(List<Box> boxes, List<String> texts) {
        String text() { return String.join(" ", texts); }
    }

    OcrPipeline(Session det, Session rec, List<String> keys) {
        this.det = det;
        this.rec = rec;
        this.keys = keys;
    }

    /** The dictionary file's lines, in order. */
    static List<String> readKeys(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Black text on white, in the JDK's logical sans-serif font (mapped to an installed font; headless AWT),
     * on a canvas whose sides are multiples of 32 as the detector wants.
     */
    static BufferedImage render(String text, int fontPx) {
        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, fontPx);
        BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Graphics2D pg = probe.createGraphics();
        int textW = pg.getFontMetrics(font).stringWidth(text);
        pg.dispose();
        int w = roundUp(textW + 2 * fontPx, 32), h = roundUp(3 * fontPx, 32);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.BLACK);
        g.setFont(font);
        var fm = g.getFontMetrics();
        g.drawString(text, fontPx, (h - fm.getHeight()) / 2 + fm.getAscent());
        g.dispose();
        return img;
    }

    /** Finds the text regions and reads each. */
    Reading read(BufferedImage img) {
        List<Box> boxes = detect(img);
        List<String> texts = new ArrayList<>();
        for (Box b : boxes) texts.add(recognise(img, b));
        return new Reading(boxes, texts);
    }

    /** The detector's text regions, left to right then top to bottom. */
    List<Box> detect(BufferedImage img) {
        float[] prob;
        try (Result r = det.run(detInput(img))) {
            prob = r.get(0).toFloatArray();
        }
        return regions(prob, img.getWidth(), img.getHeight());
    }

    /** The detector's input for an image whose sides are multiples of 32. */
    static Map<String, Tensor> detInput(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        // DetResizeForTest keeps sides that are multiples of 32 as they are; NormalizeImage with ImageNet's mean/std
        float[] mean = {0.485f, 0.456f, 0.406f}, std = {0.229f, 0.224f, 0.225f};
        float[] x = new float[3 * h * w];
        for (int yy = 0; yy < h; yy++) {
            for (int xx = 0; xx < w; xx++) {
                int rgb = img.getRGB(xx, yy);
                int[] bgr = {rgb & 0xff, (rgb >> 8) & 0xff, (rgb >> 16) & 0xff}; // PaddleOCR reads images as BGR
                for (int c = 0; c < 3; c++) x[(c * h + yy) * w + xx] = (bgr[c] / 255f - mean[c]) / std[c];
            }
        }
        return Map.of("x", Tensor.ofFloats(Shape.of(1, 3, h, w), x));
    }

    /** DB post-processing: 4-connected regions above the threshold, each bounding box grown by the unclip distance. */
    static List<Box> regions(float[] prob, int w, int h) {
        boolean[] seen = new boolean[w * h];
        List<Box> boxes = new ArrayList<>();
        ArrayDeque<Integer> queue = new ArrayDeque<>();
        for (int start = 0; start < w * h; start++) {
            if (seen[start] || prob[start] <= DET_THRESHOLD) continue;
            int x0 = w, y0 = h, x1 = -1, y1 = -1, area = 0;
            seen[start] = true;
            queue.add(start);
            while (!queue.isEmpty()) {
                int p = queue.poll(), px = p % w, py = p / w;
                area++;
                x0 = Math.min(x0, px); x1 = Math.max(x1, px); y0 = Math.min(y0, py); y1 = Math.max(y1, py);
                int[] next = {px > 0 ? p - 1 : -1, px < w - 1 ? p + 1 : -1, py > 0 ? p - w : -1, py < h - 1 ? p + w : -1};
                for (int q : next) {
                    if (q >= 0 && !seen[q] && prob[q] > DET_THRESHOLD) {
                        seen[q] = true;
                        queue.add(q);
                    }
                }
            }
            int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
            if (area < 16 || bh < 3) continue; // specks, as PaddleOCR's min_size drops them
            // the detector predicts a shrunk kernel of each line; unclip grows it back by area * ratio / perimeter
            int d = Math.round((float) bw * bh * UNCLIP_RATIO / (2f * (bw + bh)));
            int nx0 = Math.max(0, x0 - d), ny0 = Math.max(0, y0 - d);
            int nx1 = Math.min(w - 1, x1 + d), ny1 = Math.min(h - 1, y1 + d);
            boxes.add(new Box(nx0, ny0, nx1 - nx0 + 1, ny1 - ny0 + 1));
        }
        boxes.sort(Comparator.comparingInt((Box b) -> b.y() / Math.max(1, b.h())).thenComparingInt(Box::x));
        return boxes;
    }

    /** Reads one region and decodes the recogniser's scores. */
    String recognise(BufferedImage img, Box b) {
        try (Result r = rec.run(recInput(img, b))) {
            Tensor scores = r.get(0);
            return ctcGreedy(scores.toFloatArray(), (int) scores.shape().dim(1), (int) scores.shape().dim(2), keys);
        }
    }

    /** The recogniser's input for a region: crop, resize to height 48 (aspect kept), normalise to [-1, 1], pad right. */
    static Map<String, Tensor> recInput(BufferedImage img, Box b) {
        int rw = (int) Math.ceil(REC_HEIGHT * (double) b.w() / b.h());
        int width = Math.max(REC_MIN_WIDTH, roundUp(rw, 8));
        BufferedImage crop = new BufferedImage(rw, REC_HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = crop.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(img, 0, 0, rw, REC_HEIGHT, b.x(), b.y(), b.x() + b.w(), b.y() + b.h(), null);
        g.dispose();
        float[] x = new float[3 * REC_HEIGHT * width]; // zero padding, as PaddleOCR's resize_norm_img pads
        for (int yy = 0; yy < REC_HEIGHT; yy++) {
            for (int xx = 0; xx < rw; xx++) {
                int rgb = crop.getRGB(xx, yy);
                int[] bgr = {rgb & 0xff, (rgb >> 8) & 0xff, (rgb >> 16) & 0xff};
                for (int c = 0; c < 3; c++) x[(c * REC_HEIGHT + yy) * width + xx] = (bgr[c] / 255f - 0.5f) / 0.5f;
            }
        }
        return Map.of("x", Tensor.ofFloats(Shape.of(1, 3, REC_HEIGHT, width), x));
    }

    /**
     * CTC greedy decoding of {@code steps x classes} scores: the best class of each step, runs of one class
     * merged, blanks (class 0) dropped; class {@code i} is {@code keys[i-1]}, the class after the keys a space.
     */
    static String ctcGreedy(float[] scores, int steps, int classes, List<String> keys) {
        StringBuilder b = new StringBuilder();
        int prev = -1;
        for (int t = 0; t < steps; t++) {
            int best = 0;
            for (int c = 1; c < classes; c++) if (scores[t * classes + c] > scores[t * classes + best]) best = c;
            if (best != 0 && best != prev) b.append(best - 1 < keys.size() ? keys.get(best - 1) : " ");
            prev = best;
        }
        return b.toString().strip();
    }

    private static int roundUp(int v, int m) { return (v + m - 1) / m * m; }
}
