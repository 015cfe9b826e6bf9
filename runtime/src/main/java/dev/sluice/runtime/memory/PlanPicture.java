package dev.sluice.runtime.memory;

import dev.sluice.memgraph.plan.Lifetime;
import dev.sluice.memgraph.plan.OffsetPlan;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** Draws a plan as a PNG: steps across, addresses up, one rectangle per tensor, the lower bound as a line. */
public final class PlanPicture {
    private PlanPicture() {}

    public static void write(OffsetPlan plan, int steps, String title, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int w = 1400, h = 800, left = 90, right = 20, top = 40, bottom = 50;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        int pw = w - left - right, ph = h - top - bottom;
        double sx = (double) pw / Math.max(1, steps);
        long maxY = Math.max(1, Math.max(plan.arenaBytes(), plan.bound()));
        double sy = ph / (double) maxY;
        g.setColor(new Color(245, 245, 245));
        g.fillRect(left, top, pw, ph);
        for (Lifetime l : plan.lifetimes()) {
            long off = plan.offset(l.value());
            int x0 = left + (int) Math.floor(l.firstStep() * sx);
            int x1 = left + (int) Math.ceil((l.lastStep() + 1) * sx);
            int y1 = top + ph - (int) Math.floor(off * sy);
            int y0 = top + ph - (int) Math.ceil((off + l.bytes()) * sy);
            int hue = l.value().hashCode() * 0x9E3779B9;
            g.setColor(Color.getHSBColor((hue >>> 16) / 65536f, 0.45f + (hue & 0xff) / 1024f, 0.92f));
            g.fillRect(x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0));
            g.setColor(new Color(60, 60, 60));
            if (x1 - x0 > 2 && y1 - y0 > 2) g.drawRect(x0, y0, x1 - x0, y1 - y0);
        }
        g.setStroke(new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {8f, 6f}, 0f));
        int yb = top + ph - (int) Math.round(plan.bound() * sy);
        g.setColor(Color.RED);
        g.drawLine(left, yb, left + pw, yb);
        int ya = top + ph - (int) Math.round(plan.arenaBytes() * sy);
        g.setColor(Color.BLUE);
        g.drawLine(left, ya, left + pw, ya);
        g.setStroke(new BasicStroke(1f));
        g.setColor(Color.BLACK);
        g.drawRect(left, top, pw, ph);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        g.drawString(title + "  (" + plan.heuristic() + ": arena " + mib(plan.arenaBytes()) + ", blue; bound " + mib(plan.bound())
            + ", red dashed; ratio " + String.format("%.4f", plan.ratio()) + ")", left, 24);
        g.drawString("step 0", left, h - 28);
        String last = "step " + (steps - 1);
        g.drawString(last, left + pw - g.getFontMetrics().stringWidth(last), h - 28);
        g.drawString("execution order \u2192", left + pw / 2 - 50, h - 12);
        g.drawString("0", left - 20, top + ph);
        g.drawString(mib(maxY), 4, top + 12);
        g.drawString("address \u2191", 4, top + ph / 2);
        g.dispose();
        if (!ImageIO.write(img, "png", file.toFile())) throw new IOException("no PNG writer");
    }

    static String mib(long bytes) {
        return bytes >= 1 << 20 ? String.format("%.2f MiB", bytes / 1048576.0)
            : bytes >= 1 << 10 ? String.format("%.1f KiB", bytes / 1024.0) : bytes + " B";
    }
}
