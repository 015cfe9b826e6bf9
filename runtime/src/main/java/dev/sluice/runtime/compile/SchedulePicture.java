package dev.sluice.runtime.compile;

import dev.sluice.memgraph.placement.Simulator;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import javax.imageio.ImageIO;

/** Draws a predicted schedule as a PNG: a Gantt row per lane, and beneath it each accelerator's live bytes over time. */
public final class SchedulePicture {
    private SchedulePicture() {}

    public static void write(Simulator.Prediction p, List<String> deviceNames, String title, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<String> lanes = new ArrayList<>(new TreeSet<>(p.slices().stream().map(Simulator.Slice::lane).toList()));
        int w = 1400, left = 150, right = 20, top = 40, row = 36, memH = 180, gap = 40;
        int h = top + lanes.size() * row + gap + (deviceNames.size() - 1) * (memH + gap) + 30;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int pw = w - left - right;
        double sx = pw / Math.max(1e-9, p.makespanMillis());
        g.setColor(Color.BLACK);
        g.drawString(title + String.format("  (predicted %.3f ms)", p.makespanMillis()), left, 24);
        for (int i = 0; i < lanes.size(); i++) {
            int y = top + i * row;
            g.setColor(new Color(245, 245, 245));
            g.fillRect(left, y, pw, row - 6);
            g.setColor(Color.BLACK);
            String lane = lanes.get(i);
            int dev = Integer.parseInt(lane.substring(0, lane.indexOf('.')));
            g.drawString(deviceNames.get(dev) + " " + lane.substring(lane.indexOf('.') + 1).toLowerCase(), 6, y + row / 2);
            for (Simulator.Slice s : p.slices()) {
                if (!s.lane().equals(lane)) continue;
                int x0 = left + (int) (s.start() * sx), x1 = left + (int) Math.ceil(s.end() * sx);
                int hue = s.label().hashCode() * 0x9E3779B9;
                g.setColor(lane.endsWith("COMPUTE") ? Color.getHSBColor((hue >>> 16) / 65536f, 0.5f, 0.9f) : new Color(120, 160, 220));
                g.fillRect(x0, y, Math.max(1, x1 - x0), row - 6);
            }
        }
        int base = top + lanes.size() * row + gap;
        for (int d = 1; d < deviceNames.size(); d++) {
            List<double[]> m = p.memory().get(d);
            double most = Math.max(1, p.peakBytes().get(d));
            int y0 = base + (d - 1) * (memH + gap);
            g.setColor(new Color(245, 245, 245));
            g.fillRect(left, y0, pw, memH);
            g.setColor(new Color(200, 80, 60));
            for (int i = 0; i + 1 < m.size(); i++) {
                int x0 = left + (int) (m.get(i)[0] * sx), x1 = left + (int) Math.ceil(m.get(i + 1)[0] * sx);
                int hh = (int) (m.get(i)[1] / most * memH);
                g.fillRect(x0, y0 + memH - hh, Math.max(1, x1 - x0), hh);
            }
            g.setColor(Color.BLACK);
            g.drawString(deviceNames.get(d) + " memory", 6, y0 + 14);
            g.drawString("peak " + p.peakBytes().get(d) + " B", 6, y0 + 30);
        }
        g.drawString("0 ms", left, h - 10);
        String end = String.format("%.3f ms", p.makespanMillis());
        g.drawString(end, left + pw - g.getFontMetrics().stringWidth(end), h - 10);
        g.dispose();
        if (!ImageIO.write(img, "png", file.toFile())) throw new IOException("no PNG writer");
    }
}
