// No descriptor is a socket: shutdown says which mistake it is.
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"

int main(void) {
  CHECK(shutdown(STDOUT_FILENO, SHUT_RD) == -1 && errno == ENOTSOCK);
  CHECK(shutdown(99, SHUT_RD) == -1 && errno == EBADF);
  printf("ok\n");
  return 0;
}
