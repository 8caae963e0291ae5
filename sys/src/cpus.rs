//! Possible CPUs: per-CPU map values have one slot for each.

use std::io;

/// Where the kernel lists the CPUs that could ever be online.
pub const POSSIBLE_CPUS_PATH: &str = "/sys/devices/system/cpu/possible";

/// The number of possible CPUs (the highest possible CPU number plus one).
pub fn possible_cpus() -> io::Result<usize> {
    let text = std::fs::read_to_string(POSSIBLE_CPUS_PATH)?;
    parse_cpu_list(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot read the CPU list {text:?} in {POSSIBLE_CPUS_PATH}"),
        )
    })
}

/// Parses a kernel CPU list such as `0-5` or `0,2-3` and returns the highest CPU plus one,
/// which is how many slots per-CPU maps have.
pub fn parse_cpu_list(text: &str) -> Option<usize> {
    let mut highest: Option<usize> = None;
    for part in text.trim().split(',') {
        let last = match part.split_once('-') {
            Some((first, last)) => {
                let first: usize = first.trim().parse().ok()?;
                let last: usize = last.trim().parse().ok()?;
                if last < first {
                    return None;
                }
                last
            }
            None => part.trim().parse().ok()?,
        };
        highest = Some(highest.map_or(last, |h| h.max(last)));
    }
    highest.map(|h| h + 1)
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn parses_kernel_cpu_lists() {
        assert_eq!(parse_cpu_list("0\n"), Some(1));
        assert_eq!(parse_cpu_list("0-5\n"), Some(6));
        assert_eq!(parse_cpu_list("0,2-3"), Some(4));
        assert_eq!(parse_cpu_list("0-1,7"), Some(8));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }
}
