/**
 * Sluice's tensors and operator kernels.
 *
 * <p>Exported to everyone: {@code dev.sluice.kernels}, which holds the API a user touches ({@code Tensor},
 * {@code Shape}, {@code DType}, {@code SluiceException} and its kin) and the kernel SPI for those who add
 * operators ({@code OpKernel}, {@code OpRegistry}, {@code ExecContext}, {@code InferContext}, {@code Attributes}).
 * The CPU kernels ({@code dev.sluice.kernels.cpu} and its family subpackages {@code cpu.core}, {@code cpu.conv},
 * {@code cpu.linalg}, ...) stay hidden: they are reached through {@code OpRegistry.cpu()}. Members the families
 * share across subpackages are public in Java terms, yet no package under {@code cpu} is exported, so the module
 * boundary still keeps them from users. The device SPI is exported only to the Sluice modules that build devices on it.
 *
 * <p>The optional TornadoVM backend ({@code dev.sluice.kernels.tornado}, compiled only where TORNADOVM_HOME is
 * set) is part of this module too; it is found by name ({@code Accelerators}), so nothing exports it.
 */
module dev.sluice.kernels {
    requires jdk.incubator.vector;

    exports dev.sluice.kernels;

    exports dev.sluice.kernels.device to
        dev.sluice.memgraph, dev.sluice.offload, dev.sluice.runtime, dev.sluice.bench;
}
