#include <stdio.h>
int main(void)
{
	fprintf(stderr, "dpdk-devourer: not yet wired\n");
	return 1;
}
