#!/usr/bin/env bash
# The benchmark: xdploader beside bpftool (libbpf) and aya, measured side by
# side in one run, as ratios. One command, as root:
#
#   sudo scripts/bench.sh
#
# It builds everything in release mode (the workspace, kern/xdp.elf and
# kern/xdp-debug.elf, and its own helpers under scripts/bench/ into
# target/bench/), then measures, and prints Markdown tables of medians:
#
#   1. Load: whole-process time of `xdploader -load-only`, `bpftool prog
#      loadall` and an aya loader (scripts/bench/aya-load) on kern/xdp.elf and
#      on each libxdp1 object, runs alternating, with a /bin/true floor; then
#      the time each spends inside bpf(2) and the work it does above it.
#   2. Per packet: BPF_PROG_TEST_RUN (`bpftool prog run ... repeat N`) on a
#      64-byte IPv4/UDP frame: the tail-call chain vs a bare XDP_PASS program
#      vs the -DDEBUG chain.
#   3. statswatch: bpf(2) calls per sample, and whole-process time beside
#      `bpftool map dump pinned` on the same map.
#   4. Throughput: packets per second received over a veth pair between two
#      namespaces it makes: no program, a bare XDP_PASS program and the chain,
#      each in generic and in native mode.
#   5. Peak memory (/usr/bin/time -v) of the three loaders on kern/xdp.elf.
#
# It runs in a private mount namespace with its own bpffs on /sys/fs/bpf, so
# the maps libbpf pins by name (/sys/fs/bpf/<map>) neither meet nor replace
# anyone else's pins; pins go under /sys/fs/bpf/bench-<pid>. On exit (also on
# failure or Ctrl-C) it removes its pins, namespaces, veth pair and temporary
# files; nothing is left behind. The only lasting change: the kernel trace
# buffer holds the -DDEBUG chain's bpf_printk lines.
#
# When xdploader has -timings, its own phase table is shown as well; when it
# has -run, the per-packet figures are also taken with `xdploader -run`.
# Without them the benchmark measures the same things from outside.
#
# Environment (defaults in brackets):
#   BENCH_RUNS          runs of each loader per object [200]
#   BENCH_OBJECT_SECONDS  fewer runs (not under 20) for objects whose round of
#                       loads would make BENCH_RUNS take longer than this [15]
#   BENCH_INNER_RUNS    runs for the bpf(2) time and -timings figures [21,
#                       at most a third of the object's runs, at least 5]
#   BENCH_OBJECTS       space-separated objects to load [kern/xdp.elf, the CO-RE
#                       fixture loader/tests/fixtures/core_relocs.elf and /usr/lib/*/bpf/*.o]
#   BENCH_REPEAT        BPF_PROG_TEST_RUN repeat count [1000000]
#   BENCH_PKT_ROUNDS    per-packet rounds [7]
#   BENCH_STAT_RUNS     statswatch / map dump runs [300]
#   BENCH_TPUT_SECONDS  seconds per throughput measurement [2]
#   BENCH_TPUT_ROUNDS   throughput rounds (each: no program, then bare XDP_PASS
#                       and the chain in generic and in native mode) [7]
#   BENCH_MEM_RUNS      /usr/bin/time -v runs per loader [5]
#   BENCH_SKIP          space-separated parts to skip: load calls packet stats tput mem
#   BENCH_PROFILE       set (and perf installed): also profile the generic-mode
#                       throughput path with perf record -a (table 4b)
#   BENCH_REPORT        also write the Markdown report to this file
#   BENCH_TRACE         set to run the script with bash -x
#
# How each figure is measured, and the results on one machine:
# docs/benchmarks.md.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_root

RUNS="${BENCH_RUNS:-200}"
INNER_RUNS="${BENCH_INNER_RUNS:-21}"
OBJECT_SECONDS="${BENCH_OBJECT_SECONDS:-15}"
REPEAT="${BENCH_REPEAT:-1000000}"
PKT_ROUNDS="${BENCH_PKT_ROUNDS:-7}"
STAT_RUNS="${BENCH_STAT_RUNS:-300}"
TPUT_SECONDS="${BENCH_TPUT_SECONDS:-2}"
TPUT_ROUNDS="${BENCH_TPUT_ROUNDS:-7}"
MEM_RUNS="${BENCH_MEM_RUNS:-5}"
SKIP=" ${BENCH_SKIP:-} "
PROFILE="${BENCH_PROFILE:-}"

skipped() {
    [[ "$SKIP" == *" $1 "* ]]
}

# --- A private mount namespace with a bpffs of our own -----------------------
if [ -z "${XDP_BENCH_IN_PRIVATE_MOUNTS:-}" ]; then
    command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is needed to give the benchmark its own bpffs." 4
    export XDP_BENCH_IN_PRIVATE_MOUNTS=1
    exec unshare --mount --propagation private -- bash ${BENCH_TRACE:+-x} "${BASH_SOURCE[0]}" "$@"
fi
mount -t bpf bpf /sys/fs/bpf || die "cannot mount a private bpffs on /sys/fs/bpf." 4

BPFFS=/sys/fs/bpf
PIN_ROOT="$BPFFS/bench-$$"
NS_TX="bench-$$-tx"
NS_RX="bench-$$-rx"
IF_TX="bt$$tx"
IF_RX="bt$$rx"
TMP=""
BYNAME_PINS=()
SINK_PID=""

