// Monotonic time never goes back, sleeping takes at least its time, realtime is plausible.
#include <time.h>
#include "check.h"

static long long ns(clockid_t id) {
  struct timespec t;
  CHECK(clock_gettime(id, &t) == 0);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void) {
  long long before = ns(CLOCK_MONOTONIC);
  struct timespec nap = {.tv_sec = 0, .tv_nsec = 20 * 1000000};
  CHECK(nanosleep(&nap, NULL) == 0);
  long long after = ns(CLOCK_MONOTONIC);
  CHECK(after - before >= 20 * 1000000LL);
  CHECK(ns(CLOCK_REALTIME) > 1600000000LL * 1000000000LL);
  struct timespec res;
  CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0 && (res.tv_sec > 0 || res.tv_nsec > 0));
  printf("ok\n");
  return 0;
}
