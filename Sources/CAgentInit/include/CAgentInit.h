// kiln-agent's early /proc mount (early_proc.c) is an ELF constructor with nothing to call: this
// target exists so that only kiln-agent links it. In `kiln` (which links CAgent) it would run as
// PID 1 of a jailer's new PID namespace and create /proc in the jail.