cleanup() {
    local status=$?
    set +e
    if [ -n "$SINK_PID" ]; then
        kill "$SINK_PID" 2>/dev/null
        wait "$SINK_PID" 2>/dev/null
    fi
    for ns in "$NS_TX" "$NS_RX"; do
        if netns_exists "$ns"; then
            ip netns del "$ns"
        fi
    done
    rm -rf "$PIN_ROOT"
    for pin in "${BYNAME_PINS[@]}"; do
        rm -rf "${BPFFS:?}/$pin"
    done
    [ -n "$TMP" ] && rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- What the benchmark needs --------------------------------------------------
# install_if_missing COMMAND PACKAGE: apt-get install PACKAGE unless COMMAND exists.
install_if_missing() {
    if [ -x "$1" ] || command -v "$1" >/dev/null 2>&1; then
        return 0
    fi
    note "$1 is missing: installing the $2 package."
    if command -v apt-get >/dev/null 2>&1; then
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; then
            apt-get update -qq >/dev/null 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null ||
                note "could not install $2; the figures that need it are left out."
        fi
    else
        note "no apt-get: install $2 yourself; the figures that need it are left out."
    fi
}

for tool in bpftool clang cc make ip nsenter taskset; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run scripts/install-deps.sh first." 4
done
install_if_missing /usr/bin/time time
install_if_missing strace strace

# --- Build (release) -------------------------------------------------------------
find_cargo
cd "$XDP_REPO_ROOT"
BUILD="$XDP_REPO_ROOT/target/bench"
note "building the workspace (release), kern/ and the benchmark's helpers..."
# The binaries as scripts/demo.sh builds them (build_release: statically linked).
# shellcheck disable=SC2016 # expanded by the inner bash, as that user
as_invoking_user bash -c 'source "$1" && CARGO="$2" && build_release --quiet' \
    build "$XDP_REPO_ROOT/scripts/lib.sh" "$CARGO"
as_invoking_user make -s -C kern all debug
# A CO-RE object: its load reads and searches the running kernel's BTF.
as_invoking_user make -s -C loader/tests/fixtures core_relocs.elf
as_invoking_user mkdir -p "$BUILD"
as_invoking_user cc -O2 -Wall -o "$BUILD/alternate" scripts/bench/alternate.c
as_invoking_user cc -O2 -Wall -o "$BUILD/udpsend" scripts/bench/udpsend.c
as_invoking_user cc -O2 -Wall -shared -fPIC -o "$BUILD/bpftime.so" scripts/bench/bpftime.c -ldl
as_invoking_user clang -O2 -g -Wall -target bpf -I"/usr/include/$(gcc -print-multiarch)" \
    -c scripts/bench/xdp_pass.c -o "$BUILD/xdp_pass.o"
AYA="$BUILD/release/aya-load"
aya_note=""
if ! as_invoking_user "$CARGO" build --release --quiet \
    --manifest-path scripts/bench/aya-load/Cargo.toml --target-dir "$BUILD"; then
    note "the aya loader (scripts/bench/aya-load) did not build: the aya columns are left out."
    AYA=""
    aya_note="aya-load did not build"
fi

XDPLOADER="$XDP_REPO_ROOT/target/release/xdploader"
STATSWATCH="$XDP_REPO_ROOT/target/release/statswatch"
BPFTOOL="$(command -v bpftool)"
TRUE=/bin/true
ALTERNATE="$BUILD/alternate"
CHAIN="$XDP_REPO_ROOT/kern/xdp.elf"
CHAIN_DEBUG="$XDP_REPO_ROOT/kern/xdp-debug.elf"
CORE_OBJECT="$XDP_REPO_ROOT/loader/tests/fixtures/core_relocs.elf"

HAVE_TIMINGS=no
HAVE_RUN=no
help="$("$XDPLOADER" --help 2>&1 || true)"
grep -q -- --timings <<<"$help" && HAVE_TIMINGS=yes
grep -q -- --run <<<"$help" && HAVE_RUN=yes

TMP="$(mktemp -d /tmp/xdp-bench.XXXXXX)"
mkdir "$PIN_ROOT"

# --- Helpers ---------------------------------------------------------------------
# median: the median of the numbers on stdin (one per line), or "-" if none.
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B [DIGITS]: A / B, or "-" when either is missing.
ratio() {
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
        if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.*f\n", d, a / b }'
}

# ms MICROSECONDS: milliseconds with two decimals ("-" stays "-").
ms() {
    awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.2f\n", v / 1000 }'
}

# mib KILOBYTES: mebibytes with one decimal.
mib() {
    awk -v k="$1" 'BEGIN { if (k == "-" || k == "") print "-"; else printf "%.1f\n", k / 1024 }'
}

# sub A B C...: A - B - C ..., in the same unit ("-" if any is missing).
sub() {
    local out="$1"
    shift
    for v in "$@"; do
        out="$(awk -v a="$out" -v b="$v" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "") print "-"; else print a - b }')"
    done
    echo "$out"
}

# first_line FILE: the first non-empty line of FILE, cut to 100 characters.
first_line() {
    grep -m1 -v '^[[:space:]]*$' "$1" 2>/dev/null | cut -c1-100 | tr '|' '/' || true
}

# bpffs_extra: entries at the top of our bpffs other than the kernel's own and
# our pin directory (the maps libbpf pinned by name), one per line.
bpffs_extra() {
    local entry
    for entry in "$BPFFS"/*; do
        entry="${entry##*/}"
        case "$entry" in
        maps.debug | progs.debug | "bench-$$" | '*') ;;
        *) echo "$entry" ;;
        esac
    done
}

# remove_byname: remove the by-name pins libbpf made (recorded in BYNAME_PINS).
remove_byname() {
    local pin
    for pin in "${BYNAME_PINS[@]}"; do
        rm -rf "${BPFFS:?}/$pin"
    done
}

in_ns() {
    local ns="$1"
    shift
    nsenter --net="/run/netns/$ns" -- "$@"
}

machine="$(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs"
bpftool_version="$("$BPFTOOL" version 2>/dev/null | awk 'NR == 1')"
libbpf_version="$("$BPFTOOL" version 2>/dev/null | sed -n 's/.*libbpf \(v[0-9.]*\).*/\1/p' | awk 'NR == 1')"
aya_version="$(awk '/^name = "aya"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' scripts/bench/aya-load/Cargo.lock 2>/dev/null || true)"

OUT="$TMP/report.md"
emit() {
    printf '%s\n' "$@" | tee -a "$OUT"
}

emit "# xdp-skeleton benchmark" "" \
    "Machine: Linux $machine." \
    "Tools: $bpftool_version${libbpf_version:+ (libbpf $libbpf_version)}, aya ${aya_version:-?}${aya_note:+ ($aya_note)}, $(rustc --version 2>/dev/null || echo rustc ?)." \
    "xdploader -timings: $HAVE_TIMINGS; xdploader -run: $HAVE_RUN." ""

# ================================================================================
# 1. Load
# ================================================================================
declare -A WHOLE=() INBPF=() CALLS=() ABOVE=() OWN_T=() INBPF_T=()
LOAD_OBJECTS=()
declare -A ROW_NOTE=() OBJ_RUNS=()

