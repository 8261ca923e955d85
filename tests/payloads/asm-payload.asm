; SPDX-License-Identifier: BSD-2-Clause-Patent
;
; asm-payload: a minimal executable payload in NASM, independent of the Rust runtime, for the
; boot tests. It checks the firmware's entry contract (td-payload crate docs;
; ../../../shared/spec/hob.md §4-5):
;   - RCX == RDI (both hold the payload HOB GPA),
;   - the first HOB is a PHIT: HobType 1, HobLength 56 (hob.md §1),
; then prints `asm-payload: ok rdi=rcx=<hex>` or `asm-payload: FAIL <reason>` on COM1 and
; writes 0x20 (ok) or 0x21 (fail) to QEMU's isa-debug-exit port 0xf4 (QEMU exit status 65 or
; 67), and halts.
;
; build.sh links this file twice: as a static PIE at 0 and as ET_EXEC at 0x4000000. Every
; message is reached through a pointer stored in .data (an absolute address, so the PIE
; carries an R_X86_64_RELATIVE relocation for each): correct output proves that the loader
; applied the relocations.
;
; Entry state: 64-bit mode, identity-mapped, interrupts off, a valid stack (we use `call`).

bits 64
default rel

COM1            equ 0x3f8
COM1_LSR        equ COM1 + 5        ; line-status register
LSR_THR_EMPTY   equ 0x20            ; bit 5: transmit holding register empty
DEBUG_EXIT_PORT equ 0xf4
EXIT_OK         equ 0x20
EXIT_FAIL       equ 0x21
HOB_TYPE_PHIT   equ 1
PHIT_LENGTH     equ 56

section .text
global _start
_start:
    mov     r12, rdi                ; r12 = HOB GPA (callee-saved across our calls)
    cmp     rdi, rcx
    jne     .rcx_mismatch
    test    rdi, rdi                ; a null HOB would still be readable (identity map), but
    jz      .null_hob               ; it is certainly not what the firmware promised
    cmp     word [rdi], HOB_TYPE_PHIT       ; HobType
    jne     .not_phit
    cmp     word [rdi + 2], PHIT_LENGTH     ; HobLength
    jne     .bad_phit_length

    mov     rsi, [msg_ok_ptr]       ; absolute pointer: relocated by the loader in the PIE
    call    puts
    mov     rax, r12
    call    put_hex
    mov     al, 10
    call    putc
    mov     al, EXIT_OK
    jmp     exit

.rcx_mismatch:
    mov     rsi, [msg_rcx_ptr]
    jmp     fail
.null_hob:
    mov     rsi, [msg_null_ptr]
    jmp     fail
.not_phit:
    mov     rsi, [msg_type_ptr]
    jmp     fail
.bad_phit_length:
    mov     rsi, [msg_len_ptr]
    ; fall through

; rsi = reason (NUL-terminated); prints "asm-payload: FAIL <reason>\n" and exits 0x21.
fail:
    push    rsi
    mov     rsi, [msg_fail_ptr]
    call    puts
    pop     rsi
    call    puts
    mov     al, 10
    call    putc
    mov     al, EXIT_FAIL
    ; fall through

; al = exit code.
exit:
    mov     dx, DEBUG_EXIT_PORT
    out     dx, al                  ; QEMU exits with (al << 1) | 1 if the device exists
.halt:
    cli
    hlt
    jmp     .halt                   ; an NMI/SMI may resume after hlt

; Prints the NUL-terminated string at rsi. Clobbers rax, rdx, rsi.
puts:
    mov     al, [rsi]
    test    al, al
    jz      .done
    call    putc
    inc     rsi
    jmp     puts
.done:
    ret

; Prints rax as 0x-prefixed lowercase hex without leading zeros. Clobbers rax, rcx, rdx, r8.
put_hex:
    mov     r8, rax
    mov     al, '0'
    call    putc
    mov     al, 'x'
    call    putc
    mov     ecx, 60                 ; shift of the highest nibble
.skip_zeros:
    test    ecx, ecx                ; always print the last nibble
    jz      .digits
    mov     rax, r8
    shr     rax, cl
    and     eax, 0xf
    jnz     .digits
    sub     ecx, 4
    jmp     .skip_zeros
.digits:
    mov     rax, r8
    shr     rax, cl
    and     eax, 0xf
    add     al, '0'
    cmp     al, '9'
    jbe     .emit
    add     al, 'a' - '0' - 10
.emit:
    call    putc
    sub     ecx, 4
    jns     .digits
    ret

; Sends al on COM1 once the transmitter is free (a missing UART reads 0xff: never waits).
; Preserves everything but rdx.
putc:
    push    rax
    mov     dx, COM1_LSR
.wait:
    in      al, dx
    test    al, LSR_THR_EMPTY
    jz      .wait
    pop     rax
    mov     dx, COM1
    out     dx, al
    ret

section .rodata
msg_ok:     db "asm-payload: ok rdi=rcx=", 0
msg_fail:   db "asm-payload: FAIL ", 0
msg_rcx:    db "rcx != rdi", 0
msg_null:   db "hob address is 0", 0
msg_type:   db "first hob is not a phit (type != 1)", 0
msg_len:    db "phit length != 56", 0

section .data
; Absolute addresses: R_X86_64_64 in the object, R_X86_64_RELATIVE in the PIE.
msg_ok_ptr:     dq msg_ok
msg_fail_ptr:   dq msg_fail
msg_rcx_ptr:    dq msg_rcx
msg_null_ptr:   dq msg_null
msg_type_ptr:   dq msg_type
msg_len_ptr:    dq msg_len

section .note.GNU-stack noalloc noexec nowrite progbits
