/* Entry point of every test guest. Kiln enters here in 64-bit mode with rsp = 0x8ff0 (16-byte
 * aligned, so the call below leaves main with the ABI's rsp % 16 == 8) and rsi = zero page.
 * Built with -DBOOT_MARKER_FIRST, the very first instruction writes 123 to the boot-time
 * marker: the addr32 prefix makes the 32-bit absolute address zero-extend (without it the
 * disp32 would sign-extend to 0xffffffffd0000000), so no register has to be loaded first. */
    .section .text.entry, "ax"
    .code64
    .globl _start
_start:
#ifdef BOOT_MARKER_FIRST
    addr32 movb $123, 0xd0000000
#endif
    movq %rsi, %rdi        /* main(boot_params) */
    call main
    call reset