# trial CMD...: run CMD once, output in $TMP/trial.out; sets TRIAL_RC and
# TRIAL_US (wall time in microseconds).
trial() {
    local t0=$EPOCHREALTIME t1
    TRIAL_RC=0
    "$@" >"$TMP/trial.out" 2>&1 || TRIAL_RC=$?
    t1=$EPOCHREALTIME
    TRIAL_US=$((${t1//[^0-9]/} - ${t0//[^0-9]/}))
}

load_part() {
    local objects=()
    if [ -n "${BENCH_OBJECTS:-}" ]; then
        read -ra objects <<<"$BENCH_OBJECTS"
    else
        objects=("$CHAIN" "$CORE_OBJECT")
        local o
        for o in /usr/lib/*/bpf/*.o; do
            [ -e "$o" ] && objects+=("$o")
        done
    fi
    [ "$(bpffs_extra | wc -l)" -eq 0 ] || die "the private bpffs is not empty: $(bpffs_extra | tr '\n' ' ')" 1

    local obj name d_ours d_bpftool d_aya extra
    for obj in "${objects[@]}"; do
        name="${obj#"$XDP_REPO_ROOT"/}"
        name="${name##/usr/lib/*/bpf/}"
        LOAD_OBJECTS+=("$name")
        d_ours="$PIN_ROOT/load-ours"
        d_bpftool="$PIN_ROOT/load-bpftool"
        d_aya="$PIN_ROOT/load-aya"
        note "load: $name"

        # One trial run each: who can load it, how long it takes, and which
        # by-name pins libbpf makes.
        BYNAME_PINS=()
        trial "$BPFTOOL" prog loadall "$obj" "$d_bpftool"
        mapfile -t BYNAME_PINS < <(bpffs_extra)
        rm -rf "$d_bpftool"
        remove_byname
        if [ "$TRIAL_RC" -ne 0 ]; then
            ROW_NOTE["$name"]="skipped: bpftool cannot load it ($(first_line "$TMP/trial.out"))"
            continue
        fi
        local round_us="$TRIAL_US"
        local cmds=(true "$TRUE") timed_cmds=(true "$TRUE")
        local -a remove=(-r "$d_ours" -r "$d_bpftool" -r "$d_aya")
        for pin in "${BYNAME_PINS[@]}"; do
            remove+=(-r "$BPFFS/$pin")
        done
        trial "$XDPLOADER" -file "$obj" -load-only -pin-path "$d_ours"
        rm -rf "$d_ours"
        round_us=$((round_us + TRIAL_US))
        if [ "$TRIAL_RC" -eq 0 ]; then
            cmds+=(:: xdploader "$XDPLOADER" -file "$obj" -load-only -pin-path "$d_ours")
            # For the shim's runs: a statically linked xdploader is out of
            # LD_PRELOAD's reach, so it reports its bpf(2) time itself.
            [ "$HAVE_TIMINGS" = yes ] && timed_cmds+=(:: xdploader "$XDPLOADER" -file "$obj" -load-only -pin-path "$d_ours" -timings)
        else
            ROW_NOTE["$name|xdploader"]="refused: $(first_line "$TMP/trial.out")"
        fi
        cmds+=(:: bpftool "$BPFTOOL" prog loadall "$obj" "$d_bpftool")
        timed_cmds+=(:: bpftool "$BPFTOOL" prog loadall "$obj" "$d_bpftool")
        if [ -n "$AYA" ]; then
            trial "$AYA" "$obj" "$d_aya"
            rm -rf "$d_aya"
            round_us=$((round_us + TRIAL_US))
            if [ "$TRIAL_RC" -eq 0 ]; then
                cmds+=(:: aya "$AYA" "$obj" "$d_aya")
                timed_cmds+=(:: aya "$AYA" "$obj" "$d_aya")
            else
                ROW_NOTE["$name|aya"]="refused: $(first_line "$TMP/trial.out" | sed 's/^aya-load: [^:]*: //')"
            fi
        fi
        extra="$(bpffs_extra)"
        [ -z "$extra" ] || die "a trial load left pins behind: $extra" 1

        # Objects whose loads take long (large preallocated maps, long
        # verification) get fewer runs: at most OBJECT_SECONDS per object.
        local runs inner
        runs=$((OBJECT_SECONDS * 1000000 / (round_us + 1000)))
        ((runs > RUNS)) && runs=$RUNS
        ((runs < 20)) && runs=20
        inner=$((runs / 3))
        ((inner > INNER_RUNS)) && inner=$INNER_RUNS
        ((inner < 5)) && inner=5
        OBJ_RUNS["$name"]="$runs/$inner"

        # Whole process, alternating, many runs.
        "$ALTERNATE" -n "$runs" "${remove[@]}" -- "${cmds[@]}" >"$TMP/alt.out"
        local label ok fail med rest
        while read -r label ok fail med rest; do
            WHOLE["$name|$label"]="$med"
            if [ "$fail" != 0 ]; then
                ROW_NOTE["$name|$label"]="${ROW_NOTE["$name|$label"]:-}$fail of $((ok + fail)) runs failed"
            fi
        done <"$TMP/alt.out"

        # Time inside bpf(2), measured by bpftime.so for the dynamically linked
        # loaders and by -timings for a static xdploader (alternate -t), paired
        # run by run with the whole-process time, alternating again.
        # "above" = median(wall - bpf(2)) - median(/bin/true), all under the shim.
        BPFTIME_OUT="$TMP/bpftime.out" LD_PRELOAD="$BUILD/bpftime.so" \
            "$ALTERNATE" -n "$inner" -w 1 -b "$TMP/bpftime.out" -t "$TMP/stdout.out" \
            "${remove[@]}" -- "${timed_cmds[@]}" >"$TMP/alt.out"
        local floor_shim i
        floor_shim="$(awk '$1 == "true" { print $4 }' "$TMP/alt.out")"
        while read -r label ok fail _ _ _ _ _ _ _ bpf_us calls above_us; do
            [ "$label" = true ] && continue
            INBPF["$name|$label"]="$bpf_us"
            CALLS["$name|$label"]="$calls"
            ABOVE["$name|$label"]="$(sub "$above_us" "$floor_shim")"
        done <"$TMP/alt.out"

        # xdploader's own account of where its time went.
        if [ "$HAVE_TIMINGS" = yes ] && [ -n "${WHOLE["$name|xdploader"]:-}" ]; then
            rm -f "$TMP/timings.out"
            for ((i = 0; i < inner; i++)); do
                "$XDPLOADER" -file "$obj" -load-only -pin-path "$d_ours" -timings 2>/dev/null |
                    awk '$1 == "total" { print $2 * 1000, $3 * 1000, $4 * 1000 }' >>"$TMP/timings.out" || true
                rm -rf "$d_ours"
            done
            INBPF_T["$name"]="$(awk '{ print $2 }' "$TMP/timings.out" | median)"
            OWN_T["$name"]="$(awk '{ print $3 }' "$TMP/timings.out" | median)"
            # The shim counts no call of a statically linked xdploader: strace does.
            if [ "${CALLS["$name|xdploader"]:-0}" = 0 ]; then
                strace -f -qq -e trace=bpf -o "$TMP/strace.out" \
                    "$XDPLOADER" -file "$obj" -load-only -pin-path "$d_ours" >/dev/null 2>&1 || true
                rm -rf "$d_ours"
                CALLS["$name|xdploader"]="$(grep -c 'bpf(' "$TMP/strace.out" || true)"
            fi
        fi
        [ -z "$(bpffs_extra)" ] || die "pins left behind after $name: $(bpffs_extra | tr '\n' ' ')" 1
    done
    BYNAME_PINS=()

    emit "## 1. Load (whole process, ms, median of alternating runs)" "" \
        "| object | runs | /bin/true | xdploader | bpftool | aya | xdploader / bpftool (goal <= 0.8) | aya / bpftool |" \
        "|---|---|---|---|---|---|---|---|"
    local n cell_x cell_b cell_a
    for n in "${LOAD_OBJECTS[@]}"; do
        if [ -n "${ROW_NOTE["$n"]:-}" ]; then
            emit "| $n | - | ${ROW_NOTE["$n"]} | | | | | |"
            continue
        fi
        cell_x="$(ms "${WHOLE["$n|xdploader"]:--}")"
        [ -n "${ROW_NOTE["$n|xdploader"]:-}" ] && cell_x="$cell_x (${ROW_NOTE["$n|xdploader"]})"
        cell_b="$(ms "${WHOLE["$n|bpftool"]:--}")"
        cell_a="$(ms "${WHOLE["$n|aya"]:--}")"
        [ -n "${ROW_NOTE["$n|aya"]:-}" ] && cell_a="$cell_a (aya ${ROW_NOTE["$n|aya"]})"
        emit "| $n | ${OBJ_RUNS["$n"]%/*} | $(ms "${WHOLE["$n|true"]:--}") | $cell_x | $cell_b | $cell_a | $(ratio "${WHOLE["$n|xdploader"]:--}" "${WHOLE["$n|bpftool"]:--}") | $(ratio "${WHOLE["$n|aya"]:--}" "${WHOLE["$n|bpftool"]:--}") |"
    done
    emit ""
    emit "### Inside bpf(2) and above it (ms, medians of alternating runs)" "" \
        "| object | runs | xdploader: bpf(2) (calls) | above | -timings: bpf(2) / own work | bpftool: bpf(2) (calls) | above (libbpf) | aya: bpf(2) (calls) | above | -timings own / libbpf above (goal <= 0.5) | xdploader above / libbpf above |" \
        "|---|---|---|---|---|---|---|---|---|---|---|"
    local above_x above_b above_a own
    for n in "${LOAD_OBJECTS[@]}"; do
        [ -n "${ROW_NOTE["$n"]:-}" ] && continue
        above_x="${ABOVE["$n|xdploader"]:--}"
        above_b="${ABOVE["$n|bpftool"]:--}"
        above_a="${ABOVE["$n|aya"]:--}"
        own="n/a (no -timings)"
        [ "$HAVE_TIMINGS" = yes ] && own="$(ms "${INBPF_T["$n"]:--}") / $(ms "${OWN_T["$n"]:--}")"
        emit "| $n | ${OBJ_RUNS["$n"]#*/} | $(ms "${INBPF["$n|xdploader"]:--}") (${CALLS["$n|xdploader"]:--}) | $(ms "$above_x") | $own | $(ms "${INBPF["$n|bpftool"]:--}") (${CALLS["$n|bpftool"]:--}) | $(ms "$above_b") | $(ms "${INBPF["$n|aya"]:--}") (${CALLS["$n|aya"]:--}) | $(ms "$above_a") | $(ratio "${OWN_T["$n"]:--}" "$above_b") | $(ratio "$above_x" "$above_b") |"
    done
    emit "" "\"bpf(2)\": time inside bpf(2), measured for bpftool and aya by scripts/bench/bpftime.c (LD_PRELOAD, wraps libc's syscall()); for a statically linked xdploader, which no LD_PRELOAD reaches, its own -timings clock around bpf(2) in the same runs (the same measure, taken in-process) and strace's count of the calls. \"above\": the median over runs of (whole process - its time inside bpf(2)), minus the /bin/true floor, all under the shim in alternating runs of their own. \"-timings\": xdploader's own figures (wall time of its phases minus the time inside bpf(2), process start and exit excluded)." ""
}

# ================================================================================
# 2. Per packet (BPF_PROG_TEST_RUN)
# ================================================================================
FRAME="" PCAP=""
PKT_DIR="$PIN_ROOT/pkt"

# make_frame FILE: a 64-byte Ethernet + IPv4 + UDP frame (22 bytes of payload),
# 198.18.0.1:4242 -> 198.18.0.2:9, valid IPv4 header checksum.
make_frame() {
    local hdr=(0x45 0x00 0x00 0x32 0x00 0x00 0x40 0x00 0x40 0x11 0x00 0x00 198 18 0 1 198 18 0 2)
    local sum=0 i
    for ((i = 0; i < 20; i += 2)); do
        sum=$((sum + (hdr[i] << 8) + hdr[i + 1]))
    done
    while ((sum >> 16)); do
        sum=$(((sum & 0xffff) + (sum >> 16)))
    done
    sum=$((~sum & 0xffff))
    hdr[10]=$((sum >> 8))
    hdr[11]=$((sum & 0xff))
    {
        printf '\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00'
        for b in "${hdr[@]}"; do printf '%b' "$(printf '\\x%02x' "$b")"; done
        printf '\x10\x92\x00\x09\x00\x1e\x00\x00' # UDP 4242 -> 9, length 30, no checksum
        head -c 22 /dev/zero | tr '\0' '\132'
    } >"$1"
    [ "$(stat -c %s "$1")" -eq 64 ] || die "the test frame is not 64 bytes." 1
}

# make_pcap FRAME FILE: a classic pcap (little-endian, Ethernet) holding FRAME.
make_pcap() {
    {
        printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00'
        printf '\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x40\x00\x00\x00'
        cat "$1"
    } >"$2"
}

# prog_run PIN: mean ns per run from `bpftool prog run`, checking XDP_PASS (2).
prog_run() {
    local out
    out="$("$BPFTOOL" prog run pinned "$1" data_in "$FRAME" repeat "$REPEAT" 2>&1)" ||
        die "bpftool prog run on $1 failed: $out" 3
    grep -q 'Return value: 2,' <<<"$out" ||
        die "$1 did not return XDP_PASS on the test frame (is the tail-call chain wired?): $out" 1
    sed -n 's/.*duration (average): \([0-9]*\)ns.*/\1/p' <<<"$out"
}

# run_ns OBJ PROG: mean ns per run from `xdploader -run ... -json` (its
# "mean_ns", else the first "..._ns" number), checking XDP_PASS; "-" if none.
run_ns() {
    local out
    out="$("$XDPLOADER" -file "$1" -run "$2" -pcap "$PCAP" -repeat "$REPEAT" -json -pin-path "$PKT_DIR/run" 2>&1)" || {
        note "xdploader -run $2 on $1 failed: $(tail -n 1 <<<"$out")"
        rm -rf "$PKT_DIR/run"
        echo -
        return
    }
    rm -rf "$PKT_DIR/run"
    if grep -q '"verdict"' <<<"$out" && ! grep -q '"verdict":[[:space:]]*"XDP_PASS"' <<<"$out"; then
        die "xdploader -run $2 on $1 did not return XDP_PASS on the test frame: $out" 1
    fi
    {
        grep -oE '"mean_ns"[[:space:]]*:[[:space:]]*[0-9.]+' <<<"$out" || true
        grep -oE '"([A-Za-z_]*_ns|ns)"[[:space:]]*:[[:space:]]*[0-9.]+' <<<"$out" || true
    } | awk -F: 'NR == 1 { gsub(/[[:space:]]/, "", $2); print $2; found = 1 } END { if (!found) print "-" }'
}

declare -A PKT=()
packet_part() {
    note "per packet: BPF_PROG_TEST_RUN, repeat $REPEAT, $PKT_ROUNDS rounds"
    mkdir -p "$PKT_DIR"
    "$XDPLOADER" -file "$CHAIN" -load-only -pin-path "$PKT_DIR/chain" >/dev/null ||
        die "xdploader could not load $CHAIN." 3
    "$XDPLOADER" -file "$CHAIN_DEBUG" -load-only -pin-path "$PKT_DIR/debug" >/dev/null ||
        die "xdploader could not load $CHAIN_DEBUG." 3
    "$BPFTOOL" prog load "$BUILD/xdp_pass.o" "$PKT_DIR/bare" || die "bpftool could not load xdp_pass.o." 3

    local r k order=(bare chain debug) which pin
    for which in "${order[@]}"; do : >"$TMP/pkt.$which"; : >"$TMP/run.$which"; done
    for ((r = 0; r < PKT_ROUNDS; r++)); do
        for ((k = 0; k < 3; k++)); do
            which="${order[$(((r + k) % 3))]}"
            case "$which" in
            bare) pin="$PKT_DIR/bare" ;;
            chain) pin="$PKT_DIR/chain/xdp_skeleton" ;;
            debug) pin="$PKT_DIR/debug/xdp_skeleton" ;;
            esac
            prog_run "$pin" >>"$TMP/pkt.$which"
        done
    done
    if [ "$HAVE_RUN" = yes ]; then
        for ((r = 0; r < PKT_ROUNDS; r++)); do
            run_ns "$BUILD/xdp_pass.o" xdp_pass >>"$TMP/run.bare"
            run_ns "$CHAIN" xdp_skeleton >>"$TMP/run.chain"
            run_ns "$CHAIN_DEBUG" xdp_skeleton >>"$TMP/run.debug"
        done
    fi
    for which in "${order[@]}"; do
        PKT["$which"]="$(median <"$TMP/pkt.$which")"
        PKT["run.$which"]="$(grep -v '^-$' "$TMP/run.$which" | median)"
    done
    local run_b="n/a (no -run)" run_c="n/a (no -run)" run_d="n/a (no -run)" run_r="-"
    if [ "$HAVE_RUN" = yes ]; then
        run_b="${PKT[run.bare]}" run_c="${PKT[run.chain]}" run_d="${PKT[run.debug]}"
        run_r="$(ratio "${PKT[run.chain]}" "${PKT[run.bare]}")"
    fi
    emit "## 2. Per packet (BPF_PROG_TEST_RUN, 64-byte IPv4/UDP frame, repeat $REPEAT, median of $PKT_ROUNDS rounds, ns per run)" "" \
        "| program | bpftool prog run | xdploader -run |" \
        "|---|---|---|" \
        "| bare XDP_PASS (scripts/bench/xdp_pass.c) | ${PKT[bare]} | $run_b |" \
        "| kern/xdp.elf chain (entry + 2 tail calls) | ${PKT[chain]} | $run_c |" \
        "| kern/xdp-debug.elf chain (-DDEBUG, bpf_printk) | ${PKT[debug]} | $run_d |" \
        "| chain / bare (goal <= 1.7) | $(ratio "${PKT[chain]}" "${PKT[bare]}") | $run_r |" \
        "| debug chain / chain | $(ratio "${PKT[debug]}" "${PKT[chain]}" 1) | $(ratio "${PKT["run.debug"]}" "${PKT["run.chain"]}" 1) |" ""
}

