package dev.sluice.kernels.device;

import java.lang.reflect.InvocationTargetException;
import java.util.Optional;

/** Finds the optional accelerator backends of this build, once per JVM. */
public final class Accelerators {
    private static final String TORNADO_CLASS = "dev.sluice.kernels.tornado.TornadoBackend";
    private static volatile Object tornado; // AcceleratorBackend, or the String saying why there is none

    private Accelerators() {}

    /** The TornadoVM backend, if this build has it and TornadoVM starts here. */
    public static Optional<AcceleratorBackend> tornadovm() {
        Object t = load();
        return t instanceof AcceleratorBackend b ? Optional.of(b) : Optional.empty();
    }

    /** Why {@link #tornadovm()} is empty (null when it is not). */
    public static String tornadovmUnavailableReason() {
        Object t = load();
        return t instanceof String s ? s : null;
    }

    private static Object load() {
        Object t = tornado;
        if (t == null) {
            synchronized (Accelerators.class) {
                t = tornado;
                if (t == null) tornado = t = open();
            }
        }
        return t;
    }

    private static Object open() {
        String home = System.getenv("TORNADOVM_HOME");
        Class<?> c;
        try {
            c = Class.forName(TORNADO_CLASS);
        } catch (ClassNotFoundException e) {
            return "this build has no TornadoVM backend: build with TORNADOVM_HOME pointing at a TornadoVM SDK"
                + (home == null || home.isBlank() ? " (it is not set)" : " (it is set now; rebuild)");
        } catch (LinkageError e) {
            return tornadoMissing(e);
        }
        try {
            return c.getMethod("open").invoke(null);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof LinkageError le) return tornadoMissing(le);
            return "TornadoVM did not start: " + cause;
        } catch (ReflectiveOperationException | LinkageError e) {
            return tornadoMissing(e);
        }
    }

    private static String tornadoMissing(Throwable e) {
        return "TornadoVM's modules are not loaded (" + e + "): start the JVM with @$TORNADOVM_HOME/tornado-argfile"
            + " --add-opens tornado.api/uk.ac.manchester.tornado.api.types.arrays=ALL-UNNAMED (./sluice does this when"
            + " TORNADOVM_HOME is set)";
    }
}
