package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Executable;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.WildcardType;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The session API names only types a user can name: every public method and constructor of the public types in
 * {@code dev.sluice.runtime} takes and returns types of the JDK or of the exported packages (runtime, graph,
 * kernels). A type of a package the module does not export (the executor, the memory plans, the fusion pass)
 * would show in Javadoc yet be unusable from a named module; the runtime reaches those through SessionInternals.
 */
class PublicApiTypesTest {
    static final Set<String> EXPORTED = Set.of("dev.sluice.runtime", "dev.sluice.graph", "dev.sluice.kernels");

    @Test void theSessionApiNamesOnlyExportedTypes() {
        List<String> leaks = new ArrayList<>();
        for (Class<?> c : List.of(Session.class, Session.Runner.class, SessionOptions.class, SessionOptions.Builder.class,
                SessionOptions.Budget.class, SessionOptions.Slo.class, SessionOptions.DeviceRequest.class, Result.class,
                InputException.class)) {
            List<Executable> members = new ArrayList<>(List.of(c.getDeclaredMethods()));
            members.addAll(List.of(c.getDeclaredConstructors()));
            for (Executable e : members) {
                if (!Modifier.isPublic(e.getModifiers()) || e.isSynthetic()) continue;
                List<Type> types = new ArrayList<>(List.of(e.getGenericParameterTypes()));
                if (e instanceof Method m) types.add(m.getGenericReturnType());
                for (Type t : types) check(t, c.getSimpleName() + "." + e.getName(), leaks);
            }
        }
        assertEquals(List.of(), leaks);
    }

    private static void check(Type t, String where, List<String> leaks) {
        if (t instanceof ParameterizedType p) {
            check(p.getRawType(), where, leaks);
            for (Type a : p.getActualTypeArguments()) check(a, where, leaks);
        } else if (t instanceof WildcardType w) {
            for (Type b : w.getUpperBounds()) check(b, where, leaks);
        } else if (t instanceof Class<?> k) {
            while (k.isArray()) k = k.getComponentType();
            if (k.isPrimitive()) return;
            String pkg = k.getPackageName();
            if (pkg.startsWith("java.") || EXPORTED.contains(pkg)) return;
            leaks.add(where + " names " + k.getName());
        }
    }
}
