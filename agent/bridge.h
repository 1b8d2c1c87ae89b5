/*
 * bridge.h - loads the runtime bridges (bridges/) into node, python3 and
 * ruby through the variables they read at start-up. See bridge.c.
 */
#ifndef AGENT_BRIDGE_H
#define AGENT_BRIDGE_H

/* In the constructor, after the configuration is read. */
void bridge_start(void);

#endif
