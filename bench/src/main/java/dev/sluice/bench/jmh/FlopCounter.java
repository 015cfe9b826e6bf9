package dev.sluice.bench.jmh;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Floating-point operations done, as a JMH secondary result: JMH divides it by time and sums it over
 * threads, so the "flop" line of a result reads FLOP/s directly ({@code sluice jmh} prints it as GFLOP/s).
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.OPERATIONS)
public class FlopCounter {
    public double flop;

    @Setup(Level.Iteration)
    public void reset() { flop = 0; }
}
