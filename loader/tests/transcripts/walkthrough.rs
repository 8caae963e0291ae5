//! The transcripts of docs/walkthrough.md.

use super::*;

pub const CASES: &[Case] = &[Case {
    name: "dump",
    doc: "docs/walkthrough.md",
    needs: Needs::Nothing,
    from: None,
    skip: &[],
    mask_counters: false,
    mask: no_mask,
    run: |s| {
        s.cmd(
            "$ xdploader -file kern/xdp.elf -dump",
            &[xdploader(), "-file", "kern/xdp.elf", "-dump"],
        )
    },
}];

plain_transcripts! {
    transcript_dump => "dump",
}
