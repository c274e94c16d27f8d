/* FUZZ_CHECK: a property every fuzz target asserts beyond "no crash"; a
 * failure names the check and aborts, which libFuzzer reports with the
 * input. */
#ifndef UVWS_FUZZ_CHECK_H
#define UVWS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);               \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#endif
