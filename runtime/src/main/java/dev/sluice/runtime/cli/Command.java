package dev.sluice.runtime.cli;

import java.io.PrintStream;

/**
 * One sub-command of the {@code sluice} command line. Commands from other modules (bench) are found with
 * {@link java.util.ServiceLoader}.
 */
public interface Command {
    String name();

    /** One line for the command list. */
    String summary();

    /** Full help: synopsis, options, what it prints. */
    String help();

    /** Options that take a value (without the leading dashes). */
    default java.util.Set<String> valueOptions() { return java.util.Set.of(); }

    /** Options without a value. */
    default java.util.Set<String> flags() { return java.util.Set.of(); }

    /** Runs the command; returns the exit status. Errors are thrown as SluiceException. */
    int run(Args args, PrintStream out) throws Exception;
}
