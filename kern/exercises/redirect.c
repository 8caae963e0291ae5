// SPDX-License-Identifier: GPL-2.0
/*
 * Exercise 4 of docs/exercises.md: redirect between two veths through the
 * devmap.
 *
 * This is kern/xdp.c with one helper added and three lines changed, marked
 * "Exercise 4" below: wherever kern/xdp.c passes a frame to the stack (the
 * entry program for what is not IPv4, xdp_skeleton_2 at the end of the chain
 * for the rest), it now sends it out of the interface that if_redirect names
 * for the one the frame came in on, with bpf_redirect_map(), counted under
 * XDP_REDIRECT. A frame whose interface has no entry is still passed, and
 * counted under XDP_PASS. With the program on two interfaces and each one's
 * entry naming the other, the two are joined like a patch cable.
 *
 * The loader writes if_redirect[ifindex] = ifindex for each interface it
 * attaches to, which would send a frame back where it came from; point each
 * entry at the other interface with bpftool (docs/exercises.md shows how).
 * `diff -u kern/xdp.c kern/exercises/redirect.c` shows the whole solution.
 *
 *   make -C kern exercises          # builds kern/exercises/redirect.elf
 */
/*
 * XDP skeleton: three XDP programs chained by tail calls.
 *
 *   xdp_skeleton     (entry, attached to the interface)
 *     parses Ethernet + IPv4, stores the IP protocol in tail_call[0],
 *     tail-calls jmp_map[1]
 *   xdp_skeleton_1   (jmp_map slot 1)
 *     re-parses the packet, checks the stored protocol against the packet,
 *     tail-calls jmp_map[2]
 *   xdp_skeleton_2   (jmp_map slot 2)
 *     passes the packet
 *
 * The loader puts the program named <entry>_<N> into slot N of jmp_map.
 * Every program counts the action it returns in stats_map, so a broken chain
 * (an empty slot, a mismatch) shows up as XDP_ABORTED in the counters.
 *
 * Build with -DDEBUG (make -C kern debug) to trace the chain in
 * /sys/kernel/tracing/trace_pipe.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parsing.h"

#ifdef DEBUG
#define dbg(fmt, ...) bpf_printk(fmt, ##__VA_ARGS__)
#else
#define dbg(fmt, ...)
#endif

/* One counter slot per XDP action, XDP_ABORTED (0) .. XDP_REDIRECT (4). */
#define XDP_ACTION_MAX (XDP_REDIRECT + 1)

/* Slots of jmp_map; the loader fills slot N with the program xdp_skeleton_N. */
#define JMP_SLOT_CHECK 1
#define JMP_SLOT_PASS 2

struct datarec {
	__u64 rx_packets;
	__u64 rx_bytes;
};

/* Per-action packet and byte counters, read by statswatch from the pin. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct datarec);
	__uint(max_entries, XDP_ACTION_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats_map SEC(".maps");

/*
 * ifindex -> ifindex for XDP_REDIRECT; the loader maps each attached interface
 * to itself. No program here redirects yet, so nothing in the kernel would
 * hold this map once the loader exits: the pin keeps it (and the entries the
 * loader wrote) for a program or a tool that redirects later.
 *
 * Exercise 4: forward() below redirects through it. A plain devmap is an
 * array: an ifindex of 64 or more has no slot (the loader says so), so keep
 * the interfaces in a namespace of their own, where ifindexes are small.
 */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} if_redirect SEC(".maps");

/*
 * The tail-call chain. The kernel empties every slot of a prog array when the
 * last user-space reference to it (fd or bpffs pin) goes away, even while an
 * attached program still uses the array. Pinning it keeps the chain wired
 * after the loader exits.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 16);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} jmp_map SEC(".maps");

/*
 * Scratch space that carries the IP protocol from xdp_skeleton to
 * xdp_skeleton_1. Per-CPU is safe: one packet's programs run to completion on
 * one CPU without being preempted by another packet's programs on that CPU
 * (XDP runs with migration and bottom halves disabled), and a tail call
 * replaces the running program on the same CPU, so the value written by the
 * entry program is exactly the one the next program reads.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} tail_call SEC(".maps");

/*
 * Count the packet under its action and return that action. No atomics: each
 * CPU has its own copy of a per-CPU value and nothing else writes this CPU's
 * copy while we run, so plain increments are exact; statswatch sums the CPUs.
 * Returns XDP_ABORTED if the action has no slot (cannot happen for the actions
 * used here, but the verifier needs the NULL check anyway).
 */
