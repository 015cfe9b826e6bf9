package dev.sluice.runtime.compile;

import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import java.util.Map;

/**
 * A session runner that compiles through {@link Pipeline}: a placed run across devices ({@link PlacedRunner}) or one
 * device through the dispatcher ({@code DeviceOptions}). It keeps one {@link Compiled} per set of input shapes and
 * runs that compilation's executable, so the session can say, for any inputs, which values it runs them with.
 */
public interface PipelineRunner extends Session.Runner {
    /**
     * The pipeline's values for these inputs' shapes: compiled on first use, then kept.
     *
     * @param session the session that runs
     * @param inputs  the inputs by name
     * @return the compilation these inputs run with
     */
    Compiled compiled(Session session, Map<String, Tensor> inputs);
}
