/* The vendor's Windows build. */
#include <stdio.h>

__declspec(dllexport) int vendor_api(int value)
{
    return value * 3 + 1;
}

int main(void)
{
    printf("%d\n", vendor_api(4));
    return 0;
}
