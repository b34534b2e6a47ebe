/*
 * A command that never ends: only fuel or the deadline can stop it. The loop has a side effect
 * the compiler must keep (a volatile store); an empty `for (;;)` is undefined behaviour in C
 * and clang may delete it, leaving a guest that returns at once.
 */
#include <stdint.h>

int main(void) {
  volatile uint64_t spins = 0;
  for (;;) spins++;
}
