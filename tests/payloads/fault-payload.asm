; SPDX-License-Identifier: BSD-2-Clause-Patent
;
; A payload that faults on purpose: it executes UD2 at a known offset from its entry, so the
; boot test can check that the firmware's exception handler (still installed when the payload
; runs) reports the vector and the RIP, and stops the machine instead of triple-faulting.
bits 64
default rel
section .text
global _start
_start:
    nop
    nop
    ud2                     ; at _start + 2
.hang:
    hlt
    jmp .hang
