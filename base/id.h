/*
 * id.h - generated identifiers: request IDs (16 lowercase hex), W3C trace
 * IDs (32) and span IDs (16). Unique across the threads of a process
 * (a counter through a bijective mix) and, with overwhelming probability,
 * across processes and forks (per-process random keys, redrawn in a forked
 * child). Lock-free; never blocks.
 */
#ifndef AGENT_ID_H
#define AGENT_ID_H

#include <stdint.h>

#define ID_REQUEST_LEN 16

void id_init(void);               /* draws the keys; also after fork */
void id_request(char out[17]);
void id_trace(char out[33]);      /* never all zero */
void id_span(char out[17]);       /* never all zero */

/* The mixing function, exposed for the tests: a bijection on 64 bits. */
uint64_t id_mix(uint64_t x);

#endif
