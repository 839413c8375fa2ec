/*
 * Hand-written glue for DPDK macros that bindgen cannot turn into callable
 * symbols. Static inline functions are wrapped by bindgen (wrap_static_fns);
 * this file holds only what is a macro in DPDK.
 */
#include "wrapper.h"

int fnat_rte_errno(void)
{
	return rte_errno;
}

void fnat_rte_errno_set(int value)
{
	rte_errno = value;
}
