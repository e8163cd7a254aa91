/* Run a raw x86-64 image the way a boot ROM would: copy it to its load address and jump to its first byte. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: run_raw IMAGE LOAD_ADDRESS\n");
        return 2;
    }
    unsigned long address = strtoul(argv[2], NULL, 0);
    FILE *image = fopen(argv[1], "rb");
    if (image == NULL || fseek(image, 0, SEEK_END) != 0) {
        perror(argv[1]);
        return 2;
    }
    long size = ftell(image);
    rewind(image);
    void *memory = mmap((void *)address, (size_t)(size + 0xFFF) & ~0xFFFUL, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (memory == MAP_FAILED || fread(memory, 1, (size_t)size, image) != (size_t)size) {
        perror("load");
        return 2;
    }
    ((void (*)(void))address)();
    return 3;
}
