/* seccompbuild.h: a profile of lib/daemon/seccompprofile.h turned into BPF by libseccomp.
 *
 * Only the build-time generator (seccompgen.c) and the test that checks the shipped filters
 * (tests/unit/test-seccomp.c) link this and libseccomp; the daemons load the generated
 * programs. Owns: the translation of a profile's rules into libseccomp calls. */
#ifndef DNSJAIL_SECCOMPBUILD_H
#define DNSJAIL_SECCOMPBUILD_H

#include <stddef.h>

#include "daemon/seccompprofile.h"

/* PROFILE's filter, with the metrics directory's rules when WITH_DIR, as seccomp_export_bpf
 * writes it (struct sock_filter instructions in host byte order): *BPF (malloc'ed, the
 * caller frees it) and *LEN bytes. 0, or a negative errno with *STEP naming what failed.
 * Syscall names unknown to this architecture are skipped. */
int dj_seccompbuild_export(const struct dj_seccomp_rules *profile, int with_dir,
                           unsigned char **bpf, size_t *len, const char **step);

#endif
