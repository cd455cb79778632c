#!/usr/bin/env bash
# Checks the release set-up without publishing anything:
#   1. goreleaser check (.goreleaser.yaml is valid for goreleaser v2),
#   2. goreleaser release --snapshot --clean --skip=publish (linux and darwin, amd64 and arm64,
#      archives with README, LICENSE, completions and man pages, checksums, the Homebrew cask),
#   3. unpacks the linux/amd64 archive and runs `version`, `--help` and `completion bash` from it,
#      checks the binary is static, the man pages and completions are in the archive, the checksums
#      match and the generated cask names the binary, its completions and man pages.
# goreleaser is fetched and built through the Go toolchain at a pinned version (the first run builds it:
# a few minutes; later runs reuse Go's build cache). Needs go and git. KEEP_DIST=1 copies dist/ here.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
GORELEASER_VERSION=v2.15.1
GORELEASER_PKG="github.com/goreleaser/goreleaser/v2@${GORELEASER_VERSION}"

t0=$SECONDS
step() { echo "== release-check: $* (+$((SECONDS - t0))s)"; }
fail() { echo "release-check: FAIL: $*" >&2; exit 1; }

command -v git >/dev/null || fail "git is needed (goreleaser reads the commit and tags)"
git rev-parse --verify -q HEAD >/dev/null || fail "not a git checkout with a commit"

# goreleaser runs in a throw-away clone of this repository with the working tree copied over it
# (uncommitted changes are checked too): a clone has a remote, which goreleaser reads the commit
# through, and this tree gets no completions/, manpages/ or dist/.
src=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$src" "$work/repo"
git -C "$work/repo" checkout -q --detach "$(git rev-parse HEAD)"
git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$work/repo"
cd "$work/repo"

step "building goreleaser ${GORELEASER_VERSION} with the Go toolchain"
GOBIN="$work/bin" go install "$GORELEASER_PKG"
goreleaser="$work/bin/goreleaser"
grver=$("$goreleaser" --version 2>&1)
[[ $grver =~ GitVersion:\ *${GORELEASER_VERSION}[[:space:]] ]] || fail "goreleaser is not ${GORELEASER_VERSION}: $grver"

step "goreleaser check"
"$goreleaser" check

step "goreleaser release --snapshot --clean --skip=publish"
# --snapshot already skips validation of the git state (a dirty tree is fine) and publishing.
"$goreleaser" release --snapshot --clean --skip=publish >"$work/release.log" 2>&1 || { cat "$work/release.log"; fail "snapshot release"; }
grep -E 'release succeeded|took:' "$work/release.log" || true

step "inspecting dist/"
for os in linux darwin; do
  for arch in amd64 arm64; do
    ls dist/mcp-remote-ssh_*_"${os}_${arch}".tar.gz >/dev/null 2>&1 || fail "no ${os}/${arch} archive in dist/"
  done
done
(cd dist && sha256sum --quiet -c checksums.txt) || fail "checksums.txt does not match the archives"
[ "$(grep -c '\.tar\.gz$' dist/checksums.txt)" = 4 ] || fail "checksums.txt should list 4 archives"

archive=$(ls dist/mcp-remote-ssh_*_linux_amd64.tar.gz)
echo "unpacking $archive"
tar -tzf "$archive" | sort >"$work/list"
for f in mcp-remote-ssh README.md LICENSE \
  completions/mcp-remote-ssh.bash completions/_mcp-remote-ssh completions/mcp-remote-ssh.fish \
  manpages/mcp-remote-ssh.1 manpages/mcp-remote-ssh-serve-mcp.1 manpages/mcp-remote-ssh-exec.1; do
  grep -qx "$f" "$work/list" || { cat "$work/list"; fail "$f is not in $archive"; }
done
mkdir "$work/x"
tar -xzf "$archive" -C "$work/x"
bin="$work/x/mcp-remote-ssh"

# Static: built with CGO_ENABLED=0, no ELF interpreter.
[[ $(go version -m "$bin") == *CGO_ENABLED=0* ]] || fail "the binary was not built with CGO_ENABLED=0"
if command -v readelf >/dev/null; then
  [[ $(readelf -l "$bin") != *INTERP* ]] || fail "the binary is dynamically linked"
fi

ver=$("$bin" version)
echo "$ver"
echo "$ver" | grep -q '^mcp-remote-ssh [0-9][^ ]*-snapshot' || fail "version was not stamped by ldflags: $ver"
echo "$ver" | grep -q "commit $(git rev-parse HEAD)" || fail "commit was not stamped by ldflags: $ver"
echo "$ver" | grep -q 'built unknown' && fail "date was not stamped by ldflags: $ver"
"$bin" --help >"$work/help" || fail "--help failed"
grep -q 'serve' "$work/help" || fail "--help does not list serve"
"$bin" completion bash >"$work/comp.bash" || fail "completion bash failed"
bash -c 'source "$1" && complete -p mcp-remote-ssh' _ "$work/comp.bash" >/dev/null || fail "completion bash does not load in bash"
bash -c 'source "$1" && complete -p mcp-remote-ssh' _ "$work/x/completions/mcp-remote-ssh.bash" >/dev/null ||
  fail "completions/mcp-remote-ssh.bash does not load in bash"
grep -q '^#compdef mcp-remote-ssh' "$work/x/completions/_mcp-remote-ssh" || fail "zsh completion has no #compdef"
grep -q 'complete -c mcp-remote-ssh' "$work/x/completions/mcp-remote-ssh.fish" || fail "fish completion does not complete mcp-remote-ssh"
grep -q '^\.TH "MCP-REMOTE-SSH" "1"' "$work/x/manpages/mcp-remote-ssh.1" || fail "manpages/mcp-remote-ssh.1 is not a section 1 man page"
grep -q 'snapshot' "$work/x/manpages/mcp-remote-ssh.1" || fail "the man page does not carry the released version"

step "checking the Homebrew cask"
cask=$(ls dist/homebrew/Casks/*.rb 2>/dev/null | head -1)
[ -n "$cask" ] || fail "no cask under dist/homebrew/Casks/"
echo "$cask"
for want in 'cask "mcp-remote-ssh" do' 'binary "mcp-remote-ssh"' \
  'bash_completion "completions/mcp-remote-ssh.bash"' 'zsh_completion "completions/_mcp-remote-ssh"' \
  'fish_completion "completions/mcp-remote-ssh.fish"' 'manpage "manpages/mcp-remote-ssh.1"' \
  '_darwin_arm64.tar.gz' '_darwin_amd64.tar.gz' '_linux_amd64.tar.gz' '_linux_arm64.tar.gz' \
  'github.com/mcp-remote-ssh/mcp-remote-ssh/releases/download/'; do
  grep -qF "$want" "$cask" || { cat "$cask"; fail "the cask lacks: $want"; }
done
if command -v ruby >/dev/null; then ruby -c "$cask" >/dev/null || fail "the cask is not valid Ruby"; fi

if [ "${KEEP_DIST:-0}" = 1 ]; then rm -rf "$src/dist" && cp -r dist "$src/dist" && echo "dist/ kept in $src/dist"; fi
step "release check passed"
