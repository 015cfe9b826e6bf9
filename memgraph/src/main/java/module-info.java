/**
 * Sluice's memory planning and MemGraph construction. Nothing here is user API: both packages are exported only
 * to the runtime (which compiles and dispatches MemGraphs) and to the bench (which plans and simulates them).
 */
module dev.sluice.memgraph {
    requires transitive dev.sluice.graph;

    exports dev.sluice.memgraph to dev.sluice.runtime, dev.sluice.bench;
    exports dev.sluice.memgraph.plan to dev.sluice.runtime, dev.sluice.bench;
}
