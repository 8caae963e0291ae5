//! Linking a program: append every bpf function it reaches (transitively) after its own
//! instructions and point its calls and function addresses at the copies.

use std::collections::HashMap;

use crate::btf::{CoreRelo, FuncInfo, LineInfo};
use crate::insn::{Insn, INSN_SIZE};
use crate::object::{CodeSection, Object};
use crate::program::ProgramSpec;
use crate::reloc::{RelocTarget, Relocation, UnsupportedFeature, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC};

/// A stretch of a code section copied into a linked program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedFunction {
    /// The function's name (the program's own name for the first one).
    pub name: String,
    pub section_index: usize,
    /// First instruction and length, in the section's own instruction indexes.
    pub start: usize,
    pub len: usize,
    /// Where its first instruction landed in the linked program.
    pub placed_at: usize,
}

/// A program ready for relocation against live maps: its instructions and those of every
/// function it reaches, with only map references left to patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedProgram {
    pub insns: Vec<Insn>,
    /// `Map` and `MapValue` relocations, indexed into `insns`.
    pub relocations: Vec<Relocation>,
    /// The program first, then each function in the order it was appended.
    pub functions: Vec<PlacedFunction>,
    /// `bpf_func_info` records with `insn_off` in linked instructions (empty without BTF).
    pub func_info: Vec<FuncInfo>,
    /// `bpf_line_info` records with `insn_off` in linked instructions, in order.
    pub line_info: Vec<LineInfo>,
    /// The CO-RE relocations of every placed function, at linked instruction indexes,
    /// in order; the loader computes them against the kernel's BTF
    /// ([`crate::btf::core`]). Each function's own are kept, so a `.text` function
    /// two programs call is relocated in each copy.
    pub core_relos: Vec<LinkedCoreRelo>,
}

/// A `.BTF.ext` CO-RE record of a linked program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedCoreRelo {
    /// The instruction in the linked program (`insn_off / 8`, rebased).
    pub insn_index: usize,
    /// The ELF section the record belongs to.
    pub section: String,
    /// The function the instruction is in.
    pub function: String,
    /// The record as the object holds it (`insn_off` still a section byte offset:
    /// one that is not a multiple of 8 is an error the loader reports).
    pub record: CoreRelo,
}

/// Why a program cannot be linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError {
    pub program: String,
    /// Instruction index inside the function named `function`.
    pub insn_index: usize,
    pub function: String,
    pub symbol: String,
    pub feature: UnsupportedFeature,
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "program {} uses {} (symbol `{}`, instruction {} of {}), which this loader does not support yet",
            self.program, self.feature, self.symbol, self.insn_index, self.function
        )
    }
}

impl std::error::Error for LinkError {}

/// The function of `section` that `target` lands in: (start, len, name).
fn function_at(section: &CodeSection, target: usize) -> Option<(usize, usize, String)> {
    section
        .functions
        .iter()
        .find(|function| target >= function.start && target < function.start + function.len)
        .map(|function| (function.start, function.len, function.name.clone()))
}

