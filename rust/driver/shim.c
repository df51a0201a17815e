// SPDX-License-Identifier: GPL-2.0
/*
 * compsc_vf's C shim: the kernel's net_device, NAPI, skb, page_pool and DMA-mapping helpers
 * are static inlines or macros that 7.3's Rust cannot call, and its ops tables need C
 * trampolines. Each function here is a few lines and decides nothing; the driver is in Rust.
 */
#include <linux/version.h>
#include <linux/interrupt.h>
#include <linux/netdevice.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/dma-mapping.h>
#include <linux/workqueue.h>
#include <linux/if_vlan.h>
#include <linux/pci.h>
#include <linux/io.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/checksum.h>
#include <net/netdev_queues.h>
#include <net/page_pool/helpers.h>
#include <net/xdp.h>
#include <linux/bpf.h>
#include <linux/bpf_trace.h>
#include <linux/filter.h>
#include "shim.h"

struct compsc_napi {
	struct napi_struct napi;
	u32 idx;
};

/* The netdev's private area: the Rust adapter, the NAPI instances and the service task. */
struct compsc_priv {
	void *ctx;
	struct compsc_napi napi[COMPSC_MAX_VECTORS];
	struct delayed_work service;
	struct bpf_prog *xdp_prog;	/* read by NAPI with READ_ONCE; freed after an RCU grace period */
};

static struct compsc_priv *priv(struct net_device *nd)
{
	return netdev_priv(nd);
}

static int compsc_ndo_open(struct net_device *nd)
{
	return compsc_rs_open(priv(nd)->ctx);
}

static int compsc_ndo_stop(struct net_device *nd)
{
	return compsc_rs_stop(priv(nd)->ctx);
}

static netdev_tx_t compsc_ndo_xmit(struct sk_buff *skb, struct net_device *nd)
{
	return compsc_rs_xmit(priv(nd)->ctx, skb, skb_get_queue_mapping(skb)) ?
	       NETDEV_TX_BUSY : NETDEV_TX_OK;
}

static void compsc_ndo_get_stats64(struct net_device *nd, struct rtnl_link_stats64 *s)
{
	u64 v[8] = {};

	compsc_rs_stats(priv(nd)->ctx, v, ARRAY_SIZE(v));
	s->rx_packets = v[0];
	s->rx_bytes = v[1];
	s->tx_packets = v[2];
	s->tx_bytes = v[3];
	s->rx_dropped = v[4];
	s->tx_dropped = v[5];
	s->multicast = v[6];
	s->rx_errors = v[7];
}

static void compsc_ndo_tx_timeout(struct net_device *nd, unsigned int txqueue)
{
	compsc_rs_tx_timeout(priv(nd)->ctx, txqueue);
}

static int compsc_ndo_change_mtu(struct net_device *nd, int mtu)
{
	int err = compsc_rs_change_mtu(priv(nd)->ctx, mtu);

	if (!err)
		WRITE_ONCE(nd->mtu, mtu);
	return err;
}

static int compsc_ndo_vlan_add(struct net_device *nd, __be16 proto, u16 vid)
{
	return compsc_rs_vlan(priv(nd)->ctx, vid, true);
}

static int compsc_ndo_vlan_kill(struct net_device *nd, __be16 proto, u16 vid)
{
	return compsc_rs_vlan(priv(nd)->ctx, vid, false);
}

/* Called in atomic context: hands Rust a copy of the list, which it sends from process context. */
static void compsc_ndo_set_rx_mode(struct net_device *nd)
{
	u8 addrs[COMPSC_MAX_MC * ETH_ALEN];
	struct netdev_hw_addr *ha;
	u32 flags = 0, n = 0;

	if (nd->flags & IFF_PROMISC)
		flags |= COMPSC_RX_PROMISC;
	if (nd->flags & IFF_ALLMULTI || netdev_mc_count(nd) > COMPSC_MAX_MC)
		flags |= COMPSC_RX_ALLMULTI;
	netdev_for_each_mc_addr(ha, nd) {
		if (n == COMPSC_MAX_MC)
			break;
		ether_addr_copy(&addrs[n++ * ETH_ALEN], ha->addr);
	}
	compsc_rs_rx_mode(priv(nd)->ctx, flags, addrs, n);
}

/* XDP_SETUP_PROG: Rust decides whether the program may run here; the swap is one pointer. */
static int compsc_ndo_bpf(struct net_device *nd, struct netdev_bpf *bpf)
{
	struct bpf_prog *prog = bpf->prog, *old;
	const char *msg = NULL;
	int err;

	if (bpf->command != XDP_SETUP_PROG)
		return -EINVAL;
	err = compsc_rs_xdp_check(priv(nd)->ctx, prog != NULL, prog && prog->aux->xdp_has_frags, &msg);
	if (err) {
		if (msg && bpf->extack)
			bpf->extack->_msg = msg;	/* a static string from Rust */
		return err;
	}
	old = xchg(&priv(nd)->xdp_prog, prog);
	if (old)
		bpf_prog_put(old);
	return 0;
}

