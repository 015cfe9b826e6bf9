package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;

/**
 * One fusion pattern. {@link #tryFuse} looks at the pattern anchored at {@code anchor} (one op type per rule);
 * when it matches and may be fused, it records the rewrite in the matcher ({@link Matcher#replace}) and returns
 * true; otherwise it changes nothing and returns false.
 */
sealed interface FusionRule permits LayerNormRule, GeluRule, AddLayerNormRule, ConvRule, ConvTransposeRule,
        ChannelScaleResidualRule, MatMulRule, DynamicQuantMatMulRule, AttentionRule, ConvResidualRule {
    boolean tryFuse(Matcher fx, Node anchor);
}
