# Installation, man pages, the Debian package and their tests. Included from the Makefile.
#
#   make install [DESTDIR=/tmp/root] [PREFIX=/usr]   binaries, OCF agent, systemd unit, udev rule, libcmap shim, docs, man pages
#   make man                                         bin/man/*.8 from the commands' --help
#   make deb                                         bin/mdcluster_<version>_<arch>.deb (dpkg-deb)
#   make test-ocf                                    the OCF agent on this host (ocf-tester's host part)
#   make test-packaging                              the .deb: dpkg-deb --info/--contents, dpkg --root install
#   make lab-debian                                  the Debian guests' root image with the .deb installed
PREFIX       ?= /usr
DESTDIR      ?=
SBINDIR      ?= $(PREFIX)/sbin
# Pacemaker looks for agents under /usr/lib/ocf whatever PREFIX is.
OCFDIR       ?= /usr/lib/ocf/resource.d/mdcluster
UNITDIR      ?= /lib/systemd/system
UDEVRULESDIR ?= /lib/udev/rules.d
# mdadm's libcmap shim (scripts/cmapshim): mdcadm looks for it here.
SHIMDIR      ?= /usr/lib/mdcluster/cmapshim
DOCDIR       ?= $(PREFIX)/share/doc/mdcluster
MAN8DIR      ?= $(PREFIX)/share/man/man8
SYSCONFDIR   ?= /etc
PKG_BINARIES := mdclusterd mdcadm
DEB_DATE     := $(shell git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null)
DEB_VERSION  ?= $(shell scripts/packaging/debversion.sh '$(VERSION)' $(DEB_DATE))
DEB_ARCH     := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_MAINTAINER ?= mdcluster developers <maintainers@mdcluster.dev>
DEB          := bin/mdcluster_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_NEXT     := bin/next/mdcluster_$(DEB_VERSION)+next_$(DEB_ARCH).deb

.PHONY: install man deb deb-next test-ocf test-packaging lab-ha lab-debian

man: build
	@mkdir -p bin/man
	$(GO) run ./scripts/man -o bin/man $(addprefix bin/,$(PKG_BINARIES))

install: build man cmapshim
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(OCFDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) \
	  $(DESTDIR)$(MAN8DIR) $(DESTDIR)$(SYSCONFDIR)/mdcluster $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(SHIMDIR)
	install -m 0755 $(addprefix bin/,$(PKG_BINARIES)) $(DESTDIR)$(SBINDIR)/
	# The udev rule names the helper by path, like the unit.
	sed 's|/usr/sbin/|$(SBINDIR)/|g' scripts/udev/63-mdcluster.rules > $(DESTDIR)$(UDEVRULESDIR)/63-mdcluster.rules
	chmod 0644 $(DESTDIR)$(UDEVRULESDIR)/63-mdcluster.rules
	install -m 0644 scripts/udev/51-mdcluster-dlm.rules $(DESTDIR)$(UDEVRULESDIR)/
	install -m 0644 -s bin/cmapshim/libcmap.so.4 $(DESTDIR)$(SHIMDIR)/libcmap.so.4
	install -m 0755 scripts/ocf/mdcluster $(DESTDIR)$(OCFDIR)/mdcluster
	# The unit names the agent by path: point it at SBINDIR.
	sed 's|/usr/sbin/|$(SBINDIR)/|g' scripts/systemd/mdclusterd.service > $(DESTDIR)$(UNITDIR)/mdclusterd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/mdclusterd.service
	install -m 0644 README.md scripts/mdclusterd.example.yaml $(DESTDIR)$(DOCDIR)/
	install -m 0644 scripts/mdclusterd.example.yaml $(DESTDIR)$(SYSCONFDIR)/mdcluster/mdclusterd.yaml.example
	install -m 0644 $(addprefix bin/man/,$(addsuffix .8,$(PKG_BINARIES))) $(DESTDIR)$(MAN8DIR)/

# The package tree is `make install` into a stage, plus Debian's copyright file and gzip'ed man
# pages (policy 12.1, 12.5).
deb: build man
	rm -rf bin/deb-stage
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/bin/deb-stage PREFIX=/usr
	gzip -9n bin/deb-stage/usr/share/man/man8/*.8
	printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: mdcluster\n\nFiles: *\nCopyright: mdcluster developers\nLicense: Apache-2.0\n On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n' \
	  > bin/deb-stage/usr/share/doc/mdcluster/copyright
	rm -f bin/mdcluster_*.deb
	scripts/packaging/build-deb.sh bin/deb-stage $(DEB) '$(DEB_VERSION)' '$(DEB_MAINTAINER)'
	@echo "deb: $(DEB)"

# Host checks of the OCF agent: meta-data against ra-api-1.dtd, validate-all, probes and stops of
# an array that is not there (this host has no md). ocf-tester's full start/stop cycle runs in a lab
# guest with the real md driver: TestOCFTester in the VM suite (make test-vm VM_RUN=OCF).
test-ocf:
	@command -v ocf-tester >/dev/null || scripts/vm/setup-host.sh
	$(GO) test -count=1 -tags ocf ./scripts/ocf/

test-packaging: deb
	@command -v groff >/dev/null && command -v busybox >/dev/null || scripts/vm/setup-host.sh
	MDCLUSTER_DEB=$(CURDIR)/$(DEB) $(GO) test -count=1 -tags packaging ./scripts/man/ ./scripts/packaging/

# The lab initramfs with the package, ocf-tester and xmllint (for TestOCF*/TestPackage* in the VM
# suite, which boot it with MDCLUSTER_LAB=$(MDCLUSTER_LAB)/ha). Needs `make lab` done before.
lab-ha: deb
	scripts/ocf/build-lab-overlay.sh $(DEB)

# A newer build of the same tree (version +next; its mdclusterd and mdcadm say so), for the upgrade
# scenario of the Debian guests.
deb-next: deb
	rm -rf bin/next; mkdir -p bin/next; cp -a bin/deb-stage bin/next/stage
	$(GO) build -trimpath -ldflags '-s -w -X mdcluster.dev/internal/buildinfo.Version=$(VERSION)+next' -o bin/next/stage/usr/sbin/ ./cmd/mdclusterd ./cmd/mdcadm
	scripts/packaging/build-deb.sh bin/next/stage '$(DEB_NEXT)' '$(DEB_VERSION)+next' '$(DEB_MAINTAINER)'

# The Debian guests (systemd, udev, mdadm's own rules; TestDebian* in the VM suite): the Debian root
# that setup-host.sh makes, with the package installed by its dpkg (scripts/vm/build-debian-guest.sh).
lab-debian: build deb-next
	scripts/vm/setup-host.sh
	scripts/vm/build-debian-guest.sh '$(DEB)' '$(DEB_NEXT)'
