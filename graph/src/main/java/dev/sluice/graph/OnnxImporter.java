package dev.sluice.graph;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads an ONNX model file into the IR: initializers (raw and typed fields, external data beside the
 * model), opset imports, every attribute kind, subgraphs and symbolic dimensions. It checks the structure
 * (names defined before use) but not operator semantics; that is type inference's job.
 */
public final class OnnxImporter {
    /**
     * The newest default-domain opset a model may import. ONNX 1.17 defines opset 22 and each release adds at
     * most one, so no release up to 1.23 goes beyond the twenties: a larger stamp is damage (or an ONNX from the
     * future whose operator changes no kernel here has seen), refused rather than run on guessed semantics.
     */
    public static final int MAX_OPSET = 30;

    private final Path file;
    private final Path baseDir;
    /** The mapped file the protobuf was parsed from (raw data is read from it), or null for bytes in memory. */
    private final MappedModel mapped;
    private int anonymous;

    private OnnxImporter(Path file, MappedModel mapped) {
        this.file = file;
        this.mapped = mapped;
        Path parent = file.toAbsolutePath().getParent();
        this.baseDir = parent == null ? Path.of(".") : parent;
    }

    /**
     * Loads and checks a model file. The file is mapped for the length of the import and parsed in place;
     * every weight is read once, from the file into one native segment, and the returned model holds no
     * protobuf object (so the parsed message, and the mapping, are gone once this returns).
     */
    public static Model load(Path file) {
        if (!Files.exists(file)) throw new ModelException(file + ": no such file");
        if (Files.isDirectory(file)) throw new ModelException(file + ": is a folder, not an ONNX model file");
        // a FIFO or device would block the read or never end: only regular files (or links to them) are models
        if (!Files.isRegularFile(file)) throw new ModelException(file + ": not a regular file (a FIFO, socket or device), not an ONNX model file");
        MappedModel mm;
        try {
            mm = MappedModel.open(file);
        } catch (NoSuchFileException e) {
            throw new ModelException(file + ": no such file");
        } catch (AccessDeniedException e) {
            throw new ModelException(file + ": permission denied");
        } catch (IOException e) {
            // a file system that cannot map files: read it as a stream (the weights' bytes pass through the heap once)
            return new OnnxImporter(file, null).convert(parseStream(file));
        }
        try (mm) {
            return new OnnxImporter(file, mm).convert(parse(mm.input(), file.toString()));
        }
    }

    /** Loads a model from bytes (e.g. a classpath resource); external data resolves against baseDir. */
    public static Model load(byte[] bytes, String name, Path baseDir) {
        return convert(parse(bytes, name), baseDir.resolve(name));
    }

    /** Converts a parsed message; package-private so that tests can watch the message become unreachable. */
    static Model convert(OnnxMl.ModelProto proto, Path file) {
        return new OnnxImporter(file, null).convert(proto);
    }

