/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Least privilege. emberprof needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN,
 * which implies both) only to load its programs and open its perf events;
 * after that it keeps just what reading other processes takes:
 *   CAP_SYS_PTRACE        /proc/PID/maps, mem, root of other users' processes
 *   CAP_DAC_READ_SEARCH   their binaries and perf maps, whatever the file modes
 *   CAP_CHECKPOINT_RESTORE /proc/PID/map_files (deleted and namespaced binaries)
 *   CAP_SYSLOG            kernel addresses in /proc/kallsyms under kptr_restrict=1
 * (and CAP_DAC_OVERRIDE, if held, for writing outputs where the user asked).
 * CAP_SYS_RESOURCE only matters before load, on kernels that still charge BPF
 * maps to RLIMIT_MEMLOCK.
 */
#ifndef EMBER_PRIVILEGE_H
#define EMBER_PRIVILEGE_H

/*
 * Checks the effective capabilities. Returns 0, or -1 after printing one line
 * naming what is missing for loading (CAP_BPF, CAP_PERFMON). Capabilities
 * that only some processes need (SYS_PTRACE, DAC_READ_SEARCH, ...) are
 * reported once as a warning when missing.
 */
int privilege_check(void);

/*
 * Drops every capability but those kept for reading processes (from the
 * effective, permitted and inheritable sets; they cannot come back). Call
 * once the BPF programs are loaded and attached. @attach_later: programs
 * are still attached during the run (--alloc, per process, to USDT probes),
 * so CAP_PERFMON, CAP_BPF and CAP_SYS_ADMIN stay too, where held: current
 * kernels want CAP_SYS_ADMIN for a uprobe. Returns 0 or -errno.
 */
int privilege_drop(int attach_later);

#endif
