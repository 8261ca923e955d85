; SPDX-License-Identifier: BSD-2-Clause-Patent
;
; td-shim reset vector: the top RESET_VECTOR_SIZE bytes of the image, ending at 4 GiB.
;
; The same 16 bytes at 0xFFFFFFF0 serve two kinds of CPU:
;   * a TD vCPU starts there in 32-bit protected mode, paging off, flat segments, with
;     EFER.LME/NXE already set by the TDX module (we must not write EFER), RBX = GPAW,
;     RCX/R8 = VMM parameter (TD HOB GPA by convention), RSI[31:0] = vCPU index; every vCPU
;     starts at once;
;   * a legacy VM's CPU starts there in 16-bit real mode (CS base 0xFFFF0000, IP 0xFFF0),
;     EAX = BIST; only the bootstrap processor runs.
; `mov eax, cr0 / test al, 1 / jz` encodes identically in both modes, so one test of CR0.PE
; routes them. Both paths join `common32`, enable long mode with the page tables prebuilt at
; the start of this region (identity map of [0, 4 GiB) with 2 MiB pages), copy the shim into
; RAM at SHIM_RUN_BASE and call it.
;
; Register contract at the call into Rust (System V ABI; also documented in
; td-shim/src/main.rs):
;   RDI = entry mode: ENTRY_MODE_REAL (0, legacy VM) or ENTRY_MODE_PROTECTED (1, TD)
;   RSI = BIST (EAX at reset; real-mode entry only, else 0)
;   RDX = vCPU index (ESI[31:0] at reset in a TD; 0 in a legacy VM)
;   RCX = VMM parameter (ECX at reset in a TD: by convention the TD HOB GPA; untrusted; else 0)
;   R8  = EBX at reset in a TD (bits 5:0 GPAW); else 0
;   R9  = 1 (bootstrap processor; application processors never get here yet)
;   RSP = TEMP_STACK_TOP - 8 (16-byte aligned before the call), 64-bit mode, paging on with
;         the prebuilt identity map, interrupts disabled, CS = SEL_CODE64, DS = ES = SS = SEL_DATA.
;
; Data the image linker (td-shim-ld) writes into the tail, read here:
;   [TAIL_ENTRY_OFFSET_GPA] u32  entry point - SHIM_RUN_BASE
;   [TAIL_IPL_BASE_GPA]     u32  GPA of the relocated shim memory image in the IPL FV
;   [TAIL_IPL_SIZE_GPA]     u32  bytes to copy (BSS included as zeros)

%include "layout.inc"

; Control-register and MSR bits we write (Intel SDM vol. 3, 2.5 and 2.2.1).
%define CR0_PE   (1 << 0)     ; protection enable
%define CR0_MP   (1 << 1)     ; monitor coprocessor (WAIT honours TS)
%define CR0_EM   (1 << 2)     ; x87 emulation: must be clear for x87/SSE
%define CR0_NE   (1 << 5)     ; native x87 error reporting
%define CR0_WP   (1 << 16)    ; supervisor writes honour read-only pages
%define CR0_NW   (1 << 29)    ; not write-through (reset value 1)
%define CR0_CD   (1 << 30)    ; cache disable (reset value 1)
%define CR0_PG   (1 << 31)    ; paging
%define CR4_PAE  (1 << 5)     ; physical address extension: required for long mode
%define CR4_MCE  (1 << 6)     ; machine-check enable: fixed to 1 in a TD
%define CR4_OSFXSR (1 << 9)   ; OS supports FXSAVE/FXRSTOR: enables SSE
%define CR4_OSXMMEXCPT (1 << 10) ; OS handles #XM (SIMD floating-point exceptions)
%define MSR_EFER 0xC0000080
%define EFER_LME (1 << 8)     ; long mode enable
%define EFER_NXE (1 << 11)    ; no-execute enable (PTE bit 63)

; Page-table entry bits.
%define PTE_P   (1 << 0)      ; present
%define PTE_RW  (1 << 1)      ; writable
%define PTE_A   (1 << 5)      ; accessed: preset, the tables may sit in ROM
%define PTE_D   (1 << 6)      ; dirty: preset for the same reason
%define PTE_PS  (1 << 7)      ; 2 MiB page (in a page-directory entry)