impl Object {
    /// Links `program` with every function it calls or takes the address of.
    pub fn link(&self, program: &ProgramSpec) -> Result<LinkedProgram, LinkError> {
        let first = PlacedFunction {
            name: program.name.clone(),
            section_index: program.section_index,
            start: (program.section_offset / crate::insn::INSN_SIZE as u64) as usize,
            len: program.insns.len(),
            placed_at: 0,
        };
        let mut linked = LinkedProgram {
            insns: program.insns.clone(),
            relocations: Vec::new(),
            functions: vec![first],
            func_info: Vec::new(),
            line_info: Vec::new(),
            core_relos: Vec::new(),
        };
        // (section, function start) -> where it was placed.
        let mut placed: HashMap<(usize, usize), usize> = HashMap::new();
        placed.insert((program.section_index, linked.functions[0].start), 0);

        let mut next = 0;
        while next < linked.functions.len() {
            let unit = linked.functions[next].clone();
            next += 1;
            let Some(section) = self.code_section(unit.section_index) else {
                continue;
            };
            for (&index, relocation) in section.relocations.range(unit.start..unit.start + unit.len)
            {
                let at = unit.placed_at + (index - unit.start);
                let unsupported = |feature: UnsupportedFeature| LinkError {
                    program: program.name.clone(),
                    insn_index: index - unit.start,
                    function: unit.name.clone(),
                    symbol: relocation.symbol.clone(),
                    feature,
                };
                match &relocation.target {
                    RelocTarget::Map { .. }
                    | RelocTarget::MapValue { .. }
                    | RelocTarget::Ksym { .. }
                    | RelocTarget::KfuncCall { .. } => {
                        linked.relocations.push(Relocation {
                            insn_index: at,
                            ..relocation.clone()
                        });
                    }
                    RelocTarget::Call {
                        section_index,
                        target_insn,
                    }
                    | RelocTarget::FuncAddr {
                        section_index,
                        target_insn,
                    } => {
                        let target_section = self
                            .code_section(*section_index)
                            .ok_or_else(|| unsupported(UnsupportedFeature::BadCallTarget))?;
                        let (start, len, name) = function_at(target_section, *target_insn)
                            .ok_or_else(|| unsupported(UnsupportedFeature::BadCallTarget))?;
                        let base = match placed.get(&(*section_index, start)) {
                            Some(&base) => base,
                            None => {
                                let base = linked.insns.len();
                                linked
                                    .insns
                                    .extend_from_slice(&target_section.insns[start..start + len]);
                                linked.functions.push(PlacedFunction {
                                    name,
                                    section_index: *section_index,
                                    start,
                                    len,
                                    placed_at: base,
                                });
                                placed.insert((*section_index, start), base);
                                base
                            }
                        };
                        let destination = (base + (target_insn - start)) as i64;
                        let imm = i32::try_from(destination - at as i64 - 1)
                            .map_err(|_| unsupported(UnsupportedFeature::BadCallTarget))?;
                        let is_call = matches!(relocation.target, RelocTarget::Call { .. });
                        let insn = &mut linked.insns[at];
                        insn.imm = imm;
                        if is_call {
                            insn.set_src_reg(BPF_PSEUDO_CALL);
                        } else {
                            insn.set_src_reg(BPF_PSEUDO_FUNC);
                            if let Some(second) = linked.insns.get_mut(at + 1) {
                                second.imm = 0;
                            }
                        }
                    }
                    RelocTarget::Unsupported { feature } => {
                        return Err(unsupported(feature.clone()))
                    }
                }
            }
        }
        self.add_ext_info(&mut linked);
        Ok(linked)
    }

    /// Carries each placed function's func_info and line_info over, rebased to linked
    /// instruction indexes, and the CO-RE relocations with them.
    fn add_ext_info(&self, linked: &mut LinkedProgram) {
        let (Some(ext), Some(_)) = (&self.btf_ext, &self.btf) else {
            return;
        };
        for unit in &linked.functions {
            let Some(section) = self.code_section(unit.section_index) else {
                continue;
            };
            let byte_range =
                (unit.start * INSN_SIZE) as u64..((unit.start + unit.len) * INSN_SIZE) as u64;
            let rebase = |insn_off: u32| -> u32 {
                (unit.placed_at + (insn_off as usize / INSN_SIZE - unit.start)) as u32
            };
            linked.core_relos.extend(
                ext.core_relos_for(&section.name)
                    .filter(|relo| byte_range.contains(&u64::from(relo.insn_off)))
                    .map(|relo| LinkedCoreRelo {
                        insn_index: rebase(relo.insn_off) as usize,
                        section: section.name.clone(),
                        function: unit.name.clone(),
                        record: *relo,
                    }),
            );
            linked.func_info.extend(
                ext.func_info_for(&section.name)
                    .filter(|info| byte_range.contains(&u64::from(info.insn_off)))
                    .map(|info| FuncInfo {
                        insn_off: rebase(info.insn_off),
                        ..*info
                    }),
            );
            linked.line_info.extend(
                ext.line_info_for(&section.name)
                    .filter(|info| byte_range.contains(&u64::from(info.insn_off)))
                    .map(|info| LineInfo {
                        insn_off: rebase(info.insn_off),
                        ..*info
                    }),
            );
        }
        linked.func_info.sort_by_key(|info| info.insn_off);
        linked.line_info.sort_by_key(|info| info.insn_off);
        linked.core_relos.sort_by_key(|relo| relo.insn_index);
    }
}
