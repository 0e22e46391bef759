#include "cdht/err.h"

const char *cdht_strerror(int err) {
  switch (err) {
  case 0: return "success";
#define CDHT_ERR_CASE(name, value, msg) case (value): return (msg);
  CDHT_ERRORS(CDHT_ERR_CASE)
#undef CDHT_ERR_CASE
  default: return "unknown error";
  }
}
