/* Prints the sizes behind the idle-memory figure as one JSON line for
 * bench/run: uvws's connection struct (what every idle connection holds,
 * the uv_tcp_t included) and libuv's uv_tcp_t alone. */
#include <stdio.h>

#include "internal.h"

int main(void) {
  printf("{\"mode\":\"sizes\",\"uvws_conn\":%zu,\"uv_tcp\":%zu}\n",
         sizeof(struct uvws_conn_s), sizeof(uv_tcp_t));
  return 0;
}
