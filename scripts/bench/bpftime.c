// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * bpftime: an LD_PRELOAD shim for scripts/bench.sh that measures how long a
 * process spends inside bpf(2), the same way for every dynamically linked loader.
 *
 *   BPFTIME_OUT=FILE LD_PRELOAD=.../bpftime.so CMD ...
 *
 * libbpf (in bpftool), aya and a dynamically linked xdploader reach bpf(2)
 * through libc's syscall(); this shim wraps that function (a statically
 * linked xdploader is out of LD_PRELOAD's reach: bench.sh reads its own
 * -timings figure instead, see alternate -t), times each SYS_bpf call with
 * CLOCK_MONOTONIC (a vDSO call, some 20 ns) and, when the process exits,
 * appends one line to FILE:
 *   PROGRAM CALLS NANOSECONDS
 * (PROGRAM is the short name it was started as, e.g. bpftool).
 * Every other system call is passed through untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef long (*syscall_fn)(long, ...);

static syscall_fn real_syscall;
static unsigned long long bpf_calls, bpf_ns;

long syscall(long number, ...)
{
	va_list ap;
	long a[6];

	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);

	if (!real_syscall)
		real_syscall = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	if (number != SYS_bpf)
		return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long ret = real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	bpf_calls++;
	bpf_ns += (t1.tv_sec - t0.tv_sec) * 1000000000ULL + t1.tv_nsec - t0.tv_nsec;
	return ret;
}

__attribute__((destructor)) static void bpftime_report(void)
{
	const char *path = getenv("BPFTIME_OUT");
	if (!path)
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	dprintf(fd, "%s %llu %llu\n", program_invocation_short_name, bpf_calls, bpf_ns);
	close(fd);
}
