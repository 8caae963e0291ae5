#!/usr/bin/env bash
# Builds the seed corpora from the objects this repository and libxdp1 provide:
# whole objects for parse_object, their .BTF and .BTF.ext sections for the others.
# Run from anywhere after `make -C kern all debug`, `make -C elf/tests/fixtures`
# and `make -C loader/tests/fixtures`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
mkdir -p "$here"/seeds/{parse_object,parse_btf,parse_btf_ext}
for object in "$root"/kern/*.elf "$root"/elf/tests/fixtures/*.elf "$root"/loader/tests/fixtures/*.elf /usr/lib/*/bpf/*.o; do
    [ -f "$object" ] || continue
    name="$(basename "$object")"
    cp "$object" "$here/seeds/parse_object/$name"
    llvm-objcopy --dump-section ".BTF=$here/seeds/parse_btf/$name.btf" "$object" /dev/null 2>/dev/null || true
    llvm-objcopy --dump-section ".BTF.ext=$here/seeds/parse_btf_ext/$name.ext" "$object" /dev/null 2>/dev/null || true
done
echo "seeds: $(find "$here/seeds" -type f | wc -l) files in $here/seeds"
