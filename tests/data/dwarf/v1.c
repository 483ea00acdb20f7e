/* Version 1 of a tiny "kernel" for tests/dwarf.rs: each export reaches one
 * kind of change that v2.c makes (or none). */
#include "export.h"
#include "types1.h"

/* Defined in this .c file: internal, opaque to genksyms (and abibot),
 * though v2.c adds a member. */
struct internal { int x; };

int grows_get(struct grows *g) { return g->a; }
int mode_set(enum mode m) { return m; }
int level_get(level_t *l) { return (int)*l; }
int flags_get(struct flags *f) { return f->busy; }
long holder_get(const struct holder *h) { return h->raw; }
struct opaque *opaque_get(void) { return 0; }
int decl_change(int x) { return x; }
int plain_count(int x) { return x; }
struct holder holder_table[4];
int internal_get(struct internal *i) { return i->x; }

EXPORT(grows_get);
EXPORT(mode_set);
EXPORT(level_get);
EXPORT(flags_get);
EXPORT(holder_get);
EXPORT(opaque_get);
EXPORT(decl_change);
EXPORT(plain_count);
EXPORT(holder_table);
EXPORT(internal_get);