    private static OnnxMl.ModelProto parseStream(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return parse(CodedInputStream.newInstance(in), file.toString());
        } catch (NoSuchFileException e) {
            throw new ModelException(file + ": no such file");
        } catch (AccessDeniedException e) {
            throw new ModelException(file + ": permission denied");
        } catch (IOException e) {
            throw new ModelException(file + ": cannot read (" + e.getMessage() + ")");
        }
    }

    static OnnxMl.ModelProto parse(byte[] bytes, String name) {
        CodedInputStream cin = CodedInputStream.newInstance(bytes);
        // raw data aliases the caller's array instead of being copied; the import copies it once, natively
        cin.enableAliasing(true);
        return parse(cin, name);
    }

    private static OnnxMl.ModelProto parse(CodedInputStream cin, String name) {
        cin.setSizeLimit(Integer.MAX_VALUE);
        cin.setRecursionLimit(512);
        OnnxMl.ModelProto proto;
        try {
            proto = OnnxMl.ModelProto.parseFrom(cin);
        } catch (InvalidProtocolBufferException e) {
            throw new ModelException(name + ": malformed or truncated ONNX model (" + e.getMessage() + ")");
        } catch (IOException e) {
            throw new ModelException(name + ": cannot read (" + e.getMessage() + ")");
        }
        if (!proto.hasGraph() || proto.getGraph().getNodeCount() == 0 && proto.getGraph().getOutputCount() == 0) {
            throw new ModelException(name + ": not an ONNX model (no graph); is the file truncated or of another format?");
        }
        return proto;
    }

    private Model convert(OnnxMl.ModelProto proto) {
        Map<String, Long> opsets = new LinkedHashMap<>();
        for (OnnxMl.OperatorSetIdProto o : proto.getOpsetImportList()) {
            String d = o.getDomain().equals("ai.onnx") ? "" : o.getDomain();
            Long before = opsets.put(d, o.getVersion());
            if (before != null && before != o.getVersion()) {
                throw new ModelException(file + ": imports the opset of domain '" + (d.isEmpty() ? "ai.onnx" : d) + "' twice, as "
                    + before + " and " + o.getVersion() + "; which one its nodes mean is unknown");
            }
        }
        if (!opsets.containsKey("")) opsets.put("", 1L);
        long opset = opsets.get("");
        if (opset < 1 || opset > MAX_OPSET) {
            throw new ModelException(file + ": imports ONNX opset " + opset + "; Sluice reads opsets 1 to " + MAX_OPSET
                + (opset > MAX_OPSET ? " (no ONNX release defines a later one: is the file damaged?)" : ""));
        }
        String producer = (proto.getProducerName() + " " + proto.getProducerVersion()).trim();
        Graph g;
        try {
            g = convertGraph(FunctionInliner.inline(proto, opsets, file.toString()), Set.of(), true);
        } catch (ModelException e) {
            throw e;
        } catch (SluiceException e) {
            throw new ModelException(file + ": " + e.getMessage(), e);
        }
        return new Model(g, proto.getIrVersion(), opsets, producer, file.toString());
    }

    private Graph convertGraph(OnnxMl.GraphProto gp, Set<String> outer, boolean main) {
        String gname = gp.getName().isEmpty() ? (main ? "main" : "subgraph") : gp.getName();
        String where = file + (main ? "" : " (subgraph '" + gname + "')");
        if (gp.getSparseInitializerCount() > 0) {
            throw new ModelException(where + ": sparse initializers are not supported");
        }
        checkSingleAssignment(gp, where);
        refuseZipMap(gp, where);
        Map<String, Tensor> inits = initializers(gp, where);
        Map<String, TensorType> types = new LinkedHashMap<>();
        List<Value> inputs = new ArrayList<>();
        for (OnnxMl.ValueInfoProto vi : gp.getInputList()) {
            TensorType tt = valueType(vi, where, "input");
            types.put(vi.getName(), tt);
            // Older exporters list initializers among the inputs; they stay constants, not caller inputs.
            if (!inits.containsKey(vi.getName())) inputs.add(new Value(vi.getName(), tt));
        }
        for (OnnxMl.ValueInfoProto vi : gp.getValueInfoList()) {
            if (vi.getType().hasTensorType()) types.put(vi.getName(), valueType(vi, where, "value"));
        }
        List<Value> outputs = new ArrayList<>();
        for (OnnxMl.ValueInfoProto vi : gp.getOutputList()) {
            TensorType tt = valueType(vi, where, "output");
            types.put(vi.getName(), tt);
            outputs.add(new Value(vi.getName(), tt));
        }
        Set<String> visible = new HashSet<>(outer);
        visible.addAll(inits.keySet());
        inputs.forEach(v -> visible.add(v.name()));
        List<Node> nodes = new ArrayList<>();
        List<OnnxMl.NodeProto> pending = new ArrayList<>(gp.getNodeList());
        // ONNX requires topological order, but some exporters do not keep it: sort, keeping order on ties.
        while (!pending.isEmpty()) {
            boolean progress = false;
            for (var it = pending.iterator(); it.hasNext(); ) {
                OnnxMl.NodeProto np = it.next();
                if (!ready(np, visible)) continue;
                Node n = convertNode(np, visible, where);
                nodes.add(n);
                for (String o : n.outputs()) if (!o.isEmpty()) visible.add(o);
                it.remove();
                progress = true;
            }
            if (!progress) throw unreachable(pending, visible, where);
        }
        for (Value o : outputs) {
            if (!visible.contains(o.name())) throw new ModelException(where + ": graph output '" + o.name() + "' is never produced");
        }
        return new Graph(gname, nodes, inputs, outputs, inits, types);
    }

    /**
     * A graph's initializers, side by side in one native segment: every one is checked against the data it
     * carries before anything is allocated, then the segment is allocated once and each is read into its block
     * ({@link Tensor#blockBytes} apart, laid out as a planned arena's blocks are). One allocation instead of one
     * per weight, and the same layout {@code WeightArena} packs, so a session need not copy the weights again.
     */
    private Map<String, Tensor> initializers(OnnxMl.GraphProto gp, String where) {
        List<TensorProtos.Checked> checked = new ArrayList<>(gp.getInitializerCount());
        long total = 0;
        for (OnnxMl.TensorProto t : gp.getInitializerList()) {
            TensorProtos.Checked c = TensorProtos.check(t, baseDir, where + ": initializer '" + t.getName() + "'");
            checked.add(c);
            total += c.blockBytes();
        }
        Map<String, Tensor> inits = new LinkedHashMap<>();
        if (checked.isEmpty()) return inits;
        java.lang.foreign.MemorySegment segment;
        try {
            TensorSizes.requireAllocatable(total, where + ": " + checked.size() + " initializers");
            segment = java.lang.foreign.Arena.ofAuto().allocate(total, Tensor.ALIGNMENT);
        } catch (ModelException e) {
            throw e;
        } catch (SluiceException e) {
            throw new ModelException(e.getMessage());
        } catch (OutOfMemoryError e) {
            throw new ModelException(where + ": cannot allocate " + total + " bytes for " + checked.size() + " initializers (" + e.getMessage() + ")");
        }
        long off = 0;
        for (TensorProtos.Checked c : checked) {
            long b = c.blockBytes();
            Tensor t = Tensor.inBlock(c.dtype(), c.shape(), segment.asSlice(off, b));
            off += b;
            TensorProtos.fill(c, t, mapped);
            inits.put(c.proto().getName(), t);
        }
        return inits;
    }

    /**
     * ONNX graphs are in single static assignment form: every value has one definition. Refuses a name listed
     * twice among the inputs or the initializers, and a node output that an input, an initializer, another
     * node or the same node already defines (which of the writers would a reader see?). An initializer that is
     * also listed among the inputs is allowed: older exporters list weights there, as defaults.
     */
    private static void checkSingleAssignment(OnnxMl.GraphProto gp, String where) {
        Map<String, String> definedBy = new java.util.HashMap<>();
        Set<String> inputNames = new HashSet<>();
        for (OnnxMl.ValueInfoProto vi : gp.getInputList()) {
            if (!inputNames.add(vi.getName())) throw new ModelException(where + ": graph input '" + vi.getName() + "' is listed twice");
            definedBy.put(vi.getName(), "the graph input of that name");
        }
        Set<String> initNames = new HashSet<>();
        for (OnnxMl.TensorProto t : gp.getInitializerList()) {
            if (!initNames.add(t.getName())) throw new ModelException(where + ": initializer '" + t.getName() + "' is defined twice");
            definedBy.put(t.getName(), inputNames.contains(t.getName()) ? "the initializer (and graph input) of that name" : "the initializer of that name");
        }
        for (OnnxMl.NodeProto np : gp.getNodeList()) {
            for (String o : np.getOutputList()) {
                if (o.isEmpty()) continue;
                String prev = definedBy.putIfAbsent(o, "node " + nodeLabel(np));
                if (prev != null) {
                    throw new ModelException(where + ": node " + nodeLabel(np) + " writes '" + o + "', which " + prev
                        + " already defines; every value must have exactly one definition");
                }
            }
        }
    }

    /** Why no pending node can run: a value nothing defines, or (when every wait is on another pending node) a cycle. */
    private static ModelException unreachable(List<OnnxMl.NodeProto> pending, Set<String> visible, String where) {
        Map<String, OnnxMl.NodeProto> producer = new java.util.HashMap<>();
        for (OnnxMl.NodeProto np : pending) for (String o : np.getOutputList()) if (!o.isEmpty()) producer.put(o, np);
        for (OnnxMl.NodeProto np : pending) {
            for (String i : np.getInputList()) {
                if (!i.isEmpty() && !visible.contains(i) && !producer.containsKey(i)) {
                    return new ModelException(where + ": node " + nodeLabel(np) + " reads '" + i
                        + "', which no node, input or initializer defines");
                }
            }
        }
        // Every pending node waits for another pending node: follow the waits until one repeats.
        List<OnnxMl.NodeProto> path = new ArrayList<>();
        OnnxMl.NodeProto at = pending.get(0);
        while (!path.contains(at)) {
            path.add(at);
            OnnxMl.NodeProto here = at;
            String waitsOn = here.getInputList().stream().filter(i -> !i.isEmpty() && !visible.contains(i)).findFirst().orElseThrow();
            at = producer.get(waitsOn);
        }
        List<String> cycle = path.subList(path.indexOf(at), path.size()).stream().map(OnnxImporter::nodeLabel).toList();
        return new ModelException(where + ": the graph has a cycle: " + String.join(" -> ", cycle) + " -> " + nodeLabel(at)
            + " (each reads an output of the next)");
    }

    /**
     * ZipMap (ai.onnx.ml) turns class scores into a sequence of maps, which dense tensors cannot hold. Classifiers from
     * skl2onnx end with it unless converted without it, so say so here, before the output's type is read.
     */
    private static void refuseZipMap(OnnxMl.GraphProto gp, String where) {
        for (OnnxMl.NodeProto np : gp.getNodeList()) {
            if (np.getOpType().equals("ZipMap") && np.getDomain().equals("ai.onnx.ml")) {
                throw new ModelException(where + ": node " + nodeLabel(np) + " makes a sequence of maps (class -> probability);"
                    + " Sluice supports dense tensors only. Convert the model without it (skl2onnx: options={id(model): {'zipmap': False}}"
                    + " or {'zipmap': False} for all classifiers), so that the probabilities are one float tensor [N, classes]");
            }
        }
    }

    private static String nodeLabel(OnnxMl.NodeProto np) {
        String n = !np.getName().isEmpty() ? np.getName() : np.getOutputCount() > 0 ? np.getOutput(0) : "?";
        return "'" + n + "' (" + np.getOpType() + ")";
    }

    private static boolean ready(OnnxMl.NodeProto np, Set<String> visible) {
        for (String i : np.getInputList()) if (!i.isEmpty() && !visible.contains(i)) return false;
        // names captured by subgraphs must be defined too
        return true;
    }

    private Node convertNode(OnnxMl.NodeProto np, Set<String> visible, String where) {
        String label = "node '" + (np.getName().isEmpty() ? (np.getOutputCount() > 0 ? np.getOutput(0) : "#" + anonymous) : np.getName())
            + "' (" + np.getOpType() + ")";
        Map<String, Attr> attrs = new LinkedHashMap<>();
        for (OnnxMl.AttributeProto ap : np.getAttributeList()) {
            attrs.put(ap.getName(), convertAttr(ap, visible, where + ": " + label + " attribute '" + ap.getName() + "'"));
        }
        String name = np.getName().isEmpty() ? "" : np.getName();
        anonymous++;
        return new Node(name, np.getOpType(), np.getDomain(), np.getInputList(), np.getOutputList(), new Attributes(attrs));
    }

    private Attr convertAttr(OnnxMl.AttributeProto ap, Set<String> visible, String where) {
        if (!ap.getRefAttrName().isEmpty()) throw new ModelException(where + ": attribute references (functions) are not supported");
        OnnxMl.AttributeProto.AttributeType t = ap.getType();
        if (t == OnnxMl.AttributeProto.AttributeType.UNDEFINED) t = guessType(ap);
        return switch (t) {
            case FLOAT -> new Attr.Float(ap.getF());
            case INT -> new Attr.Int(ap.getI());
            case STRING -> new Attr.Str(ap.getS().toString(StandardCharsets.UTF_8));
            case TENSOR -> new Attr.TensorValue(TensorProtos.toTensor(ap.getT(), baseDir, where, mapped));
            case GRAPH -> new Attr.Graph(convertGraph(ap.getG(), visible, false));
            case FLOATS -> {
                float[] f = new float[ap.getFloatsCount()];
                for (int i = 0; i < f.length; i++) f[i] = ap.getFloats(i);
                yield new Attr.Floats(f);
            }
            case INTS -> {
                long[] v = new long[ap.getIntsCount()];
                for (int i = 0; i < v.length; i++) v[i] = ap.getInts(i);
                yield new Attr.Ints(v);
            }
            case STRINGS -> new Attr.Strs(ap.getStringsList().stream().map(b -> b.toString(StandardCharsets.UTF_8)).toList());
            case TENSORS -> new Attr.Tensors(ap.getTensorsList().stream().map(x -> TensorProtos.toTensor(x, baseDir, where, mapped)).toList());
            case GRAPHS -> new Attr.Graphs(ap.getGraphsList().stream().map(g -> (dev.sluice.kernels.Subgraph) convertGraph(g, visible, false)).toList());
            default -> throw new ModelException(where + ": attribute kind " + t + " is not supported");
        };
    }

    private static OnnxMl.AttributeProto.AttributeType guessType(OnnxMl.AttributeProto ap) {
        if (ap.hasF()) return OnnxMl.AttributeProto.AttributeType.FLOAT;
        if (ap.hasI()) return OnnxMl.AttributeProto.AttributeType.INT;
        if (ap.hasS()) return OnnxMl.AttributeProto.AttributeType.STRING;
        if (ap.hasT()) return OnnxMl.AttributeProto.AttributeType.TENSOR;
        if (ap.hasG()) return OnnxMl.AttributeProto.AttributeType.GRAPH;
        if (ap.getFloatsCount() > 0) return OnnxMl.AttributeProto.AttributeType.FLOATS;
        if (ap.getIntsCount() > 0) return OnnxMl.AttributeProto.AttributeType.INTS;
        if (ap.getStringsCount() > 0) return OnnxMl.AttributeProto.AttributeType.STRINGS;
        if (ap.getTensorsCount() > 0) return OnnxMl.AttributeProto.AttributeType.TENSORS;
        if (ap.getGraphsCount() > 0) return OnnxMl.AttributeProto.AttributeType.GRAPHS;
        return OnnxMl.AttributeProto.AttributeType.INTS; // an empty list
    }

    private static TensorType valueType(OnnxMl.ValueInfoProto vi, String where, String role) {
        OnnxMl.TypeProto tp = vi.getType();
        if (tp.getValueCase() == OnnxMl.TypeProto.ValueCase.VALUE_NOT_SET) return TensorType.UNKNOWN;
        if (!tp.hasTensorType()) {
            String kind = tp.hasSequenceType() ? "a sequence" : tp.hasOptionalType() ? "an optional"
                : tp.hasMapType() ? "a map" : tp.hasSparseTensorType() ? "a sparse tensor" : "a non-tensor value";
            throw new ModelException(where + ": " + role + " '" + vi.getName() + "' is " + kind
                + "; Sluice supports dense tensor values only");
        }
        OnnxMl.TypeProto.Tensor tt = tp.getTensorType();
        DType dt = null;
        if (tt.getElemType() != 0) {
            if (!DType.isSupportedOnnx(tt.getElemType())) {
                throw new ModelException(where + ": " + role + " '" + vi.getName() + "' has unsupported element type "
                    + DType.onnxName(tt.getElemType()));
            }
            dt = DType.fromOnnx(tt.getElemType());
        }
        if (!tt.hasShape()) return new TensorType(dt, SymShape.UNKNOWN_RANK);
        List<Dim> dims = new ArrayList<>();
        for (OnnxMl.TensorShapeProto.Dimension d : tt.getShape().getDimList()) {
            if (d.hasDimValue() && d.getDimValue() >= 0) dims.add(Dim.of(d.getDimValue()));
            // Some exporters write "?" (or "-1") for "any size": that names no dimension shared with others.
            else if (d.hasDimParam() && !d.getDimParam().isBlank() && !d.getDimParam().equals("?") && !d.getDimParam().equals("-1")) {
                dims.add(new Dim.Symbol(d.getDimParam()));
            }
            else dims.add(Dim.UNKNOWN);
        }
        return new TensorType(dt, new SymShape(dims));
    }
}
