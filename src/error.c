/* Error names and messages for uvws's codes, falling back to libuv's. */
#include "uvws.h"

const char *uvws_strerror(int err) {
  switch (err) {
#define UVWS__ERR_MSG(name, code, msg)                                         \
  case (code):                                                                 \
    return msg;
    UVWS_ERRNO_MAP(UVWS__ERR_MSG)
#undef UVWS__ERR_MSG
  default:
    return uv_strerror(err);
  }
}

const char *uvws_err_name(int err) {
  switch (err) {
#define UVWS__ERR_NAME(name, code, msg)                                        \
  case (code):                                                                 \
    return "UVWS_" #name;
    UVWS_ERRNO_MAP(UVWS__ERR_NAME)
#undef UVWS__ERR_NAME
  default:
    return uv_err_name(err);
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
