/* The types of v1.c, in a header as a kernel's are: genksyms expands
 * only types defined outside the exporting .c file. */
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
