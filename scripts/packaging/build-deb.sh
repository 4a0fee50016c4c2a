#!/bin/sh
# build-deb.sh STAGE OUT.deb VERSION MAINTAINER: package the tree `make install DESTDIR=STAGE` made
# as a Debian binary package with dpkg-deb (control, conffiles, md5sums, maintainer scripts from
# scripts/packaging/debian). Files are owned by root:root in the package whoever builds it.
set -eu
[ $# = 4 ] || { echo "usage: build-deb.sh STAGE OUT.deb VERSION MAINTAINER" >&2; exit 2; }
STAGE=$1 OUT=$2 VERSION=$3 MAINT=$4
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$STAGE/usr/sbin/mdclusterd" ] || { echo "build-deb: $STAGE has no usr/sbin/mdclusterd: run make install DESTDIR=$STAGE" >&2; exit 1; }
ARCH=$(dpkg --print-architecture)
rm -rf "$STAGE/DEBIAN"
mkdir -p "$STAGE/DEBIAN"
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s|@VERSION@|$VERSION|" -e "s|@ARCH@|$ARCH|" -e "s|@SIZE@|$SIZE|" -e "s|@MAINTAINER@|$MAINT|" \
	"$HERE/debian/control.in" > "$STAGE/DEBIAN/control"
install -m 0644 "$HERE/debian/conffiles" "$STAGE/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$HERE/debian/$s" "$STAGE/DEBIAN/$s"; done
# Every conffile must be in the tree.
while read -r f; do
	[ -f "$STAGE$f" ] || { echo "build-deb: conffile $f is not in $STAGE" >&2; exit 1; }
done < "$STAGE/DEBIAN/conffiles"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) > "$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/md5sums"
# gzip, not xz: the lab's busybox unpacks it too.
dpkg-deb --root-owner-group -Zgzip --build "$STAGE" "$OUT"
