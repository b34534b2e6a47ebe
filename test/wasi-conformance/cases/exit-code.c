// exit(n) becomes the run's exit code, after stdout is flushed.
#include "check.h"

int main(void) {
  printf("leaving\n");
  exit(7);
}
