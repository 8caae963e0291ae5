//! DATASEC fixup: what libbpf's `btf_fixup_datasec` does before BTF goes to the kernel.
//!
//! clang cannot know where the linker puts things, so it emits every DATASEC
//! (`.data`, `.bss`, `.rodata`, `.maps`, `license`, ...) with size 0, and the
//! global variables in it at offset 0. The kernel wants the real section size and
//! each variable at its place, in increasing offset order.

use super::{Btf, BtfError, BtfKind};

/// `BTF_VAR_STATIC`: a `static` variable. clang emits its offset itself.
const VAR_STATIC: u32 = 0;
/// `BTF_VAR_GLOBAL_EXTERN`: an `extern` resolved by the loader, not by the ELF.
const VAR_GLOBAL_EXTERN: u32 = 2;

/// Extern-backing DATASECs: libbpf fills them from its extern handling, and not
/// every extern has an ELF symbol, so they are only sorted here.
const EXTERN_DATASECS: [&str; 2] = [".kconfig", ".ksyms"];

impl Btf {
    /// Gives each DATASEC its size and its variables their offsets, from the ELF.
    ///
    /// `section_size(name)` is the size of the ELF section `name`;
    /// `symbol_offset(section, var)` is the value of the symbol `var` defined in
    /// section `section`. Both get the DATASEC name as written in BTF (`.maps`,
    /// `.rodata`, `license`, ...).
    ///
    /// As libbpf does: a DATASEC that already has a size (the output of the BPF
    /// static linker) keeps its size and offsets; one with size 0 takes its size
    /// from the section of the same name (an error naming the DATASEC when there
    /// is none, or it is empty), and each global variable its offset from its
    /// symbol (an error naming DATASEC and variable when there is none). `static`
    /// variables take the symbol's value when there is one and otherwise keep the
    /// offset clang gave them; `extern` variables and the `.kconfig`/`.ksyms`
    /// DATASECs are left alone. Every variable must then fit in its section, and the
    /// entries are sorted by offset, which the kernel requires.
    pub fn fixup_datasecs(
        &mut self,
        section_size: impl Fn(&str) -> Option<u32>,
        symbol_offset: impl Fn(&str, &str) -> Option<u32>,
    ) -> Result<(), BtfError> {
        for index in 0..self.types.len() {
            let Some(ty) = self.types.get(index) else {
                break;
            };
            let BtfKind::Datasec { size, vars } = &ty.kind else {
                continue;
            };
            let datasec = self.string(ty.name_off)?.to_owned();
            let mut size = *size;
            let mut vars = vars.clone();

            if !EXTERN_DATASECS.contains(&datasec.as_str()) {
                let fix = size == 0;
                if fix {
                    size = section_size(&datasec)
                        .filter(|&size| size != 0)
                        .ok_or_else(|| BtfError::DatasecWithoutSection {
                            datasec: datasec.clone(),
                        })?;
                }
                for var in &mut vars {
                    let not_var = || BtfError::DatasecEntryNotVar {
                        datasec: datasec.clone(),
                        type_id: var.type_id,
                    };
                    let var_type = self.get(var.type_id).ok_or_else(not_var)?;
                    let BtfKind::Var { linkage, .. } = var_type.kind else {
                        return Err(not_var());
                    };
                    if linkage == VAR_GLOBAL_EXTERN {
                        continue;
                    }
                    let name = self.string(var_type.name_off)?;
                    if fix {
                        match symbol_offset(&datasec, name) {
                            Some(offset) => var.offset = offset,
                            None if linkage == VAR_STATIC => {}
                            None => {
                                return Err(BtfError::DatasecVarWithoutSymbol {
                                    datasec,
                                    var: name.to_owned(),
                                })
                            }
                        }
                    }
                    let fits = var
                        .offset
                        .checked_add(var.size)
                        .is_some_and(|end| end <= size);
                    if !fits {
                        return Err(BtfError::DatasecVarOutOfBounds {
                            datasec,
                            var: name.to_owned(),
                            offset: var.offset,
                            size: var.size,
                            section_size: size,
                        });
                    }
                }
            }
            // Stable: entries at the same offset keep their order.
            vars.sort_by_key(|var| var.offset);

            if let Some(ty) = self.types_mut().get_mut(index) {
                ty.kind = BtfKind::Datasec { size, vars };
            }
        }
        Ok(())
    }
}
