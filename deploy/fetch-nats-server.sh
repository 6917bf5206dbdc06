#!/usr/bin/env bash
# Fetch nats-server 2.10.27 (Debian trixie's static binary) into .cache/nats-server-2.10.27/ for the
# clustered tests and benches: 2.9.10, the machine's own, has a race in clustered optimistic
# concurrency (fixed in 2.9.21). Nothing of the machine changes: apt runs with a sources list,
# package lists and cache of its own under .cache/, and the package is only unpacked (dpkg -x).
# Prints the binary's path; exits non-zero (with the reason on stderr) when it cannot be fetched.
set -euo pipefail

VERSION="2.10.27-1+b2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.cache/nats-server-2.10.27"
BIN="$DEST/usr/sbin/nats-server"

if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi

# Two test files may ask at once: one fetches, the other waits and finds it there.
mkdir -p "$ROOT/.cache"
exec 9>"$ROOT/.cache/fetch-nats-server.lock"
flock 9
if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi

# The Debian mirror this machine already uses (its deb822 sources), with the trixie suite.
uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
if [[ -z "$uri" ]]; then uri="$(awk '$1 == "deb" && $0 ~ /\/debian[ \/]/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null || true)"; fi
if [[ -z "$uri" ]]; then echo "fetch-nats-server: no Debian mirror found in this machine's apt sources" >&2; exit 1; fi

work="$ROOT/.cache/apt-trixie"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$DEST"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" > "$work/sources.list"
apt_opts=(-o "APT::Sandbox::User=root" -o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Get::List-Cleanup=0")
apt-get "${apt_opts[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_opts[@]}" download -qq "nats-server=$VERSION" >&2)
dpkg -x "$work"/nats-server_*.deb "$DEST"
"$BIN" --version >&2
echo "$BIN"
