// SPDX-License-Identifier: GPL-2.0
/*
 * statswatch -exceptions: counts what the kernel reports on the XDP tracepoints,
 * per interface, program and action (or redirect errno), in the hash map
 * xdp_exceptions. No CO-RE: the tracepoints' fields are read through plain structs
 * laid out as /sys/kernel/tracing/events/xdp/<name>/format says (as xdp-tutorial's
 * tracing lessons do); their layout has been stable since Linux 4.18.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* What each counter is about; the key of xdp_exceptions. */
struct exception_key {
	__u32 ifindex;
	__u32 prog_id;
	__u32 action;	/* enum xdp_action the program returned */
	__s32 err;	/* 0 for xdp_exception; the negative errno of a failed redirect */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct exception_key);
	__type(value, __u64);
} xdp_exceptions SEC(".maps");

/* events/xdp/xdp_exception/format */
struct xdp_exception_ctx {
	__u64 common;	/* common_type, common_flags, common_preempt_count, common_pid */
	__s32 prog_id;
	__u32 act;
	__s32 ifindex;
};

/* events/xdp/xdp_redirect_err/format */
struct xdp_redirect_ctx {
	__u64 common;
	__s32 prog_id;
	__u32 act;
	__s32 ifindex;
	__s32 err;
	__s32 to_ifindex;
	__u32 map_id;
	__s32 map_index;
};

static __always_inline void count(__u32 ifindex, __u32 prog_id, __u32 action, __s32 err)
{
	struct exception_key key = {
		.ifindex = ifindex,
		.prog_id = prog_id,
		.action = action,
		.err = err,
	};
	__u64 one = 1, *value;

	value = bpf_map_lookup_elem(&xdp_exceptions, &key);
	if (value) {
		__sync_fetch_and_add(value, 1);
		return;
	}
	/* Two CPUs may both miss: the loser's insert fails and it adds to the winner's. */
	if (bpf_map_update_elem(&xdp_exceptions, &key, &one, BPF_NOEXIST)) {
		value = bpf_map_lookup_elem(&xdp_exceptions, &key);
		if (value)
			__sync_fetch_and_add(value, 1);
	}
}

SEC("tracepoint/xdp/xdp_exception")
int xdp_exc_count(struct xdp_exception_ctx *ctx)
{
	count(ctx->ifindex, ctx->prog_id, ctx->act, 0);
	return 0;
}

SEC("tracepoint/xdp/xdp_redirect_err")
int xdp_redir_err(struct xdp_redirect_ctx *ctx)
{
	count(ctx->ifindex, ctx->prog_id, ctx->act, ctx->err);
	return 0;
}

char _license[] SEC("license") = "GPL";
