// SPDX-License-Identifier: BSD-2-Clause-Patent
//
// payload-run: runs a td-shim executable payload as an ordinary Linux process, for quick
// checks of payloads without building a firmware image. Written from
// ../shared/spec/hob.md §1, §4, §5 and the entry contract in the td-payload crate docs; it
// shares no code with the firmware.
//
// It loads the ELF (a PIE at an mmap'ed base with its R_X86_64_RELATIVE relocations applied,
// or an ET_EXEC at its link address), builds a payload HOB (PHIT, CPU, resource descriptors,
// an E820 GUID HOB, End), and jumps to e_entry with RDI = RCX = HOB address, RSI = load base
// and RSP = top of a 64 KiB stack minus 8 (a zero return address). The payload's privileged
// instructions fault (#GP -> SIGSEGV) and are emulated by the signal handler:
//   out to 0x3f8 (COM1 data)  -> the byte goes to stdout
//   in from 0x3fd (COM1 LSR)  -> 0x60 (transmitter empty); other ports read 0xff
//   out to 0xf4 (debug exit)  -> the process exits with (value << 1) | 1, like QEMU
//   cli / sti                 -> ignored
//   hlt                       -> "payload-run: halted" on stderr, exit status 2
// Any other fault prints the RIP and exits with status 3. Usage errors exit with 4.
//
// Options: --ram-mib N (RAM, default 4096: [0, min(N, 2048) MiB) plus the rest from 4 GiB),
//          --bad-hob (make the second HOB's length 0, which a strict parser must refuse),
//          --bad-phit (make the PHIT's HobLength 48 instead of 56),
//          --rcx-differs (pass HOB address + 8 in RCX, breaking RCX == RDI).
// Build: cc -O2 -o payload-run devtools/payload-run.c   (x86_64 Linux only)

#define _GNU_SOURCE
#include <elf.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define PAGE 0x1000ULL
#define STACK_SIZE 0x10000ULL
#define USAGE "usage: payload-run [--ram-mib N] [--bad-hob] [--bad-phit] [--rcx-differs] PAYLOAD.elf"

static void die(const char *msg) {
    fprintf(stderr, "payload-run: %s\n", msg);
    exit(4);
}

static void *map_anywhere(size_t len) {
    // Prefer the low 2 GiB, like the firmware's placement below 4 GiB.
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (p == MAP_FAILED)
        p = mmap(NULL, len, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap failed");
    return p;
}

// ---- port I/O emulation --------------------------------------------------------------------

static void put(const char *s) { (void)!write(2, s, strlen(s)); }

static void put_hex(uint64_t v) {
    char buf[19] = "0x";
    for (int i = 0; i < 16; i++)
        buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
    buf[18] = 0;
    put(buf);
}

static void port_out(uint16_t port, uint32_t value) {
    if (port == 0x3f8) {
        char c = (char)value;
        (void)!write(1, &c, 1);
    } else if (port == 0xf4) {
        _exit((int)(((value << 1) | 1) & 0xff));
    }
}

static uint32_t port_in(uint16_t port) {
    return port == 0x3fd ? 0x60 : 0xffffffff;
}

static void on_fault(int sig, siginfo_t *si, void *ctx_) {
    (void)sig;
    (void)si;
    ucontext_t *ctx = ctx_;
    greg_t *r = ctx->uc_mcontext.gregs;
    const uint8_t *ip = (const uint8_t *)r[REG_RIP];
    int opsize16 = 0;
    size_t len = 0;
    if (ip[0] == 0x66) { // operand-size prefix: 16-bit port access
        opsize16 = 1;
        ip++;
        len++;
    }
    uint16_t dx = (uint16_t)r[REG_RDX];
    uint32_t eax = (uint32_t)r[REG_RAX];
    uint32_t mask = opsize16 ? 0xffff : 0xffffffff;
    switch (ip[0]) {
    case 0xee: port_out(dx, eax & 0xff); len += 1; break;          // out dx, al
    case 0xef: port_out(dx, eax & mask); len += 1; break;          // out dx, ax/eax
    case 0xe6: port_out(ip[1], eax & 0xff); len += 2; break;       // out imm8, al
    case 0xe7: port_out(ip[1], eax & mask); len += 2; break;       // out imm8, ax/eax
    case 0xec: // in al, dx
        r[REG_RAX] = (r[REG_RAX] & ~0xffLL) | (port_in(dx) & 0xff);
        len += 1;
        break;
    case 0xed: // in eax, dx (zero-extends into rax) / in ax, dx
        if (opsize16)
            r[REG_RAX] = (r[REG_RAX] & ~0xffffLL) | (port_in(dx) & 0xffff);
        else
            r[REG_RAX] = port_in(dx);
        len += 1;
        break;
    case 0xe4: // in al, imm8
        r[REG_RAX] = (r[REG_RAX] & ~0xffLL) | (port_in(ip[1]) & 0xff);
        len += 2;
        break;
    case 0xfa: case 0xfb: len += 1; break;                          // cli, sti
    case 0xf4:                                                       // hlt
        put("payload-run: halted at ");
        put_hex((uint64_t)r[REG_RIP]);
        put("\n");
        _exit(2);
    default:
        put("payload-run: unexpected fault at rip ");
        put_hex((uint64_t)r[REG_RIP]);
        put(", address ");
        put_hex((uint64_t)si->si_addr);
        put("\n");
        _exit(3);
    }
    r[REG_RIP] += (greg_t)len;
}

// ---- ELF loading -----------------------------------------------------------------------------

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open the payload");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n <= 0)
        die("empty payload");
    uint8_t *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        die("cannot read the payload");
    fclose(f);
    *size = (size_t)n;
    return buf;
}

