/*
 * fake.c - see fake.h.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "agent/flow.h"
#include "base/ctx.h"
#include "base/id.h"
#include "base/real.h"
#include "fake.h"

struct config fake_cfg;

void fake_config(const char *var)
{
	char *env[] = { (char *)var, NULL };

	config_load(&fake_cfg, var ? env : env + 1, NULL, NULL);
	agent_config = &fake_cfg;
}

void fake_setup(const char *var)
{
	real_resolve_all();
	fake_config(var);
	id_init();
	memset(&agent_self, 0, sizeof agent_self);
}

void fake_teardown(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		flow_new_fd(fds[i], FD_UNKNOWN);
	ctx_take_current(NULL);
	fake_config(NULL);
}

struct ctx *fake_serve(int fd, const char *id)
{
	char head[160];
	int n = snprintf(head, sizeof head, "GET /%s HTTP/1.1\r\nX-Request-Id: %s\r\n\r\n", id, id);

	flow_accept(fd, NULL, 0);
	/* Each request is read in a turn of its own (the loop waited in
	 * between): two heads read in one turn are a batch (agent/flow.c). */
	agent_self.head_read = NULL;
	agent_self.batched = false;
	flow_read_slot(fdmap_peek(fd), fd, head, (size_t)n, (size_t)n);
	ck_assert_ptr_nonnull(agent_self.cur);
	ck_assert_str_eq(ctx_name(agent_self.cur)->id, id);
	return agent_self.cur;
}

const char *fake_cur_id(void)
{
	return agent_self.cur ? ctx_name(agent_self.cur)->id : "(none)";
}
