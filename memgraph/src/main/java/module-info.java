/**
 * Sluice's memory planning and MemGraph construction. Nothing here is user API: both packages are exported only
 * to the runtime (which compiles and dispatches MemGraphs) and to the bench (which plans and simulates them).
 */
module dev.sluice.memgraph {
    requires transitive dev.sluice.graph;
    // the exact placement solver (CP-SAT); its natives jar stays on the class path (no valid module name)
    requires ortools.java;

    exports dev.sluice.memgraph to dev.sluice.runtime, dev.sluice.bench;
    exports dev.sluice.memgraph.plan to dev.sluice.runtime, dev.sluice.bench;
    exports dev.sluice.memgraph.placement to dev.sluice.runtime, dev.sluice.bench;
}
