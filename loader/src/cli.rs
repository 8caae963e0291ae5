//! Command-line conventions shared by both binaries.

use std::process::ExitCode;

use crate::ExitKind;

/// Parses the process's arguments (Go-style flags accepted) into `T`. On `--help` or
/// `--version` the text is printed and `Err(SUCCESS)` returned; on a usage error clap's
/// message is printed and `Err` carries the usage exit code.
pub fn parse_args<T: clap::Parser>() -> Result<T, ExitCode> {
    T::try_parse_from(normalize_go_flags(std::env::args())).map_err(|error| {
        let usage_error = error.use_stderr();
        let _ = error.print();
        if usage_error {
            ExitCode::from(ExitKind::Usage as u8)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// Turns Go-style single-dash long flags (`-file x`, `-pin-path=y`) into clap's `--file`,
/// leaving single-letter flags (`-i`), `--long` flags, values and `-` alone.
pub fn normalize_go_flags<I: IntoIterator<Item = String>>(args: I) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_separator = false;
    for (position, arg) in args.into_iter().enumerate() {
        if position == 0 || after_separator {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            after_separator = true;
            out.push(arg);
            continue;
        }
        let is_go_long = arg.starts_with('-')
            && !arg.starts_with("--")
            && arg[1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && arg[1..]
                .split('=')
                .next()
                .is_some_and(|name| name.len() > 1);
        if is_go_long {
            out.push(format!("-{arg}"));
        } else {
            out.push(arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_go_flags;

    fn normalize(args: &[&str]) -> Vec<String> {
        normalize_go_flags(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn go_style_flags_become_long_flags() {
        assert_eq!(
            normalize(&[
                "xdploader",
                "-file",
                "kern/xdp.elf",
                "-i",
                "veth1",
                "-mode=skb"
            ]),
            [
                "xdploader",
                "--file",
                "kern/xdp.elf",
                "-i",
                "veth1",
                "--mode=skb"
            ]
        );
    }

    #[test]
    fn values_and_double_dash_flags_are_untouched() {
        assert_eq!(
            normalize(&["statswatch", "--file", "x", "-", "--", "-file"]),
            ["statswatch", "--file", "x", "-", "--", "-file"]
        );
        assert_eq!(normalize(&["x", "-5"]), ["x", "-5"]);
    }
}
