import Glibc

/// Whatever writes what a guest sends (the console, streams, copy-outs) must fail on a write,
/// not die of a signal: a reader that went away (`kiln boot | head`: SIGPIPE) or a file past
/// RLIMIT_FSIZE (SIGXFSZ) then gives an error (EPIPE, EFBIG) that drops console output or is
/// reported and cleaned up after.
func ignoreOutputSignals() {
    signal(SIGPIPE, SIG_IGN)
    signal(SIGXFSZ, SIG_IGN)
}
