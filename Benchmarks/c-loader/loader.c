/* loader.c: a minimal KVM loader for Kiln's test guests (Tests/Guests) and the start-up
 * baseline Kiln is measured against. It builds the same machine Kiln promises a guest
 * (Sources/X86Boot/Layout.swift): 64-bit entry with the first 4 GiB identity-mapped by 2 MiB
 * pages, GDT at 0x500, zero page at 0x7000 (rsi), rsp 0x8ff0, an MP table in the EBDA, a
 * 16550A at 0x3f8, reset through the i8042 and the boot-time marker at 0xd0000000.
 *
 * usage: loader [-v] [-r] [-c CMDLINE] [-i INITRD] [-n VCPUS] GUEST.elf [MiB]
 *   serial output goes to stdout, serial input comes from stdin; a write of 0xfe to port 0x64
 *   exits 0; any other exit KVM hands back that we do not model exits 1 with a message.
 *   -v prints a timing breakdown of start-up to stderr; -r prints the peak RSS at reset. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Guest-physical layout, mirroring Sources/X86Boot/Layout.swift. */
#define GDT_ADDR 0x500
#define IDT_ADDR 0x520
#define ZERO_PAGE 0x7000
#define BOOT_STACK 0x8ff0
#define PML4_ADDR 0x9000
#define PDPT_ADDR 0xa000
#define PD_ADDR 0xb000
#define CMDLINE_ADDR 0x20000
#define CMDLINE_MAX 0x10000
#define EBDA_START 0x9fc00
#define HIGH_MEM 0x100000
#define MMIO_GAP_START 0xd0000000ULL
#define BOOT_MARKER 0xd0000000ULL
#define KVM_TSS_ADDR 0xfffbd000
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL
#define LAPIC_ADDR 0xfee00000
#define IOAPIC_ADDR 0xfec00000

#define SERIAL_BASE 0x3f8
#define I8042_COMMAND 0x64
#define MAX_VCPUS 32

static struct timespec t_main;           /* taken on main's first line */
static int verbose, report_rss;
static int kvm_fd, vm_fd;
static size_t run_size;
static uint8_t *ram;
static uint64_t ram_size;
static struct kvm_cpuid2 *cpuid;

static pthread_mutex_t io_lock = PTHREAD_MUTEX_INITIALIZER;
static char out_buf[4096];
static size_t out_len;
static uint8_t serial_lcr, serial_scr, serial_input;
static int serial_has_input, serial_input_eof;

static uint64_t ns_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)(t.tv_sec - t0->tv_sec) * 1000000000ULL + t.tv_nsec - t0->tv_nsec;
}

static void mark(const char *what)
{
    if (verbose)
        fprintf(stderr, "loader: %-28s %8.0f us\n", what, ns_since(&t_main) / 1e3);
}

