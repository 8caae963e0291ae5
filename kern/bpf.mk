# The flags every eBPF object of this repository is built with: kern/, its
# exercises and the test fixtures include this file.
CLANG ?= clang
MULTIARCH := $(shell gcc -print-multiarch)

# clang -target bpf on Debian finds <asm/types.h> only under the multiarch dir.
# Source paths relative to the folder make runs in, so an object (its BTF, its
# line info) is byte-for-byte the same wherever the repository is cloned.
BPF_CFLAGS := -O2 -g -Wall -target bpf -I/usr/include/$(MULTIARCH) -ffile-prefix-map=$(CURDIR)=.