%define PML4_GPA (RESET_VECTOR_BASE + 0x0000)
%define PDPT_GPA (RESET_VECTOR_BASE + 0x1000)
%define PD_GPA   (RESET_VECTOR_BASE + 0x2000)

    org RESET_VECTOR_BASE

; ---------------------------------------------------------------------------------------
; Pages 0-5: identity map of [0, 4 GiB) with 2 MiB pages, read by the CPU only.
; ---------------------------------------------------------------------------------------
pml4:
    dq PDPT_GPA | PTE_P | PTE_RW | PTE_A
    times 511 dq 0
pdpt:
%assign i 0
%rep 4
    dq (PD_GPA + i * 0x1000) | PTE_P | PTE_RW | PTE_A
%assign i i + 1
%endrep
    times 508 dq 0
pd:
%assign i 0
%rep 2048
    dq (i * 0x200000) | PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS
%assign i i + 1
%endrep

%if ($ - $$) != RESET_PAGE_TABLE_PAGES * PAGE_SIZE
%error "page tables do not fill RESET_PAGE_TABLE_PAGES pages"
%endif

; ---------------------------------------------------------------------------------------
; Page 6: (emulated-TDX test images: the AP start-up entry), GDT and the 32-/64-bit code.
; ---------------------------------------------------------------------------------------
%ifdef EMULATED_TDX
; TEST IMAGES ONLY. In a TD every vCPU starts at the reset vector in 32-bit mode. An ordinary
; VM starts only the BSP, so the emulated TD's BSP sends INIT-SIPI with vector 0xFE to the
; others: they start in real mode at 0xFE000, which QEMU maps to this page of the image (the
; ISA BIOS alias of the image's last 128 KiB). Here they get the state a TD vCPU starts with
; (EFER.LME/NXE, EBX = GPAW, ESI = vCPU index, ECX = TD HOB GPA) and join the TD entry.
    bits 16
ap_sipi_entry:
    cli
    o32 lgdt [cs:gdtr - ap_sipi_entry]
    mov eax, cr0
    or eax, CR0_PE
    mov cr0, eax
    jmp dword SEL_CODE32:ap_sipi32
    bits 32
ap_sipi32:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov ecx, MSR_EFER         ; EFER = LME | NXE, as the TDX module presets it
    rdmsr
    or eax, EFER_LME | EFER_NXE
    wrmsr
    mov eax, 1
    cpuid
    shr ebx, 24               ; initial APIC ID = vCPU index
    mov esi, ebx
    mov ebx, 48               ; GPAW
    mov ecx, TD_HOB_BASE
    jmp protected_entry
%endif

    align 16
gdt:
    dq 0                      ; 0x00 null
    dq 0x00CF9B000000FFFF     ; 0x08 SEL_CODE32: flat 32-bit code, present, accessed
    dq 0x00AF9B000000FFFF     ; 0x10 SEL_CODE64: 64-bit code (L=1), present, accessed
    dq 0x00CF93000000FFFF     ; 0x18 SEL_DATA: flat data, writable, present, accessed
gdt_end:
    align 8
gdtr:
    dw gdt_end - gdt - 1
    dd gdt

; 32-bit entry of a vCPU that started in protected mode (a TD). Keep EBX, ECX, ESI: they hold
; the TDX module's inputs until the call into Rust.
    bits 32
protected_entry:
    mov edi, ENTRY_MODE_PROTECTED
    xor ebp, ebp              ; no BIST in this mode
    lgdt [gdtr]
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    jmp SEL_CODE32:common32   ; reload CS from our GDT

; 32-bit continuation of the real-mode path (legacy VM). EBP = BIST.
protected_from_real:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    ; EFER: a legacy CPU starts with it zero. Set LME, and NXE when CPUID says NX exists
    ; (CPUID 0x80000001 EDX bit 20); writing NXE without NX support would #GP.
    mov esi, EFER_LME
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb .no_nx
    mov eax, 0x80000001
    cpuid
    test edx, (1 << 20)
    jz .no_nx
    or esi, EFER_NXE
.no_nx:
    mov ecx, MSR_EFER
    rdmsr
    or eax, esi
    wrmsr
    mov edi, ENTRY_MODE_REAL
    xor ebx, ebx              ; no GPAW
    xor ecx, ecx              ; no VMM parameter
    xor esi, esi              ; vCPU index 0
    ; fall through

common32:
    ; CR4 = existing | PAE | MCE | OSFXSR | OSXMMEXCPT
    mov eax, cr4
    or eax, CR4_PAE | CR4_MCE | CR4_OSFXSR | CR4_OSXMMEXCPT
    mov cr4, eax
    mov eax, PML4_GPA
    mov cr3, eax
    ; CR0: clear EM (x87/SSE usable), CD and NW (caching on); set PE, MP, NE, WP and PG.
    ; EFER.LME is set (by us, or by the TDX module), so PG activates long mode.
    mov eax, cr0
    and eax, ~(CR0_EM | CR0_CD | CR0_NW)
    or eax, CR0_PE | CR0_MP | CR0_NE | CR0_WP | CR0_PG
    mov cr0, eax
    jmp SEL_CODE64:long_mode

    bits 64
long_mode:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    ; Only the bootstrap processor goes on. In a TD that is vCPU index 0 (all 32 bits of ESI
    ; compared, not just the low byte); the others go to the mailbox loop below.
    cmp edi, ENTRY_MODE_PROTECTED
    jne .bsp
    test esi, esi
    jz .bsp
    jmp ap_mailbox_loop

.bsp:
    mov rsp, TEMP_STACK_TOP
    ; Keep the inputs in registers the copy does not use.
    mov r12d, ebx             ; GPAW word (zero-extends)
    mov r13d, ecx             ; VMM parameter
    mov r14d, esi             ; vCPU index
    mov r15d, edi             ; entry mode
    mov ebp, ebp              ; BIST, zero-extended

    ; Check what the linker wrote before trusting it: ipl_size <= SHIM_RUN_SIZE and
    ; entry_offset < ipl_size. Otherwise stop with a recognisable value in RAX.
    ; (A 32-bit absolute displacement would be sign-extended in 64-bit mode, so the tail
    ; addresses, just below 4 GiB, go through a register.)
    mov ebx, TAIL_IPL_SIZE_GPA
    mov ecx, [rbx]
    cmp rcx, SHIM_RUN_SIZE
    ja .bad_tail
    mov ebx, TAIL_ENTRY_OFFSET_GPA
    mov eax, [rbx]
    cmp rax, rcx
    jae .bad_tail
    mov r11, rax              ; entry offset
    mov ebx, TAIL_IPL_BASE_GPA
    mov esi, [rbx]
    mov edi, SHIM_RUN_BASE
    add rcx, 7                ; copy whole quadwords (8x fewer iterations than bytes; the
    shr rcx, 3                ; at most 7 extra bytes stay inside the IPL FV and the run region)
    cld
    rep movsq                 ; copy the relocated shim (code, data and zeroed BSS) to RAM

    mov eax, SHIM_RUN_BASE
    add rax, r11
    mov rdi, r15
    mov rsi, rbp
    mov rdx, r14
    mov rcx, r13
    mov r8, r12
    mov r9d, 1
    call rax
    ; The firmware never returns; fall into the dead stop if it does.

.bad_tail:
    mov rax, 0xBADBADBADBAD7A11
.dead:
    cmp r15d, ENTRY_MODE_REAL
    jne .spin                 ; in a TD, HLT would raise #VE with no handler yet
    cli
    hlt
    jmp .dead
.spin:
    pause
    jmp .spin

; Application processors of a TD wait here (ESI = vCPU index) for the bootstrap processor's
; commands in the early mailbox (../shared/spec/mp-wakeup.md §3, phase 1):
;   [+0x000] u16 Command   [+0x004] u32 target vCPU index (0xFFFFFFFF = acknowledged)
;   [+0x008] u64 WakeupVector   [+0x800] u64 FwArgs[0..3]   [+0x900] u32 arrival count
; Commands: 3 = AssignWork (call WakeupVector(RDI = vCPU index, RSI = FwArgs[1]) on the stack
; FwArgs[0], then wait again), 1 = Wakeup (jump to WakeupVector with RBX = FwArgs[0], the
; relocated mailbox), 5 = SetCr3 (load FwArgs[0] into CR3), anything else = check-in
; (acknowledge only). Parameters are read before
; the acknowledgement, which frees the mailbox for the next command.
ap_mailbox_loop:
    mov rbx, MAILBOX_BASE
    lock inc dword [rbx + 0x900]
.wait:
    pause
    mov eax, [rbx + 4]
    cmp eax, esi
    jne .wait
    movzx eax, word [rbx]
    cmp eax, 3
    je .work
    cmp eax, 1
    je .relocate
    cmp eax, 5
    je .set_cr3
    mov dword [rbx + 4], 0xFFFFFFFF
    jmp .wait
.set_cr3:
    mov rax, [rbx + 0x800]
    mov cr3, rax              ; the bootstrap processor's page tables (all RAM mapped)
    mov dword [rbx + 4], 0xFFFFFFFF
    jmp .wait
.work:
    mov rax, [rbx + 8]
    mov rsp, [rbx + 0x800]
    mov rdi, rsi
    mov rsi, [rbx + 0x808]
    mov dword [rbx + 4], 0xFFFFFFFF
    push rdi                  ; keep the vCPU index; two pushes keep the call 16-byte aligned
    push rdi
    call rax
    pop rsi
    pop rsi
    mov rbx, MAILBOX_BASE
    jmp .wait
.relocate:
    mov rax, [rbx + 8]
    mov rcx, [rbx + 0x800]
    mov dword [rbx + 4], 0xFFFFFFFF
    mov rbx, rcx
    jmp rax

; ---------------------------------------------------------------------------------------
; Last page: real-mode code, then the image tail.
; ---------------------------------------------------------------------------------------
    times (RESET_VECTOR_SIZE - PAGE_SIZE) - ($ - $$) db 0

    bits 16
; Real mode, CS base 0xFFFF0000: every address below is an offset from that base.
real_mode_start:
    cli
    cld
    ; Fast A20 gate (port 0x92 bit 1) so addresses above 1 MiB are not wrapped; bit 0 would
    ; reset the machine, keep it clear.
    in al, 0x92
    or al, 2
    and al, 0xFE
    out 0x92, al
    o32 lgdt [cs:gdtr - $$ + (RESET_VECTOR_BASE - 0xFFFF0000)] ; CS-relative; 32-bit base (GDT below 4 GiB)
    mov eax, cr0
    or eax, CR0_PE
    mov cr0, eax
    jmp dword SEL_CODE32:protected_from_real

    ; Within short-jump reach of the reset code (-128 bytes): a near jump onward.
    times (RESET_VECTOR_SIZE - TAIL_SIZE - 8) - ($ - $$) db 0
real_mode_stub:
    jmp near real_mode_start
    times (RESET_VECTOR_SIZE - TAIL_SIZE) - ($ - $$) db 0

; Tail, last 0x54 bytes (../shared/spec/image-layout.md §5). The first 0x38 bytes belong to
; the linker (entry_offset, ipl_base, ipl_size, OVMF GUID table, legacy metadata pointer).
tail:
    times 0x38 db 0
    dd 0                      ; alignment filler
    dd 0
    db "VTF", 0               ; volume-top-file marker

; 0xFFFFFFF0: reset code, 16 bytes, valid in 16-bit real mode and 32-bit protected mode.
reset_code:
    bits 16
    mov ebp, eax              ; real mode: 66 89 C5 = mov ebp, eax (save BIST)
                              ; 32-bit:    66 89 C5 = mov bp, ax (EBP is free in a TD)
    mov eax, cr0              ; 0F 20 C0 in both modes
    test al, CR0_PE           ; A8 01
    jz short real_mode_stub   ; 74 rel8: real mode leaves here
    bits 32
    jmp protected_entry       ; E9 rel32: only ever decoded in 32-bit mode
    hlt

%if ($ - $$) != RESET_VECTOR_SIZE
%error "reset vector is not RESET_VECTOR_SIZE bytes"
%endif
