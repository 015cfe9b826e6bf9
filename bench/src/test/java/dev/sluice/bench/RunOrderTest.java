package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sluice.kernels.SluiceException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;

class RunOrderTest {
    private static final List<String> MODELS = List.of("a", "b", "c", "d", "e", "f", "g", "h");

    @Test void givenAndReversed() {
        assertEquals(MODELS, RunOrder.parse(null).apply(MODELS));
        assertEquals(MODELS, RunOrder.parse("given").apply(MODELS));
        List<String> rev = new ArrayList<>(MODELS);
        java.util.Collections.reverse(rev);
        assertEquals(rev, RunOrder.parse("reversed").apply(MODELS));
    }

    @Test void aSeededShuffleIsAPermutationThatRepeatsAndNamesItsSeed() {
        List<String> once = RunOrder.parse("shuffled:7").apply(MODELS);
        assertEquals(once, RunOrder.parse("shuffled:7").apply(MODELS));
        assertEquals(new HashSet<>(MODELS), new HashSet<>(once));
        assertEquals(MODELS.size(), once.size());
        // some seed among a few moves something (8! orders: all five equal to the input would be a broken shuffle)
        boolean moved = false;
        for (int s = 1; s <= 5; s++) moved |= !RunOrder.parse("shuffled:" + s).apply(MODELS).equals(MODELS);
        assertEquals(true, moved);
        assertNotEquals(RunOrder.parse("shuffled:1").apply(MODELS), RunOrder.parse("shuffled:2").apply(MODELS));
        assertEquals("shuffled:7", RunOrder.parse("shuffled:7").toString());
        RunOrder random = RunOrder.parse("shuffled");
        assertEquals(random.apply(MODELS), RunOrder.parse(random.toString()).apply(MODELS));
    }

    @Test void badSpecsAreRefused() {
        assertThrows(SluiceException.class, () -> RunOrder.parse("sideways"));
        assertThrows(SluiceException.class, () -> RunOrder.parse("shuffled:x"));
    }
}