# ================================================================================
# 3. statswatch
# ================================================================================
# count_syscalls MAP: the bpf(2) commands and system calls of one statswatch
# and one bpftool map dump on MAP, into sw_bpf, bd_bpf, sw_all, bd_all.
count_syscalls() {
    local map="$1"
    strace -f -qq -e trace=bpf -o "$TMP/sw.strace" "$STATSWATCH" -file "$map" >/dev/null
    strace -f -qq -e trace=bpf -o "$TMP/bd.strace" "$BPFTOOL" map dump pinned "$map" >/dev/null
    strace -f -qq -c -o "$TMP/sw.count" "$STATSWATCH" -file "$map" >/dev/null
    strace -f -qq -c -o "$TMP/bd.count" "$BPFTOOL" map dump pinned "$map" >/dev/null
    # "3 BPF_OBJ_GET_INFO_BY_FD, 1 BPF_MAP_LOOKUP_BATCH, ..." in order of first use.
    sw_bpf="$(grep -oE 'bpf\(BPF_[A-Z_]+' "$TMP/sw.strace" | sed 's/bpf(//' | awk '{ if (!($1 in n)) o[++k] = $1; n[$1]++ } END { for (i = 1; i <= k; i++) printf "%s%d %s", (i > 1 ? ", " : ""), n[o[i]], o[i] }')"
    bd_bpf="$(grep -oE 'bpf\(BPF_[A-Z_]+' "$TMP/bd.strace" | sed 's/bpf(//' | awk '{ if (!($1 in n)) o[++k] = $1; n[$1]++ } END { for (i = 1; i <= k; i++) printf "%s%d %s", (i > 1 ? ", " : ""), n[o[i]], o[i] }')"
    sw_all="$(awk '$NF == "total" { print $(NF - 2) }' "$TMP/sw.count")"
    bd_all="$(awk '$NF == "total" { print $(NF - 2) }' "$TMP/bd.count")"
}

