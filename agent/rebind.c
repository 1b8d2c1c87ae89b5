/*
 * rebind.c - the references of objects loaded with RTLD_DEEPBIND pointed
 * at the agent (agent/rebind.h).
 *
 * An object's calls to another object's functions go through its GOT:
 * a PLT call reads a JUMP_SLOT entry, a call or a function pointer taken
 * without the PLT a GLOB_DAT entry. ld.so fills them from the object's
 * lookup scope; with RTLD_DEEPBIND that scope starts with the object and
 * its dependencies, so libc's `write` wins over the preloaded agent's.
 * Here each such entry of a newly loaded object whose symbol the agent
 * exports, and that the load bound to the function the agent itself
 * forwards to, gets the agent's function instead: the binding a preload
 * gives every other object. Entries inside the object's RELRO range are
 * written between two mprotect calls (that range is read-only once ld.so
 * finished). Anything unexpected in an object's dynamic section leaves
 * that object as it is. Runs only after such a load, never on a hot path.
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/rebind.h"
#include "base/debug.h"
#include "base/real.h"

#if defined(__x86_64__)
#define R_SLOT R_X86_64_JUMP_SLOT
#define R_DATA R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define R_SLOT R_AARCH64_JUMP_SLOT
#define R_DATA R_AARCH64_GLOB_DAT
#endif

struct snap_walk {
	uintptr_t *base;
	int n;
};

/* An object is told apart by where its program headers are mapped. */
static int snap_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct snap_walk *w = arg;

	(void)size;
	if (w->n < 0)
		return 0;
	if (w->n == REBIND_MAX_OBJECTS) {
		w->n = -1;
		return 0;
	}
	w->base[w->n++] = (uintptr_t)info->dlpi_phdr;
	return 0;
}

int rebind_snapshot(uintptr_t *base)
{
	struct snap_walk w = { base, 0 };

	dl_iterate_phdr(snap_cb, &w);
	return w.n;
}

#ifdef R_SLOT

/* The agent's own object: where it is mapped, and a handle to it. */
static uintptr_t self_base;
static void *self_handle;

static bool find_self(void)
{
	Dl_info di;

	if (self_handle)
		return true;
	if (!dladdr((void *)&rebind_deep, &di) || di.dli_fname == NULL)
		return false;
	self_base = (uintptr_t)di.dli_fbase;
	self_handle = REAL(dlopen)(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	return self_handle != NULL;
}

/* The agent's own definition of `name`, or NULL when it exports none (a
 * lookup through its handle also finds its dependencies' definitions). */
static void *ours(const char *name)
{
	Dl_info di;
	void *p = dlsym(self_handle, name);

	if (p == NULL || !dladdr(p, &di) || (uintptr_t)di.dli_fbase != self_base)
		return NULL;
	return p;
}

/* A dynamic-section address: ld.so makes most absolute in place; one of
 * an object whose section stays read-only (the vDSO) is still relative. */
static uintptr_t dyn_addr(uintptr_t base, ElfW(Addr) p)
{
	return p < base ? base + p : p;
}

struct object {
	void *handle;              /* the load's handle: its lookup scope */
	uintptr_t base;
	const ElfW(Sym) *symtab;
	const char *strtab;
	size_t strsz;
	uintptr_t relro, relro_end;     /* page-aligned; 0, 0: none */
	bool opened;               /* relro made writable */
	bool failed;               /* mprotect refused: leave relro entries */
	int count;
};

/* Points the entry of relocation `r` at the agent's function when the
 * load bound it to the one the agent forwards to. */
static void one(struct object *o, const ElfW(Rela) *r)
{
	size_t si = ELF64_R_SYM(r->r_info);
	const ElfW(Sym) *sym = &o->symtab[si];
	const char *name;
	void **slot, *mine, *deep;

	if (si == 0 || sym->st_shndx != SHN_UNDEF || sym->st_name >= o->strsz)
		return;
	name = o->strtab + sym->st_name;
	mine = ours(name);
	if (mine == NULL)
		return;
	deep = dlsym(o->handle, name);
	if (deep == NULL || deep != real_next(name))
		return;
	slot = (void **)(o->base + r->r_offset);
	if (*slot == mine)
		return;
	if ((uintptr_t)slot >= o->relro && (uintptr_t)slot < o->relro_end) {
		if (o->failed)
			return;
		if (!o->opened) {
			if (mprotect((void *)o->relro, o->relro_end - o->relro, PROT_READ | PROT_WRITE) != 0) {
				o->failed = true;
				return;
			}
			o->opened = true;
		}
	}
	__atomic_store_n(slot, mine, __ATOMIC_RELEASE);
	o->count++;
}

static void relocations(struct object *o, uintptr_t at, size_t size, unsigned long want)
{
	const ElfW(Rela) *r = (const ElfW(Rela) *)at;

	for (size_t i = 0; i < size / sizeof *r; i++)
		if (ELF64_R_TYPE(r[i].r_info) == want)
			one(o, &r[i]);
}

/* An object the load brought in, as dl_iterate_phdr showed it. */
struct loaded {
	uintptr_t base;
	const ElfW(Phdr) *phdr;
	ElfW(Half) phnum;
	const char *name;
};

/* Up to this many new objects are rebound per load. */
#define REBIND_MAX_NEW 256

struct deep_walk {
	const uintptr_t *snap;
	int n;
	struct loaded *found;
	int count;
};

/* Notes the objects not in the snapshot. Nothing else happens inside the
 * walk: it holds the loader's list lock, and dlsym would take the load
 * lock, which a dlopen in another thread holds while it waits for the
 * list lock. */
static int new_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct deep_walk *w = arg;

	(void)size;
	for (int i = 0; i < w->n; i++)
		if (w->snap[i] == (uintptr_t)info->dlpi_phdr)
			return 0;                 /* loaded before */
	if (info->dlpi_addr == 0 || w->count == REBIND_MAX_NEW)
		return 0;
	w->found[w->count++] = (struct loaded){ info->dlpi_addr, info->dlpi_phdr,
						info->dlpi_phnum, info->dlpi_name };
	return 0;
}

