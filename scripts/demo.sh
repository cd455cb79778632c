#!/usr/bin/env bash
# Installs what is needed, builds mcp-remote-ssh, starts a throwaway OpenSSH sshd on
# 127.0.0.1 (its own host key, config and port, in a temp dir), and drives it with the
# CLI: connect, sessions, exec (streamed and --json), close. Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$PATH:/usr/local/go/bin"
go build -o ./mcp-remote-ssh .
bin=$(pwd)/mcp-remote-ssh

dir=$(mktemp -d /tmp/mrs-demo.XXXXXX)
port=$(( (RANDOM % 20000) + 30000 ))
user=$(id -un)
cleanup() {
  MCP_REMOTE_SSH_SOCKET=$dir/h.sock HOME=$dir/home "$bin" holder stop >/dev/null 2>&1 || true
  [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
mkdir -p "$dir/home/.ssh" "$dir/authorized"
chmod 700 "$dir/home/.ssh"
ssh-keygen -q -t ed25519 -N '' -f "$dir/home/.ssh/id_ed25519"
cp "$dir/home/.ssh/id_ed25519.pub" "$dir/authorized/$user"
cat > "$dir/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized/%u
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
PidFile $dir/sshd.pid
Subsystem sftp internal-sftp
CFG
mkdir -p /run/sshd 2>/dev/null || true
/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
for _ in $(seq 1 50); do [ -f "$dir/sshd.pid" ] && break; sleep 0.1; done

export HOME=$dir/home MCP_REMOTE_SSH_SOCKET=$dir/h.sock XDG_STATE_HOME=$dir/state
set -x
"$bin" version
"$bin" connect "$user@127.0.0.1:$port" --name demo
"$bin" sessions
"$bin" exec demo -- 'echo "hello from $(hostname) as $(id -un)"; uname -sr'
"$bin" exec demo --json -- 'echo out; echo err >&2; exit 3' || echo "exit code $? (the remote exit code)"
"$bin" close demo
set +x
echo "demo finished: sshd on 127.0.0.1:$port, holder socket $dir/h.sock (both removed now)"