stats_part() {
    local map="$PKT_DIR/chain/stats_map"
    if [ ! -e "$map" ]; then
        mkdir -p "$PKT_DIR"
        "$XDPLOADER" -file "$CHAIN" -load-only -pin-path "$PKT_DIR/chain" >/dev/null ||
            die "xdploader could not load $CHAIN." 3
    fi
    note "statswatch: syscalls, and $STAT_RUNS alternating runs beside bpftool map dump"
    local sw_bpf="- (no strace)" bd_bpf="- (no strace)" sw_all="-" bd_all="-"
    if command -v strace >/dev/null 2>&1; then
        count_syscalls "$map"
    fi

    "$ALTERNATE" -n "$STAT_RUNS" -- true "$TRUE" :: statswatch "$STATSWATCH" -file "$map" \
        :: bpftool "$BPFTOOL" map dump pinned "$map" >"$TMP/alt.out"
    local label ok fail med rest
    declare -A st=()
    while read -r label ok fail med rest; do
        st["$label"]="$med"
        [ "$fail" = 0 ] || note "statswatch part: $label failed $fail times"
    done <"$TMP/alt.out"
    emit "## 3. statswatch vs bpftool map dump on the same pinned stats_map (median of $STAT_RUNS alternating runs)" "" \
        "| | /bin/true | statswatch -file MAP | bpftool map dump pinned MAP | statswatch / bpftool (goal <= 0.8) |" \
        "|---|---|---|---|---|" \
        "| whole process, ms | $(ms "${st[true]:--}") | $(ms "${st[statswatch]:--}") | $(ms "${st[bpftool]:--}") | $(ratio "${st[statswatch]:--}" "${st[bpftool]:--}") |" \
        "| above the floor, ms | | $(ms "$(sub "${st[statswatch]:--}" "${st[true]:--}")") | $(ms "$(sub "${st[bpftool]:--}" "${st[true]:--}")") | $(ratio "$(sub "${st[statswatch]:--}" "${st[true]:--}")" "$(sub "${st[bpftool]:--}" "${st[true]:--}")") |" \
        "| bpf(2) calls (strace) | | $sw_bpf | $bd_bpf | |" \
        "| all system calls (strace -c) | | ${sw_all:--} | ${bd_all:--} | |" ""
}

