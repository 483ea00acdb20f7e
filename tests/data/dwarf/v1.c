/* Version 1 of a tiny "kernel" for tests/dwarf.rs: each export reaches one
 * kind of change that v2.c makes (or none). */
#include "export.h"

struct opaque; /* never defined: stays opaque */

typedef unsigned int count_t;
typedef count_t level_t; /* a typedef chain */

enum mode { MODE_A, MODE_B = 5, MODE_C };

struct grows { int a; int b; };

struct flags { unsigned int ready : 1; unsigned int busy : 2; };

struct holder {
	int kind;
	union {
		long raw;
		struct { short lo, hi; };
	};
	struct holder *next;
	void (*callback)(struct holder *, int);
	char name[16];
};

int grows_get(struct grows *g) { return g->a; }
int mode_set(enum mode m) { return m; }
int level_get(level_t *l) { return (int)*l; }
int flags_get(struct flags *f) { return f->busy; }
long holder_get(const struct holder *h) { return h->raw; }
struct opaque *opaque_get(void) { return 0; }
int decl_change(int x) { return x; }
int plain_count(int x) { return x; }
struct holder holder_table[4];

EXPORT(grows_get);
EXPORT(mode_set);
EXPORT(level_get);
EXPORT(flags_get);
EXPORT(holder_get);
EXPORT(opaque_get);
EXPORT(decl_change);
EXPORT(plain_count);
EXPORT(holder_table);
