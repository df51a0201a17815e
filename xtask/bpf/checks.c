// SPDX-License-Identifier: GPL-2.0
/*
 * The BPF programs compsc_vf's end-to-end checks attach, each built from this file with
 * `clang -target bpf -D<NAME>` (xtask/src/model/xdp.rs) and loaded by iproute2.
 *
 * XDP programs, one per verdict:
 * VERDICT_PASS, VERDICT_DROP: every frame.
 * VERDICT_TX, VERDICT_REDIRECT: answer IPv4 ICMP echo requests in XDP (sent back with
 * XDP_TX, or redirected to the interface they came in on, which takes compsc_vf's
 * ndo_xdp_xmit); every other frame passes, so ARP still works.
 * VERDICT_FRAGS: a pass program that asks for multi-buffer frames (refused).
 *
 * A tc classifier (ingress, direct action):
 * RXHASH_REQUIRED: drops IPv4 ICMP echo replies that reach the stack without a receive
 * hash (skb->hash as the driver left it: nothing computes one before tc ingress), so
 * pings pass only while the driver delivers the descriptor's RSS hash.
 *
 * No headers: the few UAPI types and the helper number are spelled out, so the build needs
 * nothing beyond clang.
 */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

struct xdp_md {
	u32 data;
	u32 data_end;
	u32 data_meta;
	u32 ingress_ifindex;
	u32 rx_queue_index;
	u32 egress_ifindex;
};

enum { XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT };

/* struct __sk_buff (UAPI), up to the packet pointers. */
struct __sk_buff {
	u32 len;
	u32 pkt_type;
	u32 mark;
	u32 queue_mapping;
	u32 protocol;
	u32 vlan_present;
	u32 vlan_tci;
	u32 vlan_proto;
	u32 priority;
	u32 ingress_ifindex;
	u32 ifindex;
	u32 tc_index;
	u32 cb[5];
	u32 hash;
	u32 tc_classid;
	u32 data;
	u32 data_end;
};

enum { TC_ACT_OK = 0, TC_ACT_SHOT = 2 };

/* BPF_FUNC_redirect */
static long (*bpf_redirect)(u32 ifindex, u64 flags) __attribute__((unused)) = (void *)23;

#define SEC(name) __attribute__((section(name), used))

char _license[] SEC("license") = "GPL";

struct eth {
	u8 dst[6];
	u8 src[6];
	u16 proto;
};

struct ip4 {
	u8 vhl;
	u8 tos;
	u16 len;
	u16 id;
	u16 frag;
	u8 ttl;
	u8 proto;
	u16 csum;
	u32 src;
	u32 dst;
};

struct icmp {
	u8 type;
	u8 code;
	u16 csum;
};

/* The IPv4 ICMP header of a frame from `data` to `end` with no IP options, or NULL. */
static __attribute__((always_inline, unused)) struct icmp *icmp_of(void *data, void *end)
{
	struct eth *e = data;
	struct ip4 *ip = data + sizeof(*e);
	struct icmp *ic = data + sizeof(*e) + sizeof(*ip);

	if ((void *)(ic + 1) > end)
		return 0;
	/* IPv4 (0x0800, big-endian on the wire), no options, ICMP */
	if (e->proto != 0x0008 || ip->vhl != 0x45 || ip->proto != 1)
		return 0;
	return ic;
}

/* Turns an ICMP echo request into its reply in place; false for any other frame. */
static __attribute__((always_inline, unused)) int echo_reply(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	struct eth *e = data;
	struct ip4 *ip = data + sizeof(*e);
	struct icmp *ic = icmp_of(data, (void *)(long)ctx->data_end);
	u8 mac[6];
	u32 a, sum;
	int i;

	/* an echo request */
	if (!ic || ic->type != 8 || ic->code != 0)
		return 0;
	for (i = 0; i < 6; i++) {
		mac[i] = e->dst[i];
		e->dst[i] = e->src[i];
		e->src[i] = mac[i];
	}
	a = ip->src;
	ip->src = ip->dst;
	ip->dst = a;
	/* Type 8 -> 0: the checksum grows by 0x0800 (RFC 1624), in network order. */
	ic->type = 0;
	sum = (u32)ic->csum + 0x0008;
	ic->csum = (u16)(sum + (sum >> 16));
	return 1;
}

#if defined(RXHASH_REQUIRED)
SEC("tc")
int rxhash_required(struct __sk_buff *skb)
{
	struct icmp *ic = icmp_of((void *)(long)skb->data, (void *)(long)skb->data_end);

	if (!ic || ic->type != 0)
		return TC_ACT_OK;
	return skb->hash ? TC_ACT_OK : TC_ACT_SHOT;
}
#else
#if defined(VERDICT_FRAGS)
SEC("xdp.frags")
#else
SEC("xdp")
#endif
int xdp_check(struct xdp_md *ctx)
{
#if defined(VERDICT_PASS) || defined(VERDICT_FRAGS)
	return XDP_PASS;
#elif defined(VERDICT_DROP)
	return XDP_DROP;
#elif defined(VERDICT_TX)
	return echo_reply(ctx) ? XDP_TX : XDP_PASS;
#elif defined(VERDICT_REDIRECT)
	return echo_reply(ctx) ? bpf_redirect(ctx->ingress_ifindex, 0) : XDP_PASS;
#else
#error "define one VERDICT_* or RXHASH_REQUIRED"
#endif
}
#endif
