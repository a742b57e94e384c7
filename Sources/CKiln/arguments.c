// The Swift runtime finds argv on Linux by locating the initial stack through /proc/self/maps.
// In a jail there is no /proc, so CommandLine.arguments would come back empty. glibc passes
// (argc, argv, envp) to ELF constructors, static executables included: hand argv to the runtime
// before main runs, so `kiln` parses its arguments anywhere.
extern void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc);

__attribute__((constructor))
static void kiln_capture_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    _swift_stdlib_overrideUnsafeArgvArgc(argv, argc);
}