// Loads the ELF; returns the entry address and sets *base_out to the load base (0 for ET_EXEC).
static uint64_t load_elf(const uint8_t *file, size_t size, uint64_t *base_out) {
    if (size < sizeof(Elf64_Ehdr))
        die("file too small for an ELF header");
    const Elf64_Ehdr *eh = (const void *)file;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_machine != EM_X86_64 || (eh->e_type != ET_DYN && eh->e_type != ET_EXEC))
        die("not an x86-64 ELF64 executable or PIE");
    if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
        eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size)
        die("bad program header table");
    const Elf64_Phdr *ph = (const void *)(file + eh->e_phoff);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
            continue;
        if (ph[i].p_offset + ph[i].p_filesz > size || ph[i].p_filesz > ph[i].p_memsz)
            die("segment outside the file");
        if (ph[i].p_vaddr < lo)
            lo = ph[i].p_vaddr;
        if (ph[i].p_vaddr + ph[i].p_memsz > hi)
            hi = ph[i].p_vaddr + ph[i].p_memsz;
    }
    if (hi == 0)
        die("no loadable segment");
    uint64_t base;
    if (eh->e_type == ET_DYN) {
        // The firmware's loader expects a PIE linked at 0 (hob.md §5).
        base = (uint64_t)(uintptr_t)map_anywhere((hi + PAGE - 1) & ~(PAGE - 1));
    } else {
        uint64_t start = lo & ~(PAGE - 1), end = (hi + PAGE - 1) & ~(PAGE - 1);
        void *p = mmap((void *)(uintptr_t)start, end - start, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == MAP_FAILED || (uint64_t)(uintptr_t)p != start)
            die("cannot map the ET_EXEC at its link address");
        base = 0;
    }
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
            continue;
        uint8_t *dst = (uint8_t *)(uintptr_t)(base + ph[i].p_vaddr);
        memcpy(dst, file + ph[i].p_offset, ph[i].p_filesz);
        memset(dst + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
    }
    // Dynamic relocations: only R_X86_64_RELATIVE is allowed.
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_DYNAMIC)
            continue;
        const Elf64_Dyn *d = (const void *)(uintptr_t)(base + ph[i].p_vaddr);
        uint64_t rela = 0, relasz = 0, relaent = sizeof(Elf64_Rela);
        for (; d->d_tag != DT_NULL; d++) {
            if (d->d_tag == DT_RELA) rela = d->d_un.d_ptr;
            if (d->d_tag == DT_RELASZ) relasz = d->d_un.d_val;
            if (d->d_tag == DT_RELAENT) relaent = d->d_un.d_val;
            if (d->d_tag == DT_REL || d->d_tag == DT_RELR) die("REL/RELR relocations unsupported");
        }
        if (relaent != sizeof(Elf64_Rela))
            die("bad DT_RELAENT");
        const Elf64_Rela *r = (const void *)(uintptr_t)(base + rela);
        for (uint64_t k = 0; k < relasz / sizeof(Elf64_Rela); k++) {
            if (ELF64_R_TYPE(r[k].r_info) != R_X86_64_RELATIVE)
                die("relocation other than R_X86_64_RELATIVE");
            if (r[k].r_offset + 8 > hi)
                die("relocation outside the image");
            uint64_t v = base + (uint64_t)r[k].r_addend;
            memcpy((void *)(uintptr_t)(base + r[k].r_offset), &v, 8);
        }
    }
    *base_out = base;
    return base + eh->e_entry;
}

// ---- payload HOB (hob.md §1 encodings, §4 order) ---------------------------------------------

struct hob_writer {
    uint8_t *buf;
    size_t len;
};

