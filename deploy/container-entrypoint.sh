#!/bin/sh
# The image's entrypoint: gives the running UID a passwd entry when it has none, then runs
# the command (by default `reconciler run --config /etc/imagestream-reconciler/daemon.yaml`).
#
# OpenShift's restricted-v2 SCC runs the container as a random UID (in group 0) that
# /etc/passwd does not know, and ssh (so git over ssh) refuses to start for a user it
# cannot look up. /etc/passwd cannot take a new line on a read-only root file system, so
# the entry goes into a file under $TMPDIR (an emptyDir in the manifests) that
# nss_wrapper (libnss-wrapper) serves to every process of the container.
set -eu
uid=$(id -u)
if ! getent passwd "$uid" >/dev/null 2>&1; then
  dir=${TMPDIR:-/tmp}
  passwd="$dir/passwd.nss_wrapper"
  {
    cat /etc/passwd
    echo "reconciler:x:$uid:$(id -g):imagestream-reconciler:${HOME:-/var/lib/imagestream-reconciler}:/usr/sbin/nologin"
  } > "$passwd"
  export NSS_WRAPPER_PASSWD="$passwd" NSS_WRAPPER_GROUP=/etc/group LD_PRELOAD=libnss_wrapper.so
fi
exec "$@"
