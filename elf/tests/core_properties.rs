//! The CO-RE engine never panics and never loops, whatever BTF and records it gets:
//! random type graphs (with loops, dangling ids, bitfields, anonymous members, enums of
//! both widths), random access strings and kinds, resolved and patched into random
//! instructions, many thousand times from fixed seeds (deterministic, so a failure
//! replays). The cargo-fuzz target `core_relo` does the same from arbitrary bytes.

use elf::btf::core::{find_candidates, patch_insn, resolve, Candidate, CoreKind, Patched};
use elf::btf::{Btf, BtfKind, BtfMember, BtfType};
use elf::insn::Insn;

mod common;
use common::Rng;

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len() as u64) as usize]
}

const NAMES: &[&str] = &[
    "", "s", "s___a", "s___b", "t", "u", "e", "e___x", "A", "B", "A___x", "x", "y", "len",
];

fn empty_btf() -> Btf {
    // A version 1 header with no types and a one-byte string table.
    let mut blob = vec![0x9f, 0xeb, 1, 0];
    for word in [24u32, 0, 0, 0, 1] {
        blob.extend_from_slice(&word.to_le_bytes());
    }
    blob.push(0);
    Btf::parse(&blob).expect("empty BTF")
}

/// A random BTF of up to `count` types whose ids may point anywhere, even past the end.
fn random_btf(rng: &mut Rng, count: u32) -> Btf {
    let mut btf = empty_btf();
    let id = |rng: &mut Rng| rng.below(u64::from(count) + 3) as u32;
    for _ in 0..count {
        let name = btf.add_string(pick(rng, NAMES)).expect("name");
        let members = |rng: &mut Rng, btf: &mut Btf| -> Vec<BtfMember> {
            (0..rng.below(5))
                .map(|_| BtfMember {
                    name_off: btf.add_string(pick(rng, NAMES)).expect("member"),
                    type_id: id(rng),
                    offset: (rng.below(8) as u32) << 24 | rng.below(256) as u32,
                })
                .collect()
        };
        let kind = match rng.below(11) {
            0 => BtfKind::Int {
                size: 1 << rng.below(4),
                encoding: (rng.below(2) as u32) << 24 | (rng.below(3) as u32) << 16 | 32,
            },
            1 => BtfKind::Ptr { target: id(rng) },
            2 => BtfKind::Array {
                elem: id(rng),
                index: id(rng),
                nelems: rng.below(5) as u32,
            },
            3 => BtfKind::Struct {
                size: rng.below(64) as u32,
                members: members(rng, &mut btf),
            },
            4 => BtfKind::Union {
                size: rng.below(64) as u32,
                members: members(rng, &mut btf),
            },
            5 => BtfKind::Enum {
                size: 4,
                values: (0..rng.below(4))
                    .map(|_| {
                        (
                            btf.add_string(pick(rng, NAMES)).expect("e"),
                            rng.next() as i32,
                        )
                    })
                    .collect(),
            },
            6 => BtfKind::Enum64 {
                size: 8,
                values: (0..rng.below(4))
                    .map(|_| (btf.add_string(pick(rng, NAMES)).expect("e"), rng.next()))
                    .collect(),
            },
            7 => BtfKind::Typedef { target: id(rng) },
            8 => BtfKind::Const { target: id(rng) },
            9 => BtfKind::Fwd {
                is_union: rng.below(2) == 1,
            },
            _ => BtfKind::FuncProto {
                ret: id(rng),
                params: (0..rng.below(3)).map(|_| (0, id(rng))).collect(),
            },
        };
        btf.push_type(BtfType {
            name_off: name,
            kind_flag: rng.below(2) == 1,
            kind,
        })
        .expect("type");
    }
    btf
}

fn random_access(rng: &mut Rng) -> String {
    let parts: Vec<String> = (0..rng.below(6))
        .map(|_| match rng.below(10) {
            0 => "x".to_string(),
            1 => String::new(),
            2 => "4294967296".to_string(),
            _ => rng.below(5).to_string(),
        })
        .collect();
    parts.join(":")
}

fn random_insns(rng: &mut Rng) -> Vec<Insn> {
    const CODES: &[u8] = &[
        0xb7, 0x07, 0xbf, 0x61, 0x69, 0x79, 0x63, 0x7a, 0x18, 0x00, 0x95, 0x85,
    ];
    (0..1 + rng.below(6))
        .map(|_| Insn {
            code: CODES[rng.below(CODES.len() as u64) as usize],
            regs: rng.below(256) as u8,
            off: rng.below(64) as i16 - 8,
            imm: rng.below(64) as i32 - 8,
        })
        .collect()
}

#[test]
fn random_btf_and_records_never_panic() {
    let mut rng = Rng(0x5eed_c0de_1234_5678);
    let mut resolved = 0;
    let mut poisoned = 0;
    let mut matched = 0;
    for _ in 0..20_000 {
        let (local_count, target_count) = (1 + rng.below(12) as u32, 1 + rng.below(12) as u32);
        let local = random_btf(&mut rng, local_count);
        // A third of the time the target is unrelated; otherwise it is the local BTF,
        // as is or with members moved, so that candidates match and values differ.
        let target = match rng.below(3) {
            0 => random_btf(&mut rng, target_count),
            choice => {
                let mut target = local.clone();
                for id in 1..=target.type_count() as u32 {
                    let moved = choice == 2 && rng.below(2) == 0;
                    if let Some(BtfType {
                        kind: BtfKind::Struct { members, .. } | BtfKind::Union { members, .. },
                        ..
                    }) = target.get_mut(id)
                    {
                        for member in members.iter_mut().filter(|_| moved) {
                            member.offset = member.offset.wrapping_add(rng.below(64) as u32 * 8);
                        }
                    }
                }
                target
            }
        };
        let type_id = rng.below(local.type_count() as u64 + 2) as u32;
        let kind = rng.below(14) as u32;
        let access = if rng.below(3) == 0 {
            "0".to_string()
        } else {
            random_access(&mut rng)
        };
        let ids = find_candidates(&local, type_id, &target, 1).unwrap_or_default();
        let candidates: Vec<Candidate<'_>> = ids
            .iter()
            .map(|&type_id| Candidate {
                btf: &target,
                type_id,
                origin: "target",
            })
            .collect();
        let Ok(resolution) = resolve(&local, type_id, &access, kind, &candidates) else {
            continue;
        };
        resolved += 1;
        matched += usize::from(resolution.target.is_some());
        let kind = CoreKind::from_u32(kind).expect("a resolved kind is known");
        if matches!(
            kind,
            CoreKind::FieldExists
                | CoreKind::TypeExists
                | CoreKind::TypeMatches
                | CoreKind::EnumvalExists
        ) {
            assert!(!resolution.poison, "existence is never poisoned");
            assert!(resolution.new_value <= 1, "{resolution:?}");
        }
        let mut insns = random_insns(&mut rng);
        let index = rng.below(insns.len() as u64 + 1) as usize;
        if let Ok(Patched::Poisoned) = patch_insn(&mut insns, index, &resolution) {
            poisoned += 1;
            assert_eq!(insns[index].imm, 0x0bad_2310);
        }
    }
    // The generator reaches the engine's inside, not only its input checks.
    assert!(resolved > 1_000, "only {resolved} resolved");
    assert!(poisoned > 10, "only {poisoned} poisoned");
    assert!(matched > 500, "only {matched} matched a candidate");
    eprintln!("{resolved} resolved, {matched} matched a candidate, {poisoned} poisoned");
}
