// poll on stdout (always writable) and a bare timeout.
#include <poll.h>
#include <unistd.h>
#include "check.h"

int main(void) {
  struct pollfd fds[1] = {{.fd = STDOUT_FILENO, .events = POLLOUT}};
  CHECK(poll(fds, 1, 1000) == 1 && (fds[0].revents & POLLOUT));
  CHECK(poll(NULL, 0, 10) == 0);
  printf("ok\n");
  return 0;
}
