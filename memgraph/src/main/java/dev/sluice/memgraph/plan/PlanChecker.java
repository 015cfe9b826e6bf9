package dev.sluice.memgraph.plan;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Checks an {@link OffsetPlan} on its own terms: every lifetime has an offset, every offset keeps the
 * alignment, every block lies inside the arena, and no two tensors live at the same step share a byte,
 * except an output written in place over the input that dies at the step it is written (same offset).
 */
public final class PlanChecker {
    private PlanChecker() {}

    /** Every violation found, as a sentence; empty if the plan is sound. */
    public static List<String> violations(OffsetPlan plan) {
        List<String> bad = new ArrayList<>();
        List<Lifetime> ls = new ArrayList<>();
        for (Lifetime l : plan.lifetimes()) {
            Long off = plan.offset(l.value());
            if (off == null) { bad.add(l.value() + ": no offset"); continue; }
            if (off < 0) bad.add(l.value() + ": negative offset " + off);
            if (off % Planner.ALIGNMENT != 0) bad.add(l.value() + ": offset " + off + " is not " + Planner.ALIGNMENT + "-byte aligned");
            if (off + l.bytes() > plan.arenaBytes()) {
                bad.add(l.value() + ": block [" + off + ", " + (off + l.bytes()) + ") ends past the arena of " + plan.arenaBytes() + " bytes");
            }
            ls.add(l);
        }
        if (plan.bound() > plan.arenaBytes()) bad.add("arena of " + plan.arenaBytes() + " bytes is below the lower bound " + plan.bound());
        // sweep in offset order: a pair can only clash if the later one starts before the earlier one ends
        ls.sort(Comparator.comparingLong(l -> plan.offset(l.value())));
        for (int i = 0; i < ls.size(); i++) {
            Lifetime a = ls.get(i);
            long aOff = plan.offset(a.value()), aEnd = aOff + a.bytes();
            for (int j = i + 1; j < ls.size(); j++) {
                Lifetime b = ls.get(j);
                long bOff = plan.offset(b.value());
                if (bOff >= aEnd) break;
                if (b.bytes() == 0 || a.bytes() == 0 || !a.overlapsInTime(b)) continue;
                if (inPlacePair(plan, a, b, aOff, bOff) || inPlacePair(plan, b, a, bOff, aOff)) continue;
                bad.add(a.value() + " [steps " + a.firstStep() + ".." + a.lastStep() + ", bytes " + aOff + ".." + aEnd + ") and "
                    + b.value() + " [steps " + b.firstStep() + ".." + b.lastStep() + ", bytes " + bOff + ".." + (bOff + b.bytes())
                    + ") are live together and overlap");
            }
        }
        return bad;
    }

    private static boolean inPlacePair(OffsetPlan plan, Lifetime out, Lifetime in, long outOff, long inOff) {
        return in.value().equals(plan.inPlace().get(out.value())) && outOff == inOff && in.lastStep() == out.firstStep();
    }

    /** Throws naming the first violations if the plan is unsound. */
    public static void requireValid(OffsetPlan plan) {
        List<String> bad = violations(plan);
        if (!bad.isEmpty()) {
            throw new IllegalStateException("memory plan (" + plan.heuristic() + ") is unsound: " + bad.size() + " violation(s), first: "
                + String.join("; ", bad.subList(0, Math.min(3, bad.size()))));
        }
    }
}
