import Glibc

/// Host commands that write what a guest sends (streams, copy-outs) must fail on a write, not
/// die of a signal: a closed stdout (SIGPIPE) or a file past RLIMIT_FSIZE (SIGXFSZ) then
/// gives an error (EPIPE, EFBIG) that is reported and cleaned up after.
func ignoreOutputSignals() {
    signal(SIGPIPE, SIG_IGN)
    signal(SIGXFSZ, SIG_IGN)
}
