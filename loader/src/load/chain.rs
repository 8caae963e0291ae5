//! The tail-call chain, read from the code: which constant slots each program's
//! `bpf_tail_call` jumps to (pure analysis of instructions), the chain described from the
//! entry program, and slots that no program fills caught after a load.

use elf::insn::{Insn, BPF_FUNC_TAIL_CALL};
use elf::{InitialSlot, Object, ProgramSpec};

use crate::error::LoadError;
use crate::load::programs::LoadedChain;
use crate::load::tail_calls::find_prog_array;

/// `BPF_ALU64 | BPF_MOV | BPF_K` and `BPF_ALU | BPF_MOV | BPF_K`: `r = imm`.
const MOV64_IMM: u8 = 0xb7;
const MOV32_IMM: u8 = 0xb4;
/// The register holding `bpf_tail_call`'s index argument.
const R3: u8 = 3;

/// For each `bpf_tail_call` in `insns`, the slot when it is a constant set just before
/// the call (what clang emits for `bpf_tail_call(ctx, &map, N)`), else `None`.
pub fn tail_call_slots(insns: &[Insn]) -> Vec<Option<u32>> {
    insns
        .iter()
        .enumerate()
        .filter(|(_, insn)| insn.is_helper_call(BPF_FUNC_TAIL_CALL))
        .map(|(index, _)| {
            let writer = insns[..index]
                .iter()
                .rev()
                .find(|insn| insn.dst_reg() == R3 && writes_dst(insn));
            match writer {
                Some(insn) if insn.code == MOV64_IMM || insn.code == MOV32_IMM => {
                    u32::try_from(insn.imm).ok()
                }
                _ => None,
            }
        })
        .collect()
}

/// Whether an instruction writes its destination register (ALU, loads).
fn writes_dst(insn: &Insn) -> bool {
    const BPF_CLASS_MASK: u8 = 0x07;
    const BPF_LD: u8 = 0x00;
    const BPF_LDX: u8 = 0x01;
    const BPF_ALU: u8 = 0x04;
    const BPF_ALU64: u8 = 0x07;
    matches!(
        insn.code & BPF_CLASS_MASK,
        BPF_LD | BPF_LDX | BPF_ALU | BPF_ALU64
    )
}

/// A program in the chain: its name and the slots its code jumps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainNode {
    pub name: String,
    pub jumps: Vec<Option<u32>>,
}

/// The chain as lines `a -> [1] b -> [2] c`, one per path from `entry` in slot order,
/// and the slots jumped to that no program fills: (program, slot).
pub fn describe(
    entry: &str,
    nodes: &[ChainNode],
    filled: &[(u32, String)],
) -> (Vec<String>, Vec<(String, u32)>) {
    let mut lines = Vec::new();
    let mut empty = Vec::new();
    walk(
        entry,
        entry.to_string(),
        &mut vec![entry.to_string()],
        nodes,
        filled,
        &mut lines,
        &mut empty,
    );
    (lines, empty)
}

fn walk(
    name: &str,
    line: String,
    visited: &mut Vec<String>,
    nodes: &[ChainNode],
    filled: &[(u32, String)],
    lines: &mut Vec<String>,
    empty: &mut Vec<(String, u32)>,
) {
    let jumps: Vec<u32> = nodes
        .iter()
        .find(|node| node.name == name)
        .map(|node| node.jumps.iter().flatten().copied().collect())
        .unwrap_or_default();
    if jumps.is_empty() {
        lines.push(line);
        return;
    }
    for slot in jumps {
        match filled.iter().find(|(filled_slot, _)| *filled_slot == slot) {
            Some((_, target)) if !visited.contains(target) => {
                visited.push(target.clone());
                walk(
                    target,
                    format!("{line} -> [{slot}] {target}"),
                    visited,
                    nodes,
                    filled,
                    lines,
                    empty,
                );
                visited.pop();
            }
            Some((_, target)) => lines.push(format!("{line} -> [{slot}] {target} (loop)")),
            None => {
                if !empty.contains(&(name.to_string(), slot)) {
                    empty.push((name.to_string(), slot));
                }
                lines.push(format!("{line} -> [{slot}] (empty)"));
            }
        }
    }
}

/// Reads the tail-call slots each loaded program's code jumps to, tells `say` the chain,
/// and warns (or with `strict`, fails) about slots that no program fills.
pub fn check_chain(
    object: &Object,
    entry: &ProgramSpec,
    chain: &LoadedChain<'_>,
    strict: bool,
    say: &mut dyn FnMut(String),
) -> Result<(), LoadError> {
    let names: Vec<&str> = chain
        .all(&entry.name)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let nodes: Vec<ChainNode> = names
        .iter()
        .filter_map(|name| object.program(name))
        .map(|program| ChainNode {
            name: program.name.clone(),
            jumps: object
                .link(program)
                .map(|linked| tail_call_slots(&linked.insns))
                .unwrap_or_default(),
        })
        .collect();
    if nodes.iter().all(|node| node.jumps.is_empty()) {
        return Ok(());
    }
    let mut filled: Vec<(u32, String)> = chain
        .tail_calls
        .iter()
        .map(|(slot, name, _)| (*slot, name.to_string()))
        .collect();
    for map in &object.maps {
        for (slot, target) in &map.initial_slots {
            if let InitialSlot::Program(name) = target {
                filled.push((*slot, name.clone()));
            }
        }
    }
    let (lines, empty) = describe(&entry.name, &nodes, &filled);
    for line in lines {
        say(format!("Tail-call chain: {line}"));
    }
    let prog_array = find_prog_array(object, entry).ok().map_or_else(
        || "the prog array".to_string(),
        |index| object.maps[index].name.clone(),
    );
    for (program, slot) in empty {
        if strict {
            return Err(LoadError::EmptyTailCallSlot {
                program,
                slot,
                map: prog_array,
            });
        }
        say(format!(
            "Warning: {program} tail-calls slot {slot} of {prog_array}, which no program fills"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u8, regs: u8, imm: i32) -> Insn {
        Insn {
            code,
            regs,
            off: 0,
            imm,
        }
    }

    #[test]
    fn finds_constant_slots() {
        let call = insn(0x85, 0, BPF_FUNC_TAIL_CALL);
        let insns = [
            insn(MOV64_IMM, R3, 1),
            insn(0xbf, 0x61, 0), // r1 = r6
            call,
            insn(0xbf, 0x73, 0), // r3 = r7 (not a constant)
            call,
            insn(0x95, 0, 0),
        ];
        assert_eq!(tail_call_slots(&insns), vec![Some(1), None]);
    }

    #[test]
    fn describes_the_chain_and_empty_slots() {
        let nodes = [
            ChainNode {
                name: "e".into(),
                jumps: vec![Some(1)],
            },
            ChainNode {
                name: "e_1".into(),
                jumps: vec![Some(2), Some(3)],
            },
            ChainNode {
                name: "e_2".into(),
                jumps: vec![],
            },
        ];
        let filled = [(1, "e_1".to_string()), (2, "e_2".to_string())];
        let (lines, empty) = describe("e", &nodes, &filled);
        assert_eq!(
            lines,
            ["e -> [1] e_1 -> [2] e_2", "e -> [1] e_1 -> [3] (empty)"]
        );
        assert_eq!(empty, [("e_1".to_string(), 3)]);
    }
}
