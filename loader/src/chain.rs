//! The tail-call chain, read from the code: which constant slots each program's
//! `bpf_tail_call` jumps to. Pure analysis of instructions.

use elf::insn::{Insn, BPF_FUNC_TAIL_CALL};

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

/// The order to load tail-call programs in, as indices into `programs` (each its slot
/// and the slots its own code jumps to): every program after the programs in the slots
/// it jumps to, where that can be. The JIT compiles a tail call with a constant slot
/// into a direct jump, so filling a slot that an already loaded program jumps to makes
/// the kernel rewrite that program's code on the fly (a text poke, which stops every CPU;
/// about 0.1 ms each on a small VM), while a slot filled before its callers are loaded
/// is read once when they are compiled. Cycles keep the order given.
pub fn load_order(programs: &[(u32, Vec<Option<u32>>)]) -> Vec<usize> {
    let mut remaining: Vec<usize> = (0..programs.len()).collect();
    let mut order = Vec::with_capacity(programs.len());
    while !remaining.is_empty() {
        let waits_for_nobody = |&&candidate: &&usize| {
            programs[candidate].1.iter().flatten().all(|jump| {
                !remaining
                    .iter()
                    .any(|&other| other != candidate && programs[other].0 == *jump)
            })
        };
        let next = remaining
            .iter()
            .position(|candidate| waits_for_nobody(&candidate))
            .unwrap_or(0);
        order.push(remaining.remove(next));
    }
    order
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

    #[test]
    fn callees_load_before_their_callers() {
        // slot 1 jumps to 2; slot 2 jumps nowhere: 2 first.
        assert_eq!(load_order(&[(1, vec![Some(2)]), (2, vec![])]), [1, 0]);
        // a -> b -> c given as c, a, b: c, b, a.
        assert_eq!(
            load_order(&[(3, vec![]), (1, vec![Some(2)]), (2, vec![Some(3)])]),
            [0, 2, 1]
        );
        // Unknown (non-constant) slots and slots outside the plan wait for nothing.
        assert_eq!(load_order(&[(1, vec![None, Some(9)]), (2, vec![])]), [0, 1]);
    }

    #[test]
    fn cycles_and_self_calls_keep_the_given_order() {
        assert_eq!(
            load_order(&[(1, vec![Some(2)]), (2, vec![Some(1)])]),
            [0, 1]
        );
        assert_eq!(load_order(&[(1, vec![Some(1)]), (2, vec![])]), [0, 1]);
        assert_eq!(load_order(&[]), Vec::<usize>::new());
    }
}
