/*
 * A command that traps with `unreachable`, after writing a line so a test can see that output
 * produced before a trap is kept.
 */
#include <stdio.h>

int main(void) {
  puts("trap: about to execute unreachable");
  fflush(stdout);
  __builtin_trap();
}
