package dev.sluice.kernels;

/** The static type of a value: element type (null if unknown) and possibly symbolic shape. */
public record TensorType(DType dtype, SymShape shape) {
    public static final TensorType UNKNOWN = new TensorType(null, SymShape.UNKNOWN_RANK);

    public TensorType {
        if (shape == null) shape = SymShape.UNKNOWN_RANK;
    }

    public static TensorType of(DType dtype, Shape shape) { return new TensorType(dtype, SymShape.of(shape)); }

    public static TensorType of(DType dtype, SymShape shape) { return new TensorType(dtype, shape); }

    public boolean isStatic() { return dtype != null && shape.isStatic(); }

    @Override public String toString() { return (dtype == null ? "?" : dtype.toString()) + shape; }
}
