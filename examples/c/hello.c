/*
 * A WASI command: the smallest guest that exercises args, environ, stdout, stderr and exit codes.
 *
 *   hello [name] [exit-code]     GREETING=... overrides "hello"
 *
 * It writes to both streams so a test can tell that they are captured separately.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : "world";
  const char *greeting = getenv("GREETING");
  printf("hello %s\n", name);
  if (greeting != NULL) printf("GREETING=%s\n", greeting);
  fprintf(stderr, "hello.wasm: greeted %s\n", name);
  // Returning from main goes through proc_exit, so a non-zero code is how a command crashes
  // without trapping; it lets restart policies be tested on a well-behaved guest.
  return argc > 2 ? atoi(argv[2]) : 0;
}
