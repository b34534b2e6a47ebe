// lseek, pread, pwrite, ftruncate and fstat on one descriptor.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

int main(void) {
  int fd = open("fs/data", O_CREAT | O_RDWR | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "0123456789", 10) == 10);
  CHECK(lseek(fd, 0, SEEK_CUR) == 10);
  CHECK(lseek(fd, -4, SEEK_END) == 6);
  char buf[16] = {0};
  CHECK(read(fd, buf, 16) == 4);
  printf("tail=%s\n", buf);
  memset(buf, 0, sizeof buf);
  CHECK(pread(fd, buf, 3, 2) == 3);
  printf("pread=%s\n", buf);
  CHECK(lseek(fd, 0, SEEK_CUR) == 10);
  CHECK(pwrite(fd, "AB", 2, 4) == 2);
  CHECK(lseek(fd, 0, SEEK_CUR) == 10);
  CHECK(lseek(fd, -1, SEEK_SET) == -1 && errno == EINVAL);
  CHECK(ftruncate(fd, 6) == 0);
  struct stat st;
  CHECK(fstat(fd, &st) == 0);
  printf("size=%lld\n", (long long)st.st_size);
  memset(buf, 0, sizeof buf);
  CHECK(pread(fd, buf, 16, 0) == 6);
  printf("data=%s\n", buf);
  CHECK(lseek(fd, 20, SEEK_SET) == 20);
  CHECK(write(fd, "Z", 1) == 1);
  CHECK(fstat(fd, &st) == 0 && st.st_size == 21);
  CHECK(close(fd) == 0);
  CHECK(close(fd) == -1 && errno == EBADF);
  printf("ok\n");
  return 0;
}
