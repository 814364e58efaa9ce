// SPDX-License-Identifier: Apache-2.0
//
// Input for tests/e2e/test_clang.sh and test_unwind_evict.sh: a C++ file
// that keeps `clang++ -std=c++17 -O2 -c` busy for one to two seconds (2 s
// of CPU on the 2-vCPU test VM), in all of its phases: parsing the STL
// headers, template instantiation, the optimizer and the x86 back end, so
// that the samples land in both libclang-cpp and libLLVM and their stacks
// go through both libraries' .eh_frame. It is compiled, never linked or
// run; it lives in tests/e2e/data/ so that the workloads' Makefile wildcard
// does not pick it up. The code is meant to be ordinary template-heavy C++:
// containers, variants and visitors, a recursive-descent parser, a small
// expression-template library and some type-level recursion.

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ember_input
{

// --- A tiny expression-template vector library -------------------------

template <typename E> struct expr {
	const E &self() const
	{
		return static_cast<const E &>(*this);
	}
	double operator[](std::size_t i) const
	{
		return self()[i];
	}
	std::size_t size() const
	{
		return self().size();
	}
};

template <typename T> class vec : public expr<vec<T>>
{
      public:
	explicit vec(std::size_t n, T v = T()) : data_(n, v)
	{
	}
	template <typename E> vec(const expr<E> &e) : data_(e.size())
	{
		for (std::size_t i = 0; i < data_.size(); i++)
			data_[i] = e[i];
	}
	T operator[](std::size_t i) const
	{
		return data_[i];
	}
	T &operator[](std::size_t i)
	{
		return data_[i];
	}
	std::size_t size() const
	{
		return data_.size();
	}

      private:
	std::vector<T> data_;
};

template <typename L, typename R, typename Op> struct binop : expr<binop<L, R, Op>> {
	const L &l;
	const R &r;
	binop(const L &a, const R &b) : l(a), r(b)
	{
	}
	double operator[](std::size_t i) const
	{
		return Op()(l[i], r[i]);
	}
	std::size_t size() const
	{
		return l.size();
	}
};

template <typename L, typename R> auto operator+(const expr<L> &a, const expr<R> &b)
{
	return binop<L, R, std::plus<double>>(a.self(), b.self());
}

template <typename L, typename R> auto operator*(const expr<L> &a, const expr<R> &b)
{
	return binop<L, R, std::multiplies<double>>(a.self(), b.self());
}

template <typename L, typename R> auto operator-(const expr<L> &a, const expr<R> &b)
{
	return binop<L, R, std::minus<double>>(a.self(), b.self());
}

double dot_mix(std::size_t n)
{
	vec<double> a(n, 1.5), b(n, 2.5), c(n, 0.5);
	vec<double> d = a * b + c - a * c + b * b - c;
	double s = 0;
	for (std::size_t i = 0; i < d.size(); i++)
		s += d[i];
	return s;
}

// --- Type-level recursion: a type list and compile-time folds -----------

template <typename... Ts> struct type_list {
};

template <typename L> struct list_size;
template <typename... Ts> struct list_size<type_list<Ts...>> {
	static constexpr std::size_t value = sizeof...(Ts);
};

template <typename L, typename T> struct push_front;
template <typename... Ts, typename T> struct push_front<type_list<Ts...>, T> {
	using type = type_list<T, Ts...>;
};

template <std::size_t N, typename T> struct repeat {
	using type = typename push_front<typename repeat<N - 1, T>::type, T>::type;
};
template <typename T> struct repeat<0, T> {
	using type = type_list<>;
};

template <std::size_t N> struct fib {
	static constexpr std::uint64_t value = fib<N - 1>::value + fib<N - 2>::value;
};
template <> struct fib<0> {
	static constexpr std::uint64_t value = 0;
};
template <> struct fib<1> {
	static constexpr std::uint64_t value = 1;
};

template <std::size_t... Is>
constexpr std::array<std::uint64_t, sizeof...(Is)> fib_table(std::index_sequence<Is...>)
{
	return {{fib<Is>::value...}};
}

constexpr auto fibs = fib_table(std::make_index_sequence<80>());
static_assert(list_size<repeat<60, int>::type>::value == 60, "repeat");

// --- A variant-based expression tree and its evaluator -------------------

struct node;
using node_ptr = std::shared_ptr<node>;

struct num {
	double v;
};
struct var {
	std::string name;
};
struct add {
	node_ptr a, b;
};
struct mul {
	node_ptr a, b;
};
struct neg {
	node_ptr a;
};
struct call {
	std::string fn;
	std::vector<node_ptr> args;
};

struct node {
	std::variant<num, var, add, mul, neg, call> v;
};

template <typename... Fs> struct overloaded : Fs... {
	using Fs::operator()...;
};
template <typename... Fs> overloaded(Fs...) -> overloaded<Fs...>;

using env = std::map<std::string, double>;
using fn_ptr = double (*)(const std::vector<double> &);
using fn_table = std::map<std::string, fn_ptr>;

double eval(const node_ptr &n, const env &e, const fn_table &fns)
{
	return std::visit(
		overloaded{
			[](const num &x) { return x.v; },
			[&](const var &x) {
				auto it = e.find(x.name);
				return it == e.end() ? 0.0 : it->second;
			},
			[&](const add &x) { return eval(x.a, e, fns) + eval(x.b, e, fns); },
			[&](const mul &x) { return eval(x.a, e, fns) * eval(x.b, e, fns); },
			[&](const neg &x) { return -eval(x.a, e, fns); },
			[&](const call &x) {
				std::vector<double> vals;
				vals.reserve(x.args.size());
				for (const auto &a : x.args)
					vals.push_back(eval(a, e, fns));
				auto it = fns.find(x.fn);
				return it == fns.end() ? 0.0 : it->second(vals);
			},
		},
		n->v);
}

template <typename T, typename... A> node_ptr mk(A &&...a)
{
	return std::make_shared<node>(node{T{std::forward<A>(a)...}});
}

// --- A tokenizer and a recursive-descent parser for those trees ---------

enum class tok_kind { number, ident, punct, end };

struct token {
	tok_kind kind;
	std::string text;
};

std::vector<token> tokenize(const std::string &s)
{
	std::vector<token> out;
	std::size_t i = 0;
	while (i < s.size()) {
		char c = s[i];
		if (c == ' ') {
			i++;
		} else if ((c >= '0' && c <= '9') || c == '.') {
			std::size_t j = i;
			while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.'))
				j++;
			out.push_back({tok_kind::number, s.substr(i, j - i)});
			i = j;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
			std::size_t j = i;
			while (j < s.size() &&
			       (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_'))
				j++;
			out.push_back({tok_kind::ident, s.substr(i, j - i)});
			i = j;
		} else {
			out.push_back({tok_kind::punct, std::string(1, c)});
			i++;
		}
	}
	out.push_back({tok_kind::end, ""});
	return out;
}

class parser
{
      public:
	explicit parser(std::vector<token> t) : toks_(std::move(t))
	{
	}
	std::optional<node_ptr> parse()
	{
		auto n = sum();
		if (!n || peek().kind != tok_kind::end)
			return std::nullopt;
		return n;
	}

      private:
	const token &peek() const
	{
		return toks_[pos_];
	}
	bool accept(const char *p)
	{
		if (peek().kind == tok_kind::punct && peek().text == p) {
			pos_++;
			return true;
		}
		return false;
	}
	std::optional<node_ptr> sum()
	{
		auto l = product();
		while (l && accept("+")) {
			auto r = product();
			if (!r)
				return std::nullopt;
			l = mk<add>(*l, *r);
		}
		return l;
	}
	std::optional<node_ptr> product()
	{
		auto l = unary();
		while (l && accept("*")) {
			auto r = unary();
			if (!r)
				return std::nullopt;
			l = mk<mul>(*l, *r);
		}
		return l;
	}
	std::optional<node_ptr> unary()
	{
		if (accept("-")) {
			auto a = unary();
			if (!a)
				return std::nullopt;
			return mk<neg>(*a);
		}
		return primary();
	}
	std::optional<node_ptr> primary()
	{
		const token t = peek();
		if (t.kind == tok_kind::number) {
			pos_++;
			return mk<num>(std::stod(t.text));
		}
		if (t.kind == tok_kind::ident) {
			pos_++;
			if (!accept("("))
				return mk<var>(t.text);
			std::vector<node_ptr> args;
			if (!accept(")")) {
				do {
					auto a = sum();
					if (!a)
						return std::nullopt;
					args.push_back(*a);
				} while (accept(","));
				if (!accept(")"))
					return std::nullopt;
			}
			return mk<call>(t.text, std::move(args));
		}
		if (accept("(")) {
			auto n = sum();
			if (!n || !accept(")"))
				return std::nullopt;
			return n;
		}
		return std::nullopt;
	}

	std::vector<token> toks_;
	std::size_t pos_ = 0;
};

} // namespace ember_input

int ember_input_entry(int n)
{
	using namespace ember_input;

	double s = dot_mix(static_cast<std::size_t>(n));

	fn_table fns;
	fns["max"] = [](const std::vector<double> &v) {
		return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
	};
	fns["sum"] = [](const std::vector<double> &v) {
		return std::accumulate(v.begin(), v.end(), 0.0);
	};
	env e{{"x", 2.0}, {"y", 3.0}};
	parser p(tokenize("max(x * y, sum(1, 2, 3) + -x) * (y + 4)"));
	if (auto tree = p.parse())
		s += eval(*tree, e, fns);
	s += static_cast<double>(fibs[79] % 1000);
	return static_cast<int>(s);
}