static void flush_output(void)
{
    size_t off = 0;
    while (off < out_len) {
        ssize_t n = write(STDOUT_FILENO, out_buf + off, out_len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    out_len = 0;
}

static __attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...)
{
    va_list ap;
    flush_output();
    fputs("loader: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static int kvm_ioctl(int fd, unsigned long req, void *arg, const char *name)
{
    int r = ioctl(fd, req, arg);
    if (r < 0)
        fail("%s: %s", name, strerror(errno));
    return r;
}
#define KVM(fd, req, arg) kvm_ioctl(fd, req, (void *)(arg), #req)

/* Checked pointer into guest RAM. */
static void *gpa(uint64_t addr, uint64_t len)
{
    if (addr > ram_size || len > ram_size - addr)
        fail("guest range 0x%llx+0x%llx outside RAM", (unsigned long long)addr,
             (unsigned long long)len);
    return ram + addr;
}

static void put16(uint64_t a, uint16_t v) { memcpy(gpa(a, 2), &v, 2); }
static void put32(uint64_t a, uint32_t v) { memcpy(gpa(a, 4), &v, 4); }
static void put64(uint64_t a, uint64_t v) { memcpy(gpa(a, 8), &v, 8); }

static void *read_file(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        fail("%s: %s", path, strerror(errno));
    *size = (size_t)st.st_size;
    void *p = mmap(NULL, *size ? *size : 1, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        fail("mmap %s: %s", path, strerror(errno));
    close(fd);
    return p;
}

/* Copies the PT_LOAD segments of an ELF64 x86_64 EXEC file to their p_paddr. Returns the
 * entry point; *end receives the highest loaded address. */
static uint64_t load_elf(const char *path, uint64_t *end)
{
    size_t size;
    const uint8_t *f = read_file(path, &size);
    const Elf64_Ehdr *eh = (const void *)f;
    if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64 ||
        eh->e_type != ET_EXEC || eh->e_phentsize != sizeof(Elf64_Phdr))
        fail("%s: not an ELF64 x86_64 executable", path);
    if (eh->e_phoff > size || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
        fail("%s: program headers outside the file", path);
    *end = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = (const void *)(f + eh->e_phoff + i * sizeof(Elf64_Phdr));
        if (ph->p_type != PT_LOAD)
            continue;
        if (ph->p_filesz > ph->p_memsz || ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
            fail("%s: bad segment %u", path, i);
        uint8_t *dst = gpa(ph->p_paddr, ph->p_memsz);
        memcpy(dst, f + ph->p_offset, ph->p_filesz);
        memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
        if (ph->p_paddr + ph->p_memsz > *end)
            *end = ph->p_paddr + ph->p_memsz;
    }
    uint64_t entry = eh->e_entry;
    munmap((void *)f, size);
    return entry;
}

static void add_e820(unsigned *n, uint64_t addr, uint64_t size, uint32_t type)
{
    uint64_t e = ZERO_PAGE + 0x2d0 + *n * 20;
    put64(e, addr);
    put64(e + 8, size);
    put32(e + 16, type);
    ram[ZERO_PAGE + 0x1e8] = (uint8_t)++*n;
}

static void setup_zero_page(const char *cmdline, uint64_t initrd, uint64_t initrd_size)
{
    unsigned n = 0;
    memset(gpa(ZERO_PAGE, 4096), 0, 4096);
    put16(ZERO_PAGE + 0x1fe, 0xaa55);            /* boot_flag */
    put32(ZERO_PAGE + 0x202, 0x53726448);        /* header "HdrS" */
    ram[ZERO_PAGE + 0x210] = 0xff;               /* type_of_loader: undefined */
    put32(ZERO_PAGE + 0x218, (uint32_t)initrd);  /* ramdisk_image */
    put32(ZERO_PAGE + 0x21c, (uint32_t)initrd_size);
    size_t len = strlen(cmdline);
    if (len >= CMDLINE_MAX)
        fail("command line longer than %d bytes", CMDLINE_MAX - 1);
    memcpy(gpa(CMDLINE_ADDR, len + 1), cmdline, len + 1);
    put32(ZERO_PAGE + 0x228, CMDLINE_ADDR);      /* cmd_line_ptr */
    put32(ZERO_PAGE + 0x238, CMDLINE_MAX - 1);   /* cmdline_size */
    add_e820(&n, 0, EBDA_START, 1);
    add_e820(&n, HIGH_MEM, ram_size - HIGH_MEM, 1);
}

/* Identity map of the first 4 GiB with 2 MiB pages, and the 64-bit GDT. */
static void setup_page_tables_and_gdt(void)
{
    put64(PML4_ADDR, PDPT_ADDR | 3);
    for (uint64_t i = 0; i < 4; i++) {
        put64(PDPT_ADDR + i * 8, (PD_ADDR + i * 0x1000) | 3);
        for (uint64_t j = 0; j < 512; j++)
            put64(PD_ADDR + i * 0x1000 + j * 8, ((i << 30) | (j << 21)) | 0x83);
    }
    put64(GDT_ADDR + 0x00, 0);
    put64(GDT_ADDR + 0x08, 0x00af9b000000ffffULL);   /* code: 64-bit, DPL0 */
    put64(GDT_ADDR + 0x10, 0x00cf93000000ffffULL);   /* data: 4 GiB, DPL0 */
    put64(GDT_ADDR + 0x18, 0x008f8b000000ffffULL);   /* TSS (busy) */
    put64(IDT_ADDR, 0);
}

static uint8_t mp_checksum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s += *p++;
    return (uint8_t)-s;
}

/* Intel MP spec 1.4 table in the EBDA: processors, ISA bus, IOAPIC, 16 ISA interrupts, LINT0/1. */
static void setup_mp_table(int nvcpus)
{
    uint8_t *fp = gpa(EBDA_START, 1024), *t = fp + 16, *e = t + 44;
    unsigned entries = 0;
    memset(fp, 0, 1024);
    for (int i = 0; i < nvcpus; i++, e += 20, entries++) {
        uint32_t signature = 0x600, features = 0x201; /* family 6, FPU + APIC */
        e[0] = 0; e[1] = (uint8_t)i; e[2] = 0x14; e[3] = 1 | (i == 0 ? 2 : 0);
        memcpy(e + 4, &signature, 4);
        memcpy(e + 8, &features, 4);
    }
    memcpy(e, "\x01\x00ISA   ", 8), e += 8, entries++;
    uint32_t ioapic = IOAPIC_ADDR;
    e[0] = 2; e[1] = (uint8_t)nvcpus; e[2] = 0x11; e[3] = 1;
    memcpy(e + 4, &ioapic, 4), e += 8, entries++;
    for (int irq = 0; irq < 16; irq++, e += 8, entries++) {
        e[0] = 3; e[1] = 0; e[4] = 0; e[5] = (uint8_t)irq; e[6] = (uint8_t)nvcpus; e[7] = (uint8_t)irq;
    }
    e[0] = 4; e[1] = 3; e[4] = 0; e[5] = 0; e[6] = 0xff; e[7] = 0; e += 8, entries++; /* ExtINT */
    e[0] = 4; e[1] = 1; e[4] = 0; e[5] = 0; e[6] = 0xff; e[7] = 1; e += 8, entries++; /* NMI */
    uint16_t len = (uint16_t)(e - t), count = (uint16_t)entries;
    uint32_t lapic = LAPIC_ADDR, table = EBDA_START + 16;
    memcpy(t, "PCMP", 4);
    memcpy(t + 4, &len, 2);
    t[6] = 4;
    memcpy(t + 8, "KILN    ", 8);
    memcpy(t + 16, "C-LOADER    ", 12);
    memcpy(t + 34, &count, 2);
    memcpy(t + 36, &lapic, 4);
    t[7] = mp_checksum(t, len);
    memcpy(fp, "_MP_", 4);
    memcpy(fp + 4, &table, 4);
    fp[8] = 1;
    fp[9] = 4;
    fp[10] = mp_checksum(fp, 16);
}

static void setup_cpuid(void)
{
    for (int nent = 256;; nent *= 2) { /* KVM_MAX_CPUID_ENTRIES: one call */
        cpuid = calloc(1, sizeof *cpuid + nent * sizeof(struct kvm_cpuid_entry2));
        cpuid->nent = (uint32_t)nent;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
            return;
        if (errno != E2BIG || nent >= 4096)
            fail("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        free(cpuid);
    }
}

/* Creates vCPU `id`; the BSP (id 0) gets 64-bit entry state, APs stay in reset until SIPI. */
static struct kvm_run *create_vcpu(int id, int *fd_out, uint64_t entry)
{
    int fd = KVM(vm_fd, KVM_CREATE_VCPU, (uintptr_t)id);
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED)
        fail("mmap kvm_run: %s", strerror(errno));
    for (uint32_t i = 0; i < cpuid->nent; i++) {
        struct kvm_cpuid_entry2 *c = &cpuid->entries[i];
        if (c->function == 1)
            c->ebx = (c->ebx & 0x00ffffff) | (uint32_t)id << 24;
        if (c->function == 0xb || c->function == 0x1f)
            c->edx = (uint32_t)id;
    }
    KVM(fd, KVM_SET_CPUID2, cpuid);
    *fd_out = fd;
    if (id != 0)
        return run;

    struct kvm_sregs sregs;
    KVM(fd, KVM_GET_SREGS, &sregs);
    struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 0xb,
                                .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1 };
    struct kvm_segment data = code;
    data.selector = 0x10, data.type = 3, data.db = 1, data.l = 0;
    struct kvm_segment tss = code;
    tss.selector = 0x18, tss.type = 0xb, tss.s = 0, tss.l = 0;
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.tr = tss;
    sregs.gdt.base = GDT_ADDR, sregs.gdt.limit = 4 * 8 - 1;
    sregs.idt.base = IDT_ADDR, sregs.idt.limit = 7;
    sregs.cr0 = 0x80000031;         /* PG | NE | ET | PE */
    sregs.cr3 = PML4_ADDR;
    sregs.cr4 = 0x20;               /* PAE */
    sregs.efer = 0x500;             /* LMA | LME */
    KVM(fd, KVM_SET_SREGS, &sregs);

    struct kvm_regs regs = { .rip = entry, .rsp = BOOT_STACK, .rbp = BOOT_STACK,
                             .rsi = ZERO_PAGE, .rflags = 2 };
    KVM(fd, KVM_SET_REGS, &regs);
    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    KVM(fd, KVM_SET_FPU, &fpu);
    return run;
}

static int stdin_has_byte(void)
{
    if (serial_has_input)
        return 1;
    if (serial_input_eof)
        return 0;
    struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
    if (poll(&p, 1, 0) <= 0)
        return 0;
    ssize_t n = read(STDIN_FILENO, &serial_input, 1);
    if (n == 1)
        serial_has_input = 1;
    else
        serial_input_eof = 1;
    return serial_has_input;
}

static void boot_marker(void)
{
    uint64_t since_main = ns_since(&t_main);
    struct timespec mono, boot;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    /* /proc/self/stat field 22: start time in clock ticks since boot (10 ms resolution). */
    double since_exec_ms = -1;
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    char *p = n > 0 ? (buf[n] = 0, strrchr(buf, ')')) : NULL;
    unsigned long long start_ticks;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                           "%*d %*d %llu", &start_ticks) == 1)
        since_exec_ms = (boot.tv_sec + boot.tv_nsec / 1e9 - start_ticks / (double)sysconf(_SC_CLK_TCK)) * 1e3;
    fprintf(stderr, "loader: boot marker at %llu us since main (%.0f ms since exec per /proc/self/stat; "
            "CLOCK_MONOTONIC %llu ns)\n", (unsigned long long)(since_main / 1000), since_exec_ms,
            (unsigned long long)mono.tv_sec * 1000000000ULL + (unsigned long long)mono.tv_nsec);
}

