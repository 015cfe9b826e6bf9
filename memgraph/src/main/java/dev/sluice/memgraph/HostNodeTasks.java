package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import dev.sluice.kernels.device.LaneKind;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A node on the host (device 0): one kernel task reading host copies (copied out of devices first where they
 * have none) and writing fresh host buffers. Never split; the host has no arena.
 */
record HostNodeTasks(BuildState s, int i) implements NodeTasks {
    @Override public long need() { return BuildState.nodeNeed(s.g, s.node(i)); }

    @Override public List<String> reads() {
        Node n = s.node(i);
        Set<String> r = new LinkedHashSet<>(BuildState.distinctInputs(n));
        r.addAll(MemGraph.capturedNames(n, s.g));
        return new ArrayList<>(r);
    }

    @Override public List<String> prefetched() { return List.of(); }

    @Override public String splitNote() { return ""; }

    @Override public void emit() {
        Node n = s.node(i);
        Residency res = s.res;
        TaskEmitter out = s.out;
        for (String v : reads()) if (!res.hostCopy.containsKey(v)) res.copyToHost(v, LaneKind.D2H, false);
        int id = out.next();
        List<Integer> ins = new ArrayList<>(), outs = new ArrayList<>(), cap = new ArrayList<>();
        for (String v : n.inputs()) ins.add(v.isEmpty() ? -1 : res.hostCopy.get(v));
        for (String v : MemGraph.capturedNames(n, s.g)) cap.add(res.hostCopy.getOrDefault(v, -1));
        for (String o : n.outputs()) {
            if (o.isEmpty()) { outs.add(-1); continue; }
            int b = out.hostBuffer(o);
            out.buffer(b).writer = id;
            res.hostCopy.put(o, b);
            outs.add(b);
        }
        out.add(new Task.Kernel(id, 0, i, "kernel " + n.label(), ins, cap, outs, null, -1));
        for (String v : reads()) out.read(res.hostCopy.get(v), id);
        s.releaseDead(i, this);
    }
}