/* XDP_REDIRECT into this device: Rust sends a prefix of the frames; the caller frees the rest. */
static int compsc_ndo_xdp_xmit(struct net_device *nd, int n, struct xdp_frame **frames, u32 flags)
{
	if (flags & ~XDP_XMIT_FLAGS_MASK)
		return -EINVAL;
	return compsc_rs_xdp_xmit(priv(nd)->ctx, frames, n, flags & XDP_XMIT_FLUSH);
}

static_assert(ETH_SS_TEST == COMPSC_SS_TEST && ETH_SS_STATS == COMPSC_SS_STATS);
static_assert(ETH_GSTRING_LEN == 32);	/* shim.rs GSTRING_LEN */

static void compsc_get_drvinfo(struct net_device *nd, struct ethtool_drvinfo *info)
{
	strscpy(info->driver, "compsc_vf", sizeof(info->driver));
	strscpy(info->version, "0.1.0", sizeof(info->version));
	strscpy(info->bus_info, dev_name(nd->dev.parent), sizeof(info->bus_info));
}

static int compsc_get_sset_count(struct net_device *nd, int sset)
{
	return compsc_rs_sset_count(sset);
}

static void compsc_get_strings(struct net_device *nd, u32 sset, u8 *data)
{
	compsc_rs_strings(sset, data);
}

static void compsc_get_ethtool_stats(struct net_device *nd, struct ethtool_stats *st, u64 *data)
{
	compsc_rs_ethtool_stats(priv(nd)->ctx, data);
}

static void compsc_get_ringparam(struct net_device *nd, struct ethtool_ringparam *ring,
				 struct kernel_ethtool_ringparam *kring,
				 struct netlink_ext_ack *extack)
{
	u32 tx, rx, max;

	compsc_rs_ringparam(priv(nd)->ctx, &tx, &rx, &max);
	ring->rx_max_pending = max;
	ring->tx_max_pending = max;
	ring->rx_pending = rx;
	ring->tx_pending = tx;
}

static int compsc_set_ringparam(struct net_device *nd, struct ethtool_ringparam *ring,
				struct kernel_ethtool_ringparam *kring,
				struct netlink_ext_ack *extack)
{
	const char *msg = NULL;
	int err;

	if (ring->rx_mini_pending || ring->rx_jumbo_pending) {
		NL_SET_ERR_MSG_MOD(extack, "no mini or jumbo Rx rings");
		return -EINVAL;
	}
	err = compsc_rs_set_ringparam(priv(nd)->ctx, ring->tx_pending, ring->rx_pending, &msg);
	if (err && msg && extack)
		extack->_msg = msg;	/* a static string from Rust, as NL_SET_ERR_MSG stores */
	return err;
}

static int compsc_get_coalesce(struct net_device *nd, struct ethtool_coalesce *ec,
			       struct kernel_ethtool_coalesce *kec,
			       struct netlink_ext_ack *extack)
{
	ec->rx_coalesce_usecs = compsc_rs_get_coalesce(priv(nd)->ctx);
	return 0;
}

static int compsc_set_coalesce(struct net_device *nd, struct ethtool_coalesce *ec,
			       struct kernel_ethtool_coalesce *kec,
			       struct netlink_ext_ack *extack)
{
	const char *msg = NULL;
	int err = compsc_rs_set_coalesce(priv(nd)->ctx, ec->rx_coalesce_usecs, &msg);

	if (err && msg && extack)
		extack->_msg = msg;	/* a static string from Rust, as NL_SET_ERR_MSG stores */
	return err;
}

static void compsc_get_channels(struct net_device *nd, struct ethtool_channels *ch)
{
	u32 max, count;

	compsc_rs_channels(priv(nd)->ctx, &max, &count);
	ch->max_combined = max;
	ch->combined_count = count;
	ch->max_other = 1;	/* the mailbox vector */
	ch->other_count = 1;
}

static int compsc_set_channels(struct net_device *nd, struct ethtool_channels *ch)
{
	const char *msg = NULL;

	/* Queues come in pairs, each on one vector; the mailbox vector is always there. */
	if (ch->rx_count || ch->tx_count || ch->other_count != 1)
		return -EINVAL;
	return compsc_rs_set_channels(priv(nd)->ctx, ch->combined_count, &msg);
}

