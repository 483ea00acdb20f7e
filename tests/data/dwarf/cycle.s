# Hostile DWARF for tests/dwarf.rs: the exported variable `loop_var` has a
# pointer type whose DW_AT_type names itself (a reference cycle no compiler
# writes). Assembled with `gcc -c`; `.long .Labbrev` is relocated.
	.data
	.globl loop_var
loop_var:
	.quad 0
	.section "___ksymtab+loop_var","a"
	.globl __ksymtab_loop_var
__ksymtab_loop_var:
	.quad loop_var

	.section .debug_abbrev,"",@progbits
.Labbrev:
	.uleb128 1
	.uleb128 0x11		# DW_TAG_compile_unit
	.byte 1			# children
	.uleb128 0x3, 0x8	# DW_AT_name, DW_FORM_string
	.byte 0, 0
	.uleb128 2
	.uleb128 0x34		# DW_TAG_variable
	.byte 0
	.uleb128 0x3, 0x8	# DW_AT_name, DW_FORM_string
	.uleb128 0x49, 0x13	# DW_AT_type, DW_FORM_ref4
	.byte 0, 0
	.uleb128 3
	.uleb128 0x0f		# DW_TAG_pointer_type
	.byte 0
	.uleb128 0x0b, 0x0b	# DW_AT_byte_size, DW_FORM_data1
	.uleb128 0x49, 0x13	# DW_AT_type, DW_FORM_ref4
	.byte 0, 0
	.byte 0

	.section .debug_info,"",@progbits
.Lcu:
	.long .Lend - .Lversion
.Lversion:
	.value 4
	.long .Labbrev
	.byte 8
	.uleb128 1
	.string "cycle.c"
	.uleb128 2
	.string "loop_var"
	.long .Lptr - .Lcu
.Lptr:
	.uleb128 3
	.byte 8
	.long .Lptr - .Lcu
	.byte 0
.Lend:
