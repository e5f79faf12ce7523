/* lib/errors.c — human-readable names for enum sg_err. */
#include "errors.h"

const char *sg_strerror(int err)
{
	switch (err) {
	case SG_OK: return "ok";
	case SG_ENOMEM: return "out of memory";
	case SG_EMALFORMED: return "malformed";
	case SG_EBADSIG: return "bad signature";
	case SG_EEXPIRED: return "expired";
	case SG_EFUTURE: return "signed in the future";
	case SG_ETOOBIG: return "too large";
	case SG_EDEPTH: return "nested too deeply";
	case SG_ENOENT: return "not found";
	case SG_EPOLICY: return "forbidden by write policy";
	case SG_ETESTFAIL: return "test operation failed";
	case SG_EINVAL: return "invalid value";
	case SG_EUNSUPPORTED: return "cannot be represented faithfully";
	}
	return "unknown error";
}
