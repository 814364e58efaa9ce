// SPDX-License-Identifier: Apache-2.0
/*
 * .eh_frame to unwind rows.
 *
 * libdw's CFI interpreter does the hard part: dwarf_cfi_addrframe() runs an
 * FDE's instructions up to an address and reports the rules in force and the
 * range over which they hold, so walking an FDE is a loop from its start to
 * its end, one row per rule change. What libdw does not offer is the list of
 * FDEs, so it comes from .eh_frame_hdr's binary-search table, which every
 * binary linked by GNU ld or lld carries (--eh-frame-hdr is the default).
 *
 * Each row's rules are then matched against the shapes the BPF walker knows
 * (see bpf/emberprof.h). libdw presents them as DWARF expressions:
 *   - the CFA rule "register + offset" is one DW_OP_bregx;
 *   - a PLT stub's CFA is the expression
 *       breg7(rsp) N; breg16(rip) 0; lit15; and; litT; ge; lit3; shl; plus
 *     i.e. rsp + N + ((rip & 15) >= T ? 8 : 0);
 *   - "saved at CFA + k" is DW_OP_call_frame_cfa [DW_OP_plus_uconst k];
 *   - undefined and same-value are empty expressions (see libdw.h).
 * Anything else becomes an UNSUPPORTED row, and the walker stops there.
 */
#include <dwarf.h>
#include <errno.h>
#include <gelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <elfutils/libdw.h>

#include "lib/array.h"
#include "symbolizer/elf_file.h"
#include "agent/unwind_table.h"

/* x86-64 DWARF register numbers. */
#define REG_RBP 6
#define REG_RSP 7
#define REG_RA 16

/* FDEs at most; a larger table is truncated (the rest falls back to frame pointers). */
#define MAX_FDES (1u << 22)

struct rows {
	struct ember_row *v;
	size_t n, cap;
	int failed;
};

/* A row's rules before they are packed (see bpf/emberprof.h). */
struct rule {
	uint32_t cfa_rule, rbp_rule, aux;
	int64_t cfa_off, rbp_off;
};

/* The packed word of @r; rules the word cannot hold become UNSUPPORTED or rbp UNKNOWN. */
static uint32_t pack(const struct rule *r)
{
	uint32_t cfa = r->cfa_rule, rbp = r->rbp_rule, mid = 0;

	if (cfa == EMBER_CFA_RSP || cfa == EMBER_CFA_RBP || cfa == EMBER_CFA_PLT) {
		if (r->cfa_off < 0 || r->cfa_off > EMBER_ROW_CFA_OFF_MAX)
			return EMBER_CFA_UNSUPPORTED;
	}
	if (cfa == EMBER_CFA_PLT) {
		mid = r->aux & 0xff;
		rbp = EMBER_RBP_SAME;
	} else if (rbp == EMBER_RBP_AT_CFA) {
		if (r->rbp_off % 8 || r->rbp_off < -128 * 8 || r->rbp_off > 127 * 8)
			rbp = EMBER_RBP_UNKNOWN;
		else
			mid = (uint8_t)(int8_t)(r->rbp_off / 8);
	}
	if (cfa != EMBER_CFA_RSP && cfa != EMBER_CFA_RBP && cfa != EMBER_CFA_PLT)
		return cfa; /* GAP, END, SIGNAL, UNSUPPORTED: nothing else is read */
	return cfa | rbp << 3 | mid << 5 | (uint32_t)r->cfa_off << 13;
}

static void push(struct rows *r, uint64_t pc, uint32_t rule)
{
	struct ember_row *last = r->n ? &r->v[r->n - 1] : NULL;

	/* Same rules as the previous row: it simply extends. */
	if (last && last->rule == rule)
		return;
	if (last && last->pc == pc) {
		last->rule = rule;
		return;
	}
	if (EMBER_RESERVE(r->v, r->cap, r->n + 1)) {
		r->failed = 1;
		return;
	}
	r->v[r->n++] = (struct ember_row){.pc = (uint32_t)pc, .rule = rule};
}