static __always_inline __u32 record_action(struct xdp_md *ctx, __u32 action)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct datarec *rec;

	rec = bpf_map_lookup_elem(&stats_map, &action);
	if (!rec)
		return XDP_ABORTED;

	rec->rx_packets++;
	rec->rx_bytes += data_end - data;

	return action;
}

/*
 * Exercise 4: instead of passing a frame up the stack, send it out of the
 * interface if_redirect holds for the one it arrived on (ingress_ifindex is
 * the key). bpf_redirect_map() returns XDP_REDIRECT when the entry exists,
 * and otherwise its last argument, here XDP_PASS: either way the action is
 * counted and returned. The frame leaves unchanged: its destination MAC must
 * already be that of the receiver behind the other interface.
 */
static __always_inline __u32 forward(struct xdp_md *ctx)
{
	__u32 action = bpf_redirect_map(&if_redirect, ctx->ingress_ifindex,
					XDP_PASS);

	return record_action(ctx, action);
}

SEC("xdp")
int xdp_skeleton(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct ethhdr *eth;
	struct iphdr *iph;
	__u32 key = 0;
	__u32 *proto;
	int ip_proto;

	/*
	 * Not IPv4 (ARP, for one), or too short to tell: Exercise 4 forwards it
	 * as it is, so that ARP works across the two interfaces.
	 */
	if (parse_ethhdr(&nh, data_end, &eth) != bpf_htons(ETH_P_IP))
		return forward(ctx); /* Exercise 4 */

	ip_proto = parse_iphdr(&nh, data_end, &iph);
	if (ip_proto < 0)
		return forward(ctx); /* Exercise 4 */

	proto = bpf_map_lookup_elem(&tail_call, &key);
	if (!proto)
		return record_action(ctx, XDP_ABORTED);
	*proto = ip_proto;

	dbg("xdp_skeleton: proto %d, tail call %d", ip_proto, JMP_SLOT_CHECK);
	bpf_tail_call(ctx, &jmp_map, JMP_SLOT_CHECK);

	/* Only reached when the slot is empty: make the broken chain visible. */
	dbg("xdp_skeleton: jmp_map[%d] is empty", JMP_SLOT_CHECK);
	return record_action(ctx, XDP_ABORTED);
}

SEC("xdp")
int xdp_skeleton_1(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct ethhdr *eth;
	struct iphdr *iph;
	__u32 key = 0;
	__u32 *proto;
	int ip_proto;

	if (parse_ethhdr(&nh, data_end, &eth) != bpf_htons(ETH_P_IP))
		return record_action(ctx, XDP_ABORTED);

	ip_proto = parse_iphdr(&nh, data_end, &iph);
	if (ip_proto < 0)
		return record_action(ctx, XDP_ABORTED);

	proto = bpf_map_lookup_elem(&tail_call, &key);
	if (!proto)
		return record_action(ctx, XDP_ABORTED);

	/*
	 * Both sides are the one-byte IP protocol: compare them as they are.
	 * The original project ran this value through a 16-bit byte swap
	 * (htons/ntohs) before comparing, which turns e.g. 17 into 0x1100 and
	 * so never matched; byte order only applies to multi-byte fields.
	 */
	if (*proto != (__u32)ip_proto) {
		dbg("xdp_skeleton_1: proto mismatch %d != %d", *proto, ip_proto);
		return record_action(ctx, XDP_ABORTED);
	}

	dbg("xdp_skeleton_1: proto %d ok, tail call %d", ip_proto, JMP_SLOT_PASS);
	bpf_tail_call(ctx, &jmp_map, JMP_SLOT_PASS);

	dbg("xdp_skeleton_1: jmp_map[%d] is empty", JMP_SLOT_PASS);
	return record_action(ctx, XDP_ABORTED);
}

SEC("xdp")
int xdp_skeleton_2(struct xdp_md *ctx)
{
	dbg("xdp_skeleton_2: forward");
	return forward(ctx); /* Exercise 4 */
}

char _license[] SEC("license") = "GPL";
