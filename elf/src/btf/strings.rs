//! The string table of a [`Btf`]: names read by offset, and new strings appended
//! (deduplicated) when the loader adds types.

use super::{Btf, BtfError};

impl Btf {
    /// The offset of `string` in the string table, appending it when it is not there
    /// (to this BTF's own table: a split BTF's base is not searched, nor changed).
    pub fn add_string(&mut self, string: &str) -> Result<u32, BtfError> {
        // Offset 0 must be the empty string.
        if self.strings.is_empty() {
            self.strings.push(0);
        }
        if string.is_empty() && self.strings.first() == Some(&0) {
            return Ok(0);
        }
        let bad = || BtfError::BadNewString {
            string: string.to_owned(),
        };
        if string.as_bytes().contains(&0) {
            return Err(bad());
        }
        if let Some(offset) = self.find_string(string) {
            return Ok(offset);
        }
        let offset = self
            .strings
            .len()
            .checked_add(self.base_strings_len())
            .and_then(|offset| u32::try_from(offset).ok())
            .ok_or_else(bad)?;
        let end = (offset as usize)
            .checked_add(string.len())
            .and_then(|end| end.checked_add(1))
            .filter(|&end| u32::try_from(end).is_ok());
        if end.is_none() {
            return Err(bad());
        }
        self.strings.extend_from_slice(string.as_bytes());
        self.strings.push(0);
        Ok(offset)
    }

    /// The offset of a whole NUL-terminated `string` already in the table.
    pub(super) fn find_string(&self, string: &str) -> Option<u32> {
        let mut start = 0usize;
        for piece in self.strings.split(|&b| b == 0) {
            if piece == string.as_bytes() && start < self.strings.len() {
                return u32::try_from(start.checked_add(self.base_strings_len())?).ok();
            }
            start = start.checked_add(piece.len())?.checked_add(1)?;
        }
        None
    }

    /// The NUL-terminated string at `offset` in the string table.
    pub fn string(&self, offset: u32) -> Result<&str, BtfError> {
        let start = usize::try_from(offset).map_err(|_| BtfError::BadStringOffset { offset })?;
        let Some(rest) = self.strings_at(start).filter(|rest| !rest.is_empty()) else {
            if start == 0 {
                return Ok("");
            }
            return Err(BtfError::BadStringOffset { offset });
        };
        let text = rest.split(|&b| b == 0).next().unwrap_or(rest);
        std::str::from_utf8(text).map_err(|_| BtfError::BadStringOffset { offset })
    }

    /// The string table from `offset` to its end: a name and all that follows it, for
    /// prefix tests that need not find where the name ends.
    pub(crate) fn string_tail(&self, offset: u32) -> Option<&[u8]> {
        self.strings_at(usize::try_from(offset).ok()?)
    }

    /// The bytes from `start` to the end of the table that holds it: the base's for
    /// offsets below its length, this BTF's own past it.
    fn strings_at(&self, start: usize) -> Option<&[u8]> {
        match &self.base {
            Some(base) if start < base.strings.len() => base.strings.get(start..),
            _ => self
                .strings
                .get(start.checked_sub(self.base_strings_len())?..),
        }
    }

    /// The name of type `type_id` (empty for anonymous types and `void`).
    pub fn name(&self, type_id: u32) -> Result<&str, BtfError> {
        match self.get(type_id) {
            Some(ty) => self.string(ty.name_off),
            None => Ok(""),
        }
    }
}
