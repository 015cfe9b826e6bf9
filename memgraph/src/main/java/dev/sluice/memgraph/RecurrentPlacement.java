package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import java.util.HashSet;
import java.util.Set;

/**
 * Where a recurrent node split into tiles (time steps or hidden units) keeps what all its tiles share: its Y
 * (placed whole, each tile writing its steps in place), its constants (loaded whole and pinned), and X when it stays
 * resident (tiles then read views of it instead of range copies). Invariant: after {@link #place} one free run of
 * the per-tile bytes is left beside what it pinned, so the tiles' range and state buffers reuse each other's holes.
 *
 * @param y      Y's buffer, null when the graph does not want Y
 * @param xKept  whether X stays resident, read in place by the tiles
 * @param pinned what is pinned on the device for the node's tiles (its constants, Y, X when kept)
 */
record RecurrentPlacement(DraftBuffer y, boolean xKept, Set<String> pinned) {
    /** placeSteps' answer when the node has no Y to place. */
    private static final DraftBuffer NO_Y = new DraftBuffer(-1, "", 0, 0, 0);

    /**
     * Places recurrent node i's Y and constants for its tiles. X stays resident, read in place by the tiles, when
     * {@code mayKeepX} and it fits beside {@code need}; then the tiles need no range buffers ({@code slice} less per
     * tile). If that leaves no room, X is evicted; if fragmentation still stands in the way, the device is emptied
     * and Y, the inputs and one free run for the tiles are placed in that order (the node's need, {@code nodeNeed},
     * was checked against the budget, so an empty arena always fits it).
     */
    static RecurrentPlacement place(BuildState s, int i, boolean mayKeepX, long need, Set<String> consts, long perTile, long slice,
                                    long nodeNeed) {
        Node n = s.node(i);
        int d = s.placement[i];
        Residency res = s.res;
        Residency.Held D = res.on(d);
        String x = n.inputs().getFirst(), y = n.outputs().getFirst();
        Set<String> pinned = new HashSet<>();
        boolean kept = mayKeepX && D.holds(x) && need + D.get(x).bytes <= D.capacity();
        if (kept) pinned.add(x);
        else if (D.holds(x)) res.evict(d, x);
        DraftBuffer yBuf = placeSteps(s, d, consts, y, pinned, kept ? perTile - slice : perTile);
        if (yBuf == null && kept) {
            pinned.remove(x);
            res.evict(d, x);
            kept = false;
            yBuf = placeSteps(s, d, consts, y, pinned, perTile);
        }
        if (yBuf == null) {
            pinned.clear();
            res.evictUnless(d, r -> false);
            yBuf = placeSteps(s, d, consts, y, pinned, perTile);
            if (yBuf == null) throw new MemGraphException("node " + n.label() + " does not fit an empty arena of '" + D.name() + "'", nodeNeed);
        }
        return new RecurrentPlacement(yBuf == NO_Y ? null : yBuf, kept, pinned);
    }

    /**
     * Places Y (when wanted), then loads the whole inputs, and checks that one free run of {@code perTile} bytes is
     * left for the tiles' range and state buffers, evicting what the node does not hold if it must. Null (having
     * released Y) when fragmentation leaves no such run.
     */
    private static DraftBuffer placeSteps(BuildState s, int d, Set<String> consts, String y, Set<String> pinned, long perTile) {
        Residency res = s.res;
        Residency.Held D = res.on(d);
        for (String v : consts) if (D.holds(v)) pinned.add(v);
        DraftBuffer yBuf = null;
        if (!y.isEmpty()) {
            yBuf = res.allocate(d, y, s.blockBytes(y), pinned, true);
            if (yBuf == null) return null;
            pinned.add(y);
        }
        for (String v : consts) {
            if (D.holds(v)) continue;
            if (!res.load(d, v, pinned, true)) { if (yBuf != null) { pinned.remove(y); res.free(d, yBuf); } return null; }
            pinned.add(v);
        }
        while (D.arena.fit(perTile) < 0) {
            String victim = null;
            for (String r : D.resident.keySet()) if (!pinned.contains(r)) { victim = r; break; }
            if (victim == null) { if (yBuf != null) { pinned.remove(y); res.free(d, yBuf); } return null; }
            res.evict(d, victim);
        }
        return yBuf == null ? NO_Y : yBuf;
    }

    /** Publishes what the node's last tile wrote: Y and the final states, each resident (and on the host if wanted). */
    static void publish(BuildState s, int d, String y, DraftBuffer yBuf, java.util.Map<String, DraftBuffer> finals) {
        if (yBuf != null) s.res.publish(d, y, yBuf);
        for (var e : finals.entrySet()) s.res.publish(d, e.getKey(), e.getValue());
    }
}
