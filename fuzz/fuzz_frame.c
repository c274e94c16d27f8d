/* libFuzzer target for the receiving engine, in both roles. The first byte
 * of the input picks the role, the message size limit and where the rest is
 * cut; feeding it whole and cut must give the same events and result. */
#include "engine_run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  trace_t a, b;
  unsigned ca, cb;
  long ra, rb;
  int from_client;
  size_t max, step;

  if (size < 1)
    return 0;
  from_client = data[0] & 1;
  max = (data[0] & 2) ? 64 : 0;
  step = (data[0] >> 2) + 1;
  ra = engine_run(NULL, data + 1, size - 1, from_client, max, 0, &a, &ca);
  rb = engine_run(NULL, data + 1, size - 1, from_client, max, step, &b,
                  &cb);
  if (ra != rb || ca != cb || a.hash != b.hash || a.count != b.count)
    abort();
  return 0;
}