/* VmHWM counts only this process image: ru_maxrss would also include the RSS of a vfork()ing
 * parent, which Linux carries across execve. */
static void print_peak_rss(void)
{
    char buf[4096], *p;
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n > 0 && (buf[n] = 0, p = strstr(buf, "VmHWM:")))
        fprintf(stderr, "loader: peak RSS %ld KiB (VmHWM)\n", strtol(p + 6, NULL, 10));
}

static void serial_io(struct kvm_run *run, uint16_t port, uint8_t *data)
{
    unsigned reg = port - SERIAL_BASE;
    int dlab = serial_lcr & 0x80;
    if (run->io.direction == KVM_EXIT_IO_OUT) {
        if (reg == 0 && !dlab) {
            out_buf[out_len++] = (char)*data;
            if (*data == '\n' || out_len == sizeof out_buf)
                flush_output();
        } else if (reg == 3) {
            serial_lcr = *data;
        } else if (reg == 7) {
            serial_scr = *data;
        }
        return;
    }
    switch (reg) {
    case 0: *data = dlab ? 0x01 : (stdin_has_byte() ? (serial_has_input = 0, serial_input) : 0); break;
    case 2: *data = 0x01; break;                               /* IIR: no interrupt pending */
    case 3: *data = serial_lcr; break;
    case 5: *data = 0x60 | (stdin_has_byte() ? 1 : 0); break;  /* THR empty, TX idle, [DR] */
    case 6: *data = 0xb0; break;                               /* DCD, DSR, CTS */
    case 7: *data = serial_scr; break;
    default: *data = 0; break;
    }
}

