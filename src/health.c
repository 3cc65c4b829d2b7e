/* health.c: see health.h. */
#include "health.h"

unsigned glia_probe_delay_ms(int failed)
{
	unsigned ms = GLIA_PROBE_FIRST_MS;
	for (int i = 0; i < failed && ms < GLIA_PROBE_MAX_MS; i++)
		ms *= 2;
	return ms < GLIA_PROBE_MAX_MS ? ms : GLIA_PROBE_MAX_MS;
}

int glia_unreachable_restart(int failed_probes, double down_s)
{
	return failed_probes >= GLIA_UNREACHABLE_PROBES &&
	       down_s >= GLIA_UNREACHABLE_S;
}
