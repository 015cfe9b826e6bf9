package dev.sluice.graph;

import ai.onnx.proto.OnnxMl;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Replaces every call of a model-local function ({@code ModelProto.functions}: exporters write a module or a
 * composite op once and call it) by the function's body, before the graph is converted, so that everything
 * after the importer sees plain operators.
 *
 * <p>Invariants of the inlined graph: a call's formal inputs and outputs become the call's actual names (an
 * omitted optional input stays omitted), every other value of the body gets a name of its own that no other call
 * and no name of the model can have ({@code <function>#<call>/<name>}); an attribute that refers to the call's
 * attributes ({@code ref_attr_name}) takes the call's value, else the function's default, else is left out, as
 * ONNX defines; calls inside a body are inlined too, and a function that calls itself, directly or not, is refused.
 * Names a body's subgraphs (If, Loop, Scan branches) take from the body are renamed with it.
 */
final class FunctionInliner {
    private static final int MAX_DEPTH = 64;

    private record Key(String domain, String name, String overload) {
        static Key of(String domain, String name, String overload) {
            return new Key(domain.equals("ai.onnx") ? "" : domain, name, overload);
        }
    }

    private final Map<Key, OnnxMl.FunctionProto> functions = new HashMap<>();
    private final Map<String, Long> modelOpsets;
    private final String where;
    private int calls;

    private FunctionInliner(OnnxMl.ModelProto model, Map<String, Long> modelOpsets, String where) {
        this.modelOpsets = modelOpsets;
        this.where = where;
        for (OnnxMl.FunctionProto f : model.getFunctionsList()) {
            Key k = Key.of(f.getDomain(), f.getName(), f.getOverload());
            if (functions.putIfAbsent(k, f) != null) {
                throw new ModelException(where + ": defines function '" + display(k) + "' twice");
            }
        }
    }

    /**
     * The model's graph with every call of a local function inlined; the graph itself if the model defines none.
     *
     * @param model the parsed model
     * @param modelOpsets the model's opset imports, domain "" for ai.onnx
     * @param where the file, for errors
     */
    static OnnxMl.GraphProto inline(OnnxMl.ModelProto model, Map<String, Long> modelOpsets, String where) {
        if (model.getFunctionsCount() == 0) return model.getGraph();
        FunctionInliner inliner = new FunctionInliner(model, modelOpsets, where);
        return inliner.graph(model.getGraph(), 0, new ArrayList<>());
    }

    private OnnxMl.GraphProto graph(OnnxMl.GraphProto g, int depth, List<Key> stack) {
        List<OnnxMl.NodeProto> nodes = new ArrayList<>();
        boolean changed = false;
        for (OnnxMl.NodeProto n : g.getNodeList()) {
            OnnxMl.FunctionProto f = functions.get(Key.of(n.getDomain(), n.getOpType(), n.getOverload()));
            if (f != null) {
                nodes.addAll(expand(n, f, depth, stack));
                changed = true;
            } else {
                OnnxMl.NodeProto m = subgraphs(n, depth, stack);
                changed |= m != n;
                nodes.add(m);
            }
        }
        return changed ? g.toBuilder().clearNode().addAllNode(nodes).build() : g;
    }

    /** The node with calls inside its graph attributes inlined (the same node if there are none). */
    private OnnxMl.NodeProto subgraphs(OnnxMl.NodeProto n, int depth, List<Key> stack) {
        boolean any = false;
        for (OnnxMl.AttributeProto a : n.getAttributeList()) any |= a.hasG() || a.getGraphsCount() > 0;
        if (!any) return n;
        OnnxMl.NodeProto.Builder b = n.toBuilder().clearAttribute();
        for (OnnxMl.AttributeProto a : n.getAttributeList()) {
            if (!a.hasG() && a.getGraphsCount() == 0) {
                b.addAttribute(a);
                continue;
            }
            OnnxMl.AttributeProto.Builder ab = a.toBuilder();
            if (a.hasG()) ab.setG(graph(a.getG(), depth, stack));
            ab.clearGraphs();
            for (OnnxMl.GraphProto sg : a.getGraphsList()) ab.addGraphs(graph(sg, depth, stack));
            b.addAttribute(ab);
        }
        return b.build();
    }

    private List<OnnxMl.NodeProto> expand(OnnxMl.NodeProto call, OnnxMl.FunctionProto f, int depth, List<Key> stack) {
        Key key = Key.of(f.getDomain(), f.getName(), f.getOverload());
        String at = where + ": node '" + call.getName() + "' calls function '" + display(key) + "'";
        if (stack.contains(key)) throw new ModelException(at + ", which calls itself (through " + stack + ")");
        if (depth >= MAX_DEPTH) throw new ModelException(at + " nested more than " + MAX_DEPTH + " calls deep");
        for (OnnxMl.OperatorSetIdProto o : f.getOpsetImportList()) {
            String d = o.getDomain().equals("ai.onnx") ? "" : o.getDomain();
            Long model = modelOpsets.get(d);
            // the model's version is the one every kernel reads; a body written for another would be run by the wrong rules
            if (model != null && model != o.getVersion()) {
                throw new ModelException(at + ", whose body imports opset " + o.getVersion() + " of domain '"
                    + (d.isEmpty() ? "ai.onnx" : d) + "' while the model imports " + model + "; Sluice runs one version per domain");
            }
        }
        if (call.getInputCount() > f.getInputCount()) {
            throw new ModelException(at + " with " + call.getInputCount() + " inputs; the function takes " + f.getInputCount());
        }
        if (call.getOutputCount() > f.getOutputCount()) {
            throw new ModelException(at + " with " + call.getOutputCount() + " outputs; the function has " + f.getOutputCount());
        }
        String prefix = display(key) + "#" + (calls++) + "/";
        Map<String, String> rename = new HashMap<>();
        for (int i = 0; i < f.getInputCount(); i++) rename.put(f.getInput(i), i < call.getInputCount() ? call.getInput(i) : "");
        for (int i = 0; i < f.getOutputCount(); i++) {
            // an output the call does not name is still computed inside; it gets a private name
            rename.put(f.getOutput(i), i < call.getOutputCount() && !call.getOutput(i).isEmpty() ? call.getOutput(i) : prefix + f.getOutput(i));
        }
        Map<String, OnnxMl.AttributeProto> actual = new HashMap<>();
        for (OnnxMl.AttributeProto a : call.getAttributeList()) actual.put(a.getName(), a);
        for (OnnxMl.AttributeProto a : f.getAttributeProtoList()) actual.putIfAbsent(a.getName(), a);

        List<OnnxMl.NodeProto> body = new ArrayList<>();
        int k = 0;
        for (OnnxMl.NodeProto n : f.getNodeList()) {
            OnnxMl.NodeProto.Builder b = n.toBuilder().clearInput().clearOutput().clearAttribute();
            b.setName(prefix + (n.getName().isEmpty() ? n.getOpType() + "_" + k : n.getName()));
            k++;
            for (String in : n.getInputList()) b.addInput(in.isEmpty() ? "" : rename.computeIfAbsent(in, x -> prefix + x));
            for (String out : n.getOutputList()) b.addOutput(out.isEmpty() ? "" : rename.computeIfAbsent(out, x -> prefix + x));
            for (OnnxMl.AttributeProto a : n.getAttributeList()) {
                if (!a.getRefAttrName().isEmpty()) {
                    OnnxMl.AttributeProto v = actual.get(a.getRefAttrName());
                    if (v != null) b.addAttribute(v.toBuilder().setName(a.getName()).clearRefAttrName());
                    continue; // neither given nor defaulted: the attribute is absent, as ONNX says
                }
                if (a.hasG() || a.getGraphsCount() > 0) {
                    OnnxMl.AttributeProto.Builder ab = a.toBuilder();
                    if (a.hasG()) ab.setG(renameCaptured(a.getG(), rename));
                    ab.clearGraphs();
                    for (OnnxMl.GraphProto sg : a.getGraphsList()) ab.addGraphs(renameCaptured(sg, rename));
                    b.addAttribute(ab);
                } else {
                    b.addAttribute(a);
                }
            }
            body.add(b.build());
        }
        // the body may call local functions too: inline them with this function on the stack
        List<Key> inner = new ArrayList<>(stack);
        inner.add(key);
        OnnxMl.GraphProto expanded = graph(OnnxMl.GraphProto.newBuilder().addAllNode(body).build(), depth + 1, inner);
        return expanded.getNodeList();
    }

    /** A body's subgraph with the names it captures from the body renamed; names it defines itself are kept. */
    private static OnnxMl.GraphProto renameCaptured(OnnxMl.GraphProto g, Map<String, String> rename) {
        Set<String> local = new HashSet<>();
        for (OnnxMl.ValueInfoProto v : g.getInputList()) local.add(v.getName());
        for (OnnxMl.TensorProto t : g.getInitializerList()) local.add(t.getName());
        for (OnnxMl.NodeProto n : g.getNodeList()) local.addAll(n.getOutputList());
        Map<String, String> outer = new HashMap<>(rename);
        outer.keySet().removeAll(local);
        OnnxMl.GraphProto.Builder b = g.toBuilder().clearNode().clearOutput();
        for (OnnxMl.NodeProto n : g.getNodeList()) {
            OnnxMl.NodeProto.Builder nb = n.toBuilder().clearInput().clearAttribute();
            for (String in : n.getInputList()) nb.addInput(outer.getOrDefault(in, in));
            for (OnnxMl.AttributeProto a : n.getAttributeList()) {
                if (!a.hasG() && a.getGraphsCount() == 0) {
                    nb.addAttribute(a);
                    continue;
                }
                OnnxMl.AttributeProto.Builder ab = a.toBuilder();
                if (a.hasG()) ab.setG(renameCaptured(a.getG(), outer));
                ab.clearGraphs();
                for (OnnxMl.GraphProto sg : a.getGraphsList()) ab.addGraphs(renameCaptured(sg, outer));
                nb.addAttribute(ab);
            }
            b.addNode(nb);
        }
        for (OnnxMl.ValueInfoProto v : g.getOutputList()) b.addOutput(v.toBuilder().setName(outer.getOrDefault(v.getName(), v.getName())));
        return b.build();
    }

    private static String display(Key k) {
        return (k.domain().isEmpty() ? "" : k.domain() + ".") + k.name() + (k.overload().isEmpty() ? "" : ":" + k.overload());
    }
}
