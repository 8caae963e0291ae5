//! What `statswatch -exceptions` shows: a table of the counters per interface, program
//! and what happened, with how many are new since the frame before. Pure: interface
//! names come in as a function.

use crate::trace::exceptions::ExceptionCount;

/// The line above the table.
pub const EXCEPTIONS_TITLE: &str =
    "XDP exceptions and failed redirects (xdp:xdp_exception, xdp:xdp_redirect_err)";

/// `XDP_ABORTED`, `XDP_TX`, ... as the kernel's `enum xdp_action` names them.
pub fn action_name(action: u32) -> String {
    match action {
        0 => "XDP_ABORTED".into(),
        1 => "XDP_DROP".into(),
        2 => "XDP_PASS".into(),
        3 => "XDP_TX".into(),
        4 => "XDP_REDIRECT".into(),
        other => format!("action {other}"),
    }
}

/// What a counter counts: `XDP_ABORTED`, `XDP_TX failed`, `XDP_REDIRECT -ENETDOWN`.
pub fn what(count: &ExceptionCount) -> String {
    match (count.action, count.err) {
        (0, 0) => action_name(0),
        (action, 0) => format!("{} failed", action_name(action)),
        (action, err) => format!("{} {}", action_name(action), errno_name(err)),
    }
}

/// `-ENETDOWN` for -100; the number for an errno nix does not name.
pub fn errno_name(err: i32) -> String {
    let errno = nix::errno::Errno::from_raw(err.saturating_neg());
    if errno == nix::errno::Errno::UnknownErrno {
        format!("{err}")
    } else {
        format!("-{errno:?}")
    }
}

/// The table for `counts` (sorted), with the change since `previous` (the sample of the
/// frame before, empty at the start); `name` gives an interface's name by index.
pub fn exceptions_frame(
    counts: &[ExceptionCount],
    previous: &[ExceptionCount],
    name: &dyn Fn(u32) -> Option<String>,
) -> Vec<String> {
    let mut lines = vec![EXCEPTIONS_TITLE.to_string()];
    if counts.is_empty() {
        lines.push("  none so far".to_string());
        return lines;
    }
    lines.push(format!(
        "  {:<16} {:>8}  {:<24} {:>12} {:>12}",
        "interface", "prog id", "what", "count", "new"
    ));
    for count in counts {
        let before = previous
            .iter()
            .find(|old| {
                (old.ifindex, old.prog_id, old.action, old.err)
                    == (count.ifindex, count.prog_id, count.action, count.err)
            })
            .map_or(0, |old| old.count);
        let interface = name(count.ifindex).unwrap_or_else(|| format!("ifindex {}", count.ifindex));
        lines.push(format!(
            "  {:<16} {:>8}  {:<24} {:>12} {:>12}",
            interface,
            count.prog_id,
            what(count),
            count.count,
            count.count.saturating_sub(before)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(ifindex: u32, action: u32, err: i32, count: u64) -> ExceptionCount {
        ExceptionCount {
            ifindex,
            prog_id: 42,
            action,
            err,
            count,
        }
    }

    #[test]
    fn what_names_the_action_and_the_errno() {
        assert_eq!(what(&count(1, 0, 0, 1)), "XDP_ABORTED");
        assert_eq!(what(&count(1, 3, 0, 1)), "XDP_TX failed");
        assert_eq!(what(&count(1, 4, -100, 1)), "XDP_REDIRECT -ENETDOWN");
        assert_eq!(what(&count(1, 4, -9999, 1)), "XDP_REDIRECT -9999");
        assert_eq!(what(&count(1, 9, 0, 1)), "action 9 failed");
    }

    #[test]
    fn the_frame_shows_totals_and_the_last_interval() {
        let names = |ifindex: u32| (ifindex == 2).then(|| "veth1".to_string());
        let lines = exceptions_frame(
            &[count(2, 0, 0, 7), count(9, 4, -6, 1)],
            &[count(2, 0, 0, 5)],
            &names,
        );
        assert_eq!(
            lines,
            [
                EXCEPTIONS_TITLE,
                "  interface         prog id  what                            count          new",
                "  veth1                  42  XDP_ABORTED                         7            2",
                "  ifindex 9              42  XDP_REDIRECT -ENXIO                 1            1",
            ]
        );
        assert_eq!(
            exceptions_frame(&[], &[], &names),
            [EXCEPTIONS_TITLE, "  none so far"]
        );
    }
}