/* "The value was saved at CFA + k": returns 0 and sets *@k, or -1 for another shape. */
static int saved_at_cfa(const Dwarf_Op *ops, size_t nops, int64_t *k)
{
	if (nops == 1 && ops[0].atom == DW_OP_call_frame_cfa) {
		*k = 0;
		return 0;
	}
	if (nops == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst) {
		*k = (int64_t)ops[1].number;
		return 0;
	}
	return -1;
}

static int is_plt_cfa(const Dwarf_Op *ops, size_t nops, struct rule *row)
{
	static const uint8_t shape[] = {DW_OP_breg7, DW_OP_breg16, DW_OP_lit15,
					DW_OP_and,   0 /* litT */, DW_OP_ge,
					DW_OP_lit3,  DW_OP_shl,	   DW_OP_plus};

	if (nops != sizeof(shape))
		return 0;
	for (size_t i = 0; i < nops; i++) {
		if (i == 4) {
			if (ops[i].atom < DW_OP_lit0 || ops[i].atom > DW_OP_lit31)
				return 0;
			continue;
		}
		if (ops[i].atom != shape[i])
			return 0;
	}
	if (ops[1].number != 0 || (int64_t)ops[0].number > INT32_MAX)
		return 0;
	row->cfa_rule = EMBER_CFA_PLT;
	row->cfa_off = (int64_t)ops[0].number;
	row->aux = (uint32_t)(ops[4].atom - DW_OP_lit0);
	return 1;
}

static void classify(Dwarf_Frame *frame, int signal, struct rule *row)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;
	int64_t k;

	row->cfa_rule = EMBER_CFA_UNSUPPORTED;
	if (signal) {
		row->cfa_rule = EMBER_CFA_SIGNAL;
		return;
	}
	/* The return address: undefined marks the outermost frame. */
	if (dwarf_frame_register(frame, REG_RA, mem, &ops, &nops) != 0)
		return;
	if (nops == 0 && ops == mem) {
		row->cfa_rule = EMBER_CFA_END;
		return;
	}
	if (saved_at_cfa(ops, nops, &k) || k != -8)
		return;

	if (dwarf_frame_cfa(frame, &ops, &nops) != 0)
		return;
	if (nops == 1 && ops[0].atom == DW_OP_bregx &&
	    (ops[0].number == REG_RSP || ops[0].number == REG_RBP) &&
	    (int64_t)ops[0].number2 >= INT32_MIN && (int64_t)ops[0].number2 <= INT32_MAX) {
		row->cfa_rule = ops[0].number == REG_RSP ? EMBER_CFA_RSP : EMBER_CFA_RBP;
		row->cfa_off = (int64_t)ops[0].number2;
	} else if (!is_plt_cfa(ops, nops, row)) {
		return;
	}

	/* rbp: same value, saved at CFA + k, or lost to us. */
	row->rbp_rule = EMBER_RBP_UNKNOWN;
	if (dwarf_frame_register(frame, REG_RBP, mem, &ops, &nops) != 0)
		return;
	if (nops == 0 && !ops)
		row->rbp_rule = EMBER_RBP_SAME;
	else if (saved_at_cfa(ops, nops, &k) == 0 && k >= INT16_MIN && k <= INT16_MAX) {
		row->rbp_rule = EMBER_RBP_AT_CFA;
		row->rbp_off = k;
	}
}