static int compsc_get_regs_len(struct net_device *nd)
{
	return compsc_rs_regs_len(NULL);
}

static void compsc_get_regs(struct net_device *nd, struct ethtool_regs *regs, void *p)
{
	compsc_rs_regs_len(&regs->version);
	compsc_rs_regs(priv(nd)->ctx, p);
}

static void compsc_self_test(struct net_device *nd, struct ethtool_test *test, u64 *data)
{
	if (compsc_rs_self_test(priv(nd)->ctx, test->flags & ETH_TEST_FL_OFFLINE, data))
		test->flags |= ETH_TEST_FL_FAILED;
}

static void compsc_get_eth_mac_stats(struct net_device *nd, struct ethtool_eth_mac_stats *mac)
{
	u64 v[5];

	compsc_rs_eth_mac_stats(priv(nd)->ctx, v);
	mac->FramesTransmittedOK = v[0];
	mac->FramesReceivedOK = v[1];
	mac->OctetsTransmittedOK = v[2];
	mac->OctetsReceivedOK = v[3];
	mac->MulticastFramesReceivedOK = v[4];
}

/* qstats: the words of compsc_rs_qstats, in its order. */
static void compsc_qstats_rx_fill(struct netdev_queue_stats_rx *rx, const u64 *v)
{
	rx->packets = v[0];
	rx->bytes = v[1];
	rx->alloc_fail = v[2];
	rx->csum_bad = v[3];
}

static void compsc_qstats_tx_fill(struct netdev_queue_stats_tx *tx, const u64 *v)
{
	tx->packets = v[4];
	tx->bytes = v[5];
}

static void compsc_get_queue_stats_rx(struct net_device *nd, int idx,
				      struct netdev_queue_stats_rx *rx)
{
	u64 v[6];

	if (idx >= 0 && compsc_rs_qstats(priv(nd)->ctx, idx, v))
		compsc_qstats_rx_fill(rx, v);
}

static void compsc_get_queue_stats_tx(struct net_device *nd, int idx,
				      struct netdev_queue_stats_tx *tx)
{
	u64 v[6];

	if (idx >= 0 && compsc_rs_qstats(priv(nd)->ctx, idx, v))
		compsc_qstats_tx_fill(tx, v);
}

static void compsc_get_base_stats(struct net_device *nd, struct netdev_queue_stats_rx *rx,
				  struct netdev_queue_stats_tx *tx)
{
	u64 v[6];

	compsc_rs_qstats_base(priv(nd)->ctx, v);
	compsc_qstats_rx_fill(rx, v);
	compsc_qstats_tx_fill(tx, v);
}

static const struct netdev_stat_ops compsc_stat_ops = {
	.get_queue_stats_rx = compsc_get_queue_stats_rx,
	.get_queue_stats_tx = compsc_get_queue_stats_tx,
	.get_base_stats = compsc_get_base_stats,
};

/* RSS as the PF reports it (GET_RETA, GET_RSS_KEY); the VF cannot change it. */
#define COMPSC_RETA_ENTRIES 128
#define COMPSC_RSS_KEY_LEN 40

static u32 compsc_get_rx_ring_count(struct net_device *nd)
{
	return nd->real_num_rx_queues;
}

static u32 compsc_get_rxfh_indir_size(struct net_device *nd)
{
	return COMPSC_RETA_ENTRIES;
}

static u32 compsc_get_rxfh_key_size(struct net_device *nd)
{
	return COMPSC_RSS_KEY_LEN;
}

static int compsc_get_rxfh(struct net_device *nd, struct ethtool_rxfh_param *rxfh)
{
	u32 indir[COMPSC_RETA_ENTRIES];
	u8 key[COMPSC_RSS_KEY_LEN];
	int err = compsc_rs_rss(priv(nd)->ctx, indir, key);

	if (err)
		return err;
	rxfh->hfunc = ETH_RSS_HASH_TOP;
	if (rxfh->indir)
		memcpy(rxfh->indir, indir, sizeof(indir));
	if (rxfh->key)
		memcpy(rxfh->key, key, sizeof(key));
	return 0;
}

