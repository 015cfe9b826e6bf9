package dev.sluice.runtime.zoo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ZooTest {
    @TempDir Path tmp;

    @Test void sha256OfKnownBytes() throws Exception {
        Path f = Files.writeString(tmp.resolve("abc"), "abc", StandardCharsets.US_ASCII);
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Zoo.sha256(f));
    }

    @Test void wrongHashIsRefusedNamingBothHashes() throws Exception {
        Path f = Files.writeString(tmp.resolve("abc"), "abc", StandardCharsets.US_ASCII);
        String wrong = "0".repeat(64);
        SluiceException e = assertThrows(SluiceException.class, () -> Zoo.verify(f, wrong, "test file"));
        assertTrue(e.getMessage().contains(wrong) && e.getMessage().contains("ba7816bf"), e.getMessage());
        Zoo.verify(f, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", "test file");
    }

    @Test void mavenModelIsCopiedAndVerified() {
        String old = System.getProperty("sluice.zoo.dir");
        System.setProperty("sluice.zoo.dir", tmp.resolve("zoo").toString());
        try {
            Path p = Zoo.OCR_CLS.path();
            assertTrue(Files.isRegularFile(p));
            assertEquals(Zoo.OCR_CLS.sha256(), Zoo.sha256(p));
            assertTrue(Zoo.OCR_CLS.cached());
        } finally {
            if (old == null) System.clearProperty("sluice.zoo.dir"); else System.setProperty("sluice.zoo.dir", old);
        }
    }

    @Test void sampleInputsFollowZooMd() {
        Map<String, Tensor> vad = Zoo.SILERO_VAD.sampleInputs(1);
        assertEquals(DType.INT64, vad.get("sr").dtype());
        assertEquals(0, vad.get("sr").rank());
        assertEquals(16000, vad.get("sr").getLong(0));
        Map<String, Tensor> bert = Zoo.MINILM_L6.sampleInputs(1);
        Tensor ids = bert.get("input_ids");
        for (long i = 0; i < ids.elementCount(); i++) assertTrue(ids.getLong(i) >= 0 && ids.getLong(i) < 30522);
        assertEquals(1, bert.get("attention_mask").getLong(127));
        assertTrue(Zoo.OCR_DET.sampleInputs(7).get("x").sameBits(Zoo.OCR_DET.sampleInputs(7).get("x")));
    }
}
