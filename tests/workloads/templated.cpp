// SPDX-License-Identifier: Apache-2.0
/*
 * templated: C++ with a namespaced class template method, for the
 * demangling tests. ember::Mixer<int>::churn(unsigned long) is the hot leaf;
 * its mangled name is _ZN5ember5MixerIiE5churnEm and a profile must show it
 * demangled, with the mangled form kept as the system name.
 *
 * Usage: templated [SECONDS]   (default 10)
 */
#include <cstdlib>
#include <ctime>

namespace ember
{
template <typename T> class Mixer {
    public:
	__attribute__((noinline)) unsigned long churn(unsigned long units)
	{
		volatile unsigned long acc = 0;

		for (unsigned long i = 0; i < 250000UL * units; i++)
			acc = acc * 31 + (i ^ (acc >> 7));
		return acc + static_cast<unsigned long>(bias);
	}
	T bias = 1;
};
} // namespace ember

static volatile unsigned long sink;

static double now()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? std::atof(argv[1]) : 10, end = now() + secs;
	ember::Mixer<int> m;

	while (now() < end)
		sink = sink + m.churn(2);
	return static_cast<int>(sink & 0);
}