static const struct ethtool_ops compsc_ethtool_ops = {
	.supported_coalesce_params = ETHTOOL_COALESCE_RX_USECS,
	.get_drvinfo = compsc_get_drvinfo,
	.get_link = ethtool_op_get_link,
	.get_sset_count = compsc_get_sset_count,
	.get_strings = compsc_get_strings,
	.get_ethtool_stats = compsc_get_ethtool_stats,
	.get_ringparam = compsc_get_ringparam,
	.set_ringparam = compsc_set_ringparam,
	.get_coalesce = compsc_get_coalesce,
	.set_coalesce = compsc_set_coalesce,
	.get_regs_len = compsc_get_regs_len,
	.get_regs = compsc_get_regs,
	.self_test = compsc_self_test,
	.get_channels = compsc_get_channels,
	.set_channels = compsc_set_channels,
	.get_eth_mac_stats = compsc_get_eth_mac_stats,
	.get_rx_ring_count = compsc_get_rx_ring_count,
	.get_rxfh_indir_size = compsc_get_rxfh_indir_size,
	.get_rxfh_key_size = compsc_get_rxfh_key_size,
	.get_rxfh = compsc_get_rxfh,
};

static const struct net_device_ops compsc_netdev_ops = {
	.ndo_open = compsc_ndo_open,
	.ndo_stop = compsc_ndo_stop,
	.ndo_start_xmit = compsc_ndo_xmit,
	.ndo_get_stats64 = compsc_ndo_get_stats64,
	.ndo_tx_timeout = compsc_ndo_tx_timeout,
	.ndo_validate_addr = eth_validate_addr,
	.ndo_change_mtu = compsc_ndo_change_mtu,
	.ndo_vlan_rx_add_vid = compsc_ndo_vlan_add,
	.ndo_vlan_rx_kill_vid = compsc_ndo_vlan_kill,
	.ndo_set_rx_mode = compsc_ndo_set_rx_mode,
	.ndo_features_check = passthru_features_check,
	.ndo_bpf = compsc_ndo_bpf,
	.ndo_xdp_xmit = compsc_ndo_xdp_xmit,
};

static void compsc_service_fn(struct work_struct *w)
{
	struct compsc_priv *p = container_of(to_delayed_work(w), struct compsc_priv, service);

	compsc_rs_service(p->ctx);
}

struct net_device *compsc_netdev_alloc(struct device *parent, void *ctx, u32 queues)
{
	struct net_device *nd = alloc_etherdev_mq(sizeof(struct compsc_priv), queues);

	if (!nd)
		return NULL;
	SET_NETDEV_DEV(nd, parent);
	priv(nd)->ctx = ctx;
	INIT_DELAYED_WORK(&priv(nd)->service, compsc_service_fn);
	nd->netdev_ops = &compsc_netdev_ops;
	nd->ethtool_ops = &compsc_ethtool_ops;
	nd->stat_ops = &compsc_stat_ops;
	nd->watchdog_timeo = 5 * HZ;
	/* What ixgbevf offers, less IPsec and tunnel offloads. */
	nd->hw_features = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM | NETIF_F_TSO |
			  NETIF_F_TSO6 | NETIF_F_RXCSUM | NETIF_F_RXHASH;
	nd->features = nd->hw_features | NETIF_F_HW_VLAN_CTAG_TX | NETIF_F_HW_VLAN_CTAG_RX |
		       NETIF_F_HW_VLAN_CTAG_FILTER | NETIF_F_HIGHDMA;
	nd->vlan_features |= nd->hw_features | NETIF_F_HIGHDMA;
	nd->priv_flags |= IFF_UNICAST_FLT;
	nd->xdp_features = NETDEV_XDP_ACT_BASIC | NETDEV_XDP_ACT_REDIRECT | NETDEV_XDP_ACT_NDO_XMIT;
	return nd;
}

int compsc_netdev_register(struct net_device *nd)
{
	return register_netdev(nd);
}

void compsc_netdev_unregister(struct net_device *nd)
{
	unregister_netdev(nd);
}

void compsc_netdev_free(struct net_device *nd)
{
	free_netdev(nd);
}

void compsc_netdev_set_addr(struct net_device *nd, const u8 *addr)
{
	eth_hw_addr_set(nd, addr);
	ether_addr_copy(nd->perm_addr, addr);
}

void compsc_netdev_random_addr(struct net_device *nd, u8 *out)
{
	eth_hw_addr_random(nd);
	ether_addr_copy(out, nd->dev_addr);
}

void compsc_netdev_set_mtu_range(struct net_device *nd, u32 min, u32 max)
{
	nd->min_mtu = min;
	nd->max_mtu = max;
}

void compsc_dev_name(struct device *dev, char *out, u32 len)
{
	strscpy(out, dev_name(dev), len);
}

void compsc_netdev_name(struct net_device *nd, char *out, u32 len)
{
	strscpy(out, netdev_name(nd), len);
}

void compsc_netdev_carrier(struct net_device *nd, bool on)
{
	if (on)
		netif_carrier_on(nd);
	else
		netif_carrier_off(nd);
}

void compsc_netdev_notify_peers(struct net_device *nd)
{
	__netdev_notify_peers(nd);
}

