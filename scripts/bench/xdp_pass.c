// SPDX-License-Identifier: GPL-2.0
/*
 * The per-packet floor for scripts/bench.sh: an XDP program that does nothing
 * but pass the packet. Built by bench.sh with
 *   clang -O2 -g -target bpf -c xdp_pass.c -o <build dir>/xdp_pass.o
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
