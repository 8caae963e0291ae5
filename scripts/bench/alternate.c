// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * alternate: time several commands side by side, one run of each per round.
 *
 *   alternate -n RUNS [-w WARMUP] [-r PATH]... [-b FILE [-t FILE]] -- LABEL CMD [ARG]... [:: LABEL CMD [ARG]...]...
 *
 * Each round runs every command once, in an order shuffled afresh for every
 * round (a fixed seed, so a rerun uses the same orders). Over the rounds each
 * command runs first, last and after each of the others about equally often:
 * what one run leaves the kernel to finish (maps freed after an RCU grace
 * period, per-CPU memory given back) falls on every command alike. (Rotating
 * A B C, B C A, ... would not do that: B would always follow A.)
 * A run is timed from just before posix_spawn() to just after wait4() with
 * CLOCK_MONOTONIC: the whole process, start-up included. stdin, stdout and
 * stderr go to /dev/null. After every run (timed or not) each -r PATH is
 * removed recursively, like rm -rf, outside the timed window. WARMUP (default
 * 3) untimed rounds come first.
 *
 * With -b FILE (the BPFTIME_OUT file of bpftime.so, which the commands are
 * run under), the line each run appended to FILE is read after the run and
 * FILE emptied, so every run's time inside bpf(2) is paired with its own
 * wall time.
 *
 * With -t FILE as well, every run's standard output goes to FILE (emptied
 * when the run starts) instead of /dev/null. A run that the shim saw make no
 * bpf(2) call (a statically linked binary, which LD_PRELOAD cannot reach) but
 * that printed an `xdploader -timings` table takes its time inside bpf(2)
 * from that table's "total" row (its second figure, ms): the same measure,
 * clocked around each call from inside the process.
 *
 * Prints one line per command, in the order given:
 *   LABEL OK FAIL MEDIAN_US P10_US P90_US MIN_US USER_US SYS_US MAXRSS_KB BPF_US CALLS ABOVE_US
 * with the median user and system CPU time and the largest maximum resident
 * set size (from wait4's rusage) of the successful runs, and with -b the
 * medians of the time inside bpf(2), of the bpf(2) calls, and of each run's
 * wall time minus its time inside bpf(2); "-" where no run succeeded or no
 * -b was given.
 * A run that exits non-zero is counted in FAIL and left out of the figures.
 *
 * Built by scripts/bench.sh (cc -O2); part of the benchmark, not of the tests.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct cmd {
	const char *label;
	char **argv;
	double *wall_us;
	double *user_us;
	double *sys_us;
	double *rss_kb;
	double *bpf_us;
	double *calls;
	double *above_us;
	int ok;
	int fail;
};

static const char *remove_paths[64];
static int nremove;
static const char *bpftime_path;
static const char *stdout_path;

/* The bpf(2) time of an xdploader -timings table in the -t file, or 0. */
static double read_timings_bpf_us(void)
{
	char buf[4096];
	double wall_ms, bpf_ms, us = 0;
	FILE *f = fopen(stdout_path, "r");
	if (!f)
		return 0;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, " total %lf %lf", &wall_ms, &bpf_ms) == 2)
			us = bpf_ms * 1e3;
	fclose(f);
	return us;
}

