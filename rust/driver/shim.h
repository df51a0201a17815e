/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between compsc_vf's Rust and its C shim. Only opaque pointers and scalars
 * cross it: C owns the layout of every net_device, napi_struct, sk_buff and page_pool, and
 * Rust makes every decision. rust/driver/shim.rs declares the same prototypes.
 */
#ifndef COMPSC_VF_SHIM_H
#define COMPSC_VF_SHIM_H

#include <linux/types.h>
#include <linux/version.h>

struct device;
struct net_device;
struct sk_buff;
struct page;
struct page_pool;
struct compsc_napi;
struct bpf_prog;
struct xdp_frame;
struct xdp_rxq_info;

/* Most interrupt vectors a compsc_vf netdev uses: queue vectors plus the mailbox one. */
#define COMPSC_MAX_VECTORS 3

/* Implemented in Rust (rust/driver/net.rs); ctx is the adapter, idx a queue vector. */
int compsc_rs_open(void *ctx);
int compsc_rs_stop(void *ctx);
int compsc_rs_xmit(void *ctx, struct sk_buff *skb, u16 queue);
int compsc_rs_poll(void *ctx, u32 idx, int budget);
void compsc_rs_service(void *ctx);
void compsc_rs_stats(void *ctx, u64 *out, u32 n);
int compsc_rs_sset_count(u32 set);
void compsc_rs_strings(u32 set, u8 *out);
void compsc_rs_ethtool_stats(void *ctx, u64 *out);
void compsc_rs_ringparam(void *ctx, u32 *tx, u32 *rx, u32 *max);
int compsc_rs_set_ringparam(void *ctx, u32 tx, u32 rx, const char **msg);
u32 compsc_rs_get_coalesce(void *ctx);
void compsc_rs_channels(void *ctx, u32 *max, u32 *count);
int compsc_rs_set_channels(void *ctx, u32 n, const char **msg);
int compsc_rs_set_coalesce(void *ctx, u32 usecs, const char **msg);
u32 compsc_rs_regs_len(u32 *version);
void compsc_rs_regs(void *ctx, u32 *out);
bool compsc_rs_self_test(void *ctx, bool offline, u64 *out);
void compsc_rs_tx_timeout(void *ctx, u32 queue);
bool compsc_rs_qstats(void *ctx, u32 idx, u64 *out);
void compsc_rs_qstats_base(void *ctx, u64 *out);
void compsc_rs_eth_mac_stats(void *ctx, u64 *out);
int compsc_rs_rss(void *ctx, u32 *indir, u8 *key);
int compsc_rs_change_mtu(void *ctx, u32 mtu);
int compsc_rs_vlan(void *ctx, u16 vid, bool add);
void compsc_rs_rx_mode(void *ctx, u32 flags, const u8 *addrs, u32 count);
int compsc_rs_xdp_check(void *ctx, bool attach, bool frags, const char **msg);
int compsc_rs_xdp_xmit(void *ctx, struct xdp_frame **frames, int n, bool flush);

/* compsc_rs_rx_mode flags */
#define COMPSC_RX_PROMISC 1
#define COMPSC_RX_ALLMULTI 2
/* Most multicast addresses handed to Rust; beyond that, allmulti (the PF keeps 30 hashes). */
#define COMPSC_MAX_MC 30

/* ethtool string sets, as Rust numbers them (ETH_SS_TEST and ETH_SS_STATS; checked in shim.c) */
#define COMPSC_SS_TEST 0
#define COMPSC_SS_STATS 1

/* What xmit needs of an skb's offload requests; all u32, mirrored by shim.rs. */
struct compsc_tx_info {
	u32 flags;	/* COMPSC_TX_* */
	u32 mac_len;	/* bytes before the IP header */
	u32 ip_len;	/* IP header to L4 header */
	u32 l4_len;	/* TCP header (TSO) */
	u32 mss;	/* TSO segment size */
	u32 segs;	/* TSO segments */
	u32 vlan;	/* tag to insert (COMPSC_TX_VLAN) */
};
#define COMPSC_TX_CSUM_TCP 1
#define COMPSC_TX_CSUM_UDP 2
#define COMPSC_TX_CSUM_SCTP 4
#define COMPSC_TX_TSO 8
#define COMPSC_TX_IPV4 16
#define COMPSC_TX_VLAN 32

/* netdev */
struct net_device *compsc_netdev_alloc(struct device *parent, void *ctx, u32 queues);
int compsc_netdev_register(struct net_device *nd);
void compsc_netdev_unregister(struct net_device *nd);
void compsc_netdev_free(struct net_device *nd);
void compsc_netdev_set_addr(struct net_device *nd, const u8 *addr);
void compsc_netdev_random_addr(struct net_device *nd, u8 *out);
void compsc_netdev_set_mtu_range(struct net_device *nd, u32 min, u32 max);
void compsc_netdev_name(struct net_device *nd, char *out, u32 len);
void compsc_netdev_carrier(struct net_device *nd, bool on);
void compsc_netdev_notify_peers(struct net_device *nd);
bool compsc_netdev_carrier_ok(struct net_device *nd);
void compsc_netdev_set_queues(struct net_device *nd, u32 queues);
void compsc_tx_start_all(struct net_device *nd);
void compsc_tx_disable_all(struct net_device *nd);
void compsc_dev_name(struct device *dev, char *out, u32 len);
void compsc_netdev_detach(struct net_device *nd);
void compsc_netdev_attach(struct net_device *nd);
void compsc_txq_stop(struct net_device *nd, u32 q);
bool compsc_txq_stopped(struct net_device *nd, u32 q);
void compsc_txq_wake(struct net_device *nd, u32 q);
bool compsc_txq_sent(struct net_device *nd, u32 q, u32 bytes);
void compsc_txq_completed(struct net_device *nd, u32 q, u32 pkts, u32 bytes);
void compsc_txq_reset(struct net_device *nd, u32 q);

