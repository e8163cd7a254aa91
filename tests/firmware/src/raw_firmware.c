/* A bare-metal-style image for the raw-image tests: linked at a fixed address by raw_firmware.ld, no libc,
 * and it talks to the world through two Linux syscalls, so run_raw can execute its objcopy -O binary form. */

static long sys(long number, long a, long b, long c)
{
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return result;
}

static const char greeting[] = "firmware: hello from the vendor\n";

static void report(void)
{
    sys(1, 1, (long)greeting, sizeof greeting - 1);
}

/* The boot hook lives in .data, after the gap the linker leaves before it (ALIGN(0x1000)). */
void (*volatile boot_hook)(void) = report;

__attribute__((section(".text.start"), noreturn)) void _start(void)
{
    boot_hook();
    sys(60, 0, 0, 0);
    for (;;) {
    }
}
