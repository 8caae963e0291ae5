// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * udpsend: a bounded UDP sender for scripts/bench.sh.
 *
 *   udpsend DST_IPV4 PORT MAX_PACKETS MAX_SECONDS [PAYLOAD_BYTES]
 *   udpsend -sink PORT MAX_SECONDS
 *
 * Sends PAYLOAD_BYTES (default 22: a 64-byte Ethernet frame) UDP datagrams to
 * DST_IPV4:PORT with sendmmsg(), 64 per call, until MAX_PACKETS were sent or
 * MAX_SECONDS passed, whichever comes first. Datagrams the kernel refused
 * (ENOBUFS, EAGAIN) are counted, not retried. Prints one line:
 *   sent N refused M seconds S
 *
 * With -sink it binds a UDP socket to PORT on every address and never reads
 * it, for at most MAX_SECONDS (or until killed): datagrams for PORT then end
 * in a full receive buffer (UDP RcvbufErrors) instead of making the receiver
 * build ICMP port-unreachable replies, which would cost it more than the
 * packet itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int sink(const char *port, const char *seconds)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	double max_seconds = atof(seconds);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		perror("udpsend: sink");
		return 1;
	}
	double start = now();
	while (now() - start < max_seconds) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "-sink") == 0)
		return sink(argv[2], argv[3]);
	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: udpsend DST_IPV4 PORT MAX_PACKETS MAX_SECONDS [PAYLOAD_BYTES]\n"
				"       udpsend -sink PORT MAX_SECONDS\n");
		return 2;
	}
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
		fprintf(stderr, "udpsend: %s is not an IPv4 address\n", argv[1]);
		return 2;
	}
	long long max_packets = atoll(argv[3]);
	double max_seconds = atof(argv[4]);
	size_t payload_len = argc == 6 ? (size_t)atoi(argv[5]) : 22;
	if (max_packets <= 0 || max_seconds <= 0 || payload_len > 1472) {
		fprintf(stderr, "udpsend: MAX_PACKETS and MAX_SECONDS must be positive, PAYLOAD_BYTES at most 1472\n");
		return 2;
	}

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
		perror("udpsend: socket");
		return 1;
	}

	static char payload[1472];
	memset(payload, 0x5a, sizeof(payload));
	struct iovec iov = { .iov_base = payload, .iov_len = payload_len };
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	long long sent = 0, refused = 0;
	double start = now(), elapsed = 0;
	while (sent + refused < max_packets) {
		long long left = max_packets - sent - refused;
		int n = sendmmsg(fd, msgs, left < BATCH ? (unsigned)left : BATCH, 0);
		if (n > 0) {
			sent += n;
		} else if (n < 0 && (errno == ENOBUFS || errno == EAGAIN)) {
			refused++; /* the first datagram of the batch was refused */
		} else if (n < 0 && errno == ECONNREFUSED) {
			/* an ICMP port unreachable came back: not an error for a sender */
		} else {
			perror("udpsend: sendmmsg");
			return 1;
		}
		elapsed = now() - start;
		if (elapsed >= max_seconds)
			break;
	}
	printf("sent %lld refused %lld seconds %.6f\n", sent, refused, elapsed);
	return 0;
}