bool compsc_netdev_carrier_ok(struct net_device *nd)
{
	return netif_carrier_ok(nd);
}

void compsc_netdev_set_queues(struct net_device *nd, u32 queues)
{
	netif_set_real_num_tx_queues(nd, queues);
	netif_set_real_num_rx_queues(nd, queues);
}

void compsc_tx_start_all(struct net_device *nd)
{
	netif_tx_start_all_queues(nd);
}

void compsc_tx_disable_all(struct net_device *nd)
{
	netif_tx_disable(nd);
}

/* Frozen for a migration: not present, so the Tx watchdog does not fire on stopped queues. */
void compsc_netdev_detach(struct net_device *nd)
{
	netif_device_detach(nd);
}

void compsc_netdev_attach(struct net_device *nd)
{
	netif_device_attach(nd);
}

void compsc_txq_stop(struct net_device *nd, u32 q)
{
	netif_stop_subqueue(nd, q);
}

bool compsc_txq_stopped(struct net_device *nd, u32 q)
{
	return __netif_subqueue_stopped(nd, q);
}

void compsc_txq_wake(struct net_device *nd, u32 q)
{
	netif_wake_subqueue(nd, q);
}

bool compsc_txq_sent(struct net_device *nd, u32 q, u32 bytes)
{
	return __netdev_tx_sent_queue(netdev_get_tx_queue(nd, q), bytes, netdev_xmit_more());
}

void compsc_txq_completed(struct net_device *nd, u32 q, u32 pkts, u32 bytes)
{
	netdev_tx_completed_queue(netdev_get_tx_queue(nd, q), pkts, bytes);
}

void compsc_txq_reset(struct net_device *nd, u32 q)
{
	netdev_tx_reset_queue(netdev_get_tx_queue(nd, q));
}

void compsc_pci_save_state(struct pci_dev *pdev)
{
	pci_save_state(pdev);
}

void compsc_pci_restore_state(struct pci_dev *pdev)
{
	pci_restore_state(pdev);
}

u64 compsc_virt_to_phys(const void *p)
{
	return virt_to_phys((void *)p);
}

/* A CPU write to a page the device wrote, so the hypervisor's dirty log sees it. */
void compsc_page_touch(struct page *page)
{
	u8 *p = page_address(page) + NET_SKB_PAD + NET_IP_ALIGN;

	WRITE_ONCE(*p, READ_ONCE(*p));
}

void compsc_napi_schedule(struct compsc_napi *n)
{
	local_bh_disable();
	napi_schedule(&n->napi);
	local_bh_enable();
}

void compsc_rtnl_lock(void)
{
	rtnl_lock();
}

void compsc_rtnl_unlock(void)
{
	rtnl_unlock();
}

void compsc_service_schedule(struct net_device *nd, u32 ms)
{
	mod_delayed_work(system_wq, &priv(nd)->service, msecs_to_jiffies(ms));
}

void compsc_service_cancel(struct net_device *nd)
{
	cancel_delayed_work_sync(&priv(nd)->service);
}

static int compsc_napi_poll(struct napi_struct *napi, int budget)
{
	return compsc_rs_poll(priv(napi->dev)->ctx, container_of(napi, struct compsc_napi, napi)->idx,
			      budget);
}

struct compsc_napi *compsc_napi_add(struct net_device *nd, u32 idx)
{
	struct compsc_napi *n;

	if (idx >= COMPSC_MAX_VECTORS)
		return NULL;
	n = &priv(nd)->napi[idx];
	n->idx = idx;
	netif_napi_add(nd, &n->napi, compsc_napi_poll);
	return n;
}

/* Enables a queue pair's NAPI and ties the pair's Rx and Tx queues to it, so the netdev
 * family's queue-get shows the mapping (RTNL held: open, close, reset and the doorbell). */
void compsc_napi_enable(struct compsc_napi *n)
{
	napi_enable(&n->napi);
	netif_queue_set_napi(n->napi.dev, n->idx, NETDEV_QUEUE_TYPE_RX, &n->napi);
	netif_queue_set_napi(n->napi.dev, n->idx, NETDEV_QUEUE_TYPE_TX, &n->napi);
}

void compsc_napi_disable(struct compsc_napi *n)
{
	netif_queue_set_napi(n->napi.dev, n->idx, NETDEV_QUEUE_TYPE_RX, NULL);
	netif_queue_set_napi(n->napi.dev, n->idx, NETDEV_QUEUE_TYPE_TX, NULL);
	napi_disable(&n->napi);
}