static void handle_io(struct kvm_run *run)
{
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    uint16_t port = run->io.port;
    pthread_mutex_lock(&io_lock);
    for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
        if (port >= SERIAL_BASE && port < SERIAL_BASE + 8 && run->io.size == 1) {
            serial_io(run, port, data);
        } else if (port == I8042_COMMAND && run->io.direction == KVM_EXIT_IO_OUT && *data == 0xfe) {
            flush_output();
            if (verbose)
                fprintf(stderr, "loader: reset after %.0f us\n", ns_since(&t_main) / 1e3);
            if (report_rss)
                print_peak_rss();
            exit(0);
        } else if (run->io.direction == KVM_EXIT_IO_IN) {
            memset(data, port == I8042_COMMAND ? 0 : 0xff, run->io.size);
        }
    }
    pthread_mutex_unlock(&io_lock);
}

static void handle_mmio(struct kvm_run *run)
{
    if (run->mmio.is_write) {
        if (run->mmio.phys_addr == BOOT_MARKER && run->mmio.data[0] == 123) {
            pthread_mutex_lock(&io_lock);
            boot_marker();
            pthread_mutex_unlock(&io_lock);
        }
        return;
    }
    memset(run->mmio.data, 0xff, sizeof run->mmio.data);   /* nothing mapped: all-ones */
}

struct vcpu {
    int id, fd;
    struct kvm_run *run;
};

