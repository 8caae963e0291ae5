//! Normalising: the masks that hide what differs on every run (ids, fds, ifindexes,
//! pids, timings, kernel addresses), applied alike to the doc and the real output, and
//! the selection of the lines a case compares. Tested in compare.rs.

use super::*;

/// Words after which a number differs on every run.
const VOLATILE_AFTER: &[&str] = &[
    "id ",
    "Fd ",
    "fd ",
    "ifindex ",
    "ifIndex ",
    "link ",
    "id:",
    "@if",
    "\"id\":",
    "\"link_id\":",
    "\"ifindex\":",
    "xdploader-",
];

/// Kernel addresses (`r1 = 0xffff888102b78000` in a verifier log: a map's address).
fn mask_kernel_addresses(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("0xffff") {
        let hex = rest[at + 2..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len() - at - 2);
        out.push_str(&rest[..at]);
        // Only a value loaded into a register (`(18) r1 = 0xffff...`, ld_imm64): register
        // bounds such as `r=0xfffffffffffffffe` are not addresses.
        if hex == 16 && rest[..at].ends_with(" = ") {
            out.push_str("0xN");
        } else {
            out.push_str(&rest[at..at + 2 + hex]);
        }
        rest = &rest[at + 2 + hex..];
    }
    out.push_str(rest);
    out
}

fn mask_line(line: &str, mask_counters: bool) -> String {
    // ping's round-trip summary (`rtt min/avg/max/mdev = 0.057/0.082/0.177/0.047 ms`):
    // timings, every one.
    if line.trim_start().starts_with("rtt min/avg/max/mdev = ") {
        return mask_digits(line);
    }
    let line = mask_kernel_addresses(line);
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prefix: String = chars[..i].iter().collect();
        // "veth1@if23": a number glued to a word counts when the word is a volatile one.
        let starts_number = c.is_ascii_digit()
            && (i == 0
                || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_')
                || VOLATILE_AFTER.iter().any(|word| prefix.ends_with(word)));
        if !starts_number {
            out.push(c);
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        // A decimal fraction belongs to the number.
        let mut k = j;
        if k + 1 < chars.len() && chars[k] == '.' && chars[k + 1].is_ascii_digit() {
            k += 1;
            while k < chars.len() && chars[k].is_ascii_digit() {
                k += 1;
            }
        }
        let suffix: String = chars[k..].iter().collect();
        // JSON keys as `jq .` prints them: `"id": 4006`.
        let key = prefix.trim_end();
        let volatile = VOLATILE_AFTER
            .iter()
            .any(|word| prefix.ends_with(word) || (word.ends_with(':') && key.ends_with(word)))
            // "24: veth1@if23", "138: percpu_array": ids and ifindexes at the start of a line.
            || (prefix.trim().is_empty() && suffix.starts_with(": "))
            // /tmp/xdploader-verifier-NAME-PID.log
            || (prefix.ends_with('-') && suffix.starts_with(".log"))
            // Timings.
            || suffix.starts_with(" ns")
            || suffix.starts_with(" ms")
            || suffix.starts_with("ms")
            || (mask_counters && (suffix.starts_with(" packets") || suffix.starts_with(" bytes")));
        if volatile {
            out.push('N');
        } else {
            out.extend(&chars[i..k]);
        }
        i = k;
    }
    out
}

/// -run's table: the last column (ns per run) is a timing.
fn mask_run_table(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() == 5
        && words[0].parse::<u32>().is_ok()
        && words[3].starts_with("XDP_")
        && words[4].parse::<u64>().is_ok()
    {
        // The column's padding depends on how many digits the timing had.
        let cut = line.trim_end().len() - words[4].len();
        return format!("{} N", line[..cut].trim_end());
    }
    line.to_string()
}

/// Every run of digits in `text` as N.
pub(crate) fn mask_digits(text: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

/// The number that follows `key` in `line` replaced by N (all of them), unless it is
/// one of `keep`.
pub(crate) fn mask_after(line: &str, key: &str, keep: &[&str]) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(key) {
        let start = at + key.len();
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
            .unwrap_or(tail.len());
        let number = &tail[..end];
        if end == 0 || keep.contains(&number) {
            out.push_str(number);
        } else {
            out.push('N');
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// statswatch's XDP_PASS line with its numbers masked, for a case whose network and the
/// doc's do not receive the same frames besides the doc's own traffic (the modules say
/// which).
pub(crate) fn mask_xdp_pass(line: &str) -> String {
    if line.trim_start().starts_with("XDP_PASS:") {
        return mask_digits(line);
    }
    line.to_string()
}

/// bpftool's ids beyond the common mask: a program's `map_ids`, the program ids that
/// `map dump` shows in a prog array's slots, and `loaded_at`.
pub(crate) fn mask_bpftool(line: &str) -> String {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    if let Some(at) = line.find("map_ids ") {
        let ids = line[at + 8..].split(',').map(|_| "N").collect::<Vec<_>>();
        return format!("{}map_ids {}", &line[..at], ids.join(","));
    }
    if let Some(rest) = trimmed.strip_prefix("loaded_at ") {
        let uid = rest.find("  ").map_or("", |at| &rest[at..]);
        return format!("{indent}loaded_at TIME{uid}");
    }
    if let Some(value) = trimmed.strip_prefix("\"value\": ") {
        if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) {
            return format!("{indent}\"value\": N");
        }
    }
    line.to_string()
}

pub(crate) fn normalise(text: &str, case: &Case) -> Vec<String> {
    text.lines()
        .map(|line| {
            (case.mask)(&mask_run_table(&mask_line(
                line.trim_end(),
                case.mask_counters,
            )))
        })
        .collect()
}

/// Drops the groups (a `$` line and its output) the case skips, and what precedes
/// `case.from`.
pub(crate) fn select(lines: Vec<String>, case: &Case, from_doc: bool) -> Vec<String> {
    let mut lines = lines;
    if let (Some(from), true) = (case.from, from_doc) {
        let start = lines
            .iter()
            .position(|line| line.starts_with(from))
            .unwrap_or_else(|| panic!("transcript {}: no line starts with {from}", case.name));
        lines.drain(..start);
    }
    let mut kept = Vec::new();
    let mut skipping = false;
    let mut skipped_last = false;
    for line in lines {
        if line.starts_with("$ ") {
            if case.skip.contains(&line.as_str()) {
                skipping = true;
                skipped_last = true;
                continue;
            }
            skipping = skipped_last && line == "$ echo $?";
            skipped_last = false;
            if skipping {
                continue;
            }
        }
        if !skipping {
            kept.push(line);
        }
    }
    kept
}
