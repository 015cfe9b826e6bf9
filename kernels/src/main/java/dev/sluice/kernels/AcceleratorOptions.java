package dev.sluice.kernels;

/**
 * The switches of an accelerator backend's kernels, as one value handed to
 * {@code AcceleratorBackend.registry(cpu, options)} ({@code dev.sluice.kernels.device}) when a session builds its
 * registry for the device: the kernels of that registry read them, never a JVM-wide flag, so two sessions in one JVM
 * may use the same backend with different switches. A {@code -Dsluice.tornado.*} property only supplies the default
 * ({@link #defaults()}). Neither switch changes an output: they change what is copied and what is measured. It lives
 * in this exported package, beside {@link KernelOptions}, because it is a session option a user sets
 * ({@code SessionOptions.accelerator}), while the device SPI is internal.
 *
 * <p>Which device a backend drives ({@code -Dsluice.tornado.device}) is not here: the backend, TornadoVM's runtime
 * with its compiled kernels, is opened once per JVM for one device, so that choice stays JVM-wide.
 *
 * @param residentWeights whether a kernel keeps a graph initializer on the device after its first call rather than
 *                        copying it on every call (default {@code -Dsluice.tornado.resident}, on)
 * @param profile         whether the backend's profiler measures each device call's copies and kernel into the
 *                        backend's counters (default {@code -Dsluice.tornado.profile}, off; it costs time per call)
 */
public record AcceleratorOptions(boolean residentWeights, boolean profile) {
    private static final AcceleratorOptions DEFAULTS = new AcceleratorOptions(KernelOptions.flag("sluice.tornado.resident", true),
        KernelOptions.flag("sluice.tornado.profile", false));

    /**
     * The defaults: each switch as its {@code -Dsluice.tornado.*} property says.
     *
     * @return the default options (read once per JVM)
     * @throws SluiceException naming the property if one is set to anything but true or false
     */
    public static AcceleratorOptions defaults() { return DEFAULTS; }

    /**
     * The same options with resident weights on or off.
     *
     * @param on whether to keep weights on the device
     * @return new options
     */
    public AcceleratorOptions withResidentWeights(boolean on) { return new AcceleratorOptions(on, profile); }

    /**
     * The same options with the profiler on or off.
     *
     * @param on whether to profile device calls
     * @return new options
     */
    public AcceleratorOptions withProfile(boolean on) { return new AcceleratorOptions(residentWeights, on); }

    @Override public String toString() {
        return "tornado-resident=" + (residentWeights ? "on" : "off") + " tornado-profile=" + (profile ? "on" : "off");
    }
}