# ================================================================================
# 4. Throughput over a veth pair
# ================================================================================
ip_in_receives() {
    # shellcheck disable=SC2016 # an awk program
    in_ns "$NS_RX" awk '/^Ip:/ { if (!h) { for (i = 2; i <= NF; i++) if ($i == "InReceives") c = i; h = 1 } else { print $c; exit } }' /proc/net/snmp
}

# stats_pass_aborted: "PASS ABORTED" packet counts from the throughput stats_map.
stats_pass_aborted() {
    { "$STATSWATCH" -file "$PIN_ROOT/tput/stats_map" 2>/dev/null || true; } |
        awk '/XDP_PASS:/ { p = $2 } /XDP_ABORTED:/ { a = $2 } END { print p + 0, a + 0 }'
}

# attach_receiver MODE: what the throughput receiver runs for MODE (none,
# bare-skb, bare-drv, chain-skb, chain-drv), attached by xdploader.
attach_receiver() {
    case "$1" in
    bare-*) in_ns "$NS_RX" "$XDPLOADER" -file "$BUILD/xdp_pass.o" -prog xdp_pass -i "$IF_RX" -mode "${1#bare-}" -pin-path "$PIN_ROOT/tput-bare" >/dev/null ;;
    chain-*) in_ns "$NS_RX" "$XDPLOADER" -file "$CHAIN" -i "$IF_RX" -mode "${1#chain-}" -pin-path "$PIN_ROOT/tput" >/dev/null ;;
    esac
}

declare -A TPUT=()
tput_part() {
    note "throughput: veth pair $IF_TX -> $IF_RX between namespaces $NS_TX and $NS_RX, $TPUT_ROUNDS rounds x 5 receivers x ${TPUT_SECONDS}s"
    ip netns add "$NS_TX"
    ip netns add "$NS_RX"
    ip link add "$IF_TX" netns "$NS_TX" type veth peer name "$IF_RX" netns "$NS_RX"
    local ns
    for ns in "$NS_TX" "$NS_RX"; do
        in_ns "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        in_ns "$ns" ip link set dev lo up
    done
    in_ns "$NS_TX" ip link set dev "$IF_TX" mtu 1500 up
    in_ns "$NS_RX" ip link set dev "$IF_RX" mtu 1500 up
    in_ns "$NS_TX" ip addr add 198.18.0.1/24 dev "$IF_TX"
    in_ns "$NS_RX" ip addr add 198.18.0.2/24 dev "$IF_RX"
    local mac_tx mac_rx
    mac_rx="$(in_ns "$NS_RX" ip -br link show dev "$IF_RX" | awk '{ print $3 }')"
    mac_tx="$(in_ns "$NS_TX" ip -br link show dev "$IF_TX" | awk '{ print $3 }')"
    in_ns "$NS_TX" ip neigh replace 198.18.0.2 lladdr "$mac_rx" dev "$IF_TX" nud permanent
    in_ns "$NS_RX" ip neigh replace 198.18.0.1 lladdr "$mac_tx" dev "$IF_RX" nud permanent
    # A socket on the port that never reads: datagrams end in its full buffer
    # rather than in ICMP port-unreachable replies (bounded in time too).
    # nsenter, not in_ns: $! must be the sink itself, which nsenter execs.
    nsenter --net="/run/netns/$NS_RX" -- "$BUILD/udpsend" -sink 9 $((TPUT_ROUNDS * 5 * (TPUT_SECONDS + 5) + 60)) &
    SINK_PID=$!

    # Each round measures every receiver once, starting one further along
    # each round; the same sender on the same CPU every time.
    local cpu=$(($(nproc) - 1)) r k mode before after sent secs pps out pa0 pa1
    local modes=(none bare-skb chain-skb bare-drv chain-drv)
    for mode in "${modes[@]}"; do : >"$TMP/tput.$mode"; done
    : >"$TMP/tput.check"
    for ((r = 0; r < TPUT_ROUNDS; r++)); do
        for ((k = 0; k < ${#modes[@]}; k++)); do
            mode="${modes[$(((r + k) % ${#modes[@]}))]}"
            attach_receiver "$mode"
            pa0="$(stats_pass_aborted)"
            before="$(ip_in_receives)"
            out="$(in_ns "$NS_TX" taskset -c "$cpu" "$BUILD/udpsend" 198.18.0.2 9 1000000000 "$TPUT_SECONDS")"
            sleep 0.2
            after="$(ip_in_receives)"
            pa1="$(stats_pass_aborted)"
            sent="$(awk '{ print $2 }' <<<"$out")"
            secs="$(awk '{ print $6 }' <<<"$out")"
            pps="$(awk -v a="$before" -v b="$after" -v s="$secs" 'BEGIN { printf "%.0f\n", (b - a) / s }')"
            echo "$pps" >>"$TMP/tput.$mode"
            echo "$mode sent $sent received $((after - before)) xdp_pass $(($(cut -d' ' -f1 <<<"$pa1") - $(cut -d' ' -f1 <<<"$pa0"))) xdp_aborted $(($(cut -d' ' -f2 <<<"$pa1") - $(cut -d' ' -f2 <<<"$pa0")))" >>"$TMP/tput.check"
            in_ns "$NS_RX" ip link set dev "$IF_RX" xdpgeneric off 2>/dev/null || true
            in_ns "$NS_RX" ip link set dev "$IF_RX" xdpdrv off 2>/dev/null || true
        done
    done
    awk '$1 ~ /^chain/ && $NF != 0 { bad = 1 } END { exit bad }' "$TMP/tput.check" ||
        note "throughput: the chain counted XDP_ABORTED packets: $(grep '^chain' "$TMP/tput.check" | tr '\n' ';')"
    for mode in "${modes[@]}"; do
        TPUT["$mode"]="$(median <"$TMP/tput.$mode")"
        TPUT["range.$mode"]="$(sort -n "$TMP/tput.$mode" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }')"
    done
    local sent_total recv_total pass_total
    read -r sent_total recv_total pass_total < <(awk '$1 ~ /^chain/ { s += $3; r += $5; p += $7 } END { print s + 0, r + 0, p + 0 }' "$TMP/tput.check")
    if [ -n "$PROFILE" ]; then
        if command -v perf >/dev/null 2>&1; then
            profile_generic "$cpu"
        else
            note "BENCH_PROFILE: perf is missing (Debian: apt-get install linux-perf); no profile"
        fi
    fi
    kill "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
    SINK_PID=""
    ip netns del "$NS_TX"
    ip netns del "$NS_RX"
    rm -rf "$PIN_ROOT/tput" "$PIN_ROOT/tput-bare"

    emit "## 4. Throughput: 64-byte UDP over a veth pair between two namespaces, MTU 1500 (median of $TPUT_ROUNDS rounds of ${TPUT_SECONDS}s, packets/s received by IP in the receiving namespace)" "" \
        "| program on the receiving veth | packets/s | range over rounds | vs no program | vs bare XDP_PASS in the same mode |" \
        "|---|---|---|---|---|" \
        "| none | ${TPUT[none]} | ${TPUT[range.none]} | 1.00 | |" \
        "| bare XDP_PASS, generic (skb) mode | ${TPUT[bare-skb]} | ${TPUT[range.bare-skb]} | $(ratio "${TPUT[bare-skb]}" "${TPUT[none]}") | |" \
        "| chain, generic (skb) mode | ${TPUT[chain-skb]} | ${TPUT[range.chain-skb]} | $(ratio "${TPUT[chain-skb]}" "${TPUT[none]}") (goal >= 0.95) | $(ratio "${TPUT[chain-skb]}" "${TPUT[bare-skb]}") |" \
        "| bare XDP_PASS, native (drv) mode | ${TPUT[bare-drv]} | ${TPUT[range.bare-drv]} | $(ratio "${TPUT[bare-drv]}" "${TPUT[none]}") | |" \
        "| chain, native (drv) mode | ${TPUT[chain-drv]} | ${TPUT[range.chain-drv]} | $(ratio "${TPUT[chain-drv]}" "${TPUT[none]}") | $(ratio "${TPUT[chain-drv]}" "${TPUT[bare-drv]}") |" "" \
        "With the chain attached: $sent_total datagrams sent, $recv_total received by IP, $pass_total counted XDP_PASS by the chain." ""
}

# profile_generic CPU: with BENCH_PROFILE, where the time of the generic-mode
# path goes: `perf record -a` while the sender runs, once with no program, once
# with the bare XDP_PASS program and once with the chain, each in generic mode.
# Shares are of the busy samples (idle left out): the functions of the generic
# XDP hook, the programs' JIT-ed code (bpf_prog_*) summed, and the functions
# that take the most with the chain.
profile_generic() {
    local cpu="$1" mode
    note "throughput profile: perf record -a, ${TPUT_SECONDS}s per case"
    for mode in none bare-skb chain-skb; do
        attach_receiver "$mode"
        perf record -q -a -o "$TMP/perf.$mode" -- \
            ip netns exec "$NS_TX" taskset -c "$cpu" "$BUILD/udpsend" 198.18.0.2 9 1000000000 "$TPUT_SECONDS" >/dev/null 2>&1
        # "symbol<TAB>share of busy samples", the JIT-ed programs as one line.
        perf report -i "$TMP/perf.$mode" --no-children --sort sym --stdio 2>/dev/null |
            awk '/^ *[0-9.]+%/ {
                    pct = $1; sub(/%/, "", pct); sym = $3
                    if (sym ~ /(safe_halt|_idle|cpuidle|mwait)/) next
                    if (sym ~ /^bpf_prog_/) sym = "bpf_prog_* (the programs, JIT-ed)"
                    share[sym] += pct; busy += pct
                }
                END { for (s in share) printf "%s\t%.2f\n", s, 100 * share[s] / busy }' |
            sort -t$'\t' -k2,2 -rn >"$TMP/prof.$mode"
        in_ns "$NS_RX" ip link set dev "$IF_RX" xdpgeneric off 2>/dev/null || true
    done
    local rows syms
    syms="$(printf '%s\n' do_xdp_generic netif_receive_generic_xdp bpf_prog_run_generic_xdp pskb_expand_head "bpf_prog_* (the programs, JIT-ed)"
        head -n 12 "$TMP/prof.chain-skb" | cut -f1)"
    rows="$(awk '!seen[$0]++' <<<"$syms" | while IFS= read -r sym; do
        printf "| \`%s\` |" "$sym"
        for mode in none bare-skb chain-skb; do
            printf ' %s |' "$(awk -F'\t' -v s="$sym" '$1 == s { print $2; f = 1 } END { if (!f) print "-" }' "$TMP/prof.$mode")"
        done
        printf '\n'
    done)"
    emit "### 4b. Where generic mode's time goes (perf record -a, ${TPUT_SECONDS}s each, % of the busy samples, idle left out)" "" \
        "| kernel function | no program | bare XDP_PASS, generic | chain, generic |" \
        "|---|---|---|---|" "$rows" ""
}

