#!/usr/bin/env bash
# Builds the MobileViTv3 authors' code, as their README describes it, for
# `tools/analysis_tools/benchmark.py --authors-code DIR`:
#
#   DIR/v1  apple/ml-cvnets d38a116 with micronDLA/MobileViTv3 d381beb MobileViTv3-v1/ copied over it
#           (MobileViTv3-S, -XS, -XXS and the L2 forms)
#   DIR/v2  apple/ml-cvnets 84d992f with MobileViTv3-v2/ copied over it (widths 0.5, 0.75, 1.0)
#
# Each tree also gets a file AUTHORS_SOURCE naming the commits it was made from. Nothing else is
# changed: the few Python 3.11 stand-ins the authors' code needs are supplied at load time by
# mvit3_dense/utils/authors_baseline.py, not written into the trees.
#
# Usage:
#   tools/analysis_tools/prepare_authors_code.sh DIR                 # clones both repositories
#   tools/analysis_tools/prepare_authors_code.sh DIR CVNETS_GIT MOBILEVITV3_GIT
#       # from existing clones (a work tree or a bare git directory of each)
set -euo pipefail

CVNETS_URL=https://github.com/apple/ml-cvnets.git
MOBILEVITV3_URL=https://github.com/micronDLA/MobileViTv3.git
CVNETS_V1=d38a116fe134a8cd5db18670764fdaafd39a5d4f
CVNETS_V2=84d992f413e52c0468f86d23196efd9dad885e6f
MOBILEVITV3=d381beb017ae3c244686afaa48064f95865df7b9

if [[ $# -ne 1 && $# -ne 3 ]]; then
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
out=$1

# The git directory of a clone: DIR/.git for a work tree, DIR itself for a bare repository.
git_dir() {
    if [[ -d $1/.git ]]; then echo "$1/.git"; else echo "$1"; fi
}

if [[ $# -eq 3 ]]; then
    cvnets=$(git_dir "$2")
    mobilevitv3=$(git_dir "$3")
else
    mkdir -p "$out/.sources"
    for pair in "ml-cvnets $CVNETS_URL" "MobileViTv3 $MOBILEVITV3_URL"; do
        set -- $pair
        [[ -d $out/.sources/$1.git ]] || git clone --bare --quiet "$2" "$out/.sources/$1.git"
    done
    cvnets=$out/.sources/ml-cvnets.git
    mobilevitv3=$out/.sources/MobileViTv3.git
fi

for commit in $CVNETS_V1 $CVNETS_V2; do
    git --git-dir="$cvnets" cat-file -e "$commit^{commit}" 2>/dev/null ||
        { echo "error: $cvnets has no commit $commit (is it a clone of $CVNETS_URL?)" >&2; exit 1; }
done
git --git-dir="$mobilevitv3" cat-file -e "$MOBILEVITV3^{commit}" 2>/dev/null ||
    { echo "error: $mobilevitv3 has no commit $MOBILEVITV3 (is it a clone of $MOBILEVITV3_URL?)" >&2; exit 1; }

build() {  # family, ml-cvnets commit
    local tree=$out/$1
    if [[ -e $tree ]]; then
        echo "error: $tree exists; remove it to build it again" >&2
        exit 1
    fi
    mkdir -p "$tree"
    git --git-dir="$cvnets" archive "$2" | tar -x -C "$tree"
    # The overlay folder's files replace or join those of ml-cvnets at the same paths.
    git --git-dir="$mobilevitv3" archive "$MOBILEVITV3" "MobileViTv3-$1" |
        tar -x -C "$tree" --strip-components=1
    printf 'apple/ml-cvnets %s\nmicronDLA/MobileViTv3 %s MobileViTv3-%s/\n' \
        "$2" "$MOBILEVITV3" "$1" > "$tree/AUTHORS_SOURCE"
    echo "$tree: ml-cvnets ${2:0:7} + MobileViTv3-$1 (${MOBILEVITV3:0:7})"
}

build v1 $CVNETS_V1
build v2 $CVNETS_V2
