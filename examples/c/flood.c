/*
 * A WASI command that writes stdout as fast as it can: lines of 'x' in 64 KiB writes, with no
 * libc buffering in between. It is how the tests and the bench check that a guest flooding its
 * output costs the node bounded memory and never stalls its neighbours.
 *
 *   flood [bytes]     bytes to write, then exit 0; without it (or 0), writes until stopped
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define LINE 80

static char chunk[CHUNK];

int main(int argc, char **argv) {
  unsigned long long total = argc > 1 ? strtoull(argv[1], NULL, 10) : 0;
  memset(chunk, 'x', sizeof chunk);
  for (size_t i = LINE - 1; i < sizeof chunk; i += LINE) chunk[i] = '\n';
  for (unsigned long long written = 0; total == 0 || written < total;) {
    size_t n = total == 0 || total - written > CHUNK ? CHUNK : (size_t)(total - written);
    ssize_t w = write(1, chunk, n);
    if (w < 0) return 1;
    written += (unsigned long long)w;
  }
  return 0;
}
