/* Planted defect: a constructor nobody declared, which runs a shell before main. Built, never run. */
#include <stdlib.h>
#include "clean.c"

__attribute__((constructor)) static void hidden_init(void)
{
    if (getenv("PROVCHECK_NEVER_SET_THIS")) {
        system("/bin/sh");
    }
}
