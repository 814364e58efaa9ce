// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of container and pod identity on the cgroup paths each runtime
 * and kubelet cgroup driver really writes, v1 and v2.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "agent/cgroup.h"

#define ID "4a8d1c2b3e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcdef"
#define UID "1f2e3d4c-5b6a-4789-8abc-def012345678"
#define UID_ "1f2e3d4c_5b6a_4789_8abc_def012345678"

static void check(const char *text, const char *id, const char *uid, const char *qos)
{
	struct container_info ci;

	assert_int_equal(cgroup_parse(text, &ci), 0);
	assert_string_equal(ci.id, id);
	assert_string_equal(ci.pod_uid, uid);
	assert_string_equal(ci.qos, qos);
}

static void containerd_systemd_v2(void **state)
{
	(void)state;
	check("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	      ".slice/cri-containerd-" ID ".scope\n",
	      ID, UID, "Burstable");
	check("0::/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID ".scope\n", ID,
	      UID, "Guaranteed");
	check("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	      ".slice/cri-containerd-" ID ".scope\n",
	      ID, UID, "BestEffort");
}

static void crio_v2(void **state)
{
	(void)state;
	check("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	      ".slice/crio-" ID ".scope\n",
	      ID, UID, "Burstable");
}

static void cgroupfs_v1(void **state)
{
	(void)state;
	check("12:memory:/kubepods/besteffort/pod" UID "/" ID "\n"
	      "11:cpu,cpuacct:/kubepods/besteffort/pod" UID "/" ID "\n"
	      "1:name=systemd:/kubepods/besteffort/pod" UID "/" ID "\n",
	      ID, UID, "BestEffort");
	check("5:memory:/kubepods/pod" UID "/crio-" ID "\n", ID, UID, "Guaranteed");
}

static void docker_and_podman(void **state)
{
	(void)state;
	check("0::/system.slice/docker-" ID ".scope\n", ID, "", "");
	check("4:cpu,cpuacct:/docker/" ID "\n3:memory:/docker/" ID "\n", ID, "", "");
	check("0::/machine.slice/libpod-" ID ".scope/container\n", ID, "", "");
	check("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope\n",
	      ID, "", "");
}

static void hosts_and_junk(void **state)
{
	struct container_info ci;

	(void)state;
	check("0::/user.slice/user-0.slice/session-3.scope\n", "", "", "");
	check("0::/init.scope\n", "", "", "");
	/* Not a container id: 63 or 65 hex digits, upper case, crio-conmon. */
	check("0::/system.slice/docker-" ID "a.scope\n", "", "", "");
	check("0::/system.slice/crio-conmon-" ID ".scope\n", "", "", "");
	check("0::/x/4A8D1C2B3E5F60718293A4B5C6D7E8F90123456789ABCDEF0123456789ABCDEF\n", "", "",
	      "");
	assert_int_equal(cgroup_parse("", &ci), -EINVAL);
	assert_int_equal(cgroup_parse("garbage without colons", &ci), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(containerd_systemd_v2), cmocka_unit_test(crio_v2),
		cmocka_unit_test(cgroupfs_v1),		 cmocka_unit_test(docker_and_podman),
		cmocka_unit_test(hosts_and_junk),
	};

	return cmocka_run_group_tests_name("cgroup", tests, NULL, NULL);
}