static void *run_vcpu(void *arg)
{
    struct vcpu *v = arg;
    int first = v->id == 0;
    for (;;) {
        if (first)
            mark("first KVM_RUN");
        first = 0;
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fail("vcpu %d: KVM_RUN: %s", v->id, strerror(errno));
        }
        struct kvm_run *run = v->run;
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            handle_io(run);
            break;
        case KVM_EXIT_MMIO:
            handle_mmio(run);
            break;
        default: {
            struct kvm_regs regs;
            ioctl(v->fd, KVM_GET_REGS, &regs);
            const char *name = run->exit_reason == KVM_EXIT_HLT ? "HLT"
                : run->exit_reason == KVM_EXIT_SHUTDOWN ? "SHUTDOWN (triple fault)"
                : run->exit_reason == KVM_EXIT_FAIL_ENTRY ? "FAIL_ENTRY"
                : run->exit_reason == KVM_EXIT_INTERNAL_ERROR ? "INTERNAL_ERROR"
                : run->exit_reason == KVM_EXIT_SYSTEM_EVENT ? "SYSTEM_EVENT" : "unknown";
            pthread_mutex_lock(&io_lock);
            if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
                fprintf(stderr, "loader: internal error suberror %u, ndata %u, data[0..3] %llx %llx %llx %llx\n",
                        run->internal.suberror, run->internal.ndata,
                        (unsigned long long)run->internal.data[0], (unsigned long long)run->internal.data[1],
                        (unsigned long long)run->internal.data[2], (unsigned long long)run->internal.data[3]);
            fail("vcpu %d: unhandled exit %u %s at rip 0x%llx", v->id, run->exit_reason, name,
                 (unsigned long long)regs.rip);
        }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    clock_gettime(CLOCK_MONOTONIC, &t_main);
    const char *cmdline = "", *initrd_path = NULL;
    int nvcpus = 1, opt;
    while ((opt = getopt(argc, argv, "vrc:i:n:")) != -1) {
        switch (opt) {
        case 'v': verbose = 1; break;
        case 'r': report_rss = 1; break;
        case 'c': cmdline = optarg; break;
        case 'i': initrd_path = optarg; break;
        case 'n': nvcpus = atoi(optarg); break;
        default: goto usage;
        }
    }
    if (optind >= argc || argc - optind > 2 || nvcpus < 1 || nvcpus > MAX_VCPUS) {
usage:
        fprintf(stderr, "usage: %s [-v] [-r] [-c CMDLINE] [-i INITRD] [-n VCPUS] GUEST.elf [MiB]\n", argv[0]);
        return 2;
    }
    uint64_t mib = argc - optind == 2 ? strtoull(argv[optind + 1], NULL, 10) : 128;
    if (mib < 2 || mib > MMIO_GAP_START >> 20)
        fail("memory must be 2..%llu MiB", MMIO_GAP_START >> 20);
    ram_size = mib << 20;

    if ((kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
        fail("/dev/kvm: %s", strerror(errno));
    if (ioctl(kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        fail("unexpected KVM API version");
    vm_fd = KVM(kvm_fd, KVM_CREATE_VM, 0);
    mark("KVM_CREATE_VM");
    /* Guest RAM first: on this host a memslot change after KVM_CREATE_IRQCHIP/PIT2 waits for an
     * SRCU grace period (4-8 ms); made before them it takes ~0.1 ms. */
    ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED)
        fail("mmap guest RAM: %s", strerror(errno));
    struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0,
                                                  .memory_size = ram_size, .userspace_addr = (uintptr_t)ram };
    KVM(vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
    mark("KVM_SET_USER_MEMORY_REGION");

    KVM(vm_fd, KVM_SET_TSS_ADDR, (uintptr_t)KVM_TSS_ADDR);
    uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
    KVM(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
    KVM(vm_fd, KVM_CREATE_IRQCHIP, 0);
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    KVM(vm_fd, KVM_CREATE_PIT2, &pit);
    mark("irqchip + PIT2");

    uint64_t kernel_end, entry = load_elf(argv[optind], &kernel_end);
    uint64_t initrd = 0, initrd_size = 0;
    if (initrd_path) {
        size_t size;
        void *data = read_file(initrd_path, &size);
        initrd_size = size;
        initrd = (ram_size - initrd_size) & ~0xfffULL;
        if (initrd_size > ram_size || initrd < kernel_end || initrd < HIGH_MEM)
            fail("initrd of %zu bytes does not fit above the guest image", size);
        memcpy(gpa(initrd, initrd_size), data, size);
        munmap(data, size ? size : 1);
    }
    setup_zero_page(cmdline, initrd, initrd_size);
    setup_page_tables_and_gdt();
    setup_mp_table(nvcpus);
    mark("guest memory written");

    run_size = (size_t)KVM(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    setup_cpuid();
    static struct vcpu vcpus[MAX_VCPUS];
    for (int i = 0; i < nvcpus; i++) {
        vcpus[i].id = i;
        vcpus[i].run = create_vcpu(i, &vcpus[i].fd, entry);
    }
    mark("vcpus configured");
    for (int i = 1; i < nvcpus; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, run_vcpu, &vcpus[i]))
            fail("pthread_create failed");
    }
    run_vcpu(&vcpus[0]);
    return 1;
}
