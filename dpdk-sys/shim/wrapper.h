/*
 * The DPDK headers that fnat's bindings cover. bindgen reads this file; the
 * generated static-inline wrappers include it too. Keep it to plain includes
 * plus declarations of the hand-written shim in fnat_shim.c.
 */
#ifndef FNAT_DPDK_WRAPPER_H
#define FNAT_DPDK_WRAPPER_H

#include <rte_config.h>
#include <rte_version.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_thash.h>
#include <rte_bus_vdev.h>

/* rte_errno is a macro over a per-lcore (thread-local) variable. */
int fnat_rte_errno(void);
/* Sets rte_errno (tests and error paths that want to reset it). */
void fnat_rte_errno_set(int value);

#endif
