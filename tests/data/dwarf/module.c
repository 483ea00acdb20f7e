/* A tiny "module" for tests/dwarf_package.rs: built with -DV2 it sees
 * types2.h, whose struct flags widens `busy`. */
#include "export.h"
#ifdef V2
#include "types2.h"
#else
#include "types1.h"
#endif

int module_flags(struct flags *f) { return f->ready; }
int module_plain(int x) { return x; }

EXPORT(module_flags);
EXPORT(module_plain);
