// Seccomp filters per thread role: see Filters/
