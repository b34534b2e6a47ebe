/* Shared by the conformance cases: a failed check names its line on stdout and exits 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                          \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      printf("check failed at line %d: %s (errno %d: %s)\n", __LINE__, #cond, errno,         \
             strerror(errno));                                                               \
      exit(1);                                                                               \
    }                                                                                        \
  } while (0)