/* Rebinds one new object's references; returns how many. */
static int rebind_object(void *handle, const struct loaded *l)
{
	struct object o = { .handle = handle, .base = l->base };
	const ElfW(Dyn) *dyn = NULL;
	uintptr_t jmprel = 0, rela = 0;
	size_t pltrelsz = 0, relasz = 0, relaent = sizeof(ElfW(Rela));
	long pltrel = DT_RELA;
	long page = sysconf(_SC_PAGESIZE);

	if (page <= 0)
		return 0;
	for (int i = 0; i < l->phnum; i++) {
		const ElfW(Phdr) *ph = &l->phdr[i];

		if (ph->p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(o.base + ph->p_vaddr);
		else if (ph->p_type == PT_GNU_RELRO) {
			o.relro = (o.base + ph->p_vaddr) & ~(uintptr_t)(page - 1);
			o.relro_end = (o.base + ph->p_vaddr + ph->p_memsz) & ~(uintptr_t)(page - 1);
		}
	}
	if (dyn == NULL)
		return 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB: o.symtab = (const ElfW(Sym) *)dyn_addr(o.base, dyn->d_un.d_ptr); break;
		case DT_STRTAB: o.strtab = (const char *)dyn_addr(o.base, dyn->d_un.d_ptr); break;
		case DT_STRSZ: o.strsz = dyn->d_un.d_val; break;
		case DT_JMPREL: jmprel = dyn_addr(o.base, dyn->d_un.d_ptr); break;
		case DT_PLTRELSZ: pltrelsz = dyn->d_un.d_val; break;
		case DT_PLTREL: pltrel = (long)dyn->d_un.d_val; break;
		case DT_RELA: rela = dyn_addr(o.base, dyn->d_un.d_ptr); break;
		case DT_RELASZ: relasz = dyn->d_un.d_val; break;
		case DT_RELAENT: relaent = dyn->d_un.d_val; break;
		default: break;
		}
	}
	if (o.symtab == NULL || o.strtab == NULL || o.strsz == 0 || relaent != sizeof(ElfW(Rela)) ||
	    (jmprel && pltrel != DT_RELA))
		return 0;
	if (jmprel)
		relocations(&o, jmprel, pltrelsz, R_SLOT);
	if (rela)
		relocations(&o, rela, relasz, R_DATA);
	if (o.opened)
		mprotect((void *)o.relro, o.relro_end - o.relro, PROT_READ);
	if (o.count)
		DEBUG("rebind: %s loaded with RTLD_DEEPBIND: %d references pointed at the agent",
		      l->name && l->name[0] ? l->name : "(unnamed)", o.count);
	return o.count;
}

int rebind_deep(void *handle, const uintptr_t *snap, int n)
{
	struct loaded found[REBIND_MAX_NEW];
	struct deep_walk w = { snap, n, found, 0 };
	int count = 0;

	if (handle == NULL || n < 0 || !find_self())
		return 0;
	dl_iterate_phdr(new_cb, &w);
	/* The load's handle holds what it brought in: nothing goes away. */
	for (int i = 0; i < w.count; i++)
		count += rebind_object(handle, &found[i]);
	/* The lookups that found nothing left an error the program's next
	 * dlerror() would report: its dlopen succeeded, and says nothing. */
	(void)dlerror();
	return count;
}

#else

int rebind_deep(void *handle, const uintptr_t *snap, int n)
{
	(void)handle, (void)snap, (void)n;
	return 0;
}

#endif
