/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container and pod identity from a process's cgroup path, as the container
 * runtimes and the kubelet name cgroups: containerd (cri-containerd-ID.scope,
 * or a bare ID under cgroupfs), CRI-O (crio-ID.scope), Docker (docker-ID.scope,
 * /docker/ID) and podman (libpod-ID.scope), with Kubernetes pods as
 * kubepods-<qos>-pod<uid>.slice (systemd driver, '-' in the uid written '_')
 * or /kubepods/<qos>/pod<uid>/ (cgroupfs driver). Works on cgroup v1 and v2.
 */
#ifndef EMBER_CGROUP_H
#define EMBER_CGROUP_H

#include <stddef.h>

struct container_info {
	char id[65];	  /* container.id: 64 hex digits, "" if none */
	char pod_uid[37]; /* k8s.pod.uid, dashed, "" if none */
	char qos[16];	  /* Guaranteed, Burstable, BestEffort; "" if not a pod */
	char path[512];	  /* the cgroup path the rest came from */
};

/*
 * Parses the text of /proc/PID/cgroup (one or more "N:controllers:path"
 * lines) into @out. The unified (v2, "0::") line wins; otherwise the first v1
 * line whose path names a container. Returns 0, or -EINVAL for text with no
 * usable line.
 */
int cgroup_parse(const char *text, struct container_info *out);

/* Reads and parses /proc/PID/cgroup under @proc_root. Returns 0 or -errno. */
int cgroup_read(const char *proc_root, unsigned int pid, struct container_info *out);

#endif
