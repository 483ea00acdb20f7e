#!/bin/sh
# Builds a Debian packaging repository from the real bookworm references in
# tests/data: ABI 6.1.0-47 released, a bump to 6.1.0-50, then ROUNDS times a
# hidden break of three of fat.ko's imports and its revert, each followed by
# UNRELATED changelog-only commits.  Usage: compat_repo.sh DIR [ROUNDS] [UNRELATED]
set -eu
dir=$1; rounds=${2:-1}; unrelated=${3:-1}
data=$(cd "$(dirname "$0")/.." && pwd)/tests/data/debian-bookworm/abi
rm -rf "$dir"; mkdir -p "$dir"; cd "$dir"; git init -q
git config user.name t; git config user.email t@example.org
changelog() { printf 'linux (%s) bookworm-security; urgency=high\n\n  * %s\n\n -- T <t@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n' "$1" "$2" > debian/changelog; }
defines() { printf '[abi]\nabiname: %s\n\n[base]\narches:\n amd64\n' "$1" > debian/config/defines; }
refs() { mkdir -p "debian/abi/$1"; cp "$data/$1"/* "debian/abi/$1/"; }
commit() { git add -A; git commit -qm "$1"; }
mkdir -p debian/config
changelog 6.1.170-3 release; defines 47; refs 6.1.0-47; commit "Release 6.1.170-3"
git rm -rq debian/abi/6.1.0-47; changelog 6.1.176-1 bump; defines 50; refs 6.1.0-50
commit "Bump ABI to 6.1.0-50"
amd64=debian/abi/6.1.0-50/amd64_none_amd64
# Three symbols fat.ko imports (its __versions), CRCs flipped.
perl -lne '@F = split /\t/, $_, -1; if ($F[1] =~ /^(kfree|__brelse|mark_buffer_dirty)$/) { $F[0] = sprintf("0x%08x", hex($F[0]) ^ 0x5a5a) } print join("\t", @F)' "$amd64" > /tmp/compat-broken.$$
cp "$amd64" /tmp/compat-good.$$
i=0
while [ $i -lt "$rounds" ]; do
  cp /tmp/compat-broken.$$ "$amd64"; commit "Refresh ABI reference files ($i)"
  j=0; while [ $j -lt "$unrelated" ]; do changelog 6.1.176-1 "change $i.$j"; commit "Unrelated $i.$j"; j=$((j+1)); done
  cp /tmp/compat-good.$$ "$amd64"; commit "Revert refresh ($i)"
  i=$((i+1))
done
rm -f /tmp/compat-broken.$$ /tmp/compat-good.$$
