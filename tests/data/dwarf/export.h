/* A kernel export marker as an unlinked object holds it: a
 * `__ksymtab_<name>` symbol in a `___ksymtab+<name>` section (what
 * abibot's ELF reader looks for). */
#define EXPORT(sym) \
	const void *const __ksymtab_##sym \
	__attribute__((section("___ksymtab+" #sym), used)) = &sym
