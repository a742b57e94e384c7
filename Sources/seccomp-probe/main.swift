// seccomp-probe ROLE ACTION: confines one thread with ROLE's filter, proves the filter is in
// place and lets the role's ordinary calls through, then makes one call ROLE does not allow.
// The tests expect exit 0 for ACTION `allowed` and death by SIGSYS for every forbidden ACTION.
//
// The filtered thread is a new thread for `vcpu` and `devices` (as in kiln) and the main thread
// for `control`. Another, unfiltered thread (the observer) checks /proc/self/task/TID/status
// of both, contends for a lock with the filtered thread and signals it.
//
// `seccomp-probe ROLE time [N]` prints how long install() takes, over N fresh threads;
// `seccomp-probe ROLE pfc` prints the filter as libseccomp's pseudo-C, without loading it;
// `seccomp-probe generate` prints every role's program as Seccomp's CompiledPrograms+Generated.swift.
//
// The filtered thread only uses calls its role allows: raw write(2) instead of print (stdio
// would fstat), a futex wait with a timeout instead of a sleep call (the vCPU role has none).
Probe.run(CommandLine.arguments)
