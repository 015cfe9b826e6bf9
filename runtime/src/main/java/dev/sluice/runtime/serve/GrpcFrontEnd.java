package dev.sluice.runtime.serve;

import com.google.protobuf.ByteString;
import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.serve.grpc.GRPCInferenceServiceGrpc;
import dev.sluice.runtime.serve.grpc.InferParameter;
import dev.sluice.runtime.serve.grpc.InferTensorContents;
import dev.sluice.runtime.serve.grpc.ModelInferRequest;
import dev.sluice.runtime.serve.grpc.ModelInferResponse;
import dev.sluice.runtime.serve.grpc.ModelMetadataRequest;
import dev.sluice.runtime.serve.grpc.ModelMetadataResponse;
import dev.sluice.runtime.serve.grpc.ModelReadyRequest;
import dev.sluice.runtime.serve.grpc.ModelReadyResponse;
import dev.sluice.runtime.serve.grpc.ServerLiveRequest;
import dev.sluice.runtime.serve.grpc.ServerLiveResponse;
import dev.sluice.runtime.serve.grpc.ServerMetadataRequest;
import dev.sluice.runtime.serve.grpc.ServerMetadataResponse;
import dev.sluice.runtime.serve.grpc.ServerReadyRequest;
import dev.sluice.runtime.serve.grpc.ServerReadyResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The v2 gRPC front end ({@code inference.GRPCInferenceService}) on grpc-java's Netty server. Inputs come as
 * typed contents or raw bytes; outputs always go back as raw bytes (the form the protocol recommends). A client
 * that cancels (or whose deadline passes) withdraws its request from the model's queue if it has not started.
 */
public final class GrpcFrontEnd implements AutoCloseable {
    private final Server server;

    public GrpcFrontEnd(Engine engine, String host, int port, Limits limits) {
        try {
            this.server = NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                .maxInboundMessageSize((int) Math.min(Integer.MAX_VALUE, limits.maxBodyBytes()))
                .maxInboundMetadataSize(limits.maxHeaderBytes())
                .addService(new Service(engine, limits))
                .build()
                .start();
        } catch (IOException e) {
            throw new SluiceException("cannot start the gRPC server on " + host + ":" + port + ": " + e.getMessage());
        }
    }

    public int port() { return server.getPort(); }

