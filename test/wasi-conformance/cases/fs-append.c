// O_APPEND writes at the end wherever the offset is; pwrite leaves the offset alone.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

int main(void) {
  int fd = open("fs/log", O_CREAT | O_WRONLY | O_TRUNC | O_APPEND, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "ab", 2) == 2);
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  CHECK(write(fd, "cd", 2) == 2);
  CHECK(lseek(fd, 0, SEEK_CUR) == 4);
  int flags = fcntl(fd, F_GETFL);
  CHECK(flags != -1 && (flags & O_APPEND) && (flags & O_ACCMODE) == O_WRONLY);
  char buf[4];
  CHECK(read(fd, buf, 1) == -1 && errno == EBADF);
  CHECK(close(fd) == 0);
  fd = open("fs/log", O_RDONLY);
  CHECK(fd >= 0);
  CHECK(write(fd, "x", 1) == -1 && errno == EBADF);
  char all[8] = {0};
  CHECK(read(fd, all, 8) == 4);
  printf("log=%s\n", all);
  CHECK(close(fd) == 0);
  printf("ok\n");
  return 0;
}
