// SPDX-License-Identifier: Apache-2.0
//! rust-split: a Rust workload with a known CPU split, for the tests of
//! unwinding through a binary linked the way rustc links most.
//!
//! main loops over work_a(), work_b() and work_c(), which run 6, 3 and 1
//! times the same number of steps of the same busy loop: a profiler must
//! find them as leaves in 60%, 30% and 10% of the samples, each under
//! rust_split::main, std's lang_start, the C main, __libc_start_main and
//! _start. rustc (1.90 on)
//! links with lld, which starts the code segment in the file page where the
//! read-only segment ends; the tests pin the unwinder's handling of that.
//!
//! Why it is written this way:
//! - Built with `rustc -O -g` and nothing else: no frame pointers (rustc's
//!   default), so only .eh_frame unwinding finds the callers.
//! - Each round's length is drawn from a fixed pseudo-random sequence (1 to
//!   16 steps, the same for all three functions: 0.9 to 14 ms a round), so
//!   that no round length stays in step with the sampling period. A fixed
//!   round of ~3.4 ms against 99 Hz sampling gave work_a 60.7% to 66.6% of
//!   the samples from one run to the next.
//! - The loop body lives in one macro, so the three functions differ only in
//!   their iteration count; a shared helper would become the leaf instead.
//! - The body uses only operators on integers and a `while` loop, which
//!   compile to instructions of work_x itself. A `for` over a range, the
//!   wrapping_* methods, std::hint::black_box or ptr::read_volatile would be
//!   inlined std functions, and with -g the samples would land in them:
//!   `<u64>::wrapping_mul` would be the leaf, not work_a.
//! - The optimizer can neither drop nor shorten the loop: the xor-shift
//!   makes each step depend on the last with no closed form, and every
//!   result ends in a value main tests at the end.
//! - Each function also stirs a 64-word buffer on its own stack. At 512 bytes
//!   it is beyond the 128-byte red zone, so each function moves rsp in its
//!   prologue and its unwind rows have a CFA other than rsp + 8 in the body.
//! - Every call's result is used after the call, so no call is a tail call
//!   (a `jmp` would drop the caller from the stack).
//! - The functions are #[inline(never)]; their names are legacy-mangled
//!   (_ZN10rust_split6work_a17h...E) and demangle to rust_split::work_a.
//!   The crate name comes from the build (--crate-name rust_split).
//! - Nothing is printed while running. Nothing newer than Rust 1.63
//!   (Debian 12's rustc) is used.
//!
//! Usage: rust-split [SECONDS]   (default 10)

use std::process::exit;
use std::time::{Duration, Instant};

/// Iterations in one step of a round, per unit of the 6:3:1: under 0.1 ms
/// on a current x86 core.
const STEP_ITERS: u64 = 62_500;

/// The words each work function stirs on its stack.
const BUF_WORDS: usize = 64;

/// The one loop body every work_x() runs, so the cost per iteration is the
/// same in all three. Release builds have no overflow checks: `*` and `+`
/// wrap.
macro_rules! burn {
    ($iters:expr) => {{
        let mut buf = [0u64; BUF_WORDS];
        let mut acc: u64 = 0;
        let mut i: u64 = 0;
        while i < $iters {
            acc = acc * 31 + (i ^ (acc >> 7));
            buf[(i % BUF_WORDS as u64) as usize] ^= acc;
            i += 1;
        }
        acc ^ buf[(acc % BUF_WORDS as u64) as usize]
    }};
}

#[inline(never)]
fn work_a(steps: u64) -> u64 {
    burn!(6 * STEP_ITERS * steps)
}

#[inline(never)]
fn work_b(steps: u64) -> u64 {
    burn!(3 * STEP_ITERS * steps)
}

#[inline(never)]
fn work_c(steps: u64) -> u64 {
    burn!(STEP_ITERS * steps)
}

fn main() {
    let seconds = match std::env::args().nth(1) {
        None => 10.0,
        Some(s) => match s.parse::<f64>() {
            Ok(v) if v > 0.0 && v.is_finite() => v,
            _ => {
                eprintln!("usage: rust-split [SECONDS]");
                exit(2);
            }
        },
    };
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut sink: u64 = 0;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;

    while Instant::now() < deadline {
        // xorshift64: the round's length, 1 to 16 steps.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let steps = 1 + (rng >> 60);
        sink ^= work_a(steps);
        sink ^= work_b(steps);
        sink ^= work_c(steps);
    }
    // A use of every result that the optimizer cannot see through.
    if sink == 0x5eed {
        eprintln!("rust-split: sink {:#x}", sink);
    }
}