    @Override public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(10, TimeUnit.SECONDS)) server.shutdownNow();
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    static final class Service extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {
        private final Engine engine;
        private final Limits limits;

        Service(Engine engine, Limits limits) {
            this.engine = engine;
            this.limits = limits;
        }

        @Override public void serverLive(ServerLiveRequest r, StreamObserver<ServerLiveResponse> o) {
            o.onNext(ServerLiveResponse.newBuilder().setLive(true).build());
            o.onCompleted();
        }

        @Override public void serverReady(ServerReadyRequest r, StreamObserver<ServerReadyResponse> o) {
            o.onNext(ServerReadyResponse.newBuilder().setReady(engine.ready()).build());
            o.onCompleted();
        }

        @Override public void modelReady(ModelReadyRequest r, StreamObserver<ModelReadyResponse> o) {
            guard(o, () -> {
                engine.instance(r.getName(), r.getVersion());
                o.onNext(ModelReadyResponse.newBuilder().setReady(engine.modelReady(r.getName(), r.getVersion())).build());
                o.onCompleted();
            });
        }

        @Override public void serverMetadata(ServerMetadataRequest r, StreamObserver<ServerMetadataResponse> o) {
            o.onNext(ServerMetadataResponse.newBuilder().setName(RestFrontEnd.SERVER_NAME).setVersion(RestFrontEnd.SERVER_VERSION)
                .addAllExtensions(RestFrontEnd.EXTENSIONS).build());
            o.onCompleted();
        }

        @Override public void modelMetadata(ModelMetadataRequest r, StreamObserver<ModelMetadataResponse> o) {
            guard(o, () -> {
                ModelMetadata m = engine.metadata(r.getName(), r.getVersion());
                ModelMetadataResponse.Builder b = ModelMetadataResponse.newBuilder().setName(m.name()).addAllVersions(m.versions())
                    .setPlatform(m.platform());
                for (ModelMetadata.TensorMetadata t : m.inputs()) b.addInputs(tensorMeta(t));
                for (ModelMetadata.TensorMetadata t : m.outputs()) b.addOutputs(tensorMeta(t));
                o.onNext(b.build());
                o.onCompleted();
            });
        }

        @Override public void modelInfer(ModelInferRequest r, StreamObserver<ModelInferResponse> o) {
            guard(o, () -> {
                InferRequest req = toRequest(r, limits);
                Engine.Admitted a = engine.infer(req);
                if (o instanceof ServerCallStreamObserver<ModelInferResponse> call) call.setOnCancelHandler(() -> {
                    if (a.cancel()) engine.metrics().cancelled(req.model());
                });
                a.result().whenComplete((out, err) -> {
                    if (err != null) {
                        Throwable c = err instanceof java.util.concurrent.CompletionException ce && ce.getCause() != null ? ce.getCause() : err;
                        o.onError(status(c).asRuntimeException());
                        return;
                    }
                    try {
                        o.onNext(toResponse(out));
                        o.onCompleted();
                    } catch (RuntimeException e) {
                        // The call was cancelled meanwhile: nobody is listening.
                    }
                });
            });
        }

        private static ModelMetadataResponse.TensorMetadata tensorMeta(ModelMetadata.TensorMetadata t) {
            ModelMetadataResponse.TensorMetadata.Builder b = ModelMetadataResponse.TensorMetadata.newBuilder().setName(t.name())
                .setDatatype(t.datatype() == null ? "" : t.datatype().name());
            for (long d : t.shape()) b.addShape(d);
            return b.build();
        }

        interface Body {
            void run();
        }

        private static void guard(StreamObserver<?> o, Body b) {
            try {
                b.run();
            } catch (RuntimeException e) {
                o.onError(status(e).asRuntimeException());
            }
        }

        static Status status(Throwable t) {
            if (t instanceof ServeException se) return Status.fromCode(Status.Code.valueOf(se.kind().grpc)).withDescription(se.getMessage());
            if (t instanceof SluiceException) return Status.INVALID_ARGUMENT.withDescription(t.getMessage());
            return Status.INTERNAL.withDescription("internal error: " + t);
        }
    }

    /** Reads a gRPC request into the engine's form; every refusal names the input and field. */
    static InferRequest toRequest(ModelInferRequest r, Limits limits) {
        boolean raw = r.getRawInputContentsCount() > 0;
        if (raw && r.getRawInputContentsCount() != r.getInputsCount()) {
            throw ServeException.badRequest("raw_input_contents has " + r.getRawInputContentsCount() + " entries for " + r.getInputsCount() + " inputs");
        }
        List<InferTensor> inputs = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < r.getInputsCount(); i++) {
            ModelInferRequest.InferInputTensor t = r.getInputs(i);
            String where = "input '" + t.getName() + "'";
            if (t.getName().isEmpty()) throw ServeException.badRequest("inputs[" + i + "].name is empty");
            if (!names.add(t.getName())) throw ServeException.badRequest(where + " is given twice");
            Datatype dt = Datatype.parse(t.getDatatype().isEmpty() ? null : t.getDatatype(), where);
            long[] shape = t.getShapeList().stream().mapToLong(Long::longValue).toArray();
            long count;
            try {
                count = InferTensor.elementCount(shape);
            } catch (ArithmeticException e) {
                throw ServeException.tooLarge(where + ": shape has too many elements");
            }
            if (dt != Datatype.BYTES && count * dt.elementBytes() > limits.maxTensorBytes()) {
                throw ServeException.tooLarge(where + ": " + count * dt.elementBytes() + " bytes is over the limit of " + limits.maxTensorBytes());
            }
            byte[] data;
            if (raw) {
                if (t.hasContents()) throw ServeException.badRequest(where + ": contents given together with raw_input_contents");
                data = r.getRawInputContents(i).toByteArray();
                if (dt != Datatype.BYTES && data.length != count * dt.elementBytes()) {
                    throw ServeException.badRequest(where + ": raw_input_contents has " + data.length + " bytes but shape " + t.getShapeList()
                        + " of " + dt + " needs " + count * dt.elementBytes());
                }
            } else {
                if (!t.hasContents()) throw ServeException.badRequest(where + ": no contents and no raw_input_contents");
                data = contents(t.getContents(), dt, count, where);
            }
            inputs.add(new InferTensor(t.getName(), dt, shape, data, params(t.getParametersMap())));
        }
        List<InferRequest.RequestedOutput> outs = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (ModelInferRequest.InferRequestedOutputTensor o : r.getOutputsList()) {
            if (!seen.add(o.getName())) throw ServeException.badRequest("output '" + o.getName() + "' is requested twice");
            outs.add(new InferRequest.RequestedOutput(o.getName(), true));
        }
        return new InferRequest(r.getModelName(), r.getModelVersion(), r.getId().isEmpty() ? null : r.getId(), inputs, outs,
            params(r.getParametersMap()));
    }

    private static byte[] contents(InferTensorContents c, Datatype dt, long count, String where) {
        int n = switch (dt) {
            case BOOL -> c.getBoolContentsCount();
            case INT8, INT16, INT32 -> c.getIntContentsCount();
            case INT64 -> c.getInt64ContentsCount();
            case UINT8, UINT16, UINT32 -> c.getUintContentsCount();
            case UINT64 -> c.getUint64ContentsCount();
            case FP32 -> c.getFp32ContentsCount();
            case FP64 -> c.getFp64ContentsCount();
            case BYTES -> c.getBytesContentsCount();
            case FP16 -> throw ServeException.badRequest(where + ": FP16 travels only as raw_input_contents");
        };
        if (n != count) throw ServeException.badRequest(where + ": contents hold " + n + " " + dt + " elements but the shape needs " + count);
        if (dt == Datatype.BYTES) {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            for (ByteString s : c.getBytesContentsList()) {
                out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(s.size()).array());
                out.writeBytes(s.toByteArray());
            }
            return out.toByteArray();
        }
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(count * dt.elementBytes())).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            switch (dt) {
                case BOOL -> b.put((byte) (c.getBoolContents(i) ? 1 : 0));
                case INT8, INT16, INT32 -> {
                    int v = c.getIntContents(i);
                    long lo = dt == Datatype.INT8 ? Byte.MIN_VALUE : dt == Datatype.INT16 ? Short.MIN_VALUE : Integer.MIN_VALUE;
                    long hi = dt == Datatype.INT8 ? Byte.MAX_VALUE : dt == Datatype.INT16 ? Short.MAX_VALUE : Integer.MAX_VALUE;
                    if (v < lo || v > hi) throw ServeException.badRequest(where + " (" + dt + ") element " + i + " is " + v + ", out of range");
                    if (dt == Datatype.INT8) b.put((byte) v); else if (dt == Datatype.INT16) b.putShort((short) v); else b.putInt(v);
                }
                case UINT8, UINT16, UINT32 -> {
                    long v = Integer.toUnsignedLong(c.getUintContents(i));
                    long hi = dt == Datatype.UINT8 ? 255 : dt == Datatype.UINT16 ? 65535 : 0xFFFFFFFFL;
                    if (v > hi) throw ServeException.badRequest(where + " (" + dt + ") element " + i + " is " + v + ", out of range");
                    if (dt == Datatype.UINT8) b.put((byte) v); else if (dt == Datatype.UINT16) b.putShort((short) v); else b.putInt((int) v);
                }
                case INT64 -> b.putLong(c.getInt64Contents(i));
                case UINT64 -> b.putLong(c.getUint64Contents(i));
                case FP32 -> b.putFloat(c.getFp32Contents(i));
                case FP64 -> b.putDouble(c.getFp64Contents(i));
                default -> throw new IllegalStateException(dt.name());
            }
        }
        return b.array();
    }

    private static Map<String, Object> params(Map<String, InferParameter> m) {
        Map<String, Object> out = new LinkedHashMap<>();
        m.forEach((k, p) -> {
            Object v = switch (p.getParameterChoiceCase()) {
                case BOOL_PARAM -> p.getBoolParam();
                case INT64_PARAM -> p.getInt64Param();
                case STRING_PARAM -> p.getStringParam();
                case DOUBLE_PARAM -> p.getDoubleParam();
                case UINT64_PARAM -> p.getUint64Param();
                case PARAMETERCHOICE_NOT_SET -> null;
            };
            if (v != null) out.put(k, v);
        });
        return out;
    }

    static ModelInferResponse toResponse(InferResponse r) {
        ModelInferResponse.Builder b = ModelInferResponse.newBuilder().setModelName(r.model()).setModelVersion(r.version());
        if (r.id() != null) b.setId(r.id());
        for (InferTensor t : r.outputs()) {
            ModelInferResponse.InferOutputTensor.Builder o = ModelInferResponse.InferOutputTensor.newBuilder().setName(t.name())
                .setDatatype(t.datatype().name());
            for (long d : t.shape()) o.addShape(d);
            b.addOutputs(o);
            b.addRawOutputContents(ByteString.copyFrom(t.data()));
        }
        return b.build();
    }

}
