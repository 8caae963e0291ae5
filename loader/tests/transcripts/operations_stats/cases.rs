//! The cases of docs/operations.md from its "statswatch" part on, one per transcript, in the doc's order; the
//! networks and helpers they use are in the module above.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "statswatch-once",
        doc: "docs/operations.md",
        run: |s| {
            let net = loaded(s);
            let pin = path_str(&net.pin("stats_map")).to_string();
            s.cmd(
                "$ sudo statswatch -file /sys/fs/bpf/stats_map",
                &[statswatch(), "-file", &pin],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-percpu",
        doc: "docs/operations.md",
        run: |s| {
            let net = loaded(s);
            let pin_dir = path_str(&net.pin_dir).to_string();
            // Without -file statswatch reads stats_map in -pin-path (/sys/fs/bpf by default).
            s.cmd(
                "$ sudo statswatch -percpu",
                &[statswatch(), "-percpu", "-pin-path", &pin_dir],
            );
            s.text = only_two_cpus(&s.text);
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-json",
        doc: "docs/operations.md",
        mask: mask_json,
        run: |s| {
            let net = loaded(s);
            let pin_dir = path_str(&net.pin_dir).to_string();
            s.cmd(
                "$ sudo statswatch -json",
                &[statswatch(), "-json", "-pin-path", &pin_dir],
            );
            let pipeline = format!(
                "{} -json -percpu -pin-path {pin_dir} | jq -c '.actions[2]'",
                statswatch()
            );
            s.cmd(
                "$ sudo statswatch -json -percpu | jq -c '.actions[2]'",
                &["sh", "-c", &pipeline],
            );
            s.text = only_two_cpus(&s.text);
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-watch-terminal",
        doc: "docs/operations.md",
        mask: mask_watch,
        run: |s| {
            let net = loaded(s);
            let pin_dir = path_str(&net.pin_dir).to_string();
            // statswatch on a terminal of its own (script(1) gives it a pseudo-terminal);
            // Ctrl-C is typed into that terminal, which echoes it as ^C and sends SIGINT to
            // its foreground process group. script runs `$SHELL -c`, and a shell that forks
            // instead of exec'ing (dash, when SHELL is unset) would die of that SIGINT
            // itself: exec leaves statswatch alone to catch it.
            let inner = format!("exec {} -watch -pin-path {pin_dir}", statswatch());
            let mut view = Live::spawn(&["script", "-q", "-e", "-c", &inner, "/dev/null"]);
            // The first frame (with its "Found map" line above) and the second, drawn
            // over it: 7 lines each, the second starting with its cursor movement.
            view.until(|out| out.matches("XDP_REDIRECT").count() >= 1);
            net_send(&net, 0, 50);
            view.until(|out| out.matches("XDP_REDIRECT").count() >= 2);
            view.type_in(b"\x03");
            let (out, status) = view.finish();
            // However the view ends, the cursor is shown again: the last thing written.
            assert!(
                out.trim_end().ends_with("\x1b[?25h"),
                "statswatch did not show the cursor again at the end: {out:?}"
            );
            s.line("$ sudo statswatch -watch");
            s.text.push_str(&render_terminal(&out));
            s.last_status = status;
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-watch-pipe",
        doc: "docs/operations.md",
        mask: mask_watch,
        run: |s| {
            let net = loaded(s);
            let pin_dir = path_str(&net.pin_dir).to_string();
            // Standard output is a pipe (to this test), as with `| cat`.
            let mut view =
                Live::spawn(&[statswatch(), "-watch", "-count", "3", "-pin-path", &pin_dir]);
            view.until(lines_at_least(1 + 7));
            net_send(&net, 0, 10);
            view.until(lines_at_least(1 + 2 * 7));
            net_send(&net, 1, 10);
            let (out, status) = view.finish();
            s.line("$ sudo statswatch -watch -count 3 | cat");
            s.text.push_str(&out);
            s.last_status = status;
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-watch-json",
        doc: "docs/operations.md",
        mask: mask_json,
        run: |s| {
            let net = loaded(s);
            let pin_dir = path_str(&net.pin_dir).to_string();
            let mut view = Live::spawn(&[
                statswatch(),
                "-watch",
                "-json",
                "-interval",
                "0.5",
                "-count",
                "3",
                "-pin-path",
                &pin_dir,
            ]);
            view.until(lines_at_least(1));
            net_send(&net, 0, 4);
            view.until(lines_at_least(2));
            net_send(&net, 1, 5);
            let (out, status) = view.finish();
            s.line("$ sudo statswatch -watch -json -interval 0.5 -count 3");
            s.text.push_str(&out);
            s.last_status = status;
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-watch-replaced",
        doc: "docs/operations.md",
        mask: mask_watch,
        run: |s| {
            let net = loaded(s);
            let pin_dir = path_str(&net.pin_dir).to_string();
            let stats_pin = net.pin("stats_map");
            let mut view = Live::spawn(&[statswatch(), "-watch", "-pin-path", &pin_dir]);
            // "Found map", then 7 lines a frame.
            view.until(lines_at_least(1 + 7));
            net_send(&net, 0, 1);
            view.until(lines_at_least(1 + 2 * 7));
            std::fs::remove_file(&stats_pin).expect("remove the stats_map pin");
            view.until(|out| out.contains("any more"));
            // What scripts/start.sh runs again: xdploader reuses the pinned jmp_map and
            // if_redirect and pins a new stats_map.
            net.load_ok();
            // The two notices, then the new map's first frame.
            view.until(lines_at_least(1 + 2 * 7 + 2 + 7));
            net_send(&net, 0, 3);
            view.until(lines_at_least(1 + 2 * 7 + 2 + 2 * 7));
            view.interrupt();
            let (out, status) = view.finish();
            assert_eq!(status, 0, "statswatch -watch ended by SIGINT: {out}");
            s.line(
                "$ sudo statswatch -watch >watch.log &     # then: rm, scripts/start.sh, traffic, kill -INT %1",
            );
            s.line("$ cat watch.log");
            s.text.push_str(&out);
            s.last_status = status;
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-by-name",
        doc: "docs/operations.md",
        run: |s| {
            let net = loaded(s);
            let pin_dir = path_str(&net.pin_dir).to_string();
            let demo = net.pin("demo");
            let demo = path_str(&demo).to_string();
            // The doc's commands search /sys/fs/bpf (-pin-path's default): here they search
            // the test's own pin directory, which stands for it, not the whole machine's.
            s.cmd(
                "$ sudo statswatch -m stats_map",
                &[statswatch(), "-m", "stats_map", "-pin-path", &pin_dir],
            );
            s.cmd(
                "$ sudo statswatch -m no_such_map",
                &[statswatch(), "-m", "no_such_map", "-pin-path", &pin_dir],
            );
            s.echo_status();
            s.cmd("$ sudo mkdir /sys/fs/bpf/demo", &["mkdir", &demo]);
            let stats_pin = net.pin("stats_map");
            let counters = format!("{demo}/counters");
            s.cmd(
                "$ sudo bpftool map pin pinned /sys/fs/bpf/stats_map /sys/fs/bpf/demo/counters",
                &[
                    "bpftool",
                    "map",
                    "pin",
                    "pinned",
                    path_str(&stats_pin),
                    &counters,
                ],
            );
            s.cmd(
                "$ sudo statswatch -m stats_map -pin-path /sys/fs/bpf/demo",
                &[statswatch(), "-m", "stats_map", "-pin-path", &demo],
            );
            let other = format!("{demo}/other");
            s.cmd(
                "$ sudo bpftool map create /sys/fs/bpf/demo/other type percpu_array key 4 value 16 entries 5 name stats_map",
                &[
                    "bpftool", "map", "create", &other, "type", "percpu_array", "key", "4",
                    "value", "16", "entries", "5", "name", "stats_map",
                ],
            );
            s.cmd(
                "$ sudo statswatch -m stats_map -pin-path /sys/fs/bpf/demo",
                &[statswatch(), "-m", "stats_map", "-pin-path", &demo],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-not-a-stats-map",
        doc: "docs/operations.md",
        run: |s| {
            let net = loaded(s);
            let jmp_map = net.pin("jmp_map");
            s.cmd(
                "$ sudo statswatch -file /sys/fs/bpf/jmp_map",
                &[statswatch(), "-file", path_str(&jmp_map)],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-prometheus",
        doc: "docs/operations.md",
        mask: mask_prometheus,
        run: |s| {
            let net = loaded(s);
            let pin_dir = path_str(&net.pin_dir).to_string();
            // In the test's namespace: its loopback has port 9435 free, and its interfaces
            // are the ones xdp_program_info lists.
            let argv = with_netns(&net, &[statswatch(), "-prometheus", "-pin-path", &pin_dir]);
            let mut exporter = Live::spawn(&strs(&argv));
            exporter.until(lines_at_least(1));
            let serving = String::from_utf8_lossy(&exporter.got).into_owned();
            s.line("$ sudo statswatch -prometheus &");
            s.text.push_str(&serving);
            s.cmd_in(
                &net,
                "$ curl -s http://127.0.0.1:9435/metrics",
                &["curl", "-s", "http://127.0.0.1:9435/metrics"],
            );
            let openmetrics = "curl -s -H 'Accept: application/openmetrics-text' http://127.0.0.1:9435/metrics | grep -v '^xdp_action_bytes'";
            s.cmd_in(
                &net,
                &format!("$ {openmetrics}"),
                &["sh", "-c", openmetrics],
            );
            exporter.interrupt();
            let (out, status) = exporter.finish();
            assert_eq!(status, 0, "statswatch -prometheus ended by SIGINT: {out}");
            s.line("$ kill -INT %1");
            s.text
                .push_str(out.strip_prefix(serving.as_str()).unwrap_or(&out));
            s.last_status = status;
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-strace",
        doc: "docs/operations.md",
        mask: mask_strace,
        run: |s| {
            let swdoc = support::PinDir::new("swdoc");
            s.name(swdoc.as_str(), "/sys/fs/bpf/swdoc");
            quietly(&[
                xdploader(),
                "-file",
                "kern/xdp.elf",
                "-load-only",
                "-pin-path",
                swdoc.as_str(),
            ]);
            let traced = format!(
                "strace -e trace=bpf {} -file {} >/dev/null",
                statswatch(),
                path_str(&swdoc.join("stats_map"))
            );
            s.cmd(
                "$ sudo strace -e trace=bpf statswatch -file /sys/fs/bpf/swdoc/stats_map >/dev/null",
                &["sh", "-c", &traced],
            );
        },
        ..Case::BASE
    },
];

root_transcripts! {
    transcript_statswatch_by_name => "statswatch-by-name",
    transcript_statswatch_not_a_stats_map => "statswatch-not-a-stats-map",
    transcript_statswatch_strace => "statswatch-strace",
    transcript_statswatch_prometheus => "statswatch-prometheus",
    transcript_statswatch_once => "statswatch-once",
    transcript_statswatch_percpu => "statswatch-percpu",
    transcript_statswatch_json => "statswatch-json",
    transcript_statswatch_watch_terminal => "statswatch-watch-terminal",
    transcript_statswatch_watch_pipe => "statswatch-watch-pipe",
    transcript_statswatch_watch_json => "statswatch-watch-json",
    transcript_statswatch_watch_replaced => "statswatch-watch-replaced",
}
