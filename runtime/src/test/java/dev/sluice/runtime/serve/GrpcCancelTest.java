package dev.sluice.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.runtime.serve.grpc.GRPCInferenceServiceGrpc;
import dev.sluice.runtime.serve.grpc.InferTensorContents;
import dev.sluice.runtime.serve.grpc.ModelInferRequest;
import dev.sluice.runtime.serve.grpc.ModelInferResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A gRPC client that gives up (its deadline passes) withdraws its queued request: it never runs. */
class GrpcCancelTest {
    @TempDir Path repo;

    static ModelInferRequest request(float v) {
        return ModelInferRequest.newBuilder().setModelName("scale")
            .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("x").setDatatype("FP32").addShape(1).addShape(3)
                .setContents(InferTensorContents.newBuilder().addFp32Contents(v).addFp32Contents(v).addFp32Contents(v)))
            .build();
    }

    @Test void deadlinePassedWhileQueuedWithdrawsTheRequest() throws Exception {
        TestRepo.scale(repo, "scale");
        EngineTest.Gate gate = new EngineTest.Gate();
        Engine engine = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, m -> {}), new Metrics(), gate);
        engine.load("scale");
        try (InferenceServer server = new InferenceServer(engine, "127.0.0.1", 0, 0, Limits.defaults(), null)) {
            ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
            try {
                var stub = GRPCInferenceServiceGrpc.newBlockingStub(ch);
                CompletableFuture<ModelInferResponse> first = CompletableFuture.supplyAsync(() -> stub.modelInfer(request(1)));
                assertTrue(gate.entered.await(20, TimeUnit.SECONDS)); // the first request holds the worker
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> stub.withDeadlineAfter(300, TimeUnit.MILLISECONDS).modelInfer(request(2)));
                assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
                // The server hears of the cancellation and empties the queue.
                for (int i = 0; i < 200 && engine.queueDepths().get("scale") > 0; i++) Thread.sleep(50);
                assertEquals(0L, engine.queueDepths().get("scale"));
                gate.open.countDown();
                assertEquals(1, first.get(20, TimeUnit.SECONDS).getOutputsCount());
                assertEquals(1, gate.runs.get(), "the cancelled request must not have run");
            } finally {
                ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }
}
