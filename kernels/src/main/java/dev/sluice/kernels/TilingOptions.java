package dev.sluice.kernels;

/**
 * Which splits the MemGraph builder ({@code dev.sluice.memgraph}) may use when a node does not fit its device's budget,
 * as one value handed to {@code MemGraph.build(graph, devices, placement, tiling)}: the builder carries it through its
 * planning and its walk, so two MemGraphs built in one JVM (two sessions, say) may be planned with different switches.
 * A {@code -Dsluice.tiling.*} property only supplies the default ({@link #defaults()}). It lives in this exported
 * package, beside {@link KernelOptions}, because it is a session option a user sets ({@code SessionOptions.tiling}),
 * while the MemGraph's own package is internal.
 *
 * <p>The switches choose what the builder plans; they never change how a planned tile runs. A tile kind's geometry
 * (an op family's tiling, a node's row bands) is a property of the op alone, so the executor that runs a MemGraph
 * built with any switches computes the tiles the builder placed.
 *
 * <p>Every switch on is the default and the plan this project measures and tests; turning one off is for
 * comparisons (what a kind of tile buys) and for getting round a kind that misbehaves on some model.
 *
 * @param tiles          any split at all; off gives the same plan with every node whole ({@code sluice.tiling.off=true}
 *                       turns it off)
 * @param rows           bands of output rows (tile kind {@code OUTPUT_ROWS}) ({@code sluice.tiling.rows})
 * @param columns        MatMul / Gemm / FusedMatMul by blocks of output columns ({@code sluice.tiling.columns})
 * @param channels       group-1 Conv / FusedConv by blocks of output channels ({@code sluice.tiling.channels})
 * @param boxes          output boxes by op family, the last resort (tile kind {@code OUTPUT_BOX}) ({@code sluice.tiling.boxes})
 * @param elements       same-shape elementwise nodes by element ranges ({@code sluice.tiling.elements})
 * @param steps          recurrent nodes by time steps ({@code sluice.tiling.steps})
 * @param units          recurrent nodes by step and block of hidden units ({@code sluice.tiling.units})
 * @param keepPartials   a box tile that cuts a reduction axis keeps its partial sums on the device for the next
 *                       tile rather than sending them through the host ({@code sluice.tiling.keepPartials})
 * @param gridByBytes    of the box grids that fit, the one that gathers the fewest input bytes rather than the
 *                       need-first grid ({@code sluice.tiling.gridByBytes})
 * @param keepResident   row bands and boxes may read an input still on the device in place and keep their output
 *                       there (the builder also plans without, and keeps whichever moves fewer link bytes)
 *                       ({@code sluice.tiling.keepResident})
 */
public record TilingOptions(boolean tiles, boolean rows, boolean columns, boolean channels, boolean boxes,
                            boolean elements, boolean steps, boolean units, boolean keepPartials, boolean gridByBytes, boolean keepResident) {
    private static final TilingOptions DEFAULTS = new TilingOptions(!KernelOptions.flag("sluice.tiling.off", false),
        on("rows"), on("columns"), on("channels"), on("boxes"), on("elements"), on("steps"), on("units"),
        on("keepPartials"), on("gridByBytes"), on("keepResident"));

    private static boolean on(String name) { return KernelOptions.flag("sluice.tiling." + name, true); }

    /**
     * The defaults: every split on, unless a {@code -Dsluice.tiling.*} property says otherwise.
     *
     * @return the default options (read once per JVM)
     * @throws SluiceException naming the property if one is set to anything but true or false
     */
    public static TilingOptions defaults() { return DEFAULTS; }

    /**
     * Every switch on, whatever the properties say: the plan the tests pin.
     *
     * @return the options with every split allowed
     */
    public static TilingOptions allOn() { return new TilingOptions(true, true, true, true, true, true, true, true, true, true, true); }

    /**
     * The same options with one switch set, by the short name of its property ({@code off} included: {@code
     * with("off", true)} turns every split off).
     *
     * @param name  {@code rows}, {@code columns}, {@code channels}, {@code boxes}, {@code elements}, {@code steps},
     *              {@code units}, {@code keepPartials}, {@code gridByBytes}, {@code keepResident} or {@code off}
     * @param value the switch's value
     * @return new options
     * @throws IllegalArgumentException for another name
     */
    public TilingOptions with(String name, boolean value) {
        return switch (name) {
            case "off" -> new TilingOptions(!value, rows, columns, channels, boxes, elements, steps, units, keepPartials, gridByBytes, keepResident);
            case "rows" -> new TilingOptions(tiles, value, columns, channels, boxes, elements, steps, units, keepPartials, gridByBytes, keepResident);
            case "columns" -> new TilingOptions(tiles, rows, value, channels, boxes, elements, steps, units, keepPartials, gridByBytes, keepResident);
            case "channels" -> new TilingOptions(tiles, rows, columns, value, boxes, elements, steps, units, keepPartials, gridByBytes, keepResident);
            case "boxes" -> new TilingOptions(tiles, rows, columns, channels, value, elements, steps, units, keepPartials, gridByBytes, keepResident);
            case "elements" -> new TilingOptions(tiles, rows, columns, channels, boxes, value, steps, units, keepPartials, gridByBytes, keepResident);
            case "steps" -> new TilingOptions(tiles, rows, columns, channels, boxes, elements, value, units, keepPartials, gridByBytes, keepResident);
            case "units" -> new TilingOptions(tiles, rows, columns, channels, boxes, elements, steps, value, keepPartials, gridByBytes, keepResident);
            case "keepPartials" -> new TilingOptions(tiles, rows, columns, channels, boxes, elements, steps, units, value, gridByBytes, keepResident);
            case "gridByBytes" -> new TilingOptions(tiles, rows, columns, channels, boxes, elements, steps, units, keepPartials, value, keepResident);
            case "keepResident" -> new TilingOptions(tiles, rows, columns, channels, boxes, elements, steps, units, keepPartials, gridByBytes, value);
            default -> throw new IllegalArgumentException("no tiling switch '" + name + "'");
        };
    }

    @Override public String toString() {
        if (!tiles) return "tiling=off";
        StringBuilder b = new StringBuilder("tiling=on");
        String[] names = {"rows", "columns", "channels", "boxes", "elements", "steps", "units", "keepPartials", "gridByBytes"};
        boolean[] v = {rows, columns, channels, boxes, elements, steps, units, keepPartials, gridByBytes};
        for (int i = 0; i < names.length; i++) if (!v[i]) b.append(' ').append(names[i]).append("=off");
        return b.toString();
    }
}
