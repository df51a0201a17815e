// SPDX-License-Identifier: GPL-2.0
/*
 * netdev-map IFINDEX: the queue -> NAPI -> IRQ mapping of one interface, read from the
 * kernel's netdev netlink family (queue-get and napi-get dumps) with the kernel's own ynl
 * library (tools/net/ynl). ynltool has no command for these two objects, and the guest has
 * no Python for ynl's CLI, so the end-to-end check builds this against the guest kernel's
 * tools/net/ynl (xtask/src/kernel.rs) and runs it in the guest.
 *
 * Output, one object per line:
 *   queue rx|tx ID napi NAPI_ID        (napi 0: no NAPI linked)
 *   napi NAPI_ID irq IRQ pid PID        (irq -1: none linked; pid 0: not threaded)
 * Exit status 1, with the reason on stderr, when either dump fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>

#include <ynl.h>
#include "netdev-user.h"

int main(int argc, char **argv)
{
	struct netdev_queue_get_req_dump *qreq;
	struct netdev_napi_get_req_dump *nreq;
	struct netdev_queue_get_list *queues;
	struct netdev_napi_get_list *napis;
	struct ynl_error yerr;
	struct ynl_sock *ys;
	unsigned long ifindex;
	char *end;

	if (argc != 2 || !(ifindex = strtoul(argv[1], &end, 10)) || *end) {
		fprintf(stderr, "usage: netdev-map IFINDEX\n");
		return 2;
	}
	ys = ynl_sock_create(&ynl_netdev_family, &yerr);
	if (!ys) {
		fprintf(stderr, "netdev-map: netdev family: %s\n", yerr.msg);
		return 1;
	}
	qreq = netdev_queue_get_req_dump_alloc();
	nreq = netdev_napi_get_req_dump_alloc();
	if (!qreq || !nreq) {
		fprintf(stderr, "netdev-map: out of memory\n");
		return 1;
	}
	netdev_queue_get_req_dump_set_ifindex(qreq, ifindex);
	netdev_napi_get_req_dump_set_ifindex(nreq, ifindex);
	queues = netdev_queue_get_dump(ys, qreq);
	if (!queues) {
		fprintf(stderr, "netdev-map: queue-get: %s\n", ys->err.msg);
		return 1;
	}
	napis = netdev_napi_get_dump(ys, nreq);
	if (!napis) {
		fprintf(stderr, "netdev-map: napi-get: %s\n", ys->err.msg);
		return 1;
	}
	ynl_dump_foreach(queues, q)
		printf("queue %s %u napi %u\n", q->type == NETDEV_QUEUE_TYPE_RX ? "rx" : "tx",
		       q->id, q->_present.napi_id ? q->napi_id : 0);
	ynl_dump_foreach(napis, n)
		printf("napi %u irq %d pid %u\n", n->id, n->_present.irq ? (int)n->irq : -1,
		       n->_present.pid ? n->pid : 0);
	netdev_queue_get_list_free(queues);
	netdev_napi_get_list_free(napis);
	netdev_queue_get_req_dump_free(qreq);
	netdev_napi_get_req_dump_free(nreq);
	ynl_sock_destroy(ys);
	return 0;
}
