; SPDX-License-Identifier: BSD-2-Clause-Patent
;
; protect-payload: breaks one memory-protection rule on purpose, so that the boot tests
; (tests/protect.rs) can check that the firmware's page tables refuse it and its exception
; handler names the violation, then stops the machine (no double or triple fault). build.sh
; assembles it once per case with -DCASE=n:
;   1 write-code       writes one byte over its own entry point (.text is read-only)
;   2 exec-stack       calls code it put on its stack (the stack is no-execute)
;   3 stack-overflow   recurses until its stack runs into the guard page below it
;   4 write-firmware   writes to the firmware's ELF header at SHIM_RUN_BASE (read-only)
;   5 exec-heap        jumps into the last page of the firmware's temporary heap (no-execute)
;   6 null-read        reads address 0 (page 0 is not mapped)
; Fixed addresses come from td-shim/src/layout.rs (SHIM_RUN_BASE, TEMP_HEAP_BASE + SIZE); the test
; compares the reported addresses with those constants. If a case is not stopped, the payload
; reports "protect-payload: NOT CAUGHT" on COM1 and exits QEMU with 0x31 (status 99).
;
; Entry state: 64-bit mode, the firmware's page tables and IDT, RSP = top of the payload
; stack.

bits 64
default rel

COM1            equ 0x3f8
DEBUG_EXIT_PORT equ 0xf4
EXIT_NOT_CAUGHT equ 0x31
SHIM_RUN_BASE   equ 0x100000
HEAP_LAST_PAGE  equ 0x2bf000        ; TEMP_HEAP_BASE + TEMP_HEAP_SIZE - 4 KiB

%ifndef CASE
%error "assemble with -DCASE=1..6"
%endif

section .text
global _start
_start:
%if CASE == 1
    lea     rax, [rel _start]
    mov     byte [rax], 0xcc        ; #PF: write to a read-only page (our own code)
%elif CASE == 2
    sub     rsp, 16
    mov     byte [rsp], 0xc3        ; RET
    call    rsp                     ; #PF: instruction fetch from a no-execute page
    add     rsp, 16
%elif CASE == 3
    call    recurse                 ; never returns: #PF in the guard page
%elif CASE == 4
    mov     eax, SHIM_RUN_BASE
    mov     byte [rax], 0           ; #PF: write to a read-only page (firmware headers)
%elif CASE == 5
    mov     eax, HEAP_LAST_PAGE
    call    rax                     ; #PF: instruction fetch from a no-execute page
%elif CASE == 6
    xor     eax, eax
    mov     rax, [rax]              ; #PF: read from an unmapped page (page 0)
%else
%error "unknown CASE"
%endif
    ; Still running: the rule was not enforced.
    lea     rsi, [rel not_caught]
.print:
    lodsb
    test    al, al
    jz      .exit
    mov     dx, COM1
    out     dx, al
    jmp     .print
.exit:
    mov     al, EXIT_NOT_CAUGHT
    out     DEBUG_EXIT_PORT, al
.hang:
    hlt
    jmp     .hang

recurse:
    call    recurse                 ; 8 bytes of stack per level
    ret

section .rodata
not_caught: db "protect-payload: NOT CAUGHT", 13, 10, 0