/* Reads an unsigned LEB128 at *@p; values past 64 bits read as UINT64_MAX. */
static int uleb(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	unsigned int shift = 0;

	*v = 0;
	while (*p < end) {
		uint8_t b = *(*p)++;

		if (shift < 64)
			*v |= (uint64_t)(b & 0x7f) << shift;
		else if (b & 0x7f)
			*v = UINT64_MAX;
		shift += 7;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

/* Reads a DW_EH_PE-encoded value of @enc (absptr, udata/sdata 2/4/8, LEB128) at *@p. */
static int read_encoded(const uint8_t **p, const uint8_t *end, uint8_t enc, uint64_t *out)
{
	size_t size;

	switch (enc & 0x0f) {
	case DW_EH_PE_absptr:
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		size = 8;
		break;
	case DW_EH_PE_udata4:
	case DW_EH_PE_sdata4:
		size = 4;
		break;
	case DW_EH_PE_udata2:
	case DW_EH_PE_sdata2:
		size = 2;
		break;
	case DW_EH_PE_uleb128:
	case DW_EH_PE_sleb128: /* (the sign is not needed by any caller) */
		return uleb(p, end, out);
	default:
		return -1;
	}
	if ((size_t)(end - *p) < size)
		return -1;
	*out = 0;
	memcpy(out, *p, size); /* little-endian host, as the walker is x86-64 only */
	*p += size;
	return 0;
}

/*
 * Why .eh_frame is screened before libdw runs it.
 *
 * libdw's CFI interpreter keeps one rule per register and grows that array to
 * the highest register number an instruction names, zeroing what it adds; it
 * refuses only numbers past INT32_MAX bytes of array. One crafted instruction
 * (DW_CFA_undefined 0x7fffff0, say) thus costs a 2 GiB memset, on every FDE
 * that uses it: a binary anyone can run would make the agent's memory jump
 * by gigabytes. x86-64 code names registers below 130 (the DWARF numbering
 * of the psABI), so a table naming any register above MAX_CFI_REG is refused
 * as a whole before libdw sees it, and the walker uses frame pointers there.
 *
 * libdw splits the section into CIEs and FDEs (dwarf_next_cfi); the scan
 * below only walks their instruction streams, opcode by opcode, to read the
 * register operands. Anything it does not know (DW_CFA_set_loc, whose operand
 * size depends on the CIE's pointer encoding; vendor opcodes; augmentations
 * other than z, R, P, L, S) refuses the table too: no compiler emits those
 * into .eh_frame for x86-64, and a walk that cannot be checked is not run.
 */
#define MAX_CFI_REG 255
/*
 * Each DW_CFA_remember_state makes libdw copy the whole rule set; compilers
 * nest them one or two deep. A deeper stack is refused, so that a run of
 * them cannot allocate a rule set per byte of the section.
 */
#define MAX_CFI_STATES 16

/* Reads a register operand; -1 if truncated or above MAX_CFI_REG. */
static int reg_operand(const uint8_t **p, const uint8_t *end)
{
	uint64_t r;

	return uleb(p, end, &r) || r > MAX_CFI_REG ? -1 : 0;
}

/* Skips one LEB128, signed or not (they end alike). */
static int skip_leb(const uint8_t **p, const uint8_t *end)
{
	uint64_t v;

	return uleb(p, end, &v);
}

static int skip_bytes(const uint8_t **p, const uint8_t *end, uint64_t n)
{
	if ((uint64_t)(end - *p) < n)
		return -1;
	*p += n;
	return 0;
}

/* 0 when every instruction in [@p, @end) is known and names only small registers. */
static int cfi_insns_ok(const uint8_t *p, const uint8_t *end)
{
	unsigned int states = 0;
	uint64_t len;

	while (p < end) {
		uint8_t op = *p++;

		switch (op & 0xc0) {
		case DW_CFA_advance_loc:
		case DW_CFA_restore: /* register in the low 6 bits */
			continue;
		case DW_CFA_offset:
			if (skip_leb(&p, end))
				return -1;
			continue;
		}
		switch (op) {
		case DW_CFA_nop:
			break;
		case DW_CFA_remember_state:
			if (++states > MAX_CFI_STATES)
				return -1;
			break;
		case DW_CFA_restore_state:
			if (states)
				states--;
			break;
		case DW_CFA_advance_loc1:
		case DW_CFA_advance_loc2:
		case DW_CFA_advance_loc4: /* a 1-, 2- or 4-byte delta */
			if (skip_bytes(&p, end, 1u << (op - DW_CFA_advance_loc1)))
				return -1;
			break;
		case DW_CFA_def_cfa_offset:
		case DW_CFA_def_cfa_offset_sf:
		case DW_CFA_GNU_args_size:
			if (skip_leb(&p, end))
				return -1;
			break;
		case DW_CFA_restore_extended:
		case DW_CFA_undefined:
		case DW_CFA_same_value:
		case DW_CFA_def_cfa_register:
			if (reg_operand(&p, end))
				return -1;
			break;
		case DW_CFA_offset_extended:
		case DW_CFA_offset_extended_sf:
		case DW_CFA_def_cfa:
		case DW_CFA_def_cfa_sf:
		case DW_CFA_val_offset:
		case DW_CFA_val_offset_sf:
		case DW_CFA_GNU_negative_offset_extended:
			if (reg_operand(&p, end) || skip_leb(&p, end))
				return -1;
			break;
		case DW_CFA_register:
			if (reg_operand(&p, end) || reg_operand(&p, end))
				return -1;
			break;
		case DW_CFA_def_cfa_expression:
			if (uleb(&p, end, &len) || skip_bytes(&p, end, len))
				return -1;
			break;
		case DW_CFA_expression:
		case DW_CFA_val_expression:
			if (reg_operand(&p, end) || uleb(&p, end, &len) || skip_bytes(&p, end, len))
				return -1;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

/*
 * From a CIE's augmentation: its FDEs' address encoding (*@fde_enc) and
 * whether they carry augmentation data ('z'). -1 for one it does not know.
 */
static int cie_fde_format(const Dwarf_CIE *cie, uint8_t *fde_enc, int *has_z)
{
	const char *a = cie->augmentation;
	const uint8_t *p = cie->augmentation_data, *end = p + cie->augmentation_data_size;

	*fde_enc = DW_EH_PE_absptr;
	*has_z = 0;
	if (cie->return_address_register > MAX_CFI_REG)
		return -1;
	if (!a[0])
		return 0;
	if (a[0] != 'z' || !p)
		return -1;
	*has_z = 1;
	for (a++; *a; a++) {
		switch (*a) {
		case 'R':
			if (p >= end)
				return -1;
			*fde_enc = *p++;
			break;
		case 'L':
			if (skip_bytes(&p, end, 1))
				return -1;
			break;
		case 'P': {
			uint8_t enc;
			uint64_t v;

			if (p >= end)
				return -1;
			enc = *p++;
			if (read_encoded(&p, end, enc, &v))
				return -1;
			break;
		}
		case 'S':
			break;
		default:
			return -1;
		}
	}
	return 0;
}

/* The .eh_frame section's data, which libdw reads when the file has sections, and its address. */
static Elf_Data *eh_frame_data(Elf *elf, uint64_t *addr)
{
	GElf_Shdr sh;
	Elf_Scn *scn = elf_section_named(elf, ".eh_frame", &sh);

	if (!scn)
		return NULL;
	*addr = sh.sh_addr;
	return elf_rawdata(scn, NULL);
}

/*
 * An FDE's initial location, read at @p (section address @p_addr) with
 * encoding @enc: absolute or pc-relative, as linkers write them. -1 for any
 * other application.
 */
static int fde_location(const uint8_t *p, const uint8_t *end, uint64_t p_addr, uint8_t enc,
			uint64_t *out)
{
	uint64_t v;

	if (read_encoded(&p, end, enc, &v))
		return -1;
	if ((enc & 0x0f) == DW_EH_PE_sdata4)
		v = (uint64_t)(int64_t)(int32_t)v;
	else if ((enc & 0x0f) == DW_EH_PE_sdata2)
		v = (uint64_t)(int64_t)(int16_t)v;
	switch (enc & 0x70) {
	case DW_EH_PE_absptr:
		break;
	case DW_EH_PE_pcrel:
		v += p_addr;
		break;
	default:
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * 0 when @elf's .eh_frame is safe to hand to libdw; -ENOENT without one;
 * -EINVAL. With @starts, also the FDE start addresses (unsorted), for a file
 * with no .eh_frame_hdr: static binaries, which ld links without one.
 */
static int screen_eh_frame(Elf *elf, uint32_t **starts, size_t *nstarts)
{
	const unsigned char *ident = (const unsigned char *)elf_getident(elf, NULL);
	uint64_t sec_addr = 0;
	Elf_Data *data = eh_frame_data(elf, &sec_addr);
	Dwarf_Off off = 0, next;
	size_t cap = 0;

	if (!ident || !data || !data->d_buf)
		return -ENOENT;
	for (;;) {
		Dwarf_CFI_Entry e, c;
		const uint8_t *p, *end;
		uint8_t enc;
		int has_z, rc = dwarf_next_cfi(ident, data, true, off, &next, &e);

		if (rc == 1)
			return 0;
		if (rc != 0 || next <= off)
			return -EINVAL;
		if (dwarf_cfi_cie_p(&e)) {
			if (cie_fde_format(&e.cie, &enc, &has_z) ||
			    cfi_insns_ok(e.cie.initial_instructions,
					 e.cie.initial_instructions_end))
				return -EINVAL;
		} else {
			Dwarf_Off cnext;
			uint64_t len;

			if (dwarf_next_cfi(ident, data, true, e.fde.CIE_pointer, &cnext, &c) != 0 ||
			    !dwarf_cfi_cie_p(&c) || cie_fde_format(&c.cie, &enc, &has_z))
				return -EINVAL;
			p = e.fde.start;
			end = e.fde.end;
			if (starts) {
				uint64_t a;

				if (fde_location(
					    p, end,
					    sec_addr + (uint64_t)(p - (const uint8_t *)data->d_buf),
					    enc, &a) ||
				    a > UINT32_MAX)
					return -EINVAL;
				if (*nstarts >= MAX_FDES ||
				    EMBER_RESERVE(*starts, cap, *nstarts + 1))
					return -ENOMEM;
				(*starts)[(*nstarts)++] = (uint32_t)a;
			}
			/* initial_location and address_range, then the augmentation data. */
			if (read_encoded(&p, end, enc, &len) || read_encoded(&p, end, enc, &len) ||
			    (has_z && (uleb(&p, end, &len) || skip_bytes(&p, end, len))) ||
			    cfi_insns_ok(p, end))
				return -EINVAL;
		}
		off = next;
	}
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * FDE start addresses from .eh_frame_hdr's table (datarel|sdata4, as linkers
 * write it), sorted. -E2BIG when one lies above 4 GiB.
 */
static int fde_starts(Elf *elf, uint32_t **out, size_t *n)
{
	size_t nph = 0, count;
	const uint8_t *p, *end;
	uint64_t hdr_vaddr = 0, v, fde_count;
	Elf_Data *data = NULL;
	uint32_t *starts;

	if (elf_getphdrnum(elf, &nph))
		return -EINVAL;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_GNU_EH_FRAME) {
			data = elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz, ELF_T_BYTE);
			hdr_vaddr = ph.p_vaddr;
			break;
		}
	}
	if (!data || data->d_size < 4)
		return -ENOENT;
	p = data->d_buf;
	end = p + data->d_size;
	if (p[0] != 1 || p[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
		return -ENOENT;
	{
		uint8_t ptr_enc = p[1], count_enc = p[2];

		p += 4;
		if (read_encoded(&p, end, ptr_enc, &v) ||
		    read_encoded(&p, end, count_enc, &fde_count))
			return -ENOENT;
	}
	count = (size_t)(end - p) / 8;
	if (fde_count < count)
		count = (size_t)fde_count;
	if (count > MAX_FDES)
		count = MAX_FDES;
	starts = malloc((count ? count : 1) * sizeof(*starts));
	if (!starts)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		int32_t rel;
		uint64_t a;

		memcpy(&rel, p + 8 * i, sizeof(rel));
		a = hdr_vaddr + (uint64_t)(int64_t)rel;
		if (a > UINT32_MAX) {
			free(starts);
			return -E2BIG;
		}
		starts[i] = (uint32_t)a;
	}
	qsort(starts, count, sizeof(*starts), u32_cmp);
	*out = starts;
	*n = count;
	return 0;
}

struct unwind_source {
	Dwarf_CFI *cfi;
	uint32_t *starts; /* FDE starts, sorted */
	size_t nstarts;
};

struct unwind_source *unwind_source__new(Elf *elf)
{
	struct unwind_source *src = calloc(1, sizeof(*src));
	int err = -ENOMEM;

	if (!src)
		goto fail;
	err = fde_starts(elf, &src->starts, &src->nstarts);
	if (err == -ENOENT) {
		/* No .eh_frame_hdr: the FDEs' own start addresses, sorted here. */
		err = screen_eh_frame(elf, &src->starts, &src->nstarts);
		if (!err && src->nstarts > 1)
			qsort(src->starts, src->nstarts, sizeof(*src->starts), u32_cmp);
	} else if (!err) {
		err = screen_eh_frame(elf, NULL, NULL);
	}
	if (err)
		goto fail;
	src->cfi = dwarf_getcfi_elf(elf);
	if (!src->cfi) {
		err = -ENOENT;
		goto fail;
	}
	return src;
fail:
	unwind_source__free(src);
	errno = -err;
	return NULL;
}

void unwind_source__free(struct unwind_source *src)
{
	if (!src)
		return;
	if (src->cfi)
		dwarf_cfi_end(src->cfi);
	free(src->starts);
	free(src);
}

/*
 * libdw's parsed FDE with its search-tree node and malloc's overhead:
 * 7.25 MiB for libLLVM-14's 94994 FDEs, all built.
 */
#define FDE_BYTES 80

uint64_t unwind_source__max_bytes(const struct unwind_source *src)
{
	return (uint64_t)src->nstarts * FDE_BYTES;
}

/* The first FDE index whose start is at or above @addr. */
static size_t first_at_or_above(const struct unwind_source *src, uint64_t addr)
{
	size_t lo = 0, hi = src->nstarts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (src->starts[mid] < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Alignment padding between two functions is shorter than this: no GAP row
 * for it, so the row before holds over the padding (no return address or
 * sampled pc lies there).
 */
#define PADDING_BYTES 16

int unwind_source__build(struct unwind_source *src, uint64_t lo, uint64_t hi,
			 struct ember_row **rows_out, size_t *n_out,
			 struct unwind_table_stats *stats)
{
	struct unwind_table_stats st = {0};
	struct rows rows = {0};
	size_t i;

	if (hi > (1ull << 32))
		hi = 1ull << 32;
	i = first_at_or_above(src, lo);
	/* The FDE before @lo may still cover it. */
	if (i > 0)
		i--;
	for (; i < src->nstarts && src->starts[i] < hi && !rows.failed; i++) {
		uint64_t addr = src->starts[i], next = hi;

		if (i + 1 < src->nstarts && src->starts[i + 1] < next)
			next = src->starts[i + 1];
		if (addr < lo)
			addr = lo;
		if (addr >= next)
			continue; /* a duplicate start, or an FDE wholly below @lo */
		st.fdes++;
		while (addr < next) {
			struct rule rule = {0};
			Dwarf_Addr start, fend;
			Dwarf_Frame *frame;
			bool signal;
			uint32_t word;

			if (dwarf_cfi_addrframe(src->cfi, addr, &frame) != 0)
				break;
			dwarf_frame_info(frame, &start, &fend, &signal);
			classify(frame, signal, &rule);
			free(frame);
			word = pack(&rule);
			if (word == EMBER_CFA_UNSUPPORTED)
				st.unsupported++;
			push(&rows, addr, word);
			if (fend <= addr)
				break;
			addr = fend;
		}
		/* The FDE ended before the next began: nothing describes the gap. */
		if (addr < next && (next - addr >= PADDING_BYTES || next == hi))
			push(&rows, addr, EMBER_CFA_GAP);
		else if (addr < next)
			st.padding++;
	}
	if (rows.failed) {
		free(rows.v);
		return -ENOMEM;
	}
	st.rows = rows.n;
	if (stats)
		*stats = st;
	*rows_out = rows.v;
	*n_out = rows.n;
	return 0;
}

int unwind_table__build(Elf *elf, struct ember_row **rows, size_t *n,
			struct unwind_table_stats *stats)
{
	struct unwind_source *src = unwind_source__new(elf);
	int err;

	if (!src)
		return -errno;
	err = unwind_source__build(src, 0, 1ull << 32, rows, n, stats);
	unwind_source__free(src);
	return err;
}

void unwind_tile_range(uint64_t start, uint64_t end, unwind_tile_fn fn, void *ctx)
{
	while (start < end) {
		unsigned int bits = start ? (unsigned int)__builtin_ctzll(start) : 64;

		/* Shrink until the block fits; 2^64 itself never does. */
		while (bits > 0 && (bits >= 64 || end - start < (1ull << bits)))
			bits--;
		fn(start, bits, ctx);
		start += 1ull << bits;
	}
}
