package dev.sluice.kernels;

/** One dimension of a possibly symbolic shape: a known size, a named symbol (e.g. "batch"), or unknown. */
public sealed interface Dim {
    record Known(long value) implements Dim {
        public Known {
            if (value < 0) throw new KernelException("negative dimension " + value);
        }
        @Override public String toString() { return Long.toString(value); }
    }

    record Symbol(String name) implements Dim {
        @Override public String toString() { return name; }
    }

    record Unknown() implements Dim {
        @Override public String toString() { return "?"; }
    }

    Dim UNKNOWN = new Unknown();

    static Dim of(long v) { return new Known(v); }

    default boolean isKnown() { return this instanceof Known; }

    default long value() {
        if (this instanceof Known k) return k.value();
        throw new KernelException("dimension " + this + " is not known");
    }
}
