/* The types of v2.c, in a header as a kernel's are: genksyms expands
 * only types defined outside the exporting .c file. */
struct opaque; /* never defined: stays opaque */

typedef unsigned int count_t;
typedef unsigned long wide_t;
typedef wide_t level_t; /* retargeted */

enum mode { MODE_A, MODE_B = 6, MODE_C };

struct grows { int a; int added; int b; };

struct flags { unsigned int ready : 1; unsigned int busy : 3; };

struct holder {
	int kind;
	union {
		long raw;
		void *ptr;
		struct { short lo, hi; };
	};
	struct holder *next;
	void (*callback)(struct holder *, int);
	char name[16];
};
