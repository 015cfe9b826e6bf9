package dev.sluice.runtime.cli;

import dev.sluice.graph.Model;
import dev.sluice.graph.ModelCheck;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.graph.TypeInference;
import dev.sluice.graph.Value;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;

/** {@code sluice info MODEL}: what a model is made of and whether Sluice can run it. */
final class InfoCommand implements Command {
    @Override public String name() { return "info"; }
    @Override public String summary() { return "show a model's versions, inputs, outputs, ops, parameters, unsupported ops"; }
    @Override public String help() {
        return """
            usage: sluice info MODEL.onnx

            Prints the IR and opset versions, the producer, every input and output with its (symbolic)
            shape, the operator histogram (subgraphs included), the parameter count and bytes of the
            initializers, and the operators Sluice has no kernel for.""";
    }

    @Override public int run(Args args, PrintStream out) {
        if (args.positionals().size() != 1) throw new SluiceException("info takes exactly one MODEL file");
        Path file = Path.of(args.positionals().get(0));
        Model m = OnnxImporter.load(file);
        OpRegistry reg = OpRegistry.cpu();
        out.println("model     " + file);
        out.println("ir        " + m.irVersion());
        out.println("producer  " + (m.producer().isEmpty() ? "(none)" : m.producer()));
        StringBuilder ops = new StringBuilder();
        m.opsets().forEach((d, v) -> ops.append(ops.isEmpty() ? "" : ", ").append(d.isEmpty() ? "ai.onnx" : d).append(" ").append(v));
        out.println("opsets    " + ops);
        Map<String, Integer> unsupported = ModelCheck.unsupportedOps(m, reg);
        Model typed = m;
        if (unsupported.isEmpty()) {
            try {
                typed = TypeInference.run(m, reg, Map.of(), false);
            } catch (SluiceException e) {
                out.println("note      type inference stopped: " + e.getMessage());
            }
        }
        out.println("inputs:");
        for (Value v : m.graph().inputs()) out.printf("  %-24s %s%n", v.name(), v.type());
        out.println("outputs:");
        for (Value v : typed.graph().outputs()) out.printf("  %-24s %s%n", v.name(), typed.graph().typeOf(v.name()));
        Map<String, Integer> hist = ModelCheck.opHistogram(m);
        int total = hist.values().stream().mapToInt(Integer::intValue).sum();
        out.println("operators (" + total + " nodes, " + hist.size() + " kinds):");
        hist.entrySet().stream().sorted((a, b) -> b.getValue() - a.getValue())
            .forEach(e -> out.printf("  %-28s %6d%s%n", e.getKey(), e.getValue(), unsupported.containsKey(e.getKey()) ? "  (unsupported)" : ""));
        long params = 0, bytes = 0;
        for (Tensor t : m.graph().initializers().values()) { params += t.elementCount(); bytes += t.byteSize(); }
        out.println("parameters " + params + " in " + m.graph().initializers().size() + " initializers, " + bytes + " bytes ("
            + String.format("%.2f MiB", bytes / 1048576.0) + ")");
        if (unsupported.isEmpty()) out.println("unsupported ops: none");
        else out.println("unsupported ops: " + unsupported);
        return 0;
    }
}
