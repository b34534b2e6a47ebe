// Renumbering a descriptor moves it, closing what was at the target.
#include <fcntl.h>
#include <unistd.h>
#include <wasi/libc.h>
#include "check.h"

int main(void) {
  int a = open("fs/a", O_CREAT | O_RDWR, 0644);
  int b = open("fs/b", O_CREAT | O_RDWR, 0644);
  CHECK(a >= 0 && b >= 0);
  CHECK(write(a, "from a", 6) == 6);
  CHECK(__wasilibc_fd_renumber(a, b) == 0);
  CHECK(write(a, "x", 1) == -1 && errno == EBADF);
  char buf[8] = {0};
  CHECK(pread(b, buf, 6, 0) == 6);
  printf("b=%s\n", buf);
  CHECK(close(b) == 0);
  printf("ok\n");
  return 0;
}
