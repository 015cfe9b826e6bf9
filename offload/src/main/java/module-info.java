/**
 * Sluice's host memory (pinned through the CUDA driver where there is one), weight store and model swapping.
 * Nothing here is user API: the packages are exported only to the runtime (serving, devices) and the bench.
 * The JFR events ({@code dev.sluice.offload.events}) need no export: JFR makes an event class visible to
 * itself when it registers it, and recordings name events by their {@code @Name}, not their class.
 */
module dev.sluice.offload {
    requires transitive dev.sluice.kernels;
    requires jdk.jfr;

    exports dev.sluice.offload to dev.sluice.runtime, dev.sluice.bench;
    exports dev.sluice.offload.cuda to dev.sluice.runtime;
    exports dev.sluice.offload.swap to dev.sluice.runtime, dev.sluice.bench;
}
