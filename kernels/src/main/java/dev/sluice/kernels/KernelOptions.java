package dev.sluice.kernels;

import java.util.Locale;

/**
 * The switches that change which loop a CPU kernel runs, as one value handed to {@link OpRegistry#cpu(KernelOptions)}
 * when a session opens: the kernels a registry holds read their switches from it, never from a JVM-wide flag, so
 * two sessions in one JVM may run with different switches. A {@code -Dsluice.*} property only supplies the default
 * ({@link #defaults()}).
 *
 * @param pointwiseConv whether group-1 pointwise (1x1, stride 1, no padding) convolutions over enough positions take
 *                      the register-tiled pointwise loop rather than the direct one (default
 *                      {@code -Dsluice.conv.pointwise}, on)
 * @param vectorMaxPool whether float MaxPool without indices runs its windows in vector lanes rather than the
 *                      generic scalar loop (default {@code -Dsluice.pool.vector}, on)
 */
public record KernelOptions(boolean pointwiseConv, boolean vectorMaxPool) {
    private static final KernelOptions DEFAULTS = new KernelOptions(flag("sluice.conv.pointwise", true), flag("sluice.pool.vector", true));

    /**
     * Options with the pointwise switch given and the others at their defaults.
     *
     * @param pointwiseConv whether to use the pointwise loop
     */
    public KernelOptions(boolean pointwiseConv) { this(pointwiseConv, DEFAULTS.vectorMaxPool); }

    /**
     * The defaults: each switch as its {@code -Dsluice.*} property says, or on.
     *
     * @return the default options (read once per JVM)
     * @throws SluiceException naming the property if one is set to anything but true or false
     */
    public static KernelOptions defaults() { return DEFAULTS; }

    /**
     * The same options with the pointwise convolution loop on or off.
     *
     * @param on whether to use it
     * @return new options
     */
    public KernelOptions withPointwiseConv(boolean on) { return new KernelOptions(on, vectorMaxPool); }

    /**
     * The same options with the vector MaxPool loop on or off.
     *
     * @param on whether to use it
     * @return new options
     */
    public KernelOptions withVectorMaxPool(boolean on) { return new KernelOptions(pointwiseConv, on); }

    /**
     * A boolean system property read strictly: unset gives {@code otherwise}; {@code true} or {@code false} (any
     * case) give themselves; anything else is refused naming the property.
     *
     * @param property  the property's name
     * @param otherwise the value when it is unset
     * @return the value
     */
    public static boolean flag(String property, boolean otherwise) {
        String v = System.getProperty(property);
        if (v == null) return otherwise;
        return switch (v.trim().toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new SluiceException("-D" + property + " must be true or false, got '" + v + "'");
        };
    }

    @Override public String toString() {
        return "pointwise-conv=" + (pointwiseConv ? "on" : "off") + " vector-maxpool=" + (vectorMaxPool ? "on" : "off");
    }
}
