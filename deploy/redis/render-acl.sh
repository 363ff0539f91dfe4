#!/bin/sh
# Writes the ACL file Redis loads, then runs the given command (redis-server ...).
#
#   render-acl.sh SOURCE_ACL TARGET_ACL COMMAND [ARG...]
#
# SOURCE_ACL (deploy/redis/users.acl) holds every user's rules with a placeholder dev password. An
# ACL file cannot read environment variables, so this script appends `resetpass #<sha256>` to each
# user's line, hashing the password from the environment: REDIS_<USER>_PASSWORD
# (REDIS_ADMIN_PASSWORD, REDIS_INGEST_PASSWORD, ...). A user whose variable is unset or empty is
# switched `off` rather than left with its dev password. Only hashes reach the file. `default`
# (the user of a connection that never AUTHs) gets no password and is always switched `off`.
# Appended after any selector `(...)` on the line, where Redis applies it to the user itself.
# POSIX sh: runs in the official redis images (Debian and Alpine/busybox).
set -eu

if [ "$#" -lt 3 ]; then
  echo "usage: render-acl.sh SOURCE_ACL TARGET_ACL COMMAND [ARG...]" >&2
  exit 64
fi
source_acl=$1
target_acl=$2
shift 2

umask 077
tmp="$target_acl.tmp"
: >"$tmp"
while read -r keyword user rules; do
  if [ "$keyword" != "user" ]; then
    continue
  fi
  case $user in
    *[!a-z0-9_-]*) echo "render-acl.sh: unexpected user name: $user" >&2; exit 65 ;;
  esac
  if [ "$user" = "default" ]; then
    printf 'user %s %s resetpass off\n' "$user" "$rules" >>"$tmp"
    continue
  fi
  var="REDIS_$(printf '%s' "$user" | tr 'abcdefghijklmnopqrstuvwxyz-' 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_')_PASSWORD"
  eval "password=\${$var:-}"
  if [ -n "$password" ]; then
    hash=$(printf '%s' "$password" | sha256sum | cut -c1-64)
    printf 'user %s %s resetpass #%s\n' "$user" "$rules" "$hash" >>"$tmp"
  else
    echo "render-acl.sh: $var is not set: user $user is switched off" >&2
    printf 'user %s %s off\n' "$user" "$rules" >>"$tmp"
  fi
done <"$source_acl"
mv "$tmp" "$target_acl"

exec "$@"