struct pci_dev;
void compsc_pci_save_state(struct pci_dev *pdev);
void compsc_napi_set_irq(struct compsc_napi *n, struct pci_dev *pdev, u32 v);
void compsc_pci_restore_state(struct pci_dev *pdev);
u64 compsc_virt_to_phys(const void *p);
void compsc_page_touch(struct page *page);
void compsc_napi_schedule(struct compsc_napi *n);
void compsc_rtnl_lock(void);
void compsc_rtnl_unlock(void);

/* the service task (a delayed work item in the netdev's private area) */
void compsc_service_schedule(struct net_device *nd, u32 ms);
void compsc_service_cancel(struct net_device *nd);

/* NAPI */
struct compsc_napi *compsc_napi_add(struct net_device *nd, u32 idx);
void compsc_napi_enable(struct compsc_napi *n);
void compsc_napi_disable(struct compsc_napi *n);
void compsc_napi_schedule_irq(struct compsc_napi *n);
bool compsc_napi_complete_done(struct compsc_napi *n, int done);

/* skb and streaming DMA for Tx */
u32 compsc_skb_len(struct sk_buff *skb);
u32 compsc_skb_headlen(struct sk_buff *skb);
u32 compsc_skb_nr_frags(struct sk_buff *skb);
u32 compsc_skb_frag_len(struct sk_buff *skb, u32 i);
int compsc_skb_tx_info(struct sk_buff *skb, struct compsc_tx_info *o);
int compsc_skb_pad(struct sk_buff *skb, u32 len);
int compsc_skb_map_head(struct device *dev, struct sk_buff *skb, u64 *dma);
int compsc_skb_map_frag(struct device *dev, struct sk_buff *skb, u32 i, u64 *dma, u32 *len);
void compsc_dma_unmap_single(struct device *dev, u64 dma, u32 len);
void compsc_dma_unmap_page(struct device *dev, u64 dma, u32 len);
void compsc_skb_free_any(struct sk_buff *skb);
void compsc_skb_consume(struct sk_buff *skb, int budget);

/* Rx buffers from page_pool */
u32 compsc_page_size(void);
u32 compsc_rx_headroom(void);
struct page_pool *compsc_pp_create(struct device *dev, struct compsc_napi *n,
				   struct net_device *nd, u32 q, u32 size, u32 max_len);
void compsc_pp_destroy(struct page_pool *pp);
struct page *compsc_pp_alloc(struct page_pool *pp, u64 *dma);
void compsc_pp_put(struct page_pool *pp, struct page *page);
void compsc_pp_sync_for_cpu(struct page_pool *pp, struct page *page, u32 len);
struct sk_buff *compsc_rx_build_skb(struct compsc_napi *n, struct page *page, u32 off, u32 len);
void compsc_rx_add_frag(struct sk_buff *skb, struct page *page, u32 len);
void compsc_rx_deliver(struct compsc_napi *n, struct sk_buff *skb, u32 q, u32 csum_ok,
		       u32 vlan, u32 hash, u32 hash_type);
/* compsc_rx_deliver: vlan is the tag | COMPSC_RX_VLAN_PRESENT; hash_type 0 none, 3 L3, 4 L4 */
#define COMPSC_RX_VLAN_PRESENT 0x10000

/* XDP (verdicts are the UAPI's XDP_ABORTED..XDP_REDIRECT, 0..4) */
struct xdp_rxq_info *compsc_xdp_rxq_new(struct compsc_napi *n, u32 q, struct page_pool *pp);
void compsc_xdp_rxq_free(struct xdp_rxq_info *rxq);
struct bpf_prog *compsc_xdp_prog(struct compsc_napi *n);
bool compsc_xdp_attached(struct net_device *nd);
u32 compsc_xdp_run(struct bpf_prog *prog, struct xdp_rxq_info *rxq, struct page *page,
		   u32 *off, u32 *len, struct xdp_frame **tx);
void compsc_xdp_flush(void);
void compsc_xdp_exception(struct net_device *nd, struct bpf_prog *prog, u32 act);
void compsc_xdp_return(struct xdp_frame *f);
u64 compsc_xdp_tx_dma(struct device *dev, struct xdp_frame *f, u32 *len);
int compsc_xdp_map(struct device *dev, struct xdp_frame *f, u64 *dma, u32 *len);
void compsc_txq_lock(struct net_device *nd, u32 q);
void compsc_txq_unlock(struct net_device *nd, u32 q);
u32 compsc_cpu(void);

#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 3, 0)
/* 7.2 only: see rust/driver/compat.rs. */
bool compsc_rs_irq(const void *data);
unsigned long compsc_irq_save(void);
void compsc_irq_restore(unsigned long flags);
void compsc_dma_rmb(void);
int compsc_alloc_vectors(struct pci_dev *pdev, u32 n);
void compsc_free_vectors(struct pci_dev *pdev);
int compsc_request_vector(struct pci_dev *pdev, u32 i, const char *name, const void *data);
void compsc_free_vector(u32 irq, const void *data);
#endif

#endif