static uint8_t *hob_add(struct hob_writer *w, uint16_t type, uint16_t len) {
    uint8_t *h = w->buf + w->len;
    memset(h, 0, (len + 7u) & ~7u);
    memcpy(h, &type, 2);
    memcpy(h + 2, &len, 2);
    w->len += (len + 7u) & ~7u;
    return h;
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void hob_resource(struct hob_writer *w, uint32_t type, uint32_t attr, uint64_t start,
                         uint64_t len) {
    uint8_t *h = hob_add(w, 3, 48);
    // Owner GUID (8..24) stays zero.
    put32(h + 24, type);
    put32(h + 28, attr);
    put64(h + 32, start);
    put64(h + 40, len);
}

static uint64_t build_hob(uint8_t *buf, uint64_t ram_mib, int bad, int bad_phit) {
    struct hob_writer w = {buf, 0};
    uint64_t ram = ram_mib << 20, low = ram < (2ULL << 30) ? ram : (2ULL << 30);
    uint64_t high = ram - low, top = high ? (4ULL << 30) + high : low;
    uint64_t base = (uint64_t)(uintptr_t)buf;

    uint8_t *phit = hob_add(&w, 1, 56);
    put32(phit + 8, 9);     // Version
    put32(phit + 12, 0);    // BootMode
    put64(phit + 16, top);  // EfiMemoryTop
    put64(phit + 24, 0);    // EfiMemoryBottom
    put64(phit + 32, top);  // EfiFreeMemoryTop
    put64(phit + 40, 0);    // EfiFreeMemoryBottom
    uint8_t *cpu = hob_add(&w, 6, 16);
    cpu[8] = 46;            // SizeOfMemorySpace
    cpu[9] = 16;            // SizeOfIoSpace
    if (bad)
        memset(cpu + 2, 0, 2); // HobLength 0
    hob_resource(&w, 0, 0x7, 0, low);
    hob_resource(&w, 1, 0x403, 0xb0000000, 0x10000000);
    if (high)
        hob_resource(&w, 0, 0x7, 4ULL << 30, high);

    // E820 GUID HOB 8F8072EA-3486-4B47-86A7-2353B88A8773 (hob.md §3.3), 20-byte entries.
    static const uint8_t e820_guid[16] = {0xEA, 0x72, 0x80, 0x8F, 0x86, 0x34, 0x47, 0x4B,
                                          0x86, 0xA7, 0x23, 0x53, 0xB8, 0x8A, 0x87, 0x73};
    int n = high ? 2 : 1;
    uint8_t *g = hob_add(&w, 4, (uint16_t)(24 + 20 * n));
    memcpy(g + 8, e820_guid, 16);
    put64(g + 24, 0);
    put64(g + 32, low);
    put32(g + 40, 1);
    if (high) {
        put64(g + 44, 4ULL << 30);
        put64(g + 52, high);
        put32(g + 60, 1);
    }
    hob_add(&w, 0xffff, 8);
    put64(phit + 48, base + w.len); // EfiEndOfHobList: just past the End HOB
    if (bad_phit)
        phit[2] = 48;
    return base;
}

int main(int argc, char **argv) {
    uint64_t ram_mib = 4096;
    int bad = 0, bad_phit = 0, rcx_differs = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ram-mib") && i + 1 < argc)
            ram_mib = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--bad-hob"))
            bad = 1;
        else if (!strcmp(argv[i], "--bad-phit"))
            bad_phit = 1;
        else if (!strcmp(argv[i], "--rcx-differs"))
            rcx_differs = 1;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            die(USAGE);
    }
    if (!path || ram_mib == 0)
        die(USAGE);
    setvbuf(stdout, NULL, _IONBF, 0);

    size_t size;
    uint8_t *file = read_file(path, &size);
    uint64_t base;
    uint64_t entry = load_elf(file, size, &base);
    uint64_t hob = build_hob(map_anywhere(PAGE), ram_mib, bad, bad_phit);
    uint64_t rcx = rcx_differs ? hob + 8 : hob;
    uint8_t *stack = map_anywhere(STACK_SIZE + PAGE);
    mprotect(stack, PAGE, PROT_NONE); // guard page
    uint64_t rsp = (uint64_t)(uintptr_t)(stack + STACK_SIZE + PAGE) - 8;
    memset((void *)(uintptr_t)rsp, 0, 8); // zero return address

    static uint8_t altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);

    fprintf(stderr, "payload-run: entry %#llx, base %#llx, hob %#llx\n",
            (unsigned long long)entry, (unsigned long long)base, (unsigned long long)hob);
    __asm__ volatile("mov %0, %%rsp\n\t"
                     "mov %1, %%rdi\n\t"
                     "mov %4, %%rcx\n\t"
                     "mov %2, %%rsi\n\t"
                     "jmp *%3\n\t"
                     :
                     : "r"(rsp), "r"(hob), "r"(base), "r"(entry), "r"(rcx)
                     : "rdi", "rcx", "rsi", "memory");
    __builtin_unreachable();
}
