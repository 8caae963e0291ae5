//! The transcripts of docs/operations.md.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "status-link",
        doc: "docs/operations.md",
        needs: Needs::Root,
        from: None,
        skip: &[],
        mask_counters: false,
        mask: no_mask,
        run: |s| {
            let net = TestNet::new();
            s.net_names(&net);
            let pin_dir = path_str(&net.pin_dir).to_string();
            s.quietly_owned(&with_netns(
                &net,
                &load_args(&net, &pin_dir, &["-mode", "drv", "-link"]),
            ));
            s.cmd_in(
                &net,
                "$ sudo xdploader -status -i veth1",
                &[
                    xdploader(),
                    "-status",
                    "-i",
                    &net.xdp_if,
                    "-pin-path",
                    &pin_dir,
                ],
            );
        },
    },
    Case {
        name: "status-json-detached",
        doc: "docs/operations.md",
        needs: Needs::Root,
        from: None,
        skip: &[],
        mask_counters: false,
        mask: no_mask,
        run: |s| {
            let net = TestNet::new();
            s.net_names(&net);
            let pin_dir = path_str(&net.pin_dir).to_string();
            s.cmd_in(
                &net,
                "$ sudo xdploader -status -i veth1 -json",
                &[
                    xdploader(),
                    "-status",
                    "-i",
                    &net.xdp_if,
                    "-json",
                    "-pin-path",
                    &pin_dir,
                ],
            );
        },
    },
    Case {
        name: "detach-link",
        doc: "docs/operations.md",
        needs: Needs::Root,
        from: None,
        // Machine-wide state: other pins and links of the machine.
        skip: &["$ sudo ls /sys/fs/bpf", "$ sudo bpftool link show"],
        mask_counters: false,
        mask: no_mask,
        run: |s| {
            let net = TestNet::new();
            s.net_names(&net);
            let pin_dir = path_str(&net.pin_dir).to_string();
            s.quietly_owned(&with_netns(
                &net,
                &load_args(&net, &pin_dir, &["-mode", "drv", "-link"]),
            ));
            for _ in 0..2 {
                s.cmd_in(
                    &net,
                    "$ sudo xdploader -detach -i veth1",
                    &[
                        xdploader(),
                        "-detach",
                        "-i",
                        &net.xdp_if,
                        "-pin-path",
                        &pin_dir,
                    ],
                );
            }
            s.echo_status();
        },
    },
    Case {
        name: "detach-keep-maps",
        doc: "docs/operations.md",
        needs: Needs::Root,
        from: None,
        skip: &["$ sudo ls /sys/fs/bpf"],
        mask_counters: false,
        mask: no_mask,
        run: |s| {
            let net = TestNet::new();
            s.net_names(&net);
            let pin_dir = path_str(&net.pin_dir).to_string();
            s.quietly_owned(&with_netns(
                &net,
                &load_args(&net, &pin_dir, &["-mode", "drv"]),
            ));
            s.cmd_in(
                &net,
                "$ sudo xdploader -detach -i veth1 -keep-maps",
                &[
                    xdploader(),
                    "-detach",
                    "-i",
                    &net.xdp_if,
                    "-keep-maps",
                    "-pin-path",
                    &pin_dir,
                ],
            );
        },
    },
];

root_transcripts! {
    transcript_status_link => "status-link",
    transcript_status_json_detached => "status-json-detached",
    transcript_detach_link => "detach-link",
    transcript_detach_keep_maps => "detach-keep-maps",
}
