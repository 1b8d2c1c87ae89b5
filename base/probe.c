/*
 * probe.c - the out-of-line parts of base/probe.h: the fault handler's
 * look-up in "probe_table", and the iovec form.
 */
#include <ucontext.h>

#include "base/probe.h"

#if defined(__x86_64__)
/* The linker's bounds of the section every inlined probe adds to (weak:
 * null in a program with no probe, which then has nothing to claim). */
extern const struct probe_entry __start_probe_table[] __attribute__((weak)) AGENT_HIDDEN;
extern const struct probe_entry __stop_probe_table[] __attribute__((weak)) AGENT_HIDDEN;

bool probe_fixup(void *ucontext)
{
	ucontext_t *uc = ucontext;
	uintptr_t pc;

	if (uc == NULL)
		return false;
	pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	for (const struct probe_entry *e = __start_probe_table; e < __stop_probe_table; e++) {
		if ((uintptr_t)&e->load + (uintptr_t)(intptr_t)e->load == pc) {
			uc->uc_mcontext.gregs[REG_RIP] =
				(greg_t)((uintptr_t)&e->resume + (uintptr_t)(intptr_t)e->resume);
			return true;
		}
	}
	return false;
}
#else
bool probe_fixup(void *ucontext)
{
	(void)ucontext;
	return false;
}
#endif

bool probe_iov(const struct iovec *iov, int cnt)
{
	if (!probe_readable(iov, (size_t)cnt * sizeof *iov))
		return false;
	for (int i = 0; i < cnt; i++)
		if (!probe_readable(iov[i].iov_base, iov[i].iov_len))
			return false;
	return true;
}

bool probe_iov_first(const struct iovec *iov, int cnt)
{
	if (!probe_readable(iov, (size_t)cnt * sizeof *iov))
		return false;
	for (int i = 0; i < cnt; i++)
		if (iov[i].iov_len)
			return probe_readable(iov[i].iov_base, 1);
	return false;
}
