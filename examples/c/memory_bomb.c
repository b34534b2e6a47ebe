/*
 * A command that allocates 1 MiB after 1 MiB and never frees. Each block is written, so the
 * pages are really touched rather than just reserved. Under a memory cap, memory.grow returns -1
 * and malloc returns NULL; the guest then aborts (a trap), as Rust or C++ runtimes do on
 * allocation failure, so the host reports `memory_limit`. Writing through NULL instead would not
 * trap in wasm (address 0 is valid memory): it would spin forever corrupting the heap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (1024 * 1024)

// Where each block's address is published. Without an observable use, clang deletes the
// malloc/memset pair (allocation elision) and the guest becomes a plain infinite loop.
static char *volatile newest;

int main(void) {
  for (unsigned long mib = 0;; mib++) {
    char *block = malloc(BLOCK);
    if (block == NULL) {
      fprintf(stderr, "memory_bomb: malloc failed after %lu MiB\n", mib);
      abort();
    }
    memset(block, (int)(mib & 0xff), BLOCK);
    newest = block;
  }
}
