/* A small, clean program: the vendor's build. Planted variants include this file and add one defect. */
#include <stdio.h>
#include <string.h>

__attribute__((noinline)) unsigned checksum(const char *text)
{
    unsigned sum = 2166136261u;
    for (size_t i = 0; i < strlen(text); i++) {
        sum = (sum ^ (unsigned char)text[i]) * 16777619u;
    }
    return sum;
}

__attribute__((noinline)) int parse_level(const char *text)
{
    int level = 0;
    while (*text >= '0' && *text <= '9') {
        level = level * 10 + (*text++ - '0');
    }
    return level > 9 ? 9 : level;
}

int main(int argc, char **argv)
{
    const char *arg = argc > 1 ? argv[1] : "default";
    printf("%u %d\n", checksum(arg), parse_level(arg));
    return 0;
}
