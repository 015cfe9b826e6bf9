package dev.sluice.runtime.compile;

import dev.sluice.graph.OnnxImporter;
import dev.sluice.graph.fusion.PatternFusion;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.exec.SessionInternals;
import java.nio.file.Path;

/**
 * A session on the CPU's kernels whose graph is fused into standard ops only: what a placement across the cpu and
 * TornadoVM's device starts from, since TornadoVM's kernels know no Sluice-fused ops and both devices must run one
 * graph (the {@code place} command opens it so for {@code --devices cpu,tornadovm}; benches that place on TornadoVM
 * open it here).
 */
public final class StandardOpsSession {
    private StandardOpsSession() {}

    public static Session open(Path model, SessionOptions options) {
        return SessionInternals.open(OnnxImporter.load(model), options, OpRegistry.cpu(options.kernels()), PatternFusion.Target.STANDARD_OPS);
    }
}