/* Ties NAPI instance `n` to its MSI-X vector `v` of `pdev` (napi-get's irq). */
void compsc_napi_set_irq(struct compsc_napi *n, struct pci_dev *pdev, u32 v)
{
	int irq = pci_irq_vector(pdev, v);

	if (irq > 0)
		netif_napi_set_irq(&n->napi, irq);
}

void compsc_napi_schedule_irq(struct compsc_napi *n)
{
	napi_schedule_irqoff(&n->napi);
}

bool compsc_napi_complete_done(struct compsc_napi *n, int done)
{
	return napi_complete_done(&n->napi, done);
}

u32 compsc_skb_len(struct sk_buff *skb)
{
	return skb->len;
}

u32 compsc_skb_headlen(struct sk_buff *skb)
{
	return skb_headlen(skb);
}

u32 compsc_skb_nr_frags(struct sk_buff *skb)
{
	return skb_shinfo(skb)->nr_frags;
}

u32 compsc_skb_frag_len(struct sk_buff *skb, u32 i)
{
	return i < skb_shinfo(skb)->nr_frags ? skb_frag_size(&skb_shinfo(skb)->frags[i]) : 0;
}

/* The TSO header edits of ixgbevf_tso: lengths cleared, the L4 seed without the payload. */
static int compsc_tso_prepare(struct sk_buff *skb, struct compsc_tx_info *o)
{
	unsigned char *ip = skb_network_header(skb), *l4 = skb_checksum_start(skb);
	int err = skb_cow_head(skb, 0);

	if (err < 0)
		return err;
	if (!(skb_shinfo(skb)->gso_type & (SKB_GSO_TCPV4 | SKB_GSO_TCPV6)))
		return -EINVAL;
	if (((struct iphdr *)ip)->version == 4) {
		((struct iphdr *)ip)->check = 0;
		((struct iphdr *)ip)->tot_len = 0;
	} else {
		((struct ipv6hdr *)ip)->payload_len = 0;
	}
	csum_replace_by_diff(&((struct tcphdr *)l4)->check,
			     (__force __wsum)htonl(skb->len - (l4 - skb->data)));
	o->flags |= COMPSC_TX_TSO | COMPSC_TX_CSUM_TCP;
	o->l4_len = tcp_hdrlen(skb);
	o->mss = skb_shinfo(skb)->gso_size;
	o->segs = skb_shinfo(skb)->gso_segs;
	return 0;
}

int compsc_skb_tx_info(struct sk_buff *skb, struct compsc_tx_info *o)
{
	*o = (struct compsc_tx_info){ .mac_len = skb_network_offset(skb) };
	if (skb_vlan_tag_present(skb)) {
		o->flags |= COMPSC_TX_VLAN;
		o->vlan = skb_vlan_tag_get(skb);
	}
	if (vlan_get_protocol(skb) == htons(ETH_P_IP))
		o->flags |= COMPSC_TX_IPV4;
	if (skb->ip_summed != CHECKSUM_PARTIAL)
		return 0;
	o->ip_len = skb_checksum_start_offset(skb) - skb_network_offset(skb);
	if (skb_is_gso(skb))
		return compsc_tso_prepare(skb, o);
	switch (skb->csum_offset) {
	case offsetof(struct tcphdr, check):
		o->flags |= COMPSC_TX_CSUM_TCP;
		return 0;
	case offsetof(struct udphdr, check):
		o->flags |= COMPSC_TX_CSUM_UDP;
		return 0;
	default:
		return skb_checksum_help(skb);
	}
}

int compsc_skb_pad(struct sk_buff *skb, u32 len)
{
	return skb_put_padto(skb, len);
}

int compsc_skb_map_head(struct device *dev, struct sk_buff *skb, u64 *dma)
{
	dma_addr_t a = dma_map_single(dev, skb->data, skb_headlen(skb), DMA_TO_DEVICE);

	*dma = a;
	return dma_mapping_error(dev, a);
}

int compsc_skb_map_frag(struct device *dev, struct sk_buff *skb, u32 i, u64 *dma, u32 *len)
{
	const skb_frag_t *f = &skb_shinfo(skb)->frags[i];
	dma_addr_t a = skb_frag_dma_map(dev, f, 0, skb_frag_size(f), DMA_TO_DEVICE);

	*dma = a;
	*len = skb_frag_size(f);
	return dma_mapping_error(dev, a);
}

void compsc_dma_unmap_single(struct device *dev, u64 dma, u32 len)
{
	dma_unmap_single(dev, dma, len, DMA_TO_DEVICE);
}

void compsc_dma_unmap_page(struct device *dev, u64 dma, u32 len)
{
	dma_unmap_page(dev, dma, len, DMA_TO_DEVICE);
}

