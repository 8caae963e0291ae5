#!/usr/bin/env bash
# Builds the seed corpora from the objects this repository and libxdp1 provide:
# whole objects for parse_object, their .BTF and .BTF.ext sections for the others.
# Run from anywhere after `make -C kern all debug`, `make -C elf/tests/fixtures`
# and `make -C loader/tests/fixtures`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
mkdir -p "$here"/seeds/{parse_object,parse_btf,parse_btf_ext,core_relo}
for object in "$root"/kern/*.elf "$root"/elf/tests/fixtures/*.elf "$root"/loader/tests/fixtures/*.elf /usr/lib/*/bpf/*.o; do
    [ -f "$object" ] || continue
    name="$(basename "$object")"
    cp "$object" "$here/seeds/parse_object/$name"
    llvm-objcopy --dump-section ".BTF=$here/seeds/parse_btf/$name.btf" "$object" /dev/null 2>/dev/null || true
    llvm-objcopy --dump-section ".BTF.ext=$here/seeds/parse_btf_ext/$name.ext" "$object" /dev/null 2>/dev/null || true
done
# core_relo: u32 length + .BTF (local), u32 0 (the target is the local BTF again),
# then .BTF.ext, for every object that has both sections.
for btf in "$here"/seeds/parse_btf/*.btf; do
    name="$(basename "$btf" .btf)"
    ext="$here/seeds/parse_btf_ext/$name.ext"
    [ -f "$ext" ] || continue
    {
        perl -e 'print pack("V", -s $ARGV[0])' "$btf"
        cat "$btf"
        perl -e 'print pack("V", 0)'
        cat "$ext"
    } > "$here/seeds/core_relo/$name.core"
done
echo "seeds: $(find "$here/seeds" -type f | wc -l) files in $here/seeds"