# ================================================================================
# 1c. One load of kern/xdp.elf, call by call, and where the user-space time goes
# ================================================================================
# bpf_by_command STRACE_FILE: "COMMAND CALLS MICROSECONDS" per bpf(2) command of an
# `strace -T -e trace=bpf` log (strace's own times: inflated by the tracing, alike
# for both loaders).
bpf_by_command() {
    awk 'match($0, /bpf\(BPF_[A-Z_]+/) {
            cmd = substr($0, RSTART + 4, RLENGTH - 4)
            if (match($0, /<[0-9.]+>$/)) t = substr($0, RSTART + 1, RLENGTH - 2) * 1e6
            if (!(cmd in n)) order[++k] = cmd
            n[cmd]++; us[cmd] += t
        }
        END { for (i = 1; i <= k; i++) printf "%s %d %.0f\n", order[i], n[order[i]], us[order[i]] }' "$1"
}

calls_part() {
    local d_ours="$PIN_ROOT/calls-ours" d_bpftool="$PIN_ROOT/calls-bpftool" loader
    note "calls: one load of kern/xdp.elf under strace for each loader; user-space profile with perf"
    BYNAME_PINS=()
    "$BPFTOOL" prog loadall "$CHAIN" "$d_bpftool" >/dev/null 2>&1 || die "bpftool cannot load $CHAIN" 1
    mapfile -t BYNAME_PINS < <(bpffs_extra | grep -v '^calls-')
    rm -rf "$d_bpftool"
    remove_byname
    for loader in xdploader bpftool; do
        local cmd=("$XDPLOADER" -file "$CHAIN" -load-only -pin-path "$d_ours")
        [ "$loader" = bpftool ] && cmd=("$BPFTOOL" prog loadall "$CHAIN" "$d_bpftool")
        strace -f -qq -T -e trace=bpf -o "$TMP/calls.$loader.bpf" "${cmd[@]}" >/dev/null 2>&1
        rm -rf "$d_ours" "$d_bpftool"
        remove_byname
        strace -f -qq -c -o "$TMP/calls.$loader.all" "${cmd[@]}" >/dev/null 2>&1
        rm -rf "$d_ours" "$d_bpftool"
        remove_byname
        bpf_by_command "$TMP/calls.$loader.bpf" >"$TMP/calls.$loader.cmds"
    done
    local commands rows c
    commands="$(cat "$TMP/calls.xdploader.cmds" "$TMP/calls.bpftool.cmds" | awk '!seen[$1]++ { print $1 }')"
    rows="$(for c in $commands; do
        printf '| %s |' "$c"
        for loader in xdploader bpftool; do
            printf ' %s |' "$(awk -v c="$c" '$1 == c { print $2 " (" $3 " us)"; f = 1 } END { if (!f) print "-" }' "$TMP/calls.$loader.cmds")"
        done
        printf '\n'
    done)"
    # strace -c's table: the "total" line's calls column, and the five most called.
    local total_x total_b top_x top_b
    total_x="$(awk '$NF == "total" { print $4 }' "$TMP/calls.xdploader.all")"
    total_b="$(awk '$NF == "total" { print $4 }' "$TMP/calls.bpftool.all")"
    top_x="$(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $4, $NF }' "$TMP/calls.xdploader.all" | sort -rn | head -n 6 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')"
    top_b="$(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $4, $NF }' "$TMP/calls.bpftool.all" | sort -rn | head -n 6 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')"
    emit "### 1c. One load of kern/xdp.elf, call by call (strace; its times are inflated by the tracing, alike for both)" "" \
        "| bpf(2) command | xdploader: calls (time) | bpftool: calls (time) |" \
        "|---|---|---|" "$rows" \
        "| all system calls (strace -c) | ${total_x:--} | ${total_b:--} |" \
        "| the most called | ${top_x:--} | ${top_b:--} |" ""

    if ! command -v perf >/dev/null 2>&1; then
        emit "(perf is missing: no user-space profile. Debian: apt-get install linux-perf.)" ""
        return
    fi
    local runs=100 i
    for loader in xdploader bpftool; do
        for ((i = 0; i < runs; i++)); do
            if [ "$loader" = xdploader ]; then
                perf record -q -F 20000 -o "$TMP/perf.calls.$loader.$i" -- "$XDPLOADER" -file "$CHAIN" -load-only -pin-path "$d_ours" >/dev/null 2>&1 || true
            else
                perf record -q -F 20000 -o "$TMP/perf.calls.$loader.$i" -- "$BPFTOOL" prog loadall "$CHAIN" "$d_bpftool" >/dev/null 2>&1 || true
            fi
            rm -rf "$d_ours" "$d_bpftool"
            remove_byname
        done
        # User-space samples only (the kernel's part is bpf(2) and process
        # set-up, measured above), summed over the runs by dso and symbol.
        for ((i = 0; i < runs; i++)); do
            perf report -i "$TMP/perf.calls.$loader.$i" --no-children --sort dso,sym -F overhead,sample,dso,sym --stdio 2>/dev/null |
                awk '/^ *[0-9.]+%/ && $3 != "[kernel.kallsyms]" && $3 != "[unknown]" { n = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); sub(/ +$/, ""); print n "\t" $0 }'
            rm -f "$TMP/perf.calls.$loader.$i"
        done | awk -F'\t' '{ n[$2] += $1; total += $1 } END { for (s in n) printf "%.1f\t%s\n", 100 * n[s] / total, s; printf "TOTAL\t%d\n", total > "/dev/stderr" }' \
            2>"$TMP/prof.$loader.total" | sort -rn | head -n 10 >"$TMP/prof.$loader.top"
    done
    local tx tb
    tx="$(cut -f2 "$TMP/prof.xdploader.total")"
    tb="$(cut -f2 "$TMP/prof.bpftool.total")"
    emit "### 1d. User-space samples of $runs loads of kern/xdp.elf each (perf record -F 20000; % of that loader's user-space samples: xdploader $tx, bpftool $tb)" "" \
        "| xdploader: share, where | bpftool: share, where |" "|---|---|" \
        "$(paste "$TMP/prof.xdploader.top" "$TMP/prof.bpftool.top" | awk -F'\t' '{ printf "| %s%% %s | %s%% %s |\n", $1, $2, $3, $4 }')" ""
}

