package dev.sluice.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/** Writes a bench run as a Markdown table and a PNG bar chart. */
final class Report {
    /** One model's result. Times are NaN and the error set where an engine failed; memory is -1 where not measured. */
    record Row(String name, String inputsFrom, double sluiceMs, double ortMs, long sluiceKiB, long ortKiB,
               int mismatches, String sluiceError, String ortError) {
        boolean bothRan() { return sluiceError == null && ortError == null; }
        double ratio() { return sluiceMs / ortMs; }
    }

    private Report() {}

    static String markdown(List<Row> rows, String setup, String memoryMethod, double geomean) {
        StringBuilder b = new StringBuilder("# Sluice vs ONNX Runtime\n\n").append(setup).append("\n\n");
        b.append("| model | inputs | Sluice median ms | ORT median ms | ratio Sluice/ORT | Sluice peak MiB | ORT peak MiB | outputs vs ORT |\n");
        b.append("|---|---|---:|---:|---:|---:|---:|---|\n");
        for (Row r : rows) {
            b.append("| ").append(r.name()).append(" | ").append(r.inputsFrom()).append(" | ")
                .append(r.sluiceError() == null ? fmt(r.sluiceMs()) : "failed").append(" | ")
                .append(r.ortError() == null ? fmt(r.ortMs()) : "failed").append(" | ")
                .append(r.bothRan() ? fmt(r.ratio()) : "–").append(" | ")
                .append(mib(r.sluiceKiB())).append(" | ").append(mib(r.ortKiB())).append(" | ")
                .append(!r.bothRan() ? "not compared" : r.mismatches() == 0 ? "match" : r.mismatches() + " differ").append(" |\n");
        }
        b.append("\nGeometric mean of the ratios (models both engines ran): **")
            .append(Double.isNaN(geomean) ? "n/a" : fmt(geomean)).append("**\n\n");
        b.append("Memory: ").append(memoryMethod).append(".\n");
        for (Row r : rows) {
            if (r.sluiceError() != null) b.append("\n- ").append(r.name()).append(", Sluice: ").append(oneLine(r.sluiceError()));
            if (r.ortError() != null) b.append("\n- ").append(r.name()).append(", ORT: ").append(oneLine(r.ortError()));
        }
        return b.append('\n').toString();
    }

    static String fmt(double v) { return String.format(Locale.ROOT, v >= 100 ? "%.1f" : v >= 1 ? "%.3f" : "%.4f", v); }

    static String mib(long kib) { return kib < 0 ? "n/a" : String.format(Locale.ROOT, "%.1f", kib / 1024.0); }

    private static String oneLine(String s) { return s.replace('\n', ' ').replace("|", "\\|"); }

    /**
     * Bars of median latency per model, ORT's scaled to 1 and Sluice's to the ratio (so models of any size
     * share one axis), each labelled with its milliseconds; a dashed line marks parity.
     */
    static void chart(List<Row> rows, String title, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int groupW = 150, left = 70, top = 60, plotH = 320, bottom = 110;
        int w = Math.max(560, left + 30 + groupW * Math.max(1, rows.size()));
        int h = top + plotH + bottom;
        double max = 1.25;
        for (Row r : rows) if (r.bothRan()) max = Math.max(max, r.ratio() * 1.15);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(title, left, 24);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.drawString("latency relative to ONNX Runtime (lower is better); labels: median ms", left, 44);
        int y0 = top + plotH;
        g.drawLine(left, top, left, y0);
        g.drawLine(left, y0, w - 20, y0);
        double step = max > 6 ? Math.ceil(max / 6) : max > 3 ? 1 : 0.25;
        for (double t = 0; t <= max + 1e-9; t += step) {
            int y = y0 - (int) Math.round(t / max * plotH);
            g.setColor(new Color(230, 230, 230));
            g.drawLine(left + 1, y, w - 20, y);
            g.setColor(Color.BLACK);
            g.drawString(String.format(Locale.ROOT, "%.2fx", t), 18, y + 4);
        }
        int yOne = y0 - (int) Math.round(1 / max * plotH);
        g.setColor(Color.GRAY);
        g.setStroke(new BasicStroke(1, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {6, 4}, 0));
        g.drawLine(left + 1, yOne, w - 20, yOne);
        g.setStroke(new BasicStroke(1));
        Color ortC = new Color(120, 120, 120), sluiceC = new Color(31, 119, 180);
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            int x = left + 20 + i * groupW;
            bar(g, x, y0, plotH, max, r.ortError() == null ? 1.0 : Double.NaN, ortC,
                r.ortError() == null ? fmt(r.ortMs()) + " ms" : "failed");
            bar(g, x + 55, y0, plotH, max, r.bothRan() ? r.ratio() : Double.NaN, sluiceC,
                r.sluiceError() == null && r.ortError() == null ? fmt(r.sluiceMs()) + " ms" : r.sluiceError() != null ? "failed" : fmt(r.sluiceMs()) + " ms");
            g.setColor(Color.BLACK);
            String label = r.name().length() > 19 ? r.name().substring(0, 18) + "…" : r.name();
            g.drawString(label, x, y0 + 18);
            if (r.bothRan()) g.drawString(String.format(Locale.ROOT, "ratio %.2f", r.ratio()), x, y0 + 34);
        }
        int ly = h - 30;
        g.setColor(ortC);
        g.fillRect(left, ly - 10, 12, 12);
        g.setColor(Color.BLACK);
        g.drawString("ONNX Runtime", left + 18, ly);
        g.setColor(sluiceC);
        g.fillRect(left + 130, ly - 10, 12, 12);
        g.setColor(Color.BLACK);
        g.drawString("Sluice", left + 148, ly);
        g.dispose();
        Files.createDirectories(png.toAbsolutePath().getParent());
        ImageIO.write(img, "png", png.toFile());
    }

    private static void bar(Graphics2D g, int x, int y0, int plotH, double max, double v, Color c, String label) {
        int bw = 45;
        if (Double.isNaN(v)) {
            g.setColor(Color.RED);
            g.drawString(label, x, y0 - 6);
            return;
        }
        int bh = (int) Math.round(v / max * plotH);
        g.setColor(c);
        g.fillRect(x, y0 - bh, bw, bh);
        g.setColor(Color.BLACK);
        g.setFont(g.getFont().deriveFont(10f));
        g.drawString(label, x, y0 - bh - 4);
        g.setFont(g.getFont().deriveFont(12f));
    }
}