void compsc_skb_free_any(struct sk_buff *skb)
{
	dev_kfree_skb_any(skb);
}

void compsc_skb_consume(struct sk_buff *skb, int budget)
{
	napi_consume_skb(skb, budget);
}

u32 compsc_page_size(void)
{
	return PAGE_SIZE;
}

/* Always XDP's headroom, so a program can be attached without rebuilding the rings. */
u32 compsc_rx_headroom(void)
{
	return XDP_PACKET_HEADROOM;
}

struct page_pool *compsc_pp_create(struct device *dev, struct compsc_napi *n,
				   struct net_device *nd, u32 q, u32 size, u32 max_len)
{
	struct page_pool_params pp = {
		.flags = PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV,
		.order = 0,
		.pool_size = size,
		.nid = dev_to_node(dev),
		.dev = dev,
		.napi = &n->napi,
		.netdev = nd,
		.queue_idx = q,
		.dma_dir = DMA_BIDIRECTIONAL,	/* XDP_TX sends from the page */
		.offset = XDP_PACKET_HEADROOM,
		.max_len = max_len,
	};
	struct page_pool *p = page_pool_create(&pp);

	return IS_ERR(p) ? NULL : p;
}

void compsc_pp_destroy(struct page_pool *pp)
{
	page_pool_destroy(pp);
}

struct page *compsc_pp_alloc(struct page_pool *pp, u64 *dma)
{
	struct page *page = page_pool_dev_alloc_pages(pp);

	if (page)
		*dma = page_pool_get_dma_addr(page) + pp->p.offset;
	return page;
}

void compsc_pp_put(struct page_pool *pp, struct page *page)
{
	page_pool_put_full_page(pp, page, false);
}

void compsc_pp_sync_for_cpu(struct page_pool *pp, struct page *page, u32 len)
{
	page_pool_dma_sync_for_cpu(pp, page, 0, len);
}

struct sk_buff *compsc_rx_build_skb(struct compsc_napi *n, struct page *page, u32 off, u32 len)
{
	struct sk_buff *skb = napi_build_skb(page_address(page), PAGE_SIZE);

	if (!skb)
		return NULL;
	skb_reserve(skb, off);
	__skb_put(skb, len);
	skb_mark_for_recycle(skb);
	return skb;
}

void compsc_rx_add_frag(struct sk_buff *skb, struct page *page, u32 len)
{
	skb_add_rx_frag(skb, skb_shinfo(skb)->nr_frags, page, XDP_PACKET_HEADROOM, len,
			PAGE_SIZE);
}

void compsc_rx_deliver(struct compsc_napi *n, struct sk_buff *skb, u32 q, u32 csum_ok,
		       u32 vlan, u32 hash, u32 hash_type)
{
	struct net_device *nd = n->napi.dev;

	if (csum_ok && nd->features & NETIF_F_RXCSUM)
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	if (vlan & COMPSC_RX_VLAN_PRESENT && nd->features & NETIF_F_HW_VLAN_CTAG_RX)
		__vlan_hwaccel_put_tag(skb, htons(ETH_P_8021Q), vlan & VLAN_VID_MASK);
	if (hash_type && nd->features & NETIF_F_RXHASH)
		skb_set_hash(skb, hash, hash_type);
	skb->protocol = eth_type_trans(skb, nd);
	skb_record_rx_queue(skb, q);
	napi_gro_receive(&n->napi, skb);
}

/* XDP */
struct xdp_rxq_info *compsc_xdp_rxq_new(struct compsc_napi *n, u32 q, struct page_pool *pp)
{
	struct xdp_rxq_info *rxq = kzalloc(sizeof(*rxq), GFP_KERNEL);

	if (!rxq)
		return NULL;
	if (xdp_rxq_info_reg(rxq, n->napi.dev, q, n->napi.napi_id) ||
	    xdp_rxq_info_reg_mem_model(rxq, MEM_TYPE_PAGE_POOL, pp)) {
		xdp_rxq_info_unreg(rxq);
		kfree(rxq);
		return NULL;
	}
	return rxq;
}

/* Before the pool is destroyed: unregistering drops the pool user the mem model added. */
void compsc_xdp_rxq_free(struct xdp_rxq_info *rxq)
{
	xdp_rxq_info_unreg(rxq);
	kfree(rxq);
}

bool compsc_xdp_attached(struct net_device *nd)
{
	return READ_ONCE(priv(nd)->xdp_prog);
}

struct bpf_prog *compsc_xdp_prog(struct compsc_napi *n)
{
	return READ_ONCE(priv(n->napi.dev)->xdp_prog);
}

