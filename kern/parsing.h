/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet header parsing helpers for the XDP skeleton.
 *
 * Every helper takes a cursor and data_end, checks that the header it is about
 * to read lies entirely inside [cursor, data_end), and only then reads it and
 * advances the cursor. The verifier tracks packet pointers as "data + known
 * offset" and refuses any load it cannot prove is below data_end, so the check
 * must be written as a comparison of the *end* of the header (pointer + size)
 * against data_end, on the same pointer that is then dereferenced. Checking a
 * different pointer, or checking after the read, makes the load fail with
 * "invalid access to packet".
 *
 * All helpers are static __always_inline: they run inside the caller's
 * program, so the verifier sees the bounds checks and the reads together.
 */
#ifndef XDP_SKELETON_PARSING_H
#define XDP_SKELETON_PARSING_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Where the next header starts. */
struct hdr_cursor {
	void *pos;
};

/* The 4 bytes of an 802.1Q / 802.1AD tag that follow the MAC addresses. */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

/* At most this many VLAN tags are skipped (QinQ: outer 802.1AD + inner 802.1Q). */
#define VLAN_MAX_DEPTH 2

static __always_inline int proto_is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) ||
	       h_proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Parse the Ethernet header and up to VLAN_MAX_DEPTH VLAN tags.
 *
 * Returns the ethertype of the payload in NETWORK byte order (compare it with
 * bpf_htons(ETH_P_IP)), or -1 if the frame is too short. On success *ethhdr
 * points at the Ethernet header and nh->pos at the payload after any tags.
 *
 * The VLAN loop has a constant trip count and is unrolled by the compiler, so
 * the program contains no loop for the verifier to bound.
 */
static __always_inline int parse_ethhdr(struct hdr_cursor *nh, void *data_end,
					struct ethhdr **ethhdr)
{
	struct ethhdr *eth = nh->pos;
	struct vlan_hdr *vlh;
	__u16 h_proto;
	int i;

	/* eth + 1 is the first byte after the header: it must not pass data_end. */
	if ((void *)(eth + 1) > data_end)
		return -1;

	nh->pos = eth + 1;
	*ethhdr = eth;
	h_proto = eth->h_proto;

#pragma unroll
	for (i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (!proto_is_vlan(h_proto))
			break;

		vlh = nh->pos;
		/* Same rule for each tag: bound the whole tag before reading it. */
		if ((void *)(vlh + 1) > data_end)
			return -1;

		h_proto = vlh->h_vlan_encapsulated_proto;
		nh->pos = vlh + 1;
	}

	return h_proto; /* network byte order */
}

/*
 * Parse an IPv4 header, including its options.
 *
 * Returns the IP protocol number (a single byte, so it has no byte order), or
 * -1 if the header is malformed or does not fit in the packet. On success
 * *iphdr points at the header and nh->pos at the transport header.
 */
static __always_inline int parse_iphdr(struct hdr_cursor *nh, void *data_end,
				       struct iphdr **iphdr)
{
	struct iphdr *iph = nh->pos;
	int hdrsize;

	/* First bound the fixed 20-byte header so that ihl can be read at all. */
	if ((void *)(iph + 1) > data_end)
		return -1;

	/* ihl counts 32-bit words; less than 5 is not a valid IPv4 header. */
	hdrsize = iph->ihl * 4;
	if (hdrsize < (int)sizeof(*iph))
		return -1;

	/*
	 * Then bound the whole header with its options. hdrsize is a variable
	 * (at most 60), so the verifier needs this second check before anyone
	 * uses nh->pos as the start of the next header.
	 */
	if (nh->pos + hdrsize > data_end)
		return -1;

	nh->pos += hdrsize;
	*iphdr = iph;

	return iph->protocol;
}

#endif /* XDP_SKELETON_PARSING_H */
