/* Planted defect: a TLS callback, which Windows runs before the entry point. Built, never run. */
#include <windows.h>
#include "clean_pe.c"

static void NTAPI planted_tls_callback(PVOID module, DWORD reason, PVOID reserved)
{
    (void)module;
    (void)reserved;
    if (reason == 0x7fffffff) {
        WinExec("cmd.exe /c whoami", 0);
    }
}

__attribute__((section(".CRT$XLB"), used)) PIMAGE_TLS_CALLBACK planted_tls_entry = planted_tls_callback;
