/* The vendor's build for the loaded-bytes tests. It keeps, like real firmware does, a handler table and a hook
 * pointer in .data, a path string and a help text in .rodata, a hot function aligned to 256 bytes, so that .text
 * holds alignment padding, and an IFUNC (a resolver ld.so calls at start-up). Every planted variant is made by
 * patching the stripped build's bytes. */
#include <stdio.h>
#include <string.h>

static int deny(const char *who)
{
    printf("deny %s\n", who);
    return 3;
}

static int allow(const char *who)
{
    printf("allow %s\n", who);
    return 0;
}

static void log_exit(void)
{
    puts("bye");
}

static unsigned checksum_generic(const char *text)
{
    unsigned sum = 0;
    while (*text) {
        sum = sum * 31 + (unsigned char)*text++;
    }
    return sum;
}

__attribute__((unused)) static unsigned (*resolve_checksum(void))(const char *)
{
    return checksum_generic;
}

#if defined(__ELF__)
unsigned checksum(const char *text) __attribute__((ifunc("resolve_checksum")));
#else /* PE has no IFUNC */
#define checksum checksum_generic
#endif

int (*handlers[2])(const char *) = {deny, allow};
void (*volatile at_exit_hook)(void) = log_exit;
const char config_path[] = "/etc/vendor.conf";
const char help_text[] = "usage: loaded [user] [--help]\n"
                         "  looks the user up in the built-in table and prints the verdict.\n";

__attribute__((noinline, aligned(256))) int lookup(const char *who)
{
    return strcmp(who, "admin") == 0;
}

int main(int argc, char **argv)
{
    const char *who = argc > 1 ? argv[1] : "guest";
    if (argc > 2) {
        fputs(help_text, stdout);
    }
    printf("config %s (user sum %u)\n", config_path, checksum(who));
    int rc = handlers[lookup(who)](who);
    at_exit_hook();
    return rc;
}
