package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.zoo.Zoo;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Many threads running one session at once get, bit for bit, what one thread gets alone: on the planned CPU
 * path (each concurrent run takes its own arena) and on the dispatcher path (runs take turns on the lanes).
 * Threads use different inputs, so a run that read another's intermediates would show as a mismatch.
 */
class ConcurrentRunTest {
    static final int THREADS = 6, RUNS = 4, SEEDS = 3;

    @Test
    void plannedCpuRunsFromManyThreadsMatchALoneThread() throws Exception {
        check(SessionOptions.builder().threads(2).build(), true);
    }

    @Test
    void dispatcherRunsFromManyThreadsMatchALoneThread() throws Exception {
        check(SessionOptions.builder().threads(2).devices("cpu", "throttled:50%").build(), false);
    }

    private static void check(SessionOptions options, boolean planned) throws Exception {
        Zoo.Model m = Zoo.OCR_CLS;
        List<Map<String, Tensor>> inputs = new ArrayList<>();
        for (int s = 0; s < SEEDS; s++) inputs.add(m.sampleInputs(100 + s));
        List<Map<String, Tensor>> alone = new ArrayList<>();
        try (Session ref = Session.open(m.path(), SessionOptions.builder().threads(1).memoryPlanning(false).build())) {
            for (Map<String, Tensor> in : inputs) alone.add(ref.run(in).asMap());
        }
        try (Session s = Session.open(m.path(), options)) {
            s.run(inputs.get(0)).close(); // the profiling run: later runs use planned arenas
            CyclicBarrier start = new CyclicBarrier(THREADS);
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<String>> results = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    int thread = t;
                    results.add(pool.submit(() -> {
                        start.await();
                        for (int r = 0; r < RUNS; r++) {
                            int which = (thread + r) % SEEDS;
                            try (Result res = s.run(inputs.get(which))) {
                                for (var e : alone.get(which).entrySet()) {
                                    if (!res.get(e.getKey()).sameBits(e.getValue())) {
                                        return "thread " + thread + " run " + r + " output " + e.getKey() + " differs from the lone run";
                                    }
                                }
                            }
                        }
                        return null;
                    }));
                }
                for (Future<String> f : results) assertEquals(null, f.get());
            } finally {
                pool.shutdown();
            }
            if (planned) {
                assertEquals(THREADS * RUNS, s.memoryPlans().plannedRuns(), "every concurrent run used a planned arena");
                assertTrue(s.memoryPlans().arenasMade() <= THREADS, "at most one arena per run in flight: " + s.memoryPlans().arenasMade());
            }
        }
    }
}
