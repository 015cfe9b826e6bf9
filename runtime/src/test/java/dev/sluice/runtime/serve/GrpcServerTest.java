package dev.sluice.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.serve.grpc.GRPCInferenceServiceGrpc;
import dev.sluice.runtime.serve.grpc.InferTensorContents;
import dev.sluice.runtime.serve.grpc.ModelInferRequest;
import dev.sluice.runtime.serve.grpc.ModelInferResponse;
import dev.sluice.runtime.serve.grpc.ModelMetadataRequest;
import dev.sluice.runtime.serve.grpc.ModelMetadataResponse;
import dev.sluice.runtime.serve.grpc.ModelReadyRequest;
import dev.sluice.runtime.serve.grpc.ServerLiveRequest;
import dev.sluice.runtime.serve.grpc.ServerMetadataRequest;
import dev.sluice.runtime.serve.grpc.ServerReadyRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The gRPC front end through the generated blocking stub, on loopback; outputs checked bit for bit against a plain session. */
class GrpcServerTest {
    @TempDir static Path repo;
    static InferenceServer server;
    static ManagedChannel channel;
    static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub stub;

    @BeforeAll static void start() throws Exception {
        TestRepo.affine(repo, "affine", 11, 5);
        TestRepo.specModel(repo);
        Engine engine = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 2, m -> {}), new Metrics(), Residency.NONE);
        engine.loadAll();
        server = new InferenceServer(engine, "127.0.0.1", 0, 0, Limits.defaults(), null);
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        stub = GRPCInferenceServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
    }

    @Test void healthAndMetadata() {
        assertTrue(stub.serverLive(ServerLiveRequest.getDefaultInstance()).getLive());
        assertTrue(stub.serverReady(ServerReadyRequest.getDefaultInstance()).getReady());
        assertTrue(stub.modelReady(ModelReadyRequest.newBuilder().setName("affine").build()).getReady());
        assertTrue(stub.modelReady(ModelReadyRequest.newBuilder().setName("affine").setVersion("1").build()).getReady());
        var sm = stub.serverMetadata(ServerMetadataRequest.getDefaultInstance());
        assertEquals("sluice", sm.getName());
        assertTrue(sm.getExtensionsList().contains("binary_tensor_data"));
        ModelMetadataResponse m = stub.modelMetadata(ModelMetadataRequest.newBuilder().setName("affine").build());
        assertEquals("onnx_onnxv1", m.getPlatform());
        assertEquals("x", m.getInputs(0).getName());
        assertEquals("FP32", m.getInputs(0).getDatatype());
        assertEquals(java.util.List.of(-1L, 4L), m.getInputs(0).getShapeList());
        assertEquals(java.util.List.of(-1L, 5L), m.getOutputs(0).getShapeList());
        StatusRuntimeException nf = assertThrows(StatusRuntimeException.class,
            () -> stub.modelMetadata(ModelMetadataRequest.newBuilder().setName("nosuch").build()));
        assertEquals(Status.Code.NOT_FOUND, nf.getStatus().getCode());
    }

    @Test void inferTypedAndRawEqualsSessionRunBitForBit() throws Exception {
        float[] x = {0.25f, -3f, 1e-4f, 9.5f, 2f, 2f, -0.75f, 1.125f};
        byte[] want;
        try (Session s = Session.open(repo.resolve("affine/1/model.onnx"))) {
            Tensor y = s.run(Map.of("x", Tensor.ofFloats(Shape.of(2, 4), x))).get("y");
            want = new byte[(int) y.byteSize()];
            ByteBuffer.wrap(want).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(y.toFloatArray());
        }
        InferTensorContents.Builder c = InferTensorContents.newBuilder();
        for (float v : x) c.addFp32Contents(v);
        ModelInferRequest typed = ModelInferRequest.newBuilder().setModelName("affine").setId("a1")
            .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("x").setDatatype("FP32").addShape(2).addShape(4).setContents(c))
            .build();
        ModelInferResponse r = stub.modelInfer(typed);
        assertEquals("a1", r.getId());
        assertEquals("y", r.getOutputs(0).getName());
        assertEquals(java.util.List.of(2L, 5L), r.getOutputs(0).getShapeList());
        assertArrayEquals(want, r.getRawOutputContents(0).toByteArray());
        ByteBuffer raw = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : x) raw.putFloat(v);
        ModelInferRequest rawReq = ModelInferRequest.newBuilder().setModelName("affine").setModelVersion("1")
            .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("x").setDatatype("FP32").addShape(2).addShape(4))
            .addRawInputContents(ByteString.copyFrom(raw.array()))
            .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("y"))
            .build();
        assertArrayEquals(want, stub.modelInfer(rawReq).getRawOutputContents(0).toByteArray());
    }

    @Test void specificationExampleOverGrpc() {
        ModelInferRequest req = ModelInferRequest.newBuilder().setModelName("mymodel").setId("42")
            .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("input0").setDatatype("UINT32").addShape(2).addShape(2)
                .setContents(InferTensorContents.newBuilder().addUintContents(1).addUintContents(2).addUintContents(3).addUintContents(4)))
            .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("input1").setDatatype("BOOL").addShape(3)
                .setContents(InferTensorContents.newBuilder().addBoolContents(true)))
            .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("output0"))
            .build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.modelInfer(req));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("input 'input1'"), e.getStatus().getDescription());
        ModelInferRequest fixed = req.toBuilder().setInputs(1, req.getInputs(1).toBuilder()
            .setContents(InferTensorContents.newBuilder().addBoolContents(true).addBoolContents(false).addBoolContents(true))).build();
        ModelInferResponse r = stub.modelInfer(fixed);
        assertEquals(1, r.getOutputsCount());
        ByteBuffer out = r.getRawOutputContents(0).asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1f, out.getFloat());
        assertEquals(2f, out.getFloat());
        assertEquals(3f, out.getFloat());
        assertEquals(4f, out.getFloat());
    }

    @Test void badInputGivesStatusNamingTheField() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.modelInfer(ModelInferRequest.newBuilder().setModelName("affine")
            .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("x").setDatatype("FP32").addShape(1).addShape(4)
                .setContents(InferTensorContents.newBuilder().addFp32Contents(1))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("input 'x'"), e.getStatus().getDescription());
        e = assertThrows(StatusRuntimeException.class, () -> stub.modelInfer(ModelInferRequest.newBuilder().setModelName("affine").setModelVersion("3")
            .build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        e = assertThrows(StatusRuntimeException.class, () -> stub.modelInfer(ModelInferRequest.newBuilder().setModelName("affine")
            .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("x").setDatatype("INT64").addShape(1).addShape(4)
                .setContents(InferTensorContents.newBuilder().addInt64Contents(1).addInt64Contents(1).addInt64Contents(1).addInt64Contents(1))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("INT64"), e.getStatus().getDescription());
    }
}