/* Reads the last "PROGRAM CALLS NS" line of the -b file, then empties it. */
static void read_bpftime(double *calls, double *us)
{
	char buf[4096], name[256];
	unsigned long long c = 0, ns = 0;
	*calls = 0;
	*us = 0;
	FILE *f = fopen(bpftime_path, "r");
	if (!f)
		return;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "%255s %llu %llu", name, &c, &ns) == 3) {
			*calls = c;
			*us = ns / 1e3;
		}
	fclose(f);
	if (truncate(bpftime_path, 0) != 0) {
		fprintf(stderr, "alternate: cannot empty %s: %s\n", bpftime_path, strerror(errno));
		exit(1);
	}
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT) {
		fprintf(stderr, "alternate: cannot remove %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return 0;
}

static void cleanup(void)
{
	for (int i = 0; i < nremove; i++) {
		if (nftw(remove_paths[i], remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) {
			fprintf(stderr, "alternate: cannot remove %s: %s\n", remove_paths[i], strerror(errno));
			exit(1);
		}
	}
}

static double tv_us(struct timeval tv)
{
	return tv.tv_sec * 1e6 + tv.tv_usec;
}

/* Runs one command; returns its exit status (-1 if it did not exit normally). */
static int run_once(struct cmd *c, int record)
{
	posix_spawn_file_actions_t fa;
	struct timespec t0, t1;
	struct rusage ru;
	pid_t pid;
	int status, err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (stdout_path)
		posix_spawn_file_actions_addopen(&fa, 1, stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = posix_spawn(&pid, c->argv[0], &fa, NULL, c->argv, environ);
	if (err != 0) {
		fprintf(stderr, "alternate: cannot start %s: %s\n", c->argv[0], strerror(err));
		exit(1);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("alternate: wait4");
		exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	posix_spawn_file_actions_destroy(&fa);
	cleanup();

	double bpf_us = 0, calls = 0;
	if (bpftime_path)
		read_bpftime(&calls, &bpf_us);
	if (stdout_path && calls == 0)
		bpf_us = read_timings_bpf_us();

	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (!record)
		return code;
	if (code != 0) {
		c->fail++;
		return code;
	}
	c->wall_us[c->ok] = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
	c->user_us[c->ok] = tv_us(ru.ru_utime);
	c->sys_us[c->ok] = tv_us(ru.ru_stime);
	c->rss_kb[c->ok] = ru.ru_maxrss;
	c->bpf_us[c->ok] = bpf_us;
	c->calls[c->ok] = calls;
	c->above_us[c->ok] = c->wall_us[c->ok] - bpf_us;
	c->ok++;
	return code;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array (q in 0..1); the median is q = 0.5. */
static double pct(const double *v, int n, double q)
{
	if (n % 2 == 0 && q == 0.5)
		return (v[n / 2 - 1] + v[n / 2]) / 2;
	int i = (int)(q * (n - 1) + 0.5);
	return v[i];
}

static void usage(void)
{
	fprintf(stderr, "usage: alternate -n RUNS [-w WARMUP] [-r PATH]... [-b FILE [-t FILE]] -- LABEL CMD [ARG]... [:: LABEL CMD [ARG]...]...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int runs = 0, warmup = 3, opt;
	struct cmd cmds[16];
	int ncmd = 0;

	while ((opt = getopt(argc, argv, "+n:w:r:b:t:")) != -1) {
		switch (opt) {
		case 'n':
			runs = atoi(optarg);
			break;
		case 'w':
			warmup = atoi(optarg);
			break;
		case 'r':
			if (nremove == (int)(sizeof(remove_paths) / sizeof(remove_paths[0])))
				usage();
			remove_paths[nremove++] = optarg;
			break;
		case 'b':
			bpftime_path = optarg;
			break;
		case 't':
			stdout_path = optarg;
			break;
		default:
			usage();
		}
	}
	if (runs <= 0 || optind >= argc || (stdout_path && !bpftime_path))
		usage();

	/* LABEL CMD ARGS... groups separated by "::". */
	for (int i = optind; i < argc;) {
		if (ncmd == (int)(sizeof(cmds) / sizeof(cmds[0])) || i + 1 >= argc)
			usage();
		struct cmd *c = &cmds[ncmd++];
		memset(c, 0, sizeof(*c));
		c->label = argv[i++];
		c->argv = &argv[i];
		while (i < argc && strcmp(argv[i], "::") != 0)
			i++;
		if (i < argc)
			argv[i++] = NULL; /* ends this command's argv */
		if (c->argv[0] == NULL)
			usage();
		c->wall_us = calloc(runs, sizeof(double));
		c->user_us = calloc(runs, sizeof(double));
		c->sys_us = calloc(runs, sizeof(double));
		c->rss_kb = calloc(runs, sizeof(double));
		c->bpf_us = calloc(runs, sizeof(double));
		c->calls = calloc(runs, sizeof(double));
		c->above_us = calloc(runs, sizeof(double));
		if (!c->wall_us || !c->user_us || !c->sys_us || !c->rss_kb || !c->bpf_us || !c->calls || !c->above_us) {
			perror("alternate: calloc");
			return 1;
		}
	}

	cleanup();
	if (bpftime_path && truncate(bpftime_path, 0) != 0 && errno != ENOENT) {
		fprintf(stderr, "alternate: cannot empty %s: %s\n", bpftime_path, strerror(errno));
		return 1;
	}
	for (int r = 0; r < warmup; r++)
		for (int k = 0; k < ncmd; k++)
			run_once(&cmds[k], 0);
	unsigned int seed = 1;
	int order[sizeof(cmds) / sizeof(cmds[0])];
	for (int r = 0; r < runs; r++) {
		/* Fisher-Yates; rand_r is plenty for choosing an order. */
		for (int k = 0; k < ncmd; k++)
			order[k] = k;
		for (int k = ncmd - 1; k > 0; k--) {
			int j = rand_r(&seed) % (k + 1);
			int t = order[k];
			order[k] = order[j];
			order[j] = t;
		}
		for (int k = 0; k < ncmd; k++)
			run_once(&cmds[order[k]], 1);
	}

	for (int k = 0; k < ncmd; k++) {
		struct cmd *c = &cmds[k];
		int n = c->ok;
		printf("%s %d %d", c->label, n, c->fail);
		if (n == 0) {
			printf(" - - - - - - - - - -\n");
			continue;
		}
		qsort(c->wall_us, n, sizeof(double), cmp_double);
		qsort(c->user_us, n, sizeof(double), cmp_double);
		qsort(c->sys_us, n, sizeof(double), cmp_double);
		qsort(c->rss_kb, n, sizeof(double), cmp_double);
		printf(" %.1f %.1f %.1f %.1f %.1f %.1f %.0f", pct(c->wall_us, n, 0.5), pct(c->wall_us, n, 0.1),
		       pct(c->wall_us, n, 0.9), c->wall_us[0], pct(c->user_us, n, 0.5), pct(c->sys_us, n, 0.5),
		       c->rss_kb[n - 1]);
		if (bpftime_path) {
			qsort(c->bpf_us, n, sizeof(double), cmp_double);
			qsort(c->calls, n, sizeof(double), cmp_double);
			qsort(c->above_us, n, sizeof(double), cmp_double);
			printf(" %.1f %.0f %.1f\n", pct(c->bpf_us, n, 0.5), pct(c->calls, n, 0.5), pct(c->above_us, n, 0.5));
		} else {
			printf(" - - -\n");
		}
	}
	return 0;
}
