/*
 * A command that recurses without end until the engine's call stack is exhausted: a
 * `stack_overflow` trap, not a host crash.
 *
 * The call goes through a volatile function pointer, which clang can neither inline nor turn
 * into a loop (tail-call or accumulator recursion elimination), and whose target it cannot prove
 * to be this function. The frame holds no volatile locals on purpose: those live on the C shadow
 * stack in linear memory (64 KiB by default), which would run out first and end in a
 * `memory_out_of_bounds` trap instead of the engine stack overflow this guest is for.
 */
#include <stdio.h>

static unsigned long depth(unsigned long n);
static unsigned long (*volatile next)(unsigned long) = depth;

static unsigned long depth(unsigned long n) { return next(n + 1) + n; }

int main(void) {
  printf("recursion: %lu\n", depth(0));
  return 0;
}
