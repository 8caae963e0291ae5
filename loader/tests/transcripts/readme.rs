//! The transcripts of README.md.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "start-load",
        doc: "README.md",
        needs: Needs::Root,
        from: Some("+ /home/you/xdp-skeleton/target/release/xdploader"),
        skip: &[],
        mask_counters: false,
        mask: no_mask,
        run: |s| {
            let net = TestNet::new();
            s.net_names(&net);
            s.name(path_str(&repo_root()).to_string(), "/home/you/xdp-skeleton");
            s.line("+ /home/you/xdp-skeleton/target/release/xdploader -file /home/you/xdp-skeleton/kern/xdp.elf -i veth1");
            let pin_dir = path_str(&net.pin_dir).to_string();
            let object = xdp_object();
            let argv = [
                xdploader(),
                "-file",
                path_str(&object),
                "-i",
                &net.xdp_if,
                "-pin-path",
                &pin_dir,
            ];
            let netns = format!("--net=/run/netns/{}", net.xdp_ns);
            let mut all = vec!["nsenter", netns.as_str()];
            all.extend_from_slice(&argv);
            // The trace line above stands for the command: record only the output.
            let before = s.text.len();
            s.cmd("", &all);
            s.text.replace_range(before..before + 1, "");
        },
    },
    Case {
        name: "statswatch-demo",
        doc: "README.md",
        needs: Needs::Root,
        from: None,
        skip: &[],
        mask_counters: true,
        mask: no_mask,
        run: |s| {
            let net = TestNet::new();
            s.net_names(&net);
            net.load_ok();
            net.send_udp(11, 45);
            let pin = path_str(&net.pin("stats_map")).to_string();
            s.cmd(
                "$ sudo target/release/statswatch -file /sys/fs/bpf/stats_map",
                &[statswatch(), "-file", &pin],
            );
        },
    },
];

root_transcripts! {
    transcript_start_load => "start-load",
    transcript_statswatch_demo => "statswatch-demo",
}