# ================================================================================
# 5. Peak memory
# ================================================================================
mem_part() {
    [ -x /usr/bin/time ] || {
        emit "## 5. Peak memory" "" "/usr/bin/time is missing (package time): not measured." ""
        return
    }
    note "peak memory: /usr/bin/time -v, $MEM_RUNS runs each"
    local loader i d="$PIN_ROOT/mem" byname
    declare -A rss=()
    for loader in xdploader bpftool aya; do
        [ "$loader" = aya ] && [ -z "$AYA" ] && continue
        : >"$TMP/mem.$loader"
        for ((i = 0; i < MEM_RUNS; i++)); do
            case "$loader" in
            xdploader) /usr/bin/time -v -o "$TMP/time.out" "$XDPLOADER" -file "$CHAIN" -load-only -pin-path "$d" >/dev/null 2>&1 ;;
            bpftool) /usr/bin/time -v -o "$TMP/time.out" "$BPFTOOL" prog loadall "$CHAIN" "$d" >/dev/null 2>&1 ;;
            aya) /usr/bin/time -v -o "$TMP/time.out" "$AYA" "$CHAIN" "$d" >/dev/null 2>&1 ;;
            esac
            awk -F: '/Maximum resident set size/ { print $2 + 0 }' "$TMP/time.out" >>"$TMP/mem.$loader"
            rm -rf "$d"
            while read -r byname; do
                [ -n "$byname" ] && rm -rf "${BPFFS:?}/$byname"
            done < <(bpffs_extra)
        done
        rss["$loader"]="$(median <"$TMP/mem.$loader")"
    done
    emit "## 5. Peak memory loading kern/xdp.elf (maximum resident set size from /usr/bin/time -v, median of $MEM_RUNS, MiB)" "" \
        "| xdploader | bpftool | aya | xdploader / bpftool | aya / bpftool |" \
        "|---|---|---|---|---|" \
        "| $(mib "${rss[xdploader]:--}") | $(mib "${rss[bpftool]:--}") | $(mib "${rss[aya]:--}") | $(ratio "${rss[xdploader]:--}" "${rss[bpftool]:--}") | $(ratio "${rss[aya]:--}" "${rss[bpftool]:--}") |" ""
}

FRAME="$TMP/frame.bin"
PCAP="$TMP/frame.pcap"
make_frame "$FRAME"
make_pcap "$FRAME" "$PCAP"

started=$SECONDS
skipped load || load_part
skipped calls || calls_part
skipped packet || packet_part
skipped stats || stats_part
skipped tput || tput_part
skipped mem || mem_part
rm -rf "$PKT_DIR"

emit "Figures that depend on xdploader's -timings: the \"-timings\" column of the bpf(2) table$([ "$HAVE_TIMINGS" = yes ] || echo " (not available in this build)"); on -run: the \"xdploader -run\" column$([ "$HAVE_RUN" = yes ] || echo " (not available in this build)")." \
    "Took $((SECONDS - started)) s."
if [ -n "${BENCH_REPORT:-}" ]; then
    cp "$OUT" "$BENCH_REPORT"
    note "report written to $BENCH_REPORT"
fi
