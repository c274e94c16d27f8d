/* Error names and messages for uvws's codes, falling back to libuv's. */
#include "uvws.h"

const char *uvws_strerror(int err) {
  switch (err) {
#define UVWS__ERR_MSG(name, code, msg)                                         \
  case (code):                                                                 \
    return msg;
    UVWS_ERRNO_MAP(UVWS__ERR_MSG)
#undef UVWS__ERR_MSG
  /* libuv's own codes, from its table: uv_strerror() would allocate (and
   * leak) a string for a code it does not know. */
#define UVWS__UV_MSG(name, msg)                                                \
  case UV_##name:                                                              \
    return msg;
    UV_ERRNO_MAP(UVWS__UV_MSG)
#undef UVWS__UV_MSG
  case 0:
    return "success";
  default:
    return "unknown error";
  }
}

const char *uvws_err_name(int err) {
  switch (err) {
#define UVWS__ERR_NAME(name, code, msg)                                        \
  case (code):                                                                 \
    return "UVWS_" #name;
    UVWS_ERRNO_MAP(UVWS__ERR_NAME)
#undef UVWS__ERR_NAME
#define UVWS__UV_NAME(name, msg)                                               \
  case UV_##name:                                                              \
    return #name;
    UV_ERRNO_MAP(UVWS__UV_NAME)
#undef UVWS__UV_NAME
  case 0:
    return "OK";
  default:
    return "UNKNOWN";
  }
}

unsigned uvws_version(void) {
  return UVWS_VERSION_HEX;
}

#define UVWS__STR2(x) #x
#define UVWS__STR(x) UVWS__STR2(x)
const char *uvws_version_string(void) {
  return UVWS__STR(UVWS_VERSION_MAJOR) "." UVWS__STR(
      UVWS_VERSION_MINOR) "." UVWS__STR(UVWS_VERSION_PATCH);
}
