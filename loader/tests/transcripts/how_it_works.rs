//! The transcripts of docs/how-it-works.md: CO-RE relocations and `__ksym` externs as
//! `-dump` shows them, and a poisoned relocation the verifier reaches.

use super::*;

/// The kernel's values (after `-> `) and type ids differ from kernel to kernel.
fn mask_core_values(line: &str) -> String {
    if !line.starts_with("\tcore_values: insn ") {
        return line.to_string();
    }
    let masked = mask_after(line, "-> ", &[]);
    match masked.split_once("; vmlinux") {
        Some((head, tail)) => format!("{head}; vmlinux{tail}"),
        None => masked,
    }
}

pub const CASES: &[Case] = &[
    Case {
        name: "core-dump",
        doc: "docs/how-it-works.md",
        needs: Needs::Nothing,
        mask: mask_core_values,
        run: |s| {
            let file = "loader/tests/fixtures/core_relocs.elf";
            s.cmd(
                &format!("$ xdploader -file {file} -dump"),
                &[xdploader(), "-file", file, "-dump"],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "ksym-dump",
        doc: "docs/how-it-works.md",
        needs: Needs::Nothing,
        // A kfunc's BTF id differs from kernel to kernel.
        mask: |line| mask_after(line, "BTF id ", &[]),
        run: |s| {
            let file = "loader/tests/fixtures/ksym_weak.elf";
            s.cmd(
                &format!("$ xdploader -file {file} -dump"),
                &[xdploader(), "-file", file, "-dump"],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "core-poison",
        doc: "docs/how-it-works.md",
        run: |s| {
            let file = "loader/tests/fixtures/fault_core_poison.elf";
            s.cmd(
                &format!("$ sudo xdploader -file {file} -load-only"),
                &[xdploader(), "-file", file, "-load-only"],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
];

plain_transcripts! {
    transcript_core_dump => "core-dump",
    transcript_ksym_dump => "ksym-dump",
}

root_transcripts! {
    transcript_core_poison => "core-poison",
}
