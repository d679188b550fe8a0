#!/bin/sh
# Install Grenswacht as a systemd service (as root, from a checkout of the repository):
#
#   deploy/install.sh [PREFIX]        PREFIX: where the virtualenv goes (default /opt/grenswacht)
#
# Makes the virtualenv, installs the program, puts an example configuration in /etc/grenswacht
# (an existing one is kept), installs deploy/systemd/grenswacht.service and grenswacht-web.service
# (the supervisor console) with ExecStart pointing at PREFIX, checks it with systemd-analyze verify and reloads systemd. It starts nothing: edit the
# configuration, put the AMI secret in /etc/grenswacht/ami_secret, run `grenswacht check`, then
# `systemctl enable --now grenswacht`.
#
# DESTDIR=/some/root installs below that folder instead (and skips systemctl), for packaging.
# It also installs deploy/systemd/user.slice.d/grenswacht.conf: every local login's processes run
# on the CPU the PBX leaves idle, so that none can slow screening (issue 32); IDLE_USERS=no skips it.
set -eu
cd "$(dirname "$0")/.."
prefix=${1:-/opt/grenswacht}
root=${DESTDIR:-}

if [ ! -x "$root$prefix/bin/grenswacht" ]; then
  python3 -m venv "$root$prefix"
  "$root$prefix/bin/pip" install --quiet --disable-pip-version-check .
fi
install -d -m 0755 "$root$prefix/share/doc/grenswacht"
install -m 0644 docs/operations.md "$root$prefix/share/doc/grenswacht/operations.md"

install -d -m 0755 "$root/etc/grenswacht"   # the unit runs as a DynamicUser: it must read the config (no secrets in it)
if [ ! -e "$root/etc/grenswacht/grenswacht.toml" ]; then
  install -m 0644 grenswacht.example.toml "$root/etc/grenswacht/grenswacht.toml"
fi
if [ ! -e "$root/etc/grenswacht/ami_secret" ]; then   # empty until you put the secret in: serve says so
  (umask 077 && : > "$root/etc/grenswacht/ami_secret")
fi
if [ ! -e "$root/etc/grenswacht/web_secret" ]; then   # the console's cookie-signing secret: a random one
  (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$root/etc/grenswacht/web_secret")
fi

# The service and the supervisor console, each a unit of its own.
for name in grenswacht grenswacht-web; do
  unit="$root/etc/systemd/system/$name.service"
  install -d -m 0755 "$(dirname "$unit")"
  sed -e "s#/opt/grenswacht/#$prefix/#g" "deploy/systemd/$name.service" > "$unit.tmp"
  chmod 0644 "$unit.tmp"
  mv "$unit.tmp" "$unit"
  if command -v systemd-analyze >/dev/null 2>&1; then
    check=$unit
    if [ -n "$root" ]; then   # below DESTDIR: verify a copy whose program path is where it was installed
      check=$(mktemp -d)/$name.service
      sed -e "s#^ExecStart=$prefix/#ExecStart=$root$prefix/#" "$unit" > "$check"
    fi
    systemd-analyze verify "$check"
    [ "$check" = "$unit" ] || rm -r "$(dirname "$check")"
  fi
done

# Local logins on idle CPU (the drop-in's comments say why), unless IDLE_USERS=no.
if [ "${IDLE_USERS:-yes}" != no ]; then
  dropin="$root/etc/systemd/system/user.slice.d/grenswacht.conf"
  install -d -m 0755 "$(dirname "$dropin")"
  install -m 0644 deploy/systemd/user.slice.d/grenswacht.conf "$dropin"
  if command -v systemd-analyze >/dev/null 2>&1; then   # a drop-in is checked as the slice it changes
    check=$(mktemp -d)
    cp "$dropin" "$check/user.slice"
    systemd-analyze verify "$check/user.slice"
    rm -r "$check"
  fi
fi
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
echo "installed grenswacht.service and grenswacht-web.service in $root/etc/systemd/system;"
echo "now edit /etc/grenswacht/grenswacht.toml, put the AMI secret in /etc/grenswacht/ami_secret,"
echo "run: GRENSWACHT_CONFIG=/etc/grenswacht/grenswacht.toml GRENSWACHT_AMI_SECRET_FILE=/etc/grenswacht/ami_secret $prefix/bin/grenswacht check"
echo "then: systemctl enable --now grenswacht grenswacht-web   (the console: [web] listen, default http://127.0.0.1:8080/)"
if [ "${IDLE_USERS:-yes}" != no ]; then
  echo "local logins (user.slice) run on idle CPU: $root/etc/systemd/system/user.slice.d/grenswacht.conf"
  echo "(IDLE_USERS=no $0 leaves user.slice alone; delete that file and run systemctl daemon-reload to undo)"
fi