/*
 * Runs prog on the frame at *off in page (from NAPI). Returns the verdict; *off and *len
 * are the frame as the program left it. XDP_TX hands back the frame to send in *tx;
 * XDP_REDIRECT is carried out here (a failure turns into XDP_ABORTED, the page still ours).
 */
u32 compsc_xdp_run(struct bpf_prog *prog, struct xdp_rxq_info *rxq, struct page *page,
		   u32 *off, u32 *len, struct xdp_frame **tx)
{
	struct xdp_buff xdp;
	u32 act;

	xdp_init_buff(&xdp, PAGE_SIZE, rxq);
	xdp_prepare_buff(&xdp, page_address(page), *off, *len, false);
	act = bpf_prog_run_xdp(prog, &xdp);
	*off = xdp.data - xdp.data_hard_start;
	*len = xdp.data_end - xdp.data;
	if (act == XDP_TX) {
		*tx = xdp_convert_buff_to_frame(&xdp);
		if (!*tx)
			act = XDP_ABORTED;
	} else if (act == XDP_REDIRECT && xdp_do_redirect(rxq->dev, &xdp, prog)) {
		act = XDP_ABORTED;
	}
	return act;
}

void compsc_xdp_flush(void)
{
	xdp_do_flush();
}

/* A program that aborted or answered what no XDP program may: the tracepoint and warning. */
void compsc_xdp_exception(struct net_device *nd, struct bpf_prog *prog, u32 act)
{
	if (act > XDP_REDIRECT)
		bpf_warn_invalid_xdp_action(nd, prog, act);
	trace_xdp_exception(nd, prog, act);
}

void compsc_xdp_return(struct xdp_frame *f)
{
	xdp_return_frame(f);
}

/* XDP_TX: the frame is still in its page-pool page, mapped both ways; sync it for the device. */
u64 compsc_xdp_tx_dma(struct device *dev, struct xdp_frame *f, u32 *len)
{
	struct page *page = virt_to_page(f->data);
	u64 dma = page_pool_get_dma_addr(page) + (f->data - page_address(page));

	dma_sync_single_for_device(dev, dma, f->len, DMA_BIDIRECTIONAL);
	*len = f->len;
	return dma;
}

/* ndo_xdp_xmit: a frame from another device, mapped for this one. */
int compsc_xdp_map(struct device *dev, struct xdp_frame *f, u64 *dma, u32 *len)
{
	/* One descriptor per frame: a multi-buffer frame redirected in is refused, not cut. */
	if (unlikely(xdp_frame_has_frags(f)))
		return -EOPNOTSUPP;
	*dma = dma_map_single(dev, f->data, f->len, DMA_TO_DEVICE);
	*len = f->len;
	return dma_mapping_error(dev, *dma);
}

/* XDP senders (NAPI's XDP_TX, ndo_xdp_xmit) share a queue with xmit, under its lock. */
void compsc_txq_lock(struct net_device *nd, u32 q)
{
	__netif_tx_lock(netdev_get_tx_queue(nd, q), smp_processor_id());
}

void compsc_txq_unlock(struct net_device *nd, u32 q)
{
	__netif_tx_unlock(netdev_get_tx_queue(nd, q));
}

u32 compsc_cpu(void)
{
	return smp_processor_id();
}

#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 3, 0)
/*
 * 7.2 only (rust/driver/compat.rs): what its Rust cannot reach. Its PCI API hands out
 * MSI-X vectors as a first..=last range, so vectors and handlers are requested here.
 */
unsigned long compsc_irq_save(void)
{
	unsigned long flags;

	local_irq_save(flags);
	return flags;
}

void compsc_irq_restore(unsigned long flags)
{
	local_irq_restore(flags);
}

void compsc_dma_rmb(void)
{
	dma_rmb();
}

int compsc_alloc_vectors(struct pci_dev *pdev, u32 n)
{
	int got = pci_alloc_irq_vectors(pdev, n, n, PCI_IRQ_MSIX);

	return got < 0 ? got : 0;
}

void compsc_free_vectors(struct pci_dev *pdev)
{
	pci_free_irq_vectors(pdev);
}

static irqreturn_t compsc_irq_tramp(int irq, void *data)
{
	return compsc_rs_irq(data) ? IRQ_HANDLED : IRQ_NONE;
}

int compsc_request_vector(struct pci_dev *pdev, u32 i, const char *name, const void *data)
{
	int irq = pci_irq_vector(pdev, i);
	int err;

	if (irq < 0)
		return irq;
	err = request_irq(irq, compsc_irq_tramp, 0, name, (void *)data);
	return err ? err : irq;
}

void compsc_free_vector(u32 irq, const void *data)
{
	free_irq(irq, (void *)data);
}
#endif
